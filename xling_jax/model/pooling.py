"""Encoder states -> one vector per row: the classifier's input and the sentence embedding."""
import dataclasses

import jax
import jax.numpy as jnp

from xling_jax.errors import UserError
from xling_jax.model.transformer import TransformerConfig

# "mean": average of the encoder states of the non-padding tokens; "first": the state of the first
# token (with a fixed tag in front, a [CLS]-like position that attends to the whole input).
POOLINGS = ("mean", "first")


def pool(x_BxSxD: jax.Array, tokens_BxS: jax.Array, pad_id: int, pooling: str) -> jax.Array:
    """BxD float32 summary of each row; padding never contributes (an all-padding row pools to zeros)."""
    if pooling == "first":
        return x_BxSxD[:, 0].astype(jnp.float32)
    keep_BxSx1 = (tokens_BxS != pad_id)[..., None].astype(jnp.float32)
    total_BxD = jnp.sum(x_BxSxD.astype(jnp.float32) * keep_BxSx1, axis=1)
    return total_BxD / jnp.maximum(jnp.sum(keep_BxSx1, axis=1), 1.0)


def normalize(x_BxD: jax.Array) -> jax.Array:
    """Unit L2 norm per row (a zero row stays zero): inner products are cosines."""
    return x_BxD / jnp.maximum(jnp.linalg.norm(x_BxD, axis=-1, keepdims=True), 1e-12)


def sentence_vectors(model, params, tokens_BxS: jax.Array, pooling: str) -> jax.Array:
    """Unit BxD vectors of token rows from the encoder of any model with `encode` (every family:
    Transformer, LSTM, classifier, embedder). Rows must not be packed: one text per row."""
    x_BxSxD = model.apply({"params": params}, tokens_BxS, method=type(model).encode)
    return normalize(pool(x_BxSxD, tokens_BxS, model.cfg.pad_id, pooling))


def encoder_config(model_config, tokenizer, pooling: str, who: str, pooling_key: str) -> TransformerConfig:
    """The TransformerConfig of a pooled encoder (classifier, embedder) over `tokenizer`'s vocabulary, after
    one-line errors for another model family or pooling; `who`, `pooling_key`: names for those errors."""
    if model_config.name != "transformer":
        raise UserError(f"{who} needs model.name 'transformer' (its encoder), got {model_config.name!r}")
    if pooling not in POOLINGS:
        raise UserError(f"{pooling_key} must be one of {', '.join(map(repr, POOLINGS))}, got {pooling!r}")
    cfg = TransformerConfig.from_config(model_config, tokenizer.vocab_size, tokenizer.target_vocab_size)
    # final_logits_bias is a param of the decoder's output, created in setup: not one an encoder needs.
    return dataclasses.replace(cfg, final_logits_bias=False, pad_id=tokenizer.pad_id, eos_id=tokenizer.eos_id)
