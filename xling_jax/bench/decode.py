"""`xling bench decode`: beam-search target tokens/s of xling next to Transformers and CTranslate2.

The model is a workdir's (a trained run, an imported Marian, NLLB/M2M100 or mBART model), or,
without one, a randomly initialised Marian-architecture model of a reference shape (post-LN,
Marian's sinusoids, swish, final logits bias, tied embeddings). xling decodes it from its
checkpoint; the run is exported (`export_hf`: the model's own Hugging Face family, else Marian),
and the export is what Transformers' `generate()` and CTranslate2 (converted once, run in fp32 and
int8) decode. All engines translate the same source batches (the first sentences of the Bible
test books in the source language, sorted by length, in batches of `batch_size`, built with the
model's own conventions: language codes, forced target prefix, decoder start) with the same beam
size and a forced output length (EOS is ruled out until then), on the same cores. Each engine is
warmed up (xling compiles every batch shape first; the eager engines translate WARMUP_ROWS rows)
and then timed over all batches.

Random weights make meaningless translations but an honest cost: with the output length forced,
the work per token is that of a trained model. Outputs are compared token by token across
engines (`same_output_as_xling`): fp32 engines agree up to float rounding on near-ties.
An engine that is not installed, or that cannot take the model (no export, no conversion, another
decoder start), is reported with the reason instead of numbers.
"""
import functools
import gc
import json
import os
import resource
import shutil
import tempfile
import time

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from xling_jax.bench.shapes import MARIAN_MODEL, SHAPES, model_overrides
from xling_jax.configs.default import get_config
from xling_jax.data import hf_vocab, marian_vocab, mixture
from xling_jax.data import plan as data_plan
from xling_jax.data import tokenizer as tokenizer_lib
from xling_jax.data.pipeline import PairSource
from xling_jax.data.plan import DataPlan
from xling_jax.decoding.beam import beam_search
from xling_jax.decoding.translate import MAX_SOURCE_LEN, bucket
from xling_jax.errors import UserError
from xling_jax.interop import ct2
from xling_jax.interop.hf import export_hf
from xling_jax.interop.marian import vocabulary
from xling_jax.model import build_model
from xling_jax.model import quantize as quantize_lib
from xling_jax.training import checkpoints
from xling_jax.training import workdir as workdir_lib
from xling_jax.training.load import load_run
from xling_jax.training.train import setup_tokenizer

INTEROP_HINT = "not installed: pip install 'xling_jax[interop]'"
DEFAULT_SHAPE = "cpu-ref"
BIBLE_LANGUAGES = {"en": "en", "eng": "en", "es": "es", "spa": "es"}  # the Bible test books' two sides
# Transformers and CTranslate2 run eagerly: a warm-up of a few rows loads their kernels and pages the
# weights in, where translating a whole batch twice would double a large model's untimed minutes.
WARMUP_ROWS = 2


def bench_config(shape: str):
    config = get_config()
    config.model.update(model_overrides(shape), **MARIAN_MODEL)
    config.tokenizer.vocab_size = SHAPES[shape]["vocab_size"]
    config.data.directions = ("en-es", "es-en")
    return config


def random_params(model, seed: int, pad_id: int):
    dummy = jnp.zeros((1, 8), jnp.int32)
    params = jax.jit(lambda r: model.init(r, dummy, dummy)["params"])(jax.random.key(seed))
    # Marian and CTranslate2 start decoding from a zero vector at the pad id; so does this model.
    emb = params["embedding"]["embedding"]
    params["embedding"]["embedding"] = emb.at[pad_id].set(0.0)
    return params


def reference_workdir(path: str, shape: str, seed: int, data: DataPlan, tokenizer_from: str | None) -> str:
    """A workdir at `path` holding a random model of the reference `shape` (tokenizer trained on the
    Bible unless copied from `tokenizer_from`)."""
    config = bench_config(shape)
    workdir = workdir_lib.prepare(path)
    if tokenizer_from:
        shutil.copy(os.path.join(tokenizer_from, tokenizer_lib.FILENAME), workdir)
    tokenizer = setup_tokenizer(config, workdir, data)
    model = build_model(config.model, tokenizer.vocab_size)
    workdir_lib.save_config(workdir, config)
    checkpoints.save_params(workdir, config, random_params(model, seed, tokenizer.pad_id))
    return workdir


