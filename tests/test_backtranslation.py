"""Offline back-translation: `xling backtranslate` builds tagged synthetic pairs; data.bt_ratio sets their share."""
import json
import os

import numpy as np
import plans
import pytest
from conftest import tiny_data_config as tiny_config
from conftest import untrained_run

from xling_jax.cli.main import main
from xling_jax.data import catalog, mixture, pipeline
from xling_jax.data import tokenizer as tokenizer_lib
from xling_jax.errors import UserError

ENGLISH = ["And God saw the light, that it was good.", "The LORD is my shepherd; I shall not want.",
           "Blessed are the meek: for they shall inherit the earth.", "Jesus wept.",
           "In the beginning was the Word.", "Love is patient, love is kind."]


@pytest.fixture(scope="module")
def backtranslated(tmp_path_factory, bible_data_dir, tiny_tokenizer):
    """(data dir with the Bible and parallel_text/bt, the run, the --out folder, monolingual English lines).

    A tiny (untrained) es<->en run back-translates 24 English lines (two blank, one padded with spaces)
    into Spanish."""
    root = tmp_path_factory.mktemp("bt")
    data_dir = root / "data"
    data_dir.mkdir()
    os.symlink(os.path.join(bible_data_dir, "bible"), data_dir / "bible")
    run = untrained_run(root / "run", tiny_config(data_dir=str(data_dir)), tiny_tokenizer)
    lines = [f"{s} ({i})" for i in range(4) for s in ENGLISH]
    mono = root / "mono.en.txt"
    mono.write_text("\n".join(lines[:5] + ["", "   "] + ["  " + lines[5] + "  "] + lines[6:]) + "\n",
                    encoding="utf-8")
    out = root / "bt"
    assert main(["backtranslate", "--workdir", run, "--src", "es", "--tgt", "en", "--input", str(mono),
                 "--out", str(out), "--data_dir", str(data_dir), "--sample", "--seed", "3"]) == 0
    return str(data_dir), run, str(out), lines


def test_backtranslate_writes_pairs_and_provenance(backtranslated, capsys):
    data_dir, run, out, lines = backtranslated
    with open(os.path.join(out, "train.en"), encoding="utf-8") as f:
        assert f.read().splitlines() == lines  # blank lines dropped, the rest cleaned as parallel_text cleans
    with open(os.path.join(out, "train.es"), encoding="utf-8") as f:
        assert len(f.read().splitlines()) == len(lines)
    with open(os.path.join(out, "backtranslation.json")) as f:
        record = json.load(f)
    assert record["dataset"] == "parallel_text/bt" and record["mixture_entry"] == "parallel_text/bt:es-en"
    assert record["synthetic"] == "es" and record["lines"] == len(lines)
    assert record["model"] == {"workdir": run, "step": 0}
    assert record["decode"]["method"] == "sample" and record["decode"]["seed"] == 3
    ds = catalog.open_dataset("parallel_text/bt", data_dir)
    assert ds.synthetic == "es" and ds.splits == {"train": record["pairs"]}
    assert 0 < record["pairs"] <= len(lines)


def test_synthetic_side_is_only_ever_a_source(backtranslated):
    data_dir, _, _, _ = backtranslated
    c = tiny_config(mixture=("bible:en-es", "parallel_text/bt:es-en"), data_dir=data_dir)
    # both_directions reverses the Bible but not the back-translation, which is never scored either.
    dirs = mixture.directions(c.data, data_dir)
    assert [(d.key(True), d.backtranslated) for d in dirs] == [
        ("bible:en-es", False), ("bible:es-en", False), ("parallel_text/bt:es-en", True)]
    assert [d.key(True) for d in mixture.evaluated(dirs)] == ["bible:en-es", "bible:es-en"]
    # Its machine-made Spanish is no Spanish text for the tokenizer or the denoising tasks.
    refs = lambda lang: [ref for ref, _ in pipeline.language_records(dirs, lang, "train", data_dir)]
    assert refs("es") == ["bible"] and refs("en") == ["bible", "parallel_text/bt"]
    c.data.mixture = ("parallel_text/bt:en-es",)
    with pytest.raises(UserError, match="would teach the model to write machine translations"):
        mixture.directions(c.data, data_dir)


