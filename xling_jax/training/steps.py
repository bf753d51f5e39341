"""Train state and the pure train/eval step functions (jit-compiled by the caller)."""
import functools

import flax
import jax
import jax.numpy as jnp
import optax

from xling_jax.objectives import online_bt
from xling_jax.objectives.tasks import ENCODER
from xling_jax.training import optimizer, pruning
from xling_jax.training.loss import cross_entropy, token_nll


@flax.struct.dataclass
class TrainState:
    step: jax.Array
    params: dict
    opt_state: optax.OptState


def shift_right(targets_BxT, positions_BxT, start_id: int = 0, segment_ids_BxT=None):
    """Decoder inputs: each segment's targets shifted right, starting with `start_id` (the model's
    decoder_start_id: xling's pad 0, OPUS-MT's pad = vocab_size - 1, NLLB's EOS). A negative
    start_id starts each segment from its own last token instead (mBART-25's language code, as its
    shift_tokens_right wraps it around)."""
    shifted = jnp.pad(targets_BxT, ((0, 0), (1, 0)))[:, :-1]
    if start_id >= 0:
        return jnp.where(positions_BxT == 0, start_id, shifted)
    t = targets_BxT.shape[1]
    following = jnp.pad(segment_ids_BxT, ((0, 0), (0, 1)))[:, 1:]
    last = (segment_ids_BxT != following) & (segment_ids_BxT > 0)
    # The index of each position's segment end: the nearest `last` at or after it.
    end_BxT = jax.lax.cummin(jnp.where(last, jnp.arange(t), t - 1), axis=1, reverse=True)
    return jnp.where(positions_BxT == 0, jnp.take_along_axis(targets_BxT, end_BxT, axis=1), shifted)


