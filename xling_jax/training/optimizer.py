"""Learning-rate schedules and the AdamW optimizer."""
import re

import jax
import jax.numpy as jnp
import optax

from xling_jax.errors import UserError

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
    tx = optax.chain(
        optax.clip_by_global_norm(tc.grad_clip) if tc.grad_clip > 0 else optax.identity(),
        optax.adamw(schedule(tc), b1=tc.b1, b2=tc.b2, weight_decay=tc.weight_decay,
                    # No decay on biases and layer-norm scales.
                    mask=lambda params: jax.tree.map(lambda p: p.ndim > 1, params)),
    )
    if not tc.freeze:
        return tx
    # Frozen params (train.freeze: regexes on param paths) get no update at all, not even weight decay.

    def labels(params):
        return jax.tree_util.tree_map_with_path(
            lambda path, _: "frozen" if any(re.match(p, _path_string(path)) for p in tc.freeze) else "train", params)
    return optax.multi_transform({"train": tx, "frozen": optax.set_to_zero()}, labels)


def _path_string(path) -> str:
    return "/".join(str(getattr(k, "key", k)) for k in path)
