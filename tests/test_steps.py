"""The train step's microbatches (train.grad_accum_steps) and its non-finite guard, on one device."""
import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import TINY_CONFIG

from xling_jax.bench.train import random_batch
from xling_jax.configs.loading import load_config_file
from xling_jax.model import build_model
from xling_jax.training import optimizer, steps


def test_accumulate_splits_rows_round_robin_and_sums():
    batch = {"x": jnp.arange(12.0).reshape(6, 2)}
    seen = []

    def fn(micro, rng):
        seen.append(micro["x"].shape)
        return {"sum": jnp.sum(micro["x"]), "first": micro["x"][0, 0]}

    out = steps.accumulate(fn, batch, 3, jax.random.key(0))
    assert set(seen) == {(2, 2)}
    assert float(out["sum"]) == float(jnp.sum(batch["x"]))
    assert float(out["first"]) == 0.0 + 2.0 + 4.0  # microbatch i starts at row i
    assert steps.accumulate(fn, batch, 1, jax.random.key(0))["sum"] == jnp.sum(batch["x"])


def _step_and_state(config, accum_steps):
    """(jitted train step, initial state, model) for microbatches of `accum_steps`."""
    model = build_model(config.model, config.tokenizer.vocab_size)
    tx = optimizer.make_optimizer(config.train)
    state = steps.init_state(jax.random.key(0), model=model, tx=tx, batch_shape=(1, 8))
    config.train.grad_accum_steps = accum_steps
    return jax.jit(steps.configured_train_step(config, model, tx)), state, model


@pytest.mark.parametrize("accum_steps", [2, 4])
def test_microbatches_give_the_update_of_the_whole_batch(accum_steps):
    config = load_config_file(TINY_CONFIG)
    batch = random_batch(8, 16, config.tokenizer.vocab_size)
    # Padding that differs per row: the loss is a mean over tokens, not over microbatch means.
    for k in ("targets", "targets_segment_ids"):
        batch[k] = np.where(np.arange(16)[None] < np.arange(4, 12)[:, None], batch[k], 0)
    rng = jax.random.key(1)
    step, state, model = _step_and_state(config, 1)
    _, whole = step(state, batch, rng)
    step, state, _ = _step_and_state(config, accum_steps)
    _, parts = step(state, batch, rng)
    for k in ("loss", "nll", "accuracy", "grad_norm", "target_tokens", "source_tokens"):
        np.testing.assert_allclose(parts[k], whole[k], rtol=2e-6, err_msg=k)
    assert float(parts["target_tokens"]) == float(np.sum(batch["targets_segment_ids"] > 0))
    # The gradients themselves: params after one Adam step (about lr x the sign of each gradient)
    # would amplify rounding wherever a gradient is ~0, e.g. attention key biases.
    grads = {k: steps.batch_grads(state.params, batch, rng, model=model, label_smoothing=config.train.label_smoothing,
                                  accum_steps=k)[0] for k in (1, accum_steps)}
    scale = max(float(jnp.max(jnp.abs(g))) for g in jax.tree.leaves(grads[1]))
    for a, b in zip(jax.tree.leaves(grads[accum_steps]), jax.tree.leaves(grads[1]), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6 * scale)


def test_a_nonfinite_step_changes_nothing_but_the_step_counter():
    """Skipped, step 1 leaves params and optimizer state; step 2 then runs at the schedule's rate for
    step 2, not 1 (tiny config: warm-up from 0 over 2 steps, so at 1 it would not move at all)."""
    config = load_config_file(TINY_CONFIG)
    step, state, _ = _step_and_state(config, 2)
    poisoned = functools.partial(step, nan_steps=np.array([1, 0], np.int32))
    batch = random_batch(8, 16, config.tokenizer.vocab_size)
    rng = jax.random.key(1)
    skipped, m = poisoned(state, batch, rng)
    assert float(m["nonfinite"]) == 1.0 and np.isnan(float(m["loss"])) and int(skipped.step) == 1
    for a, b in zip(jax.tree.leaves((skipped.params, skipped.opt_state)),
                    jax.tree.leaves((state.params, state.opt_state)), strict=True):
        np.testing.assert_array_equal(a, b)
    after, m = poisoned(skipped, batch, rng)
    assert float(m["nonfinite"]) == 0.0
    assert float(m["learning_rate"]) == pytest.approx(config.train.learning_rate / 2)
    # The same as a first update made at step 1.
    direct, _ = step(state.replace(step=jnp.array(1, jnp.int32)), batch, rng)
    for a, b in zip(jax.tree.leaves(after), jax.tree.leaves(direct), strict=True):
        np.testing.assert_array_equal(a, b)
    assert not all(np.array_equal(a, b) for a, b in zip(jax.tree.leaves(after.params), jax.tree.leaves(state.params)))


def test_bfloat16_train_steps_follow_float32():
    """The whole jitted step in bfloat16 (on CPU the float32-accumulated products of model/matmul.py,
    in a form XLA must be able to run): params stay float32, losses track the float32 run."""
    batch = random_batch(8, 16, 600)
    losses = {}
    for dtype in ("float32", "bfloat16"):
        config = load_config_file(TINY_CONFIG)
        config.model.dtype = dtype
        step, state, _ = _step_and_state(config, 1)
        losses[dtype] = []
        for i in range(4):
            state, m = step(state, batch, jax.random.key(i))
            losses[dtype].append(float(m["loss"]))
        assert {x.dtype for x in jax.tree.leaves(state.params)} == {jnp.dtype(jnp.float32)}
    np.testing.assert_allclose(losses["bfloat16"], losses["float32"], rtol=1e-2)
    assert losses["bfloat16"][-1] < losses["bfloat16"][0]
