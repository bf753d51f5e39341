"""LSTM encoder-decoder with attention (Bahdanau et al. 2015 or Luong et al. 2015) in flax.linen.

The same interface as `transformer.Transformer` (encode, decode with a "cache" collection,
__call__), so training, beam search, sampling and online back-translation run it unchanged.

Shapes are in names: B batch, S source length, T target length, E embedding width, H LSTM width,
V vocabulary.

Packed rows: the recurrent state restarts at the first token of each segment (forward) and at its
last token (the backward encoder direction), and attention sees only the source tokens of the
query's segment, so each pair of a packed row gets the logits it would get alone.

Decoding (`decode=True`): the decoder's LSTM states (and Luong's input-feeding vector) are the
cache entry "state", which beam search reorders with the beams; the projected encoder keys are
cached as "cross_key" on the first step (`prime`), like the Transformer's cross-attention keys.
The decoder starts every segment from a zero state: attention supplies the source (as in
OpenNMT without a bridge), which keeps packing simple.
"""
import dataclasses
import math
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from xling_jax.errors import UserError
from xling_jax.model.config_base import SeqToSeqConfig
from xling_jax.model.transformer import OUTPUT_PROJECTIONS, beam_groups, default_segments_positions

_NEG_INF = -1e9
# "bahdanau": additive scores v . tanh(W q + U h) with the previous decoder state as query, the
# context fed into the LSTM; "luong": general scores q . W h with the new state as query and the
# attentional vector fed into the next step (input feeding); "luong_dot": q . h, no key weights.
ATTENTIONS = ("bahdanau", "luong", "luong_dot")


@dataclasses.dataclass(frozen=True)
class LSTMConfig(SeqToSeqConfig):
    """Hyperparameters; fields mirror the keys of `config.model` (see configs/default.py)."""
    vocab_size: int
    emb_dim: int = 256
    num_layers: int = 2  # encoder LSTM layers
    num_decoder_layers: int = 0  # 0: same as num_layers
    lstm_hidden: int = 0  # LSTM width H (both directions together when bidirectional); 0: emb_dim
    lstm_attention: str = "luong"  # one of ATTENTIONS
    lstm_bidirectional: bool = True  # encoder layers read both ways, H/2 units each
    dropout_rate: float = 0.1  # on embeddings, between LSTM layers and before the output layer
    share_embeddings: bool = True
    output_projection: str = "auto"  # as the Transformer's: "auto", "tied" or "separate"
    dtype: str = "float32"  # compute dtype; params and recurrent states stay float32
    pad_id: int = 0
    eos_id: int = 1
    decoder_start_id: int = 0
    target_vocab_size: int = 0

    @property
    def hidden(self) -> int:
        return self.lstm_hidden or self.emb_dim


def check_config(model_config) -> None:
    """UserError for `config.model` keys the LSTM cannot run (called by training/validate.py)."""
    m = model_config
    if m.lstm_attention not in ATTENTIONS:
        raise UserError(f"model.lstm_attention must be one of {', '.join(map(repr, ATTENTIONS))}, "
                        f"got {m.lstm_attention!r}")
    if m.lstm_hidden < 0:
        raise UserError(f"model.lstm_hidden must be 0 (emb_dim) or positive, got {m.lstm_hidden}")
    hidden = m.lstm_hidden or m.emb_dim
    if m.lstm_bidirectional and hidden % 2:
        raise UserError(f"a bidirectional LSTM encoder splits model.lstm_hidden={hidden} between its two "
                        "directions: make it even")
    if m.output_projection not in OUTPUT_PROJECTIONS:
        raise UserError(f"model.output_projection must be one of {', '.join(map(repr, OUTPUT_PROJECTIONS))}, "
                        f"got {m.output_projection!r}")
    if m.num_languages:
        raise UserError(f"model.num_languages={m.num_languages}: the LSTM has no language embeddings "
                        "(they serve the Transformer's XLM tasks); set it to 0")


def segment_starts(seg_BxL, pos_BxL):
    """True at the first token of each segment: position 0, or a segment id other than the previous."""
    prev_BxL = jnp.pad(seg_BxL, ((0, 0), (1, 0)), constant_values=-1)[:, :-1]
    return (pos_BxL == 0) | (seg_BxL != prev_BxL)


def segment_ends(seg_BxL, pos_BxL):
    """True at the last token of each segment (the next one starts a segment, or the row ends)."""
    return jnp.pad(segment_starts(seg_BxL, pos_BxL)[:, 1:], ((0, 0), (0, 1)), constant_values=True)


