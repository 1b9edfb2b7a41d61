"""Error rates of `study.final.seeds=auto`'s stopping rule, by simulation of whole studies.

    python -m bench.sequential_rule [--studies 10000] > results/sequential_rule.md

Normal noise of sd 1 per seed and arm, looks after 3, 5 and 8 seeds, paired comparisons with
the baseline, Holm over arms, family-wise alpha 0.05, sesoi 0.5 sd. For each spending function
and number of arms: the family-wise rate of any false better/worse call when no arm differs,
and the power to call an arm better that is one noise sd better (with the seeds spent).
"""

from __future__ import annotations

import argparse
import math

from regstudy.report.sequential import Plan, simulate


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--studies", type=int, default=10_000)
    args = p.parse_args()
    se = math.sqrt(0.05 * 0.95 / args.studies)
    print(f"| spending | arms | family-wise false-positive rate ({args.studies} null studies) "
          "| power at 1 sd | mean seeds per arm (1 sd) |\n|---|---|---|---|---|")
    for kind in ("obf", "pocock"):
        for arms in (3, 4, 5):
            plan = Plan((3, 5, 8), sesoi=0.5, spending=kind)
            null = simulate(plan, arms, args.studies, seed=arms)
            alt = simulate(plan, arms, args.studies, effect=1.0, seed=100 + arms)
            print(f"| {kind} | {arms} | {null['fwer']:.4f} (MC se {se:.4f}) | "
                  f"{alt['power']:.3f} | {alt['mean_seeds']:.2f} |", flush=True)


if __name__ == "__main__":
    main()
