"""Reads a user's parallel text: a TSV (one column per language) or line-aligned files (one per language).

Files are read as bytes, line by line (lines end at '\\n'; a '\\r' before it is
dropped), so that one bad line costs only that line. Each text is normalised:

* C0 and C1 control characters and DEL are removed, tab excepted (TSV columns
  cannot hold one; in a line-aligned file it is kept), counted in `repaired`;
* surrounding whitespace is stripped (`str.strip()`);
* a UTF-8 byte order mark at the start of a file is dropped.

Nothing else changes (no Unicode normalisation, no quote handling in TSV).
Skipped, counted in `skipped` with FILE:LINE: invalid UTF-8, the wrong number of
tab-separated columns, an empty side, a text over `max_chars` characters, lines of
a line-aligned file beyond the end of a shorter one, a TSV header line naming the
languages. A UTF-16 file (by its byte order mark) and an empty file are reported
as such. The readers never raise on file contents.
"""
from __future__ import annotations

import os
import re
from collections.abc import Iterator, Sequence

from xling_jax.data import langcode
from xling_jax.data.report import SkipReport

CONTROL = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f]")
_TOO_LONG = object()
_CHUNK = 1 << 20


def clean(text: str) -> tuple[str, bool]:
    """(text without control characters and surrounding whitespace, whether controls were removed)."""
    stripped = CONTROL.sub("", text)
    return stripped.strip(), len(stripped) != len(text)


def _lines(f, limit: int) -> Iterator[bytes | object]:
    """The lines of a binary file without their ending; _TOO_LONG for a line over `limit` bytes."""
    while True:
        line = f.readline(limit + 1)
        if not line:
            return
        if line.endswith(b"\n"):
            line = line[:-1]
        elif len(line) > limit:  # consume the rest of the line without holding it
            chunk = line
            while chunk and not chunk.endswith(b"\n"):
                chunk = f.readline(_CHUNK)
            yield _TOO_LONG
            continue
        yield line[:-1] if line.endswith(b"\r") else line


class _File:
    """One input file, opened for line-by-line reading (or reported empty / UTF-16)."""

    def __init__(self, path: str, limit: int, skipped: SkipReport):
        self.path = path
        self._f = open(path, "rb")
        head = self._f.read(4)
        self._f.seek(0)
        if not head:
            skipped.skip("empty file", path)
        if head[:2] in (b"\xff\xfe", b"\xfe\xff"):
            skipped.skip("UTF-16 file (convert it to UTF-8, e.g. with iconv -f UTF-16 -t UTF-8)", path)
            self.lines = iter(())
        else:
            self.lines = _lines(self._f, limit)
        if head[:3] == b"\xef\xbb\xbf":
            self._f.seek(3)

    def close(self):
        self._f.close()


class Reader:
    """Shared state of one split's reading: limits and reports."""

    def __init__(self, max_chars: int, skipped: SkipReport, repaired: SkipReport):
        self.max_chars, self.skipped, self.repaired = max_chars, skipped, repaired

    def _texts(self, raws: Sequence[bytes | object], paths: Sequence[str], lineno: int) -> list[str] | None:
        """The cleaned texts of one line per language, or None (counted) where the line is unusable."""
        texts = []
        for raw, path in zip(raws, paths):
            if raw is _TOO_LONG:
                self.skipped.skip(f"longer than max_chars ({self.max_chars} characters)", f"{path}:{lineno}")
                return None
            try:
                texts.append(raw.decode("utf-8"))
            except UnicodeDecodeError:
                self.skipped.skip("invalid UTF-8", f"{path}:{lineno}")
                return None
        return self._clean(texts, f"{paths[0]}:{lineno}")

    def _clean(self, texts: list[str], where: str) -> list[str] | None:
        out, repaired = [], False
        for t in texts:
            t, had_controls = clean(t)
            out.append(t)
            repaired |= had_controls
        if not any(out):
            self.skipped.skip("blank line", where)
            return None
        if not all(out):
            self.skipped.skip("empty text on one side", where)
            return None
        if any(len(t) > self.max_chars for t in out):
            self.skipped.skip(f"longer than max_chars ({self.max_chars} characters)", where)
            return None
        if repaired:
            self.repaired.skip("control characters removed", where)
        return out

    def tsv(self, path: str, languages: Sequence[str]) -> Iterator[tuple[int, list[str]]]:
        """(line number, texts in `languages` order) of the usable lines of a TSV file."""
        n = len(languages)
        limit = n * (4 * self.max_chars + 8)
        f = _File(path, limit, self.skipped)
        try:
            for lineno, raw in enumerate(f.lines, 1):
                where = f"{path}:{lineno}"
                if raw is _TOO_LONG:
                    self.skipped.skip(f"longer than max_chars ({self.max_chars} characters)", where)
                    continue
                try:
                    line = raw.decode("utf-8")
                except UnicodeDecodeError:
                    self.skipped.skip("invalid UTF-8", where)
                    continue
                fields = line.split("\t")
                if len(fields) != n:
                    if not line.strip():
                        self.skipped.skip("blank line", where)
                    else:
                        self.skipped.skip(f"not {n} tab-separated columns", where)
                    continue
                if lineno == 1 and [langcode.normalise(x) for x in fields] == list(languages):
                    self.skipped.skip("header line (the language codes)", where)
                    continue
                texts = self._clean(fields, where)
                if texts is not None:
                    yield lineno, texts
        finally:
            f.close()

    def aligned(self, paths: Sequence[str]) -> Iterator[tuple[int, list[str]]]:
        """(line number, texts) of the usable line pairs of line-aligned files, one per language."""
        limit = 4 * self.max_chars + 8
        files = []
        try:
            for p in paths:
                files.append(_File(p, limit, self.skipped))
            lineno = 0
            while True:
                raws = [next(f.lines, None) for f in files]
                lineno += 1
                if all(r is None for r in raws):
                    return
                if any(r is None for r in raws):
                    self._unpaired(files, raws, lineno)
                    return
                texts = self._texts(raws, paths, lineno)
                if texts is not None:
                    yield lineno, texts
        finally:
            for f in files:
                f.close()

    def _unpaired(self, files: list[_File], raws: list, lineno: int) -> None:
        for f, raw in zip(files, raws):
            if raw is None:
                continue
            self.skipped.skip("unpaired line (the files have different line counts)", f"{f.path}:{lineno}")
            for _ in f.lines:
                self.skipped.skip("unpaired line (the files have different line counts)")


def check_file(path: str) -> str | None:
    """Why `path` cannot be read as an input file, or None."""
    if not os.path.exists(path):
        return "does not exist"
    if os.path.isdir(path):
        return "is a folder, not a file"
    if not os.access(path, os.R_OK):
        return "is not readable"
    return None
