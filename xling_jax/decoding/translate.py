"""Batched translation of text: length-sorted batches, few compiled shapes, order restored.

`config.decode.method` picks the search: "beam" (beam_size, alpha, nbest), "greedy", or
"sample" (temperature, top_k, top_p, seed).
"""
import functools
import math
from collections.abc import Callable, Sequence

import jax
import numpy as np

from xling_jax.decoding.beam import beam_search
from xling_jax.decoding.sampling import greedy, sample
from xling_jax.errors import UserError
from xling_jax.model import quantize

MAX_SOURCE_LEN = 512  # longer inputs are cut (and reported), not crashed on
METHODS = ("beam", "greedy", "sample")


def bucket(n: int, minimum: int = 16) -> int:
    """Pads lengths to powers of two (at least `minimum`) so only a few shapes compile."""
    return max(minimum, 1 << math.ceil(math.log2(max(n, 1))))


def check_decode_config(dc) -> None:
    if dc.method not in METHODS:
        raise UserError(f"decode.method {dc.method!r}: choose one of {', '.join(METHODS)}")
    if dc.method == "beam" and dc.beam_size < 1:
        raise UserError(f"decode.beam_size must be at least 1 (got {dc.beam_size})")
    if dc.nbest > (dc.beam_size if dc.method == "beam" else 1):
        raise UserError(f"decode.nbest={dc.nbest} needs beam search with beam_size >= {dc.nbest}")
    if dc.method == "sample" and not (dc.temperature > 0 and 0 < dc.top_p <= 1 and dc.top_k >= 0):
        raise UserError("sampling needs temperature > 0, 0 < top_p <= 1 and top_k >= 0")
    if dc.get("quantize", "none") not in quantize.MODES:
        raise UserError(f"decode.quantize {dc.quantize!r}: choose one of {', '.join(quantize.MODES)}")


class Translator:
    """Translates lists of sentences with a trained model's params."""

    def __init__(self, model, params, tokenizer, decode_config):
        check_decode_config(decode_config)
        self.model, self.tokenizer, self.dc = model, tokenizer, decode_config
        self.params = params
        dc = decode_config
        if dc.method == "beam":
            fn = functools.partial(beam_search, model=model, beam_size=dc.beam_size, alpha=dc.alpha,
                                   min_len=dc.min_len)
        elif dc.method == "greedy":
            fn = functools.partial(greedy, model=model, min_len=dc.min_len)
        else:
            fn = functools.partial(sample, model=model, min_len=dc.min_len, temperature=dc.temperature,
                                   top_k=dc.top_k, top_p=dc.top_p)
        self._search = jax.jit(fn, static_argnames="max_len")
        self._rng = jax.random.key(dc.seed)

    @property
    def params(self):
        return self._params

    @params.setter
    def params(self, params):
        """The params decoded with: int8 where decode.quantize says so (model/quantize.py)."""
        self._params = quantize.quantize_params(self.model, params, self.dc.get("quantize", "none"))

    def _max_target_len(self, source_len: int) -> int:
        return max(1, int(self.dc.max_len_a * source_len + self.dc.max_len_b))

    def _encode(self, texts, src_lang, tgt_lang, warn):
        suffix = self.tokenizer.source_affixes(src_lang, tgt_lang)[1]
        encoded = []
        for i, ids in enumerate(self.tokenizer.encode_sources(list(texts), src_lang, tgt_lang)):
            if len(ids) > MAX_SOURCE_LEN:
                if warn:
                    warn(f"line {i + 1}: source of {len(ids)} tokens cut to {MAX_SOURCE_LEN}")
                ids = ids[:MAX_SOURCE_LEN - len(suffix)] + suffix
            encoded.append(ids)
        return encoded

    def _run(self, src, limit, max_len, batch_index, prefix_P, start):
        """(tokens BxNxT, scores BxN) for one padded batch; N = beam size, or 1."""
        if self.dc.method == "beam":
            return self._search(self.params, src, limit, prefix_P, start, max_len=max_len)
        if self.dc.method == "greedy":
            out = self._search(self.params, src, limit, prefix_P, start, max_len=max_len)
        else:  # a key per batch, so a run's samples depend on the seed and the input only
            out = self._search(self.params, src, limit, jax.random.fold_in(self._rng, batch_index), prefix_P, start,
                               max_len=max_len)
        return out[:, None], np.zeros(out.shape[:1] + (1,), np.float32)

    def translate_nbest(self, texts: Sequence[str], tgt_lang: str, progress: Callable[[int], None] | None = None,
                        warn: Callable[[str], None] | None = None, *, src_lang: str | None = None
                        ) -> list[list[tuple[str, float]]]:
        """For each text, `decode.nbest` (translation, score) pairs, best first; "" for an empty line.

        `src_lang`: the language of `texts`, for vocabularies whose sources name it (NLLB, mBART)."""
        encoded = self._encode(texts, src_lang, tgt_lang, warn)
        # Tokens the target starts with (NLLB's language code) are forced, then cut from the output.
        forced = self.tokenizer.target_affixes(tgt_lang)[0]
        prefix_P, p = np.asarray(forced, np.int32), len(forced)
        first = self.tokenizer.decoder_start_id(tgt_lang)
        first = np.int32(self.model.cfg.decoder_start_id if first is None else first)
        order = sorted(range(len(texts)), key=lambda i: len(encoded[i]))
        outputs: list[list[tuple[str, float]]] = [[] for _ in texts]
        bs, nbest = self.dc.batch_size, self.dc.nbest
        for batch_index, start in enumerate(range(0, len(order), bs)):
            idx = order[start:start + bs]
            length = bucket(max(len(encoded[i]) for i in idx))
            src = np.full((bs, length), self.model.cfg.pad_id, np.int32)  # fixed batch: one compile per bucket
            for row, i in enumerate(idx):
                src[row, :len(encoded[i])] = encoded[i]
            # Each row stops at a * (its own source length) + b; the compiled loop is sized for the bucket.
            limit = np.zeros(bs, np.int32)
            limit[:len(idx)] = [p + self._max_target_len(len(encoded[i])) for i in idx]
            tokens, scores = map(np.asarray, self._run(src, limit, p + self._max_target_len(length), batch_index,
                                                       prefix_P, first))
            tokens = tokens[:, :, p:]
            for row, i in enumerate(idx):
                if texts[i].strip():
                    outputs[i] = [(self.tokenizer.decode(tokens[row, n]), float(scores[row, n]))
                                  for n in range(nbest)]
                else:
                    outputs[i] = [("", 0.0)] * nbest
            if progress:
                progress(len(idx))
        return outputs

    def translate(self, texts: Sequence[str], tgt_lang: str, progress: Callable[[int], None] | None = None,
                  warn: Callable[[str], None] | None = None, *, src_lang: str | None = None) -> list[str]:
        """The best translation of each text ("" for an empty line)."""
        return [hyps[0][0] for hyps in self.translate_nbest(texts, tgt_lang, progress, warn, src_lang=src_lang)]
