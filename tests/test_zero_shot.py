"""Zero-shot vs pivot evaluation: experiments/zero_shot_libreoffice.py at tiny size on the real LibreOffice help.

The run trains two steps on en<->{de,es,fr,zh}; `xling eval --directions ... --pivot en` then scores
non-English directions directly and through English, which must be exactly the two-step translation.
"""
import json
import os

import pytest
from tiny_config import shrink

from xling_jax.cli.main import main
from xling_jax.configs.loading import load_config_file
from xling_jax.data import catalog, mixture
from xling_jax.evaluation import bleu

EXPERIMENT = os.path.join(os.path.dirname(os.path.dirname(__file__)), "experiments", "zero_shot_libreoffice.py")
DIRECTIONS = ("es-de", "de-fr", "fr-zh")
LIMIT = 4


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    from xling_jax.training.train import train_and_evaluate
    catalog.ensure_built("libreoffice_help")
    c = shrink(load_config_file(EXPERIMENT))
    c.tokenizer.vocab_size, c.tokenizer.max_sentences = 2000, 5000  # Chinese characters need ~1,400 pieces
    c.train.steps = c.checkpoint_every = c.eval_every = 2
    c.eval_batches = 1
    workdir = str(tmp_path_factory.mktemp("zero_shot") / "run")
    train_and_evaluate(c, workdir)
    return workdir


@pytest.fixture(scope="module")
def evaluated(run_dir):
    args = ["eval", "--workdir", run_dir, "--dataset", "libreoffice_help", "--directions", ",".join(DIRECTIONS),
            "--pivot", "en", "--limit", str(LIMIT), "--beam", "2"]
    assert main(args) == 0
    out_dir = os.path.join(run_dir, "eval", "test", "libreoffice_help")
    with open(os.path.join(out_dir, "scores.json")) as f:
        return out_dir, json.load(f)


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read().split("\n")[:-1]


def test_the_experiment_trains_only_english_directions(run_dir):
    c = load_config_file(EXPERIMENT)
    pairs = {d.pair for d in mixture.directions(c.data)}
    assert pairs == {f"{a}-{b}" for x in ("de", "es", "fr", "zh") for a, b in (("en", x), (x, "en"))}


def test_every_direction_has_direct_and_pivot_scores_and_hypotheses(evaluated):
    out_dir, scores = evaluated
    assert scores["dataset"] == "libreoffice_help" and scores["split"] == "test" and scores["pivot"] == "en"
    assert list(scores["directions"]) == list(DIRECTIONS)
    for key, direct in scores["directions"].items():
        tok = "zh" if key.endswith("-zh") else "13a"
        for s in (direct, direct["pivot"]):
            assert {"bleu", "chrf", "sentences", "references_sha1"} <= set(s)
            assert f"tok:{tok}|" in s["bleu_signature"] and "nw:2" in s["chrf_signature"]
            assert s["sentences"] == LIMIT
        assert direct["pivot"]["via"] == "en" and direct["pivot"]["references_sha1"] == direct["references_sha1"]
        for name in (bleu.hyp_filename(key), bleu.pivot_filename(key, "en"),
                     bleu.pivot_filename(key, "en", intermediate=True)):
            assert len(read(os.path.join(out_dir, name))) == LIMIT, name


def test_pivot_is_the_two_step_translation_through_english(run_dir, evaluated):
    from xling_jax.decoding.translate import Translator
    from xling_jax.training.load import load_run
    out_dir, _ = evaluated
    run = load_run(run_dir)
    run.config.decode.beam_size = 2
    translator = Translator(run.model, run.params, run.tokenizer, run.config.decode)
    data_dir = catalog.resolve_data_dir()
    for key in DIRECTIONS:
        src, tgt = key.split("-")
        sources, _ = bleu.split_pairs(mixture.Direction("libreoffice_help", src, tgt), "test", data_dir, LIMIT)
        english = translator.translate(sources, "en")
        assert read(os.path.join(out_dir, bleu.pivot_filename(key, "en", intermediate=True))) == english
        assert read(os.path.join(out_dir, bleu.pivot_filename(key, "en"))) == translator.translate(english, tgt)
        assert read(os.path.join(out_dir, bleu.hyp_filename(key))) == translator.translate(sources, tgt)


@pytest.mark.parametrize("args, message", [
    (["--directions", "en-de", "--pivot", "en"], "--pivot en: direction en-de already has it at one end"),
    (["--directions", "es-xx"], "unknown language code 'xx'"),
    (["--directions", "es-de", "--pivot", "ja"], "--pivot 'ja': this model knows de, en, es, fr, zh"),
    (["--dataset", "bible", "--directions", "es-de"], "unknown language code 'de' for dataset 'bible'"),
])
def test_user_errors(run_dir, capsys, args, message):
    assert main(["eval", "--workdir", run_dir, "--limit", "1", *args]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("xling: error: ") and "\n" not in err and message in err, err