def conventions(tokenizer, cfg, src: str, tgt: str) -> dict:
    """How the model writes a `src` -> `tgt` translation: source ids around the text, the forced
    target prefix (NLLB's language code), the decoder start (UserError for a language it lacks)."""
    try:
        before, after = tokenizer.source_affixes(src, tgt)
        forced = tokenizer.target_affixes(tgt)[0]
        start = tokenizer.decoder_start_id(tgt)
    except KeyError as e:
        raise UserError(f"this model has no language {e.args[0]!r} (it has {', '.join(tokenizer.languages())}); "
                        "pass --src/--tgt it knows") from None
    return {"before": list(before), "after": list(after), "forced": list(forced),
            "start": int(cfg.decoder_start_id if start is None else start)}


def max_positions(cfg) -> int:
    """Positions the exported model has (Transformers' max_position_embeddings): xling's sinusoids have
    no limit, but the other engines' tables do."""
    return min(MAX_SOURCE_LEN, cfg.max_len - (cfg.position_offset if cfg.positions == "learned" else 0))


def source_batches(tokenizer, conv: dict, data_dir: str, text_language: str, sentences: int, batch_size: int,
                   limit: int) -> tuple[list, int]:
    """(token-id lists of the first Bible test sentences in `text_language`, the model's source affixes
    around the pieces, sorted by length into batches; how many were cut to `limit` tokens)."""
    other = "es" if text_language == "en" else "en"
    pairs = PairSource(mixture.Direction("bible", text_language, other), "test", data_dir)
    texts = [pairs[i]["src"] for i in range(min(sentences, len(pairs)))]
    before, after = conv["before"], conv["after"]
    ids = [before + row + after for row in tokenizer.encode_batch(texts)]
    cut = sum(len(r) > limit for r in ids)
    ids = sorted((r if len(r) <= limit else r[:limit - len(after)] + after for r in ids), key=len)
    return [ids[i:i + batch_size] for i in range(0, len(ids), batch_size)], cut


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)  # every thread of this process
    return usage.ru_utime + usage.ru_stime


def _timed(fn, batches) -> tuple[dict, list]:
    """({seconds, cpu_seconds}, outputs): CPU time next to wall time, since on a shared machine other
    processes' load stretches the wall time of the same work (spinning threads count as CPU time)."""
    outputs, cpu, start = [], _cpu_seconds(), time.perf_counter()
    for b in batches:
        outputs.extend(fn(b))
    return {"seconds": time.perf_counter() - start, "cpu_seconds": _cpu_seconds() - cpu}, outputs


def _result(timing: dict, outputs: list, **extra) -> dict:
    tokens = sum(len(o) for o in outputs)
    return {"tokens_per_s": round(tokens / timing["seconds"], 1), "seconds": round(timing["seconds"], 2),
            "cpu_seconds": round(timing["cpu_seconds"], 2), "target_tokens": tokens, **extra}


def _reason(e: BaseException) -> str:
    return " ".join(f"{type(e).__name__}: {e}".split())[:300]


def bfloat16_model(run):
    """(model, params) of `run` with params and compute in bfloat16 (model.dtype, model.param_dtype)."""
    mc = ml_collections.ConfigDict(run.config.model.to_dict())
    mc.dtype = mc.param_dtype = "bfloat16"
    model = build_model(mc, run.tokenizer.vocab_size, run.tokenizer.target_vocab_size)
    return model, jax.tree.map(lambda x: x.astype(jnp.bfloat16), run.params)


