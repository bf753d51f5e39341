"""Pretrained Hugging Face encoder-decoders to and from xling: M2M100 and the dense NLLB-200 models
(`model_type` "m2m_100"), mBART-25 and mBART-50 ("mbart"); Marian/OPUS-MT ("marian") through
`interop.marian`.

`import_hf(source, workdir)` reads config.json, the weights (`interop.hf_checkpoint`: safetensors,
streamed tensor by tensor, or pytorch_model.bin) and the tokenizer (`data.hf_vocab`), and writes a
workdir like a trained run's: config.json, the tokenizer files with hf_tokenizer.json, the model's
own config as hf_config.json, config.py for fine-tuning and a step-0 Orbax checkpoint whose params
are placed with the run's shardings as they load. Every check runs before anything is written,
and the workdir appears only once complete. `export_hf(workdir, out)` writes the folder back
(model.safetensors, config.json, generation_config.json, the tokenizer files) for
`AutoModelForSeq2SeqLM` / `AutoTokenizer.from_pretrained` and CTranslate2's converter.

The families in xling's model options (model/transformer.py): pre-LN with final layer norms,
layer-norm epsilon 1e-5, embeddings x sqrt(d_model) where `scale_embedding`, tied output, and
- M2M100/NLLB: fairseq sinusoids at positions counted from pad_id + 1 (`position_offset`),
  decoding from EOS with the target-language code forced first;
- mBART: learned positions offset by 2, `layernorm_embedding` (`embedding_norm`), a final logits
  bias, GELU; mBART-50 decodes like NLLB, mBART-25 from the target-language code (decoder_start_id
  -1: each target's last token, as its shift_tokens_right).
"""
import json
import os
import shutil
import tempfile

import jax
import numpy as np
from flax import traverse_util

from xling_jax.configs import loading
from xling_jax.configs.default import get_config
from xling_jax.data import hf_vocab
from xling_jax.errors import UserError
from xling_jax.interop import seq2seq_weights
from xling_jax.interop.hf_checkpoint import WEIGHTS, Checkpoint
from xling_jax.interop.marian import export_marian, import_marian
from xling_jax.model import build_model
from xling_jax.training import checkpoints, validate
from xling_jax.training import mesh as mesh_lib
from xling_jax.training import workdir as workdir_lib
from xling_jax.training.load import load_run

SUPPORTED = ("marian", "m2m_100", "mbart", "t5", "mt5", "umt5")
REFUSED = {
    "nllb_moe": "NLLB-200's mixture-of-experts model (nllb-moe-54b) needs expert layers xling does not have; the "
                "dense NLLB-200 checkpoints (nllb-200-distilled-600M, -1.3B, -3.3B) are model_type m2m_100",
    "bart": "English BART is not a translation model; mBART (model_type mbart) is",
    "longt5": "LongT5's local and transient-global attention is not in xling; T5, mT5 and umT5 are",
}
# T5's translation prefix, with English language names (as T5 was trained: "translate English to German: ");
# mT5, umT5 and ByT5 were pretrained without one, so their users choose their own (data.task_prefix).
T5_TASK_PREFIX = "translate {src} to {tgt}: "
LAYER_NORM_EPS = 1e-5  # torch's LayerNorm default, which these models use
ACTIVATIONS = {"relu": "relu", "gelu": "gelu", "gelu_python": "gelu", "gelu_new": "gelu_tanh",
               "gelu_pytorch_tanh": "gelu_tanh", "swish": "swish", "silu": "swish"}
HF_CONFIG, GENERATION_CONFIG = "hf_config.json", "generation_config.json"
# Files of a model folder worth downloading (not the other frameworks' weights); the torch weights only
# where the repository has no safetensors (NLLB's older repositories).
DOWNLOAD_PATTERNS = ["*.json", "*.model", "sentencepiece*", "*.txt"]


# ---------------------------------------------------------------------------------------------
# Finding the folder.

