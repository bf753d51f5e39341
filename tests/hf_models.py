"""Random pretrained-style Hugging Face models for the interop tests and notebooks, built offline.

`make(family, directory)` writes a folder like a Hub checkpoint of that family: config.json,
model.safetensors and the tokenizer files Transformers saves, with a tokenizer built from a small
sentencepiece BPE model (fairseq-style ids) and a model whose every parameter is random (layer
norms, biases, learned positions and the logits bias included, so a wrong mapping shows), with
encoder and decoder of different depths, head counts and widths.
"""
import io
import json
import os
import shutil
import tempfile

import numpy as np
import sentencepiece as spm

TEXTS = ["the king said to his people", "and the people went to the city", "in the beginning was the word",
         "he saw the light and it was good", "el rey dijo a su pueblo", "y el pueblo fue a la ciudad",
         "en el principio era el verbo", "vio la luz y era buena", "le roi dit à son peuple",
         "et le peuple alla à la ville", "au commencement était la parole", "der König sprach zu seinem Volk"]
# family -> (model_type, Transformers tokenizer class, the codes a test translates between)
FAMILIES = {"nllb": ("m2m_100", "NllbTokenizer", ("eng_Latn", "spa_Latn")),
            "m2m100": ("m2m_100", "M2M100Tokenizer", ("en", "es")),
            "mbart50": ("mbart", "MBart50Tokenizer", ("en_XX", "es_XX")),
            "mbart": ("mbart", "MBartTokenizer", ("en_XX", "es_XX"))}
SHAPES = dict(d_model=32, encoder_layers=2, decoder_layers=3, encoder_attention_heads=4, decoder_attention_heads=2,
              encoder_ffn_dim=64, decoder_ffn_dim=48, max_position_embeddings=128)


def spm_bpe(vocab_size: int = 160) -> bytes:
    """A sentencepiece BPE model with sentencepiece's default ids (<unk> 0, <s> 1, </s> 2), as NLLB's."""
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(sentence_iterator=iter(TEXTS * 5), model_writer=model, vocab_size=vocab_size,
                                   model_type="bpe", hard_vocab_limit=False, minloglevel=2, num_threads=1,
                                   character_coverage=1.0)
    return model.getvalue()


def make_tokenizer(family: str, directory: str, proto: bytes):
    """The family's Transformers tokenizer over `proto`, saved into `directory` (and returned)."""
    import transformers
    _, cls_name, _ = FAMILIES[family]
    with tempfile.TemporaryDirectory() as tmp:
        with open(os.path.join(tmp, "sentencepiece.bpe.model"), "wb") as f:
            f.write(proto)
        if family == "m2m100":  # vocab.json: fairseq's four specials, then the pieces
            sp = spm.SentencePieceProcessor(model_proto=proto)
            vocab = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3}
            for i in range(3, sp.get_piece_size()):
                vocab.setdefault(sp.id_to_piece(i), len(vocab))
            with open(os.path.join(tmp, "vocab.json"), "w") as f:
                json.dump(vocab, f)
            tok = transformers.M2M100Tokenizer(vocab_file=os.path.join(tmp, "vocab.json"),
                                               spm_file=os.path.join(tmp, "sentencepiece.bpe.model"))
        elif family == "nllb":  # from a bare sentencepiece model, v5 leaves out the codes unless named
            from transformers.models.nllb.tokenization_nllb import FAIRSEQ_LANGUAGE_CODES
            tok = transformers.NllbTokenizer.from_pretrained(tmp, additional_special_tokens=FAIRSEQ_LANGUAGE_CODES)
        else:
            tok = getattr(transformers, cls_name).from_pretrained(tmp)
        tok.save_pretrained(directory)
    return tok


def model_config(family: str, vocab_size: int, **overrides):
    import transformers
    model_type = FAMILIES[family][0]
    common = dict(vocab_size=vocab_size, pad_token_id=1, bos_token_id=0, eos_token_id=2, decoder_start_token_id=2,
                  dropout=0.1, attention_dropout=0.0, activation_dropout=0.0, **SHAPES)
    common.update(overrides)
    if model_type == "m2m_100":
        return transformers.M2M100Config(**{"activation_function": "relu", "scale_embedding": True, **common})
    return transformers.MBartConfig(**{"activation_function": "gelu", "scale_embedding": False, **common})


def randomize(model, seed: int, scale: float = 0.3):
    """Noise on every parameter (init leaves biases 0, norms 1 and mBART's logits bias 0)."""
    import torch
    torch.manual_seed(seed)
    with torch.no_grad():
        for _, p in model.named_parameters():
            p.add_(torch.randn_like(p) * scale)
        if hasattr(model, "final_logits_bias"):
            model.final_logits_bias.copy_(torch.randn_like(model.final_logits_bias) * scale)
    return model


def make(family: str, directory: str, seed: int = 0, extra_rows: int = 3, keep_spm: bool = False,
         **config_overrides):
    """(model, tokenizer): a random `family` model saved as a Hugging Face folder in `directory`. The
    model has `extra_rows` more embedding rows than the tokenizer has ids, as real checkpoints may."""
    import transformers
    os.makedirs(directory, exist_ok=True)
    proto = spm_bpe()
    tok = make_tokenizer(family, directory, proto)
    if keep_spm:  # as Hub folders saved before tokenizer.json existed hold it (mBART-50's)
        with open(os.path.join(directory, "sentencepiece.bpe.model"), "wb") as f:
            f.write(proto)
    ids = max(tok.get_vocab().values()) + 1
    if family == "m2m100":  # M2M100Tokenizer's vocabulary leaves out its language codes and made-up words
        ids = len(tok.encoder) + len(tok.lang_code_to_id) + tok.num_madeup_words
    config = model_config(family, ids + extra_rows, **config_overrides)
    cls = (transformers.M2M100ForConditionalGeneration if FAMILIES[family][0] == "m2m_100"
           else transformers.MBartForConditionalGeneration)
    model = randomize(cls(config).eval(), seed)
    model.save_pretrained(directory)
    return model, tok


def copy_without(src: str, dst: str, *names: str) -> str:
    """A copy of folder `src` at `dst` without the named files (for the bad-input tests)."""
    shutil.copytree(src, dst)
    for name in names:
        os.remove(os.path.join(dst, name))
    return dst


def as_np(x) -> np.ndarray:
    return x.detach().numpy() if hasattr(x, "detach") else np.asarray(x)
