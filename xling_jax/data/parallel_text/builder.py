"""TFDS builder `parallel_text`: a user's own TSV or line-aligned files (no TensorFlow needed).

Build and read::

    from xling_jax.data.parallel_text.builder import build
    builder = build(data_dir, config_name='mine', options={
        'languages': ['en', 'de'],
        'train': 'train.tsv',                    # a TSV: one column per language, in `languages` order
        'dev': ['dev.en', 'dev.de'],              # or one line-aligned file per language
        'test': 'test.tsv',
    })
    tfds.builder_from_directory(builder.data_dir).as_data_source('train')[0]
    # {'de': b'...', 'en': b'...', 'origin': b'train.tsv:1'}

The dataset lands in DATA_DIR/parallel_text/NAME/1.0.0/ with the splits that are
given (`train` is required); its languages are in the metadata
(`info.metadata['languages']`). `max_chars` (default 2000) is the longest text
kept. `synthetic` (optional) names the language whose side is machine-translated
(back-translation, see :mod:`xling_jax.decoding.backtranslation`); it is kept in the
metadata (`info.metadata['synthetic']`) and makes the pipeline tag those sources.
`distilled` (instead of `train`; see :mod:`xling_jax.decoding.distillation`) maps
directions `SRC-TGT` to the files of a teacher's translations (a TSV with the columns SRC
and TGT, or the files SRC and TGT, line-aligned): the train split holds them direction
after direction (the other languages' fields empty), the
metadata keeps each direction's record range (`distilled`) and the dataset the sources
came from (`distilled_from`, whose dev/test references score a student).
Language codes are normalised (`zh-CN` -> `zh_CN`, see :mod:`xling_jax.data.langcode`).
What is skipped or repaired and how texts are normalised: :mod:`xling_jax.data.parallel_text.readers`.
"""
from __future__ import annotations

import os

import tensorflow_datasets as tfds

from xling_jax import log
from xling_jax.data import langcode, user_build
from xling_jax.data.parallel_text import readers
from xling_jax.data.report import SkipReport
from xling_jax.errors import UserError

logger = log.get_logger(__name__)

__all__ = ["ParallelText", "build", "LANGUAGES"]

LANGUAGES = None  # dynamic: read them from the built dataset's metadata

SPLITS = ("train", "dev", "test")
DEFAULT_MAX_CHARS = 2000
_OPTIONS = {"languages", "max_chars", "synthetic", "distilled", "distilled_from", *SPLITS}

_DESCRIPTION = """\
Parallel text from the user's own files: a TSV with one column per language, or
one line-aligned file per language. One record per usable line: one field per
language and `origin` (FILE:LINE of the line, the first language's file for
line-aligned input). Control characters are removed and surrounding whitespace
stripped; lines with invalid UTF-8, a wrong column count, an empty side or a
text over max_chars characters are skipped (see the `skipped` metadata).
"""


class ParallelText(tfds.core.GeneratorBasedBuilder):
    """A user's TSV or line-aligned parallel text; build it with :func:`build`."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Initial release."}

    def __init__(self, *, languages=None, splits=None, metadata=None, **kwargs):
        if languages is None:
            raise UserError("parallel_text datasets are built with xling_jax.data.parallel_text.builder.build() "
                            "and read with tfds.builder_from_directory()")
        self._languages, self._splits, self._metadata = list(languages), splits, dict(metadata or {})
        super().__init__(**kwargs)

    def _info(self) -> tfds.core.DatasetInfo:
        return self.dataset_info_from_configs(
            description=_DESCRIPTION,
            features=tfds.features.FeaturesDict({
                "origin": tfds.features.Text(),
                **{lang: tfds.features.Text() for lang in self._languages},
            }),
            metadata=tfds.core.MetadataDict(languages=self._languages, **self._metadata),
            disable_shuffling=True,
        )

    def _split_generators(self, dl_manager):
        del dl_manager  # local files only
        return {split: self._generate_examples(records) for split, records in self._splits.items()}

    def _generate_examples(self, records):
        for i, record in enumerate(records):
            yield i, record


def _split_files(value, split: str, n: int) -> list[str]:
    """The split's files: [TSV] or one line-aligned file per language."""
    if isinstance(value, str):
        value = [value]
    if (not isinstance(value, (list, tuple)) or not value
            or not all(isinstance(v, str) and v.strip() for v in value)):
        raise UserError(f"parallel_text {split} must be a TSV path or a list of {n} line-aligned files, "
                        f"got {value!r}")
    if len(value) not in (1, n):
        raise UserError(f"parallel_text {split} lists {len(value)} files for {n} languages: give one TSV "
                        f"or one line-aligned file per language, in the order of `languages`")
    files = [os.path.expanduser(v.strip()) for v in value]
    for path in files:
        why = readers.check_file(path)
        if why:
            raise UserError(f"parallel_text {split} file {path} {why}")
    return files


