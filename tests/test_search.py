"""Sentence embeddings, retrieval and bitext mining (decoding/embed.py, evaluation/retrieval.py,
retrieval/evaluate.py, `xling embed|retrieve|mine`): known answers, margin scoring against numpy, and
vectors that do not depend on their batch or padding for every model family."""
import json

import hf_models
import numpy as np
import pytest
from conftest import TINY_CONFIG, untrained_run

from xling_jax.cli.main import main as cli
from xling_jax.configs.loading import load_config_file
from xling_jax.decoding.embed import frame
from xling_jax.evaluation import retrieval
from xling_jax.interop.hf import import_hf
from xling_jax.model.pooling import sentence_vectors
from xling_jax.retrieval.load import load_encoder


def unit(x):
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def numpy_margin(x, y, k):
    """The ratio margin of every pair, computed directly from the full cosine matrix."""
    s = x @ y.T
    mean_x = np.sort(s, axis=1)[:, ::-1][:, :k].mean(1)
    mean_y = np.sort(s, axis=0)[::-1][:k].mean(0)
    return s / ((mean_x[:, None] + mean_y[None, :]) / 2)


def test_margin_retrieval_matches_a_direct_numpy_computation():
    rng = np.random.default_rng(0)
    x, y = unit(rng.normal(size=(60, 16))), unit(rng.normal(size=(80, 16)))
    y[:60] = unit(x + 0.9 * rng.normal(size=x.shape))  # related but noisy: cosine and margin disagree
    got = retrieval.retrieve(x, y, k=4, candidates=80)  # every key a candidate: the exact argmax
    m = numpy_margin(x, y, 4)
    np.testing.assert_array_equal(got["cosine"], np.argmax(x @ y.T, 1))
    np.testing.assert_array_equal(got["margin"], np.argmax(m, 1))
    assert (got["cosine"] != got["margin"]).any()  # the test can tell the two scorings apart
    for score, i, j in retrieval.mine(x, y, k=4, candidates=80):
        assert score == pytest.approx(m[i, j], rel=1e-5)


def test_identical_sentences_are_retrieved_and_shuffled_pairs_mined_back():
    rng = np.random.default_rng(1)
    x = unit(rng.normal(size=(300, 24)))
    gold = np.arange(300)
    for index in ("flat", "hnsw"):
        got = retrieval.retrieve(x, x.copy(), index=index)
        assert retrieval.precision_at_1(got["cosine"], gold) == 1.0
        assert retrieval.precision_at_1(got["margin"], gold) == 1.0
    # Targets: a noisy shuffled copy of the sources among as many distractors.
    perm = rng.permutation(600)
    y = np.zeros((600, 24), np.float32)
    y[perm[:300]] = unit(x + 0.05 * rng.normal(size=x.shape))
    y[perm[300:]] = unit(rng.normal(size=(300, 24)))
    truth = {(i, int(perm[i])) for i in range(300)}
    mined = retrieval.mine(x, y)
    assert [s for s, _, _ in mined] == sorted((s for s, _, _ in mined), reverse=True)
    assert len({i for _, i, _ in mined}) == len(mined) == len({j for _, _, j in mined})  # one-to-one
    scores = retrieval.prf(mined, truth)
    assert scores["best"]["f1"] == 1.0 and scores["best"]["pairs"] == 300
    kept = retrieval.mine(x, y, threshold=scores["best"]["threshold"])
    assert retrieval.prf(kept, truth)["f1"] == 1.0
    assert retrieval.index_kind(retrieval.EXACT_MAX) == "flat" and retrieval.index_kind(retrieval.EXACT_MAX + 1) == "hnsw"


SENTENCES = ["In the beginning was the Word.", "Jesus wept.", "And God said, Let there be light: and there was "
             "light, and God saw the light, that it was good.", "Amen.", "Blessed are the meek: for they shall "
             "inherit the earth.", "", "Love is patient."]


def _check_invariance(encoder, lang):
    together = encoder(SENTENCES, lang)
    encoder.batch_size = 1
    alone = encoder(SENTENCES, lang)
    np.testing.assert_allclose(together, alone, atol=2e-5)
    np.testing.assert_allclose(np.linalg.norm(together, axis=1), 1.0, rtol=1e-5)
    assert len({v.tobytes() for v in together}) == len(SENTENCES)  # different texts, different vectors
    # Padded far beyond its length, a row's vector is unchanged.
    ids = frame(encoder.tokenizer, SENTENCES[:1], lang, encoder.tag_lang)[0]
    padded = np.full((1, 128), encoder.model.cfg.pad_id, np.int32)
    padded[0, :len(ids)] = ids
    np.testing.assert_allclose(np.asarray(sentence_vectors(encoder.model, encoder.params, padded, encoder.pooling))[0],
                               together[0], atol=2e-5)


