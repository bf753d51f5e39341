"""Help-module classification: pooling, the page-hash split, overlap filtering, restoring a
translation run's encoder, and a tiny zero-shot run end to end."""
import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import TINY_CONFIG
from flax import traverse_util

from xling_jax.classification import batches, data, evaluate
from xling_jax.classification.train import classify_and_evaluate
from xling_jax.cli.main import main
from xling_jax.configs.loading import load_config_file
from xling_jax.data.libreoffice.corpus import LANGUAGES
from xling_jax.errors import UserError
from xling_jax.model.classifier import build_classifier, pool
from xling_jax.training import checkpoints, preemption
from xling_jax.training.load import load_run
from xling_jax.training.train import train_and_evaluate


def flat(params):
    return traverse_util.flatten_dict(jax.device_get(params), sep="/")


class _Vocab:  # what build_classifier reads of a tokenizer
    vocab_size, target_vocab_size, pad_id, eos_id = 50, 50, 0, 1


# ---------------------------------------------------------------------------
# Pooling

def test_pool_ignores_padding_and_first_reads_position_0():
    x_BxSxD = jax.random.normal(jax.random.key(0), (2, 5, 3))
    tokens_BxS = jnp.array([[4, 5, 6, 0, 0], [7, 0, 0, 0, 0]])
    mean = pool(x_BxSxD, tokens_BxS, 0, "mean")
    np.testing.assert_allclose(mean[0], x_BxSxD[0, :3].mean(0), rtol=1e-6)
    np.testing.assert_allclose(mean[1], x_BxSxD[1, 0], rtol=1e-6)
    noisy = x_BxSxD.at[:, 3:].set(1e3)  # whatever sits at padded positions
    np.testing.assert_allclose(pool(noisy, tokens_BxS, 0, "mean"), mean, rtol=1e-6)
    np.testing.assert_array_equal(pool(x_BxSxD, tokens_BxS, 0, "first"), x_BxSxD[:, 0])
    assert not np.allclose(pool(x_BxSxD, tokens_BxS, 0, "first")[0], mean[0])
    np.testing.assert_array_equal(pool(x_BxSxD, jnp.zeros((2, 5), jnp.int32), 0, "mean"), 0.0)


def test_classifier_logits_do_not_depend_on_padding():
    c = load_config_file(TINY_CONFIG)
    models = {p: build_classifier(c.model, _Vocab, 9, p) for p in ("mean", "first")}
    params = jax.jit(models["mean"].init)(jax.random.key(0), jnp.zeros((1, 8), jnp.int32))["params"]
    assert set(params) == {"embedding", "encoder_0", "encoder_norm", "classification_head"}  # no decoder
    text, padded, other = jnp.array([[3, 9, 12, 1]]), jnp.array([[3, 9, 12, 1, 0, 0, 0, 0]]), jnp.array([[3, 9, 13, 1]])
    for pooling, model in models.items():  # the same params: the head reads a D-vector either way
        apply = jax.jit(lambda tokens_BxS: model.apply({"params": params}, tokens_BxS))
        assert apply(text).shape == (1, 9)
        np.testing.assert_allclose(apply(text), apply(padded), rtol=1e-5, atol=1e-5, err_msg=pooling)
        assert not np.allclose(apply(text), apply(other)), pooling  # "first" sees the whole text too


def test_gradient_accumulation_is_refused_not_ignored(tmp_path, capsys):
    assert main(["classify", "--config", TINY_CONFIG, "--workdir", str(tmp_path / "cls"),
                 "--config.train.grad_accum_steps=2"]) == 2
    assert "set train.grad_accum_steps=1" in capsys.readouterr().err


def test_unknown_pooling_is_a_user_error():
    with pytest.raises(UserError, match="classify.pooling"):
        build_classifier(load_config_file(TINY_CONFIG).model, _Vocab, 9, "max")


# ---------------------------------------------------------------------------
# Data: split, overlap, batches

def rec(page, module, en, de="", zh=""):
    return {"page": page, "module": module, "id": "x", "en": en, "de": de, "es": "", "fr": "", "zh": zh}


def test_eval_records_whose_text_is_in_training_are_dropped():
    pages = {s: next(f"text/scalc/p{i}.html" for i in range(100) if data.page_split(f"text/scalc/p{i}.html") == s)
             for s in data.SPLITS}
    records = [rec(pages["train"], "scalc", "Click OK.", "Klicken Sie auf OK."),
               rec(pages["train"], "scalc", "Sum of a range.", "Summe."),
               rec(pages["test"], "scalc", "Click OK.", "OK klicken."),  # English seen in training
               rec(pages["test"], "scalc", "A new text.", "Summe."),  # only its German text was seen
               rec(pages["test"], "scalc", "", "Nur Deutsch.", "只有中文"),
               rec(pages["dev"], "scalc", "Sum of a range.")]
    kept = data.unseen_records(records, "test", ("en",))
    assert [r["en"] for r in kept] == ["A new text.", ""]
    assert [r["en"] for r in data.unseen_records(records, "test", ("en", "de"))] == [""]
    assert data.unseen_records(records, "dev", ("en",)) == []
    assert [e.text for e in data.examples(kept, "de")] == ["Summe.", "Nur Deutsch."]
    assert data.parallel(kept, ("de", "zh")) == [kept[1]]


