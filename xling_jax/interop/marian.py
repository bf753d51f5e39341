"""Marian / OPUS-MT models in Hugging Face format (Transformers' `MarianMTModel`) to and from xling.

`import_marian(hf_dir, workdir)` turns config.json, model.safetensors (or pytorch_model.bin, with
torch) and the vocabulary files into an xling workdir: config.json, the Marian vocabulary
(`data/marian_vocab.py`), config.py for fine-tuning and an Orbax checkpoint at step 0.
`export_marian(workdir, out_dir)` writes what `MarianMTModel.from_pretrained`,
`MarianTokenizer.from_pretrained` and `ct2-transformers-converter` read.

Marian's architecture in xling terms: post-LN, positions "sinusoidal_marian", layer-norm epsilon
1e-5, swish (OPUS-MT) MLP, embeddings x sqrt(D) with logits tied to the target embedding, a
final logits bias, pad = decoder start = the last id, EOS 0. Transformers and numpy only: neither
torch nor transformers is imported here unless a pytorch_model.bin has to be read.
"""
import json
import os
import shutil

import numpy as np
from flax import traverse_util

from xling_jax.data import marian_vocab, tokenizer as tokenizer_lib
from xling_jax.errors import UserError

WEIGHTS, WEIGHTS_INDEX, TORCH_WEIGHTS = "model.safetensors", "model.safetensors.index.json", "pytorch_model.bin"
LAYER_NORM_EPS = 1e-5  # Transformers' Marian uses torch's default LayerNorm epsilon
# Marian's activation_function -> xling's model.activation (Transformers' "gelu" is the exact erf form).
ACTIVATIONS = {"swish": "swish", "silu": "swish", "relu": "relu", "gelu": "gelu", "gelu_python": "gelu"}
# MarianConfig defaults for keys an older config.json may lack.
HF_DEFAULTS = {"activation_function": "gelu", "scale_embedding": False, "share_encoder_decoder_embeddings": True,
               "tie_word_embeddings": True, "max_position_embeddings": 1024, "dropout": 0.1,
               "attention_dropout": 0.0, "pad_token_id": 58100, "eos_token_id": 0, "decoder_start_token_id": 58100}

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


# ---------------------------------------------------------------------------------------------
# Weights: Transformers names (torch Linear weights are out x in) <-> xling's flat param paths.

def _modules(num_layers: int, num_decoder_layers: int):
    """(Transformers module name, xling module path, kind) of every layer's modules."""
    for prefix, xling_prefix, n, layout in (("model.encoder.layers", "encoder", num_layers, ENCODER_LAYER),
                                            ("model.decoder.layers", "decoder", num_decoder_layers, DECODER_LAYER)):
        for i in range(n):
            for hf_mod, x_mod, kind in layout:
                yield f"{prefix}.{i}.{hf_mod}", f"{xling_prefix}_{i}/{x_mod}", kind


def hf_to_xling(weights: dict, num_heads: int, num_layers: int, num_decoder_layers: int, share: bool,
                tied: bool) -> dict:
    """Flat {"a/b/c": array} xling params from a Marian state dict (numpy)."""
    def get(name):
        if name not in weights:
            raise UserError(f"the Marian weights lack {name}")
        return np.asarray(weights[name], np.float32)

    out = {}
    for hf, x, kind in _modules(num_layers, num_decoder_layers):
        if kind == "norm":
            out[f"{x}/scale"], out[f"{x}/bias"] = get(f"{hf}.weight"), get(f"{hf}.bias")
        elif kind == "linear":
            out[f"{x}/kernel"], out[f"{x}/bias"] = get(f"{hf}.weight").T, get(f"{hf}.bias")
        else:
            for hf_p, x_p in PROJECTIONS:  # (H*K, D) -> (D, H, K)
                w, b = get(f"{hf}.{hf_p}.weight"), get(f"{hf}.{hf_p}.bias")
                d = w.shape[1]
                out[f"{x}/{x_p}/kernel"] = w.T.reshape(d, num_heads, -1)
                out[f"{x}/{x_p}/bias"] = b.reshape(num_heads, -1)
            w = get(f"{hf}.out_proj.weight")  # (D, H*K) -> (H, K, D)
            out[f"{x}/out/kernel"] = w.T.reshape(num_heads, -1, w.shape[0])
            out[f"{x}/out/bias"] = get(f"{hf}.out_proj.bias")
    if share:
        name = "model.shared.weight" if "model.shared.weight" in weights else "model.encoder.embed_tokens.weight"
        out["embedding/embedding"] = get(name)
        target = out["embedding/embedding"]
    else:
        out["embedding/embedding"] = get("model.encoder.embed_tokens.weight")
        target = out["target_embedding/embedding"] = get("model.decoder.embed_tokens.weight")
    if not tied:
        out["output_projection/kernel"] = get("lm_head.weight").T
        out["output_projection/bias"] = np.zeros(target.shape[0], np.float32)
    bias = weights.get("final_logits_bias")
    out["final_logits_bias"] = (np.zeros(target.shape[0], np.float32) if bias is None
                                else np.asarray(bias, np.float32).reshape(-1))
    return out


