"""Shared sentencepiece vocabulary with target-language tags (`<2es>`).

A workdir holds either xling's `tokenizer.model` or, for an imported model, Marian's vocabulary
files (`marian_vocab.py`) or a Hugging Face tokenizer (`hf_vocab.py`); `load(workdir)` picks the
class. All have the interface below: source side `encode`, target side `encode_target` and
`decode`; `source_affixes`/`target_affixes` (the ids around a source's and a target's text:
here the target-language tag first and EOS last on the source, EOS after the target),
`decoder_start_id` (None: the model's own), `source_prefix` (the tag alone, for the
pretraining tasks) and `pad_id`/`eos_id`.
"""
import io
import os
import random
import re
from collections.abc import Iterable, Sequence

import numpy as np
import sentencepiece as spm

from xling_jax.data import augment, hf_vocab, marian_vocab
from xling_jax.data.sequences import Sequences
from xling_jax.errors import UserError

PAD_ID, EOS_ID, UNK_ID = 0, 1, 2
FILENAME = "tokenizer.model"


MASK = "<mask>"  # masked-LM and mBART mask token
BT = "<BT>"  # after the target-language tag of a back-translated (synthetic) source (Caswell et al. 2019)


def lang_tag(lang: str) -> str:
    return f"<2{lang}>"


def sentinel(i: int) -> str:
    """T5 span-corruption sentinels."""
    return f"<extra_id_{i}>"


def special_symbols(sentinels: int = 0) -> list[str]:
    """The control symbols a vocabulary carries besides its language tags."""
    return [MASK, BT] + [sentinel(i) for i in range(sentinels)]


def train(sentences: Iterable[str], path: str, vocab_size: int, languages: Sequence[str],
          model_type: str = "unigram", max_sentences: int = 200_000, seed: int = 0,
          extra_symbols: Sequence[str] = ()) -> None:
    """Trains a sentencepiece model on `sentences` and writes it atomically to `path`.

    `extra_symbols` (e.g. `special_symbols(...)`) become control symbols after the language tags."""
    sentences = [s for s in sentences if s.strip()]
    if len(sentences) > max_sentences:
        sentences = random.Random(seed).sample(sentences, max_sentences)
    model = io.BytesIO()
    try:
        _train_spm(sentences, model, vocab_size, model_type, languages, extra_symbols)
    except RuntimeError as e:
        needed = re.search(r"smaller than required_chars\. \d+ vs (\d+)", str(e))
        if not needed:
            raise
        raise UserError(f"tokenizer.vocab_size={vocab_size} is smaller than the {needed.group(1)} characters and "
                        "symbols the text needs (Chinese has many); raise tokenizer.vocab_size") from None
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(model.getvalue())
    os.replace(tmp, path)


def _train_spm(sentences, model, vocab_size, model_type, languages, extra_symbols) -> None:
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(sentences), model_writer=model, vocab_size=vocab_size, model_type=model_type,
        character_coverage=0.9999, pad_id=PAD_ID, eos_id=EOS_ID, unk_id=UNK_ID, bos_id=-1,
        # Control symbols, not user-defined ones: a literal "<2es>" in a sentence must not turn into the tag.
        control_symbols=[lang_tag(l) for l in languages] + list(extra_symbols), normalization_rule_name="nmt_nfkc",
        num_threads=os.cpu_count() or 1, minloglevel=2,
        # Characters outside the vocabulary become UTF-8 byte pieces instead of <unk>: no text is lost.
        byte_fallback=True,
        # Keep vocab_size a hard limit only where the corpus allows it.
        hard_vocab_limit=False)


def _valid_utf8(text: str) -> str:
    return text.encode("utf-8", errors="replace").decode("utf-8")