def run_xling(model, params, batches, conv: dict, beam: int, length: int, batch_size: int):
    c, forced = model.cfg, conv["forced"]
    p = len(forced)
    # EOS is ruled out while fewer than min_len tokens follow the prefix: length + 1 forces `length`.
    search = jax.jit(functools.partial(beam_search, model=model, beam_size=beam, max_len=p + length, alpha=0.6,
                                       min_len=length + 1))
    prefix_P = np.asarray(forced, np.int32) if p else None
    start = np.int32(conv["start"])

    def translate(rows):
        src = np.full((batch_size, bucket(max(map(len, rows)))), c.pad_id, np.int32)
        for r, ids in enumerate(rows):
            src[r, :len(ids)] = ids
        tokens = np.asarray(search(params, src, None, prefix_P, start)[0][:len(rows), 0, p:])
        return [[t for t in row if t not in (c.pad_id, c.eos_id)] for row in tokens.tolist()]

    begin = time.perf_counter()
    shapes = {}
    for b in batches:  # compile each bucketed shape once
        shapes.setdefault(bucket(max(map(len, b))), b)
    for b in shapes.values():
        translate(b)
    compile_s = time.perf_counter() - begin
    timing, outputs = _timed(translate, batches)
    return _result(timing, outputs, warmup_s=round(compile_s, 1), shapes_compiled=len(shapes)), outputs


def run_transformers(hf_dir, batches, conv: dict, pad: int, eos: int, beam: int, length: int, threads: int):
    import torch
    import transformers
    torch.set_num_threads(threads)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    model = transformers.AutoModelForSeq2SeqLM.from_pretrained(hf_dir, dtype=torch.float32).eval().to(device)
    forced = conv["forced"]
    if len(forced) > 1:
        raise ValueError(f"generate() forces one first token; this model forces {len(forced)}")
    # The same search as xling's: its decoder start and forced code, pad never predicted, no EOS
    # forced at the limit, every hypothesis `len(forced) + length` tokens long.
    options = dict(num_beams=beam, min_new_tokens=len(forced) + length, max_new_tokens=len(forced) + length,
                   do_sample=False, early_stopping=False, forced_eos_token_id=None, bad_words_ids=[[pad]],
                   decoder_start_token_id=conv["start"], forced_bos_token_id=forced[0] if forced else None,
                   eos_token_id=eos, pad_token_id=pad)

    def translate(rows):
        src = torch.full((len(rows), max(map(len, rows))), pad, dtype=torch.long)
        for r, ids in enumerate(rows):
            src[r, :len(ids)] = torch.tensor(ids)
        with torch.inference_mode():
            out = model.generate(input_ids=src.to(device), attention_mask=(src != pad).long().to(device), **options)
        return [[t for t in row[1 + len(forced):] if t not in (pad, eos)] for row in out.cpu().tolist()]

    try:
        translate(batches[0][:WARMUP_ROWS])  # warm-up: eager kernels compile nothing, a few rows suffice
        timing, outputs = _timed(translate, batches)
    finally:
        model = None  # frees the weights before the next engine loads
        gc.collect()
    return _result(timing, outputs, version=transformers.__version__, device=device), outputs


def ct2_vocabulary(ct2_dir: str) -> tuple[list[str], list[str]]:
    """(source tokens, target tokens) by id of a converted CTranslate2 model."""
    def read(name):
        for ext in (".json", ".txt"):
            path = os.path.join(ct2_dir, name + ext)
            if os.path.isfile(path):
                with open(path, encoding="utf-8") as f:
                    return json.load(f) if ext == ".json" else f.read().split("\n")[:-1]
        return None
    shared = read("shared_vocabulary")
    return (shared, shared) if shared is not None else (read("source_vocabulary"), read("target_vocabulary"))


def ct2_unsupported(cfg) -> str | None:
    """Why CTranslate2's converter would misread this model, or None."""
    if cfg.decoder_heads != cfg.num_heads:
        return (f"CTranslate2's converter gives the decoder the encoder's {cfg.num_heads} attention heads; this "
                f"model's decoder has {cfg.decoder_heads}")
    return None


def ct2_prefix(ct2_dir: str, target_pieces: list[str], conv: dict) -> list[str]:
    """The target prefix that makes CTranslate2 start as xling does: the forced tokens, behind the
    decoder start when the converted model has none of its own (mBART: the prefix's first token is
    then the start, left out of the hypothesis and of the decoding length); ValueError if its own
    start differs from xling's."""
    with open(os.path.join(ct2_dir, "config.json"), encoding="utf-8") as f:
        own = json.load(f).get("decoder_start_token")
    forced = [target_pieces[i] for i in conv["forced"]]
    if conv["start"] >= len(target_pieces):  # Marian's pad, which CTranslate2 drops: it starts from its zero vector
        return forced
    if own is None:
        return [target_pieces[conv["start"]]] + forced
    if own != target_pieces[conv["start"]]:
        raise ValueError(f"the converted model starts decoding from {own!r}, xling from "
                         f"{target_pieces[conv['start']]!r}")
    return forced


