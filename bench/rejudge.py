"""Judge the claims of a finished study from its committed study.json alone.

    python -m bench.rejudge results/study_psp_mnist experiment=psp_mnist [--sesoi 0.1]

For studies whose run directories are no longer on disk: study.json keeps each arm's n, mean
and sd over the final seeds but not the per-seed values, so the comparisons are Welch's (not
paired) and claims on metrics the summary lacks (<z^2>) are "not evaluable". Each claim the
preset declares gets a verdict as `regstudy study` gives it: supported, contradicted, no
difference larger than sesoi, or undecided with the minimum detectable effect and the seeds per
arm that would detect sesoi at the measured noise. Holm over all the claims' comparisons.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any, Dict, List

from scipy.special import stdtr

from regstudy.cli.study import load
from regstudy.report.compare import WELCH, Comparison
from regstudy.report.power import mde, seeds_needed
from regstudy.report.stats import holm


def _welch(a: Dict[str, Any], b: Dict[str, Any]) -> Comparison:
    va, vb = a["std"] ** 2 / a["n"], b["std"] ** 2 / b["n"]
    se = math.sqrt(va + vb)
    df = (va + vb) ** 2 / (va ** 2 / (a["n"] - 1) + vb ** 2 / (b["n"] - 1))
    diff = a["mean"] - b["mean"]
    return Comparison(WELCH, min(a["n"], b["n"]), diff, se, df,
                      float(2 * stdtr(df, -abs(diff) / se)), math.nan)


def judge(doc: Dict[str, Any], claims, sesoi: float, alpha: float = 0.05) -> List[str]:
    finals = {a: e.get("final") for a, e in doc["arms"].items()}
    rows = []
    for c in claims:
        for other in c.than:
            a, b = finals.get(c.arm), finals.get(other)
            ok = c.metric == doc["metric"] and a and b and a["n"] >= 2 and b["n"] >= 2
            rows.append((c, other, _welch(a, b) if ok else None))
    adjusted = holm([r[2].p if r[2] else math.nan for r in rows])
    lines = ["| claim | comparison | verdict | diff (points) | 95% CI | p (Holm) | MDE (80%) | "
             f"seeds to detect {sesoi} |", "|---|---|---|---|---|---|---|---|"]
    for (c, other, cmp), p in zip(rows, adjusted):
        if cmp is None:
            why = "not evaluable (no per-run values)" if c.metric != doc["metric"] else "not run"
            lines.append(f"| {c.text} | {c.arm} vs {other} ({c.metric}) | {why} | | | | | |")
            continue
        lo, hi = cmp.interval(1 - alpha)
        s = sesoi / 100
        if -s < lo and hi < s:
            verdict = "no difference larger than sesoi"
        elif p <= alpha:
            verdict = "supported" if (cmp.diff < 0) == (c.expect == "lower") else "contradicted"
        else:
            verdict = "undecided"
        need = seeds_needed(cmp, s) if verdict == "undecided" else None
        lines.append(f"| {c.text} | {c.arm} vs {other} | {verdict} | {cmp.diff * 100:+.3f} | "
                     f"[{lo * 100:+.3f}, {hi * 100:+.3f}] | {p:.3f} | {mde(cmp) * 100:.3f} | "
                     f"{need or ''} |")
    return lines


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("study_dir", type=Path)
    p.add_argument("overrides", nargs="+", help="experiment=NAME (the preset's claims)")
    p.add_argument("--sesoi", type=float, default=0.1, help="percentage points")
    args = p.parse_args()
    doc = json.loads((args.study_dir / "study.json").read_text())
    study, _, _ = load(args.overrides)
    print("\n".join(judge(doc, study.claims, args.sesoi)))


if __name__ == "__main__":
    main()
