"""Paragraph text from a LibreOffice help page (the HTML that ships in libreoffice-help-* packages).

Every help page is one generated HTML file whose content sits in
``<div id="DisplayArea">``; each paragraph (``<p>``) and heading (``<h1>``..
``<h6>``) there carries an id (``par_id3149842``, ``hd_id3156104``, ...) that
is the same in every language.  :func:`page_paragraphs` returns
``[(id, text), ...]`` for one page, in document order (duplicated ids
included: the caller decides).  Pages copy paragraphs of other pages into
``<div class="embedded">`` blocks, keeping their ids; every such paragraph is
also on its own page, so embedded copies are left out by default.

Text rules:

* inline markup (``<span>``, ``<a>``, ``<sup>``, ...) adds no space; ``<br>``
  is a space; images are dropped (their ``alt`` text is not content) and a
  space left before ``.``, ``,`` or ``)`` by a dropped image goes too;
* entities are decoded (``&amp;``, ``&nbsp;``, ...); whitespace runs,
  non-breaking spaces included, become one space (none at either end);
  invisible format characters (soft hyphen, zero-width space, LRM) go;
  the text is NFC-normalised;
* *switches*: the help viewer's script shows one case of each
  ``<span class="switch|switchinline">`` and hides the others
  (``hidden="true"``).  As that script does on Linux: a system switch (id
  ``swlnsys...``) shows its ``UNIX`` case, else its ``default`` case (so the
  Windows/Linux wording, never the macOS one); an application switch shows the
  case of the page's application (``CALC`` on ``text/scalc/...`` pages, ...;
  ``WRITER`` on shared pages, the script's default), else its ``default``
  case.  Everything else marked ``hidden`` is dropped.
"""
from __future__ import annotations

import html.parser
import re
import unicodedata
from typing import Dict, List, Optional, Tuple, Union

__all__ = ['BLOCK_TAGS', 'MODULE_APPLICATION', 'DEFAULT_APPLICATION', 'SYSTEM', 'Element',
           'parse_display_area', 'element_text', 'page_paragraphs', 'normalize_space']

BLOCK_TAGS = frozenset({'p', 'h1', 'h2', 'h3', 'h4', 'h5', 'h6', 'h'})
_VOID = frozenset({'area', 'base', 'br', 'col', 'embed', 'hr', 'img', 'input', 'link', 'meta', 'source',
                   'track', 'wbr'})
_SKIP = frozenset({'script', 'style', 'noscript', 'template'})  # never content
# The application a help module's pages are shown for (the viewer's DbPAR parameter).
MODULE_APPLICATION = {
    'swriter': 'WRITER', 'scalc': 'CALC', 'simpress': 'IMPRESS', 'sdraw': 'DRAW', 'schart': 'CHART',
    'smath': 'MATH', 'sdatabase': 'BASE', 'sbasic': 'BASIC',
}
DEFAULT_APPLICATION = 'WRITER'  # what the viewer assumes without DbPAR (e.g. shared pages)
SYSTEM = 'UNIX'  # the Debian packages' platform
_IMAGE = '\x00'  # stands for a dropped image until spacing is fixed
_INVISIBLE = dict.fromkeys(map(ord, '\u00ad\u200b\u200c\u200e\u200f\u2060\ufeff'))
_SPACE_IMAGE_PUNCT = re.compile(r'\s*\x00\s*(?=[.,)])')  # plain text, not HTML


class Element:
    __slots__ = ('tag', 'attrs', 'children')

    def __init__(self, tag: str, attrs: Dict[str, Optional[str]]):
        self.tag = tag
        self.attrs = attrs
        self.children: List[Union['Element', str]] = []

    def get(self, name: str, default: str = '') -> str:
        value = self.attrs.get(name, default)
        return default if value is None else value

    def __repr__(self):
        return f'<{self.tag} {self.attrs}>'


