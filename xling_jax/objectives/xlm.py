"""XLM objectives (Lample & Conneau 2019) on token-id arrays: masked LM, translation LM, causal LM.

Pure numpy functions of (ids, numpy Generator) to encoder-only examples:
`inputs` (what the encoder reads), `targets` (what its tied LM head predicts at each position)
and `weights` (1 where the loss counts), plus `positions` and `languages` for TLM.
"""
import numpy as np


def mlm(ids, rng: np.random.Generator, *, mask_id: int, vocab_size: int, special_ids=(), rate: float = 0.15,
        mask_prob: float = 0.8, random_prob: float = 0.1) -> dict:
    """Masked LM: round(rate * n) of the n maskable tokens are predicted (at least one). Each chosen
    token is replaced by `mask_id` (80%), a random vocabulary token (10%) or kept (10%).

    Special ids (pad, EOS, language tags...) are never chosen nor drawn as random replacements.
    """
    ids = np.asarray(ids, np.int32)
    special = np.isin(ids, np.asarray(list(special_ids), np.int32))
    maskable = np.flatnonzero(~special)
    weights = np.zeros(len(ids), np.float32)
    inputs = ids.copy()
    if len(maskable):
        chosen = rng.choice(maskable, max(1, round(rate * len(maskable))), replace=False)
        weights[chosen] = 1.0
        u = rng.random(len(chosen))
        inputs[chosen[u < mask_prob]] = mask_id
        randomised = chosen[(u >= mask_prob) & (u < mask_prob + random_prob)]
        inputs[randomised] = _random_tokens(rng, len(randomised), vocab_size, special_ids, mask_id)
    return {"inputs": inputs, "targets": ids, "weights": weights}


def _random_tokens(rng, n: int, vocab_size: int, special_ids, mask_id: int) -> np.ndarray:
    allowed = np.setdiff1d(np.arange(vocab_size, dtype=np.int32), np.asarray(list(special_ids) + [mask_id]))
    return rng.choice(allowed, n).astype(np.int32)


def tlm(src_ids, tgt_ids, src_lang: int, tgt_lang: int, rng: np.random.Generator, **mlm_kwargs) -> dict:
    """Translation LM: a parallel pair concatenated into one stream and masked as in `mlm`; positions
    restart at 0 for the second language, and each token carries its language's index."""
    src_ids, tgt_ids = np.asarray(src_ids, np.int32), np.asarray(tgt_ids, np.int32)
    out = mlm(np.concatenate([src_ids, tgt_ids]), rng, **mlm_kwargs)
    out["positions"] = np.concatenate([np.arange(len(src_ids)), np.arange(len(tgt_ids))]).astype(np.int32)
    out["languages"] = np.concatenate([np.full(len(src_ids), src_lang), np.full(len(tgt_ids), tgt_lang)]).astype(
        np.int32)
    return out


def clm(ids) -> dict:
    """Causal LM: read tokens 0..n-2 (with a causal mask), predict tokens 1..n-1."""
    ids = np.asarray(ids, np.int32)
    return {"inputs": ids[:-1], "targets": ids[1:], "weights": np.ones(max(len(ids) - 1, 0), np.float32)}
