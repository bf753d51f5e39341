"""The contrastive retrieval task: the in-batch-negatives loss against numpy, its batches, and a tiny
dual-encoder run on the Bible end to end (resume, init_from, loading its encoder, one-line errors)."""
import json
import os
import shutil

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import TINY_CONFIG, untrained_run
from flax import traverse_util

from xling_jax.cli.main import main
from xling_jax.configs.loading import load_config_file
from xling_jax.data import plan as data_plan
from xling_jax.data.tokenizer import Tokenizer
from xling_jax.decoding.embed import Encoder
from xling_jax.errors import UserError
from xling_jax.model.embedder import build_embedder
from xling_jax.objectives import contrastive
from xling_jax.retrieval import batches, evaluate, load
from xling_jax.retrieval.train import RESULTS_FILE, retrieval_and_evaluate
from xling_jax.training import checkpoints, optimizer, preemption
from xling_jax.training.load import load_run
from xling_jax.training.train import train_and_evaluate


@pytest.fixture(scope="module", autouse=True)
def compile_cache(tmp_path_factory):
    """A persistent compilation cache for this module (as in test_reliability.py): its runs compile
    the same programs, which costs more than their training."""
    from jax._src import compilation_cache
    keys = ("jax_compilation_cache_dir", "jax_persistent_cache_min_compile_time_secs")
    before = {k: getattr(jax.config, k) for k in keys}
    jax.config.update(keys[0], str(tmp_path_factory.mktemp("jax_cache")))
    jax.config.update(keys[1], 0)
    compilation_cache.reset_cache()  # the session may have checked (and disabled) it already
    yield
    for k, v in before.items():
        jax.config.update(k, v)
    compilation_cache.reset_cache()


def flat(params):
    return traverse_util.flatten_dict(jax.device_get(params), sep="/")


def unit(rng, b, d):
    v = rng.normal(size=(b, d))
    return (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32)


def numpy_loss(x, y, margin, scale, valid=None, distinct=None):
    """The LaBSE loss written out: per valid row and per valid column, the cross-entropy of the true pair
    (its cosine less the margin) against the allowed candidates; the mean of both directions."""
    b = len(x)
    valid = np.ones(b, bool) if valid is None else valid
    distinct = np.ones((b, b), bool) if distinct is None else distinct
    s = x.astype(np.float64) @ y.astype(np.float64).T
    logit = lambda i, j: scale * (s[i, j] - (margin if i == j else 0.0))
    ok = lambda i, j: i == j or (valid[i] and valid[j] and distinct[i, j])
    lse = lambda v: np.log(np.sum(np.exp(np.array(v) - max(v)))) + max(v)
    rows = [lse([logit(i, j) for j in range(b) if ok(i, j)]) - logit(i, i) for i in range(b) if valid[i]]
    cols = [lse([logit(i, j) for i in range(b) if ok(i, j)]) - logit(j, j) for j in range(b) if valid[j]]
    hits = [max((j for j in range(b) if ok(i, j)), key=lambda j: s[i, j]) == i for i in range(b) if valid[i]]
    hits += [max((i for i in range(b) if ok(i, j)), key=lambda i: s[i, j]) == j for j in range(b) if valid[j]]
    return (np.mean(rows) + np.mean(cols)) / 2, np.mean(hits)


# ---------------------------------------------------------------------------
# The loss

def test_loss_is_labse_bidirectional_margin_softmax():
    rng = np.random.default_rng(0)
    x, y = unit(rng, 6, 8), unit(rng, 6, 8)
    y[2] = x[2]  # one pair found, the others by chance
    for margin, scale in ((0.3, 20.0), (0.0, 1.0), (0.5, 5.0)):
        loss, acc = contrastive.in_batch_softmax(jnp.asarray(x), jnp.asarray(y), margin=margin, scale=scale)
        want_loss, want_acc = numpy_loss(x, y, margin, scale)
        np.testing.assert_allclose(float(loss), want_loss, rtol=1e-5)
        assert float(acc) == pytest.approx(want_acc)
    # The margin is on the diagonal only: the gap it adds is that of the true pairs' logits.
    plain, _ = contrastive.in_batch_softmax(jnp.asarray(x), jnp.asarray(y), margin=0.0, scale=20.0)
    margined, _ = contrastive.in_batch_softmax(jnp.asarray(x), jnp.asarray(y), margin=0.3, scale=20.0)
    assert float(margined) > float(plain)
    # Both directions: swapping the sides (the transposed similarity) gives the same loss.
    swapped, _ = contrastive.in_batch_softmax(jnp.asarray(y), jnp.asarray(x), margin=0.3, scale=20.0)
    np.testing.assert_allclose(float(swapped), float(margined), rtol=1e-6)


