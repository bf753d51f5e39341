"""Train state and the pure train/eval step functions (jit-compiled by the caller)."""
import flax
import jax
import jax.numpy as jnp
import optax

from xling_jax.training.loss import cross_entropy, token_nll


@flax.struct.dataclass
class TrainState:
    step: jax.Array
    params: dict
    opt_state: optax.OptState


def shift_right(targets_BxT, positions_BxT, start_id: int = 0):
    """Decoder inputs: each segment's targets shifted right, starting with `start_id` (the model's
    decoder_start_id: xling's pad 0, OPUS-MT's pad = vocab_size - 1)."""
    shifted = jnp.pad(targets_BxT, ((0, 0), (1, 0)))[:, :-1]
    return jnp.where(positions_BxT == 0, start_id, shifted)


def model_inputs(batch, start_id: int = 0):
    return dict(
        src_BxS=batch["inputs"],
        tgt_in_BxT=shift_right(batch["targets"], batch["targets_positions"], start_id),
        src_segment_ids=batch["inputs_segment_ids"], tgt_segment_ids=batch["targets_segment_ids"],
        src_positions=batch["inputs_positions"], tgt_positions=batch["targets_positions"])


def init_state(rng, model, tx, batch_shape) -> TrainState:
    dummy = jnp.zeros(batch_shape, jnp.int32)
    params = model.init(rng, dummy, dummy)["params"]
    return TrainState(step=jnp.array(0, jnp.int32), params=params, opt_state=tx.init(params))


def _loss_and_metrics(params, batch, model, label_smoothing, rngs, deterministic, task_names=()):
    logits = model.apply({"params": params}, **model_inputs(batch, model.cfg.decoder_start_id),
                         deterministic=deterministic, rngs=rngs)
    weights = batch["targets_segment_ids"] > 0
    loss_sum, nll_sum, correct, n = cross_entropy(logits, batch["targets"], weights, label_smoothing)
    n_safe = jnp.maximum(n, 1.0)
    metrics = {"loss": loss_sum / n_safe, "nll": nll_sum / n_safe, "accuracy": correct / n_safe,
               "target_tokens": n, "source_tokens": jnp.sum(batch["inputs_segment_ids"] > 0).astype(jnp.float32)}
    if "task" in batch:  # a task mixture: sums per task, which the loop adds up over steps
        nll_BxT = token_nll(logits, batch["targets"])
        for t, name in enumerate(task_names):
            w_BxT = (weights & (batch["task"] == t)).astype(jnp.float32)
            metrics[f"nll_sum/{name}"], metrics[f"tokens/{name}"] = jnp.sum(nll_BxT * w_BxT), jnp.sum(w_BxT)
    return loss_sum / n_safe, metrics


def train_step(state: TrainState, batch, rng, *, model, tx, schedule, label_smoothing, task_names=()):
    """One optimizer step on a global batch; dropout keys depend on (rng, step) only.

    `task_names`: the names of config.tasks, for per-task metrics when batches carry `task`."""
    rngs = {"dropout": jax.random.fold_in(rng, state.step)}
    grad_fn = jax.value_and_grad(_loss_and_metrics, has_aux=True)
    (_, metrics), grads = grad_fn(state.params, batch, model, label_smoothing, rngs, False, task_names)
    updates, opt_state = tx.update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    metrics["grad_norm"] = global_norm(grads)
    metrics["learning_rate"] = schedule(state.step)
    return TrainState(step=state.step + 1, params=params, opt_state=opt_state), metrics


def global_norm(tree) -> jax.Array:
    """The L2 norm of all leaves together (what train.grad_clip clips)."""
    return jnp.sqrt(sum(jnp.sum(jnp.square(g)) for g in jax.tree.leaves(tree)))


def eval_step(params, batch, *, model):
    """Sums (not means) so that batches can be added up: loss is unsmoothed nll."""
    logits = model.apply({"params": params}, **model_inputs(batch, model.cfg.decoder_start_id), deterministic=True)
    weights = batch["targets_segment_ids"] > 0
    _, nll_sum, correct, n = cross_entropy(logits, batch["targets"], weights, 0.0)
    return {"nll_sum": nll_sum, "correct": correct, "tokens": n}
