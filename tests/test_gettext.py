"""The `gettext` dataset: .po/.mo readers, language codes, records, splits, skip report, UserErrors.

Fixtures are written by the tests (the .mo files by `mo.write`, plus one .mo
compiled by GNU msgfmt 0.21 and embedded below), so nothing needs gettext tools.
"""
import base64
import os
import re
import struct

import pytest
from conftest import read_built as _read
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from xling_jax.data import langcode
from xling_jax.data.gettext import catalog, corpus, mo, po
from xling_jax.data.gettext.builder import build
from xling_jax.data.report import SkipReport
from xling_jax.errors import UserError

HEADER = ('msgid ""\nmsgstr ""\n"Language: {lang}\\n"\n"Content-Type: text/plain; charset={charset}\\n"\n'
          '"Plural-Forms: nplurals=2; plural=(n != 1);\\n"\n\n')


def po_quote(s: str) -> str:
    """A PO string literal as msgcat writes it (multi-line strings split after each \\n)."""
    def esc(t):
        out = []
        for ch in t:
            if ch in '\\"':
                out.append("\\" + ch)
            elif ch in "\n\t\r":
                out.append({"\n": "\\n", "\t": "\\t", "\r": "\\r"}[ch])
            elif ord(ch) < 0x20:
                out.append("\\%03o" % ord(ch))
            else:
                out.append(ch)
        return "".join(out)
    parts = [p for p in re.split(r"(?<=\n)", s) if p]
    if len(parts) <= 1:
        return f'"{esc(s)}"'
    return '""\n' + "\n".join(f'"{esc(p)}"' for p in parts)


def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode("utf-8"))


def mo_bytes(lang, entries, plural="nplurals=2; plural=(n != 1);"):
    header = f"Language: {lang}\nContent-Type: text/plain; charset=UTF-8\nPlural-Forms: {plural}\n"
    return mo.write([(None, "", None, [header])] + entries)


OPEN = 'msgid "Open'


def lines_of(path, needle: str) -> list[int]:
    with open(path, "rb") as f:
        lines = f.read().split(b"\n")
    return [i for i, l in enumerate(lines, 1) if needle.encode("utf-8") in l]


def line_of(path, needle: str) -> int:
    return lines_of(path, needle)[0]


# ---------------------------------------------------------------------------
# Language codes

@pytest.mark.parametrize("code, expected", [
    ("de", "de"), ("DE", "de"), ("pt_BR", "pt_BR"), ("pt-br", "pt_BR"), ("zh-CN", "zh_CN"), ("zh_cn", "zh_CN"),
    ("zh-Hant", "zh_Hant"), ("sr_latn_rs", "sr_Latn_RS"), ("es-419", "es_419"), ("ast", "ast"),
    ("sr@latin", "sr@latin"), ("ca@Valencia", "ca@valencia"), ("de_DE.UTF-8", "de_DE"), (" fr ", "fr"),
    ("C", None), ("POSIX", None), ("english", None), ("de-", None), ("", None), ("d3", None), ("de@", None),
    ("zh--CN", None), ("ünï", None),
])
def test_language_codes_normalised(code, expected):
    assert langcode.normalise(code) == expected
    if expected:
        assert "-" not in expected


def test_language_code_list_errors():
    assert langcode.normalise_all("en, zh-CN") == ["en", "zh_CN"]
    with pytest.raises(UserError, match="bad language code 'english'"):
        langcode.normalise_all(["english"])
    with pytest.raises(UserError, match="'zh_CN' appears twice"):
        langcode.normalise_all(["zh-CN", "zh_cn"])


# ---------------------------------------------------------------------------
# .po parsing