def test_padding_rows_and_pairs_sharing_a_text_are_no_negatives():
    rng = np.random.default_rng(1)
    x, y = unit(rng, 6, 8), unit(rng, 6, 8)
    valid = np.array([1, 1, 1, 1, 0, 0], bool)
    alone = contrastive.in_batch_softmax(jnp.asarray(x[:4]), jnp.asarray(y[:4]), margin=0.3, scale=20.0)
    for pad_x, pad_y in ((x[4:], y[4:]), (np.repeat(y[:1], 2, 0), np.repeat(x[:1], 2, 0)), (0 * x[4:], 0 * y[4:])):
        padded = contrastive.in_batch_softmax(jnp.asarray(np.concatenate([x[:4], pad_x])),
                                              jnp.asarray(np.concatenate([y[:4], pad_y])), margin=0.3, scale=20.0,
                                              valid_B=jnp.asarray(valid))
        np.testing.assert_allclose([float(v) for v in padded], [float(v) for v in alone], rtol=1e-5)
    # Pair 3 is pair 0 read the other way, pair 5 repeats pair 1's source: no negatives of each other.
    src, tgt = np.array([10, 11, 12, 20, 14, 11]), np.array([20, 21, 22, 10, 24, 25])
    distinct = np.asarray(contrastive.distinct_pairs(jnp.asarray(src), jnp.asarray(tgt)))
    shared = {(i, j) for i in range(6) for j in range(6) if not distinct[i, j]}
    assert shared == {(i, i) for i in range(6)} | {(0, 3), (3, 0), (1, 5), (5, 1)}
    x[3], y[3] = y[0], x[0]
    loss, acc = contrastive.in_batch_softmax(jnp.asarray(x), jnp.asarray(y), margin=0.3, scale=20.0,
                                             valid_B=jnp.asarray(valid), distinct_BxB=jnp.asarray(distinct))
    want_loss, want_acc = numpy_loss(x, y, 0.3, 20.0, valid, distinct)
    np.testing.assert_allclose(float(loss), want_loss, rtol=1e-5)
    assert float(acc) == pytest.approx(want_acc)


# ---------------------------------------------------------------------------
# Batches

def tiny_retrieval_config(data_dir, **overrides):
    c = load_config_file(TINY_CONFIG)
    c.tasks = ("retrieval:1",)
    c.data.data_dir = data_dir
    c.retrieval.max_len, c.retrieval.eval_limit = 32, 100
    c.train.steps, c.train.batch_size, c.train.learning_rate, c.train.warmup_steps = 60, 32, 1e-2, 10
    c.log_every, c.eval_every, c.checkpoint_every = 10, 30, 30
    for key, value in overrides.items():
        section, name = key.split(".")
        c[section][name] = value
    return c


def test_batches_frame_both_sides_into_one_tag_and_cut_long_texts(bible_data_dir, tiny_tokenizer):
    tokenizer = Tokenizer(tiny_tokenizer)
    plan = data_plan.resolve(tiny_retrieval_config(bible_data_dir).data, bible_data_dir)
    it = iter(batches.train_dataset(plan, tokenizer, "en", seed=0, batch_size=8, max_len=32))
    tag = tokenizer.tag_id("en")
    lengths = set()
    for _ in range(4):
        b = next(it)
        assert set(b) == {"src", "tgt", "src_key", "tgt_key"} and b["src"].shape == b["tgt"].shape
        assert b["src"].shape[0] == 8 and b["src"].shape[1] % 16 == 0 and b["src"].shape[1] <= 32
        lengths.add(b["src"].shape[1])
        for side in ("src", "tgt"):
            assert (b[side][:, 0] == tag).all()  # the English tag before Spanish text too
            n = (b[side] != tokenizer.pad_id).sum(1)
            assert (b[side][np.arange(8), n - 1] == tokenizer.eos_id).all()
    assert 32 in lengths  # Bible verses longer than 32 pieces are cut, not dropped
    # The iterator resumes exactly from its state.
    state = it.get_state()
    after = [next(it) for _ in range(2)]
    it.set_state(state)
    for want in after:
        got = next(it)
        for k in want:
            np.testing.assert_array_equal(got[k], want[k])


# ---------------------------------------------------------------------------
# Runs

RUN_OVERRIDES = {"tasks": '("retrieval:1",)', "retrieval.max_len": 32, "retrieval.eval_limit": 100,
                 "train.steps": 60, "train.batch_size": 32, "train.learning_rate": 1e-2, "train.warmup_steps": 10,
                 "log_every": 10, "eval_every": 30, "checkpoint_every": 30}