def xling_to_hf(flat: dict, num_heads: int, num_layers: int, num_decoder_layers: int, share: bool,
                tied: bool) -> dict:
    """A Marian state dict (numpy, Transformers names) from flat xling params (inverse of hf_to_xling)."""
    def get(path):
        return np.asarray(flat[path], np.float32)

    out = {}
    for hf, x, kind in _modules(num_layers, num_decoder_layers):
        if kind == "norm":
            out[f"{hf}.weight"], out[f"{hf}.bias"] = get(f"{x}/scale"), get(f"{x}/bias")
        elif kind == "linear":
            out[f"{hf}.weight"], out[f"{hf}.bias"] = get(f"{x}/kernel").T, get(f"{x}/bias")
        else:
            for hf_p, x_p in PROJECTIONS:
                k = get(f"{x}/{x_p}/kernel")
                out[f"{hf}.{hf_p}.weight"] = k.reshape(k.shape[0], -1).T
                out[f"{hf}.{hf_p}.bias"] = get(f"{x}/{x_p}/bias").reshape(-1)
            k = get(f"{x}/out/kernel")
            out[f"{hf}.out_proj.weight"] = k.reshape(-1, k.shape[-1]).T
            out[f"{hf}.out_proj.bias"] = get(f"{x}/out/bias")
    if share:
        out["model.shared.weight"] = get("embedding/embedding")
        target = out["model.shared.weight"]
    else:
        out["model.encoder.embed_tokens.weight"] = get("embedding/embedding")
        target = out["model.decoder.embed_tokens.weight"] = get("target_embedding/embedding")
    bias = get("final_logits_bias") if "final_logits_bias" in flat else np.zeros(target.shape[0], np.float32)
    if not tied:
        out["lm_head.weight"] = get("output_projection/kernel").T
        bias = bias + get("output_projection/bias")  # Marian's lm_head has no bias of its own
    out["final_logits_bias"] = bias[None, :]
    return {k: np.ascontiguousarray(v) for k, v in out.items()}


# ---------------------------------------------------------------------------------------------
# Import.

def _read_json(path: str) -> dict:
    return marian_vocab.read_json(path)


def read_weights(hf_dir: str) -> dict:
    """{name: numpy array}: model.safetensors (or its shards) with the safetensors package, else
    pytorch_model.bin with torch."""
    from safetensors.numpy import load_file
    if os.path.isfile(os.path.join(hf_dir, WEIGHTS)):
        return load_file(os.path.join(hf_dir, WEIGHTS))
    if os.path.isfile(os.path.join(hf_dir, WEIGHTS_INDEX)):
        shards = sorted(set(_read_json(os.path.join(hf_dir, WEIGHTS_INDEX))["weight_map"].values()))
        out = {}
        for shard in shards:
            out.update(load_file(os.path.join(hf_dir, shard)))
        return out
    if os.path.isfile(os.path.join(hf_dir, TORCH_WEIGHTS)):
        try:
            import torch
        except ImportError:
            raise UserError(f"{hf_dir} has only {TORCH_WEIGHTS}, which needs torch to read: "
                            "pip install 'xling_jax[interop]' (or convert it to model.safetensors)") from None
        state = torch.load(os.path.join(hf_dir, TORCH_WEIGHTS), map_location="cpu", weights_only=True)
        return {k: v.float().numpy() for k, v in state.items()}
    raise UserError(f"{hf_dir} has no {WEIGHTS} or {TORCH_WEIGHTS}; pass a Hugging Face Marian model directory")