PO = HEADER.format(lang="de", charset="UTF-8") + r'''#: main.c:1
msgid "Open"
msgstr "Öffnen"

msgctxt "menu"
msgid "Open"
msgstr "Ö~ffnen"

#, c-format
msgid "%d file"
msgid_plural "%d files"
msgstr[0] "%d Datei"
msgstr[1] "%d Dateien"

#, fuzzy, c-format
msgid "Save %s"
msgstr "Speichern %s"

msgid "Close"
msgstr ""

msgid "Hello %(name)s, {count} new in $1 & _Menu"
msgstr "Hallo %(name)s, {count} neu in $1 & _Menü"

msgid ""
"Multi\n"
"line \"quoted\"\ttab\\"
msgstr "Mehr\nzeilig \"zitiert\"\tTab\\ \101\x42"
#~ msgid "Old"
#~ msgstr "Alt"

msgid "Broken
msgstr "Kaputt"

msgid "Bad bytes"
msgstr "BAD"
msgid "After"
msgstr "Danach"

msgid "Open"
msgstr "Öffnen"
'''.replace('"BAD"', '"\udcff\udcfe"')


def test_po_parse_and_pairs(tmp_path):
    path = str(tmp_path / "de.po")
    write(path, PO.encode("utf-8", "surrogateescape"))
    report = SkipReport()
    cat = catalog.read(path, report)
    assert cat.language == "de"
    assert [(m.context, m.msgid, m.msgid_plural, m.msgstr, m.fuzzy) for m in cat.messages] == [
        ("", "Open", None, ("Öffnen",), False),
        ("menu", "Open", None, ("Ö~ffnen",), False),
        ("", "%d file", "%d files", ("%d Datei", "%d Dateien"), False),
        ("", "Save %s", None, ("Speichern %s",), True),
        ("", "Close", None, ("",), False),
        ("", "Hello %(name)s, {count} new in $1 & _Menu", None, ("Hallo %(name)s, {count} neu in $1 & _Menü",),
         False),
        ("", 'Multi\nline "quoted"\ttab\\', None, ('Mehr\nzeilig "zitiert"\tTab\\ AB',), False),
        ("", "After", None, ("Danach",), False),
        ("", "Open", None, ("Öffnen",), False),
    ]
    assert [m.where for m in cat.messages][:3] == [f"{path}:{line_of(path, OPEN)}",
                                                   f"{path}:{line_of(path, 'msgctxt')}",
                                                   f"{path}:{line_of(path, '%d file')}"]
    pairs = list(catalog.pairs(cat, report))
    assert [p[:3] for p in pairs] == [
        ("", "Open", "Öffnen"), ("menu", "Open", "Ö~ffnen"),
        ("", "%d file", "%d Datei"), ("", "%d files", "%d Dateien"),
        ("", "Hello %(name)s, {count} new in $1 & _Menu", "Hallo %(name)s, {count} neu in $1 & _Menü"),
        ("", 'Multi\nline "quoted"\ttab\\', 'Mehr\nzeilig "zitiert"\tTab\\ AB'), ("", "After", "Danach"),
        ("", "Open", "Öffnen"),
    ]
    assert dict(report.counts) == {"obsolete entry (#~)": 1, "syntax error": 1, "fuzzy entry": 1,
                                   "untranslated entry": 1, "invalid text in the file's charset (UTF-8)": 1}
    assert report.samples["syntax error"] == [f"{path}:{line_of(path, 'Broken')}"]
    assert report.samples["obsolete entry (#~)"] == [f"{path}:{line_of(path, 'Old')}"]
    assert report.samples["invalid text in the file's charset (UTF-8)"] == [f"{path}:{line_of(path, 'Bad bytes')}"]
    assert report.samples["fuzzy entry"] == [f"{path}:{line_of(path, 'Save %s')}"]


