"""The LSTM baseline: packing, cached decoding and beam search equal the full forward; train and translate."""
import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import TINY_CONFIG

from xling_jax.configs.loading import load_config_file
from xling_jax.decoding.beam import beam_search
from xling_jax.decoding.sampling import init_cache
from xling_jax.errors import UserError
from xling_jax.model.lstm import LSTMConfig, LSTMSeq2Seq
from xling_jax.training.validate import validate

SRC = jnp.array([[5, 6, 7, 8, 0, 0], [9, 10, 11, 12, 13, 14]])
TGT_IN = jnp.array([[0, 20, 21, 0, 0], [0, 22, 23, 24, 25]])
# Every attention, with other options varied alongside: two encoder layers and separate embeddings
# (Bahdanau); two decoder layers and an output bridge, tied logits with hidden != emb_dim (Luong);
# a left-to-right encoder, whose states the decoder's dot product reads unprojected (Luong dot).
VARIANTS = {"bahdanau": dict(lstm_attention="bahdanau", num_layers=2, num_decoder_layers=1, share_embeddings=False),
            "luong": dict(lstm_attention="luong", num_layers=1, num_decoder_layers=2, lstm_hidden=24),
            "luong_dot": dict(lstm_attention="luong_dot", num_layers=2, num_decoder_layers=2, lstm_hidden=20,
                              lstm_bidirectional=False)}


@functools.cache
def make(variant):
    model = LSTMSeq2Seq(LSTMConfig(vocab_size=40, emb_dim=16, dropout_rate=0.0, **VARIANTS[variant]))
    return model, jax.jit(model.init)(jax.random.key(0), SRC, TGT_IN)["params"]


@pytest.fixture(params=list(VARIANTS))
def model_params(request):
    return make(request.param)


def forward(model, params, *args, **kw):
    return jax.jit(lambda p, *a: model.apply({"params": p}, *a, **kw))(params, *args)


def test_packed_row_equals_separate_rows(model_params):
    """Two pairs packed into one row (row 0) give the logits each gets alone (rows 1, 2): the
    bidirectional state restarts per segment and attention stays inside it."""
    model, params = model_params
    src = jnp.array([[5, 6, 7, 9, 10, 0], [5, 6, 7, 0, 0, 0], [9, 10, 0, 0, 0, 0]])
    tgt = jnp.array([[0, 20, 21, 0, 22, 0], [0, 20, 21, 0, 0, 0], [0, 22, 0, 0, 0, 0]])
    seg = jnp.array([[1, 1, 1, 2, 2, 0], [1, 1, 1, 0, 0, 0], [1, 1, 0, 0, 0, 0]])
    pos = jnp.array([[0, 1, 2, 0, 1, 0], [0, 1, 2, 0, 0, 0], [0, 1, 0, 0, 0, 0]])
    logits = forward(model, params, src, tgt, seg, seg, pos, pos)
    np.testing.assert_allclose(logits[0, :3], logits[1, :3], atol=1e-5)
    np.testing.assert_allclose(logits[0, 3:5], logits[2, :2], atol=1e-5)
    assert np.abs(logits[1, :2] - logits[2, :2]).max() > 1e-3  # the pairs do differ


def test_cached_decoding_matches_full_forward(model_params):
    """Step by step with the "cache" collection (T = 1 per call) gives the teacher-forced logits."""
    model, params = model_params
    full = forward(model, params, SRC, TGT_IN)
    encoded = forward(model, params, SRC, method=model.encode)

    @functools.partial(jax.jit, static_argnames="prime")
    def step(cache, tokens_Bx1, t, prime):
        return model.apply({"params": params, "cache": cache}, encoded, SRC, tokens_Bx1,
                           tgt_positions=jnp.full((2, 1), t), decode=True, prime=prime, mutable=["cache"],
                           method=model.decode)

    cache, steps = init_cache(model, SRC, TGT_IN.shape[1]), []
    for t in range(TGT_IN.shape[1]):
        logits, mutated = step(cache, TGT_IN[:, t:t + 1], t, prime=t == 0)
        cache = mutated["cache"]
        steps.append(logits)
    np.testing.assert_allclose(jnp.concatenate(steps, axis=1), full, atol=1e-5)


@pytest.mark.parametrize("variant", ["luong", "luong_dot"])
def test_beam_scores_equal_the_full_forward_of_their_hypotheses(variant):
    """Beam search reorders the recurrent state with its beams: each returned hypothesis scores
    what the teacher-forced model gives it (alpha 0: the plain sum of log-probabilities). Luong's
    caches hold the most (two layers' states and the input-feeding vector); Bahdanau's beam
    search runs in the training test."""
    model, params = make(variant)
    k, pad = 3, model.cfg.pad_id
    tokens_BxKxT, scores_BxK = jax.jit(functools.partial(beam_search, model=model, beam_size=k, max_len=5,
                                                         alpha=0.0))(params, SRC)
    hyp_NxT = tokens_BxKxT.reshape(-1, tokens_BxKxT.shape[-1])  # row b * K + k
    logits = forward(model, params, jnp.repeat(SRC, k, axis=0), jnp.pad(hyp_NxT, ((0, 0), (1, 0)))[:, :-1])
    logp = jax.nn.log_softmax(logits)  # normalised over the whole vocabulary; pad is then never a candidate
    token_logp = jnp.take_along_axis(logp, hyp_NxT[..., None], axis=-1)[..., 0]
    expected_N = jnp.sum(jnp.where(hyp_NxT != pad, token_logp, 0.0), axis=1)
    np.testing.assert_allclose(scores_BxK.reshape(-1), expected_N, atol=1e-4)
    assert len({tuple(h) for h in np.asarray(hyp_NxT[:k])}) == k  # distinct hypotheses


