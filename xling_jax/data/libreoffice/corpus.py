"""Multi-way parallel paragraphs of the LibreOffice help: alignment, cleaning, splits, counts.

A record is one (page, id): the page's path relative to the language folder
(``text/swriter/guide/text_frame.html``), its help module (``swriter``), the
paragraph/heading id and its text in each language of :data:`LANGUAGES`.

Rules, per language:

* an id that occurs several times on a page with different texts is
  ambiguous: that language gets '' (occurrences with the same text count once);
* a non-English text equal to the English one is the untranslated fall-back:
  '' (the registry never pairs '' with anything);
* a text with no letter (numbers, formulas, symbols) is ''.

A record is kept when at least two languages have text.  Records come in a
fixed order: pages by path, then ids in their order on the English page.
Splits are by whole help modules (:data:`SPLIT_MODULES`), since pages of a
module embed each other's paragraphs.
"""
from __future__ import annotations

import collections
import os
from typing import Dict, Iterable, Iterator, List, Mapping, Optional, Sequence, Tuple

from xling_jax.data.libreoffice.download import HELP_DIRS
from xling_jax.data.libreoffice.html_text import page_paragraphs
from xling_jax.data.report import SkipReport

LANGUAGES = ('en', 'de', 'es', 'fr', 'zh')
FIELDS = ('page', 'module', 'id') + LANGUAGES
SPLITS = ('train', 'dev', 'test')
# Held-out modules: small, well translated in all five languages, and sharing
# little text with the other modules (unlike sdraw, half of whose paragraphs are
# also on simpress pages).
DEV_MODULES = frozenset({'schart'})
TEST_MODULES = frozenset({'smath'})
SPLIT_MODULES = {'dev': DEV_MODULES, 'test': TEST_MODULES}  # train: all other modules

__all__ = ['LANGUAGES', 'FIELDS', 'SPLITS', 'DEV_MODULES', 'TEST_MODULES', 'split_of', 'list_pages',
           'page_records', 'records', 'split_records', 'has_letters', 'pair_counts', 'format_counts']


def split_of(module: str) -> str:
    for split, modules in SPLIT_MODULES.items():
        if module in modules:
            return split
    return 'train'


def has_letters(text: str) -> bool:
    return any(ch.isalpha() for ch in text)


def list_pages(help_root: str, lang: str = 'en') -> List[str]:
    """Page paths (``text/MODULE/...html``, '/'-separated) of one language, sorted."""
    base = os.path.join(help_root, HELP_DIRS[lang])
    pages = []
    for dirpath, dirnames, filenames in os.walk(os.path.join(base, 'text')):
        dirnames.sort()
        rel = os.path.relpath(dirpath, base).replace(os.sep, '/')
        pages.extend(f'{rel}/{name}' for name in filenames if name.endswith('.html'))
    return sorted(pages)


def _read_page(path: str, where: str, lang: str, report: SkipReport) -> Optional[List[Tuple[str, str]]]:
    try:
        with open(path, encoding='utf-8') as f:
            text = f.read()
    except FileNotFoundError:
        report.skip(f'{lang}: page missing', where)
        return None
    except (OSError, UnicodeDecodeError):
        report.skip(f'{lang}: page unreadable (not UTF-8)', where)
        return None
    module = where.split('/')[1] if where.count('/') >= 2 else ''
    paragraphs = page_paragraphs(text, module)
    if paragraphs is None:
        report.skip(f'{lang}: page unparseable (no div#DisplayArea)', where)
    return paragraphs


def _by_id(paragraphs: Sequence[Tuple[str, str]], lang: str, page: str,
           report: SkipReport) -> Dict[str, Optional[str]]:
    """{id: text}, None for ids whose occurrences differ in text."""
    texts: Dict[str, List[str]] = collections.defaultdict(list)
    for pid, text in paragraphs:
        texts[pid].append(text)
    out: Dict[str, Optional[str]] = {}
    for pid, found in texts.items():
        if len(found) > 1:
            if len(set(found)) == 1:
                report.skip(f'{lang}: duplicated id, same text (kept once)', f'{page}#{pid}')
            else:
                report.skip(f'{lang}: duplicated id, different texts (dropped)', f'{page}#{pid}')
                out[pid] = None
                continue
        out[pid] = found[0]
    return out


