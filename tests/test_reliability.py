"""Reliability: preemption and kill -9 resume exactly, corrupted checkpoints, guarded numerics, config and
disk errors, hostile translate/eval input, nothing unpickled.

One tiny run on a tiny parallel_text dataset (no Bible scan, so a subprocess starts fast) is the
uninterrupted reference that the interrupted runs must reproduce exactly.
"""
import errno
import glob
import json
import os
import pickle
import random
import shutil
import signal
import subprocess
import sys
import time
import types

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import TINY_CONFIG

from xling_jax.cli.main import main
from xling_jax.configs.loading import load_config_file
from xling_jax.errors import UserError
from xling_jax.training import checkpoints, metrics, numerics
from xling_jax.training.train import train_and_evaluate

XLING = [sys.executable, "-c", "import sys; from xling_jax.cli.main import main; sys.exit(main())"]
STEPS = 12  # checkpoints every 3 steps, one metrics row a step (the tiny config's log_every)

WORDS = ("water light house king people land word day night city road bread stone tree fire".split(),
         "agua luz casa rey pueblo tierra palabra día noche ciudad camino pan piedra árbol fuego".split())


def _pairs(n: int, seed: int) -> str:
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        idx = [rng.randrange(len(WORDS[0])) for _ in range(rng.randint(3, 8))]
        rows.append(" ".join(WORDS[0][i] for i in idx) + "\t" + " ".join(WORDS[1][i] for i in idx))
    return "\n".join(rows) + "\n"


@pytest.fixture(scope="module", autouse=True)
def compile_cache(tmp_path_factory):
    """A persistent compilation cache for this module: its runs (and subprocesses) compile the same
    programs, which costs more than the training itself."""
    from jax._src import compilation_cache
    keys = ("jax_compilation_cache_dir", "jax_persistent_cache_min_compile_time_secs")
    before = {k: getattr(jax.config, k) for k in keys}
    path = str(tmp_path_factory.mktemp("jax_cache"))
    jax.config.update(keys[0], path)
    jax.config.update(keys[1], 0)
    compilation_cache.reset_cache()  # the session may have checked (and disabled) it already
    yield path
    for k, v in before.items():
        jax.config.update(k, v)
    compilation_cache.reset_cache()


@pytest.fixture(scope="module")
def rel_config(tmp_path_factory):
    """A config file: the tiny config on parallel_text/rel (en-es), built here."""
    from xling_jax.data.parallel_text.builder import build
    root = tmp_path_factory.mktemp("rel_data")
    files = {}
    for split, n in (("train", 300), ("dev", 16), ("test", 5)):
        files[split] = str(root / f"{split}.tsv")
        text = _pairs(n, seed=len(split))
        if split == "test":  # a source of ~6,000 tokens (the builder removes control characters)
            text += ("word " * 10_000).strip() + "\x07\tpalabra\n"
        with open(files[split], "w", encoding="utf-8") as f:
            f.write(text)
    data_dir = str(root / "data")
    build(data_dir, config_name="rel", options={"languages": ["en", "es"], "max_chars": 100_000, **files})
    path = root / "rel_config.py"
    path.write_text(f"""from xling_jax.configs.loading import load_config_file


def get_config():
    c = load_config_file({TINY_CONFIG!r})
    c.data.mixture = ("parallel_text/rel:en-es",)
    c.data.data_dir = {data_dir!r}
    c.train.steps = {STEPS}
    c.eval_every = 1000
    c.eval_batches = 1
    return c
""")
    return str(path)


def _new_workdir(path, tokenizer):
    os.makedirs(path)
    shutil.copy(tokenizer, os.path.join(path, "tokenizer.model"))
    return str(path)


@pytest.fixture(scope="module")
def reference(rel_config, tiny_tokenizer, tmp_path_factory):
    """An uninterrupted run of rel_config: checkpoints 6, 9, 12."""
    workdir = _new_workdir(tmp_path_factory.mktemp("ref") / "run", tiny_tokenizer)
    train_and_evaluate(load_config_file(rel_config), workdir)
    return workdir