@pytest.mark.parametrize("text, line", [
    ('msgid "a"\nmsgstr "b\n', 2),                    # unterminated string
    ('msgid "a"\nmsgstr "\\q"\n', 2),                 # invalid escape
    ('msgid "a"\nmsgstr[0] "b"\n', 2),                # msgstr[N] without msgid_plural
    ('msgid "a"\nmsgid_plural "as"\nmsgstr "b"\n', 3),
    ('msgid "a"\nmsgstr "b"\nmsgstr "c"\n', 3),       # a second msgstr
    ('msgstr "b"\n', 1),                              # msgstr without msgid
    ('msgid "a"\n', 1),                               # msgid without msgstr
    ('"loose"\n', 1),
    ('hello\n', 1),
    ('msgid "a" junk\nmsgstr "b"\n', 1),
])
def test_po_syntax_errors_skip_the_entry(text, line):
    report = SkipReport()
    entries = po.parse(text.encode() + b'\nmsgid "ok"\nmsgstr "gut"\n', "x.po", report)
    assert [(e.msgid, e.msgstr) for e in entries] == [(b"ok", [b"gut"])]
    assert report.counts == {"syntax error": 1}
    assert report.samples["syntax error"] == [f"x.po:{line}"]


def test_po_entries_without_blank_lines_and_crlf():
    text = (b'\xef\xbb\xbfmsgid "a"\r\nmsgstr "A"\r\nmsgctxt "c"\r\nmsgid "b"\r\nmsgstr ""\r\n"B"\r\n'
            b'#~ msgid "old"\r\n#~ msgstr "OLD"\r\nmsgid "d"\r\nmsgstr "D"')
    report = SkipReport()
    entries = po.parse(text, "x.po", report)
    assert [(e.where, e.context, e.msgid, e.msgstr) for e in entries] == [
        ("x.po:1", None, b"a", [b"A"]), ("x.po:3", b"c", b"b", [b"B"]), ("x.po:9", None, b"d", [b"D"])]
    assert report.counts == {"obsolete entry (#~)": 1}


def test_po_latin1_charset_and_unknown_charset():
    text = HEADER.format(lang="fr", charset="ISO-8859-1") + 'msgid "Preferences"\nmsgstr "Préférences"\n'
    report = SkipReport()
    cat = catalog.parse(text.encode("latin-1"), "fr.po", report)
    assert [(m.msgid, m.msgstr) for m in cat.messages] == [("Preferences", ("Préférences",))]
    assert not report.counts
    text = HEADER.format(lang="fr", charset="KLINGON-8") + 'msgid "a"\nmsgstr "b"\n'
    assert catalog.parse(text.encode(), "fr.po", report) is None
    assert report.samples["unknown charset"] == ["fr.po (KLINGON-8)"]


def test_plural_forms_pick_the_singular_and_plural_form():
    def cat(plural, forms):
        header = f"Language: xx\nPlural-Forms: {plural}\n"
        data = mo.write([(None, "", None, [header]), (None, "%d day", "%d days", forms)])
        return [p[1:3] for p in catalog.pairs(catalog.parse(data, "x.mo", SkipReport()), SkipReport())]

    assert cat("nplurals=2; plural=(n != 1);", ["%d Tag", "%d Tage"]) == [("%d day", "%d Tag"), ("%d days", "%d Tage")]
    assert cat("nplurals=2; plural=(n > 1);", ["%d jour", "%d jours"]) == [("%d day", "%d jour"),
                                                                         ("%d days", "%d jours")]
    assert cat("nplurals=1; plural=0;", ["%d 日"]) == [("%d day", "%d 日"), ("%d days", "%d 日")]
    # Arabic: form 0 is for n=0, form 1 singular, form 2 dual
    arabic = ("nplurals=6; plural=n==0 ? 0 : n==1 ? 1 : n==2 ? 2 : n%100>=3 && n%100<=10 ? 3 : "
              "n%100>=11 ? 4 : 5;")
    assert cat(arabic, ["z", "s", "d", "f", "m", "o"]) == [("%d day", "s"), ("%d days", "d")]
    # no usable Plural-Forms: msgstr[0] and msgstr[1]
    assert cat("garbage", ["a", "b", "c"]) == [("%d day", "a"), ("%d days", "b")]
    assert cat("nplurals=2; plural=(n != 1);", ["%d Tag", ""]) == [("%d day", "%d Tag")]


