"""Greedy, beam search and sampling against the uncached model and exhaustive search."""
import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from xling_jax.decoding.beam import beam_search, length_penalty, top_k_by_blocks
from xling_jax.decoding.sampling import filter_logits, greedy, sample
from xling_jax.model.transformer import Transformer, TransformerConfig

SRC = jnp.array([[5, 6, 7, 8, 1, 0], [9, 10, 11, 12, 13, 1]])
EOS, PAD = 1, 0


def tiny(vocab=40, sharpen=1.0):
    model = Transformer(TransformerConfig(vocab_size=vocab, emb_dim=16, num_heads=2, num_layers=2, mlp_dim=32,
                                          dropout_rate=0.0))
    src = SRC % vocab
    params = model.init(jax.random.key(0), src, jnp.zeros((2, 3), jnp.int32))["params"]
    # A larger embedding makes the random model's next-token distributions peaked, so hypotheses
    # differ clearly in score (a near-uniform model would make every ranking a near-tie).
    params = dict(params, embedding={"embedding": params["embedding"]["embedding"] * sharpen})
    return model, params, src


def sequence_logprob(model, params, src_1xS, seqs_NxL):
    """Teacher-forced sum of log p of each row of seqs (pad-filled after its end). As in fairseq and
    Transformers, the probabilities are normalised over the whole vocabulary and pad is then never
    a candidate: its mass is not spread over the other tokens."""
    tgt_in = jnp.pad(seqs_NxL, ((0, 0), (1, 0)))[:, :-1]  # starts with the decoder start id 0
    src = jnp.repeat(src_1xS, seqs_NxL.shape[0], axis=0)
    logits = model.apply({"params": params}, src, tgt_in)
    logp = jnp.take_along_axis(jax.nn.log_softmax(logits), seqs_NxL[..., None], axis=-1)[..., 0]
    return jnp.sum(jnp.where(seqs_NxL == PAD, 0.0, logp), axis=-1)


def test_greedy_matches_argmax_of_full_forward():
    """Each greedy token is the argmax (pad excluded) of the uncached model fed the tokens before it."""
    model, params, src = tiny()
    out = greedy(params, src, model=model, max_len=6)
    logits = model.apply({"params": params}, src, jnp.pad(out, ((0, 0), (1, 0)))[:, :-1])
    argmax = np.asarray(jnp.argmax(logits.at[..., PAD].set(-jnp.inf), axis=-1))
    out = np.asarray(out)
    for row in range(2):
        end = list(out[row]).index(EOS) + 1 if EOS in out[row] else 6
        np.testing.assert_array_equal(out[row, :end], argmax[row, :end])
        assert (out[row, end:] == PAD).all()


def test_greedy_row_limits_cut_each_row_and_keep_its_prefix():
    model, params, src = tiny()
    run = jax.jit(lambda p, s, lim: greedy(p, s, lim, model=model, max_len=6))
    full = np.asarray(run(params, src, jnp.array([6, 6])))
    cut = np.asarray(run(params, src, jnp.array([2, 4])))
    assert not (full[:, :4] == EOS).any(), "pick a model whose greedy output does not end early"
    for row, limit in enumerate([2, 4]):
        np.testing.assert_array_equal(cut[row, :limit], full[row, :limit])
        assert (cut[row, limit:] == PAD).all()


def test_beam_of_one_equals_greedy():
    """Without a length penalty a single beam is greedy search."""
    model, params, src = tiny()
    g = greedy(params, src, model=model, max_len=10)
    tokens, _ = beam_search(params, src, model=model, beam_size=1, max_len=10, alpha=0.0)
    np.testing.assert_array_equal(tokens[:, 0], g)


@pytest.mark.parametrize("vocab", [5, 128, 129, 700, 3 * 128 + 5])
def test_top_k_by_blocks_equals_lax_top_k(vocab):
    """Values, ids (ties: lower id first, across blocks too) and row max as lax.top_k and max give them,
    for vocabularies of one partial block, whole blocks and a partial last block; rows with many ties
    (small integers) and -inf entries."""
    rng = np.random.default_rng(vocab)
    x = rng.integers(0, 6, (6, vocab)).astype(np.float32)
    x[0] = rng.standard_normal(vocab)
    x[1, rng.random(vocab) < 0.5] = -np.inf
    x[2, :] = -np.inf
    x[3, -1] = 9.0  # the best entry in the last block
    x = jnp.asarray(x)
    for n in sorted({1, 3, 10, vocab}):
        n = min(n, vocab)
        values, ids, row_max = jax.jit(lambda a: top_k_by_blocks(a, n))(x)
        ref_values, ref_ids = jax.lax.top_k(x, n)
        np.testing.assert_array_equal(values, ref_values)
        np.testing.assert_array_equal(ids, ref_ids)
        np.testing.assert_array_equal(row_max, jnp.max(x, axis=-1))


