"""Transformer encoder-decoder in flax.linen.

Shapes are in names: B batch, S source length, T target length, D width,
H heads, K head width, F MLP width, V vocabulary. Segment ids (0 = padding)
and positions are explicit inputs so packed rows work; when omitted they are
derived from the tokens (one segment per row, `pad_id` masked).
"""
import contextlib
import contextvars
import dataclasses
import math
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from xling_jax.model import quantize
from xling_jax.model.config_base import SeqToSeqConfig
from xling_jax.model.dense import Dense, DenseGeneral, Embed
from xling_jax.model.matmul import NEG_INF, low_precision_attention, low_precision_product, low_precision_rows

# Logical axis names of params and activations; config.mesh.rules maps them to mesh axes (see
# training/mesh.py). Params: "vocab", "embed" (the width D), "heads", "kv" (head width), "mlp".
# Activations: "batch", "length", "act_embed" (D of the residual stream; unsharded by default, so
# that fsdp gathers weights rather than splitting activations) and the param names for H, F, V.
partitioned = nn.with_logical_partitioning
# The mesh of the step being traced (see `sharding_context`). Not JAX's global mesh: under that, flax
# re-applies the param annotations when it checks DenseGeneral's kernel shapes, at the wrong rank.
_MESH = contextvars.ContextVar("xling_mesh", default=None)


@contextlib.contextmanager
def sharding_context(mesh, rules):
    """While tracing a step: `constrain` applies, with this mesh and these logical axis rules."""
    token = _MESH.set(mesh)
    try:
        with nn.logical_axis_rules(rules):
            yield
    finally:
        _MESH.reset(token)


def constrain(x, *names):
    """A sharding constraint by logical names; a no-op outside `sharding_context` (decoding, tests)."""
    mesh = _MESH.get()
    return x if mesh is None else nn.with_logical_constraint(x, names, mesh=mesh)


@dataclasses.dataclass(frozen=True)
class TransformerConfig(SeqToSeqConfig):
    """Hyperparameters; fields mirror the keys of `config.model`."""
    vocab_size: int
    emb_dim: int = 256
    num_heads: int = 4
    num_layers: int = 3
    num_decoder_layers: int = 0  # 0: same as num_layers.
    mlp_dim: int = 1024
    dropout_rate: float = 0.1
    attention_dropout_rate: float = 0.0
    pre_ln: bool = True
    # "sinusoidal" (tensor2tensor frequencies), "sinusoidal_marian" (Marian/Transformers frequencies
    # 1e4^(-2i/D)) or "learned".
    positions: str = "sinusoidal"
    max_len: int = 512  # table size for learned positions
    share_embeddings: bool = True  # one embedding for source and target
    # Output logits: "auto" = the shared embedding when share_embeddings, else a separate projection;
    # "tied" = the target embedding (transposed); "separate" = an output projection of its own.
    output_projection: str = "auto"
    final_logits_bias: bool = False  # a learned bias on the logits (Marian's final_logits_bias)
    activation: str = "relu"  # MLP activation: "relu", "swish" (silu) or "gelu" (exact erf form)
    layer_norm_eps: float = 1e-6  # Marian/PyTorch: 1e-5
    # True (Vaswani/fairseq/Marian): embeddings start at std D^-1/2 and are multiplied by sqrt(D) on
    # input, so Adam's steps are large relative to them; False (Flax WMT): std 1, logits / sqrt(D).
    scale_embeddings: bool = True
    dtype: str = "float32"  # compute dtype
    # Dtype params are made, stored and restored in: "float32", or "bfloat16" to halve a large pretrained
    # model's memory (used in the compute dtype; training then updates bfloat16 weights).
    param_dtype: str = "float32"
    # Activations recomputed in the backward pass, per layer (memory for compute): "none"; "full"
    # (all of a layer's); "dots" (all but the dense layers' products: attention and the rest).
    remat: str = "none"
    # Special token ids of the vocabulary (xling's sentencepiece: pad 0, eos 1; OPUS-MT: eos 0,
    # pad = vocab_size - 1). Decoding starts from `decoder_start_id`.
    pad_id: int = 0
    eos_id: int = 1
    decoder_start_id: int = 0
    # Target (decoder and output) vocabulary size when the target side has a vocabulary of its own
    # (needs share_embeddings=False); 0: the same as vocab_size. Set from the tokenizer, like vocab_size.
    target_vocab_size: int = 0
    # XLM language embeddings: a table of this many rows added to the token embeddings of inputs
    # that come with a language index per token (translation LM); 0: none.
    num_languages: int = 0
    # Decoder shapes where a pretrained checkpoint's differ from the encoder's; 0: the encoder's.
    num_decoder_heads: int = 0
    decoder_mlp_dim: int = 0
    # A layer norm over token + position embeddings before the first layer (mBART's layernorm_embedding).
    embedding_norm: bool = False
    # Added to every position before the table or sinusoid lookup: fairseq's M2M100/NLLB count positions
    # from pad_id + 1, mBART's learned table from 2 (its first rows are never used).
    position_offset: int = 0
    # Tied logits: "auto" divides them by sqrt(emb_dim) when the embeddings are not scaled on input (see
    # scale_embeddings); "none" never rescales (BART-style models without scale_embedding).
    tied_logits_scale: str = "auto"
    # Dropout after the MLP activation; -1: dropout_rate (pretrained models often have 0 here).
    activation_dropout_rate: float = -1.0
    # The T5 family: "rms" norms (scale only, no mean), no biases in any projection, a head width of its
    # own (heads x head_dim may differ from emb_dim; 0: emb_dim / num_heads), queries not scaled by
    # 1/sqrt(head_dim), a gated MLP (activation(x W0) * x W1), and positions="relative": a learned bias
    # per head on attention logits by bucketed relative distance (relative_buckets, up to
    # relative_max_distance; bidirectional in the encoder, causal in the decoder), one table per stack
    # shared by its layers (T5, mT5) or one per layer (umT5: relative_per_layer).
    norm: str = "layer"
    use_bias: bool = True
    head_dim: int = 0
    scale_attention: bool = True
    mlp_gated: bool = False
    relative_buckets: int = 32
    relative_max_distance: int = 128
    relative_per_layer: bool = False

    @property
    def decoder_heads(self) -> int:
        return self.num_decoder_heads or self.num_heads

    @property
    def decoder_mlp(self) -> int:
        return self.decoder_mlp_dim or self.mlp_dim

    @property
    def activation_dropout(self) -> float:
        return self.dropout_rate if self.activation_dropout_rate < 0 else self.activation_dropout_rate


