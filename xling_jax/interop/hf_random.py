"""Random pretrained-style Hugging Face models, built offline: a stand-in for a Hub checkpoint where
none can be downloaded (the tests, colab/pretrained.ipynb without the internet).

`make_random(family, directory)` writes a folder like a Hub checkpoint of that family: config.json,
model.safetensors and the tokenizer files Transformers saves, with a tokenizer built from a small
sentencepiece BPE model (fairseq-style ids, the family's language codes) and a model whose every
parameter is random (layer norms, biases, learned positions and the logits bias included, so a wrong
mapping shows), with encoder and decoder of different depths, head counts and widths. `xling import
hf` reads it like the real thing; what it translates is noise.

Needs Transformers and PyTorch (the `interop` extra; Colab has both), imported only when called.
"""
import io
import json
import os
import tempfile

from xling_jax.errors import UserError

TEXTS = ["the king said to his people", "and the people went to the city", "in the beginning was the word",
         "he saw the light and it was good", "el rey dijo a su pueblo", "y el pueblo fue a la ciudad",
         "en el principio era el verbo", "vio la luz y era buena", "le roi dit à son peuple",
         "et le peuple alla à la ville", "au commencement était la parole", "der König sprach zu seinem Volk"]
# family -> (model_type, Transformers tokenizer class, two of its language codes: English, Spanish)
FAMILIES = {"nllb": ("m2m_100", "NllbTokenizer", ("eng_Latn", "spa_Latn")),
            "m2m100": ("m2m_100", "M2M100Tokenizer", ("en", "es")),
            "mbart50": ("mbart", "MBart50Tokenizer", ("en_XX", "es_XX")),
            "mbart": ("mbart", "MBartTokenizer", ("en_XX", "es_XX")),
            # The T5 family names languages in its text (no codes): original T5 (ReLU, tied output scaled
            # by d_model^-0.5), T5 v1.1 and mT5 (gated GELU, untied), umT5 (a relative table per layer),
            # ByT5 (bytes, no vocabulary).
            "t5": ("t5", "T5Tokenizer", ("en", "es")),
            "t5v1_1": ("t5", "T5Tokenizer", ("en", "es")),
            "mt5": ("mt5", "T5Tokenizer", ("en", "es")),
            "umt5": ("umt5", "T5Tokenizer", ("en", "es")),
            "byt5": ("t5", "ByT5Tokenizer", ("en", "es"))}
SHAPES = dict(d_model=32, encoder_layers=2, decoder_layers=3, encoder_attention_heads=4, decoder_attention_heads=2,
              encoder_ffn_dim=64, decoder_ffn_dim=48, max_position_embeddings=128)
# heads x d_kv (48) != d_model; small relative tables so that short texts reach the logarithmic buckets.
T5_SHAPES = dict(d_model=32, d_kv=12, num_heads=4, d_ff=64, num_layers=2, num_decoder_layers=3,
                 relative_attention_num_buckets=16, relative_attention_max_distance=20)
T5_EXTRA_IDS = 10  # sentinels <extra_id_0..9> at the end of the vocabulary


def _transformers():
    try:
        import torch  # noqa: F401  (the models below are PyTorch's)
        import transformers
    except ImportError as e:
        raise UserError(f"building a random Hugging Face model needs Transformers and PyTorch ({e}); "
                        "pip install 'xling_jax[interop]'") from None
    return transformers


def spm_bpe(vocab_size: int = 160, texts=TEXTS) -> bytes:
    """A sentencepiece BPE model with sentencepiece's default ids (<unk> 0, <s> 1, </s> 2), as NLLB's."""
    import sentencepiece as spm
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(sentence_iterator=iter(list(texts) * 5), model_writer=model,
                                   vocab_size=vocab_size, model_type="bpe", hard_vocab_limit=False, minloglevel=2,
                                   num_threads=1, character_coverage=1.0)
    return model.getvalue()


def spm_t5(vocab_size: int = 160, texts=TEXTS) -> bytes:
    """A sentencepiece unigram model with T5's ids (<pad> 0, </s> 1, <unk> 2, no <s>)."""
    import sentencepiece as spm
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(sentence_iterator=iter(list(texts) * 5), model_writer=model,
                                   vocab_size=vocab_size, model_type="unigram", hard_vocab_limit=False, minloglevel=2,
                                   num_threads=1, character_coverage=1.0, pad_id=0, eos_id=1, unk_id=2, bos_id=-1)
    return model.getvalue()