def _distilled_files(options: dict, languages: list[str]) -> dict[str, list[str]]:
    """{'SRC-TGT': files} of the `distilled` option (checked), or {} without it."""
    distilled = options.get("distilled")
    if not distilled:
        return {}
    if options.get("train") or options.get("synthetic"):
        raise UserError("parallel_text distilled replaces train and has no synthetic side: give one of them")
    if not isinstance(distilled, dict):
        raise UserError(f"parallel_text distilled maps directions SRC-TGT to their files, got {distilled!r}")
    if not isinstance(options.get("distilled_from"), str) or not options["distilled_from"].strip():
        raise UserError("parallel_text distilled needs distilled_from: the dataset the sources came from, whose "
                        "references score a student (e.g. bible)")
    out = {}
    for direction, value in distilled.items():
        src, _, tgt = str(direction).partition("-")
        if src not in languages or tgt not in languages or src == tgt:
            raise UserError(f"parallel_text distilled direction {direction!r}: write SRC-TGT with two of its "
                            f"languages ({', '.join(languages)})")
        out[f"{src}-{tgt}"] = _split_files(value, f"distilled {direction}", 2)
    return out


def read_split(files: list[str], languages: list[str], reader: readers.Reader) -> list[dict]:
    if len(files) == 1:
        lines = reader.tsv(files[0], languages)
    else:
        lines = reader.aligned(files)
    origin = os.path.basename(files[0])
    return [{"origin": f"{origin}:{lineno}", **dict(zip(languages, texts))} for lineno, texts in lines]


def build(data_dir: str, *, install: bool = False, config_name: str, options: dict) -> ParallelText:
    """Reads the split files of `options` and writes DATA_DIR/parallel_text/NAME/1.0.0 (replacing it).

    Raises UserError for bad options, a missing file or a split without one usable pair;
    prints what was skipped or repaired (to stderr) and keeps the counts in the
    dataset's metadata (`skipped`, `repaired`).
    """
    del install  # nothing to install
    name = user_build.check_name(config_name, "parallel_text")
    options = user_build.check_options(options, _OPTIONS, "parallel_text")
    if not options.get("languages"):
        raise UserError("parallel_text needs languages: the column (or file) languages in order, e.g. en,de")
    languages = langcode.normalise_all(options["languages"], "parallel_text languages")
    if len(languages) < 2:
        raise UserError(f"parallel_text needs at least two languages, got {', '.join(languages)}")
    distilled = _distilled_files(options, languages)
    if not options.get("train") and not distilled:
        raise UserError("parallel_text needs train: a TSV file or one line-aligned file per language")
    max_chars = options.get("max_chars", DEFAULT_MAX_CHARS)
    if isinstance(max_chars, bool) or not isinstance(max_chars, int) or max_chars < 1:
        raise UserError(f"parallel_text max_chars must be a positive whole number, got {max_chars!r}")
    synthetic = options.get("synthetic") or None
    if synthetic is not None:
        synthetic = langcode.normalise_all([synthetic], "parallel_text synthetic")[0]
        if synthetic not in languages:
            raise UserError(f"parallel_text synthetic {synthetic!r} is not one of its languages "
                            f"({', '.join(languages)})")
    files = {s: _split_files(options[s], s, len(languages)) for s in SPLITS if options.get(s)}
    parts = {**{f"distilled {d}": paths for d, paths in distilled.items()}, **files}

    skipped, repaired = SkipReport(), SkipReport()
    reader = readers.Reader(max_chars, skipped, repaired)
    read = {}
    for part, paths in parts.items():
        before = skipped.counts.copy()
        columns = part.split()[1].split("-") if part.startswith("distilled ") else languages
        read[part] = [{**dict.fromkeys(languages, ""), **r} for r in read_split(paths, columns, reader)]
        if not read[part]:
            why = "; ".join(f"{n:,} {r}" for r, n in (skipped.counts - before).most_common(3))
            raise UserError(f"no usable {part} pairs in {', '.join(paths)}" + (f" ({why})" if why else ""))
    splits = {s: read[s] for s in files}
    ranges = {}
    if distilled:
        splits["train"] = []
        for d in distilled:
            ranges[d] = [len(splits["train"]), len(splits["train"]) + len(read[f"distilled {d}"])]
            splits["train"] += read[f"distilled {d}"]
        files["train"] = [p for paths in distilled.values() for p in paths]
        extra = {"distilled": ranges, "distilled_from": options["distilled_from"].strip()}
    else:
        extra = {"synthetic": synthetic} if synthetic else {}

    metadata = {"files": files, "max_chars": max_chars, "skipped": skipped.to_dict(),
                "repaired": repaired.to_dict(), **extra}
    builder = user_build.prepare(ParallelText, data_dir, name, f"parallel text from {', '.join(files['train'])}",
                                 languages=languages, splits=splits, metadata=metadata)
    builder.skipped, builder.repaired = skipped, repaired
    sizes = ", ".join(f"{s} {len(r):,}" for s, r in splits.items())
    # A warning: the build report (what was skipped or repaired) belongs with the warnings, on stderr.
    logger.warning(f"parallel_text/{name}: {', '.join(languages)}; pairs: {sizes}\n"
                   + skipped.summary(f"parallel_text/{name} skipped") + "\n"
                   + repaired.summary(f"parallel_text/{name} repaired (kept)"))
    return builder