# ---------------------------------------------------------------------------
# .mo reading

# small.po (header Language: de, "Open", msgctxt "menu" "~Open", a plural, a fuzzy and an
# untranslated entry) compiled by `msgfmt -o small.mo small.po` (GNU gettext-tools 0.21).
MSGFMT_MO = base64.b64decode(
    "3hIElQAAAAAEAAAAHAAAADwAAAAFAAAAXAAAAAAAAABwAAAAEAAAAHEAAAAEAAAAggAAAAoAAACHAAAAYAAAAJIAAAATAAAA"
    "8wAAAAcAAAAHAQAACAAAAA8BAAABAAAAAgAAAAMAAAAEAAAAAAAAAAAlZCBmaWxlACVkIGZpbGVzAE9wZW4AbWVudQR+T3Bl"
    "bgBMYW5ndWFnZTogZGUKQ29udGVudC1UeXBlOiB0ZXh0L3BsYWluOyBjaGFyc2V0PVVURi04ClBsdXJhbC1Gb3JtczogbnBs"
    "dXJhbHM9MjsgcGx1cmFsPShuICE9IDEpOwoAJWQgRGF0ZWkAJWQgRGF0ZWllbgDDlmZmbmVuAMOWfmZmbmVuAA==")


def test_mo_compiled_by_msgfmt():
    report = SkipReport()
    cat = catalog.parse(MSGFMT_MO, "small.mo", report)
    assert cat.language == "de"
    assert [(m.context, m.msgid, m.msgid_plural, m.msgstr) for m in cat.messages] == [
        ("", "%d file", "%d files", ("%d Datei", "%d Dateien")),
        ("", "Open", None, ("Öffnen",)),
        ("menu", "~Open", None, ("Ö~ffnen",)),
    ]
    assert [m.where for m in cat.messages] == ["small.mo (entry 1)", "small.mo (entry 2)", "small.mo (entry 3)"]
    assert not report.counts


@pytest.mark.parametrize("byteorder", ["<", ">"])
def test_mo_writer_round_trip_both_byte_orders(byteorder):
    entries = [(None, "", None, ["Language: fr\n"]), ("ctx", "a", None, ["A"]), (None, "b", "bs", ["B", "Bs"])]
    data = mo.write(entries, byteorder)
    raw = mo.parse(data, "x.mo")
    assert [(e.context, e.msgid, e.msgid_plural, e.msgstr) for e in raw] == [
        (None, b"", None, [b"Language: fr\n"]), (None, b"b", b"bs", [b"B", b"Bs"]), (b"ctx", b"a", None, [b"A"])]


def test_truncated_and_garbage_mo_never_crash():
    for cut in range(len(MSGFMT_MO)):
        report = SkipReport()
        cat = catalog.parse(MSGFMT_MO[:cut], "t.mo", report)
        assert cat is None or not report.counts
        if cat is None:
            assert report.total == 1 and list(report.samples.values()) == [["t.mo"]]
    report = SkipReport()
    assert catalog.parse(b"\x00" * 100, "z.mo", report) is None
    assert report.counts == {"malformed .mo file (not a .mo file (bad magic number))": 1}
    huge = MSGFMT_MO[:8] + struct.pack("<I", 2 ** 31) + MSGFMT_MO[12:]
    assert catalog.parse(huge, "h.mo", SkipReport()) is None


# ---------------------------------------------------------------------------
# The whole build