class _TreeBuilder(html.parser.HTMLParser):
    """Builds an element tree of ``div#DisplayArea`` (the rest of the page is chrome)."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.root: Optional[Element] = None
        self._stack: List[Element] = []
        self._done = False
        self._skip_depth = 0
        self.stray_end_tags = 0

    def handle_starttag(self, tag, attrs):
        if self._done:
            return
        attrs = dict(attrs)
        if not self._stack:
            if tag == 'div' and attrs.get('id') == 'DisplayArea':
                self.root = Element(tag, attrs)
                self._stack.append(self.root)
            return
        if self._skip_depth or tag in _SKIP:
            if tag not in _VOID:
                self._skip_depth += 1
            return
        el = Element(tag, attrs)
        self._stack[-1].children.append(el)
        if tag not in _VOID:
            self._stack.append(el)

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if tag not in _VOID and self._stack and self._stack[-1].tag == tag and not self._skip_depth:
            self._stack.pop()  # <span/>: opened and closed
        elif tag not in _VOID and self._skip_depth:
            self._skip_depth -= 1

    def handle_endtag(self, tag):
        if self._done or not self._stack:
            return
        if self._skip_depth:
            self._skip_depth -= 1
            return
        for i in range(len(self._stack) - 1, -1, -1):
            if self._stack[i].tag == tag:
                del self._stack[i:]  # also closes elements left open inside it
                if not self._stack:
                    self._done = True
                return
        self.stray_end_tags += 1

    def handle_data(self, data):
        if self._stack and not self._skip_depth and not self._done:
            self._stack[-1].children.append(data)


def parse_display_area(page_html: str) -> Optional[Element]:
    """The ``div#DisplayArea`` element tree of a help page (None if the page has none)."""
    builder = _TreeBuilder()
    builder.feed(page_html)
    builder.close()
    return builder.root


def _is_switch(el: Element) -> bool:
    return el.tag == 'span' and bool(el.get('id')) and el.get('class').startswith('switch')


def _shown_cases(switch: Element, application: str) -> set:
    """ids of the case spans the help viewer unhides in ``switch``."""
    want = SYSTEM if switch.get('id').startswith('swlnsys') else application
    cases = [c for c in switch.children if isinstance(c, Element) and c.tag == 'span' and c.get('id')]
    shown = {id(c) for c in cases if c.get('id').startswith(want)}
    if not shown:
        shown = {id(c) for c in cases if c.get('id').startswith('default')}
    return shown


def _collect(el: Element, application: str, out: List[str], visible_override: bool = False) -> None:
    if el.tag == 'img':
        out.append(_IMAGE)
        return
    if el.tag == 'br':
        out.append(' ')
        return
    if 'hidden' in el.attrs and not visible_override:
        return
    shown = _shown_cases(el, application) if _is_switch(el) else ()
    for child in el.children:
        if isinstance(child, str):
            out.append(child)
        else:
            _collect(child, application, out, visible_override=id(child) in shown)


def normalize_space(text: str) -> str:
    """NFC; whitespace runs (NBSP included) -> one space, none at the ends; invisible format
    characters (soft hyphen, zero-width space, LRM/RLM, BOM) dropped; a dropped image's space
    before ``.``, ``,`` or ``)`` dropped too."""
    if _IMAGE in text:
        text = _SPACE_IMAGE_PUNCT.sub('', text).replace(_IMAGE, '')
    text = unicodedata.normalize('NFC', text.translate(_INVISIBLE))
    return ' '.join(text.split())


def element_text(el: Element, application: str = DEFAULT_APPLICATION) -> str:
    """The visible text of ``el`` (switches resolved for ``application``), whitespace normalised."""
    out: List[str] = []
    _collect(el, application, out, visible_override=True)
    return normalize_space(''.join(out))


def _is_embedded(el: Element) -> bool:
    return el.tag == 'div' and 'embedded' in el.get('class').split()


def _blocks(el: Element, application: str, visible: bool, embedded: bool,
            found: List[Tuple[str, Element, bool, bool]]) -> None:
    shown = _shown_cases(el, application) if _is_switch(el) else ()
    for child in el.children:
        if isinstance(child, str):
            continue
        child_visible = visible and ('hidden' not in child.attrs or id(child) in shown)
        child_embedded = embedded or _is_embedded(child)
        if child.tag in BLOCK_TAGS and child.get('id'):
            found.append((child.get('id'), child, child_visible, child_embedded))
        _blocks(child, application, child_visible, child_embedded, found)


def page_paragraphs(page_html: str, module: str = '', *, include_hidden: bool = True,
                    include_embedded: bool = False) -> Optional[List[Tuple[str, str]]]:
    """``[(id, text), ...]`` for the id'd paragraphs and headings of a page, in document order.

    ``module`` is the help module ('swriter', 'scalc', 'shared', ...): it picks
    the application case of switches.  Paragraphs inside switch cases that the
    viewer hides are real, translated paragraphs with ids of their own; they are
    kept unless ``include_hidden`` is False.  Paragraphs copied in from other
    pages (inside ``<div class="embedded">``, with the ids they have on their
    own page, where they appear too) are left out unless ``include_embedded``.
    Returns None when the page has no ``div#DisplayArea`` (not a help page).
    """
    root = parse_display_area(page_html)
    if root is None:
        return None
    application = MODULE_APPLICATION.get(module, DEFAULT_APPLICATION)
    found: List[Tuple[str, Element, bool, bool]] = []
    _blocks(root, application, True, False, found)
    return [(pid, element_text(el, application)) for pid, el, visible, embedded in found
            if (visible or include_hidden) and (include_embedded or not embedded)]
