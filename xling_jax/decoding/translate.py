"""Batched translation of text: length-sorted batches, few compiled shapes, order restored."""
import functools
import math
import sys
from collections.abc import Callable, Sequence

import jax
import numpy as np

from xling_jax.data.tokenizer import Tokenizer
from xling_jax.decoding.greedy import greedy

MAX_SOURCE_LEN = 512  # longer inputs are cut (and reported), not crashed on


def bucket(n: int, minimum: int = 16) -> int:
    """Pads lengths to powers of two (at least `minimum`) so only a few shapes compile."""
    return max(minimum, 1 << math.ceil(math.log2(max(n, 1))))


class Translator:
    """Translates lists of sentences with a trained model's params."""

    def __init__(self, model, params, tokenizer: Tokenizer, decode_config):
        self.model, self.params, self.tokenizer, self.dc = model, params, tokenizer, decode_config
        self._greedy = jax.jit(functools.partial(greedy, model=model), static_argnames="max_len")

    def _max_target_len(self, source_len: int) -> int:
        return max(1, int(self.dc.max_len_a * source_len + self.dc.max_len_b))

    def translate(self, texts: Sequence[str], tgt_lang: str, progress: Callable[[int], None] | None = None,
                  warn: Callable[[str], None] | None = None) -> list[str]:
        prefix, eos = self.tokenizer.source_prefix(tgt_lang), self.tokenizer.eos_id
        encoded = []
        for i, ids in enumerate(self.tokenizer.encode_batch(list(texts))):
            ids = prefix + ids + [eos]
            if len(ids) > MAX_SOURCE_LEN:
                if warn:
                    warn(f"line {i + 1}: source of {len(ids)} tokens cut to {MAX_SOURCE_LEN}")
                ids = ids[:MAX_SOURCE_LEN - 1] + [eos]
            encoded.append(ids)
        order = sorted(range(len(texts)), key=lambda i: len(encoded[i]))
        outputs = [""] * len(texts)
        bs = self.dc.batch_size
        for start in range(0, len(order), bs):
            idx = order[start:start + bs]
            length = bucket(max(len(encoded[i]) for i in idx))
            # A fixed batch size: one compile per length bucket. Filled with the model's pad id (masked).
            src = np.full((bs, length), self.model.cfg.pad_id, np.int32)
            for row, i in enumerate(idx):
                src[row, :len(encoded[i])] = encoded[i]
            # Each row stops at a * (its own source length) + b; the compiled loop is sized for the bucket.
            limit = np.zeros(bs, np.int32)
            limit[:len(idx)] = [self._max_target_len(len(encoded[i])) for i in idx]
            out = np.asarray(self._greedy(self.params, src, limit, max_len=self._max_target_len(length)))
            for row, i in enumerate(idx):
                outputs[i] = self.tokenizer.decode(out[row]) if texts[i].strip() else ""
            if progress:
                progress(len(idx))
        return outputs