class Tokenizer(Sequences):
    """Encodes text to ids (no EOS added) and decodes ids (stopping at EOS)."""

    def __init__(self, path: str):
        self.path = path
        self.sp = spm.SentencePieceProcessor(model_file=path)

    pad_id, eos_id, unk_id = PAD_ID, EOS_ID, UNK_ID

    @property
    def vocab_size(self) -> int:
        return self.sp.get_piece_size()

    @property
    def target_vocab_size(self) -> int:
        return self.vocab_size

    def source_prefix(self, tgt_lang: str) -> list[int]:
        """Ids that start every source: the target-language tag."""
        return [self.tag_id(tgt_lang)]

    def source_affixes(self, src_lang: str, tgt_lang: str) -> tuple[list[int], list[int]]:
        """(ids before, ids after) a source's text: the target tag, EOS (KeyError for an unknown language)."""
        return self.source_prefix(tgt_lang), [self.eos_id]

    def target_affixes(self, tgt_lang: str) -> tuple[list[int], list[int]]:
        """(ids before, ids after) a target's text: nothing, EOS."""
        return [], [self.eos_id]

    def decoder_start_id(self, tgt_lang: str) -> int | None:
        return None  # the model's decoder_start_id

    def tag_id(self, lang: str) -> int:
        i = self.sp.piece_to_id(lang_tag(lang))
        if i == UNK_ID:
            raise KeyError(lang)
        return i

    def symbol_id(self, piece: str, why: str = "pretraining objectives need a tokenizer trained with them "
                                                  "(tokenizer.sentinels for T5), in a new workdir") -> int:
        """Id of a control symbol such as MASK, BT or a sentinel; a UserError (ending in `why`) if the
        vocabulary lacks it."""
        i = self.sp.piece_to_id(piece)
        if i == UNK_ID or not self.sp.is_control(i):
            raise UserError(f"the vocabulary {self.path} has no {piece} symbol: {why}")
        return i

    def languages(self) -> list[str]:
        """Codes of the target-language tags in the vocabulary."""
        return [p[2:-1] for p in map(self.sp.id_to_piece, range(self.vocab_size))
                if p.startswith("<2") and p.endswith(">") and len(p) > 3]

    def encode(self, text: str) -> list[int]:
        try:
            return self.sp.encode(text)
        except (RuntimeError, UnicodeError):  # lone surrogates cannot cross into C++
            return self.sp.encode(_valid_utf8(text))

    def encode_batch(self, texts: Sequence[str]) -> list[list[int]]:
        try:
            return self.sp.encode(list(texts))
        except (RuntimeError, UnicodeError):
            return self.sp.encode([_valid_utf8(t) for t in texts])

    def encode_target(self, text: str) -> list[int]:
        return self.encode(text)

    def check_sampling(self) -> None:
        """A UserError unless `encode_sampled` can sample: a unigram model (subword regularisation)."""
        kind = augment.model_type(self.sp)
        if kind != "unigram":
            raise UserError(f"tokenizer.sampling_alpha > 0 samples segmentations of a unigram sentencepiece model and "
                            f"{self.path} is a {kind} one: set tokenizer.sampling_alpha=0, or train a vocabulary "
                            "with tokenizer.model_type='unigram' (a new workdir)")

    def encode_sampled(self, text: str, rng: np.random.Generator, alpha: float, nbest: int) -> list[int]:
        """Ids of one of `text`'s `nbest` best segmentations, drawn with `rng` (augment.sample_segmentation)."""
        return [p.id for p in augment.sample_segmentation(self.sp, _valid_utf8(text), rng, alpha, nbest)]

    encode_target_sampled = encode_sampled

    def pieces(self, ids: Sequence[int], target: bool = False) -> list[str]:
        """The sentencepiece piece of each id (one vocabulary for both sides: `target` is ignored)."""
        return [self.sp.id_to_piece(int(i)) for i in ids]

    def decode(self, ids: Sequence[int] | np.ndarray) -> str:
        ids = [int(i) for i in ids]
        if EOS_ID in ids:
            ids = ids[:ids.index(EOS_ID)]
        return self.sp.decode([i for i in ids if i != PAD_ID])


def exists(workdir: str) -> bool:
    """Whether `workdir` holds a vocabulary: xling's tokenizer.model or an imported one."""
    return (os.path.isfile(os.path.join(workdir, FILENAME)) or marian_vocab.exists(workdir)
            or hf_vocab.exists(workdir))


def load(workdir: str, task_prefix: str = ""):
    """The workdir's tokenizer: xling's `Tokenizer`, or after an import a `MarianVocab` or an `HFVocab`;
    `task_prefix`: the run's data.task_prefix."""
    path = os.path.join(workdir, FILENAME)
    if not os.path.isfile(path) and hf_vocab.exists(workdir):
        tok = hf_vocab.HFVocab(workdir)
    elif not os.path.isfile(path) and marian_vocab.exists(workdir):
        tok = marian_vocab.MarianVocab(workdir)
    else:
        tok = Tokenizer(path)
    tok.task_prefix = task_prefix
    return tok
