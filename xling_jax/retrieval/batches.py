"""Training batches of the retrieval task: the data plan's pairs, both sides framed as sources into one
tag language, in batches of train.batch_size pairs whose other pairs are each pair's negatives.

A batch is {"src", "tgt": BxS int32 token rows (both sides padded to one length S, the longest row
rounded up to ROUND, at most retrieval.max_len), "src_key", "tgt_key": B int32 hashes of the texts
(pairs sharing a text are no negatives of each other: objectives/contrastive.distinct_pairs)}.

Texts longer than retrieval.max_len are cut (`decoding.embed.frame`: their first pieces kept, the
EOS after them), not dropped: a pair stays a pair when both sides lose their ends, and dropping long
pairs would leave long sentences out of training (the evaluations embed them too).

The pipeline is grain's: pipeline.mixed_dataset (the endless, seeded mixture of the plan's training
pairs) -> framing -> batches -> an iterator whose state, checkpointed with the train state, resumes it
exactly. Every process forms the same global batches and keeps its own contiguous rows.
"""
import zlib

import grain
import numpy as np

from xling_jax.data import pipeline
from xling_jax.data.plan import DataPlan
from xling_jax.decoding.embed import frame

ROUND = 16  # batches are padded to a multiple of this many tokens: few shapes to compile


def text_key(text: str) -> int:
    """A 31-bit hash of a text (identical texts: identical keys, whatever their language)."""
    return zlib.crc32(text.encode("utf-8", "surrogatepass")) & 0x7FFFFFFF


def framed_pair(ex: dict, tokenizer, tag_lang: str, max_len: int) -> dict:
    """A pair {src, tgt, src_lang, tgt_lang, ...} of the pipeline as token rows and text keys."""
    src, = frame(tokenizer, [ex["src"]], ex["src_lang"], tag_lang, max_len)
    tgt, = frame(tokenizer, [ex["tgt"]], ex["tgt_lang"], tag_lang, max_len)
    return {"src": np.asarray(src, np.int32), "tgt": np.asarray(tgt, np.int32),
            "src_key": text_key(ex["src"]), "tgt_key": text_key(ex["tgt"])}


def pad_batch(examples, pad_id: int, max_len: int) -> dict:
    """A batch of framed pairs: both sides padded to one length (the longest row, rounded up to ROUND,
    at most max_len)."""
    longest = max(len(ex[side]) for ex in examples for side in ("src", "tgt"))
    length = min(-(-longest // ROUND) * ROUND, max(max_len, longest))
    out = {side: np.full((len(examples), length), pad_id, np.int32) for side in ("src", "tgt")}
    for i, ex in enumerate(examples):
        for side in ("src", "tgt"):
            out[side][i, :len(ex[side])] = ex[side]
    for side in ("src", "tgt"):
        out[f"{side}_key"] = np.array([ex[f"{side}_key"] for ex in examples], np.int32)
    return out


def train_dataset(plan: DataPlan, tokenizer, tag_lang: str, *, seed: int, batch_size: int, max_len: int,
                  process_index: int = 0, process_count: int = 1) -> grain.IterDataset:
    """Endless batches: this process's rows of global batches of `batch_size` pairs (train.batch_size),
    `max_len` (retrieval.max_len) tokens a text at most; `seed` (config.seed) orders the pairs."""
    ds = pipeline.mixed_dataset(plan, seed).map(lambda ex: framed_pair(ex, tokenizer, tag_lang, max_len))
    # Batched after to_iter_dataset: grain reads ahead (its read options' buffer) pairs, not whole batches.
    it = ds.to_iter_dataset().batch(batch_size, drop_remainder=True,
                                    batch_fn=lambda exs: pad_batch(exs, tokenizer.pad_id, max_len))
    local = batch_size // process_count
    lo, hi = process_index * local, (process_index + 1) * local
    return it.map(lambda b: {k: v[lo:hi] for k, v in b.items()})
