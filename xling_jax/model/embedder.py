"""A sentence encoder: the Transformer's encoder, pooled and L2-normalised (a dual encoder's tower).

Like `Classifier`, `Embedder` subclasses `Transformer` so that its params sit at a translation run's
encoder paths (`embedding/embedding`, `encoder_0/...`, `encoder_norm/...`): `init_from` loads them,
and a retrieval run's params are a translation run's encoder. It has no decoder and no head.
"""
import dataclasses

import jax.numpy as jnp

from xling_jax.errors import UserError
from xling_jax.model.pooling import POOLINGS, normalize, pool
from xling_jax.model.transformer import Transformer, TransformerConfig


class Embedder(Transformer):
    """`__call__(tokens_BxS)` returns unit vectors BxD (float32), one per row."""
    pooling: str = "mean"

    def __call__(self, tokens_BxS, *, deterministic=True):
        x_BxSxD = self.encode(tokens_BxS, deterministic=deterministic)
        return normalize(pool(x_BxSxD, tokens_BxS, self.cfg.pad_id, self.pooling)).astype(jnp.float32)


def build_embedder(model_config, tokenizer, pooling: str) -> Embedder:
    """An embedder over `tokenizer`'s vocabulary with the encoder of `model_config` (config.model)."""
    if model_config.name != "transformer":
        raise UserError(f"a retrieval run needs model.name 'transformer' (its encoder), got {model_config.name!r}")
    if pooling not in POOLINGS:
        raise UserError(f"pooling must be one of {', '.join(map(repr, POOLINGS))}, got {pooling!r}")
    cfg = TransformerConfig.from_config(model_config, tokenizer.vocab_size, tokenizer.target_vocab_size)
    cfg = dataclasses.replace(cfg, final_logits_bias=False, pad_id=tokenizer.pad_id, eos_id=tokenizer.eos_id)
    return Embedder(cfg, pooling=pooling)
