"""Language codes of the user-built datasets (`gettext/NAME`, `parallel_text/NAME`).

A code is written the way gettext names its locale folders, with '_' between
subtags and never '-' (a direction is written SRC-TGT, e.g. `en-pt_BR`):

* the language, 2-3 ASCII letters, lowercased: `DE` -> `de`, `ast`;
* then any of: a script, 4 letters, Titlecased (`sr_Latn`, `zh_Hant`); a region,
  2 letters uppercased or 3 digits (`pt_BR`, `es_419`); a variant, 5-8 letters/digits
  or a digit and 3 letters/digits, lowercased (`de_1996`);
* '-' and '_' are both accepted between subtags: `zh-CN`, `zh_cn` and `ZH-cn` all give `zh_CN`;
* a glibc codeset is dropped (`de_DE.UTF-8` -> `de_DE`) and an `@modifier` kept,
  lowercased (`sr@latin`, `ca@valencia`).
"""
from __future__ import annotations

import re

from xling_jax.errors import UserError

_LANGUAGE = re.compile(r"[A-Za-z]{2,3}")
_SCRIPT = re.compile(r"[A-Za-z]{4}")
_REGION = re.compile(r"[A-Za-z]{2}|[0-9]{3}")
_VARIANT = re.compile(r"[A-Za-z0-9]{5,8}|[0-9][A-Za-z0-9]{3}")
_MODIFIER = re.compile(r"[A-Za-z0-9]{1,16}")


def normalise(code: str) -> str | None:
    """The normalised code, or None where `code` does not look like a language code."""
    if not isinstance(code, str):
        return None
    base, at, modifier = code.strip().partition("@")
    base = base.split(".", 1)[0]
    parts = re.split(r"[-_]", base)
    if not _LANGUAGE.fullmatch(parts[0]):
        return None
    out = [parts[0].lower()]
    for p in parts[1:]:
        if _SCRIPT.fullmatch(p):
            out.append(p.capitalize())
        elif _REGION.fullmatch(p):
            out.append(p.upper())
        elif _VARIANT.fullmatch(p):
            out.append(p.lower())
        else:
            return None
    code = "_".join(out)
    if at:
        if not _MODIFIER.fullmatch(modifier):
            return None
        code += "@" + modifier.lower()
    return code


def base_language(code: str) -> str:
    """`pt_BR` -> `pt`, `sr@latin` -> `sr` (of a normalised code)."""
    return code.split("@", 1)[0].split("_", 1)[0]


def normalise_all(codes, what: str = "languages") -> list[str]:
    """A list (or comma-separated string) of codes, normalised; UserError naming a bad or repeated one."""
    if isinstance(codes, str):
        codes = [c for c in codes.split(",") if c.strip()]
    if not isinstance(codes, (list, tuple)) or not all(isinstance(c, str) for c in codes):
        raise UserError(f"{what} must be a list of language codes such as ['en', 'de'], got {codes!r}")
    out = []
    for c in codes:
        code = normalise(c)
        if code is None:
            raise UserError(f"bad language code {c!r} in {what}: write a code such as de, pt_BR, zh_CN or sr@latin")
        if code in out:
            raise UserError(f"language {code!r} appears twice in {what}")
        out.append(code)
    return out
