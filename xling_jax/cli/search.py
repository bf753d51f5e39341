"""`xling embed`, `xling retrieve`, `xling mine`: sentence vectors, cross-lingual retrieval and bitext
mining with a run's encoder (see decoding/embed.py, evaluation/retrieval.py, retrieval/evaluate.py)."""
import json
import os
import sys

import numpy as np

from xling_jax.errors import UserError

COMMANDS = ("embed", "retrieve", "mine")


def _encoder_flags(p) -> None:
    p.add_argument("--workdir", required=True, help="a translation, imported or retrieval run")
    p.add_argument("--step", default=None, help="checkpoint step, or `best` (default: latest)")
    p.add_argument("--pooling", default=None, choices=("mean", "first"),
                   help="encoder states -> vector: mean over non-padding tokens, or the first token's "
                        "(default: a retrieval run's own, else mean)")
    p.add_argument("--tag", default=None, help="every text is framed as a source into this language (one tag "
                                               "for all; default: a retrieval run's own, else en)")
    p.add_argument("--batch_size", type=int, default=64, help="texts per encoder batch")


def _search_flags(p) -> None:
    p.add_argument("--k", type=int, default=4, help="neighbours averaged in the margin's denominator")
    p.add_argument("--candidates", type=int, default=16, help="nearest targets by cosine rescored by margin")
    p.add_argument("--index", default="auto", choices=("auto", "flat", "hnsw"),
                   help="faiss index: exact (flat) up to 100,000 keys, HNSW above (auto), or forced")
    p.add_argument("--data_dir", default="", help="where the datasets are (default: $XLING_DATA_DIR or "
                                                  "~/.cache/xling_jax/datasets)")


def add_parsers(sub) -> None:
    em = sub.add_parser("embed", help="one L2-normalised sentence vector per input line, to a .npy file (NxD "
                                      "float32)")
    _encoder_flags(em)
    em.add_argument("--lang", required=True, help="language code of the lines")
    em.add_argument("--input", default=None, help="text file, one sentence per line (default: stdin)")
    em.add_argument("--out", required=True, help=".npy file to write")

    rt = sub.add_parser("retrieve", help="Tatoeba-style P@1 (both ways, cosine and margin scoring) over a "
                                         "dataset split's aligned sentences; JSON per direction")
    _encoder_flags(rt)
    rt.add_argument("--dataset", required=True, help="a dataset name (xling data show)")
    rt.add_argument("--split", default="test")
    rt.add_argument("--directions", default="", help="comma-separated SRC-TGT (default: every ordered pair of "
                                                     "the dataset's languages)")
    rt.add_argument("--limit", type=int, default=0, help="pairs per direction (a seeded subset; 0: all)")
    rt.add_argument("--out", default=None, help="also write the JSON here")
    _search_flags(rt)

    mi = sub.add_parser("mine", help="bitext mining with margin scores: pairs.tsv of (margin, source line, target "
                                     "line, texts), best first, each line used once",
                        description="Give --src-file and --tgt-file, or --dataset for the BUCC-style evaluation: "
                                    "the split's SRC sentences hidden among every TGT sentence of the dataset, "
                                    "with precision / recall / F1 against the gold alignment.")
    _encoder_flags(mi)
    mi.add_argument("--src", required=True, help="source language code")
    mi.add_argument("--tgt", required=True, help="target language code")
    mi.add_argument("--src-file", dest="src_file", default=None, help="source sentences, one per line")
    mi.add_argument("--tgt-file", dest="tgt_file", default=None, help="target sentences, one per line")
    mi.add_argument("--gold", default=None, help="TSV of gold `source line<TAB>target line` (from 1): adds "
                                                 "precision / recall / F1")
    mi.add_argument("--dataset", default=None, help="instead of the files: the BUCC-style task of this dataset")
    mi.add_argument("--split", default="test", help="with --dataset: the split whose sources are mined")
    mi.add_argument("--out", required=True, help="pairs.tsv to write")
    mi.add_argument("--threshold", type=float, default=0.0, help="lowest margin kept (default 0: every "
                                                                 "one-to-one best pair)")
    _search_flags(mi)


