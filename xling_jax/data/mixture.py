"""Which (dataset, source language, target language) directions a run trains on, and how often.

`config.data.mixture` lists entries `DATASET:SRC-TGT` (e.g. `libreoffice_help:en-de`,
`gettext/lo:en-fr`); with `data.both_directions` each entry also trains in reverse.
An empty mixture means `data.name` with exactly the directions in `data.directions`.
Directions are sampled with temperature T: p_i ∝ n_i^(1/T) over their training pairs
(T=1 proportional to size, large T close to uniform).

Back-translated data (a dataset whose metadata names a `synthetic` language, as `xling
backtranslate` builds it) trains only from its synthetic side to its real side: both_directions
does not reverse it, since the model must not learn to write machine translations. With
`data.bt_ratio` r > 0 its directions get r of the samples in all.

Distilled data (a dataset whose metadata names `distilled` directions, as `xling distill` builds it:
human sources, a teacher's translations as targets) trains only in the directions it was distilled
in, is never fed to the tokenizer nor to the denoising tasks as text of its target language, and is
scored on the references of the dataset it was distilled from. With `data.distill_ratio` d > 0 its
directions get d of the samples in all. The directions without a ratio of their own (the real ones,
and the synthetic kinds whose ratio is 0) share what is left, by temperature.
"""
import dataclasses

import numpy as np

from xling_jax.data import catalog
from xling_jax.errors import UserError


@dataclasses.dataclass(frozen=True)
class Direction:
    dataset: str
    src: str
    tgt: str
    backtranslated: bool = False  # the source is a machine translation of the (real) target
    distilled_from: str = ""  # the target is a teacher's translation of a source from this dataset

    @property
    def distilled(self) -> bool:
        return bool(self.distilled_from)

    @property
    def kind(self) -> str:
        """Which share of the samples it is in: "backtranslated", "distilled" or "real" (sampling_rates)."""
        return "backtranslated" if self.backtranslated else "distilled" if self.distilled else "real"

    @property
    def pair(self) -> str:
        return f"{self.src}-{self.tgt}"

    def key(self, qualified: bool) -> str:
        """Name in metrics and eval output: `en-es`, or `DATASET:en-es` when several datasets mix."""
        return f"{self.dataset}:{self.pair}" if qualified else self.pair


def entries(data_config) -> list[tuple[str, str, bool]]:
    """(dataset, 'SRC-TGT', written) entries of the config, reverse directions added where asked
    (`written` is False for a reverse that only both_directions asks for)."""
    if not data_config.mixture:
        return [(data_config.name, d, True) for d in data_config.directions]
    out = {}
    for entry in data_config.mixture:
        ref, sep, direction = entry.rpartition(":")
        if not sep or not ref:
            raise UserError(f"bad data.mixture entry {entry!r}: write DATASET:SRC-TGT, e.g. libreoffice_help:en-de")
        out[(ref, direction)] = True
        if data_config.both_directions:
            src, _, tgt = direction.partition("-")
            out.setdefault((ref, f"{tgt}-{src}"), False)
    return [(ref, d, written) for (ref, d), written in out.items()]


def dataset_refs(data_config) -> list[str]:
    """The datasets a config reads, in first-mention order (no dataset needs to be built)."""
    refs = []
    for ref, _, _ in entries(data_config):
        catalog.split_ref(ref)
        if ref not in refs:
            refs.append(ref)
    return refs


def named_languages(data_config) -> list[str]:
    """Language codes the config names (no dataset needs to be built)."""
    return sorted({l for _, d, _ in entries(data_config) for l in d.split("-") if l})


def check_known(data_config, flags, tokenizer=None) -> None:
    """UserError unless every language, with the flag that gave it ([("--src", "es"), ...]), is one the run
    trains on; for an imported pretrained vocabulary (`tokenizer` with language_code), one it has."""
    if hasattr(tokenizer, "language_code"):
        for flag, lang in flags:
            try:
                tokenizer.language_code(lang)
            except UserError as e:
                raise UserError(f"{flag} {lang!r}: {e}") from None
        return
    known = named_languages(data_config)
    for flag, lang in flags:
        if lang not in known:
            raise UserError(f"{flag} {lang!r}: this model knows {', '.join(known)}")


def directions(data_config, data_dir: str | None = None) -> list[Direction]:
    """All training directions, with language codes checked against the built datasets."""
    out = []
    for ref, d, written in entries(data_config):
        (src, tgt), = catalog.parse_directions(ref, [d], data_dir)
        dataset = catalog.open_dataset(ref, data_dir)
        if dataset.distilled:
            if d in dataset.distilled:
                out.append(Direction(ref, src, tgt, distilled_from=dataset.distilled_from))
            elif written:
                raise UserError(f"data.mixture entry {ref}:{d}: {ref} is distilled in "
                                f"{', '.join(dataset.distilled)} only (its targets are a teacher's translations, "
                                "not sources to learn from)")
            continue  # a reverse that both_directions adds but that was not distilled
        synthetic = dataset.synthetic
        if synthetic == tgt:
            if written:
                raise UserError(f"data.mixture entry {ref}:{d} would teach the model to write machine "
                                f"translations: the {tgt} side of {ref} is back-translated; write {ref}:{tgt}-{src}")
            continue  # both_directions does not reverse back-translated data
        out.append(Direction(ref, src, tgt, backtranslated=synthetic == src))
    return out


