"""Metrics to WORKDIR/metrics.jsonl (one JSON object a line) and TensorBoard event files."""
import json
import os

import jax
import numpy as np


class MetricsWriter:
    """Appends to metrics.jsonl and writes TensorBoard scalars; only process 0 writes.

    Rows after `start_step` (logged by an earlier attempt after its last checkpoint)
    are dropped, since the resumed run logs those steps again.
    """

    def __init__(self, workdir: str, start_step: int = 0):
        self.active = jax.process_index() == 0
        self.kept = []  # the rows before start_step, kept
        if not self.active:
            return
        path = os.path.join(workdir, "metrics.jsonl")
        self.kept = kept = [r for r in read(workdir) if r["step"] <= start_step]
        with open(path + ".tmp", "w", encoding="utf-8") as f:
            f.writelines(json.dumps(r) + "\n" for r in kept)
        os.replace(path + ".tmp", path)
        self._jsonl = open(path, "a", encoding="utf-8")
        from tensorboardX import SummaryWriter  # writes event files without TensorFlow
        self._tb = SummaryWriter(os.path.join(workdir, "tensorboard"), purge_step=start_step + 1)

    def write(self, step: int, metrics: dict, kind: str = "train") -> None:
        if not self.active:
            return
        row = {"step": int(step), "kind": kind}
        row.update({k: _scalar(v) for k, v in metrics.items()})
        self._jsonl.write(json.dumps(row) + "\n")
        self._jsonl.flush()
        for k, v in row.items():
            if isinstance(v, (int, float)) and k not in ("step",):
                self._tb.add_scalar(f"{kind}/{k}", v, int(step))
        self._tb.flush()

    def close(self) -> None:
        if self.active:
            self._jsonl.close()
            self._tb.close()


def _scalar(v):
    if isinstance(v, (str, bool)) or v is None:
        return v
    v = np.asarray(v)
    return int(v) if np.issubdtype(v.dtype, np.integer) else float(v)


def read(workdir: str) -> list[dict]:
    path = os.path.join(workdir, "metrics.jsonl")
    if not os.path.exists(path):
        return []
    with open(path, encoding="utf-8") as f:
        lines = [line for line in f if line.strip()]
    rows = []
    for i, line in enumerate(lines):
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            if i < len(lines) - 1:
                raise
            # A run killed while writing its last row: that row is dropped (the resumed run logs it again).
    return rows