def _exhaustive(model, params, src_1xS, vocab, max_len, alpha):
    """Every hypothesis: tokens up to EOS, or max_len tokens without EOS; scored like beam search."""
    words = [t for t in range(vocab) if t not in (PAD, EOS)]
    seqs = []
    for length in range(1, max_len + 1):
        for prefix in itertools.product(words, repeat=length - 1):
            lasts = [EOS] + (words if length == max_len else [])
            seqs += [list(prefix) + [last] + [PAD] * (max_len - length) for last in lasts]
    seqs = jnp.array(seqs)
    lengths = jnp.sum(seqs != PAD, axis=-1)
    scores = sequence_logprob(model, params, src_1xS, seqs) / length_penalty(lengths, alpha)
    order = np.argsort(-np.asarray(scores), kind="stable")
    return np.asarray(seqs)[order], np.asarray(scores)[order]


@pytest.mark.parametrize("alpha", [0.0, 0.6, 2.0, -0.5])
def test_beam_search_finds_the_exhaustive_n_best(alpha):
    """With a beam as wide as the search space, beam search must return the exact n-best list.

    Two rows with different length limits check the per-row bookkeeping (cache reordering,
    finished sets, early stopping) against brute force under the same length penalty.
    """
    vocab, limits = 6, [4, 3]  # 4 words + EOS + pad
    model, params, src = tiny(vocab, sharpen=4.0)
    # Enough beams that every prefix stays alive and every EOS candidate ranks within the top K.
    k = 5 * 4 ** (max(limits) - 2)
    tokens, scores = jax.jit(lambda p, s, lim: beam_search(p, s, lim, model=model, beam_size=k, max_len=4,
                                                           alpha=alpha))(params, src, jnp.array(limits))
    for row, limit in enumerate(limits):
        ref_seqs, ref_scores = _exhaustive(model, params, src[row:row + 1], vocab, limit, alpha)
        n = min(k, len(ref_scores))
        np.testing.assert_allclose(scores[row, :n], ref_scores[:n], rtol=1e-5, atol=1e-5)
        assert ref_scores[0] - ref_scores[1] > 1e-4, "the best hypothesis should be unique"
        np.testing.assert_array_equal(tokens[row, 0, :limit], ref_seqs[0])
        assert (tokens[row, :, limit:] == PAD).all()


def test_beam_search_stops_early_when_no_live_beam_can_win(monkeypatch):
    """A model that always prefers EOS: search stops after two steps, not at the length limit.

    Step 1 finishes the first hypothesis, step 2 the other beams; then every live beam is worse
    than the K-th finished one (alpha=0). Without jit the while loop runs in Python, so steps count.
    """
    import xling_jax.decoding.beam as beam_lib
    model, params, src = tiny(8)
    real, calls = beam_lib.decoder_logits, []

    def eos_loving(*args, **kwargs):
        calls.append(1)
        logits, cache = real(*args, **kwargs)
        return logits.at[:, EOS].add(1e3), cache
    monkeypatch.setattr(beam_lib, "decoder_logits", eos_loving)
    with jax.disable_jit():
        tokens, scores = beam_search(params, src, model=model, beam_size=3, max_len=50, alpha=0.0)
    assert len(calls) == 2
    assert (tokens[:, 0, 0] == EOS).all() and (tokens[:, 0, 1:] == PAD).all()
    assert (tokens[:, 1:, 1] == EOS).all()  # the runners-up: one word, then EOS
    assert jnp.all(scores[:, 0] > scores[:, 1])


def test_top_k_one_sampling_equals_greedy():
    model, params, src = tiny()
    g = greedy(params, src, model=model, max_len=8)
    s = sample(params, src, None, jax.random.key(3), model=model, max_len=8, temperature=0.7, top_k=1)
    np.testing.assert_array_equal(s, g)


def test_filter_logits_top_k_and_nucleus():
    logits = jnp.log(jnp.array([[0.05, 0.5, 0.15, 0.3]]))
    keep = lambda **kw: np.isfinite(np.asarray(filter_logits(logits, **kw)))[0].tolist()
    assert keep(top_k=2) == [False, True, False, True]
    assert keep(top_p=0.8) == [False, True, False, True]  # 0.5 + 0.3 reaches 0.8
    assert keep(top_p=0.81) == [False, True, True, True]
    assert keep(top_p=0.1) == [False, True, False, False]  # the most likely token always stays
    np.testing.assert_allclose(filter_logits(logits, temperature=0.5), logits / 0.5)


@pytest.mark.parametrize("kw", [dict(temperature=0.7, top_k=5), dict(temperature=1.3, top_p=0.9)])
def test_sampling_frequencies_follow_the_filtered_distribution(kw):
    """First tokens drawn for 4000 copies of one source match softmax(filter(logits)) within 3%."""
    model, params, src = tiny(12, sharpen=2.0)
    n = 4000
    rows = jnp.repeat(src[:1], n, axis=0)
    first = np.asarray(sample(params, rows, None, jax.random.key(1), model=model, max_len=1, **kw))[:, 0]
    logits = model.apply({"params": params}, src[:1], jnp.zeros((1, 1), jnp.int32))[:, 0].at[:, PAD].set(-jnp.inf)
    expected = np.asarray(jax.nn.softmax(filter_logits(logits, **kw)))[0]
    observed = np.bincount(first, minlength=12) / n
    assert np.abs(observed - expected).max() < 0.03
    assert observed[expected == 0].sum() == 0
