"""A sentence encoder: the Transformer's encoder, pooled and L2-normalised (a dual encoder's tower).

Like `Classifier`, `Embedder` subclasses `Transformer` so that its params sit at a translation run's
encoder paths (`embedding/embedding`, `encoder_0/...`, `encoder_norm/...`): `init_from` loads them,
and a retrieval run's params are a translation run's encoder. It has no decoder and no head.
"""
import jax.numpy as jnp

from xling_jax.model.pooling import encoder_config, normalize, pool
from xling_jax.model.transformer import Transformer


class Embedder(Transformer):
    """`__call__(tokens_BxS)` returns unit vectors BxD (float32), one per row."""
    pooling: str = "mean"

    def __call__(self, tokens_BxS, *, deterministic=True):
        x_BxSxD = self.encode(tokens_BxS, deterministic=deterministic)
        return normalize(pool(x_BxSxD, tokens_BxS, self.cfg.pad_id, self.pooling)).astype(jnp.float32)


def build_embedder(model_config, tokenizer, pooling: str) -> Embedder:
    """An embedder over `tokenizer`'s vocabulary with the encoder of `model_config` (config.model)."""
    cfg = encoder_config(model_config, tokenizer, pooling, "a retrieval run", "retrieval.pooling")
    return Embedder(cfg, pooling=pooling)