def resolve_source(source: str) -> str:
    """A local folder as given, else a Hugging Face Hub id (`facebook/nllb-200-distilled-600M`) downloaded
    with huggingface_hub.snapshot_download (where the internet is reachable)."""
    path = os.path.abspath(os.path.expanduser(source))
    if os.path.isdir(path):
        return path
    if os.path.exists(path) or source.count("/") != 1 or source.startswith((".", "/", "~")):
        raise UserError(f"{source} is not a folder; pass a Hugging Face model folder (with config.json) or a Hub "
                        "id such as facebook/nllb-200-distilled-600M")
    try:
        from huggingface_hub import list_repo_files, snapshot_download
        files = list_repo_files(source)
        weights = ["*.safetensors"] if any(f.endswith(".safetensors") for f in files) else ["pytorch_model*.bin"]
        folder = snapshot_download(source, allow_patterns=DOWNLOAD_PATTERNS + weights)
    except Exception as e:
        reason = " ".join(f"{type(e).__name__}: {e}".split())[:200]
        raise UserError(f"cannot download {source} from the Hugging Face Hub ({reason}); where the internet is "
                        f"reachable run `python -c \"import huggingface_hub as h; h.snapshot_download('{source}', "
                        f"local_dir='DIR')\"` and pass DIR") from None
    return folder


def read_config(hf_dir: str) -> dict:
    path = os.path.join(hf_dir, "config.json")
    if not os.path.isfile(path):
        raise UserError(f"{hf_dir} has no config.json; pass a Hugging Face model folder")
    config = hf_vocab.read_json(path)
    model_type = config.get("model_type")
    if model_type in REFUSED:
        raise UserError(f"{hf_dir}: {REFUSED[model_type]} (xling imports model_type {', '.join(SUPPORTED)})")
    if model_type not in SUPPORTED:
        raise UserError(f"{hf_dir} holds a {model_type!r} model; xling imports model_type {', '.join(SUPPORTED)}")
    if config.get("is_encoder_decoder") is False:
        raise UserError(f"{hf_dir} is not an encoder-decoder (is_encoder_decoder is false)")
    return config


# ---------------------------------------------------------------------------------------------
# config.json <-> xling model options.

def _get(hc: dict, key: str, default=None):
    value = hc.get(key, default)
    if value is None:
        raise UserError(f"config.json lacks {key}")
    return value


def t5_options(hc: dict, has_lm_head: bool) -> dict:
    """xling `config.model` keys for a T5, T5 v1.1, mT5, umT5 or ByT5 config.json."""
    proj = str(hc.get("feed_forward_proj", "relu"))
    parts = proj.split("-")
    act = "gelu_new" if proj == "gated-gelu" else parts[-1]
    if len(parts) > 2 or (len(parts) == 2 and parts[0] != "gated") or act not in ACTIVATIONS:
        raise UserError(f"config.json has feed_forward_proj={proj!r}; xling has relu, gated-gelu and "
                        f"[gated-]{{{', '.join(ACTIVATIONS)}}}")
    tied_in_config = hc.get("tie_word_embeddings", True)
    # Transformers v5 saves whether the decoder output is scaled by d_model^-0.5 (original T5) on its own.
    scaled = bool(hc.get("scale_decoder_outputs", tied_in_config is not False))
    untied = tied_in_config is False and has_lm_head
    if untied and scaled:
        raise UserError("config.json asks for an untied output scaled by d_model^-0.5, which xling does not have")
    heads = int(_get(hc, "num_heads"))
    return dict(
        emb_dim=int(_get(hc, "d_model")), num_heads=heads, num_decoder_heads=0, head_dim=int(_get(hc, "d_kv")),
        num_layers=int(_get(hc, "num_layers")), num_decoder_layers=int(hc.get("num_decoder_layers") or 0),
        mlp_dim=int(_get(hc, "d_ff")), decoder_mlp_dim=0, dropout_rate=float(hc.get("dropout_rate", 0.1)),
        attention_dropout_rate=float(hc.get("dropout_rate", 0.1)), activation_dropout_rate=-1.0, pre_ln=True,
        norm="rms", use_bias=False, scale_attention=False, mlp_gated=len(parts) == 2, activation=ACTIVATIONS[act],
        positions="relative", relative_buckets=int(hc.get("relative_attention_num_buckets", 32)),
        relative_max_distance=int(hc.get("relative_attention_max_distance", 128)),
        relative_per_layer=hc["model_type"] == "umt5", position_offset=0, max_len=512, embedding_norm=False,
        layer_norm_eps=float(hc.get("layer_norm_epsilon", 1e-6)), scale_embeddings=False, share_embeddings=True,
        output_projection="separate" if untied else "tied", tied_logits_scale="auto" if scaled else "none",
        final_logits_bias=False, pad_id=int(hc.get("pad_token_id", 0)), eos_id=int(hc.get("eos_token_id", 1)),
        decoder_start_id=int(hc.get("decoder_start_token_id", 0)), num_languages=0)


