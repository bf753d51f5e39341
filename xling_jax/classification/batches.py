"""Token rows for the classifier: `[tag] text </s>`, padded batches, and the train sampler.

The input is the text's pieces then EOS, like a translation source. A fixed tag (the target tag
of config `classify.tag_language`, e.g. `<2en>`) goes in front of every text whatever its language:
the model cannot read the language off it, "first" pooling reads a constant position, and an
encoder from a translation run has seen that tag before sources in all the other languages.
"""
import numpy as np

ROUND = 16  # batches are padded to a multiple of this many tokens: few shapes to compile


def encode(tokenizer, texts, prefix: list[int], max_len: int) -> list[np.ndarray]:
    """`prefix + pieces + [EOS]` per text, pieces cut so that a row holds at most `max_len` tokens."""
    room = max_len - len(prefix) - 1
    return [np.asarray(prefix + ids[:room] + [tokenizer.eos_id], np.int32)
            for ids in tokenizer.encode_batch(list(texts))]


def pad(rows: list[np.ndarray], pad_id: int, num_rows: int | None = None, max_len: int | None = None) -> np.ndarray:
    """BxS int32, S the longest row rounded up to ROUND (at most max_len); missing rows are all padding."""
    longest = max((len(r) for r in rows), default=1)
    length = -(-longest // ROUND) * ROUND
    if max_len:
        length = min(length, max(max_len, longest))
    out_BxS = np.full((num_rows or len(rows), length), pad_id, np.int32)
    for i, row in enumerate(rows):
        out_BxS[i, :len(row)] = row
    return out_BxS


BUCKET_WINDOW = 32  # batches sorted by length together: little padding, batches still random


def train_indices(lengths: np.ndarray, batch_size: int, step: int, seed: int) -> np.ndarray:
    """Example indices of the batch at `step`, a pure function of the step (a resumed run sees the
    same batches without saved data state).

    Each epoch is a seeded permutation cut into `len(lengths) // batch_size` batches (the rest waits
    for another epoch): windows of BUCKET_WINDOW batches are sorted by length before the cut, and
    the batches are then shuffled, so that a batch holds texts of similar length."""
    per_epoch = len(lengths) // batch_size
    epoch, index = divmod(step, per_epoch)
    rng = np.random.default_rng([seed, epoch])
    order = rng.permutation(len(lengths))[:per_epoch * batch_size]
    span = batch_size * BUCKET_WINDOW
    for start in range(0, len(order), span):
        window = order[start:start + span]
        order[start:start + span] = window[np.argsort(lengths[window], kind="stable")]
    batch = rng.permutation(per_epoch)[index]
    return order[batch * batch_size:(batch + 1) * batch_size]


def eval_batches(rows: list[np.ndarray], batch_size: int, pad_id: int, max_len: int):
    """(indices, tokens_BxS) over all rows, shortest first (little padding); every batch has
    `batch_size` rows (the last one filled with padding rows) so that one shape serves each length."""
    order = np.argsort([len(r) for r in rows], kind="stable")
    for start in range(0, len(order), batch_size):
        idx = order[start:start + batch_size]
        yield idx, pad([rows[i] for i in idx], pad_id, batch_size, max_len)
