"""`xling bench decode`: beam-search target tokens/s of xling next to Transformers and CTranslate2.

One process, one model: a randomly initialised Marian-architecture model of a reference shape
(post-LN, Marian's sinusoids, swish, final logits bias, tied embeddings) is built in xling,
exported with `export_marian`, and the export is what Transformers' `generate()` and CTranslate2
(converted once, run in fp32 and int8) decode. All engines translate the same source batches (the
first sentences of the Bible test books, sorted by length, in batches of `batch_size`) with the
same beam size and a forced output length (EOS is ruled out until then), on the same cores.
Each engine is warmed up (xling compiles every batch shape first) and then timed over all batches.

Random weights make meaningless translations but an honest cost: with the output length forced,
the work per token is that of a trained model. Outputs are compared token by token across
engines (`same_output_as_xling`): fp32 engines agree up to float rounding on near-ties.
"""
import functools
import json
import os
import shutil
import tempfile
import time

import jax
import jax.numpy as jnp
import numpy as np

from xling_jax.bench.shapes import MARIAN_MODEL, SHAPES, model_overrides
from xling_jax.configs.default import get_config
from xling_jax.data import mixture, tokenizer as tokenizer_lib
from xling_jax.data.pipeline import PairSource
from xling_jax.decoding.beam import beam_search
from xling_jax.decoding.translate import bucket
from xling_jax.model import build_model
from xling_jax.training import checkpoints, workdir as workdir_lib
from xling_jax.training.train import setup_tokenizer

INTEROP_HINT = "not installed: pip install 'xling_jax[interop]'"


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


def source_batches(tokenizer, data_dir: str, sentences: int, batch_size: int, src="en", tgt="es"):
    """Token-id lists (target tag, pieces, EOS) of the first test sentences, sorted into batches."""
    pairs = PairSource(mixture.Direction("bible", src, tgt), "test", data_dir)
    texts = [pairs[i]["src"] for i in range(min(sentences, len(pairs)))]
    prefix = tokenizer.source_prefix(tgt)
    ids = sorted((prefix + row + [tokenizer.eos_id] for row in tokenizer.encode_batch(texts)), key=len)
    return [ids[i:i + batch_size] for i in range(0, len(ids), batch_size)]


def _timed(fn, batches) -> tuple[float, list]:
    outputs, start = [], time.perf_counter()
    for b in batches:
        outputs.extend(fn(b))
    return time.perf_counter() - start, outputs


def _result(seconds: float, outputs: list, **extra) -> dict:
    tokens = sum(len(o) for o in outputs)
    return {"tokens_per_s": round(tokens / seconds, 1), "seconds": round(seconds, 2), "target_tokens": tokens,
            **extra}


def run_xling(model, params, batches, pad_id: int, eos_id: int, beam: int, length: int, batch_size: int):
    # EOS is ruled out while fewer than min_len tokens exist: length + 1 forces `length` tokens.
    search = jax.jit(functools.partial(beam_search, model=model, beam_size=beam, max_len=length, alpha=0.6,
                                       min_len=length + 1))

    def translate(rows):
        src = np.full((batch_size, bucket(max(map(len, rows)))), pad_id, np.int32)
        for r, ids in enumerate(rows):
            src[r, :len(ids)] = ids
        tokens = np.asarray(search(params, src)[0][:len(rows), 0])
        return [[t for t in row if t not in (pad_id, eos_id)] for row in tokens.tolist()]

    start = time.perf_counter()
    shapes = {}
    for b in batches:  # compile each bucketed shape once
        shapes.setdefault(bucket(max(map(len, b))), b)
    for b in shapes.values():
        translate(b)
    compile_s = time.perf_counter() - start
    seconds, outputs = _timed(translate, batches)
    return _result(seconds, outputs, warmup_s=round(compile_s, 1), shapes_compiled=len(shapes)), outputs


def run_transformers(hf_dir, batches, beam: int, length: int, threads: int):
    import torch
    import transformers
    torch.set_num_threads(threads)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    model = transformers.MarianMTModel.from_pretrained(hf_dir).eval().to(device)
    pad = model.config.pad_token_id

    def translate(rows):
        src = torch.full((len(rows), max(map(len, rows))), pad, dtype=torch.long)
        for r, ids in enumerate(rows):
            src[r, :len(ids)] = torch.tensor(ids)
        with torch.inference_mode():
            out = model.generate(input_ids=src.to(device), attention_mask=(src != pad).long().to(device),
                                 num_beams=beam, min_new_tokens=length, max_new_tokens=length, do_sample=False,
                                 early_stopping=False, forced_eos_token_id=None)
        eos = model.config.eos_token_id
        return [[t for t in row[1:] if t not in (pad, eos)] for row in out.cpu().tolist()]

    translate(batches[0])  # warm-up
    seconds, outputs = _timed(translate, batches)
    return _result(seconds, outputs, version=transformers.__version__, device=device), outputs


