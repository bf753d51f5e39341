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
import dataclasses
import json
import os
import shutil

import jax
import jax.numpy as jnp
import numpy as np
from flax import traverse_util

from xling_jax.configs.default import get_config
from xling_jax.data import marian_vocab
from xling_jax.data import tokenizer as tokenizer_lib
from xling_jax.errors import UserError
from xling_jax.interop import seq2seq_weights
from xling_jax.interop.hf_checkpoint import WEIGHTS, Checkpoint
from xling_jax.model import build_model
from xling_jax.model.transformer import TransformerConfig
from xling_jax.training import checkpoints
from xling_jax.training import workdir as workdir_lib
from xling_jax.training.load import load_run

LAYER_NORM_EPS = 1e-5  # Transformers' Marian uses torch's default LayerNorm epsilon
# Marian's activation_function -> xling's model.activation (Transformers' "gelu" is the exact erf form).
ACTIVATIONS = {"swish": "swish", "silu": "swish", "relu": "relu", "gelu": "gelu", "gelu_python": "gelu"}
# MarianConfig defaults for keys an older config.json may lack.
HF_DEFAULTS = {"activation_function": "gelu", "scale_embedding": False, "share_encoder_decoder_embeddings": True,
               "tie_word_embeddings": True, "max_position_embeddings": 1024, "dropout": 0.1,
               "attention_dropout": 0.0, "pad_token_id": 58100, "eos_token_id": 0, "decoder_start_token_id": 58100}

def read_weights(hf_dir: str) -> dict:
    """{name: numpy array} of a Marian folder (see interop.hf_checkpoint), with the "model." prefix that a
    checkpoint saved from MarianModel (not MarianMTModel) lacks."""
    ckpt = Checkpoint(hf_dir)
    weights = {name: np.asarray(ckpt.get(name), np.float32) for name in ckpt.names()}
    if "model.encoder.layers.0.fc1.weight" not in weights and "encoder.layers.0.fc1.weight" in weights:
        weights = {("" if k.startswith(("lm_head", "final_logits_bias")) else "model.") + k: v
                   for k, v in weights.items()}
    return weights


def hf_to_xling(weights: dict, layout: seq2seq_weights.Layout) -> dict:
    """Flat {"a/b/c": array} xling params from a Marian state dict (numpy); a missing logits bias is zeros."""
    out = {}
    for p in seq2seq_weights.params(layout):
        name = next((n for n in seq2seq_weights.aliases(p.name) if n in weights), None)
        if p.kind == "zeros" or (name is None and p.path == "final_logits_bias"):
            rows = out.get("target_embedding/embedding", out.get("embedding/embedding"))
            out[p.path] = np.zeros(rows.shape[0], np.float32)
        elif name is None:
            raise UserError(f"the Marian weights lack {p.name}")
        else:
            out[p.path] = p.to_xling(np.asarray(weights[name], np.float32))
    return out


def model_options(hc: dict) -> dict:
    """xling `config.model` keys equivalent to a Marian config.json (UserError where xling differs)."""
    hc = {**HF_DEFAULTS, **{k: v for k, v in hc.items() if v is not None}}
    problems = []
    if hc["activation_function"] not in ACTIVATIONS:
        problems.append(f"activation_function={hc['activation_function']!r} (xling has {', '.join(ACTIVATIONS)})")
    for key in ("encoder_attention_heads", "decoder_attention_heads"):
        if hc["d_model"] % hc[key]:
            problems.append(f"d_model={hc['d_model']} is not a multiple of {key}={hc[key]}")
    if problems:
        raise UserError("this Marian model cannot be imported: " + "; ".join(problems))
    return dict(
        emb_dim=hc["d_model"], num_heads=hc["encoder_attention_heads"], num_layers=hc["encoder_layers"],
        num_decoder_layers=0 if hc["decoder_layers"] == hc["encoder_layers"] else hc["decoder_layers"],
        mlp_dim=hc["encoder_ffn_dim"], dropout_rate=float(hc["dropout"]),
        num_decoder_heads=0 if hc["decoder_attention_heads"] == hc["encoder_attention_heads"]
        else hc["decoder_attention_heads"],
        decoder_mlp_dim=0 if hc["decoder_ffn_dim"] == hc["encoder_ffn_dim"] else hc["decoder_ffn_dim"],
        tied_logits_scale="none",  # Transformers never rescales Marian's logits
        attention_dropout_rate=float(hc["attention_dropout"]), pre_ln=False, positions="sinusoidal_marian",
        max_len=hc["max_position_embeddings"], share_embeddings=bool(hc["share_encoder_decoder_embeddings"]),
        output_projection="tied" if hc["tie_word_embeddings"] else "separate", final_logits_bias=True,
        activation=ACTIVATIONS[hc["activation_function"]], layer_norm_eps=LAYER_NORM_EPS,
        scale_embeddings=bool(hc["scale_embedding"]), pad_id=int(hc["pad_token_id"]), eos_id=int(hc["eos_token_id"]),
        decoder_start_id=int(hc["decoder_start_token_id"]))


