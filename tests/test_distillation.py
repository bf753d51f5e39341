"""Sequence-level distillation: `xling distill` builds a teacher's translations as distilled pairs;
data.distill_ratio sets their share; they train only forward, are never text for the tokenizer and are
scored on the references of the dataset they came from."""
import json
import os

import numpy as np
import plans
import pytest
from conftest import tiny_data_config as tiny_config
from conftest import untrained_run

from xling_jax.cli.main import main
from xling_jax.data import catalog, mixture, pipeline
from xling_jax.data import plan as data_plan
from xling_jax.data.parallel_text import readers
from xling_jax.errors import UserError

DECODE = ["--greedy", "--max_len_a", "0.5", "--max_len_b", "6", "--batch_size", "16"]


@pytest.fixture(scope="module")
def distilled(tmp_path_factory, bible_data_dir, tiny_tokenizer):
    """(data dir with the Bible and parallel_text/kd, the teacher run, the provenance record): a tiny
    random en<->es teacher translates the Bible's dev sources both ways."""
    root = tmp_path_factory.mktemp("kd")
    data_dir = root / "data"
    data_dir.mkdir()
    os.symlink(os.path.join(bible_data_dir, "bible"), data_dir / "bible")
    teacher = untrained_run(root / "teacher", tiny_config(data_dir=str(data_dir)), tiny_tokenizer)
    assert main(["distill", "--teacher", teacher, "--dataset", "bible", "--split", "dev", "--out", "kd",
                 "--data_dir", str(data_dir), *DECODE]) == 0
    with open(data_dir / "distilled" / "kd" / "distillation.json") as f:
        return str(data_dir), teacher, json.load(f)


def _pairs(data_dir, direction):
    source = pipeline.PairSource(direction, "train", data_dir)
    return [(source[i]["src"], source[i]["tgt"]) for i in range(len(source))]


def test_distilled_targets_are_the_teachers_translations(distilled, tmp_path):
    data_dir, teacher, record = distilled
    assert record["dataset"] == "parallel_text/kd" and record["distilled_from"] == "bible"
    assert record["mixture_entries"] == ["parallel_text/kd:en-es", "parallel_text/kd:es-en"]
    for src, tgt in (("en", "es"), ("es", "en")):
        dev = pipeline.PairSource(mixture.Direction("bible", src, tgt), "dev", data_dir)
        sources = [dev[i]["src"] for i in range(len(dev))]
        assert record["sources"][f"{src}-{tgt}"] == len(sources) == 237
        # The same lines through `xling translate` with the same flags give the same targets.
        (tmp_path / "in.txt").write_text("\n".join(sources) + "\n", encoding="utf-8")
        out = tmp_path / f"out.{tgt}"
        assert main(["translate", "--workdir", teacher, "--src", src, "--tgt", tgt, "--input",
                     str(tmp_path / "in.txt"), "--output", str(out), *DECODE]) == 0
        # Cleaned as parallel_text cleans any text: a random model writes control characters too.
        translated = [readers.clean(t)[0] for t in out.read_text(encoding="utf-8").splitlines()]
        expected = dict(zip(sources, translated))
        pairs = _pairs(data_dir, mixture.Direction("parallel_text/kd", src, tgt, distilled_from="bible"))
        # Pairs whose translation is empty or equals its source are not usable, as in any parallel_text.
        assert record["pairs"][f"{src}-{tgt}"] == len(pairs) > 0
        assert all(expected[s] == t for s, t in pairs)
        assert len(pairs) == sum(1 for s, t in expected.items() if t and t != s)


def test_data_show_says_what_is_distilled(distilled, capsys):
    data_dir, _, _ = distilled
    assert main(["data", "show", "parallel_text/kd", "--data_dir", data_dir, "--examples", "1"]) == 0
    out = capsys.readouterr().out
    assert "distilled: targets translated by a teacher from bible's sources; train records en-es 0-" in out
    assert "[0] origin: train.en-es.en:" in out