@pytest.fixture
def catalogs(tmp_path):
    """Four domains in de, fr, ja, pt_BR, laid out as a source tree, an installed system and loose files."""
    src = tmp_path / "src"
    write(str(src / "app/po/app.pot"), 'msgid ""\nmsgstr ""\n')
    write(str(src / "app/po/de.po"), PO.encode("utf-8", "surrogateescape"))
    write(str(src / "app/po/fr.po"), HEADER.format(lang="fr", charset="UTF-8") + (
        'msgid "Open"\nmsgstr "Ouvrir"\n\nmsgctxt "menu"\nmsgid "Open"\nmsgstr "~Ouvrir"\n\n'
        'msgid "%d file"\nmsgid_plural "%d files"\nmsgstr[0] "%d fichier"\nmsgstr[1] "%d fichiers"\n\n'
        'msgid "Close"\nmsgstr "Fermer"\n'))
    loc = src / "locale"
    write(str(loc / "de/LC_MESSAGES/editor.mo"), mo_bytes("de", [
        (None, "Cut", None, ["Ausschneiden"]), ("edit", "Paste", None, ["Einfügen"]),
        (None, "Open", None, ["Öffnen"]),
        (None, "%d line", "%d lines", ["%d Zeile", "%d Zeilen"])]))
    write(str(loc / "de/LC_MESSAGES/editor.po"), HEADER.format(lang="de", charset="UTF-8")
          + 'msgid "Cut"\nmsgstr "Schneiden"\n\nmsgid "Open"\nmsgstr "Öffnen"\n')
    write(str(loc / "fr/LC_MESSAGES/editor.mo"), mo_bytes("fr", [
        (None, "Cut", None, ["Couper"]), (None, "Undo", None, ["Annuler"])]))
    write(str(loc / "ja/LC_MESSAGES/editor.mo"), mo_bytes("ja", [
        (None, "Cut", None, ["切り取り"]), (None, "%d line", "%d lines", ["%d 行"])], "nplurals=1; plural=0;"))
    write(str(loc / "en@quot/LC_MESSAGES/editor.mo"), mo_bytes("en", [(None, "Cut", None, ["Cut"])]))
    write(str(loc / "C/LC_MESSAGES/editor.mo"), mo_bytes("", [(None, "Cut", None, ["Cut"])]))
    write(str(loc / "de/LC_MESSAGES/broken.mo"), mo_bytes("de", [(None, "Cut", None, ["Ausschneiden"])])[:60])
    write(str(src / "viewer/po/de.po"), HEADER.format(lang="de", charset="UTF-8")
          + 'msgid "Zoom in"\nmsgstr "Vergrößern"\n\nmsgid "Print"\nmsgstr "Drucken"\n')
    write(str(src / "viewer/po/fr.po"), (HEADER.format(lang="fr", charset="ISO-8859-1")
          + 'msgid "Zoom in"\nmsgstr "Zoom avant"\n\nmsgid "Preferences"\nmsgstr "Préférences"\n').encode("latin-1"))
    write(str(src / "misc/strings.po"), HEADER.format(lang="pt-BR", charset="UTF-8")
          + 'msgid "Print"\nmsgstr "Imprimir"\n\nmsgid "Cut"\nmsgstr "Recortar"\n')
    write(str(src / "README.txt"), "not a catalog")
    return str(src)




def rec(catalog_, en, context="", **langs):
    return {"catalog": catalog_, "context": context, "en": en,
            **{l: langs.get(l, "") for l in ("de", "fr", "ja", "pt_BR")}}