def model_options(hc: dict, convention: str, has_lm_head: bool = False) -> dict:
    """xling `config.model` keys for a config.json (UserError where xling differs)."""
    if hc["model_type"] in hf_vocab.T5_TYPES:
        return t5_options(hc, has_lm_head)
    mbart = hc["model_type"] == "mbart"
    act = _get(hc, "activation_function", "gelu" if mbart else "relu")
    if act not in ACTIVATIONS:
        raise UserError(f"config.json has activation_function={act!r}; xling has {', '.join(ACTIVATIONS)}")
    d, heads, dec_heads = _get(hc, "d_model"), _get(hc, "encoder_attention_heads"), _get(hc, "decoder_attention_heads")
    if d % heads or d % dec_heads:
        raise UserError(f"config.json: d_model={d} is not a multiple of the attention heads ({heads}, {dec_heads})")
    if hc.get("normalize_before") is False or hc.get("add_final_layer_norm") is False:
        raise UserError("config.json asks for post-LN layers (normalize_before/add_final_layer_norm false); "
                        f"{hc['model_type']} in xling is pre-LN with final layer norms")
    scale = bool(hc.get("scale_embedding", not mbart))
    tied = bool(hc.get("tie_word_embeddings", True))
    pad = int(_get(hc, "pad_token_id"))
    max_positions = int(_get(hc, "max_position_embeddings"))
    options = dict(
        emb_dim=d, num_heads=heads, num_decoder_heads=0 if dec_heads == heads else dec_heads,
        num_layers=_get(hc, "encoder_layers"), num_decoder_layers=_get(hc, "decoder_layers"),
        mlp_dim=_get(hc, "encoder_ffn_dim"),
        decoder_mlp_dim=0 if hc["decoder_ffn_dim"] == hc["encoder_ffn_dim"] else _get(hc, "decoder_ffn_dim"),
        dropout_rate=float(hc.get("dropout", 0.1)), attention_dropout_rate=float(hc.get("attention_dropout", 0.0)),
        activation_dropout_rate=float(hc.get("activation_dropout", 0.0)), pre_ln=True, activation=ACTIVATIONS[act],
        # Transformers v5 ties the shared, encoder and decoder embeddings and the lm_head together, or none.
        layer_norm_eps=LAYER_NORM_EPS, scale_embeddings=scale, tied_logits_scale="none", share_embeddings=tied,
        output_projection="tied" if tied else "separate", pad_id=pad, eos_id=int(_get(hc, "eos_token_id")),
        decoder_start_id=-1 if convention == "mbart" else int(_get(hc, "decoder_start_token_id")),
        num_languages=0)
    if mbart:  # learned positions: table rows = max_position_embeddings + its offset of 2
        options.update(positions="learned", position_offset=2, max_len=max_positions + 2, embedding_norm=True,
                       final_logits_bias=True)
    else:  # fairseq sinusoids, counted from pad + 1 (M2M100SinusoidalPositionalEmbedding)
        options.update(positions="sinusoidal", position_offset=pad + 1, max_len=max_positions,
                       embedding_norm=False, final_logits_bias=False)
    return options