def _restart(carry, reset_B):
    """`carry` with the rows flagged in `reset_B` set to zero (a new segment starts there)."""
    return jax.tree.map(lambda s: jnp.where(reset_B[:, None], jnp.zeros_like(s), s), carry)


def _float32(carry):
    # The scan carry keeps one dtype whatever the compute dtype (bfloat16 cells would change it).
    return jax.tree.map(lambda s: s.astype(jnp.float32), carry)


def zero_state(batch: int, features: int):
    """An LSTM cell's zero carry (c, h), each BxH float32."""
    zeros_BxH = jnp.zeros((batch, features), jnp.float32)
    return zeros_BxH, zeros_BxH


class RestartingLSTMCell(nn.Module):
    """One LSTM step over (x_BxI, reset_B); the state restarts from zero where reset_B is set."""
    features: int
    dtype: Any

    @nn.compact
    def __call__(self, carry, inputs):
        x_BxI, reset_B = inputs
        carry, h_BxH = nn.OptimizedLSTMCell(self.features, dtype=self.dtype, name="cell")(
            _restart(carry, reset_B), x_BxI)
        return _float32(carry), h_BxH


# The cell scanned over axis 1 (time) of its inputs, with one set of params for all steps.
ScannedLSTM = nn.scan(RestartingLSTMCell, variable_broadcast="params", split_rngs={"params": False},
                      in_axes=1, out_axes=1)


class Encoder(nn.Module):
    """Stacked (bi)LSTM over embedded source tokens; BxSxH states."""
    cfg: LSTMConfig

    @nn.compact
    def __call__(self, x_BxSxE, seg_BxS, pos_BxS, deterministic: bool):
        c, b = self.cfg, x_BxSxE.shape[0]
        width = c.hidden // 2 if c.lstm_bidirectional else c.hidden
        starts_BxS, ends_BxS = segment_starts(seg_BxS, pos_BxS), segment_ends(seg_BxS, pos_BxS)
        flip = lambda a: jnp.flip(a, axis=1)
        x_BxSxI = x_BxSxE
        for i in range(c.num_layers):
            if i:
                x_BxSxI = nn.Dropout(c.dropout_rate)(x_BxSxI, deterministic=deterministic)
            _, out_BxSxI = ScannedLSTM(width, c.compute_dtype, name=f"layer_{i}")(
                zero_state(b, width), (x_BxSxI, starts_BxS))
            if c.lstm_bidirectional:
                # Read right to left: segments then restart at their last token.
                _, back_BxSxI = ScannedLSTM(width, c.compute_dtype, name=f"layer_{i}_backward")(
                    zero_state(b, width), (flip(x_BxSxI), flip(ends_BxS)))
                out_BxSxI = jnp.concatenate([out_BxSxI, flip(back_BxSxI)], axis=-1)
            x_BxSxI = out_BxSxI
        return x_BxSxI


def attention_keys(cfg: LSTMConfig, enc_BxSxH):
    """The encoder states as attention keys (computed once per source, outside the decoder scan)."""
    if cfg.lstm_attention == "luong_dot":
        return enc_BxSxH
    return nn.Dense(cfg.hidden, use_bias=False, dtype=cfg.compute_dtype, name="key")(enc_BxSxH)


class Attention(nn.Module):
    """Context BxH of one query per row over the source tokens its mask allows."""
    cfg: LSTMConfig

    @nn.compact
    def __call__(self, q_BxH, keys_BxSxH, enc_BxSxH, mask_BxS):
        c = self.cfg
        if c.lstm_attention == "bahdanau":
            q_BxH = nn.Dense(c.hidden, use_bias=False, dtype=c.compute_dtype, name="query")(q_BxH)
            v_H = self.param("score", nn.initializers.normal(c.hidden ** -0.5), (c.hidden,))
            scores_BxS = jnp.tanh(keys_BxSxH + q_BxH[:, None]) @ v_H.astype(c.compute_dtype)
        else:
            scores_BxS = jnp.einsum("bsh,bh->bs", keys_BxSxH, q_BxH.astype(keys_BxSxH.dtype))
        scores_BxS = jnp.where(mask_BxS, scores_BxS.astype(jnp.float32), _NEG_INF)
        weights_BxS = jax.nn.softmax(scores_BxS).astype(enc_BxSxH.dtype)
        return jnp.einsum("bs,bsh->bh", weights_BxS, enc_BxSxH)


