"""English-Spanish verse pairs from the KJV, WEB and Reina-Valera 1909 SWORD modules.

Every example is keyed by a KJV reference and holds the KJV text (``en``), the
World English Bible text of the same verse (``en_web``, '' where WEB has no
such verse) and the Reina-Valera 1909 text (``es``), realigned to KJV verse
numbering (see :mod:`align`).  Splits are by whole books (:data:`SPLIT_BOOKS`).

Besides markup cleaning (:mod:`markup`), a few things that the modules carry
as plain text on one side and as markup on the other are made consistent:

* psalm superscriptions are ``<title>`` in KJV (removed) but run into verse 1
  in RV1909: the Spanish clauses that render the title (found with Strong's
  numbers) are removed too;
* Psalm 119 stanza headings ("ALEPH.", "BETH", ...) are plain text in RV1909:
  removed like the KJV/WEB ``<title>`` headings;
* the subscriptions after Paul's letters are ``<title>`` in KJV but plain text
  after the final "Amén." in RV1909: removed.
"""
from __future__ import annotations

import dataclasses
import functools
import re
import time
from typing import Dict, List, Mapping, Tuple

from xling_jax.data.bible import align, markup, sword

Ref = Tuple[str, int, int]

# (OSIS id, SWORD book name) in canonical order: the 66 books of the KJV canon.
BOOKS: Tuple[Tuple[str, str], ...] = (
    ('Gen', 'Genesis'), ('Exod', 'Exodus'), ('Lev', 'Leviticus'), ('Num', 'Numbers'),
    ('Deut', 'Deuteronomy'), ('Josh', 'Joshua'), ('Judg', 'Judges'), ('Ruth', 'Ruth'),
    ('1Sam', 'I Samuel'), ('2Sam', 'II Samuel'), ('1Kgs', 'I Kings'), ('2Kgs', 'II Kings'),
    ('1Chr', 'I Chronicles'), ('2Chr', 'II Chronicles'), ('Ezra', 'Ezra'), ('Neh', 'Nehemiah'),
    ('Esth', 'Esther'), ('Job', 'Job'), ('Ps', 'Psalms'), ('Prov', 'Proverbs'),
    ('Eccl', 'Ecclesiastes'), ('Song', 'Song of Solomon'), ('Isa', 'Isaiah'), ('Jer', 'Jeremiah'),
    ('Lam', 'Lamentations'), ('Ezek', 'Ezekiel'), ('Dan', 'Daniel'), ('Hos', 'Hosea'),
    ('Joel', 'Joel'), ('Amos', 'Amos'), ('Obad', 'Obadiah'), ('Jonah', 'Jonah'), ('Mic', 'Micah'),
    ('Nah', 'Nahum'), ('Hab', 'Habakkuk'), ('Zeph', 'Zephaniah'), ('Hag', 'Haggai'),
    ('Zech', 'Zechariah'), ('Mal', 'Malachi'),
    ('Matt', 'Matthew'), ('Mark', 'Mark'), ('Luke', 'Luke'), ('John', 'John'), ('Acts', 'Acts'),
    ('Rom', 'Romans'), ('1Cor', 'I Corinthians'), ('2Cor', 'II Corinthians'), ('Gal', 'Galatians'),
    ('Eph', 'Ephesians'), ('Phil', 'Philippians'), ('Col', 'Colossians'),
    ('1Thess', 'I Thessalonians'), ('2Thess', 'II Thessalonians'), ('1Tim', 'I Timothy'),
    ('2Tim', 'II Timothy'), ('Titus', 'Titus'), ('Phlm', 'Philemon'), ('Heb', 'Hebrews'),
    ('Jas', 'James'), ('1Pet', 'I Peter'), ('2Pet', 'II Peter'), ('1John', 'I John'),
    ('2John', 'II John'), ('3John', 'III John'), ('Jude', 'Jude'), ('Rev', 'Revelation of John'),
)
OSIS_ID = {name: osis for osis, name in BOOKS}
_BOOK_INDEX = {name: i for i, (_, name) in enumerate(BOOKS)}
SWORD_NAME = {osis: name for osis, name in BOOKS}

