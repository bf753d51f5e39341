"""`xling`: data, train, classify, translate, score, backtranslate, eval, attention, bench, import, export.

Errors a user can fix print one line (`xling: error: ...`) and exit with status 2.
Each command imports what it runs inside its own function (as cli/data.py and cli/attention.py do):
lazily, for start-up time, so that `xling --help` and a bad flag answer without loading JAX and a model's
libraries. The package layers are in xling_jax/__init__.py.
"""
import argparse
import json
import os
import sys

from xling_jax import log
from xling_jax.bench.shapes import SHAPES
from xling_jax.bench.torch_ref import PRECISIONS as TORCH_PRECISIONS
from xling_jax.cli import attention as cli_attention
from xling_jax.cli import data as cli_data
from xling_jax.cli import search as cli_search
from xling_jax.errors import UserError
from xling_jax.training import distributed


def _split_config_overrides(argv: list[str]) -> tuple[list[str], dict[str, str]]:
    """Pulls `--config.KEY=VALUE` (or `--config.KEY VALUE`) out of argv."""
    rest, overrides, i = [], {}, 0
    while i < len(argv):
        arg = argv[i]
        if arg.startswith("--config."):
            key, eq, value = arg[len("--config."):].partition("=")
            if not eq:
                if i + 1 >= len(argv):
                    raise UserError(f"{arg} needs a value: {arg}=VALUE")
                value, i = argv[i + 1], i + 1
            overrides[key] = value
        else:
            rest.append(arg)
        i += 1
    return rest, overrides


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="xling", description="Cross-lingual encoder-decoder models in JAX/Flax.",
                                epilog="--verbosity LEVEL (anywhere on the command line): the diagnostics shown, "
                                       f"one of {', '.join(log.LEVELS)} (default {log.DEFAULT_LEVEL})")
    sub = p.add_subparsers(dest="command", required=True)

    cli_data.add_parsers(sub)

    train = sub.add_parser("train", help="train (or resume) a model",
                           epilog="Any config key can be set with --config.KEY=VALUE, e.g. --config.train.steps=100")
    train.add_argument("--config", default=None, help="Python config file with get_config() (default: the "
                                                      "English<->Spanish Bible model)")
    train.add_argument("--workdir", required=True, help="run directory: checkpoints, metrics, tokenizer")
    distributed.add_flags(train)

    cl = sub.add_parser("classify", help="train (or resume) a help-module classifier on libreoffice_help and "
                                         "score it per language (zero-shot where not trained)",
                        epilog="Any config key can be set with --config.KEY=VALUE, e.g. "
                               "--config.init_from.workdir=runs/lo_translate (see config.classify)")
    cl.add_argument("--config", default=None, help="Python config file with get_config() (default: the default "
                                                  "config; e.g. experiments/libreoffice_classify.py)")
    cl.add_argument("--workdir", required=True, help="run directory: checkpoints, metrics, classify_results.json")
    distributed.add_flags(cl)

    tr = sub.add_parser("translate", help="translate stdin (or --input) line by line")
    tr.add_argument("--workdir", required=True)
    tr.add_argument("--src", required=True, help="source language code")
    tr.add_argument("--tgt", required=True, help="target language code")
    tr.add_argument("--input", default=None, help="file to translate (default: stdin)")
    tr.add_argument("--output", default=None, help="file to write (default: stdout)")
    _add_decode_flags(tr)

    sc = sub.add_parser("score", help="log-probability of given translations: one number per `source<TAB>target` "
                                      "line",
                        description="Reads `source<TAB>target` lines (stdin or --input) and writes, one line each, "
                                    "the sum of the natural-log probabilities of the target's tokens and its EOS "
                                    "given the source (a forced first token such as NLLB's language code is fed, "
                                    "not scored). A line without a tab gives nan and a report on stderr.")
    sc.add_argument("--workdir", required=True)
    sc.add_argument("--src", required=True, help="source language code")
    sc.add_argument("--tgt", required=True, help="target language code")
    sc.add_argument("--input", default=None, help="file of source<TAB>target lines (default: stdin)")
    sc.add_argument("--output", default=None, help="file to write (default: stdout)")
    sc.add_argument("--step", default=None, help="checkpoint step, or `best` (default: latest)")
    sc.add_argument("--batch_size", type=int, default=64, help="pairs per batch")
    sc.add_argument("--quantize", default="none", metavar="MODE",
                    help="score with int8 params: int8 (weights and activations), int8-weights (weight-only)")

    bt = sub.add_parser("backtranslate", help="translate monolingual text into synthetic sources: a "
                                              "back-translated dataset parallel_text/NAME",
                        description="Translates --input (text in --tgt, the language the final model writes) "
                                    "into --src with a trained run, and builds the pairs as parallel_text/NAME "
                                    "with its --src side marked synthetic. Train on it with data.mixture entry "
                                    "parallel_text/NAME:SRC-TGT (sources tagged <BT>, share set by "
                                    "data.bt_ratio).")
    bt.add_argument("--workdir", required=True, help="a trained run that translates --tgt into --src")
    bt.add_argument("--src", required=True, help="language of the synthetic sources (what the run writes)")
    bt.add_argument("--tgt", required=True, help="language of --input (the real targets)")
    bt.add_argument("--input", required=True, help="monolingual text, one sentence or paragraph a line")
    bt.add_argument("--out", required=True, help="folder to write train.SRC, train.TGT and backtranslation.json")
    bt.add_argument("--name", default=None, help="dataset name: it becomes parallel_text/NAME (default: --out's "
                                                 "folder name)")
    bt.add_argument("--data_dir", default="", help="where the dataset is built (default: $XLING_DATA_DIR or "
                                                   "~/.cache/xling_jax/datasets)")
    bt.add_argument("--step", default=None, help="checkpoint step, or `best` (default: latest)")
    _add_decode_flags(bt)

    ds = sub.add_parser("distill", help="sequence-level knowledge distillation: a teacher's translations of a "
                                        "dataset's sources as a distilled dataset parallel_text/NAME",
                        description="Translates the --split sources of --dataset, in each direction the teacher "
                                    "trains on it (or --directions), and builds the pairs (source, teacher's "
                                    "translation) as parallel_text/NAME, marked distilled. A student trains on it "
                                    "with data.mixture entries parallel_text/NAME:SRC-TGT, alone or beside the "
                                    "real pairs (share: data.distill_ratio), and is scored on --dataset's "
                                    "references.")
    ds.add_argument("--teacher", required=True, help="workdir of the trained run that translates")
    ds.add_argument("--dataset", required=True, help="the dataset whose sources are translated, e.g. bible")
    ds.add_argument("--split", default="train", help="whose sources (default: train): every pair of it, whatever "
                                                     "data.train_pairs the teacher had; they become the train split")
    ds.add_argument("--out", required=True, help="dataset name: it becomes parallel_text/NAME (its files: "
                                                 "DATA_DIR/distilled/NAME/)")
    ds.add_argument("--directions", default="", help="comma-separated SRC-TGT (default: the teacher's on --dataset)")
    ds.add_argument("--data_dir", default="", help="where the datasets are (default: $XLING_DATA_DIR or "
                                                   "~/.cache/xling_jax/datasets)")
    ds.add_argument("--step", default=None, help="the teacher's checkpoint step, or `best` (default: latest)")
    _add_decode_flags(ds)

    ev = sub.add_parser("eval", help="sacreBLEU and chrF++ per direction on a dataset split")
    ev.add_argument("--workdir", required=True)
    ev.add_argument("--split", default="test")
    ev.add_argument("--data_dir", default="")
    ev.add_argument("--limit", type=int, default=0, help="only the first N examples (0: all)")
    ev.add_argument("--step", default=None, help="checkpoint step, or `best` (best dev BLEU; default: latest)")
    ev.add_argument("--compare", default=None, metavar="OTHER_WORKDIR",
                    help="also score OTHER_WORKDIR's hypotheses of the same split (evaluate it first) and "
                         "print both scores, the difference and the paired-bootstrap p-value")
    ev.add_argument("--dataset", default=None, help="score on this dataset instead (default: the run's own); "
                                                    "results go to WORKDIR/eval/SPLIT/DATASET/")
    ev.add_argument("--directions", default="", help="comma-separated SRC-TGT to score instead of the run's "
                                                     "own, e.g. es-de,de-fr,fr-zh (zero-shot directions)")
    ev.add_argument("--pivot", default=None, metavar="LANG",
                    help="also translate each direction through LANG with the same model (src->LANG->tgt) "
                         "and score it next to the direct translation")
    _add_decode_flags(ev)

    cli_attention.add_parser(sub, _add_decode_flags)
    cli_search.add_parsers(sub)

    sw = sub.add_parser("sweep", help="run a sweep (train, then score on final_eval.split) or print one "
                                      "command per run",
                        epilog="--config.KEY=VALUE applies to every run. Rerunning skips finished runs and resumes "
                               "the others from their checkpoints.")
    sw.add_argument("sweep_file", help="Python file with get_config() and get_sweep() (FILE.py:ARG passes ARG "
                                       "to get_config), e.g. experiments/ablations/pre_ln.py")
    sw.add_argument("--root", default=None, help="folder of the runs, one subfolder each (default: "
                                                 "runs/SWEEP_FILE_NAME)")
    sw.add_argument("--parallel", type=int, default=1, help="runs at a time, as subprocesses (default 1: one "
                                                           "after another in this process)")
    sw.add_argument("--print-commands", action="store_true", help="print one self-contained shell command per "
                                                                  "run (for any scheduler) and exit")
    sw.add_argument("--run", default=None, metavar="NAME", help="run (or resume) only this run")

    cmp = sub.add_parser("compare", help="compare runs: mean ± std over seeds, paired bootstrap against a "
                                         "baseline, plots (report.md, report.html, *.png)")
    cmp.add_argument("dirs", nargs="+", help="run workdirs or sweep roots (searched for runs)")
    cmp.add_argument("--baseline", default=None, help="a run workdir: its configuration is the baseline "
                                                     "(default: the first configuration)")
    cmp.add_argument("--out", default=None, help="report folder (default: DIR/compare for one DIR)")
    cmp.add_argument("--samples", type=int, default=1000, help="bootstrap resamples")

    imp = sub.add_parser("import", help="bring a model from another toolkit into a new workdir").add_subparsers(
        dest="import_command", required=True)
    im = imp.add_parser("marian", help="a Marian/OPUS-MT model in Hugging Face format (MarianMTModel)")
    im.add_argument("hf_dir", help="directory with config.json, model.safetensors, source.spm, target.spm, vocab.json")
    im.add_argument("--workdir", required=True, help="new run directory to write")
    im.add_argument("--src", default=None, help="source language code (default: tokenizer_config.json's)")
    im.add_argument("--tgt", default=None, help="target language code (default: tokenizer_config.json's, or "
                                                "a multilingual model's >>xx<< codes)")
    ih = imp.add_parser("hf", help="a pretrained Hugging Face encoder-decoder: NLLB-200 / M2M100, mBART-25/50 or "
                                   "Marian (picked by config.json's model_type)",
                        epilog="--config.KEY=VALUE sets keys of the written config other than model and tokenizer "
                               "(e.g. --config.mesh.fsdp=8: params are placed with those shardings as they load)")
    ih.add_argument("source", help="a model folder (config.json, model.safetensors or pytorch_model.bin, tokenizer "
                                   "files) or a Hub id such as facebook/nllb-200-distilled-600M (downloaded where "
                                   "the internet is reachable)")
    ih.add_argument("--workdir", required=True, help="new run directory to write")
    ih.add_argument("--dtype", choices=["float32", "bfloat16"], default="float32",
                    help="dtype params are stored and restored in (bfloat16 halves memory; default float32)")
    ih.add_argument("--language_map", default="", metavar="CODE=MODEL_CODE,...",
                    help="language codes of your data mapped to the model's, e.g. zh=zho_Hans (where a code is "
                         "ambiguous for the model)")
    exp = sub.add_parser("export", help="write a trained model in another toolkit's format").add_subparsers(
        dest="export_command", required=True)
    em = exp.add_parser("marian", help="Hugging Face Marian format (Transformers, CTranslate2)")
    em.add_argument("--workdir", required=True)
    em.add_argument("--out", required=True, help="directory to write")
    em.add_argument("--step", type=int, default=None, help="checkpoint step (default: latest)")
    eh = exp.add_parser("hf", help="Hugging Face format in the run's own family (an imported NLLB/M2M100/mBART), "
                                   "else Marian: AutoModelForSeq2SeqLM, AutoTokenizer and CTranslate2 read it")
    eh.add_argument("--workdir", required=True)
    eh.add_argument("--out", required=True, help="directory to write")
    eh.add_argument("--step", type=int, default=None, help="checkpoint step (default: latest)")

    bench = sub.add_parser("bench", help="benchmarks").add_subparsers(dest="bench_command", required=True)
    bd = bench.add_parser("data", help="input pipeline tokens/s next to the train step's consumption",
                          epilog="Any config key can be set with --config.KEY=VALUE")
    bd.add_argument("--config", default=None, help="Python config file (default: the default config)")
    bd.add_argument("--workdir", default="", help="where the tokenizer is (trained there if missing); "
                                                  "default: a temporary folder")
    bd.add_argument("--batches", type=int, default=50, help="pipeline batches to time")
    bdec = bench.add_parser("decode", help="beam-search target tokens/s: xling vs Transformers and CTranslate2 on "
                                           "the same exported weights")
    bdec.add_argument("--workdir", default=None,
                      help="time this run's model (trained, or imported from Marian, NLLB/M2M100, mBART); "
                           "default: a random model of --shape")
    bdec.add_argument("--step", type=int, default=None, help="with --workdir: checkpoint step (default: latest)")
    bdec.add_argument("--src", default="en", help="source language (the model's code or ISO 639; Bible test "
                                                  "sentences in English, or Spanish for es)")
    bdec.add_argument("--tgt", default="es", help="target language (the model's code or ISO 639)")
    bdec.add_argument("--shape", default=None, choices=list(SHAPES),
                      help="without --workdir: reference model shape (a random Marian-architecture model; "
                           "default cpu-ref)")
    bdec.add_argument("--sentences", type=int, default=256, help="Bible test sentences translated")
    bdec.add_argument("--batch_size", type=int, default=None, help="default: the shape's (32 for cpu-ref and "
                                                                   "workdirs)")
    bdec.add_argument("--beam", type=int, default=4)
    bdec.add_argument("--length", type=int, default=None, help="forced target tokens (default: the shape's, 64)")
    bdec.add_argument("--threads", type=int, default=None, help="CPU cores for every engine (default: all)")
    bdec.add_argument("--engines", default="xling,transformers,ctranslate2", help="comma-separated")
    bdec.add_argument("--quantize", default="", metavar="MODE[,MODE]",
                      help="also time xling with int8 params: int8 (weights and activations), int8-weights "
                           "(weight-only); each mode is a row beside xling's float one")
    bdec.add_argument("--bf16", action="store_true", help="also time xling with bfloat16 params and compute "
                                                          "(a row xling_jax_bfloat16)")
    bdec.add_argument("--tokenizer_from", default=None, metavar="WORKDIR",
                      help="without --workdir: reuse WORKDIR's tokenizer.model instead of training one on the Bible")
    btr = bench.add_parser("train", help="train-step time, tokens/s, FLOPs and MFU of a reference shape "
                                         "(optionally next to PyTorch eager)",
                           epilog="Any config key can be set with --config.KEY=VALUE (after the shape), e.g. "
                                  "--config.model.dtype=bfloat16")
    btr.add_argument("--shape", default="cpu-ref", choices=list(SHAPES), help="model size, vocabulary, batch, length")
    btr.add_argument("--config", default=None, help="Python config file (default: the default config)")
    btr.add_argument("--steps", type=int, default=20, help="timed steps (per engine)")
    btr.add_argument("--warmup", type=int, default=3, help="untimed steps after compiling (per engine)")
    btr.add_argument("--against", choices=["torch"], default=None,
                     help="also time the same shape in PyTorch eager, alternating with xling")
    btr.add_argument("--torch_precision", choices=TORCH_PRECISIONS, default=None,
                     help="PyTorch's float32 matmul precision during its steps (torch.set_float32_matmul_precision; "
                          "default: torch's own, highest); needs --against torch")
    return p


