"""Numbers and prose from the benchmark's raw repetitions: medians, spreads, paired ratios,
the targets, and `results/bench.md`. Pure functions of the results dictionary."""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from typing import Any, Dict, List, Optional

import pandas as pd


@dataclass(frozen=True)
class Target:
    """`variant` against `reference`: kind "time" = time per image relative to the reference's
    (at most `limit`), "speedup" = throughput relative to it (at least `limit`). Clock "train"
    is the training steps alone; "fit" adds regstudy's per-epoch work (validation, diagnostics
    summaries and figures, checkpoint, records), which a user also waits for."""

    what: str
    variant: str
    reference: str
    kind: str
    limit: float
    clock: str = "train"


TARGETS = [
    Target("regstudy epoch time vs minimal loop (same format and allocator)",
           "regstudy", "minimal", "time", 1.10),
    Target("regstudy channels_last vs minimal loop channels_last",
           "regstudy_cl", "minimal_cl", "time", 1.10),
    Target("regstudy throughput vs textbook, num_workers=0", "regstudy", "textbook_w0",
           "speedup", 3.0),
    Target("regstudy throughput vs textbook, num_workers=2", "regstudy", "textbook_w2",
           "speedup", 3.0),
    Target("PSP step vs regstudy step", "psp", "regstudy", "time", 1.15),
    Target("gradient flow at its default interval vs diagnostics off (steps)",
           "regstudy", "regstudy_nodiag", "time", 1.05),
    Target("gradient flow at its default interval vs diagnostics off (whole fit, incl. "
           "per-epoch summaries and figures)", "regstudy", "regstudy_nodiag", "time", 1.05,
           "fit"),
]
STARTUP_LIMIT_S = 1.0


def rate(rep: Dict[str, Any]) -> float:
    return rep["images"] / rep["seconds"]


def clock_seconds(rep: Dict[str, Any], clock: str = "train") -> float:
    """Seconds of one repetition on a clock: "train" (wall, training steps), "cpu" (CPU time
    of the same span) or "fit" (wall, with regstudy's per-epoch work)."""
    if clock == "cpu":
        return rep["cpu_seconds"]
    return rep["seconds"] + (rep.get("extra_seconds", 0.0) if clock == "fit" else 0.0)


def summarize(reps: List[Dict[str, Any]]) -> Dict[str, float]:
    """Median and spread of throughput and step time over repetitions."""
    ips = [rate(r) for r in reps]
    med = statistics.median(ips)
    return {
        "images_per_s": med,
        "images_per_s_min": min(ips),
        "images_per_s_max": max(ips),
        "spread": (max(ips) - min(ips)) / med,       # (max - min) / median
        "ms_per_step": statistics.median(1e3 * r["seconds"] / r["steps"] for r in reps),
        "cpu_ms_per_step": statistics.median(1e3 * r["cpu_seconds"] / r["steps"] for r in reps),
        "minflt_per_step": statistics.median(r["minflt"] / r["steps"] for r in reps),
        "extra_s_per_rep": statistics.median(r.get("extra_seconds", 0.0) for r in reps),
    }


def paired_ratio(reps: List[Dict[str, Any]], ref: List[Dict[str, Any]],
                 clock: str = "train") -> float:
    """Median over repetitions of (time per image) / (reference's, same repetition round):
    repetitions are interleaved, so each pair ran under nearly the same machine load."""
    return statistics.median((clock_seconds(r, clock) / r["images"])
                             / (clock_seconds(q, clock) / q["images"])
                             for r, q in zip(reps, ref))


def ratios(variants: Dict[str, Dict[str, Any]], key: str) -> Dict[str, float]:
    """Every ratio of `key` against the references that ran: the minimal loop (both memory
    formats), the textbook pipeline (both worker counts) and regstudy's own defaults."""
    reps = variants[key]["reps"]
    out: Dict[str, float] = {}
    for ref, name in (("minimal", "time_vs_minimal"), ("minimal_cl", "time_vs_minimal_cl"),
                      ("regstudy", "time_vs_regstudy")):
        if ref != key and variants.get(ref, {}).get("reps"):
            out[name] = paired_ratio(reps, variants[ref]["reps"])
    for ref in ("textbook_w0", "textbook_w2"):
        if ref != key and variants.get(ref, {}).get("reps"):
            out[f"speedup_vs_{ref}"] = 1.0 / paired_ratio(reps, variants[ref]["reps"])
    if key != "minimal" and variants.get("minimal", {}).get("reps"):
        out["cpu_vs_minimal"] = paired_ratio(reps, variants["minimal"]["reps"], "cpu")
    return out


def compile_cost(variant: Dict[str, Any]) -> Optional[Dict[str, float]]:
    """Compile time: the warm-up repetition's time beyond what its steps take once compiled."""
    warm, reps = variant.get("warmup"), variant.get("reps")
    if not warm or not reps:
        return None
    step_s = statistics.median(r["seconds"] / r["steps"] for r in reps)
    return {"warmup_seconds": warm["seconds"], "warmup_steps": warm["steps"],
            "compile_seconds": max(warm["seconds"] - warm["steps"] * step_s, 0.0)}