def test_distilled_pairs_train_forward_and_are_scored_on_the_source_dataset(distilled):
    data_dir, _, _ = distilled
    c = tiny_config(mixture=("parallel_text/kd:en-es", "bible:es-en"), data_dir=data_dir)
    # both_directions adds a distilled direction's reverse only where it was distilled that way too.
    assert [(d.key(True), d.kind) for d in mixture.directions(c.data, data_dir)] == [
        ("parallel_text/kd:en-es", "distilled"), ("parallel_text/kd:es-en", "distilled"),
        ("bible:es-en", "real"), ("bible:en-es", "real")]
    c.data.both_directions = False
    dirs = mixture.directions(c.data, data_dir)
    assert [(d.key(True), d.kind) for d in dirs] == [("parallel_text/kd:en-es", "distilled"), ("bible:es-en", "real")]
    assert [d.key(True) for d in mixture.evaluated(dirs)] == ["bible:en-es", "bible:es-en"]
    # The teacher's Spanish is no Spanish text for the tokenizer or the denoising tasks; its English sources are.
    kd = catalog.open_dataset("parallel_text/kd", data_dir)
    start, end = kd.distilled["en-es"]
    for lang, refs in (("es", ["bible"]), ("en", ["parallel_text/kd", "bible"])):
        records = dict(pipeline.language_records(dirs, lang, "train", data_dir))
        assert list(records) == refs
    assert set(records["parallel_text/kd"]) <= set(range(start, end))
    c.data.mixture = ("parallel_text/kd:en-es", "parallel_text/kd:es-en")
    plan = data_plan.resolve(c.data, data_dir)
    assert [d.key(plan.qualified) for d in plan.evaluated] == ["en-es", "es-en"]
    assert {d.dataset for d in plan.evaluated} == {"bible"}
    for lang, (a, b) in (("es", kd.distilled["es-en"]), ("en", kd.distilled["en-es"])):
        (ref, idx), = pipeline.language_records(plan.directions, lang, "train", data_dir)
        assert ref == "parallel_text/kd" and idx.min() >= a and idx.max() < b
    corpus = pipeline.tokenizer_corpus(plan.directions, data_dir, 10_000, 0)
    teacher_text = {t for d in plan.directions for _, t in _pairs(data_dir, d)}
    human = {s for d in plan.directions for s, _ in _pairs(data_dir, d)}
    assert set(corpus) <= human and not set(corpus) & (teacher_text - human)


@pytest.mark.parametrize("ratio", [0.25, 0.6])
def test_distilled_share_is_distill_ratio(distilled, ratio):
    data_dir, _, _ = distilled
    c = tiny_config(mixture=("bible:en-es", "parallel_text/kd:en-es"), both_directions=False, data_dir=data_dir,
                    distill_ratio=ratio)
    ds, dirs, rates = plans.mixed(c, data_dir)
    assert [d.kind for d in dirs] == ["real", "distilled"] and rates[1] == pytest.approx(ratio)
    n = 4000
    share = np.mean([ds[i]["direction"] == "parallel_text/kd:en-es" for i in range(n)])
    sigma = np.sqrt(ratio * (1 - ratio) / n)
    assert abs(share - ratio) < 4 * sigma


def test_sampling_rates_with_both_synthetic_kinds():
    sizes, kinds = [300, 100, 50, 100, 300], ["real", "real", "backtranslated", "distilled", "distilled"]
    rates = mixture.sampling_rates(sizes, kinds, 1.0, {"backtranslated": 0.2, "distilled": 0.5})
    np.testing.assert_allclose(rates, [0.3 * 0.75, 0.3 * 0.25, 0.2, 0.5 * 0.25, 0.5 * 0.75])
    # A kind without a ratio of its own is sampled with the real pairs, by size.
    rates = mixture.sampling_rates(sizes, kinds, 1.0, {"distilled": 0.5})
    np.testing.assert_allclose(rates, [0.5 * 300 / 450, 0.5 * 100 / 450, 0.5 * 50 / 450, 0.5 * 0.25, 0.5 * 0.75])
    with pytest.raises(UserError, match="no distilled training pairs; distilled data comes from `xling distill`"):
        mixture.sampling_rates([10, 20], ["real", "real"], 1.0, {"distilled": 0.3})
    with pytest.raises(UserError, match="no real training pairs for the other 0.7 of the samples"):
        mixture.sampling_rates([10, 20], ["distilled", "distilled"], 1.0, {"distilled": 0.3})