def sinusoidal(positions_BxL: jax.Array, dim: int) -> jax.Array:
    """Sinusoidal position encodings (Vaswani et al.) for arbitrary positions."""
    half = dim // 2
    inv_freq = np.exp(-math.log(10000.0) * np.arange(half) / max(half - 1, 1))
    angles_BxLxh = positions_BxL[..., None].astype(jnp.float32) * inv_freq
    return jnp.concatenate([jnp.sin(angles_BxLxh), jnp.cos(angles_BxLxh)], axis=-1)


def sinusoidal_marian(positions_BxL: jax.Array, dim: int) -> jax.Array:
    """Marian's layout (as in Transformers' MarianSinusoidalPositionalEmbedding): sines then cosines,
    frequencies 1e4^(-2i/dim). Unlike `sinusoidal` the exponent divides by dim, not half - 1."""
    n_sin, n_cos = (dim + 1) // 2, dim // 2  # odd dim: one more sine
    inv_freq = np.power(10000.0, -2.0 * np.arange(n_sin) / dim)
    angles_BxLxs = positions_BxL[..., None].astype(jnp.float32) * inv_freq.astype(np.float32)
    return jnp.concatenate([jnp.sin(angles_BxLxs), jnp.cos(angles_BxLxs[..., :n_cos])], axis=-1)


ACTIVATIONS = {"relu": nn.relu, "swish": nn.swish, "gelu": lambda x: nn.gelu(x, approximate=False),
               "gelu_tanh": lambda x: nn.gelu(x, approximate=True)}
POSITIONS = ("sinusoidal", "sinusoidal_marian", "learned", "relative")
NORMS = ("layer", "rms")
REMAT = ("none", "full", "dots")
OUTPUT_PROJECTIONS = ("auto", "tied", "separate")
TIED_LOGITS_SCALES = ("auto", "none")
PARAM_DTYPES = ("float32", "bfloat16")


def attention_mask(q_seg_BxT, kv_seg_BxS, causal=False) -> jax.Array:
    """Boolean mask Bx1xTxS: same non-padding segment (and causal if asked).

    `causal` is a bool for the whole batch or a BxT array of per-query flags: packed rows mix
    causal-LM segments with bidirectional ones (segments are contiguous, so row order is enough)."""
    mask = (q_seg_BxT[:, :, None] == kv_seg_BxS[:, None, :]) & (q_seg_BxT[:, :, None] > 0)
    t, s = q_seg_BxT.shape[1], kv_seg_BxS.shape[1]
    if isinstance(causal, bool):
        if causal:
            mask &= jnp.tril(jnp.ones((t, s), dtype=bool))
    else:
        mask &= ~causal.astype(bool)[:, :, None] | jnp.tril(jnp.ones((t, s), dtype=bool))[None]
    return mask[:, None]


def default_segments_positions(tokens_BxL, segment_ids=None, positions=None, pad_id: int = 0):
    if segment_ids is None:
        segment_ids = (tokens_BxL != pad_id).astype(jnp.int32)
    if positions is None:
        positions = jnp.broadcast_to(jnp.arange(tokens_BxL.shape[1]), tokens_BxL.shape)
    return segment_ids, positions