_TEST_BOOKS = frozenset({'Mark', 'Lam', 'Titus', 'Phlm'})
_DEV_BOOKS = frozenset({'Ruth', 'Jonah', 'Phil'})
SPLIT_BOOKS: Dict[str, frozenset] = {
    'train': frozenset(osis for osis, _ in BOOKS) - _TEST_BOOKS - _DEV_BOOKS,
    'dev': _DEV_BOOKS,
    'test': _TEST_BOOKS,
}
SPLITS = ('train', 'dev', 'test')
FIELDS = ('ref', 'book', 'en', 'en_web', 'es')

__all__ = ['BOOKS', 'SPLIT_BOOKS', 'SPLITS', 'FIELDS', 'split_of', 'osis_ref', 'Corpus',
           'build_corpus', 'load_corpus', 'verse_pairs']


def split_of(book: str) -> str:
    """Split holding an OSIS book id."""
    for split, books in SPLIT_BOOKS.items():
        if book in books:
            return split
    raise KeyError(book)


def osis_ref(ref: Ref) -> str:
    return f'{OSIS_ID[ref[0]]}.{ref[1]}.{ref[2]}'


@dataclasses.dataclass
class Corpus:
    splits: Dict[str, List[dict]]
    realigned_chapters: List[str]      # 'Num.12', ...
    realigned_refs: List[str]          # KJV refs whose Spanish differs from the by-reference verse
    dropped: Dict[str, List[str]]      # reason -> KJV refs
    web_remapped: Dict[str, str]       # KJV ref -> WEB ref used instead of the same ref
    boundary_moves: Dict[str, int] = dataclasses.field(default_factory=dict)  # ref -> clauses moved
    seconds: float = 0.0

    def counts(self) -> Dict[str, int]:
        return {s: len(v) for s, v in self.splits.items()}


_PSALM_TITLE = re.compile(r'<title\b[^>]*\btype="psalm"[^>]*>.*?</title>', re.S)
_CHAPTER_END = re.compile(r'<chapter\b[^>]*\beID=')
_TITLE = re.compile(r'<title\b')
_PREVERSE = re.compile(r'<div\b[^>]*subType="x-preverse"[^>]*\bsID=[^>]*>')
_AMEN = re.compile(r'Amén\.')


def _has_colophon(kjv_raw: str) -> bool:
    """KJV marks up the subscription of an epistle as a <title> after the chapter's end."""
    m = _CHAPTER_END.search(kjv_raw)
    return bool(m and _TITLE.search(kjv_raw, m.end()))


def _strip_colophon(es: str) -> str:
    last = None
    for last in _AMEN.finditer(es):  # noqa: B007 - the last match is wanted
        pass
    if last is not None and es[last.end():].strip():
        return es[:last.end()]
    return es


def _first_verse_only(raw: str) -> str:
    """Cut a verse that holds the following verse(s) too at the next pre-verse milestone.

    (WEB puts Romans 16:25-27 after Romans 14:23, inside verse 14:23.)
    """
    for m in _PREVERSE.finditer(raw):
        if _has_words(raw[:m.start()]) and _has_words(raw[m.start():]):
            return raw[:m.start()]
    return raw


_NOTE = re.compile(r'<note\b.*?</note>', re.S)
_ANY_TAG = re.compile(r'<[^>]*>')
_WORD = re.compile(r'\w')


def _has_words(raw: str) -> bool:
    return bool(_WORD.search(_ANY_TAG.sub('', _NOTE.sub('', raw))))


def _words(text: str) -> frozenset:
    return frozenset(w[:5] for w in re.findall(r'[a-z]+', text.lower()) if len(w) > 3)


