"""Two processes (4 simulated CPU devices each, gloo collectives) train like one process, stop
together when one of them gets SIGTERM, and their Orbax checkpoints resume in one process and the
other way round."""
import json
import os
import re
import shutil
import socket
import subprocess
import sys

import numpy as np
import pytest
from conftest import TINY_CONFIG
from test_training import tiny, train_losses

from xling_jax.errors import UserError
from xling_jax.objectives import batches as train_batches
from xling_jax.training import metrics
from xling_jax.training.train import train_and_evaluate

# Every process reads the whole (length-bucketed) stream and keeps its rows of each global batch, so
# the global batches, and the data-iterator state in a checkpoint, do not depend on the process count.
UNPACKED = ("--config.data.pack=false",)

# Each process trains a fresh run in argv[2], which process 1 alone is sent SIGTERM in (after step 2):
# both processes must stop after one agreed step and exit 0. Then each resumes that run to
# train.steps, and the run in argv[3] (unless "-"), which must exit with status argv[4].
_RUNS = """
import os, signal, sys
from xling_jax.cli.main import main
from xling_jax.training import preemption
address, index, fresh, resumed, status, config = sys.argv[1:7]
flags = ["--coordinator_address", address, "--num_processes", "2", "--process_id", index, *sys.argv[7:]]
agreed = preemption.StopRequest.stop_at
def stop_at(self, step):
    if step == 2 and index == "1":
        os.kill(os.getpid(), signal.SIGTERM)
    return agreed(self, step)
preemption.StopRequest.stop_at = stop_at
assert main(["train", "--config", config, "--workdir", fresh, *flags]) == 0
preemption.StopRequest.stop_at = agreed
assert main(["train", "--config", config, "--workdir", fresh, *flags]) == 0
if resumed != "-":
    assert main(["train", "--config", config, "--workdir", resumed, *flags]) == int(status)
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def _stopped_copy(workdir, dest, step):
    """`workdir` as it was right after its step-`step` checkpoint (later checkpoints and metrics gone)."""
    shutil.copytree(workdir, dest)
    for name in os.listdir(os.path.join(dest, "checkpoints")):
        if name.isdigit() and int(name) > step:
            shutil.rmtree(os.path.join(dest, "checkpoints", name))
    with open(os.path.join(dest, "metrics.jsonl")) as f:
        rows = [line for line in f if json.loads(line)["step"] <= step]
    with open(os.path.join(dest, "metrics.jsonl"), "w") as f:
        f.writelines(rows)
    return str(dest)


def _assert_same(losses, reference, what):
    assert losses.keys() == reference.keys(), what
    worst = max(abs(losses[s] - reference[s]) / abs(reference[s]) for s in reference)
    assert worst <= 1e-4, (what, worst)


def _two_processes(tmp_path, fresh, resumed, resumed_status, *flags):
    """Runs _RUNS in 2 processes: ([(stdout, stderr)] of each, the step they stopped after)."""
    # A compilation cache shared by the two processes' runs: each process's second run (the resume)
    # reuses the first one's compiled steps.
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=4", JAX_PLATFORMS="cpu",
               JAX_COMPILATION_CACHE_DIR=str(tmp_path / "jax_cache"), JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0")
    address = f"localhost:{_free_port()}"
    procs = [subprocess.Popen([sys.executable, "-c", _RUNS, address, str(i), str(fresh), str(resumed),
                               str(resumed_status), TINY_CONFIG, *flags], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for i in range(2)]
    outputs = [p.communicate(timeout=600) for p in procs]
    # On failure both processes' logs are shown: the one that failed first is often the other one.
    logs = "\n".join(f"--- process {i} (exit {p.returncode}):\n{out[-1500:]}\n{err[-2500:]}"
                     for i, (p, (out, err)) in enumerate(zip(procs, outputs)))
    assert all(p.returncode == 0 for p in procs), logs
    stops = [re.findall(r"Stopped by SIGTERM after step (\d+)", err) for _, err in outputs]
    assert len(stops[0]) == 1 and stops[0] == stops[1], logs
    print("stopped after step", stops[0][0])
    assert str(stops[0][0]) in os.listdir(os.path.join(fresh, "checkpoints"))
    return outputs, int(stops[0][0])


def test_two_processes_train_stop_together_and_resume_like_one(tiny_workdir, tmp_path):
    config = tiny(**{"data.pack": False})
    one = tiny_workdir
    train_and_evaluate(config, one)  # the reference: one process, to step 6 (checkpoints at 3 and 6)
    reference = train_losses(one)

    fresh = tmp_path / "two"
    fresh.mkdir()
    shutil.copy(os.path.join(one, "tokenizer.model"), fresh)
    one_then_two = _stopped_copy(one, tmp_path / "one_then_two", 3)
    outputs, _ = _two_processes(tmp_path, fresh, one_then_two, 0, *UNPACKED)
    assert outputs[0][0].count("on 8 device(s)") == 3  # all runs span both processes' devices
    _assert_same(train_losses(str(fresh)), reference, "2 processes")
    _assert_same(train_losses(one_then_two), reference, "1 process to step 3, 2 processes to 6")

    two_then_one = _stopped_copy(str(fresh), tmp_path / "two_then_one", 3)
    train_and_evaluate(config, two_then_one)  # the 2-process checkpoint of step 3, in this one process
    _assert_same(train_losses(two_then_one), reference, "2 processes to step 3, 1 process to 6")
    # The final params score the same dev loss. (They are not compared elementwise: where a gradient is
    # at rounding level, Adam's normalised step turns the devices' other summation order into a
    # difference of the size of the learning rate.)
    for workdir in (str(fresh), one_then_two, two_then_one):
        _assert_same(dev_losses(workdir), dev_losses(one), workdir)


def dev_losses(workdir):
    return {r["step"]: r["dev_loss"] for r in metrics.read(workdir) if r["kind"] == "eval"}


class _BothShares:
    """The batches of a 2-process packed run in one process: each process's packed rows of its own
    share (every 2nd example), process 0's rows first, as they make up the global batch; the
    iterator state is both shares'."""

    def __init__(self, train_dataset, *args, **kwargs):
        self._its = [iter(train_dataset(*args, **dict(kwargs, process_index=i, process_count=2))) for i in range(2)]

    def __iter__(self):
        return self

    def __next__(self):
        parts = [next(it) for it in self._its]
        return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}

    def get_state(self):
        return [it.get_state() for it in self._its]

    def set_state(self, state):
        for it, s in zip(self._its, state):
            it.set_state(s)