def _add_decode_flags(p: argparse.ArgumentParser) -> None:
    """Decoding options; each sets the config.decode key of the same name for this command."""
    g = p.add_argument_group("decoding (default: the run's config.decode: beam search, 4 beams, alpha 0.6)")
    method = g.add_mutually_exclusive_group()
    method.add_argument("--beam", type=int, default=None, metavar="K", help="beam search with K beams")
    method.add_argument("--greedy", action="store_true", help="greedy search")
    method.add_argument("--sample", action="store_true", help="sample (see --temperature, --top_k, --top_p)")
    g.add_argument("--alpha", type=float, default=None, help="length penalty ((5+L)/6)^alpha (0: none)")
    g.add_argument("--nbest", type=int, default=None, help="hypotheses per line (translate: Moses n-best "
                                                          "lines `INDEX ||| TEXT ||| SCORE`)")
    g.add_argument("--temperature", type=float, default=None)
    g.add_argument("--top_k", type=int, default=None, help="sample from the K most likely tokens (0: all)")
    g.add_argument("--top_p", type=float, default=None, help="sample from the nucleus of mass P (1: all)")
    g.add_argument("--seed", type=int, default=None, help="sampling seed")
    g.add_argument("--batch_size", type=int, default=None, help="sentences per batch")
    g.add_argument("--max_len_a", type=float, default=None, help="max output tokens = a * source tokens + b")
    g.add_argument("--max_len_b", type=int, default=None)
    g.add_argument("--quantize", default=None, metavar="MODE",
                   help="decode with int8 params: int8 (weights and activations), int8-weights (weight-only)")