@pytest.fixture(scope="module")
def retrieval_run(tmp_path_factory, bible_data_dir, tiny_tokenizer):
    """A tiny en<->es retrieval run through `xling train`, preempted after step 30 and resumed to 60."""
    workdir = str(tmp_path_factory.mktemp("retrieval") / "run")
    args = ["train", "--config", TINY_CONFIG, "--workdir", workdir, f"--config.data.data_dir={bible_data_dir}"]
    args += [f"--config.{k}={v}" for k, v in RUN_OVERRIDES.items()]
    os.makedirs(workdir)
    shutil.copy(tiny_tokenizer, os.path.join(workdir, "tokenizer.model"))
    with pytest.MonkeyPatch.context() as m:
        m.setattr(preemption.StopRequest, "stop_at", lambda self, step: "SIGTERM" if step == 30 else None)
        assert main(args) == 0
    assert checkpoints.saved_steps(workdir) == [30] and not os.path.exists(os.path.join(workdir, RESULTS_FILE))
    assert main(args) == 0
    return workdir


def _embedder(workdir):
    tokenizer = Tokenizer(os.path.join(workdir, "tokenizer.model"))
    return build_embedder(load_config_file(TINY_CONFIG).model, tokenizer, "mean"), tokenizer


def test_tiny_run_end_to_end(retrieval_run, bible_data_dir):
    workdir = retrieval_run
    assert json.load(open(os.path.join(workdir, load.MARKER))) == {
        "pooling": "mean", "tag_language": "en", "dataset": "bible", "directions": ["bible:en-es", "bible:es-en"]}
    rows = [json.loads(line) for line in open(os.path.join(workdir, "metrics.jsonl"))]
    train = [r for r in rows if r["kind"] == "train"]
    assert [r["step"] for r in train] == list(range(10, 61, 10)) and train[-1]["nonfinite"] == 0
    assert {"loss", "accuracy", "grad_norm", "learning_rate", "tokens_per_s"} <= set(train[-1])
    assert train[-1]["accuracy"] > train[0]["accuracy"] and train[-1]["loss"] < train[0]["loss"]
    evals = [r for r in rows if r["kind"] == "eval"]
    assert [r["step"] for r in evals] == [30, 60] and all(0 <= r["dev_p1"] <= 1 for r in evals)
    best = checkpoints.best_record(workdir)
    assert best["metric"] == "dev_p1" and best["score"] == max(r["dev_p1"] for r in evals)
    results = json.load(open(os.path.join(workdir, RESULTS_FILE)))
    assert results["split"] == "test" and results["step"] == best["step"] and results["score"] == "margin"
    assert list(results["directions"]) == ["en-es"] and results["directions"]["en-es"]["n"] == 100
    assert results["p1"] == results["directions"]["en-es"]["margin"]["mean"]
    # Trained P@1 beats the same encoder at step 0 (its initial params: the run's seed) by a wide margin.
    model, tokenizer = _embedder(workdir)
    init_rng = jax.random.split(jax.random.key(0))[0]
    initial = jax.jit(model.init)(init_rng, jnp.zeros((1, 8), jnp.int32))["params"]
    encoder = Encoder(model, initial, tokenizer, "mean", "en")
    start = evaluate.aligned_p1(encoder, "bible", "dev", [("en", "es")], bible_data_dir, limit=100)["en-es"]
    assert best["score"] > start["margin"]["mean"] + 0.05, (best, start)


def test_resume_is_exact(retrieval_run, bible_data_dir, tiny_workdir):
    """Steps 31-60 after the preemption are the steps an uninterrupted run takes: the same params."""
    straight = tiny_retrieval_config(bible_data_dir)
    straight.eval_every, straight.retrieval.eval_limit = 60, 10  # evaluations do not touch the train state
    retrieval_and_evaluate(straight, tiny_workdir)
    model, _ = _embedder(tiny_workdir)
    a, step_a = load.embedder_params(model, retrieval_run)
    b, step_b = load.embedder_params(model, tiny_workdir)
    assert step_a == step_b == 60
    a, b = flat(a), flat(b)
    assert set(a) == set(b)
    for path in a:
        np.testing.assert_array_equal(a[path], b[path], err_msg=path)
    train = lambda w: [r["loss"] for r in map(json.loads, open(os.path.join(w, "metrics.jsonl"))) if r["kind"] == "train"]
    assert train(retrieval_run) == train(tiny_workdir)


def test_load_encoder_gives_the_embedder_vectors(retrieval_run):
    texts = ["In the beginning God created the heaven and the earth.", "Jesus wept.", ""]
    encoder = load.load_encoder(retrieval_run)
    assert encoder.pooling == "mean" and encoder.tag_lang == "en"
    model, tokenizer = _embedder(retrieval_run)
    params, _ = load.embedder_params(model, retrieval_run)
    rows_BxS = np.full((len(texts), 48), tokenizer.pad_id, np.int32)  # the Embedder ignores padding
    for i, text in enumerate(texts):
        ids = [tokenizer.tag_id("en")] + tokenizer.encode(text) + [tokenizer.eos_id]
        rows_BxS[i, :len(ids)] = ids
    want = np.asarray(jax.jit(model.apply)({"params": params}, rows_BxS))
    for lang in ("en", "es"):  # the same framing whatever the language (one tag for all)
        got = encoder(texts, lang)
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(want, axis=1), 1.0, rtol=1e-5)