def page_records(help_root: str, page: str, report: SkipReport,
                 languages: Sequence[str] = LANGUAGES) -> Iterator[Dict[str, str]]:
    """The kept records of one page (see the module docstring for the rules)."""
    module = page.split('/')[1]
    english = _read_page(os.path.join(help_root, HELP_DIRS['en'], page), page, 'en', report)
    if english is None:
        return
    order = list(dict.fromkeys(pid for pid, _ in english))
    texts = {'en': _by_id(english, 'en', page, report)}
    present = {'en'}  # languages whose page could be read
    for lang in languages:
        if lang == 'en':
            continue
        paragraphs = _read_page(os.path.join(help_root, HELP_DIRS[lang], page), page, lang, report)
        texts[lang] = _by_id(paragraphs or [], lang, page, report)
        if paragraphs is not None:
            present.add(lang)
            for pid in sorted(texts[lang].keys() - texts['en'].keys()):
                report.skip(f'{lang}: id not on the English page', f'{page}#{pid}')
    for pid in order:
        where = f'{page}#{pid}'
        record = {'page': page, 'module': module, 'id': pid}
        english_text = texts['en'][pid] or ''
        for lang in languages:
            text = texts[lang].get(pid, '')
            if text is None:
                text = ''  # ambiguous, counted by _by_id
            elif pid not in texts[lang]:
                if lang in present:
                    report.skip(f'{lang}: id missing from the page', where)
            elif not text:
                report.skip(f'{lang}: empty paragraph', where)
            elif lang != 'en' and text == english_text:
                report.skip(f'{lang}: same as English (untranslated)', where)
                text = ''
            elif not has_letters(text):
                report.skip(f'{lang}: no letters', where)
                text = ''
            record[lang] = text
        if sum(bool(record[lang]) for lang in languages) >= 2:
            yield record
        else:
            report.skip('record with fewer than two languages', where)


def records(help_root: str, report: Optional[SkipReport] = None,
            languages: Sequence[str] = LANGUAGES) -> Iterator[Dict[str, str]]:
    """All kept records, pages sorted by path, ids in English page order."""
    report = SkipReport() if report is None else report
    for page in list_pages(help_root):
        yield from page_records(help_root, page, report, languages)


def split_records(help_root: str, report: Optional[SkipReport] = None) -> Dict[str, List[Dict[str, str]]]:
    """{'train': [...], 'dev': [...], 'test': [...]} by module."""
    out: Dict[str, List[Dict[str, str]]] = {split: [] for split in SPLITS}
    for record in records(help_root, report):
        out[split_of(record['module'])].append(record)
    return out


def pair_counts(examples: Iterable[Mapping[str, str]], languages: Sequence[str] = LANGUAGES) -> Dict[str, int]:
    """{'en-de': n, ...}: records where both sides have text and differ (the registry's rule)."""
    pairs = [(a, b) for i, a in enumerate(languages) for b in languages[i + 1:]]
    counts = collections.Counter({f'{a}-{b}': 0 for a, b in pairs})
    for ex in examples:
        for a, b in pairs:
            x, y = ex[a], ex[b]
            if x and y and x != y:
                counts[f'{a}-{b}'] += 1
    return dict(counts)


def format_counts(counts: Mapping[str, Mapping[str, int]], sizes: Mapping[str, int]) -> str:
    """A table: one row per language pair, one column per split."""
    splits = list(counts)
    pairs = list(next(iter(counts.values())))
    lines = ['pair    ' + ''.join(f'{s:>9}' for s in splits),
             'records ' + ''.join(f'{sizes[s]:>9,}' for s in splits)]
    lines += [f'{p:<8}' + ''.join(f'{counts[s][p]:>9,}' for s in splits) for p in pairs]
    return '\n'.join(lines)