def _apply_decode_flags(args, dc) -> None:
    if args.beam is not None:
        dc.method, dc.beam_size = "beam", args.beam
    elif args.greedy:
        dc.method = "greedy"
    elif args.sample:
        dc.method = "sample"
    for key in ("alpha", "nbest", "temperature", "top_k", "top_p", "seed", "batch_size", "max_len_a", "max_len_b",
                "quantize"):
        if getattr(args, key) is not None:
            dc[key] = getattr(args, key)
    if dc.method != "beam" and args.nbest is None:
        dc.nbest = 1
    from xling_jax.decoding.translate import check_decode_config
    check_decode_config(dc)


def _load_config(path, overrides):
    from xling_jax.configs import loading
    config = loading.load_config_file(path)
    loading.apply_overrides(config, overrides)
    return config


def cmd_bench(args, overrides) -> None:
    import tempfile
    if args.bench_command == "decode":
        if overrides:
            raise UserError("xling bench decode takes no --config overrides; see its flags (--shape, ...)")
        from xling_jax.bench.decode import bench_decode
        print(json.dumps(bench_decode(args.shape, args.sentences, args.batch_size, args.beam, args.length,
                                      args.threads, tuple(args.engines.split(",")),
                                      tokenizer_from=args.tokenizer_from, workdir=args.workdir, src=args.src,
                                      tgt=args.tgt, step=args.step,
                                      quantize=tuple(args.quantize.split(",")) if args.quantize else (),
                                      bf16=args.bf16), indent=2))
        return
    if args.bench_command == "train":
        from xling_jax.bench.train import apply_shape, bench_train
        from xling_jax.configs import loading
        config = apply_shape(loading.load_config_file(args.config), args.shape)
        loading.apply_overrides(config, overrides)
        print(json.dumps(bench_train(config, args.shape, args.steps, args.warmup, args.against,
                                     args.torch_precision), indent=2))
        return
    if args.batches < 1:  # the step is timed on the pipeline's batches: none would divide by zero
        raise UserError(f"--batches {args.batches}: time at least 1 batch")
    from xling_jax.bench.data import bench_data
    from xling_jax.training.validate import validate
    config = _load_config(args.config, overrides)
    validate(config)
    with tempfile.TemporaryDirectory() as tmp:
        print(json.dumps(bench_data(config, args.workdir or tmp, args.batches), indent=2))


