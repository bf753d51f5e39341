"""Augmentation of the training translation pairs, drawn per example from the example's own rng.

- Subword regularisation (Kudo 2018): a segmentation drawn from the `nbest` best of a unigram
  sentencepiece model with probability ∝ exp(alpha * score) (tokenizer.sampling_alpha, tokenizer.nbest,
  on the sides tokenizer.sampling_sides).
- Source noise (Lample et al. 2018; Edunov et al. 2018's noised back-translation, data.noise): the words
  shuffled locally (none moves more than `shuffle_k` places), then each dropped (`word_dropout`) or
  replaced by `<mask>` (`blank`). Words are whitespace-separated: a text without spaces (Chinese) is
  one word.

The rng is the one grain's `random_map` hands each record, derived from the seed and the record's index:
the stream is fixed by config.seed, and a checkpointed iterator resumes it exactly.
"""
import dataclasses
from collections.abc import Sequence

import numpy as np

SIDES = ("both", "source", "target")


@dataclasses.dataclass(frozen=True)
class Options:
    """What augments the training translation pairs (tokenizer.sampling_alpha/nbest/sampling_sides and
    data.noise.*); all off by default."""
    sampling_alpha: float = 0.0  # 0: no subword sampling
    nbest: int = 64
    sampling_sides: str = "both"  # one of SIDES
    word_dropout: float = 0.0
    blank: float = 0.0
    shuffle_k: int = 0
    only_backtranslated: bool = False  # noise the back-translated pairs alone

    @property
    def noise(self) -> bool:
        return bool(self.word_dropout or self.blank or self.shuffle_k)

    def sampled(self, side: str) -> bool:
        """Whether the segmentation of `side` ("source" or "target") is sampled."""
        return self.sampling_alpha > 0 and self.sampling_sides in ("both", side)

    @property
    def on(self) -> bool:
        return self.noise or self.sampling_alpha > 0


def model_type(sp) -> str:
    """The type of a sentencepiece processor's model: "unigram", "bpe", "word" or "char"."""
    from sentencepiece import sentencepiece_model_pb2 as pb  # protobuf: only where a vocabulary is checked
    spec = pb.ModelProto.FromString(sp.serialized_model_proto()).trainer_spec
    return pb.TrainerSpec.ModelType.Name(spec.model_type).lower()


def draw(scores: Sequence[float], rng: np.random.Generator, alpha: float) -> int:
    """The index of a candidate drawn with probability ∝ exp(alpha * score)."""
    logits = alpha * np.asarray(scores, np.float64)
    p = np.exp(logits - logits.max())
    return int(rng.choice(len(p), p=p / p.sum()))


def sample_segmentation(sp, text: str, rng: np.random.Generator, alpha: float, nbest: int):
    """The pieces (`.id`, `.piece`) of one of `text`'s `nbest` best segmentations under the unigram model
    `sp`, drawn with probability ∝ exp(alpha * score)."""
    # What sentencepiece does for a unigram model with nbest_size > 1, but drawn with the example's rng:
    # sentencepiece's own sampler (enable_sampling) uses a process-global RNG, which no seed makes
    # reproducible per example in a pipeline of several threads, nor across a resume.
    candidates = sp.nbest_encode(text, nbest_size=nbest, out_type="proto").nbests
    return candidates[draw([c.score for c in candidates], rng, alpha)].pieces if candidates else []


def noised_words(words: Sequence[str], rng: np.random.Generator, *, word_dropout: float = 0.0, blank: float = 0.0,
                 shuffle_k: int = 0) -> list[str | None]:
    """`words` shuffled locally, then each dropped with probability `word_dropout` or blanked (None) with
    probability `blank`; a text whose words would all be dropped keeps one."""
    n = len(words)
    order = np.arange(n)
    if shuffle_k:  # sorting i + U(0, k + 1): word j > i + k always stays after word i, so none moves > k
        order = np.argsort(order + rng.uniform(0, shuffle_k + 1, n), kind="stable")
    u = rng.random(n) if word_dropout or blank else np.ones(n)
    drop, blanked = u < word_dropout, (u >= word_dropout) & (u < word_dropout + blank)
    if n and drop.all():  # a source of tags alone teaches nothing
        drop[rng.integers(n)] = False
    return [None if blanked[j] else words[i] for j, i in enumerate(order) if not drop[j]]
