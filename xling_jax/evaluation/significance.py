"""Paired bootstrap resampling of two systems' hypotheses on the same references (Koehn 2004).

The one significance test behind `xling eval --compare` and `xling compare`. It is sacrebleu's
paired bootstrap (`sacrebleu.significance`, itself the Moses script's test): the same sentence
statistics, the same resampled sentence indices (seed 12345, sacrebleu's default), the same
statistic (each resample's absolute score difference, centred on their mean, against the observed
absolute difference), two-sided. One thing differs: sacrebleu counts only resamples whose
statistic is strictly larger than the observed one, so two systems whose statistics are equal
(identical hypotheses, or hypotheses that differ only where the metric does not look) get its
smallest p, (0 + 1) / (n + 1) = 0.001 at 1,000 resamples: no difference would look significant.
Here a resample at least as extreme as the observation counts, the usual definition of a p-value,
which gives such pairs p = 1; where no resampled statistic ties the observed one, the p-value is
sacrebleu's to the last digit (tests/test_significance.py checks both).
"""
import numpy as np

SEED = 12345  # sacrebleu's default SACREBLEU_SEED: the resamples PairedTest would draw
# Scores are on a 0-100 scale; equal statistics reached by different float sums still count as ties.
TIE_TOLERANCE = 1e-9


def p_value(sample_stats: np.ndarray, observed: float) -> float:
    """(resamples at least as extreme as `observed` + 1) / (resamples + 1): the +1 keeps the test from
    rejecting more often than its level with few resamples (as in sacrebleu)."""
    extreme = int(np.sum(sample_stats >= observed - TIE_TOLERANCE))
    return (extreme + 1) / (len(sample_stats) + 1)


def paired_bootstrap(hyps: list[str], base_hyps: list[str], refs: list[str], metrics: dict,
                     n_samples: int = 1000, seed: int = SEED) -> dict:
    """{metric name: {"this", "other", "difference", "p_value"}} of `hyps` against `base_hyps` ("other").

    `metrics` maps names to sacrebleu metric objects (evaluation.bleu.metrics). Scores are corpus
    scores (unrounded); the difference is this - other; the p-value is two-sided.
    """
    n = len(refs)
    assert len(hyps) == n and len(base_hyps) == n, (len(hyps), len(base_hyps), n)
    # Resampled sentence indices, drawn once and shared by every metric (the pairing).
    idxs = np.random.default_rng(seed).choice(n, size=(n_samples, n), replace=True) if n else None
    out = {}
    for name, metric in metrics.items():
        stats = {}
        for who, h in (("this", hyps), ("other", base_hyps)):
            # Per-sentence sufficient statistics (n-gram matches, lengths): any corpus score is a
            # function of their sum, so a resample costs one sum, not a rescoring.
            stats[who] = np.asarray(metric._extract_corpus_statistics(h, [refs]), dtype=np.float64)
        this, other = (metric._compute_score_from_stats(stats[w].sum(0)).score if n else 0.0
                       for w in ("this", "other"))
        if n:
            diffs = np.abs(np.array([metric._compute_score_from_stats(stats["this"][i].sum(0)).score
                                     - metric._compute_score_from_stats(stats["other"][i].sum(0)).score
                                     for i in idxs]))
            p = p_value(diffs - diffs.mean(), abs(this - other))
        else:
            p = 1.0  # no sentences, no evidence
        out[name] = {"this": float(this), "other": float(other), "difference": float(this - other), "p_value": p}
    return out
