"""Scoring given translations: the log-probability a model gives a target given its source (what
fairseq, Marian and CTranslate2 users rerank and filter with).

A pair's score is the sum of the natural-log probabilities of the target's tokens and its EOS,
teacher-forced behind the decoder's start; tokens the vocabulary forces before the text (NLLB's
target-language code) are fed but not scored, as are tokens after EOS (mBART-25's code).
"""
import functools
import math
from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from xling_jax.decoding.translate import MAX_SOURCE_LEN, bucket
from xling_jax.model import quantize


def sequence_log_probs(params, src_BxS, tgt_in_BxT, tgt_out_BxT, weights_BxT, *, model):
    """Sum over T of log p(tgt_out | source, tgt_in before it), weighted (B,), in float32."""
    logits_BxTxV = model.apply({"params": params}, src_BxS, tgt_in_BxT, deterministic=True)
    logp_BxTxV = jax.nn.log_softmax(logits_BxTxV.astype(jnp.float32), axis=-1)
    token_BxT = jnp.take_along_axis(logp_BxTxV, tgt_out_BxT[..., None], axis=-1)[..., 0]
    return jnp.sum(token_BxT * weights_BxT, axis=-1)


class Scorer:
    """Scores (source, target) pairs with a model's params, in length-sorted padded batches."""

    def __init__(self, model, params, tokenizer, batch_size: int = 64, quantize_mode: str = "none"):
        """`quantize_mode`: score with int8 params (model/quantize.py MODES)."""
        self.model, self.tokenizer, self.batch_size = model, tokenizer, batch_size
        self.params = quantize.quantize_params(model, params, quantize_mode)
        self._fn = jax.jit(functools.partial(sequence_log_probs, model=model))

    def _rows(self, src: str, tgt: str, src_lang: str | None, tgt_lang: str, line: int, warn):
        """(source ids, decoder input ids, target ids, weights) of one pair, or None if it cannot be scored."""
        tok = self.tokenizer
        suffix = tok.source_affixes(src_lang, tgt_lang)[1]
        src_ids, = tok.encode_sources([src], src_lang, tgt_lang)
        if len(src_ids) > MAX_SOURCE_LEN:
            if warn:
                warn(f"line {line}: source of {len(src_ids)} tokens cut to {MAX_SOURCE_LEN}")
            src_ids = src_ids[:MAX_SOURCE_LEN - len(suffix)] + suffix
        t_prefix, t_suffix = tok.target_affixes(tgt_lang)
        tgt_ids, = tok.encode_targets([tgt], tgt_lang)
        text_len = len(tgt_ids) - len(t_prefix) - len(t_suffix)
        if len(tgt_ids) > MAX_SOURCE_LEN:
            if warn:
                warn(f"line {line}: target of {len(tgt_ids)} tokens is longer than {MAX_SOURCE_LEN}: scored nan")
            return None
        start = tok.decoder_start_id(tgt_lang)
        start = self.model.cfg.decoder_start_id if start is None else start
        scored = np.zeros(len(tgt_ids), np.float32)
        scored[len(t_prefix):len(t_prefix) + text_len + 1] = 1.0  # the text and the EOS after it
        return src_ids, [start] + tgt_ids[:-1], tgt_ids, scored

    def score(self, pairs: Sequence[tuple[str, str] | None], tgt_lang: str, src_lang: str | None = None,
              warn: Callable[[str], None] | None = None,
              progress: Callable[[int], None] | None = None) -> list[float]:
        """One log-probability per pair (nan where a pair is None or cannot be scored), in input order."""
        rows = [None if p is None else self._rows(p[0], p[1], src_lang, tgt_lang, i + 1, warn)
                for i, p in enumerate(pairs)]
        out = [math.nan] * len(pairs)
        live = sorted((i for i, r in enumerate(rows) if r is not None), key=lambda i: (len(rows[i][2]), len(rows[i][0])))
        pad, bs = self.model.cfg.pad_id, self.batch_size
        for start in range(0, len(live), bs):
            idx = live[start:start + bs]
            s_len, t_len = bucket(max(len(rows[i][0]) for i in idx)), bucket(max(len(rows[i][2]) for i in idx))
            src = np.full((bs, s_len), pad, np.int32)  # fixed batch: one compile per length bucket
            tgt_in, tgt_out = np.full((bs, t_len), pad, np.int32), np.full((bs, t_len), pad, np.int32)
            weights = np.zeros((bs, t_len), np.float32)
            for r, i in enumerate(idx):
                s, t_in, t_out, w = rows[i]
                src[r, :len(s)], tgt_in[r, :len(t_in)], tgt_out[r, :len(t_out)], weights[r, :len(w)] = s, t_in, t_out, w
            sums = np.asarray(self._fn(self.params, src, tgt_in, tgt_out, weights))
            for r, i in enumerate(idx):
                out[i] = float(sums[r])
            if progress:
                progress(len(idx))
        if progress:
            progress(len(pairs) - len(live))
        return out