@pytest.fixture
def no_pickle(monkeypatch):
    """Any unpickling fails (a checkpoint, config or tokenizer must not need it)."""
    def refuse(*args, **kwargs):
        raise AssertionError("something was unpickled")
    for name in ("load", "loads", "Unpickler"):
        monkeypatch.setattr(pickle, name, refuse)
    with pytest.raises(AssertionError):
        pickle.loads(pickle.dumps(1))


def train_rows(workdir):
    """{step: the train row without its timings}; steps must be unique."""
    rows = [r for r in metrics.read(workdir) if r["kind"] == "train"]
    assert len({r["step"] for r in rows}) == len(rows), [r["step"] for r in rows]
    return {r["step"]: {k: v for k, v in r.items() if not k.endswith("_per_s")} for r in rows}


def assert_same_params(a, b):
    from xling_jax.training.load import load_run
    pa, pb = load_run(a).params, load_run(b).params
    for x, y in zip(jax.tree.leaves(pa), jax.tree.leaves(pb), strict=True):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def assert_same_run(workdir, reference):
    assert train_rows(workdir) == train_rows(reference)
    assert_same_params(workdir, reference)


def _wait_for(predicate, proc, what, timeout=300):
    end = time.time() + timeout
    while not predicate():
        assert proc.poll() is None, f"the run exited ({proc.returncode}) before {what}"
        assert time.time() < end, f"timed out waiting for {what}"
        time.sleep(0.02)


def _last_step(workdir):
    try:
        return max((r["step"] for r in metrics.read(workdir) if r["kind"] == "train"), default=0)
    except (OSError, json.JSONDecodeError):
        return 0


