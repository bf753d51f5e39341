"""Task mixtures: denoising examples from monolingual text mixed with translation, per-task metrics."""
import json
import os

import numpy as np
import plans
import pytest
from conftest import TINY_CONFIG

from xling_jax.configs.loading import load_config_file
from xling_jax.data import pipeline
from xling_jax.data import tokenizer as tokenizer_lib
from xling_jax.data.tokenizer import Tokenizer
from xling_jax.errors import UserError
from xling_jax.objectives import tasks
from xling_jax.training.train import train_and_evaluate


def config(task_list, **objective):
    c = load_config_file(TINY_CONFIG)
    c.tasks = task_list
    c.objective.update(objective)
    return c


def test_mixture_rates_and_denoising_examples(tiny_workdir, bible_data_dir):
    c = config(("mbart:3", "translation:1"))
    tok = Tokenizer(os.path.join(tiny_workdir, tokenizer_lib.FILENAME))
    assert tasks.parse(c.tasks) == [("mbart", 0.75), ("translation", 0.25)]
    ds, _, _ = plans.mixed(c, bible_data_dir)
    mixed = plans.mix(c, tok, bible_data_dir, ds)
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
        tasks.parse(config(("bert:1",)).tasks)
    with pytest.raises(UserError, match="RATE > 0"):
        tasks.parse(config(("mbart:x",)).tasks)


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
    mono = pipeline.MonolingualSource(mixture.directions(c.data, bible_data_dir), "train", bible_data_dir,
                                   mixture.monolingual_files(c.data))
    tail = [mono[i] for i in range(len(mono) - 101, len(mono))]  # the file comes after the Bible sides
    assert [r["lang"] for r in tail] == ["es"] + ["de"] * 100  # empty lines skipped
    assert tail[2]["text"] == "Und Gott sprach: Es werde Licht."
    c.data.monolingual = (f"{tmp_path / 'missing.txt'}:de",)
    with pytest.raises(UserError, match="missing.txt does not exist"):
        train_and_evaluate(c, str(tmp_path / "other"))


def _xlm_examples(tiny_workdir, bible_data_dir, n=1500):
    c = config(("mlm:1", "tlm:1", "clm:1", "translation:1"))
    c.model.num_languages = 2
    tok = Tokenizer(os.path.join(tiny_workdir, tokenizer_lib.FILENAME))
    mixed = plans.mix(c, tok, bible_data_dir, plans.mixed(c, bible_data_dir)[0])
    return c, tok, [mixed[i] for i in range(n)]


