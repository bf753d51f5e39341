"""Sentence embeddings of text: one unit vector per line from a model's encoder.

Every text is framed as a translation source into one fixed tag language (`tag_lang`, English by
default), whatever its own language, so that the tag adds the same to every vector and the two
sides of a bitext differ by their text alone (`xling_jax/classification` frames its texts the same
way). Vocabularies whose sources name their own language (NLLB, mBART) put that code in front as
they were trained to. data.task_prefix is not used: an embedding is no translation request.

Texts are batched by length, padded to a power of two (few compiled shapes); the attention mask
and the pooling ignore padding, so a vector does not depend on its batch or its padding.
"""
import functools
from collections.abc import Callable, Sequence

import jax
import numpy as np

from xling_jax.decoding.translate import MAX_SOURCE_LEN, bucket
from xling_jax.errors import UserError
from xling_jax.model.pooling import POOLINGS, sentence_vectors

DEFAULT_TAG = "en"


def tag_language(tokenizer, tag_lang: str | None = None) -> str:
    """`tag_lang`, or English where the vocabulary knows it, else its first language ("" without tags)."""
    if tag_lang:
        return tag_lang
    langs = tokenizer.languages()
    return DEFAULT_TAG if not langs or DEFAULT_TAG in langs or _knows(tokenizer, DEFAULT_TAG) else langs[0]


def _knows(tokenizer, lang: str) -> bool:
    try:
        tokenizer.source_affixes(lang, lang)
        return True
    except (KeyError, UserError):
        return False


def frame(tokenizer, texts: Sequence[str], lang: str, tag_lang: str, max_len: int = MAX_SOURCE_LEN
          ) -> list[list[int]]:
    """Ids of each text as a source in `lang` tagged for `tag_lang`, cut to `max_len` (the suffix kept)."""
    try:
        prefix, suffix = tokenizer.source_affixes(lang, tag_lang)
    except KeyError as e:
        raise UserError(f"the vocabulary has no language {e.args[0]!r}; it knows "
                        f"{', '.join(tokenizer.languages()) or 'no language tags'}") from None
    room = max(1, max_len - len(prefix) - len(suffix))
    return [prefix + ids[:room] + suffix for ids in tokenizer.encode_batch(list(texts))]


class Encoder:
    """Unit vectors of texts from `model`'s encoder (`pooling`: "mean" over non-pad states, or "first")."""

    def __init__(self, model, params, tokenizer, pooling: str = "mean", tag_lang: str | None = None,
                 batch_size: int = 64):
        if pooling not in POOLINGS:
            raise UserError(f"pooling must be one of {', '.join(POOLINGS)}, got {pooling!r}")
        if batch_size < 1:
            raise UserError(f"the embedding batch size must be positive, got {batch_size}")
        self.model, self.params, self.tokenizer, self.pooling = model, params, tokenizer, pooling
        self.tag_lang = tag_language(tokenizer, tag_lang)
        self.batch_size = batch_size
        self._fn = jax.jit(functools.partial(sentence_vectors, model, pooling=pooling))

    @property
    def dim(self) -> int:
        return int(jax.eval_shape(self._fn, self.params, np.zeros((1, 16), np.int32)).shape[-1])

    def __call__(self, texts: Sequence[str], lang: str, progress: Callable[[int], None] | None = None) -> np.ndarray:
        """NxD float32, row i the vector of texts[i]."""
        rows = frame(self.tokenizer, texts, lang, self.tag_lang)
        out = np.zeros((len(rows), self.dim), np.float32)
        order = sorted(range(len(rows)), key=lambda i: len(rows[i]))
        pad_id, bs = self.model.cfg.pad_id, self.batch_size
        for start in range(0, len(order), bs):
            idx = order[start:start + bs]
            tokens_BxS = np.full((bs, bucket(max(len(rows[i]) for i in idx))), pad_id, np.int32)
            for r, i in enumerate(idx):
                tokens_BxS[r, :len(rows[i])] = rows[i]
            out[idx] = np.asarray(self._fn(self.params, tokens_BxS))[:len(idx)]
            if progress:
                progress(len(idx))
        return out

