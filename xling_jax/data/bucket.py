"""Length bucketing: batches of similar-length examples padded to a few lengths (the alternative to packing).

The parent stream is read in windows of `window` batches; each window is sorted by
length, cut into batches, and the batches are emitted in a seeded random order, each
padded to the smallest multiple of `step` (capped at `max_len`) that fits it, so only
a few shapes are ever compiled. The iterator state is the parent's state at the start
of the window plus the number of batches already emitted from it: a restore re-reads
the window and continues exactly where it stopped.
"""
import grain
import numpy as np


def padded_length(n: int, step: int, max_len: int) -> int:
    return min(max_len, -(-max(n, 1) // step) * step)


def pad_batch(examples: list[dict], length: int, features=("inputs", "targets")) -> dict:
    """Stacks examples into BxL arrays with segment ids (1 = token, 0 = padding) and positions."""
    out = {}
    for k in features:
        rows = np.zeros((len(examples), length), np.int32)
        seg = np.zeros_like(rows)
        for r, ex in enumerate(examples):
            x = ex[k][:length]
            rows[r, :len(x)] = x
            seg[r, :len(x)] = 1
        out[k] = rows
        out[k + "_segment_ids"] = seg
        out[k + "_positions"] = np.where(seg > 0, np.arange(length)[None, :], 0).astype(np.int32)
    return out


class _Iterator(grain.DatasetIterator):
    def __init__(self, parent, batch_size, window, step, max_len, seed, features):
        super().__init__(parent)
        self._batch_size, self._window, self._step, self._max_len, self._seed, self._features = (
            batch_size, window, step, max_len, seed, features)
        self._window_start = self._parent.get_state()
        self._window_index = 0
        self._batches: list[list[dict]] = []
        self._emitted = 0

    def _fill(self) -> None:
        self._window_start = self._parent.get_state()
        examples = []
        for _ in range(self._window * self._batch_size):
            try:
                examples.append(next(self._parent))
            except StopIteration:
                break
        n = len(examples) - len(examples) % self._batch_size
        if n == 0:
            raise StopIteration
        lengths = [max(len(ex["inputs"]), len(ex["targets"])) for ex in examples[:n]]
        order = np.argsort(lengths, kind="stable")
        batches = [[examples[i] for i in order[b:b + self._batch_size]] for b in range(0, n, self._batch_size)]
        rng = np.random.default_rng([self._seed, self._window_index])
        self._batches = [batches[i] for i in rng.permutation(len(batches))]
        self._emitted = 0

    def __next__(self) -> dict:
        if self._emitted >= len(self._batches):
            if self._batches:
                self._window_index += 1
            self._fill()
        batch = self._batches[self._emitted]
        self._emitted += 1
        length = padded_length(max(max(len(ex["inputs"]), len(ex["targets"])) for ex in batch),
                               self._step, self._max_len)
        return pad_batch(batch, length, self._features)

    def get_state(self) -> dict:
        return {"parent": self._window_start, "window_index": self._window_index, "emitted": self._emitted}

    def set_state(self, state: dict) -> None:
        self._parent.set_state(state["parent"])
        self._window_index = state["window_index"]
        self._batches, emitted = [], state["emitted"]
        if emitted:
            self._fill()
            self._emitted = emitted


class LengthBucketIterDataset(grain.IterDataset):
    def __init__(self, parent: grain.IterDataset, batch_size: int, max_len: int, window: int = 32,
                 step: int = 16, seed: int = 0, features=("inputs", "targets")):
        super().__init__(parent)
        self._args = (batch_size, window, step, max_len, seed, tuple(features))

    def __iter__(self):
        return _Iterator(self._parent.__iter__(), *self._args)
