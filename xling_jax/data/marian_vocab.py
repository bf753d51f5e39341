"""Marian/OPUS-MT vocabularies: `source.spm` and `target.spm` cut text into pieces, `vocab.json`
maps pieces to ids (and `target_vocab.json` the target side's when `separate_vocabs`).

`MarianVocab` has the interface of xling's `Tokenizer`, so a workdir made by `xling import marian`
translates, evaluates and trains like any other. Multilingual OPUS-MT models name the target
language with a `>>es<<` token at the start of the source; bilingual ones have no such token and
their sources start with the text itself.
"""
import json
import os
import re
from collections.abc import Sequence

import numpy as np
import sentencepiece as spm

from xling_jax.data import augment
from xling_jax.data.sequences import Sequences
from xling_jax.errors import UserError

SOURCE_SPM, TARGET_SPM = "source.spm", "target.spm"
VOCAB, TARGET_VOCAB, TOKENIZER_CONFIG = "vocab.json", "target_vocab.json", "tokenizer_config.json"
FILES = (SOURCE_SPM, TARGET_SPM, VOCAB)
PAD, EOS, UNK = "<pad>", "</s>", "<unk>"
_TAG = re.compile(r"^>>(.+)<<$")


def lang_tag(lang: str) -> str:
    return f">>{lang}<<"


def exists(directory: str) -> bool:
    return all(os.path.isfile(os.path.join(directory, f)) for f in FILES)


def read_json(path: str):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError) as e:
        raise UserError(f"cannot read {path}: {e}") from None


def pieces_by_id(vocab: dict, path: str) -> list[str]:
    """The pieces of a vocab.json in id order; ids must be 0..n-1 without gaps."""
    pieces = [None] * len(vocab)
    for piece, i in vocab.items():
        if not isinstance(i, int) or not 0 <= i < len(vocab) or pieces[i] is not None:
            raise UserError(f"{path}: ids must be the numbers 0..{len(vocab) - 1}, each once (got {i!r} for {piece!r})")
        pieces[i] = piece
    for special in (EOS, UNK, PAD):
        if special not in vocab:
            raise UserError(f"{path} has no {special} token")
    return pieces


def _valid_utf8(text: str) -> str:
    return text.encode("utf-8", errors="replace").decode("utf-8")


class _Side:
    """One side's sentencepiece model and its piece <-> id table."""

    def __init__(self, spm_path: str, vocab_path: str):
        self.spm_path = spm_path
        self.sp = spm.SentencePieceProcessor(model_file=spm_path)
        self.pieces = pieces_by_id(read_json(vocab_path), vocab_path)
        self.ids = {p: i for i, p in enumerate(self.pieces)}
        self.pad_id, self.eos_id, self.unk_id = self.ids[PAD], self.ids[EOS], self.ids[UNK]

    def to_ids(self, pieces: Sequence[str]) -> list[int]:
        return [self.ids.get(p, self.unk_id) for p in pieces]

    def encode_batch(self, texts: Sequence[str]) -> list[list[int]]:
        try:
            pieces = self.sp.encode(list(texts), out_type=str)
        except (RuntimeError, UnicodeError):  # lone surrogates cannot cross into C++
            pieces = self.sp.encode([_valid_utf8(t) for t in texts], out_type=str)
        return [self.to_ids(p) for p in pieces]

    def encode_sampled(self, text: str, rng: np.random.Generator, alpha: float, nbest: int) -> list[int]:
        pieces = augment.sample_segmentation(self.sp, _valid_utf8(text), rng, alpha, nbest)
        return self.to_ids([p.piece for p in pieces])