def attention_weights(q_BxTxHxK, k_BxSxHxK, mask_Bx1xTxS, bias_BxHxTxS=None) -> jax.Array:
    """Softmax attention weights BxHxTxS (float32) of already scaled queries, plus an additive bias (T5's
    relative positions); masked positions get 0."""
    logits_BxHxTxS = jnp.einsum("bthk,bshk->bhts", q_BxTxHxK, k_BxSxHxK).astype(jnp.float32)
    if bias_BxHxTxS is not None:
        logits_BxHxTxS += bias_BxHxTxS
    return jax.nn.softmax(jnp.where(mask_Bx1xTxS, logits_BxHxTxS, NEG_INF))


def relative_bucket(relative_BxTxS, bidirectional: bool, num_buckets: int, max_distance: int):
    """T5's buckets of key position - query position: exact for small distances, logarithmic up to
    max_distance, the last bucket beyond; in both directions (half the buckets each) or, causal, for
    keys at or before the query only."""
    bucket = jnp.zeros_like(relative_BxTxS)
    if bidirectional:
        num_buckets //= 2
        bucket += (relative_BxTxS > 0).astype(bucket.dtype) * num_buckets
        distance = jnp.abs(relative_BxTxS)
    else:
        distance = -jnp.minimum(relative_BxTxS, 0)
    exact = num_buckets // 2
    # Clipped below at 1 only to keep the log finite; those distances take the exact branch.
    far = exact + (jnp.log(jnp.maximum(distance, 1).astype(jnp.float32) / exact) / math.log(max_distance / exact)
                   * (num_buckets - exact)).astype(bucket.dtype)
    return bucket + jnp.where(distance < exact, distance, jnp.minimum(far, num_buckets - 1))


class RelativeBias(nn.Module):
    """A learned bias per head and relative-position bucket (T5): BxHxTxS (float32) for query and key
    positions."""
    num_heads: int
    num_buckets: int
    max_distance: int
    bidirectional: bool

    @nn.compact
    def __call__(self, q_pos_BxT, kv_pos_BxS):
        table = self.param("embedding", partitioned(nn.initializers.normal(1.0), (None, "heads")),
                           (self.num_buckets, self.num_heads))
        buckets_BxTxS = relative_bucket(kv_pos_BxS[:, None, :] - q_pos_BxT[:, :, None], self.bidirectional,
                                        self.num_buckets, self.max_distance)
        return jnp.asarray(table, jnp.float32)[buckets_BxTxS].transpose(0, 3, 1, 2)