def model_options(hc: dict) -> dict:
    """xling `config.model` keys equivalent to a Marian config.json (UserError where xling differs)."""
    hc = {**HF_DEFAULTS, **{k: v for k, v in hc.items() if v is not None}}
    problems = []
    if hc["activation_function"] not in ACTIVATIONS:
        problems.append(f"activation_function={hc['activation_function']!r} (xling has {', '.join(ACTIVATIONS)})")
    for enc, dec in (("encoder_attention_heads", "decoder_attention_heads"), ("encoder_ffn_dim", "decoder_ffn_dim")):
        if hc[enc] != hc[dec]:
            problems.append(f"{enc}={hc[enc]} != {dec}={hc[dec]} (xling uses one value for both)")
    if hc["d_model"] % hc["encoder_attention_heads"]:
        problems.append(f"d_model={hc['d_model']} is not a multiple of encoder_attention_heads")
    if not hc["scale_embedding"] and hc["tie_word_embeddings"]:
        problems.append("scale_embedding=false with tied output embeddings (xling's unscaled tied logits are "
                        "divided by sqrt(d_model))")
    if problems:
        raise UserError("this Marian model cannot be imported: " + "; ".join(problems))
    return dict(
        emb_dim=hc["d_model"], num_heads=hc["encoder_attention_heads"], num_layers=hc["encoder_layers"],
        num_decoder_layers=0 if hc["decoder_layers"] == hc["encoder_layers"] else hc["decoder_layers"],
        mlp_dim=hc["encoder_ffn_dim"], dropout_rate=float(hc["dropout"]),
        attention_dropout_rate=float(hc["attention_dropout"]), pre_ln=False, positions="sinusoidal_marian",
        max_len=hc["max_position_embeddings"], share_embeddings=bool(hc["share_encoder_decoder_embeddings"]),
        output_projection="tied" if hc["tie_word_embeddings"] else "separate", final_logits_bias=True,
        activation=ACTIVATIONS[hc["activation_function"]], layer_norm_eps=LAYER_NORM_EPS,
        scale_embeddings=bool(hc["scale_embedding"]), pad_id=int(hc["pad_token_id"]), eos_id=int(hc["eos_token_id"]),
        decoder_start_id=int(hc["decoder_start_token_id"]))


def _directions(vocab: marian_vocab.MarianVocab, src: str | None, tgt: str | None) -> tuple[str, ...]:
    """Directions for config.data (what `xling translate` accepts): --src/--tgt, else tokenizer_config.json's
    source_lang/target_lang; a multilingual model's targets are its >>xx<< codes."""
    src = src or vocab.config.get("source_lang")
    targets = [tgt] if tgt else vocab.languages() or [vocab.config.get("target_lang")]
    if not src or not all(targets):
        raise UserError("the model does not say its languages (tokenizer_config.json has no source_lang/"
                        "target_lang); pass --src and --tgt")
    return tuple(f"{src}-{t}" for t in targets)


CONFIG_PY = '''"""Config of the model imported here by `xling import marian` (from {source}).

Translate:  xling translate --workdir {workdir} --src SRC --tgt TGT
Fine-tune:  xling train --config {workdir}/config.py --workdir {workdir} --config.data.name=DATASET \\
                --config.data.directions=SRC-TGT --config.train.steps=N
The model and tokenizer sections must stay as imported; data, train and the rest may change
until the first fine-tuning checkpoint is written.
"""
import os

from xling_jax.configs import loading


def get_config():
    with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "config.json"), encoding="utf-8") as f:
        return loading.with_defaults(loading.from_json(f.read()))
'''


