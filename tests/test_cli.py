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
          "--config.model.num_layers", "1")
    return str(workdir)


def test_train_writes_run_and_honours_overrides(trained):
    with open(os.path.join(trained, "config.json")) as f:
        assert json.load(f)["train"]["steps"] == 4
    assert os.listdir(os.path.join(trained, "checkpoints")) == ["4"] or "4" in os.listdir(
        os.path.join(trained, "checkpoints"))


def test_translate_one_line_out_per_line_in(trained):
    text = "In the beginning God created the heaven and the earth.\n\nAnd God said, Let there be light.\n"
    out = xling("translate", "--workdir", trained, "--src", "en", "--tgt", "es", stdin=text).stdout
    lines = out.split("\n")
    assert lines[-1] == "" and len(lines) - 1 == 3
    assert lines[1] == ""  # an empty line in gives an empty line out


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