def run_ctranslate2(ct2_dir, batches, conv: dict, pad: int, eos: int, beam: int, length: int, threads: int,
                    compute_type: str):
    import ctranslate2
    device = "cuda" if ctranslate2.get_cuda_device_count() > 0 else "cpu"
    source_pieces, target_pieces = ct2_vocabulary(ct2_dir)
    prefix = ct2_prefix(ct2_dir, target_pieces, conv)
    index = {}
    for i, piece in enumerate(target_pieces):
        index.setdefault(piece, i)
    translator = ctranslate2.Translator(ct2_dir, device=device, compute_type=compute_type, intra_threads=threads,
                                        inter_threads=1)
    # CTranslate2 counts the forced tokens in the decoding length, and returns them in the hypothesis.
    forced = len(conv["forced"])
    total = forced + length
    suppress = [[target_pieces[pad]]] if pad < len(target_pieces) else None  # xling never predicts pad

    def translate(rows):
        results = translator.translate_batch(
            [[source_pieces[i] for i in ids] for ids in rows], target_prefix=[prefix] * len(rows) if prefix else None,
            beam_size=beam, max_batch_size=len(rows), min_decoding_length=total, max_decoding_length=total,
            length_penalty=0.6, suppress_sequences=suppress)
        return [[t for t in (index[p] for p in r.hypotheses[0][forced:]) if t not in (pad, eos)]
                for r in results]

    translate(batches[0][:WARMUP_ROWS])
    timing, outputs = _timed(translate, batches)
    translator = None
    return _result(timing, outputs, version=ctranslate2.__version__, device=device,
                   compute_type=compute_type), outputs


def exported_ids(tokenizer, hf_dir: str) -> tuple[np.ndarray | None, np.ndarray | None]:
    """(source, target) arrays mapping xling's ids to the export's; None where they are the same.

    An export to Marian renumbers xling's own vocabulary (pad last); the other families keep ids."""
    if isinstance(tokenizer, hf_vocab.HFVocab):
        return None, None
    src_pieces, tgt_pieces, _, _, separate, _ = vocabulary(tokenizer)

    def mapping(pieces, name):
        with open(os.path.join(hf_dir, name), encoding="utf-8") as f:
            exported = json.load(f)
        return np.array([exported[p] for p in pieces])
    src = mapping(src_pieces, marian_vocab.VOCAB)
    return src, (mapping(tgt_pieces, marian_vocab.TARGET_VOCAB) if separate else src)


def _map(ids_or_rows, table):
    if table is None:
        return ids_or_rows
    return [table[np.asarray(r, np.int64)].tolist() for r in ids_or_rows]


def _agreement(outputs, reference) -> float:
    return round(sum(a == b for a, b in zip(outputs, reference)) / len(reference), 3)


def _model_summary(run) -> dict:
    c = run.model.cfg
    n_params = sum(int(np.prod(x.shape)) for x in jax.tree.leaves(run.params))
    dtypes = sorted({str(x.dtype) for x in jax.tree.leaves(run.params)})
    summary = {"params": n_params, "param_dtype": ",".join(dtypes), "vocab_size": run.tokenizer.vocab_size}
    for key in ("emb_dim", "num_layers", "decoder_layers", "num_heads", "decoder_heads", "mlp_dim", "decoder_mlp",
                "pre_ln", "positions", "activation"):
        if hasattr(c, key):
            summary[key] = getattr(c, key)
    return summary