def import_marian(hf_dir: str, workdir: str, src: str | None = None, tgt: str | None = None):
    """Writes an xling workdir holding the Marian model of `hf_dir`; returns the resolved config."""
    import jax
    import jax.numpy as jnp
    from xling_jax.configs.default import get_config
    from xling_jax.model import build_model
    from xling_jax.training import checkpoints, workdir as workdir_lib

    hf_dir = os.path.abspath(os.path.expanduser(hf_dir))
    if not os.path.isfile(os.path.join(hf_dir, "config.json")):
        raise UserError(f"{hf_dir} has no config.json; pass a Hugging Face Marian model directory")
    hc = _read_json(os.path.join(hf_dir, "config.json"))
    if hc.get("model_type") != "marian":
        raise UserError(f"{hf_dir} holds a {hc.get('model_type')!r} model, not a Marian one (model_type 'marian')")
    missing = [f for f in marian_vocab.FILES if not os.path.isfile(os.path.join(hf_dir, f))]
    if missing:
        raise UserError(f"{hf_dir} lacks the Marian vocabulary file(s) {', '.join(missing)}")
    vocab = marian_vocab.MarianVocab(hf_dir)
    options = model_options(hc)
    sizes = {"vocab_size": (hc.get("vocab_size"), vocab.vocab_size),
             "decoder_vocab_size": (hc.get("decoder_vocab_size") or hc.get("vocab_size"), vocab.target_vocab_size)}
    for key, (model_size, vocab_size) in sizes.items():
        if model_size != vocab_size:
            raise UserError(f"config.json has {key}={model_size} but the vocabulary has {vocab_size} entries")
    if options["eos_id"] != vocab.eos_id:
        raise UserError(f"config.json has eos_token_id={options['eos_id']} but {marian_vocab.EOS} is "
                        f"{vocab.eos_id} in vocab.json")
    # Source padding is masked by the vocabulary's pad id (Transformers' tokenizer builds the mask from it).
    options["pad_id"] = vocab.pad_id
    directions = _directions(vocab, src, tgt)
    weights = read_weights(hf_dir)
    if "model.encoder.layers.0.fc1.weight" not in weights and "encoder.layers.0.fc1.weight" in weights:
        weights = {("" if k.startswith(("lm_head", "final_logits_bias")) else "model.") + k: v
                   for k, v in weights.items()}  # saved from MarianModel, without the "model." prefix

    config = get_config()
    config.model.update(options)
    config.tokenizer.vocab_size = vocab.vocab_size
    config.data.directions = directions
    config.data.mixture = ()
    model = build_model(config.model, vocab.vocab_size, vocab.target_vocab_size)
    c = model.cfg
    flat = hf_to_xling(weights, c.num_heads, c.num_layers, c.decoder_layers, c.share_embeddings, c.tied_output)
    params = traverse_util.unflatten_dict(flat, sep="/")
    dummy = jnp.zeros((1, 8), jnp.int32)
    expected = jax.eval_shape(lambda: model.init(jax.random.key(0), dummy, dummy)["params"])
    if jax.tree.structure(expected) != jax.tree.structure(params) or any(
            e.shape != p.shape for e, p in zip(jax.tree.leaves(expected), jax.tree.leaves(params))):
        raise UserError(f"the weights in {hf_dir} do not match its config.json")

    workdir = workdir_lib.prepare(workdir)
    if tokenizer_lib.exists(workdir) or os.path.exists(os.path.join(workdir, "checkpoints")):
        raise UserError(f"{workdir} already holds a run; import into a new --workdir")
    files = list(marian_vocab.FILES) + [f for f in (marian_vocab.TARGET_VOCAB, marian_vocab.TOKENIZER_CONFIG)
                                        if os.path.isfile(os.path.join(hf_dir, f))]
    for f in files:
        shutil.copy(os.path.join(hf_dir, f), os.path.join(workdir, f))
    workdir_lib.save_config(workdir, config)
    with open(os.path.join(workdir, "config.py"), "w", encoding="utf-8") as f:
        f.write(CONFIG_PY.format(source=hf_dir, workdir=workdir))
    checkpoints.save_params(workdir, config, params)
    return config


# ---------------------------------------------------------------------------------------------
# Export.

