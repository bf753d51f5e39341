"""Pretraining objectives: masking statistics on large samples, and targets that give back the text."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xling_jax.objectives import denoising, xlm

MASK, VOCAB, SPECIAL = 3, 1000, (0, 1, 2, 3, 4)


def rows(n_rows, length, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.integers(10, VOCAB, rng.integers(length // 2, length + 1)) for _ in range(n_rows)]


def test_mlm_rates_are_15_percent_then_80_10_10():
    rng = np.random.default_rng(1)
    chosen = masked = randomised = kept = total = 0
    for ids in rows(3000, 60):
        ids = np.concatenate([[4], ids, [1]])  # a language tag and EOS: never chosen
        out = xlm.mlm(ids, rng, mask_id=MASK, vocab_size=VOCAB, special_ids=SPECIAL)
        np.testing.assert_array_equal(out["targets"], ids)
        w = out["weights"] > 0
        assert not w[0] and not w[-1]
        assert (out["inputs"][~w] == ids[~w]).all()  # only chosen tokens change
        total += len(ids) - 2
        chosen += w.sum()
        masked += (out["inputs"][w] == MASK).sum()
        kept += (out["inputs"][w] == ids[w]).sum()
        randomised += ((out["inputs"][w] != MASK) & (out["inputs"][w] != ids[w])).sum()
        assert not np.isin(out["inputs"][w & (out["inputs"] != MASK)], SPECIAL).any()
    assert chosen / total == pytest.approx(0.15, abs=0.005)
    assert masked / chosen == pytest.approx(0.8, abs=0.01)
    # A random replacement equals the original token with probability ~1/V: counted as kept.
    assert randomised / chosen == pytest.approx(0.1, abs=0.01)
    assert kept / chosen == pytest.approx(0.1, abs=0.01)


def test_tlm_resets_positions_and_marks_languages():
    src, tgt = np.arange(10, 17), np.arange(30, 34)
    out = xlm.tlm(src, tgt, 0, 1, np.random.default_rng(0), mask_id=MASK, vocab_size=VOCAB, special_ids=SPECIAL)
    np.testing.assert_array_equal(out["targets"], np.concatenate([src, tgt]))
    np.testing.assert_array_equal(out["positions"], [0, 1, 2, 3, 4, 5, 6, 0, 1, 2, 3])
    np.testing.assert_array_equal(out["languages"], [0] * 7 + [1] * 4)
    assert out["weights"].sum() == round(0.15 * 11)


def test_clm_predicts_the_next_token():
    out = xlm.clm([5, 6, 7, 8])
    np.testing.assert_array_equal(out["inputs"], [5, 6, 7])
    np.testing.assert_array_equal(out["targets"], [6, 7, 8])


def test_mbart_masks_35_percent_in_poisson_spans():
    rng = np.random.default_rng(2)
    covered = total = 0
    spans = []
    for ids in rows(2000, 100):
        noised, masked = denoising.span_mask(ids, rng, mask_id=MASK)
        total += len(ids)
        covered += masked.sum()
        # Span lengths: runs of masked tokens (spans never touch, so each run is one span).
        edges = np.diff(np.concatenate([[0], masked.astype(int), [0]]))
        spans += list(np.flatnonzero(edges == -1) - np.flatnonzero(edges == 1))
        # One mask per span (plus insertions); every other token is kept, in order.
        assert (noised == MASK).sum() >= len(np.flatnonzero(edges == 1))
        np.testing.assert_array_equal(noised[noised != MASK], ids[~masked])
    assert covered / total == pytest.approx(0.35, abs=0.01)
    # Poisson(3.5) lengths, except the last span of a row, which is cut to fit the budget.
    assert np.mean(spans) == pytest.approx(3.5, abs=0.35)
    counts = np.bincount(spans)
    assert counts[3] > counts[1] and counts[3] > counts[7]  # the Poisson shape, not uniform


def test_mbart_permutes_sentences_and_targets_the_original():
    ids = np.array([10, 11, 90, 20, 21, 22, 90, 30, 90])
    ends = ids == 90
    seen = set()
    rng = np.random.default_rng(0)
    for _ in range(50):
        permuted = denoising.sentence_permutation(ids, rng, ends)
        assert sorted(permuted.tolist()) == sorted(ids.tolist())
        seen.add(tuple(permuted))
        out = denoising.mbart(ids, rng, mask_id=MASK, sentence_end=ends)
        np.testing.assert_array_equal(out["targets"], ids)
    assert len(seen) == 6  # all orders of the three sentences


def fill_sentinels(inputs, targets, sentinels):
    """The original text from T5's inputs and targets."""
    spans, current = {}, None
    for t in targets.tolist():
        if t in sentinels:
            current = t
            spans[current] = []
        else:
            spans[current].append(t)
    out = []
    for t in inputs.tolist():
        out += spans[t] if t in sentinels else [t]
    return out


def test_t5_span_corruption_density_mean_span_and_reconstruction():
    rng = np.random.default_rng(3)
    sentinels = list(range(VOCAB, VOCAB + 100))
    noise = total = 0
    lengths = []
    for ids in rows(2000, 120):
        out = denoising.t5_span_corruption(ids, rng, sentinel_ids=sentinels)
        assert fill_sentinels(out["inputs"], out["targets"], set(sentinels)) == ids.tolist()
        n_spans = np.isin(out["inputs"], sentinels).sum()
        assert out["targets"][-1] == sentinels[n_spans]  # closing sentinel
        noise += len(out["targets"]) - n_spans - 1
        total += len(ids)
        lengths.append((len(out["targets"]) - n_spans - 1) / n_spans)
    assert noise / total == pytest.approx(0.15, abs=0.005)
    assert np.mean(lengths) == pytest.approx(3.0, abs=0.2)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(10, VOCAB - 1), min_size=0, max_size=60), st.integers(0, 2**31))
def test_objectives_never_lose_text(ids, seed):
    ids = np.asarray(ids, np.int32)
    rng = np.random.default_rng(seed)
    noised, masked = denoising.span_mask(ids, rng, mask_id=MASK)
    np.testing.assert_array_equal(noised[noised != MASK], ids[~masked])
    sentinels = list(range(VOCAB, VOCAB + 100))
    out = denoising.t5_span_corruption(ids, rng, sentinel_ids=sentinels)
    assert fill_sentinels(out["inputs"], out["targets"], set(sentinels)) == ids.tolist()
    if len(ids):
        np.testing.assert_array_equal(xlm.mlm(ids, rng, mask_id=MASK, vocab_size=VOCAB)["targets"], ids)


def test_t5_span_corruption_cuts_a_text_too_long_for_its_sentinels():
    """With 5 sentinels a 400-token text would need 21; it is cut to the longest prefix 5 can number,
    and every sentinel in the output is one of those given, each span's once, in order."""
    from xling_jax.objectives.denoising import t5_span_corruption
    sentinels = [1000, 999, 998, 997, 996]
    out = t5_span_corruption(np.arange(10, 410), np.random.default_rng(0), sentinel_ids=sentinels)
    used = [t for t in out["targets"].tolist() if t >= 996]
    assert used == sentinels[:len(used)] and 2 <= len(used) <= 5
    kept = [t for t in out["inputs"].tolist() + out["targets"].tolist() if t < 996]
    assert sorted(kept) == list(range(10, 10 + len(kept))) and len(kept) < 400  # a prefix, each token once
