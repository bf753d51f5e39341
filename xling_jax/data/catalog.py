"""Datasets by name: how to build them, where they live, which languages they hold.

A dataset reference is a TFDS-style name:
  * a local builder: `bible`, `libreoffice_help` (built offline from Debian packages);
  * a parametric local builder with a user-chosen config name: `gettext/NAME`,
    `parallel_text/NAME` (its sources come from `xling data build` flags or from
    `config.data.sources[REF]`);
  * any TFDS catalog translation dataset, e.g. `wmt14_translate/de-en` or
    `ted_hrlr_translate/pt_to_en`, downloaded by TFDS where the internet is reachable.

Every dataset is built as array_record under DATA_DIR/<name>[/<config>]/<version>/ and
read back with `tfds.builder_from_directory`, so reading never needs the builder code
(nor TensorFlow). Its languages come from the dataset's metadata (`languages`), a
`Translation` feature, or the builder module's `LANGUAGES`.
"""
import contextlib
import fcntl
import functools
import importlib
import os
import socket
import sys
import urllib.parse
from collections.abc import Sequence

import numpy as np

from xling_jax import log
from xling_jax.errors import UserError

logger = log.get_logger(__name__)

# Local builders: module providing `build(data_dir, *, install=False[, config_name, options])`.
LOCAL_BUILDERS = {
    "bible": "xling_jax.data.bible.builder",
    "libreoffice_help": "xling_jax.data.libreoffice.builder",
    "gettext": "xling_jax.data.gettext.builder",
    "parallel_text": "xling_jax.data.parallel_text.builder",
}
PARAMETRIC = ("gettext", "parallel_text")
# TFDS catalog modules holding the translation builders, imported on demand.
_TFDS_MODULES = ("tensorflow_datasets.translate",)
SPLIT_ALIASES = {"dev": ("dev", "validation"), "validation": ("validation", "dev")}


def split_ref(ref: str) -> tuple[str, str | None]:
    family, _, config = ref.partition("/")
    if not family or (ref.count("/") > 1):
        raise UserError(f"bad dataset name {ref!r}: write NAME or NAME/CONFIG, e.g. bible or wmt14_translate/de-en")
    if family in PARAMETRIC and not config:
        raise UserError(f"dataset {family!r} needs a name: {family}/NAME (e.g. {family}/mine); "
                        f"build it with `xling data build {family} --name NAME ...`")
    return family, config or None


def resolve_data_dir(data_dir: str | None = None) -> str:
    path = data_dir or os.environ.get("XLING_DATA_DIR") or os.path.join(
        os.path.expanduser("~"), ".cache", "xling_jax", "datasets")
    return os.path.abspath(os.path.expanduser(path))


def _version_key(name: str):
    try:
        return tuple(int(p) for p in name.split("."))
    except ValueError:
        return ()


def built_path(ref: str, data_dir: str) -> str | None:
    """DATA_DIR/<ref>/<newest version> if a finished build is there (TFDS writes dataset_info.json last)."""
    root = os.path.join(data_dir, ref)
    if not os.path.isdir(root):
        return None
    versions = [v for v in os.listdir(root) if _version_key(v)
                and os.path.exists(os.path.join(root, v, "dataset_info.json"))]
    return os.path.join(root, max(versions, key=_version_key)) if versions else None


def is_built(ref: str, data_dir: str) -> bool:
    return built_path(ref, data_dir) is not None


def _make_data_dir(data_dir: str | None) -> str:
    data_dir = resolve_data_dir(data_dir)
    try:
        os.makedirs(data_dir, exist_ok=True)
    except OSError as e:
        raise UserError(f"cannot create data directory {data_dir}: {e.strerror}; pass --data_dir") from None
    if not os.access(data_dir, os.W_OK):
        raise UserError(f"data directory {data_dir} is not writable; pass --data_dir")
    return data_dir