def test_kill9_and_sigterm_then_resume_reproduce_the_uninterrupted_run(rel_config, reference, tiny_tokenizer,
                                                                       tmp_path, compile_cache):
    """kill -9 at seeded random moments (after a seeded step, plus a random delay that may land in a
    checkpoint write), and one SIGTERM, each followed by the same command: the final params and every
    logged row equal the uninterrupted run's."""
    workdir = _new_workdir(tmp_path / "run", tiny_tokenizer)
    command = ["train", "--config", rel_config, "--workdir", workdir]
    env = dict(os.environ, JAX_COMPILATION_CACHE_DIR=compile_cache, JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0")
    rng = random.Random(0)
    targets = sorted(rng.sample(range(2, STEPS - 3), 3))
    started = time.time()
    for cycle, (target, sig) in enumerate(zip(targets, (signal.SIGKILL, signal.SIGTERM, signal.SIGKILL))):
        out, err = tmp_path / f"out{cycle}", tmp_path / f"err{cycle}"
        with open(out, "w") as fo, open(err, "w") as fe:
            proc = subprocess.Popen(XLING + command, env=env, stdout=fo, stderr=fe)
            try:
                # The loop has begun (handlers installed, metrics.jsonl rewritten) once the header is out.
                _wait_for(lambda: "params on" in out.read_text(), proc, "training started")
                _wait_for(lambda: _last_step(workdir) >= target, proc, f"step {target}")
                time.sleep(rng.uniform(0, 0.3))
                proc.send_signal(sig)
                rc = proc.wait(timeout=300)
            finally:
                proc.kill()
        if sig == signal.SIGKILL:
            assert rc == -signal.SIGKILL
        else:
            stderr = err.read_text()
            assert rc == 0, stderr[-2000:]
            stopped = int(stderr.split("Stopped by SIGTERM after step ")[1].split(":")[0])
            assert f"rerun the same command to resume: xling train --config {rel_config} --workdir {workdir}" in stderr
            assert checkpoints.saved_steps(workdir)[-1] == stopped == _last_step(workdir)
    train_and_evaluate(load_config_file(rel_config), workdir)  # the same run, resumed to the end
    print(f"\n{len(targets)} interruptions + resume: {time.time() - started:.1f} s")
    assert_same_run(workdir, reference)


def test_sigint_stops_after_the_step_restores_handlers_and_resumes(rel_config, reference, tiny_tokenizer,
                                                                   tmp_path, monkeypatch, capsys):
    workdir = _new_workdir(tmp_path / "run", tiny_tokenizer)
    handler = signal.getsignal(signal.SIGINT)
    write = metrics.MetricsWriter.write

    def write_then_interrupt(self, step, row, kind="train"):
        write(self, step, row, kind)
        if step == 4:  # Ctrl-C while step 4 is being logged
            os.kill(os.getpid(), signal.SIGINT)
    monkeypatch.setattr(metrics.MetricsWriter, "write", write_then_interrupt)
    train_and_evaluate(load_config_file(rel_config), workdir)
    assert signal.getsignal(signal.SIGINT) is handler
    assert "Stopped by SIGINT after step 4" in capsys.readouterr().err
    assert checkpoints.saved_steps(workdir) == [3, 4] and _last_step(workdir) == 4
    monkeypatch.undo()
    train_and_evaluate(load_config_file(rel_config), workdir)
    assert "Resuming from step 4" in capsys.readouterr().out
    assert_same_run(workdir, reference)


def _flip_bytes(step_dir, item="state"):
    path = max(glob.glob(os.path.join(step_dir, item, "**", "*"), recursive=True), key=os.path.getsize)
    data = bytearray(open(path, "rb").read())
    data[len(data) // 2] ^= 1  # one bit: orbax alone would restore it without noticing
    open(path, "wb").write(data)


def test_corrupted_latest_checkpoint_falls_back_and_resumes_exactly(rel_config, reference, tmp_path, capsys,
                                                                    no_pickle):
    workdir = str(tmp_path / "run")
    shutil.copytree(reference, workdir)
    _flip_bytes(os.path.join(workdir, "checkpoints", "12"))
    from xling_jax.training.load import load_run
    assert load_run(workdir).step == 9  # a reader falls back too, and moves nothing
    assert os.path.isdir(os.path.join(workdir, "checkpoints", "12"))
    train_and_evaluate(load_config_file(rel_config), workdir)  # restores 9, trains 10-12 again
    err = capsys.readouterr().err
    assert "checkpoint step 12 in" in err and "changed since it was written" in err
    assert "falling back to checkpoint step 9; moved step(s) 12 to" in err
    assert glob.glob(os.path.join(workdir, checkpoints.CORRUPT_DIR, "*", "12", "state"))
    assert checkpoints.saved_steps(workdir) == [6, 9, 12]
    assert_same_run(workdir, reference)


def test_a_corrupted_best_checkpoint_is_an_error_not_wrong_params(tmp_path):
    params = {"w": jnp.arange(4096, dtype=jnp.float32)}
    workdir = str(tmp_path)
    checkpoints.save_best(workdir, 5, params, "dev_bleu", 1.0)
    abstract = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=x.sharding), params)
    restored, step = checkpoints.restore_params(workdir, abstract, "best")
    assert step == 5 and np.array_equal(restored["w"], params["w"])
    _flip_bytes(os.path.join(workdir, checkpoints.BEST_DIR, "5"), item="params")
    with pytest.raises(UserError, match="best checkpoint .* does not restore .*changed since it was written"):
        checkpoints.restore_params(workdir, abstract, "best")


