"""Multi-way English -> N languages records from the gettext catalogs under a folder.

Catalogs and their language and domain (the catalog a message belongs to):

* `.../LANG/LC_MESSAGES/DOMAIN.mo` (an installed system, a libreoffice-l10n-XX
  package; any LC_* category folder): LANG from the folder;
* `po/LANG.po` (a source tree; also `.gmo`): LANG from the file name, DOMAIN the
  name of the folder's only `.pot` template, else the folder's path under the source
  (`proj/po`). Where the header's `Language:` names another language than the file
  name does, the header wins and DOMAIN is the file name;
* anything else, `DOMAIN.po`: LANG from the header's `Language:`, else from the
  parent folder's name.

Catalogs in English (`en`, and gettext's generated `en@quot`, `en@boldquot`) are
left out: English is the source side.

One record per (domain, context, English msgid): `en`, one field per language
('' where that language has no translation), `catalog` (the domain) and
`context` ('' without msgctxt). Within a language the first catalog (in sorted
path order) to translate a message wins; repeats are counted as duplicates or
conflicts.

Splits are by domain: domains are taken in the order of a SHA-1 hash of their
name; each goes to test while it fits in test's share (`test_fraction` of all
records, default 5%), else to dev while it fits in dev's share, else to train.
Where that leaves test or dev without a domain, it gets the smallest train domain
(as long as train keeps one). With fewer than three domains the split is by a
hash of the English text instead; `test_catalogs`/`dev_catalogs` name the
held-out domains explicitly. Then every record whose English text occurs in test
is removed from dev and train, and every one whose English text occurs in dev
from train.
"""
from __future__ import annotations

import collections
import dataclasses
import hashlib
import os
import re
from collections.abc import Iterable, Sequence

from xling_jax.data import langcode
from xling_jax.data.gettext import catalog as catalog_lib
from xling_jax.data.report import SkipReport
from xling_jax.errors import UserError

SPLITS = ("train", "dev", "test")
ENGLISH = "en"
_ENGLISH_CATALOGS = {"en", "en@quot", "en@boldquot"}
_CATEGORY = re.compile(r"LC_[A-Z]+")  # LC_MESSAGES; some packages install copies under LC_TIME


@dataclasses.dataclass
class Corpus:
    languages: list[str]                  # 'en' first, then the translations' codes, sorted
    splits: dict[str, list[dict]]         # split -> records
    catalogs: dict[str, str]              # domain -> split
    report: SkipReport


def find_catalogs(source: str) -> list[str]:
    if os.path.isfile(source):
        return [source] if source.endswith(catalog_lib.SUFFIXES) else []
    found = []
    for root, dirs, files in os.walk(source):
        dirs.sort()
        found += [os.path.join(root, f) for f in sorted(files) if f.endswith(catalog_lib.SUFFIXES)]
    return found


class _Locator:
    """Language and domain of each catalog file (see the module docstring)."""

    def __init__(self, source: str):
        self.root = source if os.path.isdir(source) else os.path.dirname(source)
        self._pot: dict[str, str | None] = {}

    def path_language(self, path: str) -> tuple[str | None, bool]:
        """(language, certain): certain for the LC_MESSAGES layout (None there: not a code)."""
        parent = os.path.dirname(path)
        if _CATEGORY.fullmatch(os.path.basename(parent)):
            return langcode.normalise(os.path.basename(os.path.dirname(parent))), True
        return None, False

    def locate(self, path: str, header_language: str | None) -> tuple[str | None, str]:
        parent = os.path.dirname(path)
        stem = os.path.splitext(os.path.basename(path))[0]
        language, certain = self.path_language(path)
        if certain:
            return language, stem
        from_name = langcode.normalise(stem)
        if from_name and not (header_language and langcode.base_language(header_language)
                              != langcode.base_language(from_name)):
            return from_name, self._po_folder_domain(parent)
        return header_language or langcode.normalise(os.path.basename(parent)), stem

    def _po_folder_domain(self, folder: str) -> str:
        if folder not in self._pot:
            try:
                pots = sorted(f for f in os.listdir(folder) if f.endswith(".pot"))
            except OSError:
                pots = []
            self._pot[folder] = pots[0][:-4] if len(pots) == 1 else None
        if self._pot[folder]:
            return self._pot[folder]
        rel = os.path.relpath(folder, self.root).replace(os.sep, "/")
        return os.path.basename(os.path.abspath(self.root)) if rel == "." else rel


def _unit(text: str) -> float:
    """A stable pseudo-random number in [0, 1) from a string."""
    return int.from_bytes(hashlib.sha1(text.encode("utf-8")).digest()[:8], "big") / 2.0 ** 64


