"""Learning-rate schedules and the AdamW optimizer."""
import re

import jax
import jax.numpy as jnp
import optax

from xling_jax.errors import UserError
from xling_jax.training import pruning

SCHEDULES = ("inverse_sqrt", "cosine")


def schedule(tc) -> optax.Schedule:
    """Linear warmup to `train.learning_rate`, then inverse-sqrt or cosine decay."""
    peak, warmup = tc.learning_rate, max(tc.warmup_steps, 1)
    if tc.schedule == "inverse_sqrt":
        def inverse_sqrt(step):
            step = jnp.asarray(step, jnp.float32) + 1.0
            return peak * jnp.minimum(step / warmup, jnp.sqrt(warmup / step))
        return inverse_sqrt
    if tc.schedule == "cosine":
        return optax.warmup_cosine_decay_schedule(0.0, peak, warmup, max(tc.steps, warmup + 1), end_value=0.0)
    raise UserError(f"unknown train.schedule {tc.schedule!r}; choose one of {', '.join(SCHEDULES)}")


def make_optimizer(tc) -> optax.GradientTransformation:
    """AdamW without its learning rate: the train step multiplies these updates by
    -schedule(step) of its own step counter (`apply_learning_rate`). Inside optax the rate would
    follow the optimizer's update count, which a skipped non-finite step does not advance: the
    schedule would fall behind the step (and the logged rate). Adam's bias correction does count
    updates made, as it should. With the rate applied after, updates equal optax.adamw's."""
    tx = optax.chain(
        optax.clip_by_global_norm(tc.grad_clip) if tc.grad_clip > 0 else optax.identity(),
        optax.scale_by_adam(b1=tc.b1, b2=tc.b2),
        # No decay on biases and layer-norm scales.
        optax.add_decayed_weights(tc.weight_decay, mask=lambda params: jax.tree.map(lambda p: p.ndim > 1, params)),
    )
    if tc.freeze:
        # Frozen params (train.freeze: regexes on param paths) get no update at all, not even weight decay.
        def labels(params):
            return jax.tree_util.tree_map_with_path(
                lambda path, _: "frozen" if any(re.match(p, pruning.path_string(path)) for p in tc.freeze) else "train",
                params)
        tx = optax.multi_transform({"train": tx, "frozen": optax.set_to_zero()}, labels)
    pr = tc.get("prune")
    if pr is None or not pr.sparsity:
        return tx
    return optax.chain(tx, pruning.prune(pr.sparsity, pr.start_step, pr.end_step, pr.every, tuple(pr.params)))


def apply_learning_rate(updates, learning_rate):
    """`make_optimizer`'s updates scaled by -learning_rate, as optax.scale_by_learning_rate does."""
    return jax.tree.map(lambda u: -learning_rate * u, updates)