def hf_config_of(cfg, base: dict, vocab_size: int) -> dict:
    """config.json for an export: the imported model's own (hf_config.json), with xling's sizes."""
    out = dict(base)
    out.pop("torch_dtype", None)
    if cfg.positions == "relative":  # the T5 family
        out.update(d_model=cfg.emb_dim, d_kv=cfg.head_dim or cfg.emb_dim // cfg.num_heads, d_ff=cfg.mlp_dim,
                   num_layers=cfg.num_layers, num_decoder_layers=cfg.decoder_layers, num_heads=cfg.num_heads,
                   relative_attention_num_buckets=cfg.relative_buckets,
                   relative_attention_max_distance=cfg.relative_max_distance, vocab_size=vocab_size,
                   tie_word_embeddings=cfg.tied_output,
                   scale_decoder_outputs=cfg.tied_output and cfg.tied_logits_scale == "auto",
                   layer_norm_epsilon=cfg.layer_norm_eps, dropout_rate=cfg.dropout_rate, pad_token_id=cfg.pad_id,
                   eos_token_id=cfg.eos_id, decoder_start_token_id=cfg.decoder_start_id, dtype="float32")
        return out
    out.update(d_model=cfg.emb_dim, encoder_layers=cfg.num_layers, decoder_layers=cfg.decoder_layers,
               encoder_attention_heads=cfg.num_heads, decoder_attention_heads=cfg.decoder_heads,
               encoder_ffn_dim=cfg.mlp_dim, decoder_ffn_dim=cfg.decoder_mlp, vocab_size=vocab_size,
               scale_embedding=cfg.scale_embeddings, tie_word_embeddings=cfg.tied_output,
               pad_token_id=cfg.pad_id, eos_token_id=cfg.eos_id,
               dropout=cfg.dropout_rate, attention_dropout=cfg.attention_dropout_rate,
               activation_dropout=cfg.activation_dropout, dtype="float32")
    out.pop("torch_dtype", None)
    if out.get("model_type") == "mbart":
        # CTranslate2's converter reads mBART's (pre-LN) layer order from this fairseq-era key, which
        # the Hub's mBART configs carry and a config saved by Transformers lacks.
        out.setdefault("normalize_before", True)
    if cfg.decoder_start_id >= 0:
        out["decoder_start_token_id"] = cfg.decoder_start_id
    return out


# ---------------------------------------------------------------------------------------------
# Reading the weights into placed params.

def plan(ckpt: Checkpoint, layout, abstract_flat: dict, source: str) -> list:
    """[(Param, checkpoint name or None)] for every xling param, after checking that each exists with
    the shape config.json implies (UserError naming the first that does not). Nothing is read."""
    names, out = ckpt.names(), []
    for p in seq2seq_weights.params(layout):
        if p.kind == "zeros":
            out.append((p, None))
            continue
        name = next((n for n in seq2seq_weights.aliases(p.name) if n in names), None)
        if name is None and p.path == "final_logits_bias":
            out.append((seq2seq_weights.Param(p.path, "", "zeros"), None))  # optional in Transformers: zeros
            continue
        if name is None:
            raise UserError(f"{source} lacks the weight {p.name}, which its config.json implies; the weights do "
                            "not match the config (or the download is incomplete)")
        try:
            shape = p.xling_shape(ckpt.shape(name))
        except ValueError:
            shape = None
        if shape != abstract_flat[p.path].shape:
            raise UserError(f"{source}: weight {name} has shape {ckpt.shape(name)}, but its config.json implies "
                            f"{abstract_flat[p.path].shape} in xling's layout ({p.path}); the weights do not match "
                            "the config")
        out.append((p, name))
    unplanned = set(abstract_flat) - {p.path for p, _ in out}
    if unplanned:
        raise UserError(f"xling's model has params no {source} weight fills: {', '.join(sorted(unplanned)[:3])}")
    return out


def read_params(ckpt: Checkpoint, weight_plan: list, abstract_flat: dict, shardings_flat: dict) -> dict:
    """The params as a nested dict of jax Arrays, each placed with its sharding as it is read (a device
    receives only its slice) in the abstract params' dtype; one tensor in host memory at a time."""
    flat = {}
    for p, name in weight_plan:
        spec = abstract_flat[p.path]
        if name is None:
            host = np.zeros(spec.shape, spec.dtype)
        else:
            host = p.to_xling(ckpt.get(name))
            if not np.issubdtype(host.dtype, np.floating) or not np.all(np.isfinite(host)):
                raise UserError(f"{ckpt.hf_dir}: weight {name} holds non-finite or non-float values; the file is "
                                "corrupt")
        flat[p.path] = jax.make_array_from_callback(
            spec.shape, shardings_flat[p.path], lambda idx, h=host, dt=spec.dtype: np.asarray(h[idx], dt))
        del host
    return traverse_util.unflatten_dict(flat, sep="/")


# ---------------------------------------------------------------------------------------------
# Import.

