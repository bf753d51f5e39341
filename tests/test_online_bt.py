"""Online back-translation: host rows by step, synthetic pairs from the step's params, training, resume."""
import os
import shutil

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import TINY_CONFIG

from xling_jax.configs.loading import load_config_file
from xling_jax.data import plan as data_plan
from xling_jax.data import tokenizer as tokenizer_lib
from xling_jax.data.tokenizer import Tokenizer
from xling_jax.decoding import sampling
from xling_jax.errors import UserError
from xling_jax.model import build_model
from xling_jax.objectives import online_bt
from xling_jax.training import metrics
from xling_jax.training.train import train_and_evaluate


def config(**online):
    c = load_config_file(TINY_CONFIG)
    c.online_bt.rows = 4
    c.online_bt.update(online)
    return c


def bt_batches(c, tok, data_dir, process_index=0, process_count=1):
    return online_bt.BtBatches(c.online_bt, tok, data_plan.resolve(c.data, data_dir), c.data.max_len, c.seed,
                               process_index, process_count)


def test_rows_by_step_translate_into_another_language(tiny_workdir, bible_data_dir):
    c = config(rows=8)
    tok = Tokenizer(os.path.join(tiny_workdir, tokenizer_lib.FILENAME))
    bt = bt_batches(c, tok, bible_data_dir)
    tags = {tok.tag_id(l): l for l in ("en", "es")}
    again = bt_batches(c, tok, bible_data_dir)
    seen = {"en": 0, "es": 0}
    for step in range(30):
        b = bt[step]
        assert b["gen_inputs"].shape == b["targets"].shape == (8, c.data.max_len)
        for k in b:  # a pure function of the step: a resumed run sees the same rows
            np.testing.assert_array_equal(b[k], again[step][k])
        for gen, tgt, prefix in zip(b["gen_inputs"], b["targets"], b["src_prefix"]):
            if not tgt.any():  # a text too long for a row: no loss, nothing generated from it
                assert not gen.any()
                continue
            x, y = tags[int(prefix[0])], tags[int(gen[0])]
            assert x != y  # X (in x) is translated into y, and the pair trains y -> x
            n = int((tgt > 0).sum())
            np.testing.assert_array_equal(gen[1:n + 1], tgt[:n])  # <2y> X </s> and X </s>
            assert tgt[n - 1] == tok.eos_id
            seen[x] += 1
    assert min(seen.values()) > 0.3 * sum(seen.values())  # both languages back-translated
    halves = [bt_batches(c, tok, bible_data_dir, p, 2)[5]["targets"] for p in range(2)]
    np.testing.assert_array_equal(np.concatenate(halves), bt[5]["targets"])  # hosts split the rows


def test_synthetic_rows_are_the_models_translations(tiny_workdir, bible_data_dir):
    c = config(rows=6)
    c.data.max_len = 64  # most verses fit
    tok = Tokenizer(os.path.join(tiny_workdir, tokenizer_lib.FILENAME))
    model = build_model(c.model, tok.vocab_size)
    params = model.init(jax.random.key(1), jnp.ones((1, 8), jnp.int32), jnp.ones((1, 8), jnp.int32))["params"]
    bt = bt_batches(c, tok, bible_data_dir)[3]
    bt["targets"][5] = 0  # as if its text were too long
    bt["gen_inputs"][5] = 0
    rows = jax.jit(lambda p, b: online_bt.synthetic_rows(p, b, jax.random.key(0), model=model,
                                                         **online_bt.options(c.online_bt, c.decode)))(params, bt)
    length = c.data.max_len
    room = length - 2
    limit = np.clip(np.floor(c.decode.max_len_a * (bt["gen_inputs"] > 0).sum(1) + c.decode.max_len_b), 1, room)
    out = np.asarray(sampling.greedy(params, jnp.asarray(bt["gen_inputs"]), jnp.asarray(limit, jnp.int32),
                                     model=model, max_len=room))
    live = [r for r in range(5) if bt["targets"][r].any()]
    assert len(live) >= 2
    for r in range(5):
        if r not in live:  # too long for a row (tiny max_len): nothing to train on
            assert not np.asarray(rows["inputs"][r]).any()
            continue
        hyp = [t for t in out[r].tolist() if t != 0]
        if hyp[-1] != tok.eos_id:
            hyp.append(tok.eos_id)  # stopped by the length cap: EOS forced
        expected = [int(bt["src_prefix"][r][0])] + hyp
        np.testing.assert_array_equal(np.asarray(rows["inputs"][r]), expected + [0] * (length - len(expected)))
        np.testing.assert_array_equal(np.asarray(rows["inputs_segment_ids"][r]), np.asarray(rows["inputs"][r]) > 0)
    np.testing.assert_array_equal(rows["targets"], bt["targets"])
    assert not np.asarray(rows["inputs"][5]).any() and not np.asarray(rows["targets_segment_ids"][5]).any()


def test_appended_rows_carry_their_task_and_no_lm_loss():
    batch = {k: jnp.ones((2, 5), jnp.int32) for k in (
        "inputs", "targets", "task", "src_task", "lm_targets", "lm_positions", "languages")}
    for k in list(batch):
        batch[f"{k}_segment_ids"] = batch[f"{k}_positions"] = jnp.ones((2, 5), jnp.int32)
    rows = online_bt._framed(jnp.array([[3, 4, 2, 0, 0, 0, 0]]), jnp.array([[5, 2, 0, 0, 0, 0, 0]]), 0)
    out = online_bt.append_rows(batch, rows, task_index=4)
    assert set(out) == set(batch) and all(v.shape == (3, 7) for v in out.values())
    assert (out["inputs"][:2, 5:] == 0).all()  # the batch is padded to the rows' length
    np.testing.assert_array_equal(out["task"][2], [4, 4, 0, 0, 0, 0, 0])
    np.testing.assert_array_equal(out["src_task"][2], [4, 4, 4, 0, 0, 0, 0])
    assert (out["lm_targets"][2] == 0).all() and (out["languages"][2, :3] == -1).all()
    np.testing.assert_array_equal(out["lm_positions"][2, :3], [0, 1, 2])
    np.testing.assert_array_equal(out["targets_segment_ids"][2], [1, 1, 0, 0, 0, 0, 0])


def test_training_with_online_bt_logs_its_loss_and_resumes_exactly(tiny_workdir, tmp_path):
    c = config(rows=4, start_step=2)
    c.data.max_len = 64  # most verses fit a back-translation row
    c.train.steps, c.checkpoint_every, c.eval_every = 4, 2, 4
    train_and_evaluate(c, tiny_workdir)
    rows = {r["step"]: r for r in metrics.read(tiny_workdir) if r["kind"] == "train"}
    assert "nll/online_bt" not in rows[2] and all(np.isfinite(rows[s]["nll/online_bt"]) for s in (3, 4))
    assert all(np.isfinite(rows[s]["nll/translation"]) for s in rows)
    stopped = str(tmp_path / "stopped")  # stopped at its step-2 checkpoint, then rerun
    shutil.copytree(tiny_workdir, stopped)
    shutil.rmtree(os.path.join(stopped, "checkpoints", "4"))
    train_and_evaluate(c, stopped)
    again = {r["step"]: r for r in metrics.read(stopped) if r["kind"] == "train"}
    assert [again[s]["loss"] for s in (3, 4)] == [rows[s]["loss"] for s in (3, 4)]
    c.online_bt.rows = 3
    c.mesh.data = 1
    c.online_bt.languages = ("en", "fr")
    with pytest.raises(UserError, match="online_bt.languages has fr"):
        train_and_evaluate(c, str(tmp_path / "other"))
