"""OSIS verse markup (as exported by ``mod2imp``) to plain text.

Only the text a reader would see as the verse itself is kept:

* footnotes and cross-references (``<note>``) are removed with their text;
* headings (``<title>``: section titles, psalm superscriptions, Psalm 119
  letter headings), speaker labels (``<speaker>``) and non-canonical
  introduction/glossary blocks are removed with their text;
* word-level markup (``<w>`` with Strong's numbers, ``<transChange>``,
  ``<divineName>``, ``<foreign>``, ``<seg>``, ``<q>``, ...) is dropped but
  its words are kept; a ``<q marker="...">`` emits its marker character;
* structural tags (paragraphs, poetry lines, line breaks, milestones, ...)
  separate words; KJV paragraph marks (``¶``) are dropped;
* entities are decoded and whitespace is collapsed.

Spacing rule: the whitespace the markup has is kept (collapsed), inline tags
never add whitespace (``<w>Lord</w>'s`` stays ``Lord's``), and a removed
element or a structural tag between two words leaves exactly one space
(``word<note>..</note>next`` becomes ``word next``) but never a space before
punctuation (``word<note>..</note>.`` becomes ``word.``).  Two word-level
elements that touch (``que es</transChange><w>Ramat``, frequent in RV1909)
are separate words, except a Spanish clitic pronoun attached to a verb
(``díjo</w><transChange>le</transChange>`` gives ``díjole``).  A space before
``, . ; : ! ?`` is dropped (WEB has a few, left by split ``<q>`` elements).
"""
from __future__ import annotations

import html
import re

__all__ = ['osis_to_text', 'strip_acrostic_heading']

# Elements removed together with everything inside them.
_DROP = frozenset({'note', 'title', 'speaker', 'catchWord', 'head', 'figure', 'index'})
# Elements (or milestones) that separate words.
_BREAK = frozenset({
    'div', 'p', 'l', 'lg', 'lb', 'chapter', 'verse', 'milestone', 'list', 'item',
    'table', 'row', 'cell', 'br', 'closer', 'salute', 'signed', 'label',
})
# <div type=...> holding material outside the canonical text.
_DROP_DIV_TYPES = frozenset({
    'introduction', 'glossary', 'front', 'back', 'preface', 'colophon',
    'coverPage', 'titlePage', 'acknowledgement', 'bibliography', 'index',
    'x-introduction',
})

_ATTR_TAGS = _DROP | {'div', 'q'}
_TOKEN = re.compile(r'<\s*(/?)\s*([A-Za-z_][\w:.-]*)([^>]*?)(/?)\s*>|<!--.*?-->|<|[^<]+', re.S)
# Tags that matter to the tokenizer; every other tag (w, transChange, divineName,
# foreign, seg, hi, name, rdg, reference, ...) is inline: dropped, text kept.
_STRUCTURAL = '|'.join(sorted(_DROP | _BREAK | {'div', 'q'}))
# Closing inline tag(s) directly followed by an opening inline tag: a "seam".
_SEAMS = re.compile(
    r'((?:</(?!(?:%s)\b)[A-Za-z_][\w:.-]*\s*>)+)(?=<(?!(?:%s)\b)[A-Za-z_][\w:.-]*(?:\s[^>]*)?(?<!/)>)'
    % (_STRUCTURAL, _STRUCTURAL))
_INLINE_TAGS = re.compile(r'</?(?!(?:%s)\b)[A-Za-z_][\w:.-]*(?:\s[^>]*)?>' % _STRUCTURAL)
_ATTR = re.compile(r'([\w:.-]+)\s*=\s*("([^"]*)"|\'([^\']*)\')')

_SOFT = '\x00'  # placeholder for "a word boundary here"
_SEAM = '\x01'  # placeholder for "an inline element ends and the next begins here"
# After these a soft boundary never becomes a space ...
_NO_SPACE_AFTER = set('([{“‘¿¡«')
# ... and before these it never does.
_NO_SPACE_BEFORE = set('.,;:!?)]}”’\'»…·')
_WS = re.compile(r'\s+')
_SPACE_BEFORE_PUNCT = re.compile(r' ([,.;:!?])')


