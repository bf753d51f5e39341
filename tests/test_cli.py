"""The `xling` CLI end to end on a tiny config, and its one-line errors."""
import json
import os
import shutil
import subprocess
import sys

import pytest
from conftest import TINY_CONFIG

from xling_jax.cli.main import main

XLING = [sys.executable, "-c", "import sys; from xling_jax.cli.main import main; sys.exit(main())"]


def xling(*args, stdin=None, check=True):
    proc = subprocess.run(XLING + list(args), input=stdin, capture_output=True, text=True, timeout=600)
    if check:
        assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny_tokenizer):
    workdir = tmp_path_factory.mktemp("cli") / "run"
    workdir.mkdir()
    shutil.copy(tiny_tokenizer, workdir / "tokenizer.model")
    xling("train", "--config", TINY_CONFIG, "--workdir", str(workdir), "--config.train.steps=4",
          "--config.model.num_layers", "1", "--config.eval_bleu=true", "--config.eval_every=2")
    return str(workdir)


def test_train_writes_run_and_honours_overrides(trained):
    with open(os.path.join(trained, "config.json")) as f:
        assert json.load(f)["train"]["steps"] == 4
    assert os.listdir(os.path.join(trained, "checkpoints")) == ["4"] or "4" in os.listdir(
        os.path.join(trained, "checkpoints"))


def test_translate_one_line_out_per_line_in(trained):
    long_line = "and the king said unto them " * 8000  # ~220 kB: cut to the longest source, reported
    text = ("In the beginning God created the heaven and the earth.\n\n" + long_line +
            "\nAnd God said, Let there be light.\n")
    proc = xling("translate", "--workdir", trained, "--src", "en", "--tgt", "es", stdin=text)
    lines = proc.stdout.split("\n")
    assert lines[-1] == "" and len(lines) - 1 == 4
    assert lines[1] == ""  # an empty line in gives an empty line out
    assert "line 3: source of" in proc.stderr and "cut to 512" in proc.stderr


def test_dev_bleu_is_logged_and_the_best_checkpoint_kept(trained):
    with open(os.path.join(trained, "metrics.jsonl")) as f:
        evals = [r for r in map(json.loads, f) if r.get("kind") == "eval"]
    assert [r["step"] for r in evals] == [2, 4]
    assert all({"dev_bleu", "dev_chrf", "dev_bleu/en-es", "dev_chrf/es-en"} <= set(r) for r in evals)
    with open(os.path.join(trained, "best", "best.json")) as f:
        best = json.load(f)
    first_best = max(evals, key=lambda r: (r["dev_bleu"], -r["step"]))  # the earlier one wins a tie
    assert best["step"] == first_best["step"] and best["score"] == first_best["dev_bleu"]
    out = json.loads(xling("eval", "--workdir", trained, "--split", "dev", "--limit", "8", "--step", "best").stdout)
    assert out["step"] == best["step"]


def test_translate_nbest_and_decoding_methods(trained):
    text = "And God said, Let there be light.\n\nThe LORD is my shepherd.\n"
    run = lambda *a: xling("translate", "--workdir", trained, "--src", "en", "--tgt", "es", *a, stdin=text).stdout
    nbest = [l.split(" ||| ") for l in run("--beam", "3", "--nbest", "3").splitlines()]
    assert [int(i) for i, _, _ in nbest] == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    for i in (0, 2):
        scores = [float(s) for j, _, s in nbest if int(j) == i]
        assert scores == sorted(scores, reverse=True)
    best = run("--beam", "3").splitlines()
    assert [best[0], best[2]] == [nbest[0][1], nbest[6][1]]
    assert run("--greedy") == run("--sample", "--top_k", "1", "--temperature", "0.5")
    assert run("--sample", "--seed", "1") == run("--sample", "--seed", "1")


def test_eval_compare_prints_difference_and_p_value(trained, tmp_path):
    xling("eval", "--workdir", trained, "--split", "test", "--limit", "8", "--greedy")
    other = tmp_path / "greedy_run"
    shutil.copytree(os.path.join(trained, "eval"), other / "eval")
    proc = xling("eval", "--workdir", trained, "--split", "test", "--limit", "8", "--beam", "2",
                 "--compare", str(other))
    result = json.loads(proc.stdout)
    for key, scores in result["directions"].items():
        c = scores["compare"]
        with open(other / "eval" / "test" / "scores.json") as f:
            greedy_scores = json.load(f)["directions"][key]
        assert c["bleu"]["this"] == scores["bleu"] and c["bleu"]["other"] == greedy_scores["bleu"]
        assert c["chrf"]["difference"] == pytest.approx(scores["chrf"] - greedy_scores["chrf"], abs=0.011)
        assert 0 <= c["bleu"]["p_value"] <= 1
        assert f"{key} bleu: this" in proc.stderr
    # Hypotheses of another split (or --limit) are refused with one line.
    bad = xling("eval", "--workdir", trained, "--split", "test", "--limit", "5", "--compare", str(other), check=False)
    assert bad.returncode == 2 and "other references" in bad.stderr


