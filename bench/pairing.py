"""How much pairing by seed narrows the comparison of arms on real runs.

    python -m bench.pairing DIR --key arm --baseline none [--metric test_error]

For each group of the runs under DIR (grouped by one override key) against the baseline
group: the seeds they share, the correlation of their per-seed results, and the width of the
95 % interval of the difference by Welch's test and by the paired t-test on the same runs.
A seed fixes the data order, the initialisation and the dropout masks; the more of the noise it
fixes, the higher the correlation and the narrower the paired interval.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from regstudy.report.compare import paired, welch
from regstudy.report.runs import load_runs
from regstudy.report.table import DISPLAY


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("dirs", nargs="+", type=Path)
    p.add_argument("--key", default="arm")
    p.add_argument("--baseline", default="none")
    p.add_argument("--metric", default="test_error")
    args = p.parse_args()
    runs = load_runs(args.dirs)
    runs = runs[runs["status"] == "completed"]
    groups: dict = {}
    for _, r in runs.iterrows():
        groups.setdefault(r["overrides"].get(args.key), {})[int(r["seed"])] = r[args.metric]
    base, scale = groups[args.baseline], DISPLAY[args.metric][1]
    print(f"| {args.key} vs {args.baseline} | seeds | correlation | Welch 95% CI width | "
          "paired 95% CI width | paired / Welch |\n|---|---|---|---|---|---|")
    for name, values in groups.items():
        if name == args.baseline:
            continue
        seeds = sorted(set(values) & set(base))
        a = {s: values[s] for s in seeds}
        b = {s: base[s] for s in seeds}
        r = float(np.corrcoef([a[s] for s in seeds], [b[s] for s in seeds])[0, 1])
        widths = [np.subtract(*reversed(c.interval())) * scale for c in (welch(a, b), paired(a, b))]
        print(f"| {name} | {len(seeds)} | {r:+.2f} | {widths[0]:.3f} | {widths[1]:.3f} | "
              f"{widths[1] / widths[0]:.2f} |")


if __name__ == "__main__":
    main()
