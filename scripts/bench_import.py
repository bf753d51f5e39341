"""Wall time and peak memory of `xling import hf` on a pretrained-sized model (the goal of issues 22
and 23: under 60 s and a peak RSS under twice the weights file, on 2 CPU cores).

    python scripts/bench_import.py --folder /tmp/nllb600m --root /tmp/imports [--dtype float32 bfloat16] [--keep]
    python scripts/bench_import.py --shape mt5base --folder /tmp/mt5base --root /tmp/imports

The folder is built once when missing: a random Transformers model of --shape, saved as float32
safetensors, with the family's tokenizer (built as xling_jax/interop/hf_random.py builds it) over a
sentencepiece model of --pieces pieces trained on the Bible, so that sources have realistic
lengths (the model's vocabulary may exceed the tokenizer's). Shapes:
  nllb600m: facebook/nllb-200-distilled-600M (d_model 1024, 12+12 layers, 16 heads, FFN 4096,
            vocabulary 256206, scaled embeddings, ReLU, 1024 positions, tied; 615M params, 2.46 GB)
  mt5base:  google/mt5-base (d_model 768, 12+12 layers, 12 heads of 64, gated-GELU FFN 2048,
            vocabulary 250112, 32 relative buckets up to 128, untied; 582M params, 2.33 GB)
Each import runs in a fresh process; its peak resident memory comes from the kernel's accounting of
that child (wait4). Prints one JSON object. --keep leaves the workdirs (ROOT/SHAPE_DTYPE), e.g. for
`xling bench decode --workdir`.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NLLB_600M = dict(d_model=1024, encoder_layers=12, decoder_layers=12, encoder_attention_heads=16,
                 decoder_attention_heads=16, encoder_ffn_dim=4096, decoder_ffn_dim=4096, vocab_size=256206,
                 max_position_embeddings=1024, scale_embedding=True, activation_function="relu",
                 tie_word_embeddings=True, pad_token_id=1, bos_token_id=0, eos_token_id=2, decoder_start_token_id=2,
                 dropout=0.1, attention_dropout=0.1, activation_dropout=0.0)
MT5_BASE = dict(d_model=768, d_kv=64, d_ff=2048, num_heads=12, num_layers=12, num_decoder_layers=12,
                vocab_size=250112, relative_attention_num_buckets=32, relative_attention_max_distance=128,
                feed_forward_proj="gated-gelu", tie_word_embeddings=False, dropout_rate=0.1, pad_token_id=0,
                eos_token_id=1, decoder_start_token_id=0)
# shape -> (tokenizer family, Transformers model class, config class, config)
SHAPES = {"nllb600m": ("nllb", "M2M100ForConditionalGeneration", "M2M100Config", NLLB_600M),
          "mt5base": ("mt5", "MT5ForConditionalGeneration", "MT5Config", MT5_BASE)}


def bible_spm(pieces: int, t5: bool = False) -> bytes:
    """A sentencepiece BPE model of `pieces` trained on the Bible's English and Spanish train text, so
    that sources have about the lengths a real tokenizer gives them (hf_random's 160-piece model
    spells most words out, making sources several times longer); with T5's ids when `t5`."""
    import io

    import sentencepiece as spm

    from xling_jax.data import catalog, mixture
    from xling_jax.data.pipeline import PairSource
    data_dir = catalog.ensure_built("bible")
    pairs = PairSource(mixture.Direction("bible", "en", "es"), "train", data_dir)
    texts = [t for i in range(len(pairs)) for t in (pairs[i]["src"], pairs[i]["tgt"])]
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(sentence_iterator=iter(texts), model_writer=model, vocab_size=pieces,
                                   model_type="bpe", minloglevel=2, num_threads=2, character_coverage=1.0,
                                   **(dict(pad_id=0, eos_id=1, unk_id=2, bos_id=-1) if t5 else {}))
    return model.getvalue()


def build(shape: str, folder: str, pieces: int, seed: int = 0) -> None:
    import torch
    import transformers

    from xling_jax.interop import hf_random
    family, model_cls, config_cls, config = SHAPES[shape]
    t5 = family == "mt5"
    os.makedirs(folder, exist_ok=True)
    proto = bible_spm(pieces, t5) if pieces else (hf_random.spm_t5() if t5 else hf_random.spm_bpe())
    hf_random.make_tokenizer(family, folder, proto)
    torch.manual_seed(seed)
    model = getattr(transformers, model_cls)(getattr(transformers, config_cls)(**config)).eval()
    model.save_pretrained(folder)
    if not config.get("tie_word_embeddings", True):  # Transformers v5 saved it tied: give it its own output
        hf_random.untie_output(folder, seed)


def timed_import(folder: str, workdir: str, dtype: str) -> dict:
    cmd = [sys.executable, "-m", "xling_jax.cli.main", "import", "hf", folder, "--workdir", workdir, "--dtype", dtype]
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed with status {proc.returncode}")
    size = sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(workdir) for f in files)
    return {"dtype": dtype, "wall_s": round(wall, 1), "peak_rss_gb": round(usage.ru_maxrss * 1024 / 1e9, 2),
            "user_s": round(usage.ru_utime, 1), "system_s": round(usage.ru_stime, 1),
            "workdir_gb": round(size / 1e9, 2)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--shape", default="nllb600m", choices=sorted(SHAPES))
    p.add_argument("--folder", required=True, help="the random model of --shape (built here if missing)")
    p.add_argument("--root", required=True, help="where the workdirs are written (ROOT/SHAPE_DTYPE)")
    p.add_argument("--dtype", nargs="+", default=["float32", "bfloat16"], choices=["float32", "bfloat16"])
    p.add_argument("--keep", action="store_true", help="leave the workdirs")
    p.add_argument("--pieces", type=int, default=8000, help="tokenizer pieces (0: hf_random's tiny one)")
    p.add_argument("--build_only", action="store_true")
    args = p.parse_args()
    weights = os.path.join(args.folder, "model.safetensors")
    built_s = None
    if not os.path.isfile(weights):
        start = time.perf_counter()
        build(args.shape, args.folder, args.pieces)
        built_s = round(time.perf_counter() - start, 1)
    if args.build_only:
        print(json.dumps({"folder": args.folder, "built_s": built_s}))
        return
    file_gb = os.path.getsize(weights) / 1e9
    out = {"shape": args.shape, "folder": args.folder, "weights_file_gb": round(file_gb, 2), "built_s": built_s, "cpu_cores":
           len(os.sched_getaffinity(0)), "goal": {"wall_s": 60, "peak_rss_gb": round(2 * file_gb, 2)}, "imports": []}
    for dtype in args.dtype:
        workdir = os.path.join(args.root, f"{args.shape}_{dtype}")
        shutil.rmtree(workdir, ignore_errors=True)
        result = timed_import(args.folder, workdir, dtype)
        result["meets_goal"] = result["wall_s"] < 60 and result["peak_rss_gb"] < 2 * file_gb
        out["imports"].append(result)
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