def build(ref: str, data_dir: str | None = None, install: bool = False, options: dict | None = None,
          manual_dir: str | None = None) -> str:
    """Builds dataset `ref` into the data directory (under the dataset's build lock: `xling data build`
    while a training run builds the same dataset waits for it); returns the built dataset's folder."""
    data_dir = _make_data_dir(data_dir)
    with _build_lock(data_dir, ref):
        return _build(ref, data_dir, install, options, manual_dir)


def _build(ref: str, data_dir: str, install: bool, options: dict | None, manual_dir: str | None) -> str:
    # TFDS prints its progress to stdout; a command's stdout is its result (JSON), so it goes to stderr.
    with contextlib.redirect_stdout(sys.stderr):
        return _build_dataset(ref, data_dir, install, options, manual_dir)


def _build_dataset(ref: str, data_dir: str, install: bool, options: dict | None, manual_dir: str | None) -> str:
    family, config = split_ref(ref)
    if family in LOCAL_BUILDERS:
        module = importlib.import_module(LOCAL_BUILDERS[family])
        if family in PARAMETRIC:
            if not options:
                raise UserError(f"{ref} is not built in {data_dir} and no sources are given: build it with "
                                f"`xling data build {family} --name {config} ...` or set config.data.sources")
            module.build(data_dir, install=install, config_name=config, options=dict(options))
        else:
            if config:
                raise UserError(f"dataset {family!r} has no configs; write {family}")
            module.build(data_dir, install=install)
    else:
        _build_tfds_catalog(ref, data_dir, manual_dir)
    path = built_path(ref, data_dir)
    if path is None:
        raise UserError(f"building {ref} left no finished dataset in {data_dir}")
    open_dataset.cache_clear()  # a rebuild replaces the folder an opened Dataset reads
    return path


def ensure_built(ref: str, data_dir: str | None = None, options: dict | None = None) -> str:
    """Builds a dataset on first use where that needs no download; returns the data directory."""
    data_dir = resolve_data_dir(data_dir)
    if is_built(ref, data_dir):
        return data_dir
    family, _ = split_ref(ref)
    if family not in LOCAL_BUILDERS:
        _tfds_builder(ref, data_dir)  # an unknown name says so
        raise UserError(f"dataset {ref} is not built in {data_dir}: run `xling data build {ref} "
                        f"--data_dir {data_dir}` (it downloads through TFDS, or reads the archives TFDS asks for "
                        "from --manual_dir DIR), or point --data_dir / config.data.data_dir at a folder holding "
                        "a prepared copy")
    with _build_lock(_make_data_dir(data_dir), ref):
        if not is_built(ref, data_dir):  # another process may have built it while this one waited
            logger.info(f"Dataset {ref!r} is not built in {data_dir}; building it now (xling data build {ref}).")
            _build(ref, data_dir, False, options, None)
    return data_dir


