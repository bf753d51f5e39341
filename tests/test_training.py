"""Training: 1 vs 8 devices, exact resume, metrics and workdir contents."""
import json
import os
import shutil
import subprocess
import sys

import jax
import numpy as np
import pytest
from conftest import TINY_CONFIG

from xling_jax.configs.loading import load_config_file
from xling_jax.training import metrics
from xling_jax.training.train import train_and_evaluate


def tiny(**overrides):
    c = load_config_file(TINY_CONFIG)
    for k, v in overrides.items():
        section, key = k.split(".") if "." in k else (None, k)
        (c[section] if section else c)[key] = v
    return c


def train_losses(workdir):
    return {r["step"]: r["loss"] for r in metrics.read(workdir) if r["kind"] == "train"}


def final_params(workdir):
    from xling_jax.training.load import load_run
    return load_run(workdir).params


def test_workdir_contents_and_metrics(tiny_workdir):
    train_and_evaluate(tiny(), tiny_workdir)
    assert {"config.json", "metrics.jsonl", "tokenizer.model", "checkpoints", "tensorboard"} <= set(
        os.listdir(tiny_workdir))
    assert sorted(os.listdir(os.path.join(tiny_workdir, "checkpoints"))) == ["3", "6"]
    rows = metrics.read(tiny_workdir)
    train = [r for r in rows if r["kind"] == "train"]
    assert [r["step"] for r in train] == [1, 2, 3, 4, 5, 6]
    for r in train:
        assert {"loss", "learning_rate", "tokens_per_s"} <= set(r) and np.isfinite(r["loss"])
    assert [r["step"] for r in rows if r["kind"] == "eval"] == [3, 6]
    assert any(f.startswith("events.out.tfevents") for f in os.listdir(os.path.join(tiny_workdir, "tensorboard")))
    with open(os.path.join(tiny_workdir, "config.json")) as f:
        assert json.load(f)["train"]["steps"] == 6
    # The model learns: loss falls over the first steps on real text.
    assert train[-1]["loss"] < train[0]["loss"]


def test_resume_after_stop_matches_uninterrupted_run(tiny_workdir, tmp_path):
    config = tiny()
    full = tiny_workdir
    train_and_evaluate(config, full)

    # A run stopped right after its step-3 checkpoint: same workdir state minus what came later.
    stopped = str(tmp_path / "stopped")
    shutil.copytree(full, stopped)
    shutil.rmtree(os.path.join(stopped, "checkpoints", "6"))
    with open(os.path.join(stopped, "metrics.jsonl")) as f:
        rows = [l for l in f if json.loads(l)["step"] <= 3]
    with open(os.path.join(stopped, "metrics.jsonl"), "w") as f:
        f.writelines(rows)

    train_and_evaluate(config, stopped)  # the same command again: resumes at step 3
    assert train_losses(stopped) == train_losses(full)
    a, b = final_params(full), final_params(stopped)
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def test_resume_drops_metrics_logged_after_the_checkpoint(tiny_workdir):
    """Steps logged after the last checkpoint are replayed on resume, not duplicated."""
    train_and_evaluate(tiny(), tiny_workdir)
    shutil.rmtree(os.path.join(tiny_workdir, "checkpoints", "6"))
    train_and_evaluate(tiny(), tiny_workdir)
    steps = [r["step"] for r in metrics.read(tiny_workdir) if r["kind"] == "train"]
    assert steps == [1, 2, 3, 4, 5, 6]


def test_rerun_after_finish_does_nothing(tiny_workdir, capsys):
    train_and_evaluate(tiny(), tiny_workdir)
    before = train_losses(tiny_workdir)
    train_and_evaluate(tiny(), tiny_workdir)
    assert train_losses(tiny_workdir) == before
    assert "already trained" in capsys.readouterr().out


# Mesh layouts of 8 devices (data x fsdp x tensor), all trained in one subprocess.
# "grad_accum_steps": microbatches of the same batch (train.grad_accum_steps), also the same losses.
LAYOUTS = {"data=8": {"data": 8}, "data=2,fsdp=4": {"data": 2, "fsdp": 4},
           "data=2,tensor=4": {"data": 2, "tensor": 4}, "data=2,fsdp=2,tensor=2": {"data": 2, "fsdp": 2, "tensor": 2},
           "data=2,fsdp=2,tensor=2,accum=2": {"data": 2, "fsdp": 2, "tensor": 2, "grad_accum_steps": 2}}
