"""Learning-rate schedules and the AdamW optimizer."""
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
    return optax.chain(
        optax.clip_by_global_norm(tc.grad_clip) if tc.grad_clip > 0 else optax.identity(),
        optax.adamw(schedule(tc), b1=tc.b1, b2=tc.b2, weight_decay=tc.weight_decay,
                    # No decay on biases and layer-norm scales.
                    mask=lambda params: jax.tree.map(lambda p: p.ndim > 1, params)),
    )