def test_xlm_examples_mask_frame_and_mark_languages(tiny_workdir, bible_data_dir):
    c, tok, examples = _xlm_examples(tiny_workdir, bible_data_dir)
    assert tasks.resolve(c).features == ("inputs", "targets", "task", "src_task", "lm_targets", "lm_positions", "languages")
    mask, tags = tok.symbol_id(tokenizer_lib.MASK), [tok.tag_id("en"), tok.tag_id("es")]
    by_task = {t: [ex for ex in examples if ex["src_task"][0] == t] for t in range(4)}
    assert all(len(v) == pytest.approx(len(examples) / 4, rel=0.15) for v in by_task.values())
    for ex in examples:  # every source token carries its task; lengths agree
        assert {len(ex[k]) for k in ("inputs", "src_task", "lm_targets", "lm_positions", "languages")} == {
            len(ex["inputs"])}
        assert (ex["src_task"] == ex["src_task"][0]).all() and len(ex["task"]) == len(ex["targets"])
    chosen = replaced = randomised = 0
    for ex in by_task[0]:  # mlm: <2xx> text </s>, about 15% predicted, never the tag or EOS
        assert ex["inputs"][0] in tags and ex["inputs"][-1] == tok.eos_id and len(ex["targets"]) == 0
        assert ex["lm_targets"][0] == ex["lm_targets"][-1] == 0
        np.testing.assert_array_equal(ex["lm_positions"], np.arange(len(ex["inputs"])))
        assert (ex["languages"] == tags.index(ex["inputs"][0])).all()
        hit = ex["lm_targets"] > 0
        chosen += hit.sum()
        replaced += (ex["inputs"][hit] == mask).sum()
        randomised += ((ex["inputs"][hit] != mask) & (ex["inputs"][hit] != ex["lm_targets"][hit])).sum()
        assert (ex["inputs"][~hit] != mask).all()
    maskable = sum(len(ex["inputs"]) - 2 for ex in by_task[0])
    assert chosen / maskable == pytest.approx(0.15, abs=0.02)
    assert replaced / chosen == pytest.approx(0.8, abs=0.04) and randomised / chosen == pytest.approx(0.1, abs=0.04)
    for ex in by_task[1]:  # tlm: two framed sides, positions restart, one language per side
        second = int(np.flatnonzero(ex["lm_positions"] == 0)[1])
        assert ex["inputs"][0] in tags and ex["inputs"][second] in tags and ex["inputs"][0] != ex["inputs"][second]
        assert ex["inputs"][second - 1] == ex["inputs"][-1] == tok.eos_id
        assert (ex["languages"][:second] == tags.index(ex["inputs"][0])).all()
        assert (ex["languages"][second:] == tags.index(ex["inputs"][second])).all()
        np.testing.assert_array_equal(ex["lm_positions"][second:], np.arange(len(ex["inputs"]) - second))
    for ex in by_task[2]:  # clm: reads <2xx> text, predicts text </s>: the next token everywhere
        np.testing.assert_array_equal(ex["lm_targets"][:-1], ex["inputs"][1:])
        assert ex["inputs"][0] in tags and ex["lm_targets"][-1] == tok.eos_id and mask not in ex["inputs"]
    for ex in by_task[3]:  # translation: no LM loss, no language embedding, ordinary pair
        assert (ex["lm_targets"] == 0).all() and (ex["languages"] == -1).all() and len(ex["targets"]) > 0
        assert (ex["task"] == 3).all()


def test_xlm_loss_of_a_packed_batch_equals_the_lm_head_on_each_example(tiny_workdir, bible_data_dir):
    """The train step's nll/mlm, nll/tlm, nll/clm come from the encoder LM head on each example alone."""
    import jax

    from xling_jax.model import build_model
    from xling_jax.training import steps
    c, tok, examples = _xlm_examples(tiny_workdir, bible_data_dir, n=12)
    model = build_model(c.model, tok.vocab_size)
    params = model.init(jax.random.key(0), np.ones((1, 8), np.int32), np.ones((1, 8), np.int32))["params"]
    feats = tasks.resolve(c).features
    length = max(sum(len(ex[k]) for ex in examples) for k in feats)
    batch = {}
    for k in feats:  # everything in one row, as the packer would lay it out
        row, seg, pos = np.zeros(length, np.int32), np.zeros(length, np.int32), np.zeros(length, np.int32)
        at = 0
        for i, ex in enumerate(examples):
            n = len(ex[k])
            row[at:at + n], seg[at:at + n], pos[at:at + n] = ex[k], i + 1, np.arange(n)
            at += n
        batch[k], batch[f"{k}_segment_ids"], batch[f"{k}_positions"] = row[None], seg[None], pos[None]
    _, metrics = jax.jit(lambda p, b: steps._loss_sums(p, b, model, 0.0, {}, tasks.resolve(c).names, deterministic=True))(
        params, batch)
    # Each example alone, padded to the row's length (one compilation per causal flag).
    lm_head = jax.jit(lambda p, x, seg, pos, lang, causal: model.apply(
        {"params": p}, x, seg, pos, languages=lang, causal=causal, method=model.encode_lm), static_argnums=5)
    for t, name in enumerate(("mlm", "tlm", "clm")):
        nll = n = 0.0
        for ex in (e for e in examples if e["src_task"][0] == t):
            alone = {k: np.pad(ex[k], (0, length - len(ex[k])))[None] for k in ("inputs", "lm_positions", "languages")}
            logits = lm_head(params, alone["inputs"], (alone["inputs"] > 0).astype(np.int32), alone["lm_positions"],
                             alone["languages"], name == "clm")
            logp = jax.nn.log_softmax(logits[0, :len(ex["inputs"])])
            hit = ex["lm_targets"] > 0
            nll -= float(logp[np.flatnonzero(hit), ex["lm_targets"][hit]].sum())
            n += hit.sum()
        assert n > 0 and float(metrics[f"tokens/{name}"]) == n
        assert float(metrics[f"nll_sum/{name}"]) == pytest.approx(nll, rel=1e-4)