def model_inputs(batch, start_id: int = 0, task_names=()):
    """Keyword arguments of the model for a batch; encoder-task features (objectives/tasks.py) add
    TLM positions, language indices, per-token causal flags (CLM) and the LM head."""
    out = dict(
        src_BxS=batch["inputs"],
        tgt_in_BxT=shift_right(batch["targets"], batch["targets_positions"], start_id, batch["targets_segment_ids"]),
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


def _loss_sums(params, batch, model, label_smoothing, rngs, task_names=(), deterministic: bool = False):
    """(objective summed over the batch's weighted tokens, metric sums). Sums rather than means: the
    step divides by the token count after adding up its microbatches (train.grad_accum_steps), so
    that their gradients add up to the whole batch's."""
    out = model.apply({"params": params}, **model_inputs(batch, model.cfg.decoder_start_id, task_names),
                      deterministic=deterministic, rngs=rngs)
    logits, lm_logits = out if "lm_targets" in batch else (out, None)
    weights = batch["targets_segment_ids"] > 0
    loss_sum, nll_sum, correct, n = cross_entropy(logits, batch["targets"], weights, label_smoothing)
    sums = {"target_tokens": n, "source_tokens": jnp.sum(batch["inputs_segment_ids"] > 0).astype(jnp.float32)}
    if lm_logits is not None:  # encoder-only tasks: their predicted tokens count like target tokens
        lm_weights = batch["lm_targets"] > 0
        lm = cross_entropy(lm_logits, batch["lm_targets"], lm_weights, label_smoothing)
        loss_sum, nll_sum, correct, n = (a + b for a, b in zip((loss_sum, nll_sum, correct, n), lm))
        sums["lm_tokens"] = lm[3]
    sums.update(loss_sum=loss_sum, nll_sum=nll_sum, correct=correct, n=n)
    if "task" in batch:  # a task mixture: sums per task, which the loop adds up over steps
        nll_BxT = token_nll(logits, batch["targets"])
        for t, name in enumerate(task_names):
            if lm_logits is not None and name in ENCODER:
                nll_BxS, w_BxS = token_nll(lm_logits, batch["lm_targets"]), lm_weights & (batch["src_task"] == t)
            else:
                nll_BxS, w_BxS = nll_BxT, weights & (batch["task"] == t)
            w_BxS = w_BxS.astype(jnp.float32)
            sums[f"nll_sum/{name}"], sums[f"tokens/{name}"] = jnp.sum(nll_BxS * w_BxS), jnp.sum(w_BxS)
    return loss_sum, sums


def accumulate(fn, batch, steps: int, rng):
    """The sum of fn(microbatch, rng_i) over `steps` microbatches of `batch` (a lax.scan: one
    microbatch's activations live at a time). Microbatch i holds rows i, i + steps, ..., so each
    stays spread over the batch-parallel devices like the whole batch; rng_i folds i into `rng`.
    steps=1: fn(batch, rng)."""
    if steps == 1:
        return fn(batch, rng)
    micro = jax.tree.map(lambda x: jnp.swapaxes(x.reshape(x.shape[0] // steps, steps, *x.shape[1:]), 0, 1), batch)

    def add(total, i_mb):
        out = fn(i_mb[1], jax.random.fold_in(rng, i_mb[0]))
        return jax.tree.map(jnp.add, total, out), None

    shapes = jax.eval_shape(fn, jax.tree.map(lambda x: x[0], micro), rng)
    total, _ = jax.lax.scan(add, jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), shapes),
                            (jnp.arange(steps), micro))
    return total


def batch_grads(params, batch, dropout_rng, *, model, label_smoothing, task_names=(), accum_steps: int = 1):
    """(gradient of the batch's mean token loss, the sums of `_loss_sums`), added up over
    `accum_steps` microbatches."""
    def grads_and_sums(micro, rng):
        grad_fn = jax.grad(_loss_sums, has_aux=True)
        return grad_fn(params, micro, model, label_smoothing, {"dropout": rng}, task_names)

    grads, sums = accumulate(grads_and_sums, batch, accum_steps, dropout_rng)
    n_safe = jnp.maximum(sums["n"], 1.0)
    return jax.tree.map(lambda g: g / n_safe, grads), sums


def train_step(state: TrainState, batch, rng, bt=None, *, model, tx, schedule, label_smoothing, task_names=(),
               bt_options=None, nan_steps=None, accum_steps: int = 1):
    """One optimizer step on a global batch; dropout keys depend on (rng, step) only.

    `task_names`: the task names that feature `task` indexes, for per-task metrics. `bt`: rows for
    online back-translation (objectives/online_bt.py), translated with the step's params and
    appended to the batch; `bt_options`: the keyword arguments of `online_bt.synthetic_rows`.
    `accum_steps` (train.grad_accum_steps): microbatches whose gradients are summed (`accumulate`).

    A step whose loss or gradient is not finite leaves params and optimizer state as they were
    (metric `nonfinite` = 1) but still advances `step`: step counts batches consumed, so the data
    position, the learning-rate schedule and dropout keys stay those of an unguarded run.
    `nan_steps`: an int array of (1-based) steps whose loss is made NaN, 0-padded (config
    debug.nan_steps, for tests); an argument rather than a constant, so that poisoning other steps
    compiles nothing new."""
    step_rng, bt_rng = jax.random.split(jax.random.fold_in(rng, state.step))
    if bt is not None:
        rows = online_bt.synthetic_rows(state.params, bt, bt_rng, model=model, **bt_options)
        batch = online_bt.append_rows(batch, rows, task_names.index(online_bt.NAME))

    grads, sums = batch_grads(state.params, batch, step_rng, model=model, label_smoothing=label_smoothing,
                              task_names=task_names, accum_steps=accum_steps)
    n_safe = jnp.maximum(sums["n"], 1.0)
    metrics = {k: v for k, v in sums.items() if k not in ("loss_sum", "nll_sum", "correct", "n")}
    metrics.update(loss=poisoned(sums["loss_sum"] / n_safe, state.step, nan_steps), nll=sums["nll_sum"] / n_safe,
                   accuracy=sums["correct"] / n_safe, learning_rate=schedule(state.step))
    state, metrics["grad_norm"], metrics["nonfinite"] = guarded_update(state, grads, metrics["loss"], tx,
                                                                       metrics["learning_rate"])
    return state, metrics


def configured_train_step(config, model, tx, task_names=()):
    """train_step with the config's settings bound: what `xling train` and the benchmarks jit."""
    t = config.train
    return functools.partial(train_step, model=model, tx=tx, schedule=optimizer.schedule(t),
                             label_smoothing=t.label_smoothing, task_names=task_names, accum_steps=t.grad_accum_steps)


def poisoned(loss, step, nan_steps):
    """`loss`, made NaN where the step about to run (1-based: step + 1) is in `nan_steps` (config
    debug.nan_steps, an int array; None: unchanged)."""
    if nan_steps is None:
        return loss
    return loss * jnp.where(jnp.isin(step + 1, nan_steps), jnp.nan, 1.0)


def guarded_update(state: TrainState, grads, loss, tx, learning_rate):
    """(next state, gradient norm, nonfinite flag): the optimizer's update at `learning_rate` (the
    schedule at state.step: see optimizer.make_optimizer), skipped where the loss or the gradient
    is not finite; `step` advances either way.

    A cond rather than a `where` on every leaf: no select over params and optimizer state each step
    (1.4% of a cpu-ref step on CPU)."""
    grad_norm = global_norm(grads)
    finite = jnp.isfinite(loss) & jnp.isfinite(grad_norm)

    def update(params, opt_state):
        updates, opt_state = tx.update(grads, opt_state, params)
        params = optax.apply_updates(params, optimizer.apply_learning_rate(updates, learning_rate))
        return pruning.masked(params, opt_state), opt_state  # pruned weights stay exactly zero

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