def test_eval_prints_bleu_and_chrf_per_direction(trained):
    out = xling("eval", "--workdir", trained, "--split", "test", "--limit", "8").stdout
    result = json.loads(out)
    assert set(result["directions"]) == {"en-es", "es-en"}
    for scores in result["directions"].values():
        assert scores["bleu_signature"].startswith("nrefs:1|case:mixed|eff:no|tok:13a")
        assert "nw:2" in scores["chrf_signature"]  # chrF++
        assert scores["sentences"] == 8
    assert os.path.exists(os.path.join(trained, "eval", "test", "en-es.hyp"))


@pytest.mark.parametrize("args, message", [
    (["train", "--workdir", "{tmp}/w", "--config.train.stepz=3"], "unknown config key 'train.stepz' (did you mean"),
    (["train", "--workdir", "{tmp}/w", "--config.train.steps=abc"], "bad value for --config.train.steps"),
    (["train", "--workdir", "{tmp}/w", "--config.model.num_heads=3"], "does not divide model.emb_dim"),
    (["train", "--workdir", "{tmp}/w", "--config.data.directions=en-xx"], "unknown language code 'xx'"),
    (["train", "--workdir", "{tmp}/w", "--config.data.name=nosuch"], "unknown dataset 'nosuch'"),
    (["train", "--workdir", "{tmp}/w", "--config", "{tmp}/missing.py"], "does not exist"),
    (["train", "--workdir", "/proc/xling"], "not writable"),
    (["translate", "--workdir", "{tmp}/nothing", "--src", "en", "--tgt", "es"], "does not exist"),
    (["eval", "--workdir", "{tmp}"], "holds no trained run"),
])
def test_user_errors_are_one_clear_line(tmp_path, capsys, args, message):
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("xling: error: ") and "\n" not in err and message in err, err
    assert not (tmp_path / "w" / "checkpoints").exists()


def test_unknown_target_language_for_a_trained_model(trained, capsys):
    assert main(["translate", "--workdir", trained, "--src", "en", "--tgt", "fr"]) == 2
    assert "this model knows en, es" in capsys.readouterr().err


def test_different_model_in_existing_workdir_is_refused_and_nothing_is_lost(trained, capsys):
    before = sorted(os.listdir(trained))
    with open(os.path.join(trained, "config.json")) as f:
        config_before = f.read()
    assert main(["train", "--config", TINY_CONFIG, "--workdir", trained, "--config.model.emb_dim=64"]) == 2
    assert "already holds a run" in capsys.readouterr().err
    assert sorted(os.listdir(trained)) == before
    with open(os.path.join(trained, "config.json")) as f:
        assert f.read() == config_before


def test_attention_draws_heat_maps_of_the_translation(trained, capsys):
    text = "In the beginning God created the heaven and the earth."
    args = ["attention", "--workdir", trained, "--src", "en", "--tgt", "es", text]
    assert main(args + ["--step", "best", "--greedy", "--layers", "0", "--heads", "1,3"]) == 0
    out, err = capsys.readouterr()
    path = out.strip()
    assert os.path.dirname(path) == os.path.join(trained, "attention") and path.endswith(".png")
    with open(path, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    assert err.startswith("translation: ")
    assert main(args + ["--translation", "Dios.", "--heads", "9"]) == 2
    assert "heads 9 out of range: the model has 4 heads" in capsys.readouterr().err


def test_verbosity_picks_the_diagnostics_shown(trained, capsys):
    """Info lines on stdout at the default level, none at `warning` (for that command only); warnings keep
    their `xling: warning:` prefix on stderr at any level; an unknown level is one error line."""
    from xling_jax import log
    logger = log.get_logger("xling_jax.test")
    again = ["--config", TINY_CONFIG, "--workdir", trained, "--config.train.steps=4", "--config.model.num_layers=1"]
    assert main(["train", *again]) == 0
    assert "already trained to step 4" in capsys.readouterr().out
    assert main(["train", *again[:2], "--verbosity", "warning", *again[2:]]) == 0
    out, err = capsys.readouterr()
    assert "already trained" not in out and err == ""
    # The level held for that command only: Python code after it logs as before.
    logger.info("shown again")
    logger.warning("shown")
    out, err = capsys.readouterr()
    assert out == "shown again\n" and err == "xling: warning: shown\n"
    log.set_verbosity("warning")
    logger.info("not shown")
    assert capsys.readouterr().out == ""
    assert main(["--verbosity=loud", "train", "--workdir", trained]) == 2
    assert capsys.readouterr().err == "xling: error: --verbosity 'loud': choose one of debug, info, warning, error\n"
    log.set_verbosity(log.DEFAULT_LEVEL)