def test_init_from_loads_the_encoder_of_a_translation_run_exactly(bible_data_dir, tiny_tokenizer, tmp_path, capsys,
                                                                     monkeypatch):
    source_config = load_config_file(TINY_CONFIG)
    source_config.data.data_dir = bible_data_dir
    source_config.model.dropout_rate = 0.2  # not this run's: only the source's model shape is adopted
    source = untrained_run(tmp_path / "translation", source_config, tiny_tokenizer)
    c = tiny_retrieval_config(bible_data_dir)
    c.model.emb_dim = 64  # not the source's: its model section wins, only dropout comes from here
    c.init_from.workdir = source
    workdir = str(tmp_path / "retrieval")
    # Stopped after step 1, whose learning rate is 0 (the warmup's start): its params are the loaded ones
    # (and the run's programs are those of the runs above: compiled already).
    assert optimizer.schedule(c.train)(0) == 0.0
    monkeypatch.setattr(preemption.StopRequest, "stop_at", lambda self, step: "SIGTERM" if step == 1 else None)
    assert retrieval_and_evaluate(c, workdir) == {}
    assert f"Initialised from {source} (step 0)" in capsys.readouterr().out
    source_params = flat(load_run(source).params)
    encoder = {p for p in source_params if p.split("/")[0] in ("embedding", "encoder_norm") or p.startswith("encoder_")}
    report = json.load(open(os.path.join(workdir, "init_from.json")))
    assert set(report["loaded"]) == encoder and report["new"] == []
    assert any(p.startswith("decoder") for p in report["ignored"])
    saved = json.load(open(os.path.join(workdir, "config.json")))
    assert saved["model"]["emb_dim"] == 32 and saved["model"]["dropout_rate"] == 0.0
    assert open(os.path.join(workdir, "tokenizer.model"), "rb").read() == open(tiny_tokenizer, "rb").read()
    model, _ = _embedder(workdir)
    after, step = load.embedder_params(model, workdir)
    after = flat(after)
    assert step == 1 and set(after) == encoder
    for path in encoder:
        np.testing.assert_array_equal(after[path], source_params[path], err_msg=path)
    # The translation workdir itself is refused as a retrieval workdir, in one line.
    with pytest.raises(UserError, match="another kind of run") as e:
        retrieval_and_evaluate(tiny_retrieval_config(bible_data_dir), source)
    assert "\n" not in str(e.value)


def test_retrieval_does_not_mix_with_other_tasks(tmp_path, capsys, bible_data_dir):
    args = ["train", "--config", TINY_CONFIG, "--workdir", str(tmp_path / "w")]
    assert main(args + ["--config.tasks=('retrieval:1', 'translation:1')"]) == 2
    err = capsys.readouterr().err
    assert "mixes 'retrieval' with other tasks" in err and len(err.strip().splitlines()) == 1
    c = load_config_file(TINY_CONFIG)
    c.tasks = ("retrieval:1",)
    with pytest.raises(UserError, match="`xling train` runs it") as e:
        train_and_evaluate(c, str(tmp_path / "t"))
    assert "\n" not in str(e.value) and not os.path.exists(tmp_path / "t")
    c.tasks = ("translation:1",)
    with pytest.raises(UserError, match=r"set config.tasks=\('retrieval:1',\)"):
        retrieval_and_evaluate(c, str(tmp_path / "r"))
    c.tasks = ("retrieval:1",)
    c.retrieval.eval_split = "train"
    with pytest.raises(UserError, match="retrieval.eval_split must be 'dev' or 'test'"):
        retrieval_and_evaluate(c, str(tmp_path / "r"))
    # A tag language the run's vocabulary will not have: refused before config.json fixes it.
    c.retrieval.eval_split, c.retrieval.tag_language = "test", "fr"
    with pytest.raises(UserError, match=r"retrieval.tag_language='fr' is none of the run's languages \(en, es\)"):
        retrieval_and_evaluate(c, str(tmp_path / "r"))
    assert os.listdir(tmp_path / "r") == []


def test_init_from_a_retrieval_run_is_refused_in_one_line(retrieval_run, bible_data_dir, tmp_path):
    c = tiny_retrieval_config(bible_data_dir)
    c.init_from.workdir = retrieval_run
    with pytest.raises(UserError, match="is a retrieval run") as e:
        retrieval_and_evaluate(c, str(tmp_path / "w"))
    assert "\n" not in str(e.value)
