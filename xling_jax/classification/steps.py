"""Pure train/eval step functions of the classifier (jit-compiled by the caller)."""
import jax
import jax.numpy as jnp
import optax

from xling_jax.training.steps import TrainState, guarded_update, poisoned


def init_state(rng, model, tx, length: int = 8) -> TrainState:
    params = model.init(rng, jnp.zeros((1, length), jnp.int32))["params"]
    return TrainState(step=jnp.array(0, jnp.int32), params=params, opt_state=tx.init(params))


def _loss(params, tokens_BxS, labels_B, model, label_smoothing, rngs, step, nan_steps):
    logits_BxC = model.apply({"params": params}, tokens_BxS, deterministic=False, rngs=rngs)
    targets_BxC = optax.smooth_labels(jax.nn.one_hot(labels_B, logits_BxC.shape[-1]), label_smoothing)
    loss = poisoned(jnp.mean(optax.softmax_cross_entropy(logits_BxC, targets_BxC)), step, nan_steps)
    accuracy = jnp.mean(jnp.argmax(logits_BxC, -1) == labels_B)
    return loss, {"loss": loss, "accuracy": accuracy}


def train_step(state: TrainState, batch, rng, *, model, tx, schedule, label_smoothing=0.0, nan_steps=None):
    """One optimizer step on {"tokens", "labels"}; dropout keys depend on (rng, step) only. A step
    with a non-finite loss or gradient is skipped as in the translation step (`nonfinite` = 1)."""
    rngs = {"dropout": jax.random.fold_in(rng, state.step)}
    grads, metrics = jax.grad(_loss, has_aux=True)(state.params, batch["tokens"], batch["labels"], model,
                                                   label_smoothing, rngs, state.step, nan_steps)
    metrics["learning_rate"] = schedule(state.step)
    metrics["tokens"] = jnp.sum(batch["tokens"] != model.cfg.pad_id).astype(jnp.float32)
    state, metrics["grad_norm"], metrics["nonfinite"] = guarded_update(state, grads, metrics["loss"], tx,
                                                                       metrics["learning_rate"])
    return state, metrics


def predict_step(params, tokens_BxS, *, model):
    """Predicted class per row."""
    return jnp.argmax(model.apply({"params": params}, tokens_BxS, deterministic=True), axis=-1)
