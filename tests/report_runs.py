"""Run records for report tests, in the format RunRecord writes (the keys the report reads):
history rows with losses, accuracies, `zsq/*` and `grad_flow`, as a real run records them."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Dict, List, Optional

LAYERS = ("features.0", "features.3", "classifier.1")


def history(scale: float, epochs: int = 3, zsq: bool = True, grad_flow: bool = True) -> List[Dict]:
    rows = []
    for e in range(1, epochs + 1):
        row = {"epoch": e, "step": 10 * e, "train_loss": scale / e, "val_loss": 1.1 * scale / e,
               "train_acc": 1 - 0.3 / e, "val_acc": 1 - 0.35 / e, "lr": 0.1}
        if zsq:
            row.update({"zsq/mean": 10 * scale * e, "zsq_val/mean": 11 * scale * e})
        if grad_flow:
            row["grad_flow"] = {"step": 10 * e,
                                "mean": {n: scale * 10.0 ** -(i + 1) for i, n in enumerate(LAYERS)},
                                "max": {n: scale * 10.0 ** -i for i, n in enumerate(LAYERS)}}
        rows.append(row)
    return rows


def write_record(run_dir: Path, overrides: List[str], status: str = "completed",
                 test_error: Optional[float] = 0.1, hist: Optional[List[Dict]] = None,
                 **fields) -> Path:
    run_dir.mkdir(parents=True, exist_ok=True)
    seed = next((int(o.split("=")[1]) for o in overrides if o.startswith("seed=")), 0)
    hist = history(1.0) if hist is None else hist
    record = {"status": status, "overrides": overrides, "seed": seed, "history": hist,
              "config": {"trainer": {"threads": 1}}, "regstudy_version": "0.1.0",
              "torch_version": "2.x", "python_version": "3.11", "device": "cpu",
              "wall_time_s": 3.0, "epochs_run": len(hist), "best_epoch": len(hist),
              "best_val_acc": hist[-1]["val_acc"] if hist else None, **fields}
    if status == "completed" and test_error is not None:
        record.update(test_error=test_error,
                      test_acc=None if math.isnan(test_error) else 1 - test_error)
    (run_dir / "metrics.json").write_text(json.dumps(record))
    (run_dir / "tb").mkdir(exist_ok=True)
    return run_dir


def write_study(root: Path, arms: Dict[str, List[float]]) -> Path:
    """One run per (arm, seed) with the given test errors, numbered as Hydra numbers jobs."""
    job = 0
    for i, (reg, errors) in enumerate(arms.items()):
        for seed, err in enumerate(errors):
            write_record(root / str(job), [f"reg={reg}", f"seed={seed}", "trainer.epochs=3"],
                         test_error=err, hist=history(1.0 + i + 0.1 * seed))
            job += 1
    return root
