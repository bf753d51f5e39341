"""Run records: what a workdir records about how it was made and how it scored.

* `run.json`, written when training starts: the code version (git commit and dirty flag of the
  xling_jax source tree, "unknown" outside a git checkout), the environment (Python and library
  versions, platform, devices, processes) and the command line. A resumed run keeps the earlier
  attempts under `previous`.
* `final.json`, written when training ends: the last dev evaluation and training figures read from
  metrics.jsonl; `xling sweep` adds the test scores (`test`) and where the hypotheses are.

The resolved config is config.json (training/workdir.py), the metrics metrics.jsonl (training/metrics.py).
"""
import datetime
import importlib.metadata
import json
import os
import platform
import subprocess
import sys

import numpy as np

from xling_jax.training import metrics as metrics_lib

RUN_FILE = "run.json"
FINAL_FILE = "final.json"
PACKAGES = ("jax", "jaxlib", "flax", "optax", "orbax-checkpoint", "grain", "sacrebleu", "numpy")


def code_version() -> dict:
    """{commit, dirty, source}: the git state of the xling_jax package's folder ("unknown" without git)."""
    source = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # the xling_jax package

    def git(*args):
        return subprocess.run(["git", "-C", source, *args], capture_output=True, text=True, timeout=30,
                              check=True).stdout.strip()
    try:
        commit = git("rev-parse", "HEAD")
        dirty = bool(git("status", "--porcelain", "--", "."))  # untracked modules count too
    except (OSError, subprocess.SubprocessError):
        return {"commit": "unknown", "dirty": None, "source": source}
    return {"commit": commit, "dirty": dirty, "source": source}


def environment() -> dict:
    import jax
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    devices = jax.devices()
    return {"python": platform.python_version(), "packages": versions, "platform": platform.platform(),
            "backend": jax.default_backend(), "device_kind": devices[0].device_kind,
            "device_count": jax.device_count(), "local_device_count": jax.local_device_count(),
            "process_count": jax.process_count()}


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def _read_json(path: str):
    if not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def _write_json(path: str, obj) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=2)
    os.replace(tmp, path)


def record_start(workdir: str, start_step: int) -> dict:
    """Writes WORKDIR/run.json for an attempt starting at `start_step` (earlier attempts kept)."""
    path = os.path.join(workdir, RUN_FILE)
    old = _read_json(path)
    record = {"started": _now(), "start_step": int(start_step), "argv": list(sys.argv),
              "code": code_version(), "environment": environment()}
    if old:
        record["previous"] = old.pop("previous", []) + [old]
    _write_json(path, record)
    return record


def read_run(workdir: str) -> dict | None:
    return _read_json(os.path.join(workdir, RUN_FILE))


def read_final(workdir: str) -> dict | None:
    return _read_json(os.path.join(workdir, FINAL_FILE))


def train_summary(rows: list[dict]) -> dict:
    """Final figures of a run from its metrics.jsonl rows: the last dev evaluation (`dev`), the last
    train loss, the median train tokens/s (the first window, which compiles, does not skew a median)
    and the training seconds (evaluation and checkpoints excluded)."""
    train = [r for r in rows if r.get("kind", "train") == "train"]
    evals = [r for r in rows if r.get("kind") == "eval"]
    out = {"step": max((r["step"] for r in rows), default=0)}
    if train:
        out["train_loss"] = train[-1]["loss"]
        out["tokens_per_s"] = float(np.median([r["tokens_per_s"] for r in train]))
        out["train_seconds"] = float(train_seconds(train)[-1])
    if evals:
        last = evals[-1]
        out["dev"] = {k: v for k, v in last.items() if k not in ("kind",)}
    return out


def train_seconds(train_rows: list[dict]) -> np.ndarray:
    """Cumulative training seconds at each train row: each row covers the steps since the previous
    one at its `steps_per_s` (which excludes evaluation and checkpoint time)."""
    steps = np.array([r["step"] for r in train_rows], float)
    window = np.diff(steps, prepend=0.0)
    return np.cumsum(window / np.array([r["steps_per_s"] for r in train_rows], float))


def record_final(workdir: str, keep_old: bool = True, **sections) -> dict:
    """(Re)writes WORKDIR/final.json from metrics.jsonl with the given sections (e.g. test=...), and
    the other sections it held if `keep_old` (not after more training: they scored older params)."""
    path = os.path.join(workdir, FINAL_FILE)
    old = (_read_json(path) or {}) if keep_old else {}
    final = {"finished": _now(), **train_summary(metrics_lib.read(workdir))}
    for key, value in {**old, **sections}.items():
        if key not in final and key != "finished":
            final[key] = value
    _write_json(path, final)
    return final