def cmd_train(args, overrides) -> None:
    distributed.initialize(args)
    from xling_jax.objectives.tasks import is_retrieval
    config = _load_config(args.config, overrides)
    if is_retrieval(config.tasks):  # config.tasks = ("retrieval:1",): the contrastive dual-encoder run
        from xling_jax.retrieval.train import retrieval_and_evaluate
        retrieval_and_evaluate(config, args.workdir)
        return
    from xling_jax.training.train import train_and_evaluate
    train_and_evaluate(config, args.workdir)


def cmd_classify(args, overrides) -> None:
    distributed.initialize(args)
    from xling_jax.classification.train import classify_and_evaluate
    classify_and_evaluate(_load_config(args.config, overrides), args.workdir)


def _read_lines(path: str | None) -> list[str]:
    from xling_jax.decoding.text_io import read_lines
    try:
        raw = sys.stdin.buffer.read() if path is None else open(path, "rb").read()
    except OSError as e:
        raise UserError(f"cannot read {path}: {e.strerror}") from None
    return read_lines(raw, _warn)


def _warn(msg: str) -> None:
    print(f"xling: warning: {msg}", file=sys.stderr)


def _with_progress(total: int, fn):
    """fn(progress) under a progress bar on stderr; progress(n) says n more sentences are done."""
    from rich.console import Console
    from rich.progress import Progress
    with Progress(transient=True, console=Console(stderr=True)) as bar:
        task = bar.add_task("translating", total=total)
        return fn(lambda n: bar.advance(task, n))


