"""Weight names of Transformers' encoder-decoders <-> xling's flat param paths
("encoder_0/self_attention/query/kernel"): the BART family (Marian, M2M100/NLLB, mBART) and the T5
family (T5, T5 v1.1, mT5, umT5, ByT5).

The BART family shares its layer modules (`self_attn.q_proj`, `fc1`, `final_layer_norm`, ...) and
differs in what surrounds the layers, which `Layout` lists; the T5 family has its own names
(`block.N.layer.M`, `SelfAttention.q`, `DenseReluDense.wi`) and no biases. torch `Linear` weights are
(out, in); xling kernels are (in, out), with attention's split into heads: query/key/value
(D, H, K), out (H, K, D). Every mapping is a `Param`: an xling path, the Transformers name and how
one becomes the other, so a loader can check names and shapes before reading any data.
"""
import dataclasses
from collections.abc import Iterator

import numpy as np

# (Transformers module in a layer, xling module path in that layer, kind)
ENCODER_LAYER = (("self_attn", "self_attention", "attention"),
                 ("self_attn_layer_norm", "attention_block/LayerNorm_0", "norm"),
                 ("fc1", "mlp/Dense_0", "linear"), ("fc2", "mlp/Dense_1", "linear"),
                 ("final_layer_norm", "mlp_block/LayerNorm_0", "norm"))
DECODER_LAYER = (("self_attn", "self_attention", "attention"),
                 ("self_attn_layer_norm", "self_attention_block/LayerNorm_0", "norm"),
                 ("encoder_attn", "cross_attention", "attention"),
                 ("encoder_attn_layer_norm", "cross_attention_block/LayerNorm_0", "norm"),
                 ("fc1", "mlp/Dense_0", "linear"), ("fc2", "mlp/Dense_1", "linear"),
                 ("final_layer_norm", "mlp_block/LayerNorm_0", "norm"))
PROJECTIONS = (("q_proj", "query"), ("k_proj", "key"), ("v_proj", "value"))


@dataclasses.dataclass(frozen=True)
class Layout:
    """What a model has around its layers (read from an xling TransformerConfig by `layout_of`)."""
    encoder_layers: int
    decoder_layers: int
    encoder_heads: int
    decoder_heads: int
    share: bool  # one embedding (model.shared) for both sides
    tied: bool  # logits from the target embedding (no lm_head of their own)
    final_norms: bool = False  # pre-LN: model.encoder.layer_norm, model.decoder.layer_norm
    embedding_norm: bool = False  # mBART's layernorm_embedding
    learned_positions: bool = False  # mBART's embed_positions tables
    final_logits_bias: bool = False
    t5: bool = False  # the T5 family's names (then `gated` and `relative_per_layer` apply)
    gated: bool = False  # DenseReluDense.wi_0/wi_1 rather than wi
    relative_per_layer: bool = False  # umT5: a relative_attention_bias in every layer, not only the first


def layout_of(cfg) -> Layout:
    return Layout(cfg.num_layers, cfg.decoder_layers, cfg.num_heads, cfg.decoder_heads, cfg.share_embeddings,
                  cfg.tied_output, final_norms=cfg.pre_ln, embedding_norm=cfg.embedding_norm,
                  learned_positions=cfg.positions == "learned", final_logits_bias=cfg.final_logits_bias,
                  t5=cfg.positions == "relative", gated=cfg.mlp_gated, relative_per_layer=cfg.relative_per_layer)


@dataclasses.dataclass(frozen=True)
class Param:
    """xling `path` <- Transformers `name`: kind "copy" (same array), "linear" (transposed), "qkv"
    ((H*K, D) -> (D, H, K)), "out" ((D, H*K) -> (H, K, D)), "row" ((1, V) -> (V,)) or "zeros" (xling has
    a param Transformers lacks: Marian's lm_head bias). `heads` splits attention kernels."""
    path: str
    name: str
    kind: str = "copy"
    heads: int = 0

    def to_xling(self, w: np.ndarray) -> np.ndarray:
        if self.kind == "linear":
            return w.T
        if self.kind == "qkv":
            return w.T.reshape(w.shape[1], self.heads, -1) if w.ndim == 2 else w.reshape(self.heads, -1)
        if self.kind == "out":
            return w.T.reshape(self.heads, -1, w.shape[0])
        if self.kind == "row":
            return w.reshape(-1)
        return w

    def to_hf(self, x: np.ndarray) -> np.ndarray:
        if self.kind == "linear":
            return x.T
        if self.kind == "qkv":
            return x.reshape(x.shape[0], -1).T if x.ndim == 3 else x.reshape(-1)
        if self.kind == "out":
            return x.reshape(-1, x.shape[-1]).T
        if self.kind == "row":
            return x[None, :]
        return x

    def xling_shape(self, hf_shape: tuple[int, ...]) -> tuple[int, ...]:
        return self.to_xling(np.empty(hf_shape, np.int8)).shape


