"""Gradual magnitude pruning (training/pruning.py): the schedule, exact masks, zeros that stay, exact resume, export."""
import os
import shutil

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import TINY_CONFIG
from safetensors.numpy import load_file

from xling_jax.configs.loading import load_config_file
from xling_jax.errors import UserError
from xling_jax.interop.hf import export_hf
from xling_jax.training import metrics, pruning
from xling_jax.training.load import load_run
from xling_jax.training.train import train_and_evaluate
from xling_jax.training.validate import validate

FINAL, START, END, EVERY = 0.8, 1, 7, 2  # masks recomputed after 1, 3, 5 and 7 updates


def test_cubic_schedule_and_exact_masks():
    assert float(pruning.sparsity_at(0, 0.8, 2, 10)) == 0.0
    assert float(pruning.sparsity_at(6, 0.8, 2, 10)) == pytest.approx(0.8 * (1 - 0.5 ** 3))
    assert float(pruning.sparsity_at(10, 0.8, 2, 10)) == float(pruning.sparsity_at(99, 0.8, 2, 10)) == \
        pytest.approx(0.8)
    w = jnp.asarray([[0.5, -0.1, 0.0], [0.0, 2.0, -0.1]])  # ties at 0 and at 0.1: the earlier goes first
    np.testing.assert_array_equal(pruning.magnitude_mask(w, 0.5), [[True, False, False], [False, True, True]])
    np.testing.assert_array_equal(pruning.magnitude_mask(w, 0.0), np.ones((2, 3), bool))
    big = jax.random.normal(jax.random.key(0), (37, 53))
    for s in (0.1, 0.5, 0.9):
        assert int((~pruning.magnitude_mask(big, s)).sum()) == int(s * big.size)


def pruned_config():
    c = load_config_file(TINY_CONFIG)
    c.train.steps, c.checkpoint_every, c.eval_every = 10, 5, 10
    c.train.prune.update(sparsity=FINAL, start_step=START, end_step=END, every=EVERY)
    c.model.pre_ln, c.model.positions = False, "sinusoidal_marian"  # a Marian-shaped model: `xling export` writes it
    return c


def zero_shares(params) -> dict:
    flat = jax.tree_util.tree_flatten_with_path(params)[0]
    return {pruning.path_string(p): float((np.asarray(x) == 0).mean()) for p, x in flat}


def expected_share(updates_made: int, size: int) -> float:
    """The sparsity of the last mask computed within `updates_made` updates."""
    last = max(t for t in range(START, END + 1) if ((t - START) % EVERY == 0 or t == END) and t < updates_made)
    return int(float(pruning.sparsity_at(last, FINAL, START, END)) * size) / size


def test_pruning_reaches_the_schedule_keeps_zeros_and_resumes_exactly(tiny_workdir, tmp_path):
    c = pruned_config()
    train_and_evaluate(c, tiny_workdir)
    final = load_run(tiny_workdir).params
    at_5 = load_run(tiny_workdir, 5).params
    pruned = pruning.selected(final, c.train.prune.params)
    sizes = {pruning.path_string(p): x.size for p, x in jax.tree_util.tree_flatten_with_path(final)[0]}
    chosen = {pruning.path_string(p) for p, s in jax.tree_util.tree_flatten_with_path(pruned)[0] if s}
    assert any(k.endswith("kernel") for k in chosen) and "embedding/embedding" in chosen
    for params, updates in ((at_5, 5), (final, 10)):
        shares = zero_shares(params)
        for name, share in shares.items():
            if name in chosen:  # exactly the scheduled share of each matrix
                assert share == pytest.approx(expected_share(updates, sizes[name]), abs=1e-9), (name, updates)
            else:
                assert share < 0.5, name  # biases and norms are not pruned (most are nonzero)
    # A weight pruned at step 5 is still zero at step 10 (masks only grow).
    for path, w5 in jax.tree_util.tree_flatten_with_path(at_5)[0]:
        if pruning.path_string(path) in chosen:
            w10 = np.asarray(_get(final, path))
            assert (w10[np.asarray(w5) == 0] == 0).all()
    assert pruning.sparsity(final, c.train.prune.params) == pytest.approx(FINAL, abs=0.01)
    # Stopped at its step-5 checkpoint and rerun: the same losses and the same pruned params.
    resumed = str(tmp_path / "resumed")
    shutil.copytree(tiny_workdir, resumed)
    shutil.rmtree(os.path.join(resumed, "checkpoints", "10"))
    train_and_evaluate(c, resumed)
    losses = lambda w: {r["step"]: r["loss"] for r in metrics.read(w) if r["kind"] == "train"}
    assert losses(resumed) == losses(tiny_workdir)
    for a, b in zip(jax.tree.leaves(load_run(resumed).params), jax.tree.leaves(final)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    # The export writes the zeros.
    export_hf(tiny_workdir, str(tmp_path / "hf"))
    weights = load_file(str(tmp_path / "hf" / "model.safetensors"))
    fc = [v for k, v in weights.items() if k.endswith("fc1.weight")]
    assert fc and all((v == 0).mean() == pytest.approx(FINAL, abs=0.01) for v in fc)


def _get(tree, path):
    for k in path:
        tree = tree[k.key]
    return tree


def test_bad_prune_settings_are_one_line_errors(tiny_workdir):
    c = pruned_config()
    c.train.prune.sparsity = 1.0
    with pytest.raises(UserError, match=r"sparsity must be in \[0, 1\)"):
        validate(c)
    c = pruned_config()
    c.train.prune.end_step = 0
    with pytest.raises(UserError, match="start_step < end_step"):
        validate(c)
    c = pruned_config()
    c.train.prune.params = ("nothing/here",)
    with pytest.raises(UserError, match="match no param; paths look like"):
        train_and_evaluate(c, tiny_workdir)