@pytest.mark.parametrize("bt_ratio", [0.2, 0.5])
def test_bt_pairs_are_tagged_and_their_share_is_bt_ratio(backtranslated, tiny_tokenizer, bt_ratio):
    data_dir, _, _, _ = backtranslated
    tok = tokenizer_lib.Tokenizer(tiny_tokenizer)
    bt, en = tok.symbol_id(tokenizer_lib.BT), tok.tag_id("en")
    c = tiny_config(mixture=("bible:en-es", "parallel_text/bt:es-en"), data_dir=data_dir, bt_ratio=bt_ratio)
    ds, dirs, rates = plans.mixed(c, data_dir)
    assert rates[2] == pytest.approx(bt_ratio) and rates.sum() == pytest.approx(1.0)
    n = 4000
    examples = [ds[i] for i in range(n)]
    share = np.mean([ex["backtranslated"] for ex in examples])
    assert share == pytest.approx(bt_ratio, abs=0.025)  # 3.5 binomial sigmas at n=4000
    tagged = pipeline.bt_id(tok, dirs, c.data.bt_tag)
    for ex in examples[:400]:
        inputs = pipeline.encode_example(tok, ex, tagged)["inputs"].tolist()
        assert inputs[0] == tok.tag_id(ex["tgt_lang"])
        if ex["backtranslated"]:
            assert ex["direction"] == "parallel_text/bt:es-en" and inputs[:2] == [en, bt]
        else:
            assert bt not in inputs
    # Packed training rows carry the tag too; without data.bt_tag nothing is tagged.
    batch = next(iter(plans.batches(c, tok, data_dir)))
    assert (batch["inputs"] == bt).any()
    c.data.bt_tag = False
    assert pipeline.bt_id(tok, dirs, c.data.bt_tag) is None


def test_sampling_rates_split_by_bt_ratio():
    sizes, kinds = [300, 100, 50, 950], ["real", "real", "backtranslated", "backtranslated"]
    rates = mixture.sampling_rates(sizes, kinds, 1.0, {"backtranslated": 0.4})
    np.testing.assert_allclose(rates, [0.6 * 0.75, 0.6 * 0.25, 0.4 * 0.05, 0.4 * 0.95])
    np.testing.assert_allclose(mixture.sampling_rates(sizes, kinds, 1.0, {"backtranslated": 0.0}),
                               mixture.temperature_weights(sizes, 1.0))
    with pytest.raises(UserError, match="no back-translated training pairs"):
        mixture.sampling_rates([10, 20], ["real", "real"], 1.0, {"backtranslated": 0.3})


def test_user_errors(backtranslated, tmp_path, capsys):
    data_dir, run, _, _ = backtranslated
    from xling_jax.training.validate import validate
    c = tiny_config(bt_ratio=1.0)
    with pytest.raises(UserError, match=r"data.bt_ratio must be in \[0, 1\)"):
        validate(c)
    # A vocabulary from before <BT> existed cannot tag back-translated sources.
    old = str(tmp_path / "old.model")
    tokenizer_lib.train(["the king said", "el rey dijo"] * 20, old, 300, ["en", "es"],
                        extra_symbols=[tokenizer_lib.MASK])
    c = tiny_config(mixture=("parallel_text/bt:es-en",), data_dir=data_dir)
    with pytest.raises(UserError, match="has no <BT> symbol: .*data.bt_tag=false"):
        pipeline.bt_id(tokenizer_lib.Tokenizer(old), mixture.directions(c.data, data_dir), c.data.bt_tag)
    empty = tmp_path / "empty.txt"
    empty.write_text("\n  \n", encoding="utf-8")
    base = {"--src": "es", "--tgt": "en", "--input": os.path.join(os.path.dirname(data_dir), "mono.en.txt"),
            "--out": str(tmp_path / "out"), "--data_dir": data_dir}
    for changes, extra, message in [
        ({"--tgt": "fr"}, [], "--tgt 'fr': this model knows en, es"),
        ({"--src": "en"}, [], "--src and --tgt are both 'en'"),
        ({"--input": str(empty)}, [], "has no text to back-translate"),
        ({"--input": str(tmp_path / "missing.txt")}, [], "missing.txt does not exist"),
        ({"--name": "bad name"}, [], "bad dataset name 'bad name'"),
        ({}, ["--beam", "2", "--nbest", "2"], "one translation per line"),
    ]:
        argv = [x for kv in {**base, **changes}.items() for x in kv] + extra
        assert main(["backtranslate", "--workdir", run, *argv]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("xling: error: ") and "\n" not in err and message in err, err
    assert not (tmp_path / "out").exists()
