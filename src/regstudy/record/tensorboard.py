"""TensorBoard logging for one run, hparams included in the run's own event file."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Mapping


def _flat_hparams(cfg: Mapping[str, Any], prefix: str = "") -> Dict[str, Any]:
    """Scalar config entries, dotted; lists become strings (TensorBoard's hparams take scalars)."""
    out: Dict[str, Any] = {}
    for k, v in cfg.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping):
            out.update(_flat_hparams(v, key + "."))
        elif isinstance(v, (bool, int, float, str)):
            out[key] = v
        elif v is not None:
            out[key] = str(v)
    return out


class TBLogger:
    def __init__(self, log_dir: Path) -> None:
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(log_dir=str(log_dir))

    def scalars(self, values: Mapping[str, float], step: int) -> None:
        for tag, value in values.items():
            self.writer.add_scalar(tag, value, step)

    def hparams(self, config: Mapping[str, Any], metrics: Mapping[str, float]) -> None:
        """Write the hparams summary into this writer's file (SummaryWriter.add_hparams makes a sub-run)."""
        from torch.utils.tensorboard.summary import hparams

        exp, ssi, sei = hparams(_flat_hparams(config), dict(metrics))
        fw = self.writer._get_file_writer()
        for summary in (exp, ssi, sei):
            fw.add_summary(summary)
        for tag, value in metrics.items():
            self.writer.add_scalar(tag, value, 0)

    def close(self) -> None:
        self.writer.flush()
        self.writer.close()
