"""Text in and out of `xling translate`: any bytes in, exactly one line out per line in.

Input lines end at '\\n' only (a '\\r' before it is dropped), as the parallel_text readers
read them. Invalid UTF-8 is replaced by U+FFFD and control characters are removed (the same
set the readers remove from training text, tab excepted); both are reported with the line
number. Output text has every character that some tool reads as a line break turned into a
space, so that line N of the output is the translation of line N of the input.
"""
from collections.abc import Callable

from xling_jax.data.parallel_text.readers import CONTROL

# str.splitlines() breaks at these (besides \n and \r).
_BREAKS = str.maketrans({c: " " for c in "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"})


def read_lines(raw: bytes, warn: Callable[[str], None] | None = None) -> list[str]:
    lines = raw.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()  # a trailing newline ends the last line; it does not start a new one
    out = []
    for number, line in enumerate(lines, 1):
        line = line[:-1] if line.endswith(b"\r") else line
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError:
            text = line.decode("utf-8", errors="replace")
            if warn:
                warn(f"line {number}: invalid UTF-8 replaced by U+FFFD")
        cleaned = CONTROL.sub("", text)
        if len(cleaned) != len(text) and warn:
            warn(f"line {number}: {len(text) - len(cleaned)} control character(s) removed")
        out.append(cleaned)
    return out


def one_line(text: str) -> str:
    return text.translate(_BREAKS)