class Attention(nn.Module):
    """Multi-head dot-product attention with an optional key/value cache.

    With `decode=True` (self-attention) or a `cross_cache` mode (cross-attention) the module
    decodes: one query position per call, keys and values read from the "cache" collection.
    """
    num_heads: int
    dtype: Any
    dropout_rate: float = 0.0
    head_dim: int = 0  # 0: the width / num_heads
    use_bias: bool = True
    scale: bool = True  # queries / sqrt(head_dim) (T5: False)
    position_bias: Any = None  # a RelativeBias (T5): added to the logits by query and key positions

    @nn.compact
    def __call__(self, x_BxTxD, kv_BxSxD, mask_Bx1xTxS, deterministic: bool, decode: bool = False,
                 cross_cache: str | None = None, q_pos_BxT=None, kv_pos_BxS=None):
        """`cross_cache` (cross-attention while decoding): "fill" stores the projected encoder keys
        and values in the cache, "use" reads them instead of projecting the encoder output again
        at every step. `q_pos_BxT`/`kv_pos_BxS`: positions for `position_bias`."""
        d = x_BxTxD.shape[-1]
        k_dim = self.head_dim or d // self.num_heads
        dense = lambda name, scale=1.0: DenseGeneral(
            (self.num_heads, k_dim), dtype=self.dtype, name=name, use_bias=self.use_bias,
            kernel_init=partitioned(nn.initializers.variance_scaling(scale, "fan_avg", "uniform"),
                                    ("embed", "heads", "kv")),
            bias_init=partitioned(nn.initializers.zeros_init(), ("heads", "kv")))
        # Unscaled attention (T5) starts with the 1/sqrt(head_dim) in the query's initial weights instead, as
        # T5 initialises it: the same initial logits as scaled attention (not head_dim times their variance).
        q_BxTxHxK = dense("query", 1.0 if self.scale else 1.0 / k_dim)(x_BxTxD)
        if self.scale:
            q_BxTxHxK /= jnp.sqrt(k_dim).astype(self.dtype)
        if decode or cross_cache:
            out_BxTxHxK = self._decode(q_BxTxHxK, kv_BxSxD, mask_Bx1xTxS, dense, cross_cache, q_pos_BxT)
        else:
            bias = None if self.position_bias is None else self.position_bias(q_pos_BxT, kv_pos_BxS)
            k_BxSxHxK = dense("key")(kv_BxSxD)
            if self.is_mutable_collection("intermediates"):
                # Inspection (xling attention) asks for the weights with mutable=["intermediates"]; kept
                # apart from the computation below so any attention kernel there leaves it working.
                self.sow("intermediates", "attention_weights",
                         attention_weights(q_BxTxHxK, k_BxSxHxK, mask_Bx1xTxS, bias))
            v_BxSxHxK = dense("value")(kv_BxSxD)
            if low_precision_rows(self.dtype) and (deterministic or self.dropout_rate == 0.0) and bias is None:
                out_BxTxHxK = low_precision_attention(q_BxTxHxK, k_BxSxHxK, v_BxSxHxK, mask_Bx1xTxS)
            else:
                weights_BxHxTxS = attention_weights(q_BxTxHxK, k_BxSxHxK, mask_Bx1xTxS, bias).astype(self.dtype)
                weights_BxHxTxS = nn.Dropout(self.dropout_rate)(weights_BxHxTxS, deterministic=deterministic)
                out_BxTxHxK = jnp.einsum("bhts,bshk->bthk", weights_BxHxTxS, v_BxSxHxK)
        out_BxTxHxK = constrain(out_BxTxHxK, "batch", "length", "heads", "kv")
        return DenseGeneral(d, axis=(-2, -1), dtype=self.dtype, name="out", use_bias=self.use_bias,
                               kernel_init=partitioned(nn.initializers.xavier_uniform(), ("heads", "kv", "embed")),
                               bias_init=partitioned(nn.initializers.zeros_init(), ("embed",)))(out_BxTxHxK)

    def _decode(self, q_Bx1xHxK, kv_BxSxD, mask_Bx1x1xS, dense, cross_cache, q_pos_Bx1=None):
        """Attention of one query per row over cached keys and values.

        The cache holds keys as BxHxKxS and values as BxHxSxK, so that both products are one
        fused multiply-and-reduce over the cache with the reduced axis outside the vector lanes;
        as dot products they become B*H tiny matrix products, several times slower on CPU.
        Cross-attention may hold fewer rows than the queries: G = queries / rows consecutive queries
        (a source's beams) share a row's keys and values, read once for the G of them (4x faster on
        CPU than repeating them, and 1/G of the memory).
        (The cache-allocating `init` call passes the full target length: only shapes matter then.)
        """
        if cross_cache == "use":
            kt_BxHxKxS = self.get_variable("cache", "cross_key")
            v_BxHxSxK = self.get_variable("cache", "cross_value")
        else:
            kt_BxHxKxS = dense("key")(kv_BxSxD).transpose(0, 2, 3, 1)
            v_BxHxSxK = dense("value")(kv_BxSxD).transpose(0, 2, 1, 3)
            if cross_cache == "fill":
                self.put_variable("cache", "cross_key", kt_BxHxKxS)
                self.put_variable("cache", "cross_value", v_BxHxSxK)
            else:
                kt_BxHxKxS, v_BxHxSxK, mask_Bx1x1xS = self._self_cache(kt_BxHxKxS, v_BxHxSxK, mask_Bx1x1xS)
        b, h, k = kt_BxHxKxS.shape[:3]
        g = q_Bx1xHxK.shape[0] // b
        # Two forms on purpose: written with a G axis of 1, self-attention compiled to a 3x slower beam step
        # on XLA's CPU backend (mT5-base shape, 2026-12-06), so the ungrouped form below stays as it was.
        if g > 1:  # the queries of a row's G beams, read against its keys at once
            q_BxGxHxKx1 = q_Bx1xHxK[:, 0].reshape(b, g, h, k)[..., None]
            logits_BxGxHxS = jnp.sum(q_BxGxHxKx1 * kt_BxHxKxS[:, None], axis=3).astype(jnp.float32)
            logits_BxGxHxS = jnp.where(mask_Bx1x1xS[:, :, :1], logits_BxGxHxS, NEG_INF)
            weights_BxGxHxS = jax.nn.softmax(logits_BxGxHxS).astype(self.dtype)
            return jnp.sum(weights_BxGxHxS[..., None] * v_BxHxSxK[:, None], axis=3).reshape(b * g, 1, h, k)
        q_BxHxKx1 = q_Bx1xHxK[:, 0, :, :, None]  # one query (the `init` call's others are dropped)
        logits_BxHxS = jnp.sum(q_BxHxKx1 * kt_BxHxKxS, axis=2).astype(jnp.float32)
        if self.position_bias is not None:  # self-attention: the query's position against every cache slot
            s = logits_BxHxS.shape[-1]
            q_pos_Bx1 = jnp.zeros((b, 1), jnp.int32) if q_pos_Bx1 is None else q_pos_Bx1[:, :1]
            kv_pos_BxS = jnp.broadcast_to(jnp.arange(s), (b, s))
            logits_BxHxS += self.position_bias(q_pos_Bx1, kv_pos_BxS)[:, :, 0]
        logits_BxHxS = jnp.where(mask_Bx1x1xS[:, :, 0], logits_BxHxS, NEG_INF)
        weights_BxHxS = jax.nn.softmax(logits_BxHxS).astype(self.dtype)
        return jnp.sum(weights_BxHxS[..., None] * v_BxHxSxK, axis=2)[:, None]

    def _self_cache(self, kt_BxHxKx1, v_BxHxSxK, mask):
        # The first call (from `init` with the full-length target) only allocates.
        initialized = self.has_variable("cache", "cached_key")
        cached_k = self.variable("cache", "cached_key", jnp.zeros, kt_BxHxKx1.shape, kt_BxHxKx1.dtype)
        cached_v = self.variable("cache", "cached_value", jnp.zeros, v_BxHxSxK.shape, v_BxHxSxK.dtype)
        index = self.variable("cache", "cache_index", lambda: jnp.array(0, jnp.int32))
        if not initialized:
            return kt_BxHxKx1, v_BxHxSxK, mask
        i = index.value
        cached_k.value = jax.lax.dynamic_update_slice(cached_k.value, kt_BxHxKx1, (0, 0, 0, i))
        cached_v.value = jax.lax.dynamic_update_slice(cached_v.value, v_BxHxSxK, (0, 0, i, 0))
        index.value = i + 1
        max_len = cached_k.value.shape[-1]
        # Causal: the single query at position i sees cached positions <= i.
        mask_Bx1x1xS = jnp.broadcast_to(jnp.arange(max_len) <= i, (kt_BxHxKx1.shape[0], 1, 1, max_len))
        return cached_k.value, cached_v.value, mask_Bx1x1xS


