"""Online back-translation (XLM-style): synthetic pairs generated inside training by the current model.

With `online_bt.rows` > 0, every train step from `online_bt.start_step` on adds that many rows
(per global batch) of monolingual text X in language x:
1. host side (`BtBatches`, a pure function of the step: resuming needs no iterator state): the
   generation input `<2y> X </s>` for another language y of `online_bt.languages`, and the target
   `X </s>`;
2. device side (`synthetic_rows`, inside the jit-compiled step, outside the gradient): the model
   with the step's params translates X into y (greedy, or sampling with `online_bt.temperature`),
   and the row becomes the pair `<2x> Y </s>` -> `X </s>`, trained with the batch's other rows.
Its loss shows as `nll/online_bt` in metrics.jsonl. A text whose row would exceed data.max_len
keeps no loss (its row is all padding) rather than being cut: a cut target teaches early stops.
"""
import grain
import jax
import jax.numpy as jnp
import numpy as np

from xling_jax.data import pipeline
from xling_jax.data.plan import DataPlan
from xling_jax.decoding import sampling
from xling_jax.errors import UserError

NAME = "online_bt"  # its name among the per-task metrics


def enabled(ob) -> bool:
    """Whether `ob` (config.online_bt) adds back-translated rows to training."""
    return ob.rows > 0


def languages(requested, tokenizer, run_languages) -> list[str]:
    """The languages back-translated from and into: `requested` (online_bt.languages), else the
    run's `run_languages` (those of its directions)."""
    langs = list(requested) or list(run_languages)
    missing = [l for l in langs if l not in tokenizer.languages()]
    if missing:
        raise UserError(f"online_bt.languages has {', '.join(missing)} but the vocabulary's languages are "
                        f"{', '.join(tokenizer.languages())}")
    if len(langs) < 2:
        raise UserError(f"online back-translation needs two languages or more; online_bt.languages={langs}")
    return langs


def check(ob, tokenizer, data_parallel: int, accum_steps: int = 1) -> None:
    """Fails before compiling when online BT (`ob`: config.online_bt) cannot run with this vocabulary,
    `data_parallel` devices and train.grad_accum_steps."""
    if ob.rows % (data_parallel * accum_steps):  # appended to the batch, they are split into its microbatches too
        raise UserError(f"online_bt.rows={ob.rows} is not divisible by the {data_parallel} data-parallel devices"
                        + (f" x train.grad_accum_steps={accum_steps}" if accum_steps > 1 else ""))
    if tokenizer.target_vocab_size and tokenizer.target_vocab_size != tokenizer.vocab_size:
        raise UserError("online back-translation feeds generated target tokens to the encoder: it needs one "
                        "vocabulary for source and target (this run has two)")
    if ob.method not in ("greedy", "sample"):
        raise UserError(f"online_bt.method={ob.method!r}; choose 'greedy' or 'sample'")


def options(ob, decode) -> dict:
    """The keyword arguments of `synthetic_rows` (besides the model) from config.online_bt and config.decode."""
    return dict(method=ob.method, temperature=ob.temperature, max_len_a=decode.max_len_a,
                max_len_b=decode.max_len_b)


class BtBatches:
    """`batches[step]`: this process's generation inputs and targets of the step (numpy, RxL)."""

    def __init__(self, ob, tokenizer, plan: DataPlan, max_len: int, seed: int, process_index: int = 0,
                 process_count: int = 1):
        """`ob`: config.online_bt; `max_len`: data.max_len; `seed`: config.seed."""
        self.langs = languages(ob.languages, tokenizer, plan.languages)
        mono = pipeline.MonolingualSource(plan.directions, "train", plan.data_dir, plan.monolingual,
                                          only=self.langs, train_pairs=plan.train_pairs)
        if not len(mono):
            raise UserError(f"online back-translation found no monolingual training text in {self.langs}")
        self.max_len, self.tokenizer = max_len, tokenizer
        rows = ob.rows
        lo, hi = process_index * rows // process_count, (process_index + 1) * rows // process_count
        ds = grain.MapDataset.source(mono).seed(seed + 4000).shuffle().repeat()
        self._ds = ds.random_map(self._example, seed=seed + 4001).batch(rows)
        self._rows = slice(lo, hi)

    def _example(self, ex: dict, rng: np.random.Generator) -> dict:
        tok, x = self.tokenizer, ex["lang"]
        y = rng.choice([l for l in self.langs if l != x])
        ids = tok.encode(ex["text"])
        prefix = tok.source_prefix(y)
        gen = np.zeros(self.max_len, np.int32)
        targets = np.zeros(self.max_len, np.int32)
        src_prefix = np.asarray(tok.source_prefix(x), np.int32)
        # Room for the synthetic source's prefix and EOS too: it must fit the same row length.
        if len(ids) + 1 + max(len(prefix), len(src_prefix)) <= self.max_len:
            row = prefix + ids + [tok.eos_id]
            gen[:len(row)] = row
            targets[:len(ids) + 1] = ids + [tok.eos_id]
        return {"gen_inputs": gen, "targets": targets, "src_prefix": src_prefix}

    def __getitem__(self, step: int) -> dict:
        return {k: v[self._rows] for k, v in self._ds[step].items()}