class DecoderStep(nn.Module):
    """One target position: attention and the stacked LSTM. Carry: {"layers": ((c, h), ...),
    "feed": BxH (Luong input feeding)}; output: the attentional vector tanh(W [h; context]) BxH."""
    cfg: LSTMConfig
    deterministic: bool

    @nn.compact
    def __call__(self, carry, inputs, memory):
        c, dt = self.cfg, self.cfg.compute_dtype
        y_BxE, reset_B, seg_B = inputs
        keys_BxSxH, enc_BxSxH, src_seg_BxS = memory
        carry = _restart(carry, reset_B)
        mask_BxS = (src_seg_BxS == seg_B[:, None]) & (seg_B[:, None] > 0)
        attend = Attention(c, name="attention")
        if c.lstm_attention == "bahdanau":
            ctx_BxH = attend(carry["layers"][-1][1], keys_BxSxH, enc_BxSxH, mask_BxS)
            x_BxI = jnp.concatenate([y_BxE, ctx_BxH.astype(y_BxE.dtype)], axis=-1)
        else:
            x_BxI = jnp.concatenate([y_BxE, carry["feed"].astype(y_BxE.dtype)], axis=-1)
        layers = []
        for i, state in enumerate(carry["layers"]):
            if i:
                x_BxI = nn.Dropout(c.dropout_rate)(x_BxI, deterministic=self.deterministic)
            state, x_BxI = nn.OptimizedLSTMCell(c.hidden, dtype=dt, name=f"layer_{i}")(state, x_BxI)
            layers.append(state)
        if c.lstm_attention != "bahdanau":
            ctx_BxH = attend(x_BxI, keys_BxSxH, enc_BxSxH, mask_BxS)
        out_BxH = jnp.tanh(nn.Dense(c.hidden, use_bias=False, dtype=dt, name="combine")(
            jnp.concatenate([x_BxI, ctx_BxH.astype(x_BxI.dtype)], axis=-1)))
        new = {"layers": tuple(layers)}
        if c.lstm_attention != "bahdanau":
            new["feed"] = out_BxH
        return _float32(new), out_BxH


class Decoder(nn.Module):
    cfg: LSTMConfig

    @nn.compact
    def __call__(self, y_BxTxE, enc_BxSxH, src_seg_BxS, tgt_seg_BxT, tgt_pos_BxT, deterministic: bool,
                 decode: bool = False, prime: bool = False):
        """Attentional vectors BxTxH. With `decode`, the scan starts from the cached state and
        leaves its last state there (T is 1 when stepping; any T gives the same result)."""
        c, b = self.cfg, y_BxTxE.shape[0]
        if decode and not prime:
            keys_BxSxH = self.get_variable("cache", "cross_key")
        else:
            keys_BxSxH = attention_keys(c, enc_BxSxH)
            if decode:
                self.put_variable("cache", "cross_key", keys_BxSxH)
        carry = {"layers": tuple(zero_state(b, c.hidden) for _ in range(c.decoder_layers))}
        if c.lstm_attention != "bahdanau":
            carry["feed"] = jnp.zeros((b, c.hidden), jnp.float32)
        if decode:
            state = self.variable("cache", "state", lambda: carry)
            carry = state.value
        scan = nn.scan(DecoderStep, variable_broadcast="params", split_rngs={"params": False, "dropout": True},
                       in_axes=(1, nn.broadcast), out_axes=1)
        # Positions restart at 0 in each packed target segment: the state restarts there.
        carry, out_BxTxH = scan(c, deterministic, name="step")(
            carry, (y_BxTxE, tgt_pos_BxT == 0, tgt_seg_BxT), (keys_BxSxH, enc_BxSxH, src_seg_BxS))
        if decode:
            state.value = carry
        return out_BxTxH


