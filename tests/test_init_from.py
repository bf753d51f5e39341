"""Fine-tuning from another run: partial restore loads exactly what it reports; frozen params stay put."""
import json
import os
import shutil

import jax
import numpy as np
import pytest
from conftest import TINY_CONFIG
from flax import traverse_util

from xling_jax.configs.loading import load_config_file
from xling_jax.errors import UserError
from xling_jax.training import init_from
from xling_jax.training.load import load_run
from xling_jax.training.train import train_and_evaluate


def flat(params):
    return traverse_util.flatten_dict(jax.device_get(params), sep="/")


def test_partial_restore_selects_by_include_and_exclude():
    fresh = {"encoder_0": {"k": np.zeros(2)}, "decoder_0": {"k": np.zeros(2)}, "head": {"w": np.zeros(3)}}
    source = {"encoder_0": {"k": np.ones(2)}, "decoder_0": {"k": np.ones(2)}, "other": {"w": np.ones(1)}}
    params, report = init_from.partial_restore(fresh, source, include=("encoder", "decoder"), exclude=("decoder",))
    assert report == {"loaded": ["encoder_0/k"], "new": ["decoder_0/k", "head/w"],
                      "ignored": ["decoder_0/k", "other/w"]}
    assert params["encoder_0"]["k"].tolist() == [1, 1] and params["decoder_0"]["k"].tolist() == [0, 0]
    with pytest.raises(UserError, match=r"shapes differ.*head/w \(1,\) -> \(3,\)"):
        init_from.partial_restore(fresh, {"head": {"w": np.ones(1)}})


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory, tiny_tokenizer):
    workdir = tmp_path_factory.mktemp("pre") / "run"
    workdir.mkdir()
    shutil.copy(tiny_tokenizer, workdir / "tokenizer.model")
    c = load_config_file(TINY_CONFIG)
    c.train.steps = c.checkpoint_every = c.eval_every = 2
    train_and_evaluate(c, str(workdir))
    return str(workdir)


def test_fine_tune_loads_the_encoder_and_freezes_it(pretrained, tmp_path, capsys):
    c = load_config_file(TINY_CONFIG)
    c.train.steps = c.checkpoint_every = c.eval_every = 2
    c.init_from.workdir, c.init_from.include, c.train.freeze = pretrained, ("encoder",), ("encoder",)
    workdir = str(tmp_path / "ft")
    train_and_evaluate(c, workdir)
    out = capsys.readouterr().out
    assert f"Initialised from {pretrained} (step 2)" in out and "encoder_0 (" in out
    report = json.load(open(os.path.join(workdir, "init_from.json")))
    before, after = flat(load_run(pretrained).params), flat(load_run(workdir).params)
    assert report["loaded"] and all(p.startswith("encoder") for p in report["loaded"])
    assert set(report["loaded"]) | set(report["new"]) == set(after)
    for path in report["loaded"]:  # loaded, then frozen: unchanged by two steps of training
        np.testing.assert_array_equal(after[path], before[path], err_msg=path)
    changed = [p for p in report["new"] if p in before and not np.array_equal(after[p], before[p])]
    assert "decoder_0/mlp/Dense_0/kernel" in changed  # newly initialised and trained
    # The pretrained vocabulary was adopted; a workdir with another one is refused.
    assert open(os.path.join(workdir, "tokenizer.model"), "rb").read() == open(
        os.path.join(pretrained, "tokenizer.model"), "rb").read()
    other = tmp_path / "other"
    other.mkdir()
    (other / "tokenizer.model").write_bytes(b"not the same vocabulary")
    with pytest.raises(UserError, match="vocabulary mismatch"):
        train_and_evaluate(c, str(other))