@pytest.fixture(scope="module")
def real_records():
    """All records of the real libreoffice_help (built into the user's data directory if missing)."""
    from xling_jax.data import catalog
    return data.all_records(catalog.ensure_built(data.DATASET))


def test_page_split_of_the_real_dataset(real_records):
    pages_of = {s: {r["page"] for r in data.split_records(real_records, s)} for s in data.SPLITS}
    assert not (pages_of["train"] & pages_of["dev"] or pages_of["train"] & pages_of["test"]
                or pages_of["dev"] & pages_of["test"])
    for split in data.SPLITS:
        assert {r["module"] for r in data.split_records(real_records, split)} == set(data.MODULES), split
    # The counts the module docstring gives, pinned: the split must not drift between versions.
    assert [len(data.split_records(real_records, s)) for s in data.SPLITS] == [35_904, 4_002, 4_122]
    assert len(data.unseen_records(real_records, "test", ("en",))) == 4_122 - 783


def test_train_batches_are_an_epoch_of_similar_lengths():
    lengths = np.random.default_rng(0).integers(3, 60, 1000)
    per_epoch = [batches.train_indices(lengths, 10, step, seed=1) for step in range(100)]
    seen = np.concatenate(per_epoch)
    assert len(set(seen.tolist())) == 1000  # one epoch: every example once
    np.testing.assert_array_equal(batches.train_indices(lengths, 10, 7, seed=1), per_epoch[7])  # pure
    assert not np.array_equal(batches.train_indices(lengths, 10, 107, seed=1), per_epoch[7])  # next epoch
    spread = np.mean([np.ptp(lengths[b]) for b in per_epoch])
    assert spread < 10 < np.ptp(lengths)  # bucketed: far less than the full range within a batch


# ---------------------------------------------------------------------------
# Runs

def tiny_classify_config(data_dir):
    c = load_config_file(TINY_CONFIG)
    c.data.data_dir = data_dir
    c.tokenizer.vocab_size = 400
    c.classify.max_len = 16
    c.train.steps, c.train.batch_size, c.train.learning_rate = 60, 16, 3e-3
    c.train.label_smoothing = 0.0
    c.log_every, c.eval_every, c.checkpoint_every = 10, 30, 30
    return c


def test_tiny_zero_shot_run_end_to_end(tiny_libreoffice_dir, tmp_path, capsys, monkeypatch):
    workdir = str(tmp_path / "cls")
    overrides = [f"--config.{k}={v}" for k, v in {
        "data.data_dir": tiny_libreoffice_dir, "tokenizer.vocab_size": 400, "classify.max_len": 16,
        "train.steps": 60, "train.batch_size": 16, "train.learning_rate": 3e-3, "train.label_smoothing": 0.0,
        "log_every": 10, "eval_every": 30, "checkpoint_every": 30,
        "debug.nan_steps": "19,20", "train.max_nonfinite": 3}.items()]
    # Preempted after step 20 (as SIGTERM makes StopRequest answer): a checkpoint, exit 0; rerun resumes.
    with monkeypatch.context() as m:
        m.setattr(preemption.StopRequest, "stop_at", lambda self, step: "SIGTERM" if step == 20 else None)
        assert main(["classify", "--config", TINY_CONFIG, "--workdir", workdir] + overrides) == 0
    assert "Stopped by SIGTERM after step 20" in capsys.readouterr().err
    assert checkpoints.saved_steps(workdir) == [20] and not os.path.exists(os.path.join(workdir, evaluate.RESULTS_FILE))
    # Steps 19 and 20 were poisoned: skipped, counted, and the streak is in the checkpoint for the resume.
    row_20 = [json.loads(line) for line in open(os.path.join(workdir, "metrics.jsonl"))][-1]
    assert row_20["step"] == 20 and row_20["nonfinite"] == 2 and np.isfinite(row_20["loss"])
    mngr = checkpoints.manager(workdir, 10)
    assert checkpoints.saved_numerics(mngr, 20) == {"nonfinite_streak": 2, "first_nonfinite": 19}
    mngr.close()
    assert main(["classify", "--config", TINY_CONFIG, "--workdir", workdir] + overrides) == 0
    out = capsys.readouterr().out
    assert "Resuming from step 20" in out
    results = json.load(open(os.path.join(workdir, evaluate.RESULTS_FILE)))
    assert list(results["languages"]) == list(LANGUAGES) and results["train_languages"] == ["en"]
    assert "zh (zero-shot)" in out and "de (zero-shot)" in out
    # 9 modules x 1 test page x 6 paragraphs; "Click OK." is on training pages too: dropped
    assert results["records"] == 54 and results["split"] == "test"
    for lang, r in results["languages"].items():
        assert r["n"] == 54 and 0.0 <= r["accuracy"] <= 1.0 and r["parallel_n"] == 54, lang
    assert results["majority"]["accuracy"] == pytest.approx(1 / 9)
    rows = [json.loads(line) for line in open(os.path.join(workdir, "metrics.jsonl"))]
    train_acc = np.mean([r["accuracy"] for r in rows if r["kind"] == "train"][-2:])
    dev_en = max(r["dev_accuracy/en"] for r in rows if r["kind"] == "eval")
    assert train_acc > 0.5 and dev_en > 0.5  # chance: 1/9; the module word is in every English text
    assert results["languages"]["en"]["accuracy"] > 0.5
    assert results["step"] == checkpoints.best_record(workdir)["step"]
    # A rerun evaluates the trained run again; another pooling would mix two models: refused.
    assert main(["classify", "--config", TINY_CONFIG, "--workdir", workdir] + overrides) == 0
    assert "already trained to step 60" in capsys.readouterr().out
    assert main(["classify", "--config", TINY_CONFIG, "--workdir", workdir, "--config.classify.pooling=first"]
                + overrides) == 2
    assert "classify.pooling: 'mean' -> 'first'" in capsys.readouterr().err
    assert json.load(open(os.path.join(workdir, "classify_labels.json")))["pooling"] == "mean"


