"""Pure train step of the retrieval task's dual encoder (jit-compiled by the caller).

One Embedder embeds both sides (shared weights): the source rows and the target rows go through it
as one batch of 2B rows, and the in-batch-negatives loss (objectives/contrastive.py) compares them.
"""
import jax
import jax.numpy as jnp

from xling_jax.objectives import contrastive
from xling_jax.training.steps import TrainState, guarded_update, poisoned


def init_state(rng, model, tx, length: int = 8) -> TrainState:
    params = model.init(rng, jnp.zeros((1, length), jnp.int32))["params"]
    return TrainState(step=jnp.array(0, jnp.int32), params=params, opt_state=tx.init(params))


def _loss(params, batch, model, margin, scale, rngs, step, nan_steps):
    b = batch["src"].shape[0]
    vectors_2BxD = model.apply({"params": params}, jnp.concatenate([batch["src"], batch["tgt"]]),
                               deterministic=False, rngs=rngs)
    loss, accuracy = contrastive.in_batch_softmax(
        vectors_2BxD[:b], vectors_2BxD[b:], margin=margin, scale=scale,
        distinct_BxB=contrastive.distinct_pairs(batch["src_key"], batch["tgt_key"]))
    loss = poisoned(loss, step, nan_steps)
    return loss, {"loss": loss, "accuracy": accuracy}


def train_step(state: TrainState, batch, rng, *, model, tx, schedule, margin: float, scale: float, nan_steps=None):
    """One optimizer step on {"src", "tgt", "src_key", "tgt_key"} (retrieval/batches.py); dropout keys
    depend on (rng, step) only. A step with a non-finite loss or gradient is skipped as in the
    translation step (`nonfinite` = 1)."""
    rngs = {"dropout": jax.random.fold_in(rng, state.step)}
    grads, metrics = jax.grad(_loss, has_aux=True)(state.params, batch, model, margin, scale, rngs, state.step,
                                                   nan_steps)
    metrics["learning_rate"] = schedule(state.step)
    metrics["tokens"] = (jnp.sum(batch["src"] != model.cfg.pad_id)
                         + jnp.sum(batch["tgt"] != model.cfg.pad_id)).astype(jnp.float32)
    state, metrics["grad_norm"], metrics["nonfinite"] = guarded_update(state, grads, metrics["loss"], tx,
                                                                       metrics["learning_rate"])
    return state, metrics