class Mlp(nn.Module):
    """activation(x W0) W1 (Dense_0, Dense_1), or gated: (activation(x W0) * x W1) W2 (Dense_0..2; T5 v1.1)."""
    mlp_dim: int
    dtype: Any
    dropout_rate: float  # after the activation
    activation: str = "relu"
    gated: bool = False
    use_bias: bool = True

    @nn.compact
    def __call__(self, x_BxLxD, deterministic: bool):
        up = lambda: Dense(self.mlp_dim, dtype=self.dtype, use_bias=self.use_bias,
                           kernel_init=partitioned(nn.initializers.xavier_uniform(), ("embed", "mlp")),
                           bias_init=partitioned(nn.initializers.zeros_init(), ("mlp",)))
        h_BxLxF = ACTIVATIONS[self.activation](constrain(up()(x_BxLxD), "batch", "length", "mlp"))
        if self.gated:
            h_BxLxF *= constrain(up()(x_BxLxD), "batch", "length", "mlp")
        h_BxLxF = nn.Dropout(self.dropout_rate)(h_BxLxF, deterministic=deterministic)
        return Dense(x_BxLxD.shape[-1], dtype=self.dtype, use_bias=self.use_bias,
                        kernel_init=partitioned(nn.initializers.xavier_uniform(), ("mlp", "embed")),
                        bias_init=partitioned(nn.initializers.zeros_init(), ("embed",)))(h_BxLxF)


def layer_norm(epsilon: float, dtype, name: str | None = None, kind: str = "layer") -> nn.Module:
    """A layer norm, or T5's RMS norm ("rms": scale only, no mean subtracted)."""
    scale_init = partitioned(nn.initializers.ones_init(), ("embed",))
    if kind == "rms":
        return nn.RMSNorm(epsilon=epsilon, dtype=dtype, name=name, scale_init=scale_init)
    return nn.LayerNorm(epsilon=epsilon, dtype=dtype, name=name, scale_init=scale_init,
                        bias_init=partitioned(nn.initializers.zeros_init(), ("embed",)))


class Residual(nn.Module):
    """x + dropout(f(x)) with the layer norm before (pre-LN) or after (post-LN)."""
    pre_ln: bool
    dropout_rate: float
    dtype: Any
    epsilon: float = 1e-6
    norm: str = "layer"

    @nn.compact
    def __call__(self, x_BxLxD, f, deterministic: bool):
        norm = layer_norm(self.epsilon, self.dtype, kind=self.norm)
        y = f(norm(x_BxLxD)) if self.pre_ln else f(x_BxLxD)
        y = x_BxLxD + nn.Dropout(self.dropout_rate)(y, deterministic=deterministic)
        return constrain(y if self.pre_ln else norm(y), "batch", "length", "act_embed")


def _attention(c: TransformerConfig, heads: int, name: str, position_bias=None) -> Attention:
    return Attention(heads, c.compute_dtype, c.attention_dropout_rate, c.head_dim, c.use_bias, c.scale_attention,
                     position_bias, name=name)