def assign_splits(sizes: dict[str, int], dev_fraction: float, test_fraction: float,
                  dev_catalogs: Sequence[str] = (), test_catalogs: Sequence[str] = ()) -> dict[str, str] | None:
    """Domain -> split; None where there are too few domains (split by English text instead)."""
    if dev_catalogs or test_catalogs:
        unknown = sorted((set(dev_catalogs) | set(test_catalogs)) - set(sizes))
        if unknown:
            raise UserError(f"unknown catalog(s) {', '.join(unknown)} in dev_catalogs/test_catalogs; "
                            f"the catalogs are: {', '.join(sorted(sizes))}")
        both = sorted(set(dev_catalogs) & set(test_catalogs))
        if both:
            raise UserError(f"catalog(s) {', '.join(both)} are in both dev_catalogs and test_catalogs")
        return {d: "test" if d in test_catalogs else "dev" if d in dev_catalogs else "train" for d in sizes}
    if len(sizes) < 3:
        return None
    order = sorted(sizes, key=lambda d: (hashlib.sha1(d.encode("utf-8")).hexdigest(), d))
    total = sum(sizes.values())
    share = {"test": test_fraction * total, "dev": dev_fraction * total}
    used = {"test": 0, "dev": 0}
    out = {}
    for d in order:
        out[d] = "train"
        for split in ("test", "dev"):
            if used[split] + sizes[d] <= share[split]:
                out[d], used[split] = split, used[split] + sizes[d]
                break
    for split in ("test", "dev"):
        train = [d for d in order if out[d] == "train"]
        if not used[split] and len(train) > 1:
            out[min(train, key=lambda d: sizes[d])] = split
    return out


def collect(source: str, languages: Iterable[str] | None, report: SkipReport):
    """{(domain, context, English): {language: translation}}, first locations, languages found."""
    wanted = set(languages) if languages else None
    files = find_catalogs(source)
    if not files:
        raise UserError(f"no gettext catalogs (.po, .mo, .gmo files) under {source}")
    locator = _Locator(source)
    messages: dict[tuple[str, str, str], dict[str, str]] = {}
    where: dict[tuple[str, str, str], str] = {}
    found: set[str] = set()
    for path in files:
        language, certain = locator.path_language(path)
        if certain:
            if language is None:
                report.skip("not a language code in the path", path)
                continue
            found.add(language)
            if language in _ENGLISH_CATALOGS or (wanted is not None and language not in wanted):
                continue
        cat = catalog_lib.read(path, report)
        if cat is None:
            continue
        language, domain = locator.locate(path, cat.language)
        if language is None:
            report.skip("cannot tell the catalog's language (no LANG/LC_MESSAGES/, LANG.po or Language:)", path)
            continue
        found.add(language)
        if language in _ENGLISH_CATALOGS or (wanted is not None and language not in wanted):
            continue
        for context, english, translation, at in catalog_lib.pairs(cat, report):
            key = (domain, context, english)
            entry = messages.setdefault(key, {})
            old = entry.get(language)
            if old is None:
                entry[language] = translation
                where.setdefault(key, at)
            elif old == translation:
                report.skip("duplicate entry", at)
            else:
                report.skip("conflicting translation (the first is kept)", at)
    return messages, where, found


def build_corpus(source: str, languages: Sequence[str] | None = None, *, dev_fraction: float = 0.05,
                 test_fraction: float = 0.05, dev_catalogs: Sequence[str] = (),
                 test_catalogs: Sequence[str] = ()) -> Corpus:
    report = SkipReport()
    wanted = [l for l in languages or () if l != ENGLISH]
    messages, where, found = collect(source, wanted or None, report)
    missing = sorted(set(wanted) - found)
    if missing:
        raise UserError(f"no catalogs in {', '.join(missing)} under {source}; languages found: "
                        f"{', '.join(sorted(found - _ENGLISH_CATALOGS)) or 'none'}")
    if not messages:
        reasons = "; ".join(f"{n} {r}" for r, n in report.counts.most_common(3))
        raise UserError(f"no translated messages in the catalogs under {source}" + (f" ({reasons})" if reasons else ""))
    found_languages = sorted({l for entry in messages.values() for l in entry})
    sizes = collections.Counter(domain for domain, _, _ in messages)
    domain_split = assign_splits(dict(sizes), dev_fraction, test_fraction, dev_catalogs, test_catalogs)

    def split_of(key) -> str:
        if domain_split is not None:
            return domain_split[key[0]]
        u = _unit(key[2])
        return "test" if u < test_fraction else "dev" if u < test_fraction + dev_fraction else "train"

    keys = {s: [] for s in SPLITS}
    for key in sorted(messages, key=lambda k: (k[0], k[2], k[1])):
        keys[split_of(key)].append(key)
    held_out = {s: {k[2] for k in keys[s]} for s in ("dev", "test")}
    for split, later in (("dev", ("test",)), ("train", ("test", "dev"))):
        kept = []
        for key in keys[split]:
            other = next((s for s in later if key[2] in held_out[s]), None)
            if other is None:
                kept.append(key)
            else:
                report.skip(f"English text also in {other} (removed from {split})", where[key])
        keys[split] = kept
        if split == "dev":
            held_out["dev"] = {k[2] for k in kept}
    for split in SPLITS:
        if not keys[split]:
            raise UserError(f"too few messages under {source} for train/dev/test: the {split} split is empty "
                            f"({len(messages)} messages in {len(sizes)} catalog(s)); name held-out catalogs "
                            "with test_catalogs/dev_catalogs or add catalogs")
    splits = {s: [{"catalog": k[0], "context": k[1], ENGLISH: k[2],
                   **{l: messages[k].get(l, "") for l in found_languages}} for k in keys[s]] for s in SPLITS}
    catalogs = domain_split or {d: "by English text" for d in sizes}
    return Corpus([ENGLISH] + found_languages, splits, catalogs, report)