_TRAIN_LAYOUTS = """
import json, os, shutil, sys
from xling_jax.configs.loading import load_config_file
from xling_jax.training.train import train_and_evaluate
config_path, tokenizer, root, layouts = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
for name, sizes in layouts.items():
    workdir = os.path.join(root, name)
    os.makedirs(workdir)
    shutil.copy(tokenizer, workdir)
    config = load_config_file(config_path)
    config.train.grad_accum_steps = sizes.pop("grad_accum_steps", 1)
    config.mesh.update(sizes)
    config.checkpoint_every = config.eval_every = config.train.steps  # one checkpoint, one evaluation
    train_and_evaluate(config, workdir)
"""


def test_bfloat16_steps_on_eight_devices_equal_one():
    """The 16-bit CPU products (custom gradients, row-major copies) partitioned over data, fsdp and
    tensor axes: the benchmark's losses after 4 steps equal those of one device."""
    def loss(devices, *mesh):
        env = dict(os.environ, JAX_PLATFORMS="cpu", XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}")
        proc = subprocess.run([sys.executable, "-m", "xling_jax.cli.main", "bench", "train", "--shape", "tiny",
                               "--steps", "2", "--warmup", "2", "--config.train.batch_size=8",
                               "--config.model.dtype=bfloat16", *mesh], env=env, capture_output=True, text=True,
                              timeout=300)
        assert proc.returncode == 0, proc.stderr[-2000:]
        out = json.loads(proc.stdout)
        assert out["device"] == f"{devices} x cpu"
        return out["xling_jax"]["loss"]

    one = loss(1)
    assert loss(8, "--config.mesh.data=2", "--config.mesh.fsdp=2", "--config.mesh.tensor=2") == pytest.approx(one, rel=1e-3)


def saved_partition_specs(workdir, step):
    """{path in the saved TrainState: partition spec} from an Orbax checkpoint's sharding metadata."""
    import base64
    with open(os.path.join(workdir, "checkpoints", str(step), "state", "_sharding")) as f:
        saved = json.load(f)
    return {base64.b64decode(k).decode(): tuple(json.loads(v)["partition_spec"]) for k, v in saved.items()}


def test_mesh_layouts_of_eight_devices_log_the_same_losses_as_one(tiny_workdir, tmp_path):
    train_and_evaluate(tiny(), tiny_workdir)
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=8", JAX_PLATFORMS="cpu")
    proc = subprocess.run([sys.executable, "-c", _TRAIN_LAYOUTS, TINY_CONFIG,
                           os.path.join(tiny_workdir, "tokenizer.model"), str(tmp_path / "layouts"), json.dumps(LAYOUTS)],
                          env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count("on 8 device(s)") == len(LAYOUTS)
    one = train_losses(tiny_workdir)
    for name in LAYOUTS:
        workdir = str(tmp_path / "layouts" / name)
        many = train_losses(workdir)
        assert one.keys() == many.keys()
        worst = max(abs(one[s] - many[s]) / abs(one[s]) for s in one)
        assert worst <= 1e-4, (name, worst)
        # The state was trained sharded as the rules say: an MLP kernel and its Adam moments split
        # their width over fsdp and their hidden units over tensor; token embeddings their vocabulary.
        specs = saved_partition_specs(workdir, 6)
        kernel = "encoder_0.mlp.Dense_0.kernel"
        mirrored = {p: v for p, v in specs.items() if p.endswith(kernel)}
        assert len(mirrored) == 3 and set(mirrored.values()) == {("fsdp", "tensor")}, mirrored  # params, mu, nu
        assert specs["params.embedding.embedding"] == ("tensor", "fsdp")
        assert specs["step"] == ()


def test_evaluators_run_at_their_own_cadence(tiny_workdir):
    """evals.NAME.every (0: eval_every) sets each evaluator's steps; all run at the last step, and the best
    params follow dev_bleu only where it was measured."""
    c = tiny(**{"train.steps": 6, "eval_every": 2, "eval_bleu": True})
    c.evals.dev_bleu.every = 3
    train_and_evaluate(c, tiny_workdir)
    rows = {r["step"]: r for r in metrics.read(tiny_workdir) if r["kind"] == "eval"}
    assert sorted(rows) == [2, 3, 4, 6]
    assert [s for s in sorted(rows) if "dev_loss" in rows[s]] == [2, 4, 6]
    assert [s for s in sorted(rows) if "dev_bleu" in rows[s]] == [3, 6]
    with open(os.path.join(tiny_workdir, "best", "best.json")) as f:
        assert json.load(f)["step"] in (3, 6)
