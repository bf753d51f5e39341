"""Train state and the pure train/eval step functions (jit-compiled by the caller)."""
import flax
import jax
import jax.numpy as jnp
import optax

from xling_jax.objectives import online_bt
from xling_jax.objectives.tasks import ENCODER
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


def model_inputs(batch, start_id: int = 0, task_names=()):
    """Keyword arguments of the model for a batch; encoder-task features (objectives/tasks.py) add
    TLM positions, language indices, per-token causal flags (CLM) and the LM head."""
    out = dict(
        src_BxS=batch["inputs"],
        tgt_in_BxT=shift_right(batch["targets"], batch["targets_positions"], start_id),
        src_segment_ids=batch["inputs_segment_ids"], tgt_segment_ids=batch["targets_segment_ids"],
        src_positions=batch.get("lm_positions", batch["inputs_positions"]), tgt_positions=batch["targets_positions"])
    if "lm_targets" in batch:
        out["with_lm"] = True
        out["languages"] = batch.get("languages")
        if "clm" in task_names:
            out["src_causal"] = batch["src_task"] == task_names.index("clm")
    return out


def init_state(rng, model, tx, batch_shape) -> TrainState:
    dummy = jnp.zeros(batch_shape, jnp.int32)
    params = model.init(rng, dummy, dummy)["params"]
    return TrainState(step=jnp.array(0, jnp.int32), params=params, opt_state=tx.init(params))


def _loss_and_metrics(params, batch, model, label_smoothing, rngs, deterministic, task_names=()):
    out = model.apply({"params": params}, **model_inputs(batch, model.cfg.decoder_start_id, task_names),
                      deterministic=deterministic, rngs=rngs)
    logits, lm_logits = out if "lm_targets" in batch else (out, None)
    weights = batch["targets_segment_ids"] > 0
    loss_sum, nll_sum, correct, n = cross_entropy(logits, batch["targets"], weights, label_smoothing)
    metrics = {"target_tokens": n, "source_tokens": jnp.sum(batch["inputs_segment_ids"] > 0).astype(jnp.float32)}
    if lm_logits is not None:  # encoder-only tasks: their predicted tokens count like target tokens
        lm_weights = batch["lm_targets"] > 0
        sums = cross_entropy(lm_logits, batch["lm_targets"], lm_weights, label_smoothing)
        loss_sum, nll_sum, correct, n = (a + b for a, b in zip((loss_sum, nll_sum, correct, n), sums))
        metrics["lm_tokens"] = sums[3]
    n_safe = jnp.maximum(n, 1.0)
    metrics.update(loss=loss_sum / n_safe, nll=nll_sum / n_safe, accuracy=correct / n_safe)
    if "task" in batch:  # a task mixture: sums per task, which the loop adds up over steps
        nll_BxT = token_nll(logits, batch["targets"])
        for t, name in enumerate(task_names):
            if lm_logits is not None and name in ENCODER:
                nll_BxS, w_BxS = token_nll(lm_logits, batch["lm_targets"]), lm_weights & (batch["src_task"] == t)
            else:
                nll_BxS, w_BxS = nll_BxT, weights & (batch["task"] == t)
            w_BxS = w_BxS.astype(jnp.float32)
            metrics[f"nll_sum/{name}"], metrics[f"tokens/{name}"] = jnp.sum(nll_BxS * w_BxS), jnp.sum(w_BxS)
    return loss_sum / n_safe, metrics


def train_step(state: TrainState, batch, rng, bt=None, *, model, tx, schedule, label_smoothing, task_names=(),
               bt_options=None, nan_steps=None):
    """One optimizer step on a global batch; dropout keys depend on (rng, step) only.

    `task_names`: the task names that feature `task` indexes, for per-task metrics. `bt`: rows for
    online back-translation (objectives/online_bt.py), translated with the step's params and
    appended to the batch; `bt_options`: the keyword arguments of `online_bt.synthetic_rows`.

    A step whose loss or gradient is not finite leaves params and optimizer state as they were
    (metric `nonfinite` = 1) but still advances `step`: step counts batches consumed, so the data
    position, the learning-rate schedule and dropout keys stay those of an unguarded run.
    `nan_steps`: an int array of (1-based) steps whose loss is made NaN, 0-padded (config
    debug.nan_steps, for tests); an argument rather than a constant, so that poisoning other steps
    compiles nothing new."""
    step_rng, bt_rng = jax.random.split(jax.random.fold_in(rng, state.step))
    rngs = {"dropout": step_rng}
    if bt is not None:
        rows = online_bt.synthetic_rows(state.params, bt, bt_rng, model=model, **bt_options)
        batch = online_bt.append_rows(batch, rows, task_names.index(online_bt.NAME))

    def loss_fn(params):
        loss, metrics = _loss_and_metrics(params, batch, model, label_smoothing, rngs, False, task_names)
        metrics["loss"] = loss = poisoned(loss, state.step, nan_steps)
        return loss, metrics

    (loss, metrics), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
    metrics["learning_rate"] = schedule(state.step)
    state, metrics["grad_norm"], metrics["nonfinite"] = guarded_update(state, grads, loss, tx)
    return state, metrics


def poisoned(loss, step, nan_steps):
    """`loss`, made NaN where the step about to run (1-based: step + 1) is in `nan_steps` (config
    debug.nan_steps, an int array; None: unchanged)."""
    if nan_steps is None:
        return loss
    return loss * jnp.where(jnp.isin(step + 1, nan_steps), jnp.nan, 1.0)


def guarded_update(state: TrainState, grads, loss, tx):
    """(next state, gradient norm, nonfinite flag): the optimizer's update, skipped where the loss or
    the gradient is not finite; `step` advances either way.

    A cond rather than a `where` on every leaf: no select over params and optimizer state each step
    (1.4% of a cpu-ref step on CPU)."""
    grad_norm = global_norm(grads)
    finite = jnp.isfinite(loss) & jnp.isfinite(grad_norm)

    def update(params, opt_state):
        updates, opt_state = tx.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state

    params, opt_state = jax.lax.cond(finite, update, lambda *old: old, state.params, state.opt_state)
    return (TrainState(step=state.step + 1, params=params, opt_state=opt_state), grad_norm,
            1.0 - finite.astype(jnp.float32))


def global_norm(tree) -> jax.Array:
    """The L2 norm of all leaves together (what train.grad_clip clips)."""
    return jnp.sqrt(sum(jnp.sum(jnp.square(g)) for g in jax.tree.leaves(tree)))


def eval_step(params, batch, *, model):
    """Sums (not means) so that batches can be added up: loss is unsmoothed nll."""
    logits = model.apply({"params": params}, **model_inputs(batch, model.cfg.decoder_start_id), deterministic=True)
    weights = batch["targets_segment_ids"] > 0
    _, nll_sum, correct, n = cross_entropy(logits, batch["targets"], weights, 0.0)
    return {"nll_sum": nll_sum, "correct": correct, "tokens": n}