def test_build_records_splits_and_report(tmp_path, catalogs, capsys):
    data_dir = str(tmp_path / "data")
    builder = build(data_dir, config_name="toy", options={
        "source": catalogs, "test_catalogs": ["editor"], "dev_catalogs": "strings"})
    assert builder.data_dir == os.path.join(data_dir, "gettext", "toy", "1.0.0")
    loaded, records = _read(builder)
    assert loaded.info.metadata["languages"] == ["en", "de", "fr", "ja", "pt_BR"]
    assert loaded.info.metadata["catalogs"] == {"app": "train", "viewer/po": "train", "editor": "test",
                                                "strings": "dev"}
    assert records["test"] == [
        rec("editor", "%d line", de="%d Zeile", ja="%d 行"),
        rec("editor", "%d lines", de="%d Zeilen", ja="%d 行"),
        rec("editor", "Cut", de="Ausschneiden", fr="Couper", ja="切り取り"),
        rec("editor", "Open", de="Öffnen"),
        rec("editor", "Paste", "edit", de="Einfügen"),
        rec("editor", "Undo", fr="Annuler"),
    ]
    assert records["dev"] == [rec("strings", "Print", pt_BR="Imprimir")]
    assert records["train"] == [
        rec("app", "%d file", de="%d Datei", fr="%d fichier"),
        rec("app", "%d files", de="%d Dateien", fr="%d fichiers"),
        rec("app", "After", de="Danach"),
        rec("app", "Close", fr="Fermer"),
        rec("app", "Hello %(name)s, {count} new in $1 & _Menu", de="Hallo %(name)s, {count} neu in $1 & _Menü"),
        rec("app", 'Multi\nline "quoted"\ttab\\', de='Mehr\nzeilig "zitiert"\tTab\\ AB'),
        rec("viewer/po", "Preferences", fr="Préférences"),
        rec("viewer/po", "Zoom in", de="Vergrößern", fr="Zoom avant"),
    ]
    de_po = os.path.join(catalogs, "app/po/de.po")
    editor_po = os.path.join(catalogs, "locale/de/LC_MESSAGES/editor.po")
    assert dict(builder.skipped.counts) == {
        "obsolete entry (#~)": 1, "syntax error": 1, "fuzzy entry": 1, "untranslated entry": 1,
        "invalid text in the file's charset (UTF-8)": 1, "duplicate entry": 2,
        "conflicting translation (the first is kept)": 1, "malformed .mo file (truncated .mo file)": 1,
        "not a language code in the path": 1,
        "English text also in test (removed from train)": 2, "English text also in dev (removed from train)": 1,
        "English text also in test (removed from dev)": 1,
    }
    assert builder.skipped.samples["duplicate entry"] == [f"{de_po}:{lines_of(de_po, OPEN)[-1]}",
                                                          f"{editor_po}:{line_of(editor_po, 'Open')}"]
    assert builder.skipped.samples["conflicting translation (the first is kept)"] == [
        f"{editor_po}:{line_of(editor_po, 'Cut')}"]
    assert builder.skipped.samples["malformed .mo file (truncated .mo file)"] == [
        os.path.join(catalogs, "locale/de/LC_MESSAGES/broken.mo")]
    assert builder.skipped.samples["English text also in test (removed from train)"] == [
        f"{de_po}:{line_of(de_po, OPEN)}", f"{de_po}:{line_of(de_po, 'msgctxt')}"]
    assert loaded.info.metadata["skipped"]["syntax error"] == {"count": 1, "samples": [
        f"{de_po}:{line_of(de_po, 'Broken')}"]}
    err = capsys.readouterr().err
    assert "gettext/toy: en, de, fr, ja, pt_BR; records: train 8, dev 1, test 6" in err
    assert "gettext/toy skipped: 14 in all" in err
    # no English source string of test in dev or train, none of dev in train
    en = {s: {r["en"] for r in records[s]} for s in records}
    assert not en["test"] & (en["train"] | en["dev"]) and not en["dev"] & en["train"]

    # a rebuild replaces the build; the language filter keeps de and fr
    builder = build(data_dir, config_name="toy", options={
        "source": catalogs, "languages": ["de", "FR"], "test_catalogs": ["editor"], "dev_catalogs": ["viewer/po"]})
    loaded, records = _read(builder)
    assert loaded.info.metadata["languages"] == ["en", "de", "fr"]
    assert records["dev"] == [
        {"catalog": "viewer/po", "context": "", "en": "Preferences", "de": "", "fr": "Préférences"},
        {"catalog": "viewer/po", "context": "", "en": "Print", "de": "Drucken", "fr": ""},
        {"catalog": "viewer/po", "context": "", "en": "Zoom in", "de": "Vergrößern", "fr": "Zoom avant"}]