def make_tokenizer(family: str, directory: str, proto: bytes):
    """The family's Transformers tokenizer over `proto`, saved into `directory` (and returned)."""
    import sentencepiece as spm
    transformers = _transformers()
    _, cls_name, _ = FAMILIES[family]
    # The tokenizers-backed class where there is one: Transformers v5's only class (the names are
    # aliases there); under v4 the one that saves tokenizer.json, which xling reads.
    cls = getattr(transformers, cls_name + "Fast", None) or getattr(transformers, cls_name)
    if family == "byt5":
        tok = transformers.ByT5Tokenizer(extra_ids=T5_EXTRA_IDS)
        tok.save_pretrained(directory)
        return tok
    with tempfile.TemporaryDirectory() as tmp:
        with open(os.path.join(tmp, "spiece.model" if FAMILIES[family][1] == "T5Tokenizer"
                               else "sentencepiece.bpe.model"), "wb") as f:
            f.write(proto)
        if FAMILIES[family][1] == "T5Tokenizer":
            tok = cls.from_pretrained(tmp, extra_ids=T5_EXTRA_IDS)
        elif family == "m2m100":  # vocab.json: fairseq's four specials, then the pieces
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
            tok = cls.from_pretrained(tmp, additional_special_tokens=FAIRSEQ_LANGUAGE_CODES)
        else:
            tok = cls.from_pretrained(tmp)
        tok.save_pretrained(directory)
    return tok


def model_config(family: str, vocab_size: int, **overrides):
    """The family's Transformers config at SHAPES (`overrides`: any config field)."""
    transformers = _transformers()
    model_type = FAMILIES[family][0]
    if model_type in ("t5", "mt5", "umt5"):
        t5 = dict(vocab_size=vocab_size, dropout_rate=0.1, pad_token_id=0, eos_token_id=1, decoder_start_token_id=0,
                  feed_forward_proj="relu" if family == "t5" else "gated-gelu", **T5_SHAPES)
        t5.update(overrides)
        return {"t5": transformers.T5Config, "mt5": transformers.MT5Config, "umt5": transformers.UMT5Config}[
            model_type](**t5)
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


def make_random(family: str, directory: str, seed: int = 0, extra_rows: int = 3, keep_spm: bool = False,
                **config_overrides):
    """(Transformers model, tokenizer): a random model of `family` ("nllb", "m2m100", "mbart50" or
    "mbart") saved as a Hugging Face folder in `directory`, at SHAPES unless `config_overrides` say
    otherwise. The model has `extra_rows` more embedding rows than the tokenizer has ids, as real
    checkpoints may. `keep_spm` also writes the sentencepiece model, as Hub folders saved before
    tokenizer.json existed hold it (mBART-50's)."""
    if family not in FAMILIES:
        raise ValueError(f"family {family!r}: one of {', '.join(FAMILIES)}")
    transformers = _transformers()
    os.makedirs(directory, exist_ok=True)
    t5 = FAMILIES[family][0] in ("t5", "mt5", "umt5")
    proto = spm_t5() if t5 else spm_bpe()
    tok = make_tokenizer(family, directory, proto)
    if keep_spm:
        with open(os.path.join(directory, "sentencepiece.bpe.model"), "wb") as f:
            f.write(proto)
    ids = max(tok.get_vocab().values()) + 1
    if family == "m2m100":  # M2M100Tokenizer's vocabulary leaves out its language codes and made-up words
        ids = len(tok.encoder) + len(tok.lang_code_to_id) + tok.num_madeup_words
    config = model_config(family, ids + extra_rows, **config_overrides)
    cls = {"m2m_100": transformers.M2M100ForConditionalGeneration, "mbart": transformers.MBartForConditionalGeneration,
           "t5": transformers.T5ForConditionalGeneration, "mt5": transformers.MT5ForConditionalGeneration,
           "umt5": transformers.UMT5ForConditionalGeneration}[FAMILIES[family][0]]
    import torch
    torch.manual_seed(seed)  # Transformers' own initialisation too: the same seed, the same model
    # T5's attention is not scaled and its init is wide (embeddings std 1): less noise keeps its logits in
    # the range trained models have, where float32 rounding stays far below the 1e-4 compared.
    model = randomize(cls(config).eval(), seed, scale=0.05 if t5 else 0.3)
    bars = transformers.utils.logging.is_progress_bar_enabled()
    transformers.utils.logging.disable_progress_bar()  # no "Writing model shards" bar for a file of a few KB
    try:
        model.save_pretrained(directory)
    finally:
        if bars:
            transformers.utils.logging.enable_progress_bar()
    if t5 and family != "t5":  # T5 v1.1, mT5, umT5, ByT5: an output projection of their own
        untie_output(directory, seed)
        model = cls.from_pretrained(directory).eval()
    return model, tok


def untie_output(directory: str, seed: int) -> None:
    """Gives a saved T5-family model an lm_head of its own (Transformers v5 ties it to the shared
    embedding when it builds one, whatever the config says, and unties it when a checkpoint holds
    both): the checkpoint gets a random lm_head.weight and a config that says so."""
    import torch
    from safetensors.torch import load_file, save_file
    path = os.path.join(directory, "model.safetensors")
    weights = load_file(path)
    torch.manual_seed(seed + 1000)
    weights["lm_head.weight"] = torch.randn_like(weights["shared.weight"]) * 0.3
    save_file(weights, path, metadata={"format": "pt"})
    with open(os.path.join(directory, "config.json")) as f:
        config = json.load(f)
    config.update(tie_word_embeddings=False, scale_decoder_outputs=False)
    with open(os.path.join(directory, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