def _attrs(s: str) -> dict:
    return {m.group(1): html.unescape(m.group(3) if m.group(3) is not None else m.group(4))
            for m in _ATTR.finditer(s)}


# Spanish clitic pronouns that RV1909 sometimes puts in a <transChange> glued
# to the verb in the preceding <w> ("díjo</w><transChange>le</transChange>").
_CLITICS = frozenset({'me', 'te', 'se', 'le', 'lo', 'la', 'les', 'los', 'las', 'nos', 'os'})
_SHORT_IMPERATIVES = frozenset({'haz', 'di', 'dí', 'vi', 'da', 've', 'pon', 'ten', 'sal', 'ven', 'oye'})
_ACCENTED_NON_VERBS = frozenset({
    'también', 'sólo', 'cuánto', 'cuánta', 'cuántos', 'cuántas', 'aún', 'más', 'después',
    'además', 'así', 'allí', 'aquí', 'ahí', 'allá', 'acá', 'según', 'quién', 'qué', 'cómo',
    'dónde', 'cuándo', 'cuál', 'él', 'mí', 'tí', 'sí', 'á', 'é', 'ó', 'ú', 'está', 'están',
    'estás', 'será', 'serán', 'serás', 'jamás', 'detrás', 'través', 'éste', 'ésta', 'ése',
    'ésa', 'aquél', 'aquélla', 'éstos', 'éstas', 'ésos', 'ésas', 'aquéllos', 'aquéllas',
    'ejército', 'ejércitos', 'príncipe', 'príncipes', 'árbol', 'árboles',
})
_NOUNS_IN_D = frozenset({
    'david', 'pared', 'merced', 'sed', 'red', 'vid', 'lid', 'huésped', 'césped', 'verdad',
    'ciudad', 'piedad', 'maldad', 'bondad', 'heredad', 'voluntad', 'libertad', 'mitad',
    'potestad', 'tempestad', 'amistad', 'majestad', 'soledad', 'edad', 'enfermedad',
    'hermandad', 'falsedad', 'galaad',
})
_WORD_END = re.compile(r'(\w+)\W*$')
_WORD_START = re.compile(r'^(\w+)')
_ACCENTS = set('áéíóú')


def _verb_like(word: str, sentence_start: bool) -> bool:
    low = word.lower()
    if word[:1].isupper() and not sentence_start:
        return False  # a proper name (Jehová, Josué, Dios, ...)
    if low in _SHORT_IMPERATIVES:
        return True
    if low.endswith(('r', 'ndo')):
        return True
    if low.endswith(('ad', 'ed', 'id', 'íd')):  # plural imperative (haced, sellad, Oid)
        return low not in _NOUNS_IN_D and not low.endswith('idad')
    return bool(_ACCENTS & set(low)) and low not in _ACCENTED_NON_VERBS


def _glue_at_seam(left: str, right: str) -> bool:
    """Whether two inline elements that touch in the markup form one word."""
    lm, rm = _WORD_END.search(left), _WORD_START.match(right)
    if not lm or not rm or lm.end(1) != len(left) or rm.start(1) != 0:
        return True  # punctuation at the seam: nothing to insert
    word, nxt = lm.group(1), rm.group(1)
    if nxt not in _CLITICS:
        return False
    before = left[:lm.start(1)].rstrip()
    sentence_start = not before or before[-1] in '.!?:;¿¡'
    return _verb_like(word, sentence_start)


_MARKS = re.compile('[\x00\x01]+')


