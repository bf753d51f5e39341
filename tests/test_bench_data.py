"""`xling bench data`: its JSON, and the ratio it reports against the figures it is made from."""
import json

import pytest
from conftest import TINY_CONFIG

from xling_jax.cli.main import main

SECTIONS = {"pipeline", "train_step", "pipeline_over_step", "batch_size", "max_len", "pack", "directions", "devices"}


def test_bench_data_json_and_ratio(tiny_workdir, capsys):
    assert main(["bench", "data", "--config", TINY_CONFIG, "--workdir", tiny_workdir, "--batches", "6"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) == SECTIONS
    pipe, step = out["pipeline"], out["train_step"]
    assert set(pipe) == {"batches", "examples_per_s", "tokens_per_s", "batches_per_s", "startup_s"}
    assert pipe["batches"] == 6 and step == {"steps": 6, "tokens_per_s": step["tokens_per_s"]}
    assert pipe["tokens_per_s"] > 0 and step["tokens_per_s"] > 0 and pipe["startup_s"] >= 0
    # The ratio is the pipeline's tokens/s over the step's (both rounded in the JSON).
    assert out["pipeline_over_step"] == pytest.approx(pipe["tokens_per_s"] / step["tokens_per_s"], rel=0.01, abs=0.006)
    # Per batch: every row holds a pair (several when packed), and no more tokens than the rows have room for
    examples = pipe["examples_per_s"] / pipe["batches_per_s"]
    tokens = pipe["tokens_per_s"] / pipe["batches_per_s"]
    # (A pair is at least 5 tokens: target tag, a word and EOS in the source; a word and EOS in the target.)
    assert out["batch_size"] * 0.99 <= examples <= out["batch_size"] * out["max_len"] / 3 * 1.01
    assert 5 * examples * 0.99 <= tokens <= out["batch_size"] * 2 * out["max_len"] * 1.01
    assert (out["batch_size"], out["max_len"], out["pack"]) == (8, 32, True)
    assert out["directions"] == ["bible:en-es", "bible:es-en"] and out["devices"] == "1 x cpu"


def test_bench_data_refuses_what_it_cannot_time(tmp_path, capsys):
    assert main(["bench", "data", "--config", TINY_CONFIG, "--batches", "0"]) == 2
    assert "--batches 0" in capsys.readouterr().err
    # A --workdir that cannot hold the tokenizer is said before any data is read or tokenizer trained.
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert main(["bench", "data", "--config", TINY_CONFIG, "--workdir", str(blocker)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("xling: error: ") and "not a directory" in err and "\n" not in err