def incompatibilities(cfg) -> list[str]:
    """The model options of `cfg` (a TransformerConfig) that Marian cannot represent."""
    from xling_jax.model.transformer import TransformerConfig
    if not isinstance(cfg, TransformerConfig):
        return ["model.name='lstm' (Marian models are Transformers)"]
    problems = []
    if cfg.pre_ln:
        problems.append("model.pre_ln=True (Marian normalises after each residual: pre_ln=False)")
    if cfg.positions != "sinusoidal_marian":
        problems.append(f"model.positions={cfg.positions!r} (Marian has fixed sinusoids: 'sinusoidal_marian')")
    if cfg.num_languages:
        problems.append(f"model.num_languages={cfg.num_languages} (Marian has no language embeddings: 0)")
    if cfg.tied_output and not cfg.scale_embeddings:
        problems.append("model.scale_embeddings=False with a tied output (xling divides those logits by "
                        "sqrt(emb_dim), Marian does not)")
    return problems


def vocabulary(tokenizer):
    """(source pieces, target pieces, source spm path, target spm path, separate, tokenizer_config) by id.

    xling's sentencepiece ids are the pieces' own; its `<2es>` tags become Marian's `>>es<<` and its
    special pieces take Marian's names."""
    if isinstance(tokenizer, marian_vocab.MarianVocab):
        d = tokenizer.path
        return (list(tokenizer.source.pieces), list(tokenizer.target.pieces),
                os.path.join(d, marian_vocab.SOURCE_SPM), os.path.join(d, marian_vocab.TARGET_SPM),
                tokenizer.separate_vocabs, dict(tokenizer.config))
    sp = tokenizer.sp
    pieces = []
    for i in range(tokenizer.vocab_size):
        p = sp.id_to_piece(i)
        if p.startswith("<2") and p.endswith(">") and len(p) > 3 and sp.is_control(i):
            p = marian_vocab.lang_tag(p[2:-1])
        pieces.append(p)
    for i, name in ((tokenizer.pad_id, marian_vocab.PAD), (tokenizer.eos_id, marian_vocab.EOS),
                    (tokenizer.unk_id, marian_vocab.UNK)):
        pieces[i] = name
    return pieces, pieces, tokenizer.path, tokenizer.path, False, {}


