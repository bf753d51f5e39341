"""Datasets by name: where they live, how to build them, which languages they hold."""
import dataclasses
import importlib
import os
from collections.abc import Callable, Sequence

from xling_jax.errors import UserError


@dataclasses.dataclass(frozen=True)
class DatasetSpec:
    name: str
    module: str  # provides `build(data_dir, install=False)` and registers the TFDS builder
    languages: dict[str, str]  # language code -> feature holding that language's text
    splits: tuple[str, ...] = ("train", "dev", "test")
    description: str = ""

    def build_fn(self) -> Callable:
        return importlib.import_module(self.module).build


DATASETS = {
    "bible": DatasetSpec(
        name="bible", module="xling_jax.data.bible.builder", languages={"en": "en", "es": "es"},
        description="English (KJV) <-> Spanish (Reina-Valera 1909) verses from Debian's SWORD packages"),
}


def get_spec(name: str) -> DatasetSpec:
    if name not in DATASETS:
        raise UserError(f"unknown dataset {name!r}; known datasets: {', '.join(sorted(DATASETS))}")
    return DATASETS[name]


def resolve_data_dir(data_dir: str | None = None) -> str:
    path = data_dir or os.environ.get("XLING_DATA_DIR") or os.path.join(
        os.path.expanduser("~"), ".cache", "xling_jax", "datasets")
    return os.path.abspath(os.path.expanduser(path))


def is_built(name: str, data_dir: str) -> bool:
    # TFDS writes dataset_info.json last, so its presence marks a finished build.
    root = os.path.join(data_dir, name)
    if not os.path.isdir(root):
        return False
    for dirpath, _, files in os.walk(root):
        if "dataset_info.json" in files:
            return True
    return False


def build(name: str, data_dir: str | None = None, install: bool = False):
    spec = get_spec(name)
    data_dir = resolve_data_dir(data_dir)
    try:
        os.makedirs(data_dir, exist_ok=True)
    except OSError as e:
        raise UserError(f"cannot create data directory {data_dir}: {e.strerror}; pass --data_dir") from None
    return spec.build_fn()(data_dir, install=install)


def ensure_built(name: str, data_dir: str | None = None) -> str:
    """Builds a locally buildable dataset on first use; returns the data directory."""
    data_dir = resolve_data_dir(data_dir)
    if not is_built(name, data_dir):
        print(f"Dataset {name!r} is not built in {data_dir}; building it now (xling data build {name}).")
        build(name, data_dir)
    return data_dir


class TextSource:
    """Random access to a split's records with text features as str."""

    def __init__(self, name: str, split: str, data_dir: str):
        import tensorflow_datasets as tfds  # slow import; only where data is read
        spec = get_spec(name)
        importlib.import_module(spec.module)  # registers the builder class with TFDS
        if split not in spec.splits:
            raise UserError(f"dataset {name!r} has no split {split!r}; splits: {', '.join(spec.splits)}")
        self._source = tfds.data_source(name, split=split, data_dir=data_dir, download=False)

    def __len__(self) -> int:
        return len(self._source)

    def __getitem__(self, i: int) -> dict:
        return {k: v.decode("utf-8") if isinstance(v, bytes) else v for k, v in self._source[i].items()}


def parse_directions(name: str, directions: Sequence[str]) -> list[tuple[str, str]]:
    spec = get_spec(name)
    pairs = []
    for d in directions:
        parts = d.split("-")
        if len(parts) != 2:
            raise UserError(f"bad direction {d!r}: write SRC-TGT, e.g. en-es")
        for lang in parts:
            if lang not in spec.languages:
                raise UserError(f"unknown language code {lang!r} for dataset {name!r}; "
                                f"it has: {', '.join(sorted(spec.languages))}")
        pairs.append((parts[0], parts[1]))
    return pairs