def test_automatic_split_by_catalog(tmp_path):
    sizes = {f"d{i}": n for i, n in enumerate([40, 3, 7, 1, 30, 2, 5, 12])}
    split = corpus.assign_splits(sizes, 0.1, 0.1)
    assert split == corpus.assign_splits(dict(reversed(sizes.items())), 0.1, 0.1)  # order-free
    total = sum(sizes.values())
    for s in ("test", "dev"):
        assert 0 < sum(n for d, n in sizes.items() if split[d] == s) <= 0.1 * total
    assert split["d0"] == split["d4"] == "train"
    # too small for the shares: test and dev still get the smallest domains
    assert corpus.assign_splits({"a": 10, "b": 10, "c": 20}, 0.05, 0.05) == {"a": "test", "b": "dev", "c": "train"}
    assert corpus.assign_splits({"a": 10, "b": 10}, 0.05, 0.05) is None  # by English text instead

    src = tmp_path / "src"
    for d in range(6):
        for lang in ("de", "fr"):
            entries = [(None, f"string {d * 10 + i}", None, [f"{lang} {d * 10 + i}"]) for i in range(10)]
            entries.append((None, "Shared", None, [f"{lang} shared"]))
            write(str(src / f"{lang}/LC_MESSAGES/dom{d}.mo"), mo_bytes(lang, entries))
    builder = build(str(tmp_path / "data"), config_name="auto",
                    options={"source": str(src), "dev_fraction": 0.2, "test_fraction": 0.2})
    loaded, records = _read(builder)
    catalogs_ = loaded.info.metadata["catalogs"]
    assert sorted(catalogs_.values()).count("test") >= 1 and sorted(catalogs_.values()).count("dev") >= 1
    for s in records:
        assert {r["catalog"] for r in records[s]} <= {d for d, x in catalogs_.items() if x == s}
    shared = [s for s in records if any(r["en"] == "Shared" for r in records[s])]
    assert shared == ["test"]
    assert builder.skipped.counts["English text also in test (removed from train)"] == 4
    assert builder.skipped.counts["English text also in test (removed from dev)"] == 1

    # one domain: split by English text, with no string in two splits
    builder = build(str(tmp_path / "data"), config_name="one", options={
        "source": str(src / "de/LC_MESSAGES/dom0.mo"), "dev_fraction": 0.3, "test_fraction": 0.3})
    loaded, records = _read(builder)
    assert loaded.info.metadata["catalogs"] == {"dom0": "by English text"}
    assert sum(len(r) for r in records.values()) == 11 and all(records.values())


def test_user_errors(tmp_path, catalogs):
    data_dir = str(tmp_path / "data")

    def err(options, name="x"):
        with pytest.raises(UserError) as e:
            build(data_dir, config_name=name, options=options)
        assert "\n" not in str(e.value)
        return str(e.value)

    assert "does not exist" in err({"source": str(tmp_path / "nope")})
    os.makedirs(tmp_path / "empty")
    assert "no gettext catalogs" in err({"source": str(tmp_path / "empty")})
    assert "gettext needs a source" in err({})
    assert "bad language code 'german'" in err({"source": catalogs, "languages": ["german"]})
    assert "no catalogs in it under" in err({"source": catalogs, "languages": ["de", "it"]})
    assert "languages found: de, fr, ja, pt_BR" in err({"source": catalogs, "languages": ["it"]})
    assert "unknown gettext option(s) sorce" in err({"sorce": catalogs})
    assert "test_fraction must be a number" in err({"source": catalogs, "test_fraction": 0.7})
    assert "unknown catalog(s) nope" in err({"source": catalogs, "test_catalogs": ["nope"]})
    assert "bad dataset name 'a/b'" in err({"source": catalogs}, name="a/b")
    only_fuzzy = tmp_path / "fuzzy" / "de.po"
    write(str(only_fuzzy), '#, fuzzy\nmsgid "a"\nmsgstr "b"\n\nmsgid "c"\nmsgstr ""\n')
    assert err({"source": str(only_fuzzy.parent)}) == (
        f"no translated messages in the catalogs under {only_fuzzy.parent} (1 fuzzy entry; 1 untranslated entry)")
    tiny = tmp_path / "tiny" / "de.po"
    write(str(tiny), 'msgid "a"\nmsgstr "b"\n')
    assert re.search("too few messages .* split is empty", err({"source": str(tiny.parent)}))
    assert not os.path.exists(os.path.join(data_dir, "gettext", "x"))


