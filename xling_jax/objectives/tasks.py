"""Task mixtures: `config.tasks` entries `NAME:RATE` mix translation with denoising objectives.

Sequence-to-sequence tasks share the translation pipeline (examples are mixed per example, then
packed together); each example carries its task index so that the train step can report the
loss of each task (`nll/NAME` in metrics.jsonl):
- `translation`: the pairs of the data mixture (`data.*`).
- `mbart`: monolingual text noised by sentence permutation and span masking (objective.mbart_*);
  the source starts with the language's tag, the target is the original text.
- `t5`: T5 span corruption (objective.t5_*), sentinels from the vocabulary (tokenizer.sentinels).
Monolingual text is every language side of the run's directions (train split), each record once,
plus the plain-text files of `data.monolingual`.
"""
import grain
import numpy as np

from xling_jax.data import mixture, registry, tokenizer as tokenizer_lib
from xling_jax.data.pipeline import language_records
from xling_jax.errors import UserError
from xling_jax.objectives import denoising

SEQ2SEQ = ("translation", "mbart", "t5")


def parse(config) -> list[tuple[str, float]]:
    """[(name, rate)] of config.tasks, rates normalised to sum to 1."""
    out = []
    for entry in config.tasks:
        name, sep, rate = entry.partition(":")
        try:
            value = float(rate) if sep else 1.0
        except ValueError:
            value = -1.0
        if name not in SEQ2SEQ:
            raise UserError(f"unknown task {name!r} in config.tasks; choose from {', '.join(SEQ2SEQ)}")
        if value <= 0:
            raise UserError(f"bad rate in config.tasks entry {entry!r}: write NAME:RATE with RATE > 0")
        out.append((name, value))
    if not out:
        raise UserError("config.tasks is empty; e.g. ('translation:1',) or ('mbart:0.5', 'translation:0.5')")
    if len({n for n, _ in out}) != len(out):
        raise UserError(f"config.tasks names a task twice: {config.tasks}")
    total = sum(r for _, r in out)
    return [(n, r / total) for n, r in out]


def names(config) -> tuple[str, ...]:
    return tuple(n for n, _ in parse(config))


class MonolingualSource:
    """Random access to {"text", "lang"}: each language side of the run's directions, once per record."""

    def __init__(self, dirs, split: str, data_dir: str | None, files=()):
        """`files`: [(path, lang)] of plain-text files, one text per line, added to every split's text."""
        self._parts = []  # (records with a text in `lang`, record indices, lang)
        for lang in mixture.languages(dirs):
            for ref, idx in language_records(dirs, lang, split, data_dir):
                if len(idx):
                    self._parts.append((registry.open_dataset(ref, data_dir).source(split), idx, lang))
        for path, lang in files:
            lines = mixture.read_lines(path)
            if lines:
                self._parts.append(([{lang: line} for line in lines], np.arange(len(lines)), lang))
        self._offsets = np.cumsum([0] + [len(idx) for _, idx, _ in self._parts])

    def __len__(self) -> int:
        return int(self._offsets[-1])

    def __getitem__(self, i: int) -> dict:
        part = int(np.searchsorted(self._offsets, i, side="right")) - 1
        source, idx, lang = self._parts[part]
        return {"text": source[idx[i - self._offsets[part]]][lang], "lang": lang}


def _sentence_ends(tokenizer, ids: list[int]) -> np.ndarray:
    return np.array([tokenizer.sp.id_to_piece(i).endswith((".", "!", "?", "。")) for i in ids], bool)


def denoising_example(name: str, ex: dict, rng: np.random.Generator, tokenizer, objective) -> dict:
    """A monolingual text as a (noised source, original target) pair framed like translation."""
    ids = tokenizer.encode(ex["text"])
    if name == "mbart":
        out = denoising.mbart(ids, rng, mask_id=tokenizer.symbol_id(tokenizer_lib.MASK),
                              sentence_end=_sentence_ends(tokenizer, ids), ratio=objective.mbart_ratio,
                              poisson_lambda=objective.mbart_lambda, permute_sentences=objective.mbart_permute)
    else:
        sentinels = [tokenizer.symbol_id(tokenizer_lib.sentinel(i)) for i in range(objective.t5_sentinels)]
        out = denoising.t5_span_corruption(ids, rng, sentinel_ids=sentinels, noise_density=objective.t5_density,
                                           mean_span=objective.t5_mean_span)
    inputs = tokenizer.source_prefix(ex["lang"]) + out["inputs"].tolist() + [tokenizer.eos_id]
    targets = out["targets"].tolist() + [tokenizer.eos_id]
    return {"inputs": np.asarray(inputs, np.int32), "targets": np.asarray(targets, np.int32)}


def check(config, tokenizer) -> None:
    """Fails early (before compiling) if a task needs symbols the vocabulary lacks."""
    tasks = names(config)
    for _, lang in mixture.monolingual_files(config.data):
        try:
            tokenizer.source_prefix(lang)
        except KeyError:
            raise UserError(f"data.monolingual has {lang!r} text but the vocabulary has no {lang!r} tag: "
                            "train a new vocabulary (a new workdir) with this file in the config") from None
    if "mbart" in tasks:
        tokenizer.symbol_id(tokenizer_lib.MASK)
    if "t5" in tasks:
        if config.objective.t5_sentinels > config.tokenizer.sentinels:
            raise UserError(f"objective.t5_sentinels={config.objective.t5_sentinels} but the vocabulary has "
                            f"tokenizer.sentinels={config.tokenizer.sentinels}")
        for i in range(config.objective.t5_sentinels):
            tokenizer.symbol_id(tokenizer_lib.sentinel(i))


def mix(config, tokenizer, data_dir: str | None, translation: grain.MapDataset) -> grain.MapDataset:
    """The per-example mixture of config.tasks; `translation` is the encoded pair dataset.

    With translation alone the dataset is returned as it is (no task feature)."""
    tasks = parse(config)
    if [n for n, _ in tasks] == ["translation"]:
        return translation
    check(config, tokenizer)
    parts = []
    for t, (name, _) in enumerate(tasks):
        if name == "translation":
            ds = translation
        else:
            mono = MonolingualSource(mixture.directions(config.data, data_dir), "train", data_dir,
                                     mixture.monolingual_files(config.data))
            if not len(mono):
                raise UserError(f"task {name!r} found no monolingual training text")
            ds = grain.MapDataset.source(mono).seed(config.seed + 1000 + t).shuffle().repeat()
            ds = ds.random_map(lambda ex, rng, name=name: denoising_example(name, ex, rng, tokenizer,
                                                                            config.objective),
                               seed=config.seed + 2000 + t)
        parts.append(ds.map(lambda ex, t=t: dict(ex, task=np.full(len(ex["targets"]), t, np.int32))))
    return grain.MapDataset.mix(parts, [r for _, r in tasks])