def _relative_bias(c: TransformerConfig, heads: int, bidirectional: bool, name: str) -> RelativeBias:
    return RelativeBias(heads, c.relative_buckets, c.relative_max_distance, bidirectional, name=name)


def _residual(c: TransformerConfig, name: str) -> Residual:
    return Residual(c.pre_ln, c.dropout_rate, c.compute_dtype, c.layer_norm_eps, c.norm, name=name)


class EncoderLayer(nn.Module):
    cfg: TransformerConfig
    position_bias: Any = None  # the stack's RelativeBias, shared by its layers (T5)

    @nn.compact
    def __call__(self, x_BxSxD, mask_Bx1xSxS, deterministic: bool, pos_BxS=None):
        c = self.cfg
        bias = self.position_bias
        if c.positions == "relative" and c.relative_per_layer:  # umT5: a table of the layer's own
            bias = _relative_bias(c, c.num_heads, True, "relative_bias")
        attn = _attention(c, c.num_heads, "self_attention", bias)
        x_BxSxD = _residual(c, "attention_block")(
            x_BxSxD, lambda h: attn(h, h, mask_Bx1xSxS, deterministic, q_pos_BxT=pos_BxS, kv_pos_BxS=pos_BxS),
            deterministic)
        mlp = Mlp(c.mlp_dim, c.compute_dtype, c.activation_dropout, c.activation, c.mlp_gated, c.use_bias, name="mlp")
        return _residual(c, "mlp_block")(x_BxSxD, lambda h: mlp(h, deterministic), deterministic)


class DecoderLayer(nn.Module):
    cfg: TransformerConfig
    position_bias: Any = None  # the stack's causal RelativeBias (T5)

    @nn.compact
    def __call__(self, y_BxTxD, enc_BxSxD, self_mask, cross_mask, deterministic: bool, decode: bool = False,
                 cross_cache: str | None = None, pos_BxT=None):
        c = self.cfg
        bias = self.position_bias
        if c.positions == "relative" and c.relative_per_layer:
            bias = _relative_bias(c, c.decoder_heads, False, "relative_bias")
        self_attn = _attention(c, c.decoder_heads, "self_attention", bias)
        y_BxTxD = _residual(c, "self_attention_block")(
            y_BxTxD, lambda h: self_attn(h, h, self_mask, deterministic, decode, q_pos_BxT=pos_BxT, kv_pos_BxS=pos_BxT),
            deterministic)
        cross = _attention(c, c.decoder_heads, "cross_attention")  # no position bias across (T5 has none)
        y_BxTxD = _residual(c, "cross_attention_block")(
            y_BxTxD, lambda h: cross(h, enc_BxSxD, cross_mask, deterministic, cross_cache=cross_cache), deterministic)
        mlp = Mlp(c.decoder_mlp, c.compute_dtype, c.activation_dropout, c.activation, c.mlp_gated, c.use_bias,
                  name="mlp")
        return _residual(c, "mlp_block")(y_BxTxD, lambda h: mlp(h, deterministic), deterministic)


def rematted(layer_cls, remat: str, static_argnums):
    """`layer_cls`, recomputing its activations in the backward pass as model.remat says. Param
    names do not change: checkpoints move freely between settings."""
    if remat == "none":
        return layer_cls
    # Dense layers multiply 2-D rows (model/matmul.py): products without batch axes, unlike attention's.
    policy = None if remat == "full" else jax.checkpoint_policies.dots_with_no_batch_dims_saveable
    return nn.remat(layer_cls, policy=policy, static_argnums=static_argnums)


class Embedder(nn.Module):
    """Token embedding plus position encoding."""
    cfg: TransformerConfig
    embed: nn.Module

    @nn.compact
    def __call__(self, tokens_BxL, positions_BxL, deterministic: bool, languages_BxL=None):
        c = self.cfg
        x_BxLxD = self.embed(tokens_BxL)
        if c.scale_embeddings:
            x_BxLxD *= math.sqrt(c.emb_dim)
        if c.num_languages:
            std = c.emb_dim ** -0.5 if c.scale_embeddings else 1.0
            table = self.param("language_embedding", partitioned(nn.initializers.normal(std), (None, "embed")),
                               (c.num_languages, c.emb_dim))
            if languages_BxL is not None:  # index -1: no language (packed translation segments)
                lang_BxLxD = jnp.where(languages_BxL[..., None] >= 0, table[jnp.maximum(languages_BxL, 0)], 0.0)
                x_BxLxD += lang_BxLxD * (math.sqrt(c.emb_dim) if c.scale_embeddings else 1.0)
        positions_BxL = positions_BxL + c.position_offset
        if c.positions == "learned":
            x_BxLxD += nn.Embed(c.max_len, c.emb_dim, name="position_embedding",
                                embedding_init=partitioned(nn.initializers.normal(0.02), (None, "embed")))(positions_BxL)
        elif c.positions == "sinusoidal_marian":
            x_BxLxD += sinusoidal_marian(positions_BxL, c.emb_dim)
        elif c.positions != "relative":  # relative positions bias the attention logits instead
            x_BxLxD += sinusoidal(positions_BxL, c.emb_dim)
        if c.embedding_norm:
            x_BxLxD = layer_norm(c.layer_norm_eps, c.compute_dtype, "embedding_norm")(x_BxLxD)
        x_BxLxD = nn.Dropout(c.dropout_rate)(x_BxLxD, deterministic=deterministic)
        return constrain(x_BxLxD.astype(c.compute_dtype), "batch", "length", "act_embed")