def export_marian(run, out_dir: str, step: int | None = None) -> list[str]:
    """Writes `run` (a workdir path or a loaded `Run`) as a Hugging Face Marian model into `out_dir`.

    Returns warnings (the caller prints them). Ids are renumbered so that pad is the last one, as
    Marian, CTranslate2 and OPUS-MT have it (xling's own vocabulary has pad 0, EOS 1)."""
    import jax
    from safetensors.numpy import save_file
    from xling_jax.decoding.load import load_run

    if isinstance(run, (str, os.PathLike)):
        run = load_run(os.fspath(run), step)
    c = run.model.cfg
    problems = incompatibilities(c)
    if problems:
        raise UserError("cannot export to Marian: " + "; ".join(problems))
    src_pieces, tgt_pieces, src_spm, tgt_spm, separate, tok_config = vocabulary(run.tokenizer)
    flat = {k: np.asarray(v, np.float32)
            for k, v in traverse_util.flatten_dict(jax.device_get(run.params), sep="/").items()}
    pad, eos, start = c.pad_id, c.eos_id, c.decoder_start_id
    if not separate and pad != len(src_pieces) - 1:
        # Move pad to the end: one renumbering of both sides (they share the vocabulary).
        order = np.array([i for i in range(len(src_pieces)) if i != pad] + [pad])
        new_id = np.argsort(order)
        src_pieces = tgt_pieces = [src_pieces[i] for i in order]
        for path in ("embedding/embedding", "target_embedding/embedding"):
            if path in flat:
                flat[path] = flat[path][order]
        for path in ("output_projection/bias", "final_logits_bias"):
            if path in flat:
                flat[path] = flat[path][order]
        if "output_projection/kernel" in flat:
            flat["output_projection/kernel"] = flat["output_projection/kernel"][:, order]
        pad, eos, start = (int(new_id[i]) for i in (pad, eos, start))
    if pad >= min(len(src_pieces), len(tgt_pieces)):
        raise UserError(f"cannot export to Marian: pad id {pad} lies outside the target vocabulary "
                        f"({len(tgt_pieces)} entries); Marian needs one pad id valid on both sides")
    weights = xling_to_hf(flat, c.num_heads, c.num_layers, c.decoder_layers, c.share_embeddings, c.tied_output)

    warnings = []
    if c.layer_norm_eps != LAYER_NORM_EPS:
        warnings.append(f"model.layer_norm_eps={c.layer_norm_eps:g} but Transformers' Marian uses "
                        f"{LAYER_NORM_EPS:g}: outputs will differ slightly")
    target_embedding = weights["model.shared.weight" if c.share_embeddings else "model.decoder.embed_tokens.weight"]
    if np.any(target_embedding[start] != 0):
        warnings.append("the decoder-start (pad) embedding is not zero: Transformers uses it as xling does, but "
                        "CTranslate2 and Marian start decoding from a zero vector, so their outputs will differ")

    os.makedirs(out_dir, exist_ok=True)
    save_file(weights, os.path.join(out_dir, WEIGHTS), metadata={"format": "pt"})
    hf_config = {
        "architectures": ["MarianMTModel"], "model_type": "marian", "is_encoder_decoder": True,
        "vocab_size": len(src_pieces), "decoder_vocab_size": len(tgt_pieces), "d_model": c.emb_dim,
        "encoder_layers": c.num_layers, "decoder_layers": c.decoder_layers,
        "encoder_attention_heads": c.num_heads, "decoder_attention_heads": c.num_heads,
        "encoder_ffn_dim": c.mlp_dim, "decoder_ffn_dim": c.mlp_dim,
        "activation_function": c.activation, "max_position_embeddings": c.max_len,
        # xling drops out after the activation at dropout_rate.
        "dropout": c.dropout_rate, "attention_dropout": c.attention_dropout_rate, "activation_dropout": c.dropout_rate,
        "encoder_layerdrop": 0.0, "decoder_layerdrop": 0.0, "init_std": 0.02, "use_cache": True,
        "scale_embedding": c.scale_embeddings, "share_encoder_decoder_embeddings": c.share_embeddings,
        "tie_word_embeddings": c.tied_output, "pad_token_id": pad, "eos_token_id": eos,
        "forced_eos_token_id": eos, "decoder_start_token_id": start, "bos_token_id": None, "dtype": "float32"}
    generation = {"decoder_start_token_id": start, "eos_token_id": eos, "forced_eos_token_id": eos,
                  "pad_token_id": pad, "bad_words_ids": [[pad]], "max_length": c.max_len, "num_beams": 1}
    languages = sorted({d.split("-")[0] for d in run.config.data.directions}), sorted(
        {d.split("-")[-1] for d in run.config.data.directions})
    tok_config = {k: v for k, v in tok_config.items() if k not in ("name_or_path", "added_tokens_decoder")}
    tok_config.update({"tokenizer_class": "MarianTokenizer", "separate_vocabs": separate,
                       "eos_token": marian_vocab.EOS, "unk_token": marian_vocab.UNK, "pad_token": marian_vocab.PAD})
    tok_config.setdefault("model_max_length", c.max_len)
    for key, langs in zip(("source_lang", "target_lang"), languages):
        if len(langs) == 1 and not run.config.data.mixture:
            tok_config.setdefault(key, langs[0])
    files = {"config.json": hf_config, "generation_config.json": generation,
             marian_vocab.TOKENIZER_CONFIG: tok_config, marian_vocab.VOCAB: {p: i for i, p in enumerate(src_pieces)}}
    if separate:
        files[marian_vocab.TARGET_VOCAB] = {p: i for i, p in enumerate(tgt_pieces)}
    for name, content in files.items():
        with open(os.path.join(out_dir, name), "w", encoding="utf-8") as f:
            json.dump(content, f, indent=2, ensure_ascii=False)
    shutil.copy(src_spm, os.path.join(out_dir, marian_vocab.SOURCE_SPM))
    shutil.copy(tgt_spm, os.path.join(out_dir, marian_vocab.TARGET_SPM))
    return warnings