class LSTMSeq2Seq(nn.Module):
    """Encoder-decoder. `__call__` returns target logits BxTxV (float32)."""
    cfg: LSTMConfig

    @nn.nowrap
    def param_axes(self, *init_args):
        """No logical axes: every param is replicated over the mesh (the baseline is small)."""
        abstract = jax.eval_shape(lambda: self.init(jax.random.key(0), *init_args)["params"])
        return jax.tree.map(lambda _: jax.sharding.PartitionSpec(), abstract)

    def setup(self):
        c = self.cfg
        # Embeddings start at std E^-1/2 and are scaled by sqrt(E) on input: unit-scale LSTM inputs
        # and unit-scale tied logits (as the Transformer's scale_embeddings=True).
        make_embed = lambda name, size: nn.Embed(size, c.emb_dim, name=name,
                                                 embedding_init=nn.initializers.normal(c.emb_dim ** -0.5))
        self.source_embed = make_embed("embedding", c.vocab_size)
        self.target_embed = (self.source_embed if c.share_embeddings
                             else make_embed("target_embedding", c.target_vocab))
        self.encoder = Encoder(c, name="encoder")
        self.decoder = Decoder(c, name="decoder")
        self.dropout = nn.Dropout(c.dropout_rate)
        if not c.tied_output:
            self.output_proj = nn.Dense(c.target_vocab, dtype=c.compute_dtype, name="output_projection")
        elif c.hidden != c.emb_dim:  # tied logits need vectors of the embedding's width
            self.output_bridge = nn.Dense(c.emb_dim, dtype=c.compute_dtype, name="output_bridge")

    def _embed(self, embed, tokens_BxL, deterministic: bool):
        x_BxLxE = embed(tokens_BxL) * math.sqrt(self.cfg.emb_dim)
        return self.dropout(x_BxLxE, deterministic=deterministic).astype(self.cfg.compute_dtype)

    def encode(self, src_BxS, src_segment_ids=None, src_positions=None, *, deterministic=True, languages=None,
               causal=False):
        """Encoder states BxSxH. `languages` and `causal` (the Transformer's XLM tasks) are refused."""
        if languages is not None or causal is not False:
            raise UserError("model.name='lstm' has no language embeddings or causal encoder (XLM tasks)")
        seg, pos = default_segments_positions(src_BxS, src_segment_ids, src_positions, self.cfg.pad_id)
        return self.encoder(self._embed(self.source_embed, src_BxS, deterministic), seg, pos, deterministic)

    def encode_lm(self, *args, **kwargs):
        raise UserError("model.name='lstm' has no encoder LM head: the mlm, clm and tlm tasks need a Transformer")

    def decode(self, encoded_BxSxH, src_BxS, tgt_in_BxT, src_segment_ids=None, tgt_segment_ids=None,
               tgt_positions=None, *, deterministic=True, decode=False, prime=False):
        """Logits for `tgt_in`. With `decode=True` the "cache" collection carries the decoder state
        from call to call; the first step passes `prime=True` to store the attention keys too."""
        c = self.cfg
        groups = beam_groups(encoded_BxSxH, tgt_in_BxT, decode)
        if groups > 1:  # a source shared by its beams (see Transformer.decode): given to each of them here
            encoded_BxSxH, src_BxS = jnp.repeat(encoded_BxSxH, groups, axis=0), jnp.repeat(src_BxS, groups, axis=0)
            src_segment_ids = None if src_segment_ids is None else jnp.repeat(src_segment_ids, groups, axis=0)
        src_seg, _ = default_segments_positions(src_BxS, src_segment_ids, pad_id=c.pad_id)
        # As the Transformer's: an unpacked target is one segment (its start id is the pad id).
        tgt_seg = jnp.ones_like(tgt_in_BxT) if tgt_segment_ids is None else tgt_segment_ids
        _, tgt_pos = default_segments_positions(tgt_in_BxT, tgt_seg, tgt_positions)
        y_BxTxE = self._embed(self.target_embed, tgt_in_BxT, deterministic)
        out_BxTxH = self.decoder(y_BxTxE, encoded_BxSxH, src_seg, tgt_seg, tgt_pos, deterministic, decode, prime)
        out_BxTxH = self.dropout(out_BxTxH, deterministic=deterministic)
        if not c.tied_output:
            return self.output_proj(out_BxTxH).astype(jnp.float32)
        if c.hidden != c.emb_dim:
            out_BxTxH = self.output_bridge(out_BxTxH)
        return self.target_embed.attend(out_BxTxH.astype(jnp.float32))

    def __call__(self, src_BxS, tgt_in_BxT, src_segment_ids=None, tgt_segment_ids=None, src_positions=None,
                 tgt_positions=None, *, deterministic=True, languages=None, src_causal=False, with_lm=False):
        """Target logits BxTxV (`with_lm`, the encoder-only tasks' LM logits, is refused)."""
        if with_lm:
            self.encode_lm()
        encoded = self.encode(src_BxS, src_segment_ids, src_positions, deterministic=deterministic,
                              languages=languages, causal=src_causal)
        return self.decode(encoded, src_BxS, tgt_in_BxT, src_segment_ids, tgt_segment_ids, tgt_positions,
                           deterministic=deterministic)