def bench_decode(shape: str | None = None, sentences: int = 256, batch_size: int | None = None, beam: int = 4,
                 length: int | None = None, threads: int | None = None,
                 engines=("xling", "transformers", "ctranslate2"), seed: int = 0, tokenizer_from: str | None = None,
                 workdir: str | None = None, src: str = "en", tgt: str = "es", step: int | None = None,
                 quantize: tuple[str, ...] = (), bf16: bool = False) -> dict:
    """Times beam search on `workdir`'s model, or on a random model of the reference `shape` (default
    cpu-ref; `tokenizer_from`: a workdir whose vocabulary to reuse instead of training one); each mode of
    `quantize` (model/quantize.py) adds a row `xling_jax_MODE` of the same model with int8 params, and
    `bf16` a row `xling_jax_bfloat16`: its params and compute in bfloat16."""

    if workdir and (shape or tokenizer_from):
        raise UserError("--shape and --tokenizer_from build a random reference model; with --workdir the "
                        "workdir's model is timed: pass one or the other")
    for mode in quantize:
        if mode not in quantize_lib.MODES or mode == "none":
            raise UserError(f"--quantize {mode!r}: choose from {', '.join(quantize_lib.MODES[1:])}")
    unknown = set(engines) - {"xling", "transformers", "ctranslate2"}
    if unknown:
        raise UserError(f"--engines: unknown {', '.join(sorted(unknown))}; choose from xling, transformers, "
                        "ctranslate2")
    for flag, value in (("sentences", sentences), ("batch_size", batch_size), ("beam", beam), ("length", length),
                        ("threads", threads)):
        if value is not None and value < 1:
            raise UserError(f"--{flag} {value}: must be at least 1")
    if threads and threads > len(os.sched_getaffinity(0)):
        raise UserError(f"--threads {threads}: this process may use {len(os.sched_getaffinity(0))} cores")
    s = SHAPES[shape or DEFAULT_SHAPE]
    batch_size, length = batch_size or s["batch_size"], length or s["length"]
    threads = threads or len(os.sched_getaffinity(0))
    os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[:threads])  # every engine on the same cores
    data = data_plan.resolve(get_config().data)
    load_start = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        if workdir is None:
            shape = shape or DEFAULT_SHAPE
            run = load_run(reference_workdir(os.path.join(tmp, "run"), shape, seed, data, tokenizer_from))
        else:
            run = load_run(workdir, step)
        tokenizer, cfg = run.tokenizer, run.model.cfg
        conv = conventions(tokenizer, cfg, src, tgt)
        text_language = BIBLE_LANGUAGES.get(src.replace("-", "_").strip("_").split("_")[0].lower(), "en")
        limit = max_positions(cfg)
        if len(conv["forced"]) + length > limit:
            raise UserError(f"--length {length}: this model has {limit} target positions")
        batches, cut = source_batches(tokenizer, conv, data.data_dir, text_language, sentences, batch_size, limit)

        out = {"workdir": workdir, "step": run.step, "model": _model_summary(run)}
        if workdir is None:
            out["shape"] = shape
        out.update({"direction": f"{src}-{tgt}", "source_text": f"bible test ({text_language})",
                    "forced_target_prefix": conv["forced"], "decoder_start_id": conv["start"],
                    "sentences": sum(map(len, batches)), "batch_size": batch_size, "beam_size": beam,
                    "target_tokens_per_sentence": length,
                    "source_tokens_mean": round(float(np.mean([len(r) for b in batches for r in b])), 1),
                    "sources_cut_to_max_positions": cut,
                    "threads": threads, "jax_device": f"{jax.device_count()} x {jax.devices()[0].device_kind}",
                    "engines": {}})
        engines_out, others = out["engines"], {}
        xling, xling_tokens = run_xling(run.model, run.params, batches, conv, beam, length, batch_size)
        engines_out["xling_jax"] = dict(xling, params_bytes=quantize_lib.nbytes(run.params))
        xlings = {"xling_jax": xling}
        for mode in quantize:
            params = quantize_lib.quantize_params(run.model, run.params, mode)
            row, tokens = run_xling(run.model, params, batches, conv, beam, length, batch_size)
            xlings[f"xling_jax_{mode}"] = engines_out[f"xling_jax_{mode}"] = dict(
                row, params_bytes=quantize_lib.nbytes(params), same_output_as_xling=_agreement(tokens, xling_tokens))
            params = None
        if bf16:
            model16, params16 = bfloat16_model(run)
            row, tokens = run_xling(model16, params16, batches, conv, beam, length, batch_size)
            xlings["xling_jax_bfloat16"] = engines_out["xling_jax_bfloat16"] = dict(
                row, params_bytes=quantize_lib.nbytes(params16), same_output_as_xling=_agreement(tokens, xling_tokens))
            params16 = None
        wanted = [e for e in ("transformers", "ctranslate2") if e in engines]
        hf_dir = os.path.join(tmp, "hf")
        if wanted:
            try:
                warnings = export_hf(run, hf_dir)
            except UserError as e:
                for name in wanted:
                    engines_out[name] = {"skipped": f"cannot export the model: {e}"}
                wanted = []
            else:
                if warnings:
                    out["export_warnings"] = warnings
                to_src, to_tgt = exported_ids(tokenizer, hf_dir)
                hf_conv = dict(conv, before=None, after=None, forced=_map([conv["forced"]], to_tgt)[0],
                               start=int(conv["start"] if to_tgt is None else to_tgt[conv["start"]]))
                hf_batches = [_map(b, to_src) for b in batches]
                reference = _map(xling_tokens, to_tgt)
                pad = int(cfg.pad_id if to_tgt is None else to_tgt[cfg.pad_id])
                eos = int(cfg.eos_id if to_tgt is None else to_tgt[cfg.eos_id])
        run = None  # xling's params are not needed any more: the other engines get the memory
        gc.collect()
        if "transformers" in wanted:
            try:
                others["transformers"] = run_transformers(hf_dir, hf_batches, hf_conv, pad, eos, beam, length,
                                                          threads)
            except ImportError:
                engines_out["transformers"] = {"skipped": INTEROP_HINT}
            except Exception as e:  # a model Transformers cannot load or decode: say why, time the others
                engines_out["transformers"] = {"skipped": f"Transformers cannot run the export: {_reason(e)}"}
        if "ctranslate2" in wanted:
            engines_out.update(_ctranslate2(cfg, hf_dir, os.path.join(tmp, "ct2"), hf_batches, hf_conv, pad, eos,
                                            beam, length, threads, others))
        for name, (result, outputs) in others.items():
            result["same_output_as_xling"] = _agreement(outputs, reference)
            engines_out[name] = result
        for key, row in xlings.items():
            out[f"{key}_over"] = {name: round(row["tokens_per_s"] / r["tokens_per_s"], 2)
                                  for name, (r, _) in others.items()}
            # The same tokens for less CPU time: the ratio that other processes' load disturbs least.
            out[f"{key}_over_by_cpu_time"] = {name: round(r["cpu_seconds"] / row["cpu_seconds"], 2)
                                              for name, (r, _) in others.items()}
        out["load_average_1min"] = {"start": round(load_start, 2), "end": round(os.getloadavg()[0], 2)}
    return out