def _resolve_soft(text: str) -> str:
    """Turn each run of boundary markers into one space or nothing."""
    if _SOFT not in text and _SEAM not in text:
        return text

    def repl(m: re.Match) -> str:
        i, j = m.start(), m.end()
        prev = text[i - 1] if i > 0 else ''
        nxt = text[j] if j < len(text) else ''
        if not (prev and nxt) or prev.isspace() or nxt.isspace() or prev in '\x00\x01':
            return ''
        if _SOFT in m.group():
            ok = prev not in _NO_SPACE_AFTER and nxt not in _NO_SPACE_BEFORE
            return ' ' if ok else ''
        if prev.isalpha() and nxt.isalpha():
            left = _MARKS.sub(' ', text[max(0, i - 60):i])
            return '' if _glue_at_seam(left, text[j:j + 40]) else ' '
        return ''

    return _MARKS.sub(repl, text)


def osis_to_text(raw: str) -> str:
    """Plain text of one verse's OSIS markup (see module docstring)."""
    # Inline tags carry no structure: mark seams between them, then drop them
    # (a C-speed pass that leaves few tokens for the Python loop below).
    raw = _INLINE_TAGS.sub('', _SEAMS.sub('\\1' + _SEAM, raw))
    out: list[str] = []
    drop_stack: list[str] = []   # open container elements being dropped
    drop_ids: set[str] = set()   # sIDs of open milestone elements being dropped
    for m in _TOKEN.finditer(raw):
        closing, name, _, selfclosing = m.groups()
        if name is None:  # text (or a comment, or a stray '<')
            tok = m.group(0)
            if not tok.startswith('<!--') and not drop_stack and not drop_ids:
                if '&' in tok:
                    tok = html.unescape(tok)
                out.append(tok.replace('¶', _SOFT))
            continue
        if drop_stack:  # inside a dropped element: only track nesting (well-formed XML)
            if closing:
                drop_stack.pop()
                if not drop_stack:
                    out.append(_SOFT)
            elif not selfclosing:
                drop_stack.append(name)
            continue
        if closing:
            if not drop_ids and name in _BREAK:
                out.append(_SOFT)
            continue
        # Opening or self-closing (milestone) tag.
        if name not in _ATTR_TAGS:  # a structural break (l, lg, lb, chapter, milestone, ...)
            if not drop_ids:
                out.append(_SOFT)
            continue
        attrs = _attrs(m.group(3))
        if name == 'div':
            kind = attrs.get('type')
            if kind == 'book' and 'eID' in attrs:
                break  # end of the book: anything after it (glossary, ...) is not verse text
            if kind in _DROP_DIV_TYPES:
                if 'sID' in attrs:
                    drop_ids.add(attrs['sID'])
                elif 'eID' in attrs:
                    drop_ids.discard(attrs['eID'])
                    out.append(_SOFT)
                elif not selfclosing:
                    drop_stack.append(name)
                continue
            if not drop_ids:
                out.append(_SOFT)
            continue
        if drop_ids:
            continue
        if name == 'q':
            marker = attrs.get('marker')
            if marker:
                out.append(marker)
            continue
        # name in _DROP
        out.append(_SOFT)
        if selfclosing:  # milestone form: <note sID/> ... <note eID/>
            if 'sID' in attrs:
                drop_ids.add(attrs['sID'])
            elif 'eID' in attrs:
                drop_ids.discard(attrs['eID'])
        else:
            drop_stack.append(name)
    text = _WS.sub(' ', _resolve_soft(''.join(out)))
    return _SPACE_BEFORE_PUNCT.sub(r'\1', text).strip()


# Psalm 119 acrostic headings written as plain text (e.g. RV1909 "ALEPH. ...").
_ACROSTIC = re.compile(r'^\s*[A-ZÁÉÍÓÚÑ]{2,8}\.?(?=\s|[¿¡<])\s*')


def strip_acrostic_heading(raw: str) -> str:
    """Remove a leading all-caps Hebrew letter name from a verse's raw markup.

    Only meant for the verses of Psalm 119 that start a stanza.
    """
    return _ACROSTIC.sub('', raw, count=1)