@pytest.mark.parametrize("family", ["transformer", "lstm"])
def test_xling_vectors_do_not_depend_on_batch_or_padding(family, tmp_path, tiny_tokenizer):
    config = load_config_file(TINY_CONFIG)
    config.model.name = family
    run = untrained_run(tmp_path / "run", config, tiny_tokenizer)
    for pooling in ("mean", "first"):
        encoder = load_encoder(run, pooling=pooling)
        assert encoder.tag_lang == "en"
        _check_invariance(encoder, "es")


@pytest.mark.parametrize("family", ["nllb", "t5"])
def test_imported_vectors_do_not_depend_on_batch_or_padding(family, tmp_path):
    hf_models.make(family, str(tmp_path / "hf"), seed=0)
    import_hf(str(tmp_path / "hf"), str(tmp_path / "run"))
    _check_invariance(load_encoder(str(tmp_path / "run")), "en")


@pytest.fixture
def run(tmp_path, tiny_tokenizer):
    return untrained_run(tmp_path / "run", load_config_file(TINY_CONFIG), tiny_tokenizer)


def test_embed_cli_writes_the_encoders_vectors(run, tmp_path, capsys):
    src = tmp_path / "in.txt"
    src.write_text("\n".join(SENTENCES) + "\n", encoding="utf-8")
    out = tmp_path / "v.npy"
    assert cli(["embed", "--workdir", run, "--lang", "en", "--input", str(src), "--out", str(out)]) == 0
    summary = json.loads(capsys.readouterr().out)
    vectors = np.load(out)
    assert summary["sentences"] == len(SENTENCES) and vectors.shape == (len(SENTENCES), summary["dim"])
    np.testing.assert_allclose(vectors, load_encoder(run)(SENTENCES, "en"), atol=1e-6)


def test_mine_cli_finds_shuffled_copies_and_scores_them_against_gold(run, tmp_path, capsys):
    """Identical texts have identical vectors: a shuffled copy among distractors is mined back exactly."""
    rng = np.random.default_rng(0)
    sources = [f"verse {i}: {w}" for i, w in enumerate(["light", "water", "bread", "wine", "stone", "bird",
                                                        "fish", "tree", "river", "mountain"])]
    targets = sources + [f"other line {i} about {w}" for i, w in enumerate(["sand", "sea", "sky", "fire", "salt"])]
    order = rng.permutation(len(targets))
    shuffled = [targets[j] for j in order]
    (tmp_path / "a.txt").write_text("\n".join(sources) + "\n", encoding="utf-8")
    (tmp_path / "b.txt").write_text("\n".join(shuffled) + "\n", encoding="utf-8")
    where = {t: n for n, t in enumerate(shuffled)}
    (tmp_path / "gold.tsv").write_text("".join(f"{i + 1}\t{where[s] + 1}\n" for i, s in enumerate(sources)))
    pairs = tmp_path / "pairs.tsv"
    assert cli(["mine", "--workdir", run, "--src", "en", "--tgt", "en", "--src-file", str(tmp_path / "a.txt"),
                "--tgt-file", str(tmp_path / "b.txt"), "--gold", str(tmp_path / "gold.tsv"), "--out", str(pairs),
                "--k", "2"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["best"]["f1"] == 1.0 and summary["index"] == "flat"
    rows = [line.split("\t") for line in pairs.read_text(encoding="utf-8").splitlines()]
    exact = [r for r in rows if r[3] == r[4]]
    assert len(exact) == len(sources)
    assert all(shuffled[int(r[2]) - 1] == sources[int(r[1]) - 1] for r in exact)


def test_retrieve_cli_reports_both_ways_per_direction(run, tmp_path, capsys, bible_data_dir):
    out = tmp_path / "r.json"
    assert cli(["retrieve", "--workdir", run, "--dataset", "bible", "--split", "test", "--directions",
                "en-es,es-en", "--limit", "40", "--out", str(out)]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == json.loads(out.read_text())
    d = printed["directions"]
    assert d["en-es"]["n"] == d["es-en"]["n"] == 40
    for s in ("cosine", "margin"):
        assert d["en-es"][s]["forward"] == d["es-en"][s]["backward"]
        assert 0.0 <= d["en-es"][s]["mean"] <= 1.0


@pytest.mark.parametrize("argv, message", [
    (["embed", "--lang", "en", "--out", "v.txt"], "give a .npy file name"),
    (["mine", "--src", "en", "--tgt", "es", "--out", "p.tsv"], "give --src-file and --tgt-file"),
    (["mine", "--src", "en", "--tgt", "es", "--out", "p.tsv", "--src-file", "a", "--tgt-file", "b",
      "--dataset", "bible"], "not both"),
    (["retrieve", "--dataset", "bible", "--directions", "en-xx"], "unknown language code 'xx'"),
])
def test_user_errors_are_one_line(argv, message, tmp_path, capsys, bible_data_dir):
    """Each is caught before a model is loaded (the workdir need not exist)."""
    assert cli(argv[:1] + ["--workdir", str(tmp_path)] + argv[1:]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err and "Traceback" not in err