@contextlib.contextmanager
def _build_lock(data_dir: str, ref: str):
    """Serialises builds of one dataset: jobs started together on one machine (parallel test
    workers, sweep runs, the hosts of a job on a shared disk) build it once, not over each other."""
    with open(os.path.join(data_dir, f".{ref.replace('/', '_')}.build-lock"), "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)  # released when the file is closed
        yield


def _tfds_builder(ref: str, data_dir: str):
    import tensorflow_datasets as tfds
    for m in _TFDS_MODULES:  # registers the catalog's translation builders with TFDS
        importlib.import_module(m)
    family, _ = split_ref(ref)
    try:
        importlib.import_module(f"tensorflow_datasets.datasets.{family}.{family}_dataset_builder")
    except ImportError:
        pass
    try:
        return tfds.builder(ref, data_dir=data_dir, file_format="array_record")
    except Exception as e:  # DatasetNotFoundError and config errors
        local = ", ".join(sorted(LOCAL_BUILDERS))
        raise UserError(f"unknown dataset {ref!r}: not a local dataset ({local}) nor a TFDS catalog dataset "
                        f"({str(e).splitlines()[0][:120]})") from None


def _reachable(url: str, timeout: float = 5.0) -> bool:
    host = urllib.parse.urlparse(url).hostname
    if not host:
        return False
    old = socket.getdefaulttimeout()
    socket.setdefaulttimeout(timeout)
    try:
        socket.getaddrinfo(host, 443)
        return True
    except OSError:
        return False
    finally:
        socket.setdefaulttimeout(old)


def _build_tfds_catalog(ref: str, data_dir: str, manual_dir: str | None) -> None:
    import tensorflow_datasets as tfds
    if manual_dir and not os.path.isdir(manual_dir):
        # Else TFDS goes on to download what it cannot find there, for minutes where offline.
        raise UserError(f"--manual_dir {manual_dir} is not a folder: pass the folder holding the archives "
                        f"TFDS asks for to build {ref}")
    builder = _tfds_builder(ref, data_dir)
    how = (f"build it where the internet is reachable (`xling data build {ref} --data_dir DIR`) and copy "
           f"DIR/{ref} to {data_dir}/{ref}, or pass --manual_dir with the archives TFDS asks for")
    hosts = [builder.info.homepage or "", "https://storage.googleapis.com"]
    if not manual_dir and not any(_reachable(h) for h in hosts):
        # TFDS would retry each URL for minutes before failing; say it at once.
        raise UserError(f"cannot download {ref}: no internet connection (cannot resolve "
                        f"{', '.join(urllib.parse.urlparse(h).hostname or h for h in hosts if h)}); {how}")
    config = tfds.download.DownloadConfig(manual_dir=manual_dir) if manual_dir else None
    try:
        builder.download_and_prepare(download_config=config)
    except Exception as e:
        raise UserError(f"could not build {ref}: {type(e).__name__}: {str(e).splitlines()[0][:200]}; {how}") from None


class Dataset:
    """A built dataset: its languages, split sizes and text sources."""

    def __init__(self, ref: str, path: str):
        import tensorflow_datasets as tfds  # slow import; only where data is read
        self.ref, self.path = ref, path
        self._builder = tfds.builder_from_directory(path)
        info = self._builder.info
        self.description = info.description or ""
        self.languages = _languages(ref, info)
        # The language whose text is machine-translated (a back-translated parallel_text dataset), if any.
        self.synthetic = (info.metadata or {}).get("synthetic")
        # A distilled dataset (`xling distill`): {'SRC-TGT': [start, end)} of the train records whose TGT
        # side is a teacher's translation, and the dataset their sources (and the references) come from.
        self.distilled = {d: tuple(r) for d, r in ((info.metadata or {}).get("distilled") or {}).items()}
        self.distilled_from = (info.metadata or {}).get("distilled_from") or ""
        self.splits = {name: s.num_examples for name, s in info.splits.items()}
        # Two-language Translation datasets (the TFDS catalog) have both sides in every record.
        self._complete = isinstance(info.features, tfds.features.Translation) and len(self.languages) == 2

    def split_name(self, split: str) -> str:
        for name in SPLIT_ALIASES.get(split, (split,)):
            if name in self.splits:
                return name
        raise UserError(f"dataset {self.ref!r} has no split {split!r}; splits: {', '.join(sorted(self.splits))}")

    def source(self, split: str) -> "TextSource":
        return TextSource(self._builder.as_data_source(split=self.split_name(split)))

    def pair_index(self, split: str, src: str, tgt: str) -> np.ndarray:
        """Record indices where both languages have text and the two sides differ; of a distilled
        dataset's train split, those of the records distilled in this direction (or, for the reverse, in
        the reverse one; empty where neither was)."""
        index = self._pair_indices(split)  # keyed in the dataset's language order, which need not be sorted
        idx = index[(src, tgt)] if (src, tgt) in index else index[(tgt, src)]
        if self.distilled and self.split_name(split) == "train":
            start, end = self.distilled.get(f"{src}-{tgt}") or self.distilled.get(f"{tgt}-{src}") or (0, 0)
            idx = idx[(idx >= start) & (idx < end)]
        return idx

    @functools.lru_cache(maxsize=None)  # noqa: B019 - datasets live as long as the process anyway
    def _pair_indices(self, split: str) -> dict[tuple[str, str], np.ndarray]:
        # One pass over the split serves every language pair (multi-way datasets have many).
        source = self.source(split)
        # Keyed by the sorted pair, as pair_index looks them up (the languages need not be sorted).
        pairs = [tuple(sorted((a, b))) for i, a in enumerate(self.languages) for b in self.languages[i + 1:]]
        if self._complete:
            return {p: np.arange(len(source), dtype=np.int64) for p in pairs}
        keep = {p: [] for p in pairs}
        for i, record in enumerate(source.read_many(range(len(source)))):
            for p in pairs:
                if _usable(record, *p):
                    keep[p].append(i)
        return {p: np.asarray(v, dtype=np.int64) for p, v in keep.items()}

    def pair_counts(self, split: str) -> dict[str, int]:
        """Usable pairs per unordered language pair, e.g. {'de-en': 35012, ...}."""
        return {f"{a}-{b}": len(v) for (a, b), v in self._pair_indices(self.split_name(split)).items()}


def _usable(record: dict, src: str, tgt: str) -> bool:
    a, b = record.get(src, ""), record.get(tgt, "")
    return bool(a.strip()) and bool(b.strip()) and a != b


def _languages(ref: str, info) -> tuple[str, ...]:
    import tensorflow_datasets as tfds
    if info.metadata and "languages" in info.metadata:
        return tuple(info.metadata["languages"])
    if isinstance(info.features, tfds.features.Translation):
        return tuple(info.features.languages)
    family, _ = split_ref(ref)
    if family in LOCAL_BUILDERS:
        langs = getattr(importlib.import_module(LOCAL_BUILDERS[family]), "LANGUAGES", None)
        if langs:
            return tuple(langs)
    raise UserError(f"cannot tell the languages of dataset {ref!r}: it has no `languages` metadata "
                    "and no Translation feature")


@functools.lru_cache(maxsize=None)
def open_dataset(ref: str, data_dir: str | None = None) -> Dataset:
    data_dir = resolve_data_dir(data_dir)
    path = built_path(ref, data_dir)
    if path is None:
        split_ref(ref)
        raise UserError(f"dataset {ref} is not built in {data_dir}: run `xling data build {ref}` "
                        "(or pass --data_dir where it is built)")
    return Dataset(ref, path)


class TextSource:
    """Random access to a split's records with text features as str."""

    def __init__(self, source):
        self._source = source

    def __len__(self) -> int:
        return len(self._source)

    def __getitem__(self, i: int) -> dict:
        return _as_text(self._source[int(i)])

    def read_many(self, indices, chunk: int = 4096):
        """Records at `indices`, in order: batched reads (several times faster than one by one)."""
        indices = [int(i) for i in indices]
        for start in range(0, len(indices), chunk):
            yield from map(_as_text, self._source.__getitems__(indices[start:start + chunk]))


def _as_text(record: dict) -> dict:
    return {k: v.decode("utf-8") if isinstance(v, bytes) else v for k, v in record.items()}


def parse_directions(ref: str, directions: Sequence[str], data_dir: str | None = None) -> list[tuple[str, str]]:
    """['en-es', ...] -> [('en', 'es'), ...], checking the codes against the dataset's languages."""
    languages = open_dataset(ref, data_dir).languages
    pairs = []
    for d in directions:
        parts = d.split("-")
        if len(parts) != 2 or not all(parts):
            raise UserError(f"bad direction {d!r}: write SRC-TGT, e.g. en-es")
        for lang in parts:
            if lang not in languages:
                raise UserError(f"unknown language code {lang!r} for dataset {ref!r}; it has: "
                                f"{', '.join(languages)}")
        if parts[0] == parts[1]:
            raise UserError(f"bad direction {d!r}: source and target language are the same")
        pairs.append((parts[0], parts[1]))
    return pairs