def test_student_trains_on_distilled_pairs_and_is_scored_on_bible(distilled, tmp_path, tiny_tokenizer):
    data_dir, _, _ = distilled
    workdir = tmp_path / "student"
    workdir.mkdir()
    os.symlink(tiny_tokenizer, workdir / "tokenizer.model")
    assert main(["train", "--config", os.path.join(os.path.dirname(__file__), "tiny_config.py"),
                 "--workdir", str(workdir), f"--config.data.data_dir={data_dir}",
                 "--config.data.mixture=parallel_text/kd:en-es,bible:en-es", "--config.data.both_directions=false",
                 "--config.data.distill_ratio=0.5", "--config.eval_bleu=true", "--config.train.steps=3"]) == 0
    rows = [json.loads(line) for line in open(workdir / "metrics.jsonl")]
    evals = [r for r in rows if "dev_bleu" in r]
    assert evals and set(k for k in evals[-1] if k.startswith("dev_bleu/")) == {"dev_bleu/en-es"}


def test_user_errors(distilled, tmp_path, capsys):
    from xling_jax.training.validate import validate
    data_dir, teacher, _ = distilled
    for ratios, message in [({"distill_ratio": 1.0}, "data.distill_ratio must be in"),
                            ({"distill_ratio": 0.6, "bt_ratio": 0.4}, r"bt_ratio \+ distill_ratio < 1")]:
        with pytest.raises(UserError, match=message):
            validate(tiny_config(**ratios))
    base = {"--dataset": "bible", "--split": "dev", "--out": "kd2", "--data_dir": data_dir}
    for changes, extra, message in [
        ({"--dataset": "parallel_text/kd"}, [], "parallel_text/kd is itself distilled"),
        ({"--out": "bad name"}, [], "bad dataset name 'bad name'"),
        ({}, ["--directions", "en-fr"], "unknown language code 'fr'"),
        ({"--split": "validation2"}, [], "has no split 'validation2'"),
        ({}, ["--beam", "2", "--nbest", "2"], "one translation per source"),
    ]:
        argv = [x for kv in {**base, **changes}.items() for x in kv] + extra
        assert main(["distill", "--teacher", teacher, *argv]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("xling: error: ") and "\n" not in err and message in err, err
    assert not os.path.exists(os.path.join(data_dir, "distilled", "kd2"))
    # Built by hand, a distilled dataset must name where its sources (and the references) come from.
    options = dict(json.load(open(os.path.join(data_dir, "distilled", "kd", "distillation.json")))["build_options"])
    del options["distilled_from"]
    with pytest.raises(UserError, match="parallel_text distilled needs distilled_from"):
        catalog.build("parallel_text/kd3", data_dir, options=options)
    # Distilled one way, the pairs are refused the other way: the teacher's text would be the source.
    assert main(["distill", "--teacher", teacher, "--directions", "en-es", *[x for kv in base.items() for x in kv],
                 "--out", "kd1", *DECODE]) == 0
    assert json.loads(capsys.readouterr().out)["mixture_entries"] == ["parallel_text/kd1:en-es"]  # stdout: JSON only
    c = tiny_config(mixture=("parallel_text/kd1:es-en",), data_dir=data_dir)
    with pytest.raises(UserError, match="parallel_text/kd1 is distilled in en-es only"):
        mixture.directions(c.data, data_dir)
    c.data.mixture = ("parallel_text/kd1:en-es",)
    assert [d.pair for d in mixture.directions(c.data, data_dir)] == ["en-es"]