def check_targets(variants: Dict[str, Dict[str, Any]], startup: List[Dict[str, Any]],
                  allocator: Optional[Dict[str, Any]] = None) -> List[Dict[str, Any]]:
    """Each target with its measured value (wall clock, and CPU time where paired)."""
    out = []
    for t in TARGETS:
        a, b = variants.get(t.variant, {}).get("reps"), variants.get(t.reference, {}).get("reps")
        measured, cpu, ok = None, None, None
        if a and b:
            r = paired_ratio(a, b, t.clock)
            measured = r if t.kind == "time" else 1.0 / r
            ok = measured <= t.limit if t.kind == "time" else measured >= t.limit
            if t.clock == "train":
                r = paired_ratio(a, b, "cpu")
                cpu = r if t.kind == "time" else 1.0 / r
        out.append({"target": t.what, "limit": t.limit, "kind": t.kind, "measured": measured,
                    "measured_cpu": cpu, "ok": ok})
    # The textbook script as users run it gets glibc's default allocator: only the allocator
    # probes measured that (other processes, so unpaired: medians against medians).
    as_run = (allocator or {}).get("summary", {}).get("default", {})
    ours = variants.get("regstudy", {}).get("summary")
    for ref in ("textbook_w0", "textbook_w2"):
        if ours and ref in as_run:
            measured = ours["images_per_s"] / as_run[ref]["images_per_s"]
            out.append({"target": f"regstudy throughput vs textbook, num_workers={ref[-1]}, "
                                  "as its script runs (glibc's default allocator; unpaired)",
                        "limit": 3.0, "kind": "speedup", "measured": measured,
                        "measured_cpu": None, "ok": measured >= 3.0})
    for s in startup:
        if s.get("seconds_median") is not None:
            out.append({"target": f"`{s['command']}` start-up", "limit": STARTUP_LIMIT_S,
                        "kind": "seconds", "measured": s["seconds_median"],
                        "ok": s["seconds_median"] < STARTUP_LIMIT_S})
    return out


# ---------------------------------------------------------------- Markdown


def _fmt(x: Optional[float], spec: str = ".2f") -> str:
    return "" if x is None or (isinstance(x, float) and math.isnan(x)) else format(x, spec)


def _measured(variants: Dict[str, Dict[str, Any]]) -> List[Dict[str, Any]]:
    return [v for v in variants.values() if not v.get("skipped") and v.get("reps")]


def throughput_table(variants: Dict[str, Dict[str, Any]]) -> str:
    rows = []
    for v in _measured(variants):
        s = v["summary"]
        rows.append({
            "variant": v["label"],
            "images/s (median)": _fmt(s["images_per_s"], ",.0f"),
            "spread (min–max)": f"{s['images_per_s_min']:,.0f}–{s['images_per_s_max']:,.0f} "
                                f"({100 * s['spread']:.0f}%)",
            "ms/step": _fmt(s["ms_per_step"]),
            "CPU ms/step": _fmt(s["cpu_ms_per_step"]),
            "page faults/step": _fmt(s["minflt_per_step"], ".0f"),
            "fit − steps, s": _fmt(s["extra_s_per_rep"] if v["kind"] == "regstudy" else None),
        })
    return pd.DataFrame(rows).to_markdown(index=False)


def ratio_table(variants: Dict[str, Dict[str, Any]]) -> str:
    rows = [{"variant": v["label"],
             "× minimal time": _fmt(v["ratios"].get("time_vs_minimal")),
             "× minimal CPU": _fmt(v["ratios"].get("cpu_vs_minimal")),
             "× minimal channels_last time": _fmt(v["ratios"].get("time_vs_minimal_cl")),
             "× regstudy time": _fmt(v["ratios"].get("time_vs_regstudy")),
             "speed-up vs textbook w0": _fmt(v["ratios"].get("speedup_vs_textbook_w0")),
             "speed-up vs textbook w2": _fmt(v["ratios"].get("speedup_vs_textbook_w2"))}
            for v in _measured(variants)]
    return pd.DataFrame(rows).to_markdown(index=False)


def allocator_table(allocator: Dict[str, Any]) -> str:
    rows = []
    for mode, per_variant in allocator.get("summary", {}).items():
        for key, s in per_variant.items():
            rows.append({"allocator": mode, "loop": key, "ms/step (median)": _fmt(s["ms_per_step"]),
                         "page faults/step": _fmt(s["minflt_per_step"], ".0f"),
                         "images/s": _fmt(s["images_per_s"], ",.0f")})
    return pd.DataFrame(rows).to_markdown(index=False) if rows else "(not run)"