def synthetic_rows(params, bt, rng, *, model, method: str, temperature: float, max_len_a: float,
                   max_len_b: float) -> dict:
    """Generates Y for each row of `bt` (see `BtBatches`) and returns the rows `<2x> Y </s>` -> `X </s>`
    as an unpacked batch {inputs, targets, *_segment_ids, *_positions} of bt's shape RxL.

    The synthetic length is capped by a * |X| + b and by the room left in the row; a row that runs
    out of room gets EOS forced at its end. Gradients never flow into the generation."""
    params = jax.lax.stop_gradient(params)
    gen_RxL, targets_RxL, prefix_RxP = bt["gen_inputs"], bt["targets"], bt["src_prefix"]
    length, pad, eos = gen_RxL.shape[1], model.cfg.pad_id, model.cfg.eos_id
    room = length - prefix_RxP.shape[1] - 1
    src_len_R = jnp.sum(gen_RxL != pad, axis=1)
    limit_R = jnp.clip(jnp.floor(max_len_a * src_len_R + max_len_b).astype(jnp.int32), 1, room)
    if method == "greedy":
        out_RxT = sampling.greedy(params, gen_RxL, limit_R, model=model, max_len=room)
    else:
        out_RxT = sampling.sample(params, gen_RxL, limit_R, rng, model=model, max_len=room, temperature=temperature)
    n_R = jnp.sum(out_RxT != pad, axis=1)
    ends_R = jnp.any(out_RxT == eos, axis=1)
    body_RxL = jnp.concatenate([prefix_RxP, out_RxT, jnp.full((out_RxT.shape[0], 1), pad, out_RxT.dtype)], axis=1)
    rows_R = jnp.arange(body_RxL.shape[0])
    # The slot after the last token is padding; it becomes EOS where generation stopped without one.
    body_RxL = body_RxL.at[rows_R, prefix_RxP.shape[1] + n_R].set(jnp.where(ends_R, pad, eos))
    live_R = jnp.any(targets_RxL != pad, axis=1)  # texts too long for a row have no target and no source
    inputs_RxL = jnp.where(live_R[:, None], body_RxL, pad)
    return _framed(inputs_RxL, targets_RxL, pad)


def _framed(inputs_RxL, targets_RxL, pad: int) -> dict:
    """One example per row: segment id 1 on its tokens, positions 0..n-1."""
    out = {"inputs": inputs_RxL, "targets": targets_RxL}
    for k, x in (("inputs", inputs_RxL), ("targets", targets_RxL)):
        out[f"{k}_segment_ids"] = (x != pad).astype(jnp.int32)
        out[f"{k}_positions"] = jnp.broadcast_to(jnp.arange(x.shape[1], dtype=jnp.int32), x.shape)
    return out


# Per-token features of a batch and the sequence they follow ("inputs" or "targets").
_FOLLOWS = {"task": "targets", "src_task": "inputs", "lm_targets": "inputs", "lm_positions": "inputs",
            "languages": "inputs"}


def append_rows(batch: dict, rows: dict, task_index: int) -> dict:
    """`batch` with the synthetic `rows` appended (both padded to the longer row length); the
    rows carry `task_index`, no LM loss and no language embedding, like translation examples."""
    width = max(batch["inputs"].shape[1], rows["inputs"].shape[1])
    widen = lambda x: jnp.pad(x, ((0, 0), (0, width - x.shape[1])))
    extra = dict(rows)
    for k, follows in _FOLLOWS.items():
        seg = rows[f"{follows}_segment_ids"]
        value = {"task": task_index, "src_task": task_index, "lm_targets": 0, "languages": -1}.get(k)
        if k in batch:
            extra[k] = rows[f"{follows}_positions"] if k == "lm_positions" else jnp.where(seg > 0, value, 0)
        for suffix in ("_segment_ids", "_positions"):
            if k + suffix in batch:
                extra[k + suffix] = rows[follows + suffix]
    missing = set(batch) - set(extra)
    if missing:
        raise ValueError(f"online back-translation rows lack batch features {sorted(missing)}")
    return {k: jnp.concatenate([widen(v), widen(extra[k].astype(v.dtype))], axis=0) for k, v in batch.items()}