def _step(text: str | None):
    """--step: None (latest), "best" or a checkpoint number."""
    if text is None or text == "best":
        return text
    if not text.isdigit():
        raise UserError(f"--step {text!r}: give a checkpoint step number or `best`")
    return int(text)


def cmd_translate(args) -> None:
    from xling_jax.data import mixture
    from xling_jax.decoding.translate import Translator
    from xling_jax.training.load import load_run
    run = load_run(args.workdir)
    mixture.check_known(run.config.data, [("--src", args.src), ("--tgt", args.tgt)], run.tokenizer)
    _apply_decode_flags(args, run.config.decode)
    lines = _read_lines(args.input)
    translator = Translator(run.model, run.params, run.tokenizer, run.config.decode)
    if args.input:
        outputs = _with_progress(len(lines), lambda p: translator.translate_nbest(lines, args.tgt, p, _warn,
                                                                                  src_lang=args.src))
    else:
        outputs = translator.translate_nbest(lines, args.tgt, warn=_warn, src_lang=args.src)
    from xling_jax.decoding.text_io import one_line
    if run.config.decode.nbest > 1:
        text = "".join(f"{i} ||| {one_line(h)} ||| {s:.4f}\n" for i, hyps in enumerate(outputs) for h, s in hyps)
    else:
        text = "".join(one_line(hyps[0][0]) + "\n" for hyps in outputs)
    _write_output(args.output, text)