CONFIG_PY = '''"""Config of the model imported here by `xling import hf` (from {source}).

Translate:  xling translate --workdir {workdir} --src en --tgt es      (or the model's codes, e.g. eng_Latn)
Score:      xling score --workdir {workdir} --src en --tgt es --input pairs.tsv
Fine-tune:  xling train --config {workdir}/config.py --workdir {workdir} --config.data.name=bible \\
                --config.data.directions=en-es,es-en --config.train.steps=N
The model and tokenizer sections must stay as imported; data, train and the rest may change
until the first fine-tuning checkpoint is written.
"""
import os

from xling_jax.configs import loading


def get_config():
    with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "config.json"), encoding="utf-8") as f:
        return loading.with_defaults(loading.from_json(f.read()))
'''


def fine_tuning_defaults(config) -> None:
    """Train settings for a pretrained model rather than the from-scratch default's."""
    config.train.learning_rate = 5e-5
    config.train.warmup_steps = 100
    config.train.weight_decay = 0.0
    config.train.steps = 1000
    config.eval_every = 500
    config.checkpoint_every = 500


def import_hf(source: str, workdir: str, overrides: dict | None = None, param_dtype: str = "float32",
              language_map: dict | None = None):
    """Writes an xling workdir holding the pretrained model of `source` (a folder or a Hub id); returns
    the resolved config. `overrides`: `--config.KEY=VALUE` for the written config (mesh, train, ...)."""
    hf_dir = resolve_source(source)
    hc = read_config(hf_dir)
    if hc["model_type"] == "marian":
        if overrides or param_dtype != "float32" or language_map:
            raise UserError("a Marian model imports as it is: leave out --config, --dtype and --language_map")
        return import_marian(hf_dir, workdir)
    with tempfile.TemporaryDirectory() as scratch:
        return _import(hf_dir, hc, workdir, overrides, param_dtype, language_map, source, scratch)


