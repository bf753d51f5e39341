"""The `parallel_text` dataset: TSV and line-aligned readers, dirty lines, reports, UserErrors."""
import os

import pytest
from conftest import read_built as _read
from hypothesis import given, settings
from hypothesis import strategies as st

from xling_jax.data import langcode
from xling_jax.data.parallel_text import readers
from xling_jax.data.parallel_text.builder import build
from xling_jax.data.report import SkipReport
from xling_jax.errors import UserError


def write(path, data) -> str:
    with open(path, "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode("utf-8"))
    return str(path)




TSV = (b"\xef\xbb\xbfEN\tpt-br\n"                      # 1 BOM + header naming the languages
       b"Hello\tOl\xc3\xa1\n"                          # 2
       b"  Good morning \t Bom dia\r\n"                # 3 CRLF, surrounding spaces
       b"no tab here\n"                                # 4
       b"one\ttwo\tthree\n"                            # 5
       b"\tvazio\n"                                    # 6 empty side
       b"bad \xff byte\tbyte ruim\n"                   # 7 invalid UTF-8
       b"bell\x07 and\x1b[0m escape\tsino\xc2\x85 e escape\n"  # 8 C0 and C1 controls: removed
       b"\n"                                           # 9 blank
       + b"long " * 20 + b"\tlongo\n"                  # 10 over max_chars=60
       + b"%s and {name} and $1\t%s e {name} e $1\n"   # 11 placeholders verbatim
       b"last\t\xc3\xbaltimo")                         # 12 no newline at the end


def test_tsv_records_and_report(tmp_path, capsys):
    train = write(tmp_path / "train.tsv", TSV)
    dev = write(tmp_path / "dev.tsv", "Yes\tSim\n")
    builder = build(str(tmp_path / "data"), config_name="toy",
                    options={"languages": ["en", "pt-BR"], "train": train, "dev": dev, "max_chars": 60})
    assert builder.data_dir == os.path.join(str(tmp_path / "data"), "parallel_text", "toy", "1.0.0")
    loaded, records = _read(builder)
    assert loaded.info.metadata["languages"] == ["en", "pt_BR"]
    assert sorted(records) == ["dev", "train"]
    assert records["train"] == [
        {"origin": "train.tsv:2", "en": "Hello", "pt_BR": "Olá"},
        {"origin": "train.tsv:3", "en": "Good morning", "pt_BR": "Bom dia"},
        {"origin": "train.tsv:8", "en": "bell and[0m escape", "pt_BR": "sino e escape"},
        {"origin": "train.tsv:11", "en": "%s and {name} and $1", "pt_BR": "%s e {name} e $1"},
        {"origin": "train.tsv:12", "en": "last", "pt_BR": "último"},
    ]
    assert records["dev"] == [{"origin": "dev.tsv:1", "en": "Yes", "pt_BR": "Sim"}]
    assert dict(builder.skipped.counts) == {
        "header line (the language codes)": 1, "not 2 tab-separated columns": 2, "empty text on one side": 1,
        "invalid UTF-8": 1, "blank line": 1, "longer than max_chars (60 characters)": 1}
    assert builder.skipped.samples["not 2 tab-separated columns"] == [f"{train}:4", f"{train}:5"]
    assert builder.skipped.samples["invalid UTF-8"] == [f"{train}:7"]
    assert builder.skipped.samples["longer than max_chars (60 characters)"] == [f"{train}:10"]
    assert builder.repaired.to_dict() == {"control characters removed": {"count": 1, "samples": [f"{train}:8"]}}
    assert loaded.info.metadata["skipped"]["empty text on one side"] == {"count": 1, "samples": [f"{train}:6"]}
    assert loaded.info.metadata["repaired"]["control characters removed"]["count"] == 1
    err = capsys.readouterr().err
    assert "parallel_text/toy: en, pt_BR; pairs: train 5, dev 1" in err
    assert "parallel_text/toy skipped: 7 in all" in err and f"(e.g. {train}:4, {train}:5)" in err


def test_line_aligned_files(tmp_path):
    en = write(tmp_path / "a.en", "one\ntwo\n\nfour\tquatre?\nfive\nsix\nseven\n")
    de = write(tmp_path / "a.de", b"eins\nzwei\ndrei\nvier\nf\xfcnf\n")
    fr = write(tmp_path / "a.fr", "un\ndeux\ntrois\nquatre\ncinq\nsix\n")
    builder = build(str(tmp_path / "data"), config_name="three",
                    options={"languages": "en,de,fr", "train": [en, de, fr], "test": [en, de, fr]})
    loaded, records = _read(builder)
    assert loaded.info.metadata["languages"] == ["en", "de", "fr"]
    assert loaded.info.metadata["files"] == {"train": [en, de, fr], "test": [en, de, fr]}
    assert records["train"] == records["test"] == [
        {"origin": "a.en:1", "en": "one", "de": "eins", "fr": "un"},
        {"origin": "a.en:2", "en": "two", "de": "zwei", "fr": "deux"},
        {"origin": "a.en:4", "en": "four\tquatre?", "de": "vier", "fr": "quatre"},  # a tab is kept
    ]
    counts = builder.skipped.counts
    assert counts == {"empty text on one side": 2, "invalid UTF-8": 2,
                      "unpaired line (the files have different line counts)": 6}
    assert builder.skipped.samples["invalid UTF-8"] == [f"{de}:5", f"{de}:5"]
    assert builder.skipped.samples["unpaired line (the files have different line counts)"] == [
        f"{en}:6", f"{fr}:6", f"{en}:6"]
    # Languages in file order (not sorted) pair either way round.
    from xling_jax.data import catalog
    ds = catalog.Dataset("parallel_text/three", builder.data_dir)
    for a, b in (("en", "de"), ("de", "en"), ("fr", "de"), ("de", "fr")):
        assert ds.pair_index("train", a, b).tolist() == [0, 1, 2]


def test_huge_line_is_skipped_without_reading_it_whole(tmp_path):
    big = b"x" * 1_500_000
    train = write(tmp_path / "t.tsv", b"a\tb\n" + big + b"\t" + big + b"\nc\td\n")
    skipped, repaired = SkipReport(), SkipReport()
    reader = readers.Reader(2000, skipped, repaired)
    assert list(reader.tsv(train, ["en", "de"])) == [(1, ["a", "b"]), (3, ["c", "d"])]
    assert skipped.counts == {"longer than max_chars (2000 characters)": 1}
    assert skipped.samples["longer than max_chars (2000 characters)"] == [f"{train}:2"]


def test_utf16_and_empty_files_are_reported(tmp_path):
    skipped = SkipReport()
    reader = readers.Reader(100, skipped, SkipReport())
    utf16 = write(tmp_path / "u.tsv", "a\tb\n".encode("utf-16"))
    empty = write(tmp_path / "e.tsv", b"")
    assert list(reader.tsv(utf16, ["en", "de"])) == []
    assert list(reader.tsv(empty, ["en", "de"])) == []
    assert skipped.samples == {"UTF-16 file (convert it to UTF-8, e.g. with iconv -f UTF-16 -t UTF-8)": [utf16],
                               "empty file": [empty]}


def test_user_errors(tmp_path):
    good = write(tmp_path / "good.tsv", "a\tb\n")
    data_dir = str(tmp_path / "data")

    def err(options, name="x"):
        with pytest.raises(UserError) as e:
            build(data_dir, config_name=name, options=options)
        assert "\n" not in str(e.value)
        return str(e.value)

    missing = str(tmp_path / "missing.tsv")
    assert err({"languages": ["en", "de"], "train": good, "dev": missing}) == (
        f"parallel_text dev file {missing} does not exist")
    assert "is a folder" in err({"languages": ["en", "de"], "train": str(tmp_path)})
    assert "needs train" in err({"languages": ["en", "de"]})
    assert "needs languages" in err({"train": good})
    assert "at least two languages" in err({"languages": ["en"], "train": good})
    assert "bad language code 'english'" in err({"languages": ["english", "de"], "train": good})
    assert "'zh_CN' appears twice" in err({"languages": ["zh-CN", "zh_CN"], "train": good})
    assert "lists 3 files for 2 languages" in err({"languages": ["en", "de"], "train": [good, good, good]})
    assert "max_chars must be a positive whole number" in err({"languages": ["en", "de"], "train": good,
                                                                "max_chars": 0})
    assert "unknown parallel_text option(s) tran" in err({"languages": ["en", "de"], "tran": good})
    assert "bad dataset name 'a b'" in err({"languages": ["en", "de"], "train": good}, name="a b")
    empty = write(tmp_path / "empty.tsv", "")
    assert err({"languages": ["en", "de"], "train": good, "test": empty}) == (
        f"no usable test pairs in {empty} (1 empty file)")
    dirty = write(tmp_path / "dirty.tsv", "a\n\tb\nc\n")
    assert err({"languages": ["en", "de"], "train": dirty}) == (
        f"no usable train pairs in {dirty} (2 not 2 tab-separated columns; 1 empty text on one side)")
    assert not os.path.exists(os.path.join(data_dir, "parallel_text"))


# ---------------------------------------------------------------------------
# Property-based: text written is text read (up to the documented normalisation); bytes never crash

def _expected(rows, tsv_languages=None):
    """The (line, texts) a reader should give for `rows` written one per line (a TSV, or one file per column)."""
    out = []
    for i, row in enumerate(rows, 1):
        if i == 1:  # a byte order mark at the start of a file is dropped
            starts = 1 if tsv_languages else len(row)
            row = [t[1:] if j < starts and t.startswith("\ufeff") else t for j, t in enumerate(row)]
        texts = [readers.clean(t)[0] for t in row]
        if tsv_languages and i == 1 and [langcode.normalise(t) for t in row] == tsv_languages:
            continue  # a header line
        if all(texts) and all(len(t) <= 50 for t in texts):
            out.append((i, texts))
    return out


_no_newline = st.text(st.characters(codec="utf-8", exclude_characters="\n"), max_size=30)
_tsv_cell = st.text(st.characters(codec="utf-8", exclude_characters="\n\t"), max_size=30)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.lists(_tsv_cell, min_size=2, max_size=2), max_size=10))
def test_tsv_round_trip(tmp_path_factory, rows):
    path = tmp_path_factory.mktemp("tsv") / "t.tsv"
    write(path, "".join("\t".join(r) + "\n" for r in rows))
    reader = readers.Reader(50, SkipReport(), SkipReport())
    assert list(reader.tsv(str(path), ["en", "de"])) == _expected(rows, ["en", "de"])


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(_no_newline, _no_newline), max_size=10), st.booleans())
def test_line_aligned_round_trip(tmp_path_factory, pairs, final_newline):
    d = tmp_path_factory.mktemp("aligned")
    end = "\n" if final_newline else ""
    a = write(d / "a.en", "\n".join(p[0] for p in pairs) + (end if pairs else ""))
    b = write(d / "a.de", "\n".join(p[1] for p in pairs) + (end if pairs else ""))
    reader = readers.Reader(50, SkipReport(), SkipReport())
    # "\r" just before a line end is a CRLF line ending and dropped (clean() drops it anyway)
    assert list(reader.aligned([a, b])) == _expected([list(p) for p in pairs])


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=400), st.binary(max_size=400))
def test_readers_never_raise_on_arbitrary_bytes(tmp_path_factory, a, b):
    d = tmp_path_factory.mktemp("bytes")
    pa, pb = write(d / "a", a), write(d / "b", b)
    skipped, repaired = SkipReport(), SkipReport()
    reader = readers.Reader(20, skipped, repaired)
    got = list(reader.tsv(pa, ["en", "de"])) + list(reader.aligned([pa, pb]))
    for _, texts in got:
        for t in texts:
            assert t and t == t.strip() and len(t) <= 20 and not readers.CONTROL.search(t)
