"""One gettext catalog (.po or .mo): its header, decoded messages and (English, translation) pairs.

Strings are kept verbatim: placeholders (`%s`, `%(name)s`, `{name}`, `$1`,
`$(ARG1)`), accelerator markers (`~`, `_`, `&`), markup and surrounding
whitespace are not touched.
"""
from __future__ import annotations

import codecs
import dataclasses
import gettext
import os
import re
from collections.abc import Callable, Iterator

from xling_jax.data import langcode
from xling_jax.data.gettext import mo, po
from xling_jax.data.report import SkipReport

SUFFIXES = (".po", ".mo", ".gmo")


@dataclasses.dataclass(frozen=True)
class Message:
    where: str
    context: str               # '' without msgctxt
    msgid: str
    msgid_plural: str | None
    msgstr: tuple[str, ...]
    fuzzy: bool = False


@dataclasses.dataclass
class Catalog:
    path: str
    language: str | None       # the header's `Language:`, normalised (None if absent or not a code)
    messages: list[Message]
    plural: Callable[[int], int] | None = None  # Plural-Forms: n -> index of the form


def header_fields(header: bytes) -> dict[str, str]:
    fields = {}
    for line in header.decode("utf-8", "replace").split("\n"):
        key, sep, value = line.partition(":")
        if sep:
            fields.setdefault(key.strip().lower(), value.strip())
    return fields


def _charset(fields: dict[str, str]) -> str:
    m = re.search(r"charset\s*=\s*([A-Za-z0-9_.:+-]+)", fields.get("content-type", ""))
    charset = m.group(1) if m else "utf-8"
    return "utf-8" if charset.upper() == "CHARSET" else charset


def _plural(fields: dict[str, str]) -> Callable[[int], int] | None:
    m = re.search(r"plural\s*=\s*([^;]*)", fields.get("plural-forms", ""))
    if not m:
        return None
    try:
        return gettext.c2py(m.group(1).strip())
    except Exception:  # ValueError for a bad expression; anything it may throw on garbage
        return None


def read(path: str, report: SkipReport) -> Catalog | None:
    """The catalog at `path`, or None (counted in `report`) where it cannot be used at all."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        report.skip("unreadable file", f"{path} ({e.strerror})")
        return None
    return parse(data, path, report)


def parse(data: bytes, path: str, report: SkipReport) -> Catalog | None:
    if os.path.splitext(path)[1] == ".po":
        raw = po.parse(data, path, report)
    else:
        try:
            raw = mo.parse(data, path)
        except mo.MalformedMo as e:
            report.skip(f"malformed .mo file ({e})", path)
            return None
    header = next((e for e in raw if e.msgid == b"" and e.context is None), None)
    fields = header_fields(header.msgstr[0]) if header is not None and header.msgstr else {}
    charset = _charset(fields)
    try:
        codecs.lookup(charset)
    except LookupError:
        report.skip("unknown charset", f"{path} ({charset})")
        return None
    messages = []
    for e in raw:
        if e is header:
            continue
        try:
            messages.append(Message(
                e.where, e.context.decode(charset) if e.context is not None else "", e.msgid.decode(charset),
                e.msgid_plural.decode(charset) if e.msgid_plural is not None else None,
                tuple(s.decode(charset) for s in e.msgstr), e.fuzzy))
        except UnicodeDecodeError:
            report.skip(f"invalid text in the file's charset ({charset})", e.where)
    return Catalog(path, langcode.normalise(fields.get("language", "")), messages, _plural(fields))


def _form(catalog: Catalog, n: int, default: int) -> int:
    if catalog.plural is not None:
        try:
            return int(catalog.plural(n))
        except Exception:  # a Plural-Forms expression that divides by zero, etc.
            pass
    return default


def pairs(catalog: Catalog, report: SkipReport) -> Iterator[tuple[str, str, str, str]]:
    """(context, English, translation, where) of each translated message.

    A plural message gives two: msgid with the form Plural-Forms picks for n=1 and
    msgid_plural with the form for n=2 (msgstr[0] and msgstr[1] in most languages;
    without a usable Plural-Forms header exactly those), each where not empty.
    Fuzzy, untranslated and empty-msgid messages are counted and skipped.
    """
    singular, plural = _form(catalog, 1, 0), _form(catalog, 2, 1)
    for m in catalog.messages:
        if m.fuzzy:
            report.skip("fuzzy entry", m.where)
            continue
        if not m.msgid:
            report.skip("empty msgid", m.where)
            continue
        if m.msgid_plural is None:
            out = [(m.msgid, m.msgstr[0] if m.msgstr else "")]
        else:
            out = [(m.msgid, m.msgstr[singular] if 0 <= singular < len(m.msgstr) else ""),
                   (m.msgid_plural, m.msgstr[plural] if 0 <= plural < len(m.msgstr) else "")]
        out = [(en, tr) for en, tr in out if en and tr]
        if not out:
            report.skip("untranslated entry", m.where)
        for en, tr in out:
            yield m.context, en, tr, m.where