# ---------------------------------------------------------------------------
# Property-based: what a .po / .mo file holds is what is read; no input crashes the readers

def _entries_of(text):
    return st.lists(st.tuples(st.one_of(st.none(), text), text, st.one_of(st.none(), text),
                              st.lists(text, min_size=1, max_size=3)),
                    max_size=8, unique_by=lambda e: (e[0], e[1]))


_entries = _entries_of(st.text(min_size=1, max_size=40))
# .mo files cannot hold NUL (it separates plural forms) or \x04 (it ends a context)
_mo_entries = _entries_of(st.text(st.characters(codec="utf-8", exclude_characters="\x00\x04"), min_size=1, max_size=40))


def _po_text(entries) -> str:
    out = [HEADER.format(lang="de", charset="UTF-8")]
    for context, msgid, plural, forms in entries:
        if context is not None:
            out.append(f"msgctxt {po_quote(context)}\n")
        out.append(f"msgid {po_quote(msgid)}\n")
        if plural is None:
            out.append(f"msgstr {po_quote(forms[0])}\n\n")
        else:
            out.append(f"msgid_plural {po_quote(plural)}\n")
            out += [f"msgstr[{i}] {po_quote(f)}\n" for i, f in enumerate(forms)] + ["\n"]
    return "".join(out)


def _expected(entries):
    return [(c or "", m, p, tuple(f[:1]) if p is None else tuple(f)) for c, m, p, f in entries]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_entries)
def test_po_round_trip(entries):
    report = SkipReport()
    cat = catalog.parse(_po_text(entries).encode("utf-8"), "h.po", report)
    assert [(m.context, m.msgid, m.msgid_plural, m.msgstr) for m in cat.messages] == _expected(entries)
    assert not report.counts


@settings(max_examples=60, deadline=None)
@given(_mo_entries)
def test_mo_round_trip(entries):
    header = (None, "", None, ["Language: de\nContent-Type: text/plain; charset=UTF-8\n"])
    data = mo.write([header] + [(c, m, p, f[:1] if p is None else f) for c, m, p, f in entries])
    cat = catalog.parse(data, "h.mo", SkipReport())
    got = sorted((m.context, m.msgid, m.msgid_plural, m.msgstr) for m in cat.messages)
    assert got == sorted(_expected(entries))


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=300), st.sampled_from([".po", ".mo"]))
def test_readers_never_raise_on_arbitrary_bytes(data, suffix):
    report = SkipReport()
    cat = catalog.parse(data, "a" + suffix, report)
    if cat is not None:
        list(catalog.pairs(cat, report))


@settings(max_examples=100, deadline=None)
@given(st.lists(st.sampled_from(['msgid "a"', 'msgstr "b"', 'msgctxt "c"', 'msgid_plural "d"', 'msgstr[0] "e"',
                                 'msgstr[1] "f"', '"g"', "", "#, fuzzy", "#~ msgid \"h\"", "#~ msgstr \"i\"",
                                 '"unterminated', "# comment", "junk", 'msgstr[7] "x"']), max_size=30))
def test_po_parser_never_raises_on_shuffled_lines(lines):
    report = SkipReport()
    entries = po.parse("\n".join(lines).encode(), "s.po", report)
    for e in entries:
        assert e.msgid is not None and e.msgstr
