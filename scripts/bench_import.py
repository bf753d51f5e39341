"""Wall time and peak memory of `xling import hf` on an NLLB-600M-shaped model (issue 22's goal: under
60 s and a peak RSS under twice the weights file, on 2 CPU cores).

    python scripts/bench_import.py --folder /tmp/nllb600m --root /tmp/imports [--dtype float32 bfloat16] [--keep]

The folder is built once when missing: a random M2M100ForConditionalGeneration with the shape of
facebook/nllb-200-distilled-600M (d_model 1024, 12+12 layers, 16 heads, FFN 4096, vocabulary
256206, scaled embeddings, ReLU, 1024 positions, tied), saved by Transformers as float32
safetensors (about 2.46 GB), with an NLLB tokenizer built as tests/hf_models.py builds it over a
sentencepiece model of --pieces pieces trained on the Bible (the model's vocabulary may exceed the
tokenizer's). Each import runs in a fresh process; its peak
resident memory comes from the kernel's accounting of that child (wait4). Prints one JSON object.
--keep leaves the workdirs (ROOT/nllb600m_DTYPE), e.g. for `xling bench decode --workdir`.
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


def bible_bpe(pieces: int) -> bytes:
    """A sentencepiece BPE model of `pieces` trained on the Bible's English and Spanish train text, so
    that sources have about the lengths a real NLLB tokenizer gives them (tests/hf_models.py's
    160-piece model spells most words out, making sources several times longer)."""
    import io
    import sentencepiece as spm
    from xling_jax.data import mixture, registry
    from xling_jax.data.pipeline import PairSource
    data_dir = registry.ensure_built("bible")
    pairs = PairSource(mixture.Direction("bible", "en", "es"), "train", data_dir)
    texts = [t for i in range(len(pairs)) for t in (pairs[i]["src"], pairs[i]["tgt"])]
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(sentence_iterator=iter(texts), model_writer=model, vocab_size=pieces,
                                   model_type="bpe", minloglevel=2, num_threads=2, character_coverage=1.0)
    return model.getvalue()


def build(folder: str, pieces: int, seed: int = 0) -> None:
    import torch
    import transformers
    sys.path.insert(0, os.path.join(REPO, "tests"))
    import hf_models
    os.makedirs(folder, exist_ok=True)
    hf_models.make_tokenizer("nllb", folder, bible_bpe(pieces) if pieces else hf_models.spm_bpe())
    torch.manual_seed(seed)
    model = transformers.M2M100ForConditionalGeneration(transformers.M2M100Config(**NLLB_600M)).eval()
    model.save_pretrained(folder)


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
    p.add_argument("--folder", required=True, help="the random NLLB-600M-shaped model (built here if missing)")
    p.add_argument("--root", required=True, help="where the workdirs are written (ROOT/nllb600m_DTYPE)")
    p.add_argument("--dtype", nargs="+", default=["float32", "bfloat16"], choices=["float32", "bfloat16"])
    p.add_argument("--keep", action="store_true", help="leave the workdirs")
    p.add_argument("--pieces", type=int, default=8000, help="tokenizer pieces (0: tests/hf_models.py's tiny one)")
    p.add_argument("--build_only", action="store_true")
    args = p.parse_args()
    weights = os.path.join(args.folder, "model.safetensors")
    built_s = None
    if not os.path.isfile(weights):
        start = time.perf_counter()
        build(args.folder, args.pieces)
        built_s = round(time.perf_counter() - start, 1)
    if args.build_only:
        print(json.dumps({"folder": args.folder, "built_s": built_s}))
        return
    file_gb = os.path.getsize(weights) / 1e9
    out = {"folder": args.folder, "weights_file_gb": round(file_gb, 2), "built_s": built_s, "cpu_cores":
           len(os.sched_getaffinity(0)), "goal": {"wall_s": 60, "peak_rss_gb": round(2 * file_gb, 2)}, "imports": []}
    for dtype in args.dtype:
        workdir = os.path.join(args.root, f"nllb600m_{dtype}")
        shutil.rmtree(workdir, ignore_errors=True)
        result = timed_import(args.folder, workdir, dtype)
        result["meets_goal"] = result["wall_s"] < 60 and result["peak_rss_gb"] < 2 * file_gb
        out["imports"].append(result)
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