def _import(hf_dir, hc, workdir, overrides, param_dtype, language_map, source, scratch):

    tok_config_path = os.path.join(hf_dir, hf_vocab.TOKENIZER_CONFIG)
    tok_config = hf_vocab.read_json(tok_config_path) if os.path.isfile(tok_config_path) else {}
    convention = hf_vocab.convention_of(hf_dir, hc["model_type"], tok_config)
    tok_dir = hf_vocab.with_tokenizer_json(hf_dir, tok_config, scratch)
    vocab_size = int(_get(hc, "vocab_size"))
    vocab_info = hf_vocab.describe(tok_dir, hc["model_type"], vocab_size, language_map)
    ckpt = Checkpoint(hf_dir)
    names = ckpt.names()
    if hc["model_type"] in hf_vocab.T5_TYPES and ("T5EncoderModel" in (hc.get("architectures") or []) or (
            any(n.startswith("encoder.block.") for n in names) and not any(n.startswith("decoder.") for n in names))):
        raise UserError(f"{hf_dir} holds an encoder-only T5 (T5EncoderModel): xling imports encoder-decoders; "
                        "use the full checkpoint (T5ForConditionalGeneration)")
    config = get_config()
    config.model.update(model_options(hc, convention, "lm_head.weight" in ckpt.names()))
    config.model.param_dtype = param_dtype
    config.tokenizer.vocab_size = vocab_size
    config.data.mixture = ()
    if hc["model_type"] in hf_vocab.T5_TYPES:
        # Original T5 was trained with this prefix; mT5/umT5/ByT5 users fine-tune with their own.
        config.data.task_prefix = T5_TASK_PREFIX if hc["model_type"] == "t5" and convention == "t5" else ""
        config.tokenizer.sentinels = sum(1 for t in vocab_info["special_tokens"] if t.startswith("<extra_id_"))
    fine_tuning_defaults(config)
    for key in ("model", "tokenizer"):
        if any(k.startswith(f"{key}.") for k in overrides or {}):
            raise UserError(f"--config.{key}.* cannot change an imported model; set the other sections (e.g. "
                            "--config.data.task_prefix)")
    loading.apply_overrides(config, overrides or {})
    validate.validate(config)

    model = build_model(config.model, vocab_size)
    dummy = np.zeros((1, 8), np.int32)
    abstract = jax.eval_shape(lambda: model.init(jax.random.key(0), dummy, dummy)["params"])
    abstract_flat = traverse_util.flatten_dict(abstract, sep="/")
    layout = seq2seq_weights.layout_of(model.cfg)
    weight_plan = plan(ckpt, layout, abstract_flat, hf_dir)
    mesh = mesh_lib.make_mesh(config.mesh)
    shardings = mesh_lib.param_shardings(model.param_axes(dummy, dummy), abstract, mesh,
                                         mesh_lib.parse_rules(config.mesh.rules))

    workdir = os.path.abspath(os.path.expanduser(workdir))
    if os.path.exists(workdir) and (not os.path.isdir(workdir) or os.listdir(workdir)):
        raise UserError(f"{workdir} exists and is not empty; import into a new --workdir")
    parent = os.path.dirname(workdir)
    os.makedirs(parent, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=f".{os.path.basename(workdir)}.importing-", dir=parent)
    try:
        workdir_lib.prepare(staging)
        for name in hf_vocab.FILES:
            if os.path.isfile(os.path.join(tok_dir, name)):
                shutil.copy(os.path.join(tok_dir, name), os.path.join(staging, name))
        for name, content in ((hf_vocab.FILENAME, vocab_info), (HF_CONFIG, hc)):
            with open(os.path.join(staging, name), "w", encoding="utf-8") as f:
                json.dump(content, f, indent=1, ensure_ascii=False)
        if os.path.isfile(os.path.join(hf_dir, GENERATION_CONFIG)):
            shutil.copy(os.path.join(hf_dir, GENERATION_CONFIG), os.path.join(staging, GENERATION_CONFIG))
        params = read_params(ckpt, weight_plan, abstract_flat, traverse_util.flatten_dict(shardings, sep="/"))
        workdir_lib.save_config(staging, config)
        with open(os.path.join(staging, "config.py"), "w", encoding="utf-8") as f:
            f.write(CONFIG_PY.format(source=source, workdir=workdir))
        checkpoints.save_params(staging, config, params)
        del params
        if os.path.isdir(workdir):
            os.rmdir(workdir)  # empty (checked above)
        os.rename(staging, workdir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return config


# ---------------------------------------------------------------------------------------------
# Export.

def export_hf(run, out_dir: str, step=None) -> list[str]:
    """Writes `run` (a workdir path or a loaded `Run`) as a Hugging Face model folder; returns warnings.

    A run with an imported Hugging Face vocabulary (NLLB, M2M100, mBART) is written in its own
    family; xling's own and Marian vocabularies go through `export_marian`."""
    from safetensors.numpy import save_file

    if isinstance(run, (str, os.PathLike)):
        run = load_run(os.fspath(run), step)
    if not isinstance(run.tokenizer, hf_vocab.HFVocab):
        return export_marian(run, out_dir)
    base = hf_vocab.read_json(os.path.join(run.workdir, HF_CONFIG))
    c = run.model.cfg
    layout = seq2seq_weights.layout_of(c)
    flat = {k: np.asarray(v, np.float32)
            for k, v in traverse_util.flatten_dict(jax.device_get(run.params), sep="/").items()}
    warnings = []
    proj_bias = flat.get("output_projection/bias")
    if proj_bias is not None and np.any(proj_bias):
        if layout.final_logits_bias:
            flat["final_logits_bias"] = flat["final_logits_bias"] + proj_bias
        else:
            warnings.append("the output projection's bias is not zero, and this family's lm_head has none: "
                            "dropped, so logits differ slightly")
    weights = seq2seq_weights.to_hf(flat, layout)
    if not layout.share:  # the family's model also holds a shared table (unused when untied)
        weights["model.shared.weight"] = weights["model.encoder.embed_tokens.weight"]
    os.makedirs(out_dir, exist_ok=True)
    save_file(weights, os.path.join(out_dir, WEIGHTS), metadata={"format": "pt"})
    with open(os.path.join(out_dir, "config.json"), "w", encoding="utf-8") as f:
        json.dump(hf_config_of(c, base, run.tokenizer.vocab_size), f, indent=2, ensure_ascii=False)
    for name in hf_vocab.FILES + (GENERATION_CONFIG,):
        if os.path.isfile(os.path.join(run.workdir, name)):
            shutil.copy(os.path.join(run.workdir, name), os.path.join(out_dir, name))
    return warnings
