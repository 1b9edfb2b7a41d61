"""Per-step statistics kept on the device until the epoch ends, then fetched in one host sync."""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence, Tuple

import torch

from ..record.tensorboard import TBLogger
from .schedule import RecordSchedule


class StatsBuffer:
    """Records of a (names x columns) statistics tensor, written out once per epoch.

    Recording only queues device tensors, so the training step never waits for the host;
    `flush` moves every queued record in one transfer, writes one TensorBoard scalar per cell
    (tag `prefix/column/name`) and returns the newest record for metrics.json.
    """

    def __init__(self, prefix: str, columns: Sequence[str], schedule: RecordSchedule,
                 tb: TBLogger) -> None:
        self.prefix = prefix
        self.columns = list(columns)
        self.schedule = schedule
        self.tb = tb
        self.pending: List[Tuple[int, List[str], torch.Tensor]] = []

    def add(self, step: int, names: List[str], values: torch.Tensor) -> None:
        """Queue `values` (len(names) x len(columns)) recorded at optimizer step `step`."""
        self.pending.append((step, names, values.detach()))

    def flush(self) -> Optional[Dict[str, Any]]:
        """Write the queued records; the newest as {"step", column: {name: value}}, or None."""
        if not self.pending:
            return None
        device = self.pending[-1][2].device   # records restored from a checkpoint are on the CPU
        host = torch.cat([v.reshape(-1).to(device) for _, _, v in self.pending]).tolist()  # one sync
        newest: Dict[str, Any] = {}
        offset = 0
        for step, names, values in self.pending:
            rows = [host[offset + i * len(self.columns): offset + (i + 1) * len(self.columns)]
                    for i in range(len(names))]
            offset += values.numel()
            newest = {"step": step, **{col: {n: r[j] for n, r in zip(names, rows)}
                                       for j, col in enumerate(self.columns)}}
            self.tb.scalars({f"{self.prefix}/{col}/{n}": v for col in self.columns
                             for n, v in newest[col].items()}, self.schedule.tb_step(step))
        self.pending.clear()
        return newest

    def state_dict(self) -> Dict[str, Any]:
        """Queued records, so a checkpoint taken mid-epoch loses none of them."""
        return {"pending": [(step, names, v.cpu()) for step, names, v in self.pending]}

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        self.pending = [(step, list(names), v) for step, names, v in state.get("pending", [])]