def _write_output(path: str | None, text: str) -> None:
    """`text` into the --output file, or to stdout."""
    if path:
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
    else:
        sys.stdout.write(text)
        sys.stdout.flush()


def _read_pairs(lines: list[str]) -> list[tuple[str, str] | None]:
    """(source, target) of each `source<TAB>target` line; None (reported on stderr) for a line without a tab."""
    pairs = []
    for i, line in enumerate(lines):
        src, tab, tgt = line.partition("\t")
        if not tab:
            _warn(f"line {i + 1}: no tab between source and target; scored nan")
            pairs.append(None)
        else:
            pairs.append((src, tgt))
    return pairs


def cmd_score(args) -> None:
    from xling_jax.data import mixture
    from xling_jax.decoding.score import Scorer
    from xling_jax.training.load import load_run
    if args.batch_size < 1:
        raise UserError("--batch_size must be at least 1")
    run = load_run(args.workdir, _step(args.step))
    mixture.check_known(run.config.data, [("--src", args.src), ("--tgt", args.tgt)], run.tokenizer)
    scorer = Scorer(run.model, run.params, run.tokenizer, args.batch_size, args.quantize)
    pairs = _read_pairs(_read_lines(args.input))
    if args.input:
        scores = _with_progress(len(pairs), lambda p: scorer.score(pairs, args.tgt, args.src, _warn, p))
    else:
        scores = scorer.score(pairs, args.tgt, args.src, _warn)
    text = "".join(f"{s:.6f}\n" if s == s else "nan\n" for s in scores)
    _write_output(args.output, text)