def lstm_config(**model):
    c = load_config_file(TINY_CONFIG)
    c.model.name = "lstm"
    c.model.update(model)
    return c


@pytest.mark.parametrize("change,message", [
    (dict(tasks=("translation:1", "mlm:1")), "encoder-only task"),
    (dict(model=dict(num_languages=2)), "no language embeddings"),
    (dict(model=dict(lstm_attention="dot")), "model.lstm_attention"),
    (dict(model=dict(lstm_hidden=33)), "make it even")])
def test_unsupported_configs_fail_in_validate(change, message):
    c = lstm_config(**change.get("model", {}))
    if "tasks" in change:
        c.tasks = change["tasks"]
    with pytest.raises(UserError, match=message):
        validate(c)


def test_cli_refuses_encoder_only_tasks_in_one_line(tmp_path, capsys):
    from xling_jax.cli.main import main
    assert main(["train", "--config", TINY_CONFIG, "--workdir", str(tmp_path / "w"), "--config.model.name=lstm",
                 "--config.tasks=translation:1,mlm:1"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("xling: error: ") and "\n" not in err and "encoder-only task(s) mlm" in err, err


def test_train_then_translate_with_beam_search(tiny_workdir):
    """`--config.model.name=lstm` on the tiny config through the whole loop: training (with online
    back-translation: greedy decoding inside the train step), checkpoint, load_run, the Translator's
    beam search (Bahdanau; the tests above check both attentions' decoding)."""
    from xling_jax.cli.main import main
    from xling_jax.decoding.translate import Translator
    from xling_jax.training import metrics
    from xling_jax.training.load import load_run
    assert main(["train", "--config", TINY_CONFIG, "--workdir", tiny_workdir, "--config.model.name=lstm",
                 "--config.model.lstm_attention=bahdanau", "--config.train.steps=3", "--config.eval_every=3",
                 "--config.checkpoint_every=3", "--config.online_bt.rows=2"]) == 0
    records = metrics.read(tiny_workdir)
    train = [r for r in records if r["kind"] == "train"]
    assert [r["step"] for r in train] == [1, 2, 3]
    assert any(np.isfinite(r.get("nll/online_bt", np.nan)) for r in train)
    assert all(np.isfinite(r["dev_loss"]) for r in records if r["kind"] == "eval")
    run = load_run(tiny_workdir)
    assert isinstance(run.model, LSTMSeq2Seq) and run.model.cfg.lstm_attention == "bahdanau" and run.step == 3
    run.config.decode.nbest = 2
    out = Translator(run.model, run.params, run.tokenizer, run.config.decode).translate_nbest(
        ["In the beginning God created the heaven and the earth.", "And God said", ""], "es")
    assert [len(hyps) for hyps in out] == [2, 2, 2] and out[2] == [("", 0.0)] * 2
    for (_, s1), (_, s2) in out[:2]:  # best first
        assert s1 >= s2 > -np.inf


def test_luong_dot_trains_and_translates(tiny_workdir):
    """model.lstm_attention=luong_dot through training, checkpoint and greedy translation: no key
    projection among its params (the encoder states are the keys), finite losses, one line per input."""
    from xling_jax.cli.main import main
    from xling_jax.decoding.translate import Translator
    from xling_jax.training import metrics
    from xling_jax.training.load import load_run
    assert main(["train", "--config", TINY_CONFIG, "--workdir", tiny_workdir, "--config.model.name=lstm",
                 "--config.model.lstm_attention=luong_dot", "--config.train.steps=3", "--config.eval_every=3",
                 "--config.checkpoint_every=3"]) == 0
    records = metrics.read(tiny_workdir)
    assert [r["step"] for r in records if r["kind"] == "train"] == [1, 2, 3]
    assert all(np.isfinite(r["loss"] if r["kind"] == "train" else r["dev_loss"]) for r in records)
    run = load_run(tiny_workdir)
    assert run.model.cfg.lstm_attention == "luong_dot" and run.step == 3
    assert "key" not in run.params["decoder"]
    assert "key" in make("luong")[1]["decoder"]  # what the general form has
    run.config.decode.method = "greedy"
    out = Translator(run.model, run.params, run.tokenizer, run.config.decode).translate_nbest(
        ["In the beginning God created the heaven and the earth.", ""], "es")
    assert len(out) == 2 and out[1] == [("", 0.0)]
    (text, score), = out[0]
    assert isinstance(text, str) and -np.inf < score <= 0