def test_xlm_tasks_train_beside_translation(tiny_workdir):
    c = config(("mlm:1", "tlm:1", "clm:1", "translation:1"))
    c.model.num_languages = 2
    c.train.steps, c.eval_every, c.checkpoint_every = 3, 3, 3
    train_and_evaluate(c, tiny_workdir)
    rows = [json.loads(line) for line in open(os.path.join(tiny_workdir, "metrics.jsonl"))]
    train_rows = [r for r in rows if "loss" in r]
    assert len(train_rows) == 3
    for t in ("mlm", "tlm", "clm", "translation"):  # a task without tokens in a step logs nothing there
        logged = [r[f"nll/{t}"] for r in train_rows if f"nll/{t}" in r]
        assert logged and np.isfinite(logged).all()
    c.model.num_languages = 1
    with pytest.raises(UserError, match="model.num_languages=1 but the vocabulary has 2"):
        tasks.check(tasks.resolve(c), Tokenizer(os.path.join(tiny_workdir, tokenizer_lib.FILENAME)),
                    num_languages=c.model.num_languages)


def test_t5_span_corruption_trains(tmp_path, bible_data_dir):
    """tasks=("t5:1",) end to end: the vocabulary gets the sentinels, every packed pair is a span-corrupted
    text (sentinel 0 in the source, the target the spans behind their sentinels), the loss falls."""
    c = config(("t5:1",), t5_sentinels=16)
    c.tokenizer.sentinels, c.tokenizer.max_sentences = 16, 4000
    c.train.steps, c.eval_every, c.checkpoint_every, c.train.warmup_steps = 24, 24, 24, 4
    workdir = str(tmp_path / "run")
    train_and_evaluate(c, workdir)
    tok = Tokenizer(os.path.join(workdir, tokenizer_lib.FILENAME))
    sentinels = [tok.symbol_id(tokenizer_lib.sentinel(i)) for i in range(16)]
    assert sorted(sentinels) == list(range(min(sentinels), min(sentinels) + 16))  # control symbols, in order

    batch = next(iter(plans.batches(c, tok, bible_data_dir)))
    assert (batch["task"][batch["targets_segment_ids"] > 0] == 0).all()  # one task: index 0
    pairs = 0
    for row in range(len(batch["inputs"])):
        src_seg, tgt_seg = batch["inputs_segment_ids"][row], batch["targets_segment_ids"][row]
        for s in set(src_seg[src_seg > 0].tolist()):
            src, tgt = batch["inputs"][row][src_seg == s], batch["targets"][row][tgt_seg == s]
            used = [t for t in src.tolist() if t in sentinels]
            assert used and used == sentinels[:len(used)]  # the spans in order, sentinel 0 first
            assert tgt[0] == sentinels[0] and tgt[-2] == sentinels[len(used)] and tgt[-1] == tok.eos_id
            assert [t for t in tgt.tolist() if t in sentinels] == sentinels[:len(used) + 1]
            pairs += 1
    assert pairs >= len(batch["inputs"])

    train = [json.loads(line) for line in open(os.path.join(workdir, "metrics.jsonl"))]
    train = [r for r in train if r["kind"] == "train"]
    assert [r["step"] for r in train] == list(range(1, 25))
    losses = np.array([r["nll/t5"] for r in train])
    assert np.isfinite(losses).all() and np.allclose(losses, [r["nll"] for r in train])  # all of it is t5
    assert losses[-4:].mean() < losses[:4].mean() - 1.0, losses