def build_corpus(kjv: Mapping[Ref, str], rv: Mapping[Ref, str], web: Mapping[Ref, str]) -> Corpus:
    """Pure part of the pipeline: raw markup dicts (as from :func:`sword.parse_imp`) to a Corpus."""
    t0 = time.perf_counter()
    names = set(OSIS_ID)
    refs: List[Ref] = sorted((r for r in kjv if r[0] in names and r[1] > 0 and r[2] > 0),
                             key=lambda r: (_BOOK_INDEX[r[0]], r[1], r[2]))

    # Psalm 119 stanza headings are plain text in RV1909 ("ALEPH. ...").
    rv = dict(rv)
    for r in refs:
        if r[0] == 'Psalms' and r[1] == 119 and r[2] % 8 == 1 and r in rv:
            rv[r] = markup.strip_acrostic_heading(rv[r])

    scorer = align.StrongsScorer([align.strongs(kjv[r]) for r in refs] + [align.strongs(rv.get(r, '')) for r in refs])
    alignment = align.realign(refs, kjv, rv, scorer=scorer)
    material = {r: alignment.material(r) for r in refs}
    kjv_sets: Dict[Ref, frozenset] = {}
    for r in refs:
        title = _PSALM_TITLE.search(kjv[r]) if r[0] == 'Psalms' else None
        if title is None:
            kjv_sets[r] = align.strongs(kjv[r])
            continue
        # Psalm superscription: markup in KJV, verse text in RV1909.
        body = align.strongs(kjv[r][:title.start()] + kjv[r][title.end():])
        kjv_sets[r] = body
        units = [u for frag in material[r] for u, _ in align.split_units(frag)]
        k = align.strip_title_units(align.strongs(title.group()), body, [align.strongs(u) for u in units], scorer)
        material[r] = units[k:]
    moved = align.refine_boundaries(refs, kjv_sets, material, scorer)

    def spanish(r: Ref) -> str:
        text = markup.osis_to_text(' '.join(material[r]))
        if _has_colophon(kjv[r]):
            text = _strip_colophon(text)
        return text

    # WEB: same numbering as KJV for the KJV canon (checked by word overlap),
    # except where two verses are given in the other order.
    en = {r: markup.osis_to_text(kjv[r]) for r in refs}
    web_raw = {r: _first_verse_only(web.get(r, '')) for r in refs}
    web_text = {r: markup.osis_to_text(web_raw[r]) for r in refs}
    en_sets = [_words(en[r]) for r in refs]
    web_sets = [_words(web_text[r]) for r in refs]
    swaps = align.pairwise_swaps(en_sets, web_sets, align.StrongsScorer(en_sets + web_sets))
    web_for = {r: refs[swaps[i]] if i in swaps else r for i, r in enumerate(refs)}

    splits: Dict[str, List[dict]] = {s: [] for s in SPLITS}
    dropped: Dict[str, List[str]] = {'no confident Spanish alignment': [], 'empty Spanish': [],
                                     'empty English': []}
    for r in refs:
        ref = osis_ref(r)
        if not material[r]:
            dropped['no confident Spanish alignment'].append(ref)
            continue
        es = spanish(r)
        if not es:
            dropped['empty Spanish'].append(ref)
            continue
        if not en[r]:
            dropped['empty English'].append(ref)
            continue
        book = OSIS_ID[r[0]]
        splits[split_of(book)].append(
            {'ref': ref, 'book': book, 'en': en[r], 'en_web': web_text[web_for[r]], 'es': es})
    align.strongs.cache_clear()  # it holds on to the raw markup
    return Corpus(
        splits=splits,
        realigned_chapters=[f'{OSIS_ID[b]}.{c}' for b, c in alignment.realigned_chapters],
        realigned_refs=[osis_ref(r) for r in alignment.changed],
        boundary_moves={osis_ref(r): shift for r, shift in moved},
        dropped={k: v for k, v in dropped.items() if v},
        web_remapped={osis_ref(r): osis_ref(w) for r, w in web_for.items() if w != r},
        seconds=time.perf_counter() - t0,
    )


@functools.lru_cache(maxsize=1)
def load_corpus() -> Corpus:
    """Export the three modules (raises UserError when packages are missing) and build the corpus."""
    t0 = time.perf_counter()
    sword.check_packages()
    texts = sword.export_modules([sword.KJV_MODULE, sword.RV_MODULE, sword.WEB_MODULE])
    corpus = build_corpus(sword.parse_imp(texts[sword.KJV_MODULE]), sword.parse_imp(texts[sword.RV_MODULE]),
                          sword.parse_imp(texts[sword.WEB_MODULE]))
    corpus.seconds = time.perf_counter() - t0
    return corpus


def verse_pairs() -> Dict[str, List[dict]]:
    """``{'train': [...], 'dev': [...], 'test': [...]}``; examples in canonical order.

    Each example: ``{'ref': 'Gen.1.1', 'book': 'Gen', 'en': KJV, 'en_web': WEB or '', 'es': RV1909}``.
    """
    corpus = load_corpus()
    return {s: [dict(ex) for ex in exs] for s, exs in corpus.splits.items()}