def test_two_processes_with_packed_rows_train_on_their_shares(tiny_workdir, tmp_path, monkeypatch):
    """Packed rows (data.pack=True, the default): each process packs its own share of the examples,
    so the losses are not a 1-process run's. They equal those of one process stepping on the two
    shares' rows together; a 2-process run stopped by SIGTERM resumes exactly in 2 processes, and
    its checkpoint is refused in 1 process."""
    config = tiny()
    assert config.data.pack
    one = tiny_workdir
    original = train_batches.train_dataset
    with monkeypatch.context() as m:
        m.setattr(train_batches, "train_dataset", lambda *args, **kwargs: _BothShares(original, *args, **kwargs))
        train_and_evaluate(config, one)  # to step 6
    reference = train_losses(one)

    fresh = tmp_path / "two"
    fresh.mkdir()
    shutil.copy(os.path.join(one, "tokenizer.model"), fresh)
    _, stop = _two_processes(tmp_path, fresh, "-", 0)
    _assert_same(train_losses(str(fresh)), reference, "2 processes, stopped and resumed")
    _assert_same(dev_losses(str(fresh)), dev_losses(one), "dev loss")

    two_then_one = _stopped_copy(str(fresh), tmp_path / "two_then_one", stop)
    with pytest.raises(UserError, match=r"states of 2 process\(es\).*resume with 2 process\(es\)"):
        train_and_evaluate(config, two_then_one)


def test_packed_data_state_resumes_only_with_the_process_count_that_saved_it(tmp_path, monkeypatch):
    """A packed run's iterator position is one in its process's share; another process count reads
    other shares, so even one saved state (a 1-process run, or equal counters) is refused there. An
    unpacked run's processes all save the same position, which any process count resumes."""
    import jax

    from xling_jax.training import checkpoints
    one = tmp_path / "one"
    one.mkdir()
    (one / "process_0-of-1.json").write_text('{"parent": {"next_index": 96}, "next_row": 0, "counter": 8}')
    assert checkpoints.data_state(str(one), packed=True) == (one / "process_0-of-1.json").read_bytes()
    monkeypatch.setattr(jax, "process_count", lambda: 2)
    for index in (0, 1):
        monkeypatch.setattr(jax, "process_index", lambda: index)
        with pytest.raises(UserError, match=r"states of 1 process\(es\).*resume with 1 process\(es\)"):
            checkpoints.data_state(str(one), packed=True)
        assert checkpoints.data_state(str(one), packed=False) == (one / "process_0-of-1.json").read_bytes()


def test_only_process_0_writes_the_run_config(tmp_path, monkeypatch):
    """Every process checks config.json against its own config, one writes it: two processes
    replacing one file through one temporary name lost it under load."""
    import jax

    from xling_jax.training import workdir as workdir_lib
    monkeypatch.setattr(jax, "process_index", lambda: 1)
    workdir_lib.save_config(str(tmp_path), tiny())
    assert os.listdir(tmp_path) == []
    monkeypatch.setattr(jax, "process_index", lambda: 0)
    workdir_lib.save_config(str(tmp_path), tiny())
    assert os.listdir(tmp_path) == ["config.json"]
    monkeypatch.setattr(jax, "process_index", lambda: 1)
    with pytest.raises(UserError, match="another model config"):  # process 1 still refuses a changed run
        workdir_lib.save_config(str(tmp_path), tiny(**{"model.num_layers": 3}))
