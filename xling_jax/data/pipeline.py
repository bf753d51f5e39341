"""grain input pipeline: direction expansion, tokenization, packing or padding, batching.

A batch is a dict of int32 arrays, each BxL: `inputs`, `targets` and their
`_segment_ids` (0 = padding) and `_positions`. Inputs start with the target
language tag; both sides end with EOS.
"""
from collections.abc import Sequence

import grain
import numpy as np

from xling_jax.data import registry
from xling_jax.data.tokenizer import EOS_ID, Tokenizer

FEATURES = ("inputs", "targets")


class DirectionSource:
    """Random access over (record, direction): item i is record i // k in direction i % k."""

    def __init__(self, source, spec: registry.DatasetSpec, directions: Sequence[tuple[str, str]]):
        self._source, self._spec, self._directions = source, spec, list(directions)

    def __len__(self) -> int:
        return len(self._source) * len(self._directions)

    def __getitem__(self, i: int) -> dict:
        record = self._source[i // len(self._directions)]
        src, tgt = self._directions[i % len(self._directions)]
        return {"src_lang": src, "tgt_lang": tgt,
                "src": record[self._spec.languages[src]], "tgt": record[self._spec.languages[tgt]]}


def encode_example(tokenizer: Tokenizer, ex: dict) -> dict:
    inputs = [tokenizer.tag_id(ex["tgt_lang"])] + tokenizer.encode(ex["src"]) + [EOS_ID]
    targets = tokenizer.encode(ex["tgt"]) + [EOS_ID]
    return {"inputs": np.asarray(inputs, np.int32), "targets": np.asarray(targets, np.int32)}


def pad_example(ex: dict, max_len: int) -> dict:
    """Pads (or truncates) one example to max_len with segment ids and positions."""
    out = {}
    for k in FEATURES:
        x = ex[k][:max_len]
        n = len(x)
        out[k] = np.pad(x, (0, max_len - n))
        out[k + "_segment_ids"] = (np.arange(max_len) < n).astype(np.int32)
        out[k + "_positions"] = np.where(np.arange(max_len) < n, np.arange(max_len), 0).astype(np.int32)
    return out


def stack(examples: Sequence[dict]) -> dict:
    return {k: np.stack([e[k] for e in examples]) for k in examples[0]}


def directions_dataset(name: str, split: str, data_dir: str, directions) -> grain.MapDataset:
    spec = registry.get_spec(name)
    return grain.MapDataset.source(DirectionSource(registry.TextSource(name, split, data_dir), spec, directions))


def train_dataset(config, tokenizer: Tokenizer, data_dir: str, process_index: int = 0,
                  process_count: int = 1) -> grain.IterDataset:
    """Endless, shuffled, tokenized, packed (or padded) batches of this process's share."""
    dc = config.data
    directions = registry.parse_directions(dc.name, dc.directions)
    batch_size = config.train.batch_size // process_count
    ds = directions_dataset(dc.name, "train", data_dir, directions)
    ds = ds.seed(config.seed).shuffle().repeat()
    ds = ds[process_index::process_count]
    ds = ds.map(lambda ex: encode_example(tokenizer, ex))
    # Longer pairs are dropped rather than truncated: a cut target teaches the model to stop mid-sentence.
    ds = ds.filter(lambda ex: len(ex["inputs"]) <= dc.max_len and len(ex["targets"]) <= dc.max_len)
    it = ds.to_iter_dataset()
    if dc.pack:
        it = grain.experimental.FirstFitPackIterDataset(
            it, length_struct={k: dc.max_len for k in FEATURES}, num_packing_bins=dc.packing_bins or batch_size,
            seed=config.seed, shuffle_bins=True)
        return it.batch(batch_size, drop_remainder=True)
    return it.map(lambda ex: pad_example(ex, dc.max_len)).batch(batch_size, drop_remainder=True)


def eval_batches(config, tokenizer: Tokenizer, data_dir: str, split: str = "dev", process_index: int = 0,
                 process_count: int = 1):
    """This process's rows of padded, unshuffled global batches over a split (for the loss).

    The last batch is filled with empty rows, which carry no weight.
    """
    dc = config.data
    directions = registry.parse_directions(dc.name, dc.directions)
    ds = directions_dataset(dc.name, split, data_dir, directions)
    ds = ds.map(lambda ex: pad_example(encode_example(tokenizer, ex), dc.max_len))
    bs = config.train.batch_size
    n_batches = -(-len(ds) // bs)
    if config.eval_batches:
        n_batches = min(n_batches, config.eval_batches)
    for b in range(n_batches):
        rows = [ds[i] for i in range(b * bs, min((b + 1) * bs, len(ds)))]
        empty = {k: np.zeros_like(v) for k, v in rows[0].items()}
        rows += [empty] * (bs - len(rows))
        yield stack(rows[process_index::process_count])
