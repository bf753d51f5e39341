"""Sequence-level knowledge distillation (Kim & Rush 2016): a teacher's translations as training targets.

`distill` translates the sources of a dataset split, direction by direction, with a trained run (the
teacher) and builds the pairs (human source, teacher's translation) as `parallel_text/NAME`, each
direction's records marked distilled (see data/parallel_text/builder.py). Named in a mixture
(`parallel_text/NAME:SRC-TGT`) a student trains on them alone or beside the real pairs (their share:
data.distill_ratio); the teacher's side is never reversed into a source, never fed to the tokenizer and
never scored: a student is scored on the references of the dataset the sources came from (see
data/mixture.py). The line-aligned files the dataset is built from, and `distillation.json` (what made
them), are kept in DATA_DIR/distilled/NAME/.
"""
import datetime
import json
import os

from xling_jax.data import catalog, mixture, user_build
from xling_jax.data.parallel_text import readers
from xling_jax.data.pipeline import PairSource
from xling_jax.decoding.translate import Translator
from xling_jax.errors import UserError

PROVENANCE = "distillation.json"


def files_dir(data_dir: str, name: str) -> str:
    return os.path.join(data_dir, "distilled", name)


def teacher_pairs(data_config, dataset: str) -> list[str]:
    """The directions ('en-es', ...) the teacher's config trains on `dataset` (its reverses included)."""
    return [d for ref, d, _ in mixture.entries(data_config) if ref == dataset]


def build_options(out_dir: str, dirs: list[mixture.Direction], dataset: str) -> dict:
    """parallel_text build options of the distilled pairs in OUT (also the config.data.sources entry to rebuild them)."""
    return {"languages": mixture.languages(dirs), "distilled_from": dataset,
            "distilled": {d.pair: [os.path.join(out_dir, f"train.{d.pair}.{lang}") for lang in (d.src, d.tgt)]
                          for d in dirs}}


def read_sources(run, dataset: str, split: str = "train", directions=(), data_dir: str | None = None
                 ) -> tuple[str, dict[mixture.Direction, list[str]]]:
    """(data dir, {direction: its `split` sources}) of `dataset` in `directions` (['en-es', ...]; default:
    the ones the teacher `run` trains on it), checked against the dataset and the teacher's languages."""
    data_dir = catalog.ensure_built(dataset, data_dir, options=mixture.source_options(run.config.data, dataset))
    if catalog.open_dataset(dataset, data_dir).distilled:
        raise UserError(f"{dataset} is itself distilled: distill from the dataset its sources come from")
    pairs = list(directions) or teacher_pairs(run.config.data, dataset)
    if not pairs:
        raise UserError(f"the teacher does not train on {dataset}: name the directions to distill with --directions")
    dirs = [mixture.Direction(dataset, s, t) for s, t in catalog.parse_directions(dataset, pairs, data_dir)]
    mixture.check_known(run.config.data, [("--directions", lang) for d in dirs for lang in (d.src, d.tgt)],
                        run.tokenizer)
    return data_dir, {d: [p["src"] for p in PairSource(d, split, data_dir)] for d in dict.fromkeys(dirs)}


def distill(run, name: str, sources: dict[mixture.Direction, list[str]], data_dir: str, split: str = "train",
            progress=None, warn=None) -> dict:
    """Translates `sources` (read_sources) with the teacher `run` under its config.decode and builds
    parallel_text/NAME in `data_dir`; returns the provenance record."""
    name = user_build.check_name(name, "parallel_text")  # before hours of decoding
    dirs = list(sources)
    dataset = dirs[0].dataset
    dc = run.config.decode
    if dc.nbest != 1:
        raise UserError("distillation keeps one translation per source: leave out --nbest")
    dc.min_len = max(dc.min_len, 1)  # an empty target teaches nothing (and parallel_text would drop the pair)
    translator = Translator(run.model, run.params, run.tokenizer, dc)

    out_dir = files_dir(data_dir, name)
    options = build_options(out_dir, dirs, dataset)
    os.makedirs(out_dir, exist_ok=True)
    empty = {}
    for d in dirs:
        hyps = translator.translate(sources[d], d.tgt, progress, warn, src_lang=d.src)
        hyps = [readers.clean(h.replace("\n", " "))[0] for h in hyps]
        empty[d.pair] = sum(not h for h in hyps)
        for path, texts in zip(options["distilled"][d.pair], (sources[d], hyps)):
            with open(path, "w", encoding="utf-8") as f:
                f.writelines(t + "\n" for t in texts)
    ref = f"parallel_text/{name}"
    built = catalog.Dataset(ref, catalog.build(ref, data_dir, options=options))
    record = {
        "dataset": ref, "data_dir": data_dir, "distilled_from": dataset, "split": split,
        "mixture_entries": [f"{ref}:{d.pair}" for d in dirs],
        "sources": {d.pair: len(sources[d]) for d in dirs},
        "pairs": {d.pair: len(built.pair_index("train", d.src, d.tgt)) for d in dirs},
        "empty_translations": empty,
        "model": {"workdir": run.workdir, "step": run.step},
        "decode": {k: dc.get(k) for k in ("method", "beam_size", "alpha", "temperature", "top_k", "top_p", "seed",
                                          "max_len_a", "max_len_b", "min_len", "batch_size", "quantize")},
        "build_options": options,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
    with open(os.path.join(out_dir, PROVENANCE), "w", encoding="utf-8") as f:
        json.dump(record, f, indent=2)
    return record