@pytest.fixture(scope="module")
def translation_run(tmp_path_factory, tiny_libreoffice_dir):
    """A tiny en<->de translation run on the tiny libreoffice_help (2 steps)."""
    workdir = str(tmp_path_factory.mktemp("translation") / "run")
    c = load_config_file(TINY_CONFIG)
    c.data.name, c.data.data_dir, c.data.directions = "libreoffice_help", tiny_libreoffice_dir, ("en-de", "de-en")
    c.tokenizer.vocab_size = 400
    c.train.steps = c.checkpoint_every = c.eval_every = 2
    train_and_evaluate(c, workdir)
    return workdir


def test_classifier_starts_from_exactly_the_encoder_of_a_translation_run(translation_run, tiny_libreoffice_dir,
                                                                         tmp_path, capsys):
    c = tiny_classify_config(tiny_libreoffice_dir)
    c.model.emb_dim = 64  # not the source's: its model section wins, only dropout comes from here
    c.model.dropout_rate = 0.2
    c.train.steps = c.eval_every = c.checkpoint_every = 2
    c.classify.eval_limit = 9
    c.train.freeze = ("embedding", "encoder")  # loaded params stay as loaded: comparable after training
    c.init_from.workdir = translation_run
    workdir = str(tmp_path / "cls")
    classify_and_evaluate(c, workdir)
    assert f"Initialised from {translation_run} (step 2)" in capsys.readouterr().out
    report = json.load(open(os.path.join(workdir, "init_from.json")))
    source = flat(load_run(translation_run).params)
    encoder = {p for p in source if p.split("/")[0] in ("embedding", "encoder_norm") or p.startswith("encoder_")}
    assert set(report["loaded"]) == encoder
    assert set(report["new"]) == {"classification_head/kernel", "classification_head/bias"}
    assert set(report["ignored"]) == set(source) - encoder and any(p.startswith("decoder") for p in report["ignored"])
    saved = json.load(open(os.path.join(workdir, "config.json")))
    assert saved["model"]["emb_dim"] == 32 and saved["model"]["dropout_rate"] == 0.2
    assert open(os.path.join(workdir, "tokenizer.model"), "rb").read() == \
        open(os.path.join(translation_run, "tokenizer.model"), "rb").read()
    model = build_classifier(load_config_file(TINY_CONFIG).model, load_run(translation_run).tokenizer, 9, "mean")
    abstract = jax.eval_shape(lambda: model.init(jax.random.key(0), jnp.zeros((1, 8), jnp.int32))["params"])
    abstract = jax.tree.map(lambda s: jax.ShapeDtypeStruct(s.shape, s.dtype, sharding=jax.sharding.SingleDeviceSharding(
        jax.devices()[0])), abstract)
    after = flat(checkpoints.restore_params(workdir, abstract)[0])
    for path in encoder:
        np.testing.assert_array_equal(after[path], source[path], err_msg=path)
    results = json.load(open(os.path.join(workdir, evaluate.RESULTS_FILE)))
    assert results["init_from"] == translation_run and set(results["languages"]) == set(LANGUAGES)


def test_a_translation_workdir_is_not_a_classification_one(translation_run, tiny_libreoffice_dir):
    with pytest.raises(UserError, match="another kind of run"):
        classify_and_evaluate(tiny_classify_config(tiny_libreoffice_dir), translation_run)