def _directions(vocab: marian_vocab.MarianVocab, src: str | None, tgt: str | None) -> tuple[str, ...]:
    """Directions for config.data (what `xling translate` accepts): --src/--tgt, else tokenizer_config.json's
    source_lang/target_lang; a multilingual model's targets are its >>xx<< codes, and where it names no
    source language (a many-to-many model, as xling exports one) every pair of its codes."""
    src = src or vocab.config.get("source_lang")
    codes = vocab.languages()
    if not src and not tgt and len(codes) > 1:
        return tuple(f"{a}-{b}" for a in codes for b in codes if a != b)
    targets = [tgt] if tgt else codes or [vocab.config.get("target_lang")]
    if not src or not all(targets):
        raise UserError("the model does not say its languages (tokenizer_config.json has no source_lang/"
                        "target_lang); pass --src and --tgt")
    if targets == [src]:
        raise UserError(f"--src and --tgt are both {src!r}")
    return tuple(f"{src}-{t}" for t in targets if t != src)


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

    hf_dir = os.path.abspath(os.path.expanduser(hf_dir))
    if not os.path.isfile(os.path.join(hf_dir, "config.json")):
        raise UserError(f"{hf_dir} has no config.json; pass a Hugging Face Marian model directory")
    hc = marian_vocab.read_json(os.path.join(hf_dir, "config.json"))
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

    config = get_config()
    config.model.update(options)
    config.tokenizer.vocab_size = vocab.vocab_size
    config.data.directions = directions
    config.data.mixture = ()
    model = build_model(config.model, vocab.vocab_size, vocab.target_vocab_size)
    flat = hf_to_xling(weights, seq2seq_weights.layout_of(model.cfg))
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
    if not isinstance(cfg, TransformerConfig):
        return ["model.name='lstm' (Marian models are Transformers)"]
    problems = []
    if cfg.pre_ln:
        problems.append("model.pre_ln=True (Marian normalises after each residual: pre_ln=False)")
    if cfg.positions != "sinusoidal_marian":
        problems.append(f"model.positions={cfg.positions!r} (Marian has fixed sinusoids: 'sinusoidal_marian')")
    if cfg.num_languages:
        problems.append(f"model.num_languages={cfg.num_languages} (Marian has no language embeddings: 0)")
    if cfg.embedding_norm or cfg.position_offset:
        problems.append("model.embedding_norm/model.position_offset (Marian has neither: False/0)")
    if cfg.tied_output and not cfg.scale_embeddings and cfg.tied_logits_scale == "auto":
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
    from safetensors.numpy import save_file

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
    bias = flat.get("final_logits_bias", np.zeros(len(tgt_pieces), np.float32))
    if "output_projection/bias" in flat:  # Marian's lm_head has no bias of its own
        bias = bias + flat["output_projection/bias"]
    flat["final_logits_bias"] = bias
    layout = dataclasses.replace(seq2seq_weights.layout_of(c), final_logits_bias=True)
    weights = seq2seq_weights.to_hf(flat, layout)

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
        "encoder_attention_heads": c.num_heads, "decoder_attention_heads": c.decoder_heads,
        "encoder_ffn_dim": c.mlp_dim, "decoder_ffn_dim": c.decoder_mlp,
        "activation_function": c.activation, "max_position_embeddings": c.max_len,
        # xling drops out after the activation at dropout_rate.
        "dropout": c.dropout_rate, "attention_dropout": c.attention_dropout_rate, "activation_dropout": c.activation_dropout,
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