def _encoder(args):
    from xling_jax.retrieval.load import load_encoder
    if args.batch_size < 1:
        raise UserError("--batch_size must be at least 1")
    return load_encoder(args.workdir, args.step, args.pooling, args.tag, args.batch_size)


def _check_search(args) -> None:
    if args.k < 1 or args.candidates < 1:
        raise UserError("--k and --candidates must be at least 1")


def _write_atomic(path: str, write) -> None:
    """write(tmp path), then the file appears whole under `path` (never half-written)."""
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise UserError(f"cannot write {path}: folder {folder} does not exist")
    tmp = f"{path}.tmp{os.getpid()}"
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _progress(total: int, fn, label: str):
    from rich.console import Console
    from rich.progress import Progress
    with Progress(transient=True, console=Console(stderr=True)) as bar:
        task = bar.add_task(label, total=total)
        return fn(lambda n: bar.advance(task, n))


def cmd_embed(args, read_lines) -> None:
    if not args.out.endswith(".npy"):
        raise UserError(f"--out {args.out!r}: give a .npy file name")
    encoder = _encoder(args)
    lines = read_lines(args.input)
    vectors = _progress(len(lines), lambda p: encoder(lines, args.lang, p), "embedding")
    def write(tmp):
        with open(tmp, "wb") as f:
            np.save(f, vectors)
    _write_atomic(args.out, write)
    print(json.dumps({"out": args.out, "sentences": len(lines), "dim": int(vectors.shape[1]),
                      "pooling": encoder.pooling, "tag": encoder.tag_lang}))


def _directions(args) -> list[tuple[str, str]]:
    from xling_jax.cli.data import csv
    from xling_jax.data import catalog
    catalog.ensure_built(args.dataset, args.data_dir or None)
    if args.directions:
        return catalog.parse_directions(args.dataset, csv(args.directions), args.data_dir or None)
    langs = catalog.open_dataset(args.dataset, catalog.resolve_data_dir(args.data_dir or None)).languages
    return [(a, b) for a in langs for b in langs if a != b]


def cmd_retrieve(args) -> None:
    from xling_jax.retrieval.evaluate import aligned_p1
    _check_search(args)
    if args.limit < 0:
        raise UserError("--limit must be 0 (all) or positive")
    directions = _directions(args)
    encoder = _encoder(args)
    # Each unordered pair is searched once; its reverse direction swaps forward and backward.
    unordered = list(dict.fromkeys(tuple(sorted(d)) if (d[1], d[0]) in directions else d for d in directions))
    found = aligned_p1(encoder, args.dataset, args.split, unordered, args.data_dir or None, args.limit, args.k,
                       args.candidates, args.index)
    results = {}
    for src, tgt in directions:
        row = found.get(f"{src}-{tgt}")
        if row is None:
            back = found[f"{tgt}-{src}"]
            row = dict(back, **{s: {"forward": back[s]["backward"], "backward": back[s]["forward"],
                                    "mean": back[s]["mean"]} for s in ("cosine", "margin")})
        results[f"{src}-{tgt}"] = row
    text = json.dumps({"dataset": args.dataset, "split": args.split, "workdir": args.workdir,
                       "pooling": encoder.pooling, "tag": encoder.tag_lang, "k": args.k,
                       "candidates": args.candidates, "directions": results}, indent=1)
    if args.out:
        def write(tmp):
            with open(tmp, "w", encoding="utf-8") as f:
                f.write(text + "\n")
        _write_atomic(args.out, write)
    print(text)
    print(f"{'direction':<10}{'n':>7}{'P@1 cos':>9}{'margin':>8}   (forward, SRC finds TGT)", file=sys.stderr)
    for d, r in results.items():
        print(f"{d:<10}{r['n']:>7}{r['cosine']['forward']:>9.3f}{r['margin']['forward']:>8.3f}", file=sys.stderr)