class MarianVocab(Sequences):
    """Encodes text to ids (no EOS added) and decodes ids (stopping at EOS), like `Tokenizer`."""

    def __init__(self, directory: str):
        self.path = directory
        config_path = os.path.join(directory, TOKENIZER_CONFIG)
        self.config = read_json(config_path) if os.path.isfile(config_path) else {}
        self.separate_vocabs = bool(self.config.get("separate_vocabs", False))
        self.source = _Side(os.path.join(directory, SOURCE_SPM), os.path.join(directory, VOCAB))
        target_vocab = os.path.join(directory, TARGET_VOCAB if self.separate_vocabs else VOCAB)
        self.target = _Side(os.path.join(directory, TARGET_SPM), target_vocab)
        if self.source.eos_id != self.target.eos_id:
            raise UserError(f"{directory}: {EOS} has id {self.source.eos_id} in the source vocabulary but "
                            f"{self.target.eos_id} in the target one; xling needs one EOS id")

    @property
    def vocab_size(self) -> int:
        return len(self.source.pieces)

    @property
    def target_vocab_size(self) -> int:
        return len(self.target.pieces)

    @property
    def pad_id(self) -> int:
        return self.source.pad_id

    @property
    def eos_id(self) -> int:
        return self.source.eos_id

    @property
    def unk_id(self) -> int:
        return self.source.unk_id

    def languages(self) -> list[str]:
        """Codes of the `>>xx<<` target-language tokens (none for a bilingual model)."""
        return [m.group(1) for m in map(_TAG.match, self.source.pieces) if m]

    def tag_id(self, lang: str) -> int:
        i = self.source.ids.get(lang_tag(lang))
        if i is None:
            raise KeyError(lang)
        return i

    def symbol_id(self, piece: str, why: str = "an imported Marian vocabulary has only its own symbols") -> int:
        """Id of a source-side symbol such as `<BT>`; a UserError (ending in `why`) if the vocabulary lacks it."""
        if piece not in self.source.ids:
            raise UserError(f"the vocabulary {self.path} has no {piece} symbol: {why}")
        return self.source.ids[piece]

    def source_prefix(self, tgt_lang: str) -> list[int]:
        """`>>tgt_lang<<` for a multilingual model (KeyError if it lacks that language); nothing for a bilingual one."""
        return [self.tag_id(tgt_lang)] if self.languages() else []

    def source_affixes(self, src_lang: str, tgt_lang: str) -> tuple[list[int], list[int]]:
        return self.source_prefix(tgt_lang), [self.eos_id]

    def target_affixes(self, tgt_lang: str) -> tuple[list[int], list[int]]:
        return [], [self.eos_id]

    def decoder_start_id(self, tgt_lang: str) -> int | None:
        return None

    def encode(self, text: str) -> list[int]:
        return self.source.encode_batch([text])[0]

    def encode_batch(self, texts: Sequence[str]) -> list[list[int]]:
        return self.source.encode_batch(texts)

    def encode_target(self, text: str) -> list[int]:
        return self.target.encode_batch([text])[0]

    def check_sampling(self) -> None:
        """A UserError unless both sides' models are unigram ones (subword regularisation)."""
        for side in (self.source, self.target):
            kind = augment.model_type(side.sp)
            if kind != "unigram":
                raise UserError(f"tokenizer.sampling_alpha > 0 samples segmentations of a unigram sentencepiece "
                                f"model and {side.spm_path} is a {kind} one: set tokenizer.sampling_alpha=0")

    def encode_sampled(self, text: str, rng: np.random.Generator, alpha: float, nbest: int) -> list[int]:
        """Source ids of one of `text`'s `nbest` best segmentations, drawn with `rng` (augment.py)."""
        return self.source.encode_sampled(text, rng, alpha, nbest)

    def encode_target_sampled(self, text: str, rng: np.random.Generator, alpha: float, nbest: int) -> list[int]:
        return self.target.encode_sampled(text, rng, alpha, nbest)

    def pieces(self, ids: Sequence[int], target: bool = False) -> list[str]:
        """The piece of each id in the source vocabulary, or the target one (`target`)."""
        table = (self.target if target else self.source).pieces
        return [table[int(i)] for i in ids]

    def decode(self, ids: Sequence[int] | np.ndarray) -> str:
        ids = [int(i) for i in ids]
        if self.eos_id in ids:
            ids = ids[:ids.index(self.eos_id)]
        pieces = [self.target.pieces[i] for i in ids if 0 <= i < self.target_vocab_size and i != self.target.pad_id]
        pieces = [p for p in pieces if not _TAG.match(p)]
        return self.target.sp.decode_pieces(pieces).strip()