def cmd_backtranslate(args) -> None:
    from xling_jax.decoding.backtranslation import backtranslate, monolingual_lines
    from xling_jax.training.load import load_run
    run = load_run(args.workdir, _step(args.step))
    _apply_decode_flags(args, run.config.decode)
    total = len(monolingual_lines(args.input))
    record = _with_progress(total, lambda p: backtranslate(run, args.src, args.tgt, args.input, args.out, args.name,
                                                           args.data_dir or None, p, _warn))
    print(json.dumps(record, indent=2))
    print(f"Built {record['dataset']} ({record['pairs']:,} pairs); train on it with data.mixture entry "
          f"{record['mixture_entry']!r} (data.bt_ratio sets its share)", file=sys.stderr)


def cmd_distill(args) -> None:
    from xling_jax.decoding import distillation
    from xling_jax.training.load import load_run
    run = load_run(args.teacher, _step(args.step))
    _apply_decode_flags(args, run.config.decode)
    data_dir, sources = distillation.read_sources(run, args.dataset, args.split, cli_data.csv(args.directions),
                                                  args.data_dir or None)
    record = _with_progress(sum(map(len, sources.values())), lambda p: distillation.distill(
        run, args.out, sources, data_dir, args.split, p, _warn))
    print(json.dumps(record, indent=2))
    print(f"Built {record['dataset']} ({sum(record['pairs'].values()):,} pairs); train a student on it with "
          f"data.mixture entries {', '.join(record['mixture_entries'])} (data.distill_ratio sets their share "
          "beside real pairs)", file=sys.stderr)


def cmd_eval(args) -> None:
    from xling_jax.evaluation.bleu import evaluate
    from xling_jax.training.load import load_run
    run = load_run(args.workdir, _step(args.step))
    _apply_decode_flags(args, run.config.decode)
    results = evaluate(run, args.split, args.data_dir or None, args.limit, compare=args.compare,
                       dataset=args.dataset, directions=cli_data.csv(args.directions), pivot=args.pivot)
    print(json.dumps(results, indent=2))
    if args.pivot:
        print(f"{'direction':<12}{'direct BLEU':>12}{'chrF++':>8}{f'via {args.pivot} BLEU':>14}{'chrF++':>8}",
              file=sys.stderr)
        for key, r in results["directions"].items():
            print(f"{key:<12}{r['bleu']:>12.2f}{r['chrf']:>8.2f}{r['pivot']['bleu']:>14.2f}{r['pivot']['chrf']:>8.2f}",
                  file=sys.stderr)
    if args.compare:
        for key, r in results["directions"].items():
            for name, c in r["compare"].items():
                if name != "other":
                    print(f"{key} {name}: this {c['this']:.2f}  other {c['other']:.2f}  "
                          f"difference {c['difference']:+.2f}  p = {c['p_value']:.4f}", file=sys.stderr)


def cmd_sweep(args, overrides) -> None:
    from xling_jax.sweeps import sweep as sweep_lib
    sweep = sweep_lib.load(args.sweep_file, overrides)
    root = args.root or os.path.join("runs", os.path.splitext(os.path.basename(args.sweep_file.split(":")[0]))[0])
    if args.print_commands:
        print("\n".join(sweep_lib.command(sweep, root, run) for run in sweep.runs))
    elif args.run:
        sweep_lib.write_manifest(sweep, root)
        print(f"[sweep] {args.run}: {sweep_lib.run_one(sweep, root, sweep_lib.find(sweep, args.run))}")
    else:
        status = sweep_lib.run_sweep(sweep, root, args.parallel)
        print(f"[sweep] {len(status)} runs in {root}: " + ", ".join(
            f"{sum(s == k for s in status.values())} {k}" for k in ("done", "skipped")))
        print(f"Compare them with: xling compare {root}")


def cmd_compare(args) -> None:
    from xling_jax.sweeps import compare
    if args.out is None and len(args.dirs) > 1:
        raise UserError("several DIRs: name the report folder with --out")
    compare.compare(args.dirs, args.baseline, args.out or os.path.join(args.dirs[0], "compare"), args.samples)


