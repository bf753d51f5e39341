"""Reads compiled gettext catalogs (`.mo`, `.gmo`) into raw entries, still as bytes.

The GNU format: a magic number (either byte order), a revision, the number of
strings N and the offsets of two tables of N (length, offset) pairs, the
original strings and their translations. A context is stored as
`CONTEXT\\x04MSGID`; a plural entry as `MSGID\\x00MSGID_PLURAL` with its forms
NUL-separated. Only the ordinary string tables are read: the system-dependent
strings of revision 1 (`<PRIu64>` and the like) are left out. Fuzzy entries are
not compiled into .mo files (unless msgfmt ran with --use-fuzzy), so none come
out of here.
"""
from __future__ import annotations

import struct

from xling_jax.data.gettext.po import RawEntry

_MAGIC = {b"\xde\x12\x04\x95": "<", b"\x95\x04\x12\xde": ">"}


class MalformedMo(Exception):
    """A file that is not a .mo catalog or is truncated."""


def parse(data: bytes, path: str) -> list[RawEntry]:
    """All entries, the header entry included; raises MalformedMo for a damaged file."""
    order = _MAGIC.get(data[:4])
    if order is None:
        raise MalformedMo("not a .mo file (bad magic number)")
    if len(data) < 20:
        raise MalformedMo("truncated .mo file")
    revision, n, originals, translations = struct.unpack_from(order + "4I", data, 4)
    if revision >> 16 > 1:
        raise MalformedMo(f"unsupported .mo revision {revision >> 16}")
    size = len(data)
    if originals + 8 * n > size or translations + 8 * n > size:
        raise MalformedMo("truncated .mo file")
    entries = []
    for i in range(n):
        key = _string(data, order, originals + 8 * i)
        value = _string(data, order, translations + 8 * i)
        where = f"{path} (entry {i})"
        context = None
        if b"\x04" in key:
            context, key = key.split(b"\x04", 1)
        if b"\x00" in key:
            msgid, plural = key.split(b"\x00", 1)
            forms = value.split(b"\x00")
        else:
            msgid, plural, forms = key, None, [value]
        entries.append(RawEntry(where, context, msgid, plural, forms))
    return entries


def _string(data: bytes, order: str, at: int) -> bytes:
    length, offset = struct.unpack_from(order + "II", data, at)
    if offset + length > len(data):
        raise MalformedMo("truncated .mo file")
    return data[offset:offset + length]


def write(entries, byteorder: str = "<") -> bytes:
    """A .mo file (no hash table) from (context or None, msgid, msgid_plural or None, [forms]) str tuples.

    Entries are sorted by their key as msgfmt does; the header is the entry whose msgid is ''.
    """
    items = []
    for context, msgid, plural, forms in entries:
        key = msgid if plural is None else msgid + "\x00" + plural
        if context is not None:
            key = context + "\x04" + key
        items.append((key.encode("utf-8"), "\x00".join(forms).encode("utf-8")))
    items.sort()
    n = len(items)
    header_size = 28
    originals, translations = header_size, header_size + 8 * n
    offset = translations + 8 * n
    blob = bytearray()
    keys_table, values_table = bytearray(), bytearray()
    for key, _ in items:
        keys_table += struct.pack(byteorder + "II", len(key), offset + len(blob))
        blob += key + b"\x00"
    for _, value in items:
        values_table += struct.pack(byteorder + "II", len(value), offset + len(blob))
        blob += value + b"\x00"
    head = struct.pack(byteorder + "I", 0x950412DE) + struct.pack(byteorder + "6I", 0, n, originals, translations,
                                                                   0, offset)
    return head + bytes(keys_table) + bytes(values_table) + bytes(blob)