def evaluated(dirs: list[Direction]) -> list[Direction]:
    """The directions scored on dev/test: a back-translated one has no human source to score on; a
    distilled one is scored on the references of the dataset it was distilled from (once, however
    many entries name that direction)."""
    out = [Direction(d.distilled_from, d.src, d.tgt) if d.distilled else d for d in dirs if not d.backtranslated]
    return list(dict.fromkeys(out))


def human_text(d: Direction, lang: str) -> bool:
    """Whether the `lang` side of `d`'s pairs is human text (not a back-translated source nor a distilled target)."""
    return (d.src == lang and not d.backtranslated) or (d.tgt == lang and not d.distilled)


def is_qualified(dirs: list[Direction]) -> bool:
    return len({d.dataset for d in dirs}) > 1


def languages(dirs: list[Direction]) -> list[str]:
    return sorted({l for d in dirs for l in (d.src, d.tgt)})


def temperature_weights(sizes, temperature: float) -> np.ndarray:
    """p_i ∝ n_i^(1/T), normalised (T > 0: validate.py checks data.temperature); directions without pairs get 0."""
    n = np.asarray(sizes, dtype=np.float64)
    w = np.where(n > 0, np.power(np.maximum(n, 1.0), 1.0 / temperature), 0.0)
    if w.sum() == 0:
        raise UserError("no training pairs in any direction of the mixture")
    return w / w.sum()


_SHARE_KEYS = {"backtranslated": ("data.bt_ratio", "back-translated", "`xling backtranslate`"),
               "distilled": ("data.distill_ratio", "distilled", "`xling distill`")}


def sampling_rates(sizes, kinds, temperature: float, shares: dict[str, float] | None = None) -> np.ndarray:
    """Each direction's sampling rate. `kinds`: each direction's Direction.kind; `shares`: {kind: r}
    (data.bt_ratio, data.distill_ratio). A kind with r > 0 gets r of the samples in all, so that the
    share of synthetic pairs does not depend on how many were made; the other directions share the
    rest; within each group by temperature (sum of shares < 1: validate.py checks it)."""
    shares = {k: r for k, r in (shares or {}).items() if r}
    if not shares:
        return temperature_weights(sizes, temperature)
    sizes, kinds = np.asarray(sizes), np.asarray(kinds)
    rest = ~np.isin(kinds, list(shares))
    rates = np.zeros(len(sizes))
    groups = [(kinds == k, r, *_SHARE_KEYS[k]) for k, r in shares.items()]
    given = ", ".join(f"{key}={r}" for _, r, key, _, _ in groups)
    for group, share, _, what, source in groups:
        if not sizes[group].sum():
            raise UserError(f"{given} but the mixture has no {what} training pairs; {what} data comes from "
                            f"{source} (see README)")
        rates[group] = share * temperature_weights(sizes[group], temperature)
    if not sizes[rest].sum():
        raise UserError(f"{given} but the mixture has no real training pairs for the other "
                        f"{1 - sum(shares.values()):.3g} of the samples; set the ratio to 0 to train on "
                        "the mixture's pairs by size")
    rates[rest] = (1 - sum(shares.values())) * temperature_weights(sizes[rest], temperature)
    return rates


def source_options(data_config, ref: str) -> dict | None:
    """Build options for a parametric dataset (`gettext/NAME`, `parallel_text/NAME`) from data.sources.NAME."""
    family, name = catalog.split_ref(ref)
    if family not in catalog.PARAMETRIC or "sources" not in data_config or name not in data_config.sources:
        return None
    opts = data_config.sources[name]
    opts = opts.to_dict() if hasattr(opts, "to_dict") else dict(opts)
    builder = opts.pop("builder", family)
    if builder != family:
        raise UserError(f"data.sources.{name}.builder is {builder!r} but {ref} uses {family!r}")
    return opts


def pair_counts(dirs: list[Direction], split: str, data_dir: str | None) -> list[int]:
    return [len(catalog.open_dataset(d.dataset, data_dir).pair_index(split, d.src, d.tgt)) for d in dirs]


def ensure_built(data_config, data_dir: str | None = None) -> str:
    """Builds every locally buildable dataset of the config if missing, into `data_dir` (default
    data.data_dir); returns the data directory."""
    data_dir = catalog.resolve_data_dir(data_dir or data_config.data_dir)
    for ref in dataset_refs(data_config):
        catalog.ensure_built(ref, data_dir, options=source_options(data_config, ref))
    return data_dir


def monolingual_files(data_config) -> list[tuple[str, str]]:
    """[(path, lang)] of data.monolingual entries `PATH:LANG`, checked to exist."""
    import os
    out = []
    for entry in data_config.monolingual:
        path, sep, lang = entry.rpartition(":")
        if not sep or not path or not lang:
            raise UserError(f"bad data.monolingual entry {entry!r}: write PATH:LANG, e.g. news.de.txt:de")
        path = os.path.abspath(os.path.expanduser(path))
        if not os.path.isfile(path):
            raise UserError(f"data.monolingual file {path} does not exist")
        out.append((path, lang))
    return out


def read_lines(path: str) -> list[str]:
    """Non-empty lines of a UTF-8 text file (undecodable bytes replaced)."""
    with open(path, encoding="utf-8", errors="replace") as f:
        return [line.rstrip("\n") for line in f if line.strip()]
