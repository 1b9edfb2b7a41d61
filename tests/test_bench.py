"""Smoke test of bench.speed --quick: every variant runs and yields numbers; the report
files are written. It never checks how fast anything is (that is the benchmark's job)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from .conftest import REPO, positive_finite

pytestmark = pytest.mark.bench

REFERENCE = {"minimal", "minimal_cl", "textbook_w0", "textbook_w2"}


@pytest.fixture(scope="module")
def quick_bench(tmp_path_factory, data_root):
    """One --quick run shared by the tests below (it takes tens of seconds)."""
    out = tmp_path_factory.mktemp("bench")
    proc = subprocess.run([sys.executable, "-m", "bench.speed", "--quick",
                           "--out", str(out)],
                          cwd=REPO, env={**os.environ, "REGSTUDY_DATA": str(data_root)},
                          capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out, json.loads((out / "bench.json").read_text())


def test_every_variant_runs_and_gives_positive_finite_numbers(quick_bench):
    _, res = quick_bench
    variants = res["variants"]
    assert REFERENCE <= set(variants)
    assert {"regstudy", "regstudy_nodiag", "gradflow_every_step", "psp", "regstudy_cl",
            "compile"} <= set(variants)
    for key, v in variants.items():
        if v["skipped"]:  # only a config this checkout lacks may skip a variant
            assert not v["skipped"].startswith("failed"), f"{key}: {v['skipped']}"
            assert v["kind"] == "regstudy" and key not in ("regstudy", "regstudy_nodiag")
            continue
        assert len(v["reps"]) == res["settings"]["reps"], key
        for rep in v["reps"]:
            assert rep["steps"] == res["settings"]["steps"], key
            assert positive_finite(rep["seconds"]) and positive_finite(rep["images"]), (key, rep)
        s = v["summary"]
        for field in ("images_per_s", "ms_per_step"):
            assert positive_finite(s[field]), (key, field, s[field])
        assert s["minflt_per_step"] >= 0
        assert v["ratios"] and all(positive_finite(r) for r in v["ratios"].values()), (key, v["ratios"])


def test_ratios_are_against_the_references(quick_bench):
    _, res = quick_bench
    reg = res["variants"]["regstudy"]
    assert set(reg["ratios"]) >= {"time_vs_minimal", "time_vs_minimal_cl",
                                  "speedup_vs_textbook_w0", "speedup_vs_textbook_w2"}
    # a time ratio and the speed-up against the same reference are reciprocal by definition
    m, r = res["variants"]["minimal"]["reps"][0], reg["reps"][0]
    expected = (r["seconds"] / r["images"]) / (m["seconds"] / m["images"])
    assert reg["ratios"]["time_vs_minimal"] == pytest.approx(expected)


def test_allocator_section_compares_both_settings(quick_bench):
    _, res = quick_bench
    summary = res["allocator"]["summary"]
    assert set(summary) == {"default", "tuned"}
    for mode, per_loop in summary.items():
        assert set(per_loop) == {"minimal", "regstudy", "textbook_w0", "textbook_w2"}, mode
        assert all(positive_finite(s["ms_per_step"]) for s in per_loop.values()), mode
    assert res["settings"]["allocator"]["mode"] == "tuned"   # the main table: regstudy's own


def test_startup_commands_are_timed_and_do_not_import_torch(quick_bench):
    _, res = quick_bench
    startup = {s["command"]: s for s in res["startup"]}
    assert {"regstudy --help", "regstudy train --cfg job"} <= set(startup)
    for cmd, s in startup.items():
        if s["seconds_median"] is None:
            assert "skipped" in s["note"], cmd
            continue
        assert positive_finite(s["seconds_median"]) and "note" not in s, (cmd, s)
        assert s["imports_torch"] is False, f"{cmd} imports torch"


def test_report_files_name_every_variant(quick_bench):
    out, res = quick_bench
    md = (out / "bench.md").read_text()
    assert "--quick smoke run" in md
    for v in res["variants"].values():
        assert v["label"] in md
    for t in res["targets"]:
        assert t["target"] in md
