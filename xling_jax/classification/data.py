"""Help-module classification data from `libreoffice_help`: which module a paragraph comes from.

Labels are the dataset's `module` values, `MODULES` (Writer, Calc, Impress, Draw, Math, Base,
Chart, Basic, and the help pages shared by all of them). All 44,028 records are used:

    module     records  pages        module     records  pages
    shared      14,709    834        sdatabase    1,493     85
    scalc        9,203    423        smath        1,282     80
    sbasic       6,899    419        schart         874     56
    swriter      6,485    406        sdraw          601     48
    simpress     2,482    198

Split: the dataset's own splits hold whole modules (dev = schart, test = smath), useless for telling
modules apart. So the records of all three are split again by page: a hash of the page path puts
each page in cls-train, cls-dev or cls-test (80/10/10 %), so no page straddles two splits (its
paragraphs share wording) and every module appears in each split (35,904 / 4,002 / 4,122 records;
cls-test has 2 to 80 pages a module).

Short strings repeat across pages and modules ('Syntax:', 'Click OK.'); an evaluation record whose
text in a training language also occurs in cls-train (783 of cls-test's 4,122 for English) is dropped,
since its score would measure memory. What remains is scored in every language that has its text.
"""
import functools
import hashlib
import random
from typing import NamedTuple

from xling_jax.data import catalog
from xling_jax.data.libreoffice.corpus import LANGUAGES
from xling_jax.errors import UserError

DATASET = "libreoffice_help"
MODULES = ("swriter", "scalc", "simpress", "sdraw", "smath", "sdatabase", "schart", "sbasic", "shared")
SPLITS = ("train", "dev", "test")
_SPLIT_BOUNDS = ((80, "train"), (90, "dev"), (100, "test"))  # cumulative percentages


class Example(NamedTuple):
    text: str
    lang: str
    label: int  # index into MODULES


def page_split(page: str) -> str:
    """The classification split of a help page, fixed by its path (stable across Python runs)."""
    bucket = int.from_bytes(hashlib.sha256(page.encode("utf-8")).digest()[:8], "big") % 100
    return next(name for bound, name in _SPLIT_BOUNDS if bucket < bound)


@functools.lru_cache(maxsize=4)
def all_records(data_dir: str) -> tuple[dict, ...]:
    """Every record of the dataset's train, dev and test splits (str values), in dataset order."""
    dataset = catalog.open_dataset(DATASET, data_dir)
    records = []
    for split in ("train", "dev", "test"):
        source = dataset.source(split)
        records += source.read_many(range(len(source)))
    unknown = sorted({r["module"] for r in records} - set(MODULES))
    if unknown:
        raise UserError(f"{DATASET} in {data_dir} has modules {', '.join(unknown)} that are not classes "
                        f"({', '.join(MODULES)}); rebuild it with this version of xling")
    return tuple(records)


def split_records(records, split: str) -> list[dict]:
    if split not in SPLITS:
        raise UserError(f"unknown classification split {split!r}; choose one of {', '.join(SPLITS)}")
    return [r for r in records if page_split(r["page"]) == split]


def unseen_records(records, split: str, train_languages) -> list[dict]:
    """Records of `split` none of whose texts in `train_languages` occurs in cls-train."""
    train = split_records(records, "train")
    seen = {lang: {r[lang] for r in train} for lang in train_languages}
    return [r for r in split_records(records, split)
            if not any(r[lang] and r[lang] in seen[lang] for lang in train_languages)]


def examples(records, lang: str) -> list[Example]:
    """(text, lang, label) of the records that have text in `lang`."""
    return [Example(r[lang], lang, MODULES.index(r["module"])) for r in records if r[lang].strip()]


def parallel(records, languages) -> list[dict]:
    """Records with text in every one of `languages`: the same paragraphs scored in each language."""
    return [r for r in records if all(r[lang].strip() for lang in languages)]


def subsample(items: list, limit: int, seed: int) -> list:
    """At most `limit` items (0: all), a seeded random subset in the original order."""
    if not limit or len(items) <= limit:
        return list(items)
    keep = sorted(random.Random(seed).sample(range(len(items)), limit))
    return [items[i] for i in keep]


def tokenizer_texts(records) -> list[str]:
    """cls-train text in all five languages: zero-shot languages are in the vocabulary (unlabelled)."""
    return [r[lang] for r in split_records(records, "train") for lang in LANGUAGES if r[lang].strip()]


def check_languages(key: str, languages) -> None:
    if not languages:
        raise UserError(f"{key} is empty; name at least one of {', '.join(LANGUAGES)}")
    for lang in languages:
        if lang not in LANGUAGES:
            raise UserError(f"{key}: unknown language {lang!r}; {DATASET} has {', '.join(LANGUAGES)}")