def run_ctranslate2(ct2_dir, batches, pieces, beam: int, length: int, threads: int, compute_type: str):
    import ctranslate2
    device = "cuda" if ctranslate2.get_cuda_device_count() > 0 else "cpu"
    translator = ctranslate2.Translator(ct2_dir, device=device, compute_type=compute_type, intra_threads=threads,
                                        inter_threads=1)
    index = {p: i for i, p in enumerate(pieces)}

    def translate(rows):
        results = translator.translate_batch([[pieces[i] for i in ids] for ids in rows], beam_size=beam,
                                             max_batch_size=len(rows), min_decoding_length=length,
                                             max_decoding_length=length, length_penalty=0.6)
        return [[index[p] for p in r.hypotheses[0]] for r in results]

    translate(batches[0])
    seconds, outputs = _timed(translate, batches)
    return _result(seconds, outputs, version=ctranslate2.__version__, device=device,
                   compute_type=compute_type), outputs


def _agreement(outputs, reference) -> float:
    return round(sum(a == b for a, b in zip(outputs, reference)) / len(reference), 3)


def bench_decode(shape: str = "cpu-ref", sentences: int = 256, batch_size: int | None = None, beam: int = 4,
                 length: int | None = None, threads: int | None = None, engines=("xling", "transformers",
                                                                              "ctranslate2"),
                 seed: int = 0, tokenizer_from: str | None = None) -> dict:
    """`tokenizer_from`: a workdir whose vocabulary to reuse instead of training one on the Bible."""
    from xling_jax.interop.marian import vocabulary, export_marian

    s = SHAPES[shape]
    batch_size, length = batch_size or s["batch_size"], length or s["length"]
    threads = threads or len(os.sched_getaffinity(0))
    os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[:threads])  # every engine on the same cores
    config = bench_config(shape)
    with tempfile.TemporaryDirectory() as tmp:
        workdir = workdir_lib.prepare(os.path.join(tmp, "run"))
        data_dir = mixture.ensure_built(config.data)
        if tokenizer_from:
            shutil.copy(os.path.join(tokenizer_from, tokenizer_lib.FILENAME), workdir)
        tokenizer = setup_tokenizer(config, workdir, data_dir)
        model = build_model(config.model, tokenizer.vocab_size)
        params = random_params(model, seed, tokenizer.pad_id)
        workdir_lib.save_config(workdir, config)
        checkpoints.save_params(workdir, config, params)
        batches = source_batches(tokenizer, data_dir, sentences, batch_size)

        out = {"shape": shape, "model": dict(model_overrides(shape), vocab_size=tokenizer.vocab_size, **MARIAN_MODEL),
               "sentences": sum(map(len, batches)), "batch_size": batch_size, "beam_size": beam,
               "target_tokens_per_sentence": length,
               "source_tokens_mean": round(float(np.mean([len(r) for b in batches for r in b])), 1),
               "threads": threads, "jax_device": f"{jax.device_count()} x {jax.devices()[0].device_kind}",
               "engines": {}}
        engines_out = out["engines"]
        xling, xling_tokens = run_xling(model, params, batches, tokenizer.pad_id, tokenizer.eos_id, beam, length,
                                        batch_size)
        engines_out["xling_jax"] = xling
        others = {}
        if "transformers" in engines or "ctranslate2" in engines:
            hf_dir = os.path.join(tmp, "hf")
            export_marian(workdir, hf_dir)
            # The export renumbers ids (pad last): map xling's ids to the exported ones and back.
            exported = json.load(open(os.path.join(hf_dir, "vocab.json"), encoding="utf-8"))
            to_hf = np.array([exported[p] for p in vocabulary(tokenizer)[0]])
            hf_pieces = sorted(exported, key=exported.get)
            hf_batches = [[to_hf[ids].tolist() for ids in b] for b in batches]
            reference = [to_hf[ids].tolist() for ids in xling_tokens]
        if "transformers" in engines:
            try:
                others["transformers"] = run_transformers(hf_dir, hf_batches, beam, length, threads)
            except ImportError:
                engines_out["transformers"] = {"skipped": INTEROP_HINT}
        if "ctranslate2" in engines:
            try:
                from ctranslate2.converters import TransformersConverter
                ct2_dir = os.path.join(tmp, "ct2")
                TransformersConverter(hf_dir).convert(ct2_dir, force=True)
                for compute_type in ("float32", "int8"):
                    others[f"ctranslate2_{compute_type.replace('float32', 'fp32')}"] = run_ctranslate2(
                        ct2_dir, hf_batches, hf_pieces, beam, length, threads, compute_type)
            except ImportError:
                engines_out["ctranslate2"] = {"skipped": INTEROP_HINT}
        for name, (result, outputs) in others.items():
            result["same_output_as_xling"] = _agreement(outputs, reference)
            engines_out[name] = result
        out["xling_jax_over"] = {name: round(xling["tokens_per_s"] / r["tokens_per_s"], 2)
                                 for name, (r, _) in others.items()}
    return out