def test_no_restorable_checkpoint_is_an_error_not_a_fresh_start(rel_config, reference, tmp_path, capsys):
    workdir = str(tmp_path / "run")
    shutil.copytree(reference, workdir)
    for step in (6, 9, 12):
        for path in glob.glob(os.path.join(workdir, "checkpoints", str(step), "state", "*")):
            if os.path.isfile(path):
                os.truncate(path, os.path.getsize(path) // 2)
    assert main(["train", "--config", rel_config, "--workdir", workdir]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("xling: error: none of the checkpoints in") and "step 6:" in err
    assert checkpoints.saved_steps(workdir) == [6, 9, 12]  # nothing moved, nothing overwritten
    assert not os.path.exists(os.path.join(workdir, checkpoints.CORRUPT_DIR))


def _state(workdir, step):
    import orbax.checkpoint as ocp
    mngr = checkpoints.manager(workdir, 100)
    return mngr.restore(step, args=ocp.args.Composite(state=ocp.args.StandardRestore())).state


def test_nonfinite_steps_are_skipped_counted_and_too_many_stop_training(rel_config, tiny_tokenizer, tmp_path,
                                                                        capsys):
    workdir = _new_workdir(tmp_path / "run", tiny_tokenizer)
    code = main(["train", "--config", rel_config, "--workdir", workdir, "--config.debug.nan_steps=2,4,5",
                 "--config.train.max_nonfinite=2", "--config.checkpoint_every=1", "--config.keep_checkpoints=10"])
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert code == 3
    assert err == (f"xling: error: stopped at step 5: 2 consecutive steps with a non-finite loss or gradient "
                   f"(steps 4-5, updates skipped; train.max_nonfinite=2); the last good checkpoint is step 3 in "
                   f"{workdir}/checkpoints")
    rows = train_rows(workdir)
    assert [rows[s]["nonfinite"] for s in sorted(rows)] == [0, 1, 0, 1]
    assert np.isnan(rows[2]["loss"]) and np.isfinite(rows[3]["loss"])
    # A skipped step leaves params and optimizer state as they were; the step counter still counts it.
    one, two, three = _state(workdir, 1), _state(workdir, 2), _state(workdir, 3)
    assert int(two["step"]) == 2
    for a, b in zip(jax.tree.leaves((one["params"], one["opt_state"])),
                    jax.tree.leaves((two["params"], two["opt_state"])), strict=True):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(jax.tree.leaves(two["params"])[0], jax.tree.leaves(three["params"])[0])
    assert checkpoints.saved_steps(workdir) == [1, 2, 3, 4]


def test_a_nonfinite_streak_goes_on_counting_across_a_resume(rel_config, tiny_tokenizer, tmp_path, capsys):
    workdir = _new_workdir(tmp_path / "run", tiny_tokenizer)
    args = ["train", "--config", rel_config, "--workdir", workdir, "--config.train.max_nonfinite=3",
            "--config.checkpoint_every=1", "--config.keep_checkpoints=10"]
    # Steps 4-5 skipped, then the run ends (train.steps=5) two steps into a streak.
    assert main(args + ["--config.debug.nan_steps=4,5", "--config.train.steps=5"]) == 0
    # Resumed for longer, step 6 is the third in a row: the stop of an uninterrupted run.
    assert main(args + ["--config.debug.nan_steps=4,5,6"]) == 3
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("xling: error: stopped at step 6: 3 consecutive steps with a non-finite loss or gradient "
                          "(steps 4-6, updates skipped; train.max_nonfinite=3); the last good checkpoint is step 3")
    assert checkpoints.saved_steps(workdir) == [1, 2, 3, 4, 5]


def test_a_streak_completed_between_logs_stops_before_the_next_checkpoint(rel_config, tiny_tokenizer, tmp_path,
                                                                        capsys):
    """log_every=4, a checkpoint every step: the checkpoint of step 3 would record a finished streak
    of steps 2-3 (not yet logged), so the run stops there rather than at the log of step 4."""
    workdir = _new_workdir(tmp_path / "run", tiny_tokenizer)
    assert main(["train", "--config", rel_config, "--workdir", workdir, "--config.train.max_nonfinite=2",
                 "--config.checkpoint_every=1", "--config.log_every=4", "--config.debug.nan_steps=2,3"]) == 3
    assert capsys.readouterr().err.strip().splitlines()[-1].startswith(
        "xling: error: stopped at step 3: 2 consecutive steps with a non-finite loss or gradient (steps 2-3, ")
    assert checkpoints.saved_steps(workdir) == [1, 2]
    mngr = checkpoints.manager(workdir, 10)
    assert checkpoints.saved_numerics(mngr, 1) == {"nonfinite_streak": 0, "first_nonfinite": None}
    assert checkpoints.saved_numerics(mngr, 2) == {"nonfinite_streak": 1, "first_nonfinite": 2}
    mngr.close()


def test_guard_records_pending_steps_without_counting_them_twice():
    guard = numerics.Guard(max_nonfinite=3, spike_factor=0.0, saved={"nonfinite_streak": 1, "first_nonfinite": 7})
    assert guard.saved(9, [1.0, 0.0]) == {"nonfinite_streak": 0, "first_nonfinite": None}
    assert guard.saved(9, [1.0]) == {"nonfinite_streak": 2, "first_nonfinite": 7}
    assert guard.saved(9, []) == {"nonfinite_streak": 1, "first_nonfinite": 7}
    with pytest.raises(numerics.NonFiniteStop, match=r"stopped at step 9: 3 consecutive .* \(steps 7-9"):
        guard.saved(9, [1.0, 1.0])
    # The streak from the checkpoint continues in the logged rows.
    guard = numerics.Guard(max_nonfinite=3, spike_factor=0.0, saved={"nonfinite_streak": 2, "first_nonfinite": 7})
    with pytest.raises(numerics.NonFiniteStop, match=r"stopped at step 9: 3 consecutive .* \(steps 7-9"):
        guard.check([9], [float("nan")], [1.0])


def test_loss_spikes_are_reported_and_streaks_span_windows(capsys):
    guard = numerics.Guard(max_nonfinite=3, spike_factor=2.0, logged_losses=[4.0] * 5)
    row = guard.check([6, 7, 8], [4.0, 9.0, 7.0], [0, 0, 0])
    assert row == {"loss": 20 / 3, "nonfinite": 0, "loss_spikes": 1}
    assert "loss spike at step 7: 9 > 2 x the running mean 4" in capsys.readouterr().err
    assert guard.check([9, 10], [float("nan"), 1.0], [1, 1])["nonfinite"] == 2
    with pytest.raises(numerics.NonFiniteStop, match=r"stopped at step 11: 3 consecutive .* \(steps 9-11"):
        guard.check([11], [float("inf")], [1])


def test_full_disk_on_save_is_one_line_and_keeps_the_checkpoints(rel_config, reference, tmp_path, monkeypatch,
                                                                 capsys):
    import grain
    workdir = str(tmp_path / "run")
    shutil.copytree(reference, workdir)
    shutil.rmtree(os.path.join(workdir, "checkpoints", "12"))  # a run at step 9: it resumes, then saves 12
    before = {s: checkpoints._digests(os.path.join(workdir, "checkpoints", str(s))) for s in (6, 9)}

    def full(self, directory, *args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(directory))
    monkeypatch.setattr(grain.checkpoint.CheckpointHandler, "save", full)
    assert main(["train", "--config", rel_config, "--workdir", workdir]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith(f"xling: error: cannot write checkpoint step 12 to {workdir}/checkpoints: No space left "
                          "on device") and "the checkpoints already there are intact (steps 6, 9)" in err
    monkeypatch.undo()
    assert checkpoints.saved_steps(workdir) == [6, 9]
    assert {s: checkpoints._digests(os.path.join(workdir, "checkpoints", str(s))) for s in (6, 9)} == before


def test_config_and_environment_errors_before_anything_compiles(rel_config, tmp_path, capsys, monkeypatch):
    def error(*args):
        assert main(["train", "--config", rel_config, "--workdir", str(tmp_path / "w"), *args]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("xling: error: ") and "\n" not in err.split("xling: error: ")[-1]
        return err.splitlines()[-1]

    def config_file(line):
        path = tmp_path / f"c{abs(hash(line))}.py"
        path.write_text(f"from xling_jax.configs.loading import load_config_file\n\n\ndef get_config():\n"
                        f"    c = load_config_file({rel_config!r})\n    {line}\n    return c\n")
        return str(path)

    assert "unknown config key 'train.stepz' (did you mean train.steps?)" in error(
        "--config", config_file("c.train.stepz = 3"))
    assert "TypeError: Could not override field 'steps' (reference). 100 is of original type <class 'str'>" in error(
        "--config", config_file("c.train.steps = '100'"))
    assert "config key 'data.directions' must be of type tuple (like its default ('en-es', 'es-en')), got str" in error(
        "--config", config_file("c.data = dict(c.data.items(), directions='en-es')"))
    assert "bad value for --config.train.steps: expected int, got 'True'" in error("--config.train.steps=True")
    assert "model.num_heads=3 does not divide model.emb_dim=32" in error("--config.model.num_heads=3")
    assert "mesh.data=4 x mesh.fsdp=1 x mesh.tensor=1 needs 4 devices but 1 are visible" in error("--config.mesh.data=4")
    assert "parallel_text/nosuch is not built" in error("--config.data.mixture=parallel_text/nosuch:en-es")
    assert f"init_from.workdir {tmp_path} has no vocabulary (tokenizer.model)" in error(
        f"--config.init_from.workdir={tmp_path}")
    # A batch the data-parallel size does not divide is refused before any dataset is built.
    shutil.rmtree(tmp_path / "w")
    from xling_jax.data import mixture
    from xling_jax.training import mesh
    monkeypatch.setattr(mesh, "make_mesh", lambda config: types.SimpleNamespace(shape={"data": 3, "fsdp": 1}))
    monkeypatch.setattr(mixture, "ensure_built", lambda *a: pytest.fail("built a dataset first"))
    assert "train.batch_size=8 is not divisible by the batch-parallel size 3 (mesh data x fsdp)" in error()
    assert not (tmp_path / "w").exists()


def test_hostile_translate_input_gives_one_line_out_per_line_in(reference, tmp_path, capsys, no_pickle):
    lines = [b"water light house", b"", ("word " * 200_000).encode(), b"bad \xff\xfe byte", b"bell\x07 and\x1b[0m\x00",
             b"\x0b\x0c\x1c", "casa\u2028rey\x85".encode(), b"crlf line\r"]
    lines += [b"the king of the land"] * 8  # a second batch: the short bucket that eval compiles too
    source = tmp_path / "in.txt"
    source.write_bytes(b"\n".join(lines) + b"\n")
    out = tmp_path / "out.txt"
    assert main(["translate", "--workdir", reference, "--src", "en", "--tgt", "es", "--input", str(source),
                 "--output", str(out), "--greedy", "--max_len_a", "0.1"]) == 0
    err = capsys.readouterr().err
    text = out.read_text(encoding="utf-8")
    assert text.endswith("\n") and len(text.splitlines()) == len(text.split("\n")) - 1 == len(lines)
    outputs = text.split("\n")[:-1]
    assert outputs[1] == "" and outputs[5] == ""  # empty, or nothing left after the controls
    assert "line 3: source of" in err and "cut to 512" in err
    assert "line 4: invalid UTF-8 replaced by U+FFFD" in err
    assert "line 5: 3 control character(s) removed" in err and "line 6: 3 control character(s) removed" in err
    for code, flag in (("xx", "--tgt"), ("qq", "--src")):
        args = {"--src": "en", "--tgt": "es", flag: code}
        assert main(["translate", "--workdir", reference, "--input", str(source), *sum(args.items(), ())]) == 2
        assert "xling: error: " in capsys.readouterr().err


def test_hostile_eval_input_and_unknown_directions(reference, capsys):
    assert main(["eval", "--workdir", reference, "--split", "test", "--greedy", "--max_len_a", "0.1"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["directions"]["en-es"]["sentences"] == 6
    assert "test en-es line 6: source of" in err and "cut to 512" in err
    with open(os.path.join(reference, "eval", "test", "en-es.hyp"), encoding="utf-8") as f:
        assert len(f.read().splitlines()) == 6
    assert main(["eval", "--workdir", reference, "--split", "test", "--directions", "en-xx"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("xling: error: ") and "\n" not in err