def startup_table(startup: List[Dict[str, Any]]) -> str:
    rows = [{"command": f"`{s['command']}`",
             "seconds (median)": _fmt(s.get("seconds_median"), ".3f"),
             "max": _fmt(s.get("seconds_max"), ".3f"),
             "CPU seconds (median)": _fmt(s.get("cpu_seconds_median"), ".3f"),
             "imports torch": {True: "yes", False: "no", None: ""}[s.get("imports_torch")],
             "note": s.get("note", "")} for s in startup]
    return pd.DataFrame(rows).to_markdown(index=False) if rows else "(not run)"


def targets_table(targets: List[Dict[str, Any]]) -> str:
    sign = {"time": "≤", "speedup": "≥", "seconds": "<"}
    rows = [{"target": t["target"], "required": f"{sign[t['kind']]} {t['limit']:g}"
             + ("×" if t["kind"] != "seconds" else " s"),
             "measured": _fmt(t["measured"], ".3f"),
             "same on CPU time": _fmt(t.get("measured_cpu"), ".3f"),
             "met": {True: "yes", False: "**no**", None: "not measured"}[t["ok"]]}
            for t in targets]
    return pd.DataFrame(rows).to_markdown(index=False)


def markdown(res: Dict[str, Any]) -> str:
    m, st = res["machine"], res["settings"]
    alloc = st["allocator"]
    lines = [
        "# Training speed: regstudy beside a minimal loop and the textbook pipeline",
        "",
        f"Command: `{res['command']}`  ",
        f"Date: {res['date']}",
        "",
        "## Machine",
        "",
        f"- CPU: {m['cpu']} ({m['cpu_count']} logical CPUs); torch threads "
        f"{m['torch_threads']} (inter-op {m['torch_interop_threads']})",
        f"- torch {m['torch']}, torchvision {m['torchvision']}, Python {m['python']}, "
        f"device {m['device']}",
        f"- load average (1 min) before: {m['loadavg_before']:.2f}, after: "
        f"{m['loadavg_after']:.2f}" + (" — **the machine was shared with other work: "
                                         "timings are noisy**" if m["loaded"] else ""),
        f"- allocator (every variant of the main table): {alloc['description']}",
        "",
        "## Settings",
        "",
        f"- model `{st['model']}`, data {st['data']}, batch {st['batch_size']}, "
        f"seed {st['seed']}; {st['train_size']} training images = {st['steps_per_epoch']} "
        f"steps per epoch",
        f"- each repetition: {st['steps']} steps ({st['images']} images, "
        f"{st['steps'] / st['steps_per_epoch']:.2f} epoch); {st['reps']} repetition(s) per "
        f"variant, interleaved (round-robin, order rotated each round)"
        + (f" after one warm-up repetition of {st['warmup_steps']} steps"
           if st["warmup_steps"] else ", no warm-up"),
        "- timed: training only (first batch to last optimizer step). regstudy: the loop's own "
        "clock (`train_seconds`); its per-epoch work (validation, diagnostics summaries and "
        "figures, checkpoint, records) is outside it and shown as `fit − steps, s` (the rest "
        "of the loop, `Loop.run`; median per repetition)",
        "- ratios are medians of per-round pairs; `× … time` is time per image relative to the "
        "reference (lower is faster), `speed-up` is throughput relative to it; `CPU` columns "
        "use the CPU time (user + system, DataLoader workers included) of the same spans, "
        "which other work on a shared machine inflates far less than wall-clock time",
        "",
        "## Throughput",
        "",
    ]
    if st.get("quick"):
        lines += ["**--quick smoke run: a few steps on tiny data; the numbers say nothing about "
                  "speed.**", ""]
    lines += [throughput_table(res["variants"]), "", "## Ratios", "",
              ratio_table(res["variants"]), ""]
    skipped = [(v["label"], v["skipped"]) for v in res["variants"].values() if v.get("skipped")]
    if skipped:
        lines += ["Skipped:", ""] + [f"- {label}: {why}" for label, why in skipped] + [""]
    if res.get("compile"):
        c = res["compile"]
        lines += ["## torch.compile", "",
                  f"Warm-up repetition ({c['warmup_steps']} steps) took {c['warmup_seconds']:.1f} s: "
                  f"about {c['compile_seconds']:.1f} s of compilation, paid once per process "
                  "(not included in the table; later repetitions reuse the compiled graphs). "
                  "Inductor's on-disk cache (`/tmp/torchinductor_$USER`) shortens it in later "
                  "processes; a first run on a fresh machine takes longer.", ""]
    lines += ["## Allocator", "",
              "The same loops in separate processes (the setting is process-wide), alternating: "
              "glibc's default malloc thresholds versus regstudy's `tune_malloc()` "
              "(mmap and trim thresholds raised with `mallopt` at run start). Page faults are "
              "minor faults of the process over the timed training steps.", "",
              allocator_table(res.get("allocator", {})), "",
              "## Start-up", "",
              "Each command as a subprocess, as a user runs it; `imports torch` from "
              "`python -X importtime`.", "",
              startup_table(res.get("startup", [])), "",
              "## Targets", "",
              targets_table(res["targets"]), ""]
    if res.get("note"):
        lines += ["## Note", "", res["note"], ""]
    return "\n".join(lines)