def _ctranslate2(cfg, hf_dir, ct2_dir, batches, conv, pad, eos, beam, length, threads, others) -> dict:
    """CTranslate2 fp32 and int8 into `others`; returns {"ctranslate2": {"skipped": why}} if it cannot run."""
    try:
        import ctranslate2  # noqa: F401  (interop/ct2.py converts with it)
    except ImportError:
        return {"ctranslate2": {"skipped": INTEROP_HINT}}
    why = ct2_unsupported(cfg)
    if why:
        return {"ctranslate2": {"skipped": f"not converted: {why}"}}
    try:
        ct2.convert(hf_dir, ct2_dir)
    except Exception as e:  # the converter's own refusals (architecture, activation, ...) come in many kinds
        return {"ctranslate2": {"skipped": f"CTranslate2's converter cannot convert the export: {_reason(e)}"}}
    gc.collect()
    try:
        for compute_type in ("float32", "int8"):
            others[f"ctranslate2_{compute_type.replace('float32', 'fp32')}"] = run_ctranslate2(
                ct2_dir, batches, conv, pad, eos, beam, length, threads, compute_type)
    except ValueError as e:
        return {"ctranslate2": {"skipped": f"cannot decode as xling does: {e}"}}
    except RuntimeError as e:  # CTranslate2's own refusals at run time
        return {"ctranslate2": {"skipped": f"CTranslate2 cannot run the converted model: {_reason(e)}"}}
    return {}
