"""Task mixtures: denoising examples from monolingual text mixed with translation, per-task metrics."""
import json
import os

import numpy as np
import pytest

from xling_jax.configs.loading import load_config_file
from xling_jax.data import pipeline, tokenizer as tokenizer_lib
from xling_jax.data.tokenizer import Tokenizer
from xling_jax.errors import UserError
from xling_jax.objectives import tasks
from xling_jax.training.train import train_and_evaluate
from conftest import TINY_CONFIG


def config(task_list, **objective):
    c = load_config_file(TINY_CONFIG)
    c.tasks = task_list
    c.objective.update(objective)
    return c


def test_mixture_rates_and_denoising_examples(tiny_workdir, bible_data_dir):
    c = config(("mbart:3", "translation:1"))
    tok = Tokenizer(os.path.join(tiny_workdir, tokenizer_lib.FILENAME))
    assert tasks.parse(c) == [("mbart", 0.75), ("translation", 0.25)]
    ds, _, _ = pipeline.mixed_dataset(c, "train", bible_data_dir)
    mixed = tasks.mix(c, tok, bible_data_dir, ds.map(lambda ex: pipeline.encode_example(tok, ex)))
    examples = [mixed[i] for i in range(2000)]
    is_mbart = np.array([ex["task"][0] == 0 for ex in examples])
    assert is_mbart.mean() == pytest.approx(0.75, abs=0.03)
    mask, tags = tok.symbol_id(tokenizer_lib.MASK), {tok.tag_id("en"), tok.tag_id("es")}
    masked = total = 0
    for ex in (e for e, m in zip(examples, is_mbart) if m):
        assert (ex["task"] == 0).all() and len(ex["task"]) == len(ex["targets"])
        assert ex["inputs"][0] in tags and ex["inputs"][-1] == tok.eos_id and ex["targets"][-1] == tok.eos_id
        original = ex["targets"][:-1]
        # Unmasked tokens all come from the original; the target is the text itself, not noised.
        kept = [t for t in ex["inputs"][1:-1] if t != mask]
        assert set(kept) <= set(original.tolist()) and mask in ex["inputs"]
        masked += len(original) - len(kept)
        total += len(original)
        assert mask not in ex["targets"]
    assert masked / total == pytest.approx(0.35, abs=0.05)
    # The same index gives the same example: a resumed iterator sees what an uninterrupted one would.
    np.testing.assert_array_equal(mixed[17]["inputs"], examples[17]["inputs"])


def test_denoising_and_translation_train_with_per_task_losses(tiny_workdir):
    c = config(("mbart:0.5", "translation:0.5"))
    c.train.steps, c.eval_every, c.checkpoint_every = 4, 4, 4
    train_and_evaluate(c, tiny_workdir)
    rows = [json.loads(line) for line in open(os.path.join(tiny_workdir, "metrics.jsonl"))]
    train_rows = [r for r in rows if "loss" in r]
    assert all(np.isfinite(r["nll/mbart"]) and np.isfinite(r["nll/translation"]) for r in train_rows)
    assert len(train_rows) == 4


def test_t5_needs_sentinels_in_the_vocabulary(tiny_workdir):
    c = config(("t5:1",))
    c.train.steps = 1
    with pytest.raises(UserError, match="tokenizer.sentinels=0"):
        train_and_evaluate(c, tiny_workdir)
    with pytest.raises(UserError, match="unknown task 'bert'"):
        tasks.parse(config(("bert:1",)))
    with pytest.raises(UserError, match="RATE > 0"):
        tasks.parse(config(("mbart:x",)))


def test_t5_example_is_framed_and_reconstructs(tmp_path):
    path = str(tmp_path / "t.model")
    tokenizer_lib.train(["the king said to his people and they went to the city"] * 30, path, 400, ["en", "es"],
                        extra_symbols=tokenizer_lib.special_symbols(20))
    tok = Tokenizer(path)
    c = config(("t5:1",), t5_sentinels=20)
    text = "the king said to his people and they went to the city of the king"
    ex = tasks.denoising_example("t5", {"text": text, "lang": "es"}, np.random.default_rng(0), tok, c.objective)
    sentinels = [tok.symbol_id(tokenizer_lib.sentinel(i)) for i in range(20)]
    assert ex["inputs"][0] == tok.tag_id("es") and ex["inputs"][-1] == ex["targets"][-1] == tok.eos_id
    spans, current = {}, None
    for t in ex["targets"][:-1].tolist():
        current = t if t in sentinels else current
        spans.setdefault(current, []).extend([] if t in sentinels else [t])
    filled = [x for t in ex["inputs"][1:-1].tolist() for x in (spans[t] if t in sentinels else [t])]
    assert tok.decode(filled) == text and len(spans) >= 2


def test_monolingual_files_join_the_vocabulary_and_the_denoising_text(tmp_path, bible_data_dir):
    german = tmp_path / "de.txt"
    german.write_text("\n".join(["Im Anfang schuf Gott Himmel und Erde.", "", "Und Gott sprach: Es werde Licht."] * 50),
                      encoding="utf-8")
    c = config(("mbart:1",))
    c.data.monolingual = (f"{german}:de",)
    c.train.steps, c.eval_every, c.checkpoint_every = 2, 2, 2
    workdir = str(tmp_path / "run")
    train_and_evaluate(c, workdir)
    tok = Tokenizer(os.path.join(workdir, tokenizer_lib.FILENAME))
    assert set(tok.languages()) == {"de", "en", "es"}
    from xling_jax.data import mixture
    mono = tasks.MonolingualSource(mixture.directions(c.data, bible_data_dir), "train", bible_data_dir,
                                   mixture.monolingual_files(c.data))
    tail = [mono[i] for i in range(len(mono) - 101, len(mono))]  # the file comes after the Bible sides
    assert [r["lang"] for r in tail] == ["es"] + ["de"] * 100  # empty lines skipped
    assert tail[2]["text"] == "Und Gott sprach: Es werde Licht."
    c.data.monolingual = (f"{tmp_path / 'missing.txt'}:de",)
    with pytest.raises(UserError, match="missing.txt does not exist"):
        train_and_evaluate(c, str(tmp_path / "other"))
