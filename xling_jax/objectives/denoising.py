"""Sequence-to-sequence denoising objectives on token-id arrays: mBART and T5 span corruption.

Pure numpy functions of (ids, numpy Generator) returning {"inputs", "targets"} id arrays (no
language tags or EOS: the caller frames them like translation pairs, see `objectives/tasks.py`).
"""
import numpy as np


def sentence_permutation(ids, rng: np.random.Generator, sentence_end) -> np.ndarray:
    """The sentences of `ids` (each ending after a token where `sentence_end` is true, the last one
    wherever the text ends) in random order (mBART's document-level noise)."""
    ids = np.asarray(ids, np.int32)
    ends = np.flatnonzero(np.asarray(sentence_end, bool)[:len(ids)]) + 1
    bounds = np.unique(np.concatenate([[0], ends[ends < len(ids)], [len(ids)]]))
    sentences = [ids[a:b] for a, b in zip(bounds[:-1], bounds[1:])]
    if len(sentences) < 2:
        return ids
    return np.concatenate([sentences[i] for i in rng.permutation(len(sentences))])


def span_mask(ids, rng: np.random.Generator, *, mask_id: int, ratio: float = 0.35, poisson_lambda: float = 3.5,
              protected=None) -> tuple[np.ndarray, np.ndarray]:
    """mBART/BART text infilling: span lengths ~ Poisson(lambda) are drawn until they cover
    round(ratio * n) tokens (the last one cut to fit); each span is replaced by one `mask_id`, and a
    zero-length span inserts a mask. Spans never touch (one mask token stands for one span).

    Returns (noised ids, bool per original token: masked). `protected` tokens are never masked.
    """
    ids = np.asarray(ids, np.int32)
    n = len(ids)
    blocked = np.zeros(n, bool) if protected is None else np.asarray(protected, bool).copy()
    budget = int(round(ratio * (n - blocked.sum())))
    lengths = []
    while sum(lengths) < budget:
        lengths.append(min(int(rng.poisson(poisson_lambda)), budget - sum(lengths)))
    masked = np.zeros(n, bool)
    inserts = np.zeros(n + 1, int)
    for length in lengths:
        if length == 0:
            inserts[rng.integers(0, n + 1)] += 1
            continue
        # Starts where the span and one token on each side are clear of other spans and protection.
        near = masked | np.concatenate([masked[1:], [False]]) | np.concatenate([[False], masked[:-1]])
        bad = np.concatenate([[0], np.cumsum(blocked | near)])
        starts = np.flatnonzero(bad[length:] - bad[:-length] == 0) if length <= n else []
        if len(starts):  # a crowded row drops the span rather than overlap another
            s = int(rng.choice(starts))
            masked[s:s + length] = True
    out = []
    for i in range(n):
        out += [mask_id] * inserts[i]
        if not masked[i]:
            out.append(int(ids[i]))
        elif i == 0 or not masked[i - 1]:
            out.append(mask_id)
    out += [mask_id] * inserts[n]
    return np.asarray(out, np.int32), masked


def mbart(ids, rng: np.random.Generator, *, mask_id: int, sentence_end=None, ratio: float = 0.35,
          poisson_lambda: float = 3.5, permute_sentences: bool = True) -> dict:
    """mBART noise: sentence permutation then span masking; the target is the original text."""
    ids = np.asarray(ids, np.int32)
    noised = sentence_permutation(ids, rng, sentence_end) if permute_sentences and sentence_end is not None else ids
    inputs, _ = span_mask(noised, rng, mask_id=mask_id, ratio=ratio, poisson_lambda=poisson_lambda)
    return {"inputs": inputs, "targets": ids}


def _num_spans(length: int, noise_density: float, mean_span: float) -> int:
    """How many noise spans random_spans_noise_mask makes in a text of `length` tokens (length >= 2)."""
    num_noise = min(max(int(round(length * noise_density)), 1), length - 1)
    return min(max(int(round(num_noise / mean_span)), 1), num_noise, length - num_noise)


def random_spans_noise_mask(length: int, rng: np.random.Generator, noise_density: float = 0.15,
                            mean_span: float = 3.0) -> np.ndarray:
    """T5's noise mask: round(density * length) noise tokens in round(noise / mean_span) spans,
    span lengths a random partition, noise and non-noise spans alternating (non-noise first)."""
    if length < 2:
        return np.zeros(length, bool)
    num_noise = min(max(int(round(length * noise_density)), 1), length - 1)
    num_spans = _num_spans(length, noise_density, mean_span)

    def partition(total, parts):
        # `parts` positive lengths summing to `total`: cut points drawn without replacement.
        cuts = np.sort(rng.choice(np.arange(1, total), parts - 1, replace=False)) if parts > 1 else []
        return np.diff(np.concatenate([[0], cuts, [total]])).astype(int)

    noise_lengths, keep_lengths = partition(num_noise, num_spans), partition(length - num_noise, num_spans)
    mask = np.zeros(length, bool)
    pos = 0
    for keep, noise in zip(keep_lengths, noise_lengths):
        pos += keep
        mask[pos:pos + noise] = True
        pos += noise
    return mask


def t5_span_corruption(ids, rng: np.random.Generator, *, sentinel_ids, noise_density: float = 0.15,
                       mean_span: float = 3.0) -> dict:
    """T5 span corruption: each noise span of the input becomes sentinel i; the target lists
    sentinel i followed by the span's tokens, for every span, then a final sentinel.

    A text too long for the sentinels there are (its spans plus one) is cut to the longest prefix
    they can number, as T5 cuts its inputs to a fixed length before corrupting them (an imported
    model's vocabulary may hold few sentinels)."""
    ids = np.asarray(ids, np.int32)
    while len(ids) > 1 and _num_spans(len(ids), noise_density, mean_span) + 1 > len(sentinel_ids):
        ids = ids[:max(1, int(len(ids) * 0.9))]
    mask = random_spans_noise_mask(len(ids), rng, noise_density, mean_span)
    starts = mask & ~np.concatenate([[False], mask[:-1]])
    num_spans = int(starts.sum())
    if num_spans + 1 > len(sentinel_ids):
        raise ValueError(f"{num_spans} noise spans need {num_spans + 1} sentinels; the vocabulary has "
                         f"{len(sentinel_ids)}")
    span_index = np.cumsum(starts) - 1  # the span each token belongs to (where masked)
    inputs, targets = [], []
    for i, token in enumerate(ids.tolist()):
        if not mask[i]:
            inputs.append(token)
            continue
        if starts[i]:
            inputs.append(sentinel_ids[span_index[i]])
            targets.append(sentinel_ids[span_index[i]])
        targets.append(token)
    targets.append(sentinel_ids[num_spans])
    return {"inputs": np.asarray(inputs, np.int32), "targets": np.asarray(targets, np.int32)}