def beam_groups(encoded_BxSxD, tgt_in_BxT, decode: bool) -> int:
    """Target rows per encoder row: 1, or while decoding, the G beams that share each source."""
    b, t = encoded_BxSxD.shape[0], tgt_in_BxT.shape[0]
    if t == b:
        return 1
    if not decode or t % b:
        raise ValueError(f"{t} target rows for {b} encoded rows: only step-wise decoding shares a source "
                         "between consecutive rows, and then each source has the same number of them")
    return t // b


class Transformer(nn.Module):
    """Encoder-decoder. `__call__` returns target logits BxTxV (float32)."""
    cfg: TransformerConfig

    @nn.nowrap
    def init(self, *args, **kwargs):
        """Variables as plain arrays: checkpoints, interop and init_from see no partitioning boxes;
        `param_axes` gives the logical axes the params are annotated with."""
        variables = nn.unbox(nn.Module.init(self, *args, **kwargs))
        if self.cfg.param_dtype == "float32" or "params" not in variables:
            return variables
        return {**variables, "params": jax.tree.map(lambda x: x.astype(self.cfg.param_dtype), variables["params"])}

    @nn.nowrap
    def param_axes(self, *init_args):
        """The params' logical axes: a tree of PartitionSpecs of logical names (None: replicated),
        from an abstract `init` with these inputs (no arrays are made)."""
        boxed = jax.eval_shape(lambda: nn.Module.init(self, jax.random.key(0), *init_args)["params"])
        return nn.get_partition_spec(boxed)

    def setup(self):
        c = self.cfg
        std = c.emb_dim ** -0.5 if c.scale_embeddings else 1.0
        make_embed = lambda name, size: Embed(
            size, c.emb_dim, name=name, embedding_init=partitioned(nn.initializers.normal(std), ("vocab", "embed")))
        self.source_embed = make_embed("embedding", c.vocab_size)
        self.target_embed = (self.source_embed if c.share_embeddings
                             else make_embed("target_embedding", c.target_vocab))
        self.encoder_embedder = Embedder(c, self.source_embed, name="encoder_embedder")
        self.decoder_embedder = Embedder(c, self.target_embed, name="decoder_embedder")
        # Positional arguments after `self` that are Python values: deterministic, decode, cross_cache.
        encoder_layer, decoder_layer = rematted(EncoderLayer, c.remat, (3,)), rematted(DecoderLayer, c.remat, (5, 6, 7))
        shared_bias = c.positions == "relative" and not c.relative_per_layer
        encoder_bias = _relative_bias(c, c.num_heads, True, "encoder_relative_bias") if shared_bias else None
        decoder_bias = _relative_bias(c, c.decoder_heads, False, "decoder_relative_bias") if shared_bias else None
        self.encoder_layers = [encoder_layer(c, encoder_bias, name=f"encoder_{i}") for i in range(c.num_layers)]
        self.decoder_layers = [decoder_layer(c, decoder_bias, name=f"decoder_{i}") for i in range(c.decoder_layers)]
        self.encoder_norm = layer_norm(c.layer_norm_eps, c.compute_dtype, "encoder_norm", c.norm)
        self.decoder_norm = layer_norm(c.layer_norm_eps, c.compute_dtype, "decoder_norm", c.norm)
        if not c.tied_output:
            self.output_proj = Dense(
                c.target_vocab, dtype=c.compute_dtype, name="output_projection", use_bias=c.use_bias,
                kernel_init=partitioned(nn.initializers.lecun_normal(), ("embed", "vocab")),
                bias_init=partitioned(nn.initializers.zeros_init(), ("vocab",)))
        if c.final_logits_bias:
            self.logits_bias = self.param("final_logits_bias", partitioned(nn.initializers.zeros, ("vocab",)),
                                          (c.target_vocab,))

    def encode(self, src_BxS, src_segment_ids=None, src_positions=None, *, deterministic=True, languages=None,
               causal=False):
        """Encoder states BxSxD. `languages` (BxS language indices, -1 for none) adds language
        embeddings; `causal` (bool, or BxS per-token flags) lets a position see only those before it
        (causal LM on the encoder)."""
        seg, pos = default_segments_positions(src_BxS, src_segment_ids, src_positions, self.cfg.pad_id)
        x_BxSxD = self.encoder_embedder(src_BxS, pos, deterministic, languages)
        mask = attention_mask(seg, seg, causal=causal)
        for layer in self.encoder_layers:
            x_BxSxD = layer(x_BxSxD, mask, deterministic, pos)
        # Post-LN already ends every layer with a norm; pre-LN needs a final one.
        return self.encoder_norm(x_BxSxD) if self.cfg.pre_ln else x_BxSxD

    def encode_lm(self, src_BxS, src_segment_ids=None, src_positions=None, *, deterministic=True, languages=None,
                  causal=False):
        """Logits BxSxV (float32) of the encoder with the source embedding as a tied LM head: the
        encoder-only objectives (masked, translation and causal LM)."""
        x_BxSxD = self.encode(src_BxS, src_segment_ids, src_positions, deterministic=deterministic,
                              languages=languages, causal=causal)
        return self._tied_logits(self.source_embed, x_BxSxD)

    def _tied_logits(self, embed, x_BxLxD):
        b, l, d = x_BxLxD.shape  # as rows, for the reason of model/matmul.py
        if low_precision_rows(x_BxLxD.dtype) and not isinstance(embed.embedding, quantize.Int8):
            # 16-bit operands, float32 accumulation and logits
            logits_NxV = low_precision_product(x_BxLxD.reshape(b * l, d), embed.embedding, True)
        else:
            logits_NxV = embed.attend(x_BxLxD.astype(jnp.float32).reshape(b * l, d))
        logits_BxLxV = logits_NxV.reshape(b, l, -1)
        # Unscaled embeddings (std 1) would give logits of size sqrt(D): bring them to unit scale.
        if self.cfg.scale_embeddings or self.cfg.tied_logits_scale == "none":
            return logits_BxLxV
        return logits_BxLxV / jnp.sqrt(self.cfg.emb_dim)

    def decode(self, encoded_BxSxD, src_BxS, tgt_in_BxT, src_segment_ids=None, tgt_segment_ids=None,
               tgt_positions=None, *, deterministic=True, decode=False, prime=False):
        """Logits for `tgt_in`. With `decode=True`, T is 1 and the "cache" collection is updated;
        the first step passes `prime=True` to store the cross-attention keys and values too."""
        c = self.cfg
        src_seg, _ = default_segments_positions(src_BxS, src_segment_ids, pad_id=c.pad_id)
        # Unpacked targets form one segment per row: shifted targets start with the
        # pad id, which is still a real position, and trailing padding is masked in the loss.
        tgt_seg = jnp.ones_like(tgt_in_BxT) if tgt_segment_ids is None else tgt_segment_ids
        _, tgt_pos = default_segments_positions(tgt_in_BxT, tgt_seg, tgt_positions)
        self_mask = attention_mask(tgt_seg, tgt_seg, causal=True)  # replaced by the cache mask when decoding
        # Beam search passes each source once for its G beams (target rows b*G ... b*G + G - 1): their
        # cross-attention reads that source's keys once (see Attention._decode); its mask is the row's.
        groups = beam_groups(encoded_BxSxD, tgt_in_BxT, decode)
        cross_mask = attention_mask(tgt_seg[::groups], src_seg)
        y_BxTxD = self.decoder_embedder(tgt_in_BxT, tgt_pos, deterministic)
        for layer in self.decoder_layers:
            cross_cache = ("fill" if prime else "use") if decode else None
            y_BxTxD = layer(y_BxTxD, encoded_BxSxD, self_mask, cross_mask, deterministic, decode, cross_cache, tgt_pos)
        if c.pre_ln:
            y_BxTxD = self.decoder_norm(y_BxTxD)
        if c.tied_output:
            logits_BxTxV = self._tied_logits(self.target_embed, y_BxTxD)
        else:
            logits_BxTxV = self.output_proj(y_BxTxD)
        logits_BxTxV = logits_BxTxV.astype(jnp.float32)
        if c.final_logits_bias:
            logits_BxTxV += self.logits_bias
        return constrain(logits_BxTxV, "batch", "length", "vocab")

    def __call__(self, src_BxS, tgt_in_BxT, src_segment_ids=None, tgt_segment_ids=None, src_positions=None,
                 tgt_positions=None, *, deterministic=True, languages=None, src_causal=False, with_lm=False):
        """Target logits BxTxV; with `with_lm`, also the encoder's LM logits BxSxV from the same
        encoder pass (a batch mixing sequence-to-sequence and encoder-only tasks)."""
        encoded = self.encode(src_BxS, src_segment_ids, src_positions, deterministic=deterministic,
                              languages=languages, causal=src_causal)
        logits = self.decode(encoded, src_BxS, tgt_in_BxT, src_segment_ids, tgt_segment_ids, tgt_positions,
                             deterministic=deterministic)
        return (logits, self._tied_logits(self.source_embed, encoded)) if with_lm else logits