def params(layout: Layout) -> Iterator[Param]:
    """Every xling param of the model with its Transformers name."""
    if layout.t5:
        yield from t5_params(layout)
        return
    for prefix, side, n, heads, modules in (
            ("model.encoder.layers", "encoder", layout.encoder_layers, layout.encoder_heads, ENCODER_LAYER),
            ("model.decoder.layers", "decoder", layout.decoder_layers, layout.decoder_heads, DECODER_LAYER)):
        for i in range(n):
            for hf_mod, x_mod, kind in modules:
                hf, x = f"{prefix}.{i}.{hf_mod}", f"{side}_{i}/{x_mod}"
                if kind == "norm":
                    yield Param(f"{x}/scale", f"{hf}.weight")
                    yield Param(f"{x}/bias", f"{hf}.bias")
                elif kind == "linear":
                    yield Param(f"{x}/kernel", f"{hf}.weight", "linear")
                    yield Param(f"{x}/bias", f"{hf}.bias")
                else:
                    for hf_p, x_p in PROJECTIONS:
                        yield Param(f"{x}/{x_p}/kernel", f"{hf}.{hf_p}.weight", "qkv", heads)
                        yield Param(f"{x}/{x_p}/bias", f"{hf}.{hf_p}.bias", "qkv", heads)
                    yield Param(f"{x}/out/kernel", f"{hf}.out_proj.weight", "out", heads)
                    yield Param(f"{x}/out/bias", f"{hf}.out_proj.bias")
    for side in ("encoder", "decoder"):
        if layout.final_norms:
            yield Param(f"{side}_norm/scale", f"model.{side}.layer_norm.weight")
            yield Param(f"{side}_norm/bias", f"model.{side}.layer_norm.bias")
        if layout.embedding_norm:
            yield Param(f"{side}_embedder/embedding_norm/scale", f"model.{side}.layernorm_embedding.weight")
            yield Param(f"{side}_embedder/embedding_norm/bias", f"model.{side}.layernorm_embedding.bias")
        if layout.learned_positions:
            yield Param(f"{side}_embedder/position_embedding/embedding", f"model.{side}.embed_positions.weight")
    if layout.share:
        yield Param("embedding/embedding", "model.shared.weight")
    else:
        yield Param("embedding/embedding", "model.encoder.embed_tokens.weight")
        yield Param("target_embedding/embedding", "model.decoder.embed_tokens.weight")
    if not layout.tied:
        yield Param("output_projection/kernel", "lm_head.weight", "linear")
        yield Param("output_projection/bias", "", "zeros")  # Transformers' lm_head has no bias
    if layout.final_logits_bias:
        yield Param("final_logits_bias", "final_logits_bias", "row")


def t5_params(layout: Layout) -> Iterator[Param]:
    """The T5 family: block.N.layer.0 self-attention, (decoder) layer.1 cross-attention, then the MLP,
    each with an RMS norm before it; relative position tables in the first block of each stack (T5,
    mT5) or in every block (umT5); one shared embedding; lm_head where the output is untied."""
    mlp = (("wi_0", "Dense_0"), ("wi_1", "Dense_1"), ("wo", "Dense_2")) if layout.gated else (
        ("wi", "Dense_0"), ("wo", "Dense_1"))
    for side, n, heads in (("encoder", layout.encoder_layers, layout.encoder_heads),
                           ("decoder", layout.decoder_layers, layout.decoder_heads)):
        blocks = [("SelfAttention", "self_attention", "attention_block" if side == "encoder" else
                   "self_attention_block")]
        if side == "decoder":
            blocks.append(("EncDecAttention", "cross_attention", "cross_attention_block"))
        for i in range(n):
            hf, x = f"{side}.block.{i}.layer", f"{side}_{i}"
            for j, (hf_att, x_att, x_block) in enumerate(blocks):
                for proj, x_proj in (("q", "query"), ("k", "key"), ("v", "value")):
                    yield Param(f"{x}/{x_att}/{x_proj}/kernel", f"{hf}.{j}.{hf_att}.{proj}.weight", "qkv", heads)
                yield Param(f"{x}/{x_att}/out/kernel", f"{hf}.{j}.{hf_att}.o.weight", "out", heads)
                yield Param(f"{x}/{x_block}/RMSNorm_0/scale", f"{hf}.{j}.layer_norm.weight")
            if layout.relative_per_layer:
                yield Param(f"{x}/relative_bias/embedding", f"{hf}.0.SelfAttention.relative_attention_bias.weight")
            j = len(blocks)
            for hf_w, x_w in mlp:
                yield Param(f"{x}/mlp/{x_w}/kernel", f"{hf}.{j}.DenseReluDense.{hf_w}.weight", "linear")
            yield Param(f"{x}/mlp_block/RMSNorm_0/scale", f"{hf}.{j}.layer_norm.weight")
        if not layout.relative_per_layer:
            yield Param(f"{side}_relative_bias/embedding",
                        f"{side}.block.0.layer.0.SelfAttention.relative_attention_bias.weight")
        yield Param(f"{side}_norm/scale", f"{side}.final_layer_norm.weight")
    yield Param("embedding/embedding", "shared.weight")
    if not layout.tied:
        yield Param("output_projection/kernel", "lm_head.weight", "linear")


# Where a checkpoint may keep a tensor under another name than `params` gives: the shared embedding
# under either side's embed_tokens, and names without the "model." prefix (saved from the bare model).
def aliases(name: str) -> list[str]:
    out = [name]
    if name == "model.shared.weight":
        out += ["model.encoder.embed_tokens.weight", "model.decoder.embed_tokens.weight"]
    elif name == "shared.weight":  # T5
        out += ["encoder.embed_tokens.weight", "decoder.embed_tokens.weight"]
    elif name.endswith(".embed_tokens.weight"):  # untied sides that a checkpoint stored once, as shared
        out += ["model.shared.weight"]
    return out + [n[len("model."):] for n in out if n.startswith("model.")]


def to_hf(flat: dict, layout: Layout) -> dict:
    """A Transformers state dict (numpy) from flat xling params (float32, contiguous)."""
    out = {}
    for p in params(layout):
        if p.kind != "zeros":
            out[p.name] = np.ascontiguousarray(p.to_hf(np.asarray(flat[p.path], np.float32)))
    return out