def cmd_import(args, overrides) -> None:
    if args.import_command == "marian":
        if overrides:
            raise UserError("xling import marian takes no --config overrides")
        from xling_jax.interop.marian import import_marian
        config = import_marian(args.hf_dir, args.workdir, args.src, args.tgt)
        source = args.hf_dir
    else:
        from xling_jax.interop.hf import import_hf
        language_map = {}
        for item in cli_data.csv(args.language_map):
            code, eq, model_code = item.partition("=")
            if not eq or not code or not model_code:
                raise UserError(f"--language_map {item!r}: write CODE=MODEL_CODE, e.g. zh=zho_Hans")
            language_map[code] = model_code
        config = import_hf(args.source, args.workdir, overrides, args.dtype, language_map)
        source = args.source
    m = config.model
    print(f"Imported {source} into {args.workdir} ({m.num_layers}+{m.num_decoder_layers or m.num_layers} layers, "
          f"width {m.emb_dim}); translate with xling translate --workdir {args.workdir} --src SRC --tgt TGT; "
          f"fine-tune with xling train --config {os.path.join(args.workdir, 'config.py')} --workdir {args.workdir}")


def cmd_export(args) -> None:
    if args.export_command == "marian":
        from xling_jax.interop.marian import export_marian as export
    else:
        from xling_jax.interop.hf import export_hf as export
    for warning in export(args.workdir, args.out, args.step):
        print(f"xling: warning: {warning}", file=sys.stderr)
    print(f"Wrote a Hugging Face model folder to {args.out}")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    from xling_jax.training import preemption
    preemption.command = ["xling", *argv]  # what a preempted `xling train` tells the user to rerun
    saved = log.settings()  # --verbosity and the info stream hold for this command only
    try:
        return _run(argv)
    finally:
        preemption.command = None
        log.restore(saved)


def _split_verbosity(argv: list[str]) -> tuple[list[str], str]:
    """(argv without it, the level of `--verbosity LEVEL`), which may stand anywhere in the command line."""
    rest, level, i = [], log.DEFAULT_LEVEL, 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--verbosity" or arg.startswith("--verbosity="):
            if "=" in arg:
                level = arg.split("=", 1)[1]
            elif i + 1 < len(argv):
                level, i = argv[i + 1], i + 1
            else:
                level = ""
            if level not in log.LEVELS:
                raise UserError(f"--verbosity {level!r}: choose one of {', '.join(log.LEVELS)}")
        else:
            rest.append(arg)
        i += 1
    return rest, level


def _run(argv: list[str]) -> int:
    try:
        argv, level = _split_verbosity(argv)
        log.set_verbosity(level)
        argv, overrides = _split_config_overrides(argv)
        args = _parser().parse_args(argv)
        # Their stdout is data (translations, scores, JSON): diagnostics must not mix into it.
        log.info_to("stderr" if args.command in ("translate", "score", "bench") + cli_search.COMMANDS else "stdout")
        if overrides and args.command not in ("train", "classify", "bench", "sweep", "import"):
            raise UserError("--config.KEY=VALUE overrides only apply to `xling train`, `xling classify`, "
                            "`xling sweep`, `xling bench` and `xling import hf`")
        if args.command == "data":
            cli_data.cmd_build(args) if args.data_command == "build" else cli_data.cmd_show(args)
        elif args.command == "bench":
            cmd_bench(args, overrides)
        elif args.command == "train":
            cmd_train(args, overrides)
        elif args.command == "classify":
            cmd_classify(args, overrides)
        elif args.command == "translate":
            cmd_translate(args)
        elif args.command == "backtranslate":
            cmd_backtranslate(args)
        elif args.command == "distill":
            cmd_distill(args)
        elif args.command == "eval":
            cmd_eval(args)
        elif args.command == "attention":
            cli_attention.cmd_attention(args, _step(args.step), _apply_decode_flags)
        elif args.command == "sweep":
            cmd_sweep(args, overrides)
        elif args.command == "compare":
            cmd_compare(args)
        elif args.command == "import":
            cmd_import(args, overrides)
        elif args.command == "score":
            cmd_score(args)
        elif args.command == "export":
            cmd_export(args)
        elif args.command in cli_search.COMMANDS:
            cli_search.run(args, _step(args.step), _read_lines)
    except UserError as e:
        print(f"xling: error: {e}", file=sys.stderr)
        return getattr(e, "exit_code", 2)
    except OSError as e:
        from xling_jax.training.checkpoints import DISK_ERRNOS
        if e.errno not in DISK_ERRNOS:
            raise
        print(f"xling: error: {e.strerror}" + (f": {e.filename}" if e.filename else "") +
              " (a full or unwritable disk; the checkpoints already written are kept)", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("xling: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
