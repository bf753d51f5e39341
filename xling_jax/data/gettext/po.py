"""Parses gettext `.po` files (text catalogs) into raw entries, still as bytes.

The strings are decoded later (:mod:`catalog`), with the charset the header
declares. A syntax error skips its entry up to the next blank or comment line,
counted with FILE:LINE; nothing here raises on any input.
"""
from __future__ import annotations

import dataclasses
import re

from xling_jax.data.report import SkipReport


@dataclasses.dataclass
class RawEntry:
    """One catalog entry, strings still encoded. `msgstr` holds the forms in order (one without plural)."""
    where: str                  # FILE:LINE (.po) or FILE (entry N) (.mo)
    context: bytes | None
    msgid: bytes
    msgid_plural: bytes | None
    msgstr: list[bytes]
    fuzzy: bool = False


_ESCAPES = {ord(k): v for k, v in ((b"n", b"\n"), (b"t", b"\t"), (b"r", b"\r"), (b'"', b'"'), (b"\\", b"\\"),
                                   (b"a", b"\a"), (b"b", b"\b"), (b"f", b"\f"), (b"v", b"\v"), (b"?", b"?"),
                                   (b"'", b"'"))}
_OCTAL = b"01234567"
_HEX = b"0123456789abcdefABCDEF"
_KEYWORD = re.compile(rb"(msgctxt|msgid_plural|msgid|msgstr)(?:\[([0-9]+)\])?(?=[\s\"]|$)")


class _SyntaxError(Exception):
    pass


def unquote(text: bytes) -> bytes:
    """The value of one or more C string literals separated by whitespace: b'"a\\n" "b"' -> b'a\\nb'."""
    out = bytearray()
    i, n = 0, len(text)
    seen = False
    while True:
        while i < n and text[i] in b" \t\f\v":
            i += 1
        if i == n:
            break
        if text[i] != 0x22:
            raise _SyntaxError("expected a \"string\"")
        seen = True
        i += 1
        while True:
            j = i
            while j < n and text[j] != 0x22 and text[j] != 0x5C:
                j += 1
            out += text[i:j]
            if j == n:
                raise _SyntaxError("unterminated string")
            if text[j] == 0x22:
                i = j + 1
                break
            # backslash escape
            j += 1
            if j == n:
                raise _SyntaxError("unterminated string")
            c = text[j]
            if c in _ESCAPES:
                out += _ESCAPES[c]
                i = j + 1
            elif c in _OCTAL:
                k = j
                while k < n and k < j + 3 and text[k] in _OCTAL:
                    k += 1
                value = int(text[j:k], 8)
                if value > 255:
                    raise _SyntaxError("octal escape out of range")
                out.append(value)
                i = k
            elif c == ord("x"):
                k = j + 1
                while k < n and k < j + 3 and text[k] in _HEX:
                    k += 1
                if k == j + 1:
                    raise _SyntaxError("\\x without hex digits")
                out.append(int(text[j + 1:k], 16))
                i = k
            else:
                raise _SyntaxError(f"invalid escape \\{chr(c)}")
    if not seen:
        raise _SyntaxError("expected a \"string\"")
    return bytes(out)


class _Entry:
    __slots__ = ("line", "context", "msgid", "plural", "msgstr", "fuzzy", "obsolete", "error", "field", "seen")

    def __init__(self):
        self.line = 0  # the line of its first keyword
        self.context = self.msgid = self.plural = None
        self.msgstr: list[bytes] | None = None
        self.fuzzy = self.obsolete = False
        self.seen: set[bytes] = set()  # keywords met, broken ones included
        self.error: tuple[int, str] | None = None
        self.field = None  # where continuation lines go: 'context', 'msgid', 'plural' or an int (msgstr index)

    def append(self, value: bytes) -> None:
        if isinstance(self.field, int):
            self.msgstr[self.field] += value
        else:
            setattr(self, self.field, getattr(self, self.field) + value)


def parse(data: bytes, path: str, report: SkipReport) -> list[RawEntry]:
    """The entries of a .po file (the header entry included, obsolete ones excluded)."""
    entries: list[RawEntry] = []
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    cur = _Entry()

    def finish() -> None:
        nonlocal cur
        e, cur = cur, _Entry()
        if not e.seen:
            return
        if e.obsolete:
            report.skip("obsolete entry (#~)", f"{path}:{e.line}")
        elif e.error is not None:
            report.skip("syntax error", f"{path}:{e.error[0]}")
        elif e.msgid is None or e.msgstr is None:
            report.skip("syntax error", f"{path}:{e.line}")
        elif e.plural is not None and not e.msgstr:
            report.skip("syntax error", f"{path}:{e.line}")
        else:
            entries.append(RawEntry(f"{path}:{e.line}", e.context, e.msgid, e.plural, e.msgstr, e.fuzzy))

    for lineno, raw in enumerate(data.split(b"\n"), 1):
        line = raw.strip(b" \t\r\f\v")
        obsolete = False
        if not line:
            finish()
            continue
        if line.startswith(b"#~"):
            line = line[2:].lstrip(b" \t")
            if line.startswith(b"|") or not line:  # previous msgid of an obsolete entry
                continue
            obsolete = True
        elif line.startswith(b"#"):
            if cur.msgstr is not None or cur.error is not None:
                finish()
            if line.startswith(b"#,") and b"fuzzy" in (f.strip() for f in line[2:].split(b",")):
                cur.fuzzy = True
            continue
        m = _KEYWORD.match(line)
        if m:
            keyword = m.group(1)
            if keyword in (b"msgctxt", b"msgid") and (
                    {b"msgid", b"msgstr"} & cur.seen or (keyword == b"msgctxt" and b"msgctxt" in cur.seen)):
                finish()  # a new entry starts without a blank line before it
            if not cur.seen:
                cur.line = lineno
            cur.seen.add(keyword)
        elif not cur.seen:
            cur.line = lineno
            cur.seen.add(b"")
        if obsolete:
            cur.obsolete = True
        if cur.error is not None:
            continue  # skip the rest of a broken entry
        try:
            if m:
                keyword, index = m.group(1), m.group(2)
                value = unquote(line[m.end():])
                if keyword == b"msgctxt":
                    if index is not None or cur.msgid is not None:
                        raise _SyntaxError("misplaced msgctxt")
                    cur.context, cur.field = value, "context"
                elif keyword == b"msgid":
                    if index is not None:
                        raise _SyntaxError("msgid[N]")
                    cur.msgid, cur.field = value, "msgid"
                elif keyword == b"msgid_plural":
                    if index is not None or cur.msgid is None or cur.plural is not None or cur.msgstr is not None:
                        raise _SyntaxError("misplaced msgid_plural")
                    cur.plural, cur.field = value, "plural"
                else:  # msgstr
                    if cur.msgid is None:
                        raise _SyntaxError("msgstr without msgid")
                    if cur.plural is None:
                        if index is not None or cur.msgstr is not None:
                            raise _SyntaxError("msgstr[N] without msgid_plural, or a second msgstr")
                        cur.msgstr, cur.field = [value], 0
                    else:
                        forms = cur.msgstr if cur.msgstr is not None else []
                        if index is None or int(index) != len(forms):
                            raise _SyntaxError("msgstr[N] out of order")
                        forms.append(value)
                        cur.msgstr, cur.field = forms, len(forms) - 1
            elif line.startswith(b'"'):
                if cur.field is None:
                    raise _SyntaxError("string without a keyword")
                cur.append(unquote(line))
            else:
                raise _SyntaxError("unknown keyword")
        except _SyntaxError as e:
            cur.error = (lineno, str(e))
    finish()
    return entries