def _read_gold(path: str, n_src: int, n_tgt: int) -> set[tuple[int, int]]:
    gold = set()
    try:
        lines = open(path, encoding="utf-8").read().splitlines()
    except OSError as e:
        raise UserError(f"cannot read --gold {path}: {e.strerror}") from None
    for n, line in enumerate(lines, 1):
        parts = line.split("\t")
        if not line.strip():
            continue
        if len(parts) != 2 or not all(p.strip().isdigit() for p in parts):
            raise UserError(f"--gold {path} line {n}: write `source line<TAB>target line` (numbers from 1)")
        i, j = int(parts[0]) - 1, int(parts[1]) - 1
        if not (0 <= i < n_src and 0 <= j < n_tgt):
            raise UserError(f"--gold {path} line {n}: line numbers beyond the files ({n_src} and {n_tgt} lines)")
        gold.add((i, j))
    return gold


def cmd_mine(args, read_lines) -> None:
    from xling_jax.evaluation import retrieval
    from xling_jax.retrieval.evaluate import bucc_task
    _check_search(args)
    if args.dataset:
        if args.src_file or args.tgt_file or args.gold:
            raise UserError("give either --dataset (the BUCC-style task) or --src-file/--tgt-file, not both")
        from xling_jax.data import catalog
        catalog.ensure_built(args.dataset, args.data_dir or None)
        catalog.parse_directions(args.dataset, [f"{args.src}-{args.tgt}"], args.data_dir or None)
        src_texts, tgt_texts, gold = bucc_task(args.dataset, args.src, args.tgt, args.data_dir or None, args.split)
    else:
        if not (args.src_file and args.tgt_file):
            raise UserError("give --src-file and --tgt-file (or --dataset for the BUCC-style task)")
        src_texts, tgt_texts = read_lines(args.src_file), read_lines(args.tgt_file)
        gold = _read_gold(args.gold, len(src_texts), len(tgt_texts)) if args.gold else None
    if not src_texts or not tgt_texts:
        raise UserError("nothing to mine: a side has no lines")
    encoder = _encoder(args)
    total = len(src_texts) + len(tgt_texts)
    x, y = _progress(total, lambda p: (encoder(src_texts, args.src, p), encoder(tgt_texts, args.tgt, p)), "embedding")
    mined = retrieval.mine(x, y, args.k, args.candidates, args.threshold, args.index)

    def write(tmp):
        clean = lambda t: t.replace("\t", " ")
        with open(tmp, "w", encoding="utf-8") as f:
            for score, i, j in mined:
                f.write(f"{score:.6f}\t{i + 1}\t{j + 1}\t{clean(src_texts[i])}\t{clean(tgt_texts[j])}\n")
    _write_atomic(args.out, write)
    summary = {"out": args.out, "pairs": len(mined), "threshold": args.threshold, "sources": len(src_texts),
               "targets": len(tgt_texts), "index": retrieval.index_kind(max(len(src_texts), len(tgt_texts)), args.index),
               "k": args.k, "candidates": args.candidates}
    if args.dataset:
        summary.update(dataset=args.dataset, split=args.split)
    if gold is not None:
        summary["gold"] = len(gold)
        summary.update(retrieval.prf(mined, gold))
    print(json.dumps(summary, indent=1))


def run(args, step, read_lines) -> None:
    """`step`: the parsed --step (None, "best" or a number); `read_lines(path or None)`: the lines of a
    file or stdin (cli/main.py)."""
    args.step = step
    if args.command == "retrieve":
        cmd_retrieve(args)
    else:
        {"embed": cmd_embed, "mine": cmd_mine}[args.command](args, read_lines)
