"""Tokenizers of pretrained Hugging Face translation models (NLLB-200, M2M100, mBART-25/50) behind
xling's tokenizer interface, so that an imported model translates, scores and trains like any run.

`xling import hf` copies the model's tokenizer files into the workdir and writes `hf_tokenizer.json`:
which convention builds its sequences, the ids of its special tokens and language codes, and the
model's vocabulary size. Segmentation comes from the files themselves: `tokenizer.json` through the
`tokenizers` library (what Transformers v5 runs for NLLB and mBART), or, for M2M100, its
sentencepiece model with `vocab.json` mapping pieces to ids.

Conventions (`CONVENTIONS`): where the language codes go around the text of a source and of a
target, and what the decoder starts from. NLLB, M2M100 and mBART-50 write `[code] text </s>` on
both sides and start decoding from `</s>` with the target code forced first; NLLB's legacy mode
puts the source code last; mBART-25 writes `text </s> [code]` and starts decoding from the target
code itself (its `shift_tokens_right` wraps the last token around).
"""
import os
import re
from collections.abc import Sequence

import numpy as np

from xling_jax.data.marian_vocab import read_json
from xling_jax.data.sequences import Sequences
from xling_jax.errors import UserError

FILENAME = "hf_tokenizer.json"
TOKENIZER_JSON, TOKENIZER_CONFIG, SPM, VOCAB_JSON, T5_SPM = (
    "tokenizer.json", "tokenizer_config.json", "sentencepiece.bpe.model", "vocab.json", "spiece.model")
# Files copied from a Hugging Face folder into the workdir (and back on export) where present.
FILES = (TOKENIZER_JSON, TOKENIZER_CONFIG, "special_tokens_map.json", SPM, VOCAB_JSON, T5_SPM, "added_tokens.json")

# name -> (source template, target template, decoder start): "{src}"/"{tgt}" are language codes,
# "{eos}" the EOS token, "$text" the text; a decoder start of None is the model's decoder_start_id.
CONVENTIONS = {
    "nllb": (("{src}", "$text", "{eos}"), ("{tgt}", "$text", "{eos}"), None),
    # NllbTokenizer(legacy_behaviour=True) puts the code last on the source; the model still writes
    # `[code] text </s>` after its `</s>` start, as fairseq trained it.
    "nllb_legacy": (("$text", "{eos}", "{src}"), ("{tgt}", "$text", "{eos}"), None),
    "m2m100": (("{src}", "$text", "{eos}"), ("{tgt}", "$text", "{eos}"), None),
    "mbart50": (("{src}", "$text", "{eos}"), ("{tgt}", "$text", "{eos}"), None),
    "mbart": (("$text", "{eos}", "{src}"), ("$text", "{eos}", "{tgt}"), "{tgt}"),
    # The T5 family names languages in the text (data.task_prefix), not with codes; ByT5 reads bytes.
    "t5": (("$text", "{eos}"), ("$text", "{eos}"), None),
    "byt5": (("$text", "{eos}"), ("$text", "{eos}"), None),
}
TOKENIZER_CLASSES = {"NllbTokenizer": "nllb", "M2M100Tokenizer": "m2m100", "MBart50Tokenizer": "mbart50",
                     "MBartTokenizer": "mbart", "T5Tokenizer": "t5", "ByT5Tokenizer": "byt5"}
T5_TYPES = ("t5", "mt5", "umt5")
# Language codes as the added tokens of each convention spell them.
CODE_PATTERNS = {"nllb": r"[a-z]{3}_[A-Z][a-z]{3}", "m2m100": r"__[A-Za-z]{2,3}(_[A-Za-z0-9]+)?__",
                 "mbart": r"[a-z]{2}_[A-Z]{2}"}
CODE_PATTERNS.update(nllb_legacy=CODE_PATTERNS["nllb"], mbart50=CODE_PATTERNS["mbart"])
# M2M100Tokenizer does not save its language codes: `language_codes` in tokenizer_config.json names
# fairseq's list, whose tokens `__xx__` take the ids after vocab.json's, in this order.
M2M100_LANGUAGES = {
    "m2m100": "af am ar ast az ba be bg bn br bs ca ceb cs cy da de el en es et fa ff fi fr fy ga gd gl gu ha he hi "
              "hr ht hu hy id ig ilo is it ja jv ka kk km kn ko lb lg ln lo lt lv mg mk ml mn mr ms my ne nl no ns "
              "oc or pa pl ps pt ro ru sd si sk sl so sq sr ss su sv sw ta th tl tn tr uk ur uz vi wo xh yi yo zh zu",
    "wmt21": "en ha is ja cs ru zh de"}


def exists(directory: str) -> bool:
    return os.path.isfile(os.path.join(directory, FILENAME))


def convention_of(hf_dir: str, model_type: str, tok_config: dict) -> str:
    """The convention of a Hugging Face folder, from its tokenizer_config.json (else its model_type)."""
    cls = str(tok_config.get("tokenizer_class") or "").removesuffix("Fast")
    name = TOKENIZER_CLASSES.get(cls)
    if name is None and cls:
        raise UserError(f"{hf_dir}: tokenizer_class {cls!r} is not one xling reads for {model_type!r} models "
                        f"(it reads {', '.join(TOKENIZER_CLASSES)})")
    if name is None:  # no tokenizer_config.json: what the model type implies
        name = "t5" if model_type in T5_TYPES else {"mbart": "mbart", "m2m_100": "m2m100"}[model_type]
        if name == "m2m100" and os.path.isfile(os.path.join(hf_dir, TOKENIZER_JSON)):
            name = "nllb"  # M2M100Tokenizer has no tokenizer.json; NLLB's has
    if name == "nllb" and tok_config.get("legacy_behaviour"):
        name = "nllb_legacy"
    return name


def with_tokenizer_json(hf_dir: str, tok_config: dict, scratch: str) -> str:
    """The folder to read the tokenizer from: `hf_dir`, or, where it has only a sentencepiece model for a
    tokenizer Transformers v5 runs through the tokenizers library (mBART-50's Hub folder), `scratch`
    holding what Transformers converts it to (tokenizer.json), with the interop extra installed."""
    if (os.path.isfile(os.path.join(hf_dir, TOKENIZER_JSON)) or os.path.isfile(os.path.join(hf_dir, VOCAB_JSON))
            or str(tok_config.get("tokenizer_class")) == "ByT5Tokenizer"):
        return hf_dir
    spm_file = next((f for f in (SPM, T5_SPM) if os.path.isfile(os.path.join(hf_dir, f))), None)
    if spm_file is None:
        return hf_dir  # describe() says what is missing
    try:
        import transformers
    except ImportError:
        raise UserError(f"{hf_dir} has {spm_file} but no tokenizer.json; xling converts it with Transformers: pip "
                        "install 'xling_jax[interop]' (or save the tokenizer with a current Transformers first)") from None
    try:
        transformers.AutoTokenizer.from_pretrained(hf_dir).save_pretrained(scratch)
    except Exception as e:
        raise UserError(f"Transformers cannot convert the tokenizer of {hf_dir} ({type(e).__name__}: "
                        f"{str(e).splitlines()[0][:200]})") from None
    return scratch


def _language_tokens(convention: str, tok_config: dict, added: dict[str, int], base_size: int) -> dict[str, int]:
    """{language code token: id}: the listed special tokens (additional/extra_special_tokens) that are
    language codes, else every added token spelled like one; M2M100's from its named fairseq list;
    none for the T5 family (its languages are named in the text)."""
    if convention not in CODE_PATTERNS:
        return {}
    pattern = re.compile(CODE_PATTERNS[convention])
    if convention == "m2m100" and not any(pattern.fullmatch(t) for t in added):
        names = M2M100_LANGUAGES.get(tok_config.get("language_codes", "m2m100"))
        if names is None:
            raise UserError(f"tokenizer_config.json has language_codes={tok_config.get('language_codes')!r}; "
                            f"xling knows {', '.join(M2M100_LANGUAGES)}")
        return {f"__{code}__": base_size + i for i, code in enumerate(names.split())}
    listed = tok_config.get("additional_special_tokens") or tok_config.get("extra_special_tokens") or []
    listed = [t["content"] if isinstance(t, dict) else t for t in listed]
    codes = {t: added[t] for t in listed if t in added and pattern.fullmatch(t)}
    return codes or {t: i for t, i in added.items() if pattern.fullmatch(t)}


def describe(hf_dir: str, model_type: str, model_vocab_size: int, language_map: dict | None = None) -> dict:
    """The content of hf_tokenizer.json for a Hugging Face folder (UserError where files are missing)."""
    tok_config_path = os.path.join(hf_dir, TOKENIZER_CONFIG)
    tok_config = read_json(tok_config_path) if os.path.isfile(tok_config_path) else {}
    convention = convention_of(hf_dir, model_type, tok_config)
    if convention == "byt5":  # UTF-8 bytes after the special tokens; the sentinels after the bytes
        backend = "bytes"
        added = {v["content"]: int(k) for k, v in tok_config.get("added_tokens_decoder", {}).items()}
        added = added or {"<pad>": 0, "</s>": 1, "<unk>": 2}
        base_size = None
    elif os.path.isfile(os.path.join(hf_dir, TOKENIZER_JSON)):
        backend = "tokenizers"
        added = {t["content"]: t["id"] for t in read_json(os.path.join(hf_dir, TOKENIZER_JSON)).get("added_tokens", [])}
        base_size = None
    elif all(os.path.isfile(os.path.join(hf_dir, f)) for f in (SPM, VOCAB_JSON)):
        backend = "sentencepiece"
        vocab = read_json(os.path.join(hf_dir, VOCAB_JSON))
        added = {v["content"]: int(k) for k, v in tok_config.get("added_tokens_decoder", {}).items()}
        added = {**{t: i for t, i in vocab.items() if t.startswith("<") and t.endswith(">")}, **added}
        base_size = len(vocab)
    else:
        raise UserError(f"{hf_dir} has no tokenizer.json (nor {SPM} with {VOCAB_JSON}): xling reads the "
                        "tokenizer from those files; save it with a current Transformers "
                        "(AutoTokenizer.from_pretrained(DIR).save_pretrained(DIR)) and import again")
    specials = {}
    for role, default in (("eos", "</s>"), ("pad", "<pad>"), ("unk", "<unk>")):
        token = tok_config.get(f"{role}_token") or default
        token = token["content"] if isinstance(token, dict) else token
        if token not in added:
            raise UserError(f"{hf_dir}: the tokenizer has no {role} token {token!r}")
        specials[role] = added[token]
    languages = _language_tokens(convention, tok_config, added, base_size or 0)
    if not languages and convention in CODE_PATTERNS:
        raise UserError(f"{hf_dir}: the tokenizer has no language codes ({convention} convention); xling needs "
                        "the multilingual tokenizer the model was trained with")
    too_big = [t for t, i in languages.items() if i >= model_vocab_size]
    if too_big:
        raise UserError(f"{hf_dir}: language code {too_big[0]} has id {languages[too_big[0]]}, beyond the model's "
                        f"vocabulary of {model_vocab_size}")
    source, target, start = CONVENTIONS[convention]
    if backend == "bytes":  # the bytes follow the special tokens that precede them
        byte_offset = 1 + max(i for i in added.values() if i < 256)
        if byte_offset + 256 > model_vocab_size:
            raise UserError(f"{hf_dir}: a byte vocabulary needs {byte_offset + 256} ids; the model has {model_vocab_size}")
    return {"convention": convention, "backend": backend, "source": list(source), "target": list(target),
            "byte_offset": byte_offset if backend == "bytes" else None,
            "decoder_start": start, "vocab_size": model_vocab_size, "eos_id": specials["eos"],
            "pad_id": specials["pad"], "unk_id": specials["unk"], "special_tokens": added,
            "languages": languages, "language_map": dict(language_map or {})}


def code_of(token: str, convention: str) -> str:
    """The language code a token spells: `__en__` -> `en`, `eng_Latn` -> itself."""
    return token[2:-2] if convention == "m2m100" else token


class HFVocab(Sequences):
    """Encodes text to ids (no special tokens) and decodes ids (stopping at EOS), like `Tokenizer`;
    builds sources and targets with the model's language codes (`source_affixes`, `target_affixes`)."""

    def __init__(self, directory: str):
        self.path = directory
        self.info = read_json(os.path.join(directory, FILENAME))
        self.convention = self.info["convention"]
        self.pad_id, self.eos_id, self.unk_id = (self.info[k] for k in ("pad_id", "eos_id", "unk_id"))
        self._codes = {code_of(t, self.convention): i for t, i in self.info["languages"].items()}
        self._special_ids = set(self.info["special_tokens"].values()) | set(self._codes.values())
        self._resolved: dict[str, str] = {}
        if self.info["backend"] == "tokenizers":
            from tokenizers import Tokenizer as RustTokenizer
            self._tok = RustTokenizer.from_file(os.path.join(directory, TOKENIZER_JSON))
            self._pieces = None
        elif self.info["backend"] == "bytes":
            self._tok = self._pieces = None
            self._offset = self.info["byte_offset"]
            self._added = {i: t for t, i in self.info["special_tokens"].items()}
        else:
            import sentencepiece as spm
            self._sp = spm.SentencePieceProcessor(model_file=os.path.join(directory, SPM))
            vocab = read_json(os.path.join(directory, VOCAB_JSON))
            self._ids = vocab
            self._pieces = {i: p for p, i in vocab.items()}
            self._pieces.update({i: t for t, i in self.info["special_tokens"].items()})
            self._pieces.update({i: t for t, i in self.info["languages"].items()})

    # --- sizes and special ids -------------------------------------------------------------------
    @property
    def vocab_size(self) -> int:
        """The model's vocabulary (embedding rows), which may exceed the tokenizer's."""
        return self.info["vocab_size"]

    @property
    def target_vocab_size(self) -> int:
        return self.vocab_size

    def languages(self) -> list[str]:
        """The model's language codes (`eng_Latn`, `en_XX`, `en` for M2M100's `__en__`)."""
        return list(self._codes)

    def language_code(self, lang: str) -> str:
        """The model's code for `lang`: one of its own codes, a mapped one (tokenizer.language_map), or an
        ISO 639-1/639-3 code (`en`, `eng`, `zh_Hant`) that names exactly one of them. A model without
        codes (the T5 family) takes any ISO 639 code: its text names the language."""
        if not self._codes:
            if _iso639_3(_split_code(lang)[0])[0] is None:
                raise UserError(f"language {lang!r} is no ISO 639 code")
            return lang
        if lang not in self._resolved:
            self._resolved[lang] = resolve_language(lang, list(self._codes), self.info.get("language_map", {}))
        return self._resolved[lang]

    def tag_id(self, lang: str) -> int:
        try:
            return self._codes[self.language_code(lang)]
        except UserError:
            raise KeyError(lang) from None

    def symbol_id(self, piece: str, why: str = "an imported Hugging Face vocabulary has only its own symbols") -> int:
        i = self.info["special_tokens"].get(piece)
        if i is None:
            raise UserError(f"the vocabulary {self.path} has no {piece} symbol: {why}")
        return i

    # --- sequences -------------------------------------------------------------------------------
    def _fill(self, template: Sequence[str], lang_ids: dict) -> tuple[list[int], list[int]]:
        ids = {"{eos}": self.eos_id, **lang_ids}
        cut = template.index("$text")
        return [ids[t] for t in template[:cut]], [ids[t] for t in template[cut + 1:]]

    def source_affixes(self, src_lang: str, tgt_lang: str) -> tuple[list[int], list[int]]:
        """(ids before, ids after) the text of a source."""
        return self._fill(self.info["source"], {"{src}": self._id(src_lang), "{tgt}": self._id(tgt_lang)})

    def target_affixes(self, tgt_lang: str) -> tuple[list[int], list[int]]:
        """(ids before, ids after) the text of a target: the prefix is forced when decoding and not
        scored; the suffix ends with or follows EOS."""
        return self._fill(self.info["target"], {"{tgt}": self._id(tgt_lang)})

    def decoder_start_id(self, tgt_lang: str) -> int | None:
        """The first decoder input for `tgt_lang` (mBART-25: its code); None: the model's decoder_start_id."""
        start = self.info["decoder_start"]
        return None if start is None else self._fill([start, "$text"], {"{tgt}": self._id(tgt_lang)})[0][0]

    def _id(self, lang: str) -> int:
        return self._codes[self.language_code(lang)] if self._codes else -1  # T5: no code in any template

    def source_prefix(self, tgt_lang: str) -> list[int]:
        """What starts a denoising task's source: nothing in the T5 family (its pretraining had no tags);
        models with language codes build sources their own way, which those tasks do not know."""
        if not self._codes:
            self.language_code(tgt_lang)
            return []
        raise UserError("this task builds its own sources with target-language tags, which an imported Hugging "
                        "Face vocabulary lacks: train translation (tasks=('translation:1',)) on it")

    # --- text ------------------------------------------------------------------------------------
    def encode_batch(self, texts: Sequence[str]) -> list[list[int]]:
        texts = [t.encode("utf-8", errors="replace").decode("utf-8") for t in texts]  # lone surrogates
        if self.info["backend"] == "bytes":
            return [[b + self._offset for b in t.encode("utf-8")] for t in texts]
        if self._pieces is None:
            return [e.ids for e in self._tok.encode_batch(texts, add_special_tokens=False)]
        return [[self._ids.get(p, self.unk_id) for p in pieces] for pieces in self._sp.encode(texts, out_type=str)]

    def encode(self, text: str) -> list[int]:
        return self.encode_batch([text])[0]

    def encode_target(self, text: str) -> list[int]:
        return self.encode(text)

    def pieces(self, ids: Sequence[int], target: bool = False) -> list[str]:
        if self.info["backend"] == "bytes":
            return [self._added.get(int(i)) or (repr(bytes([int(i) - self._offset]))[2:-1]
                                                if 0 <= int(i) - self._offset < 256 else f"<{int(i)}>") for i in ids]
        if self._pieces is None:
            return [self._tok.id_to_token(int(i)) or f"<{int(i)}>" for i in ids]
        return [self._pieces.get(int(i), f"<{int(i)}>") for i in ids]

    def decode(self, ids: Sequence[int] | np.ndarray) -> str:
        ids = [int(i) for i in ids]
        if self.eos_id in ids:
            ids = ids[:ids.index(self.eos_id)]
        ids = [i for i in ids if i not in self._special_ids]
        if self._pieces is not None:  # as M2M100Tokenizer: an id beyond its vocabulary reads "<unk>"
            out, run = [], []
            for i in ids:
                if i in self._pieces:
                    run.append(self._pieces[i])
                else:
                    out.append(self._sp.decode_pieces(run) + "<unk>")
                    run = []
            return ("".join(out) + self._sp.decode_pieces(run)).strip()
        if self.info["backend"] == "bytes":  # as ByT5Tokenizer: bytes that are not UTF-8 are dropped
            return bytes(i - self._offset for i in ids if 0 <= i - self._offset < 256).decode("utf-8", "ignore")
        return self._tok.decode(ids, skip_special_tokens=True).strip()


# ---------------------------------------------------------------------------------------------
# Language codes.

def _split_code(code: str) -> tuple[str, str]:
    """(language, script or region) of `eng_Latn`, `en_XX`, `zh-Hant`, `pt`."""
    lang, _, rest = code.replace("-", "_").partition("_")
    return lang.lower(), rest


def _iso639_3(lang: str) -> tuple[str | None, str | None]:
    """(ISO 639-3 code, its macrolanguage's) of a 2- or 3-letter code; Nones where unknown."""
    from iso639 import Lang
    from iso639.exceptions import DeprecatedLanguageValue, InvalidLanguageValue
    try:
        found = Lang(lang)
    except DeprecatedLanguageValue as e:  # merged codes (NLLB's ajp, now apc): the one it became
        try:
            found = Lang(e.change_to) if getattr(e, "change_to", None) else None
        except (InvalidLanguageValue, DeprecatedLanguageValue):
            found = None
        if found is None:
            return None, None
    except InvalidLanguageValue:
        return None, None
    macro = found.macro()
    return found.pt3 or None, (macro.pt3 if macro else None)


def resolve_language(lang: str, codes: list[str], language_map: dict | None = None) -> str:
    """The one code of `codes` that `lang` names (see HFVocab.language_code); UserError otherwise."""
    if lang in codes:
        return lang
    mapped = (language_map or {}).get(lang)
    if mapped:
        if mapped not in codes:
            raise UserError(f"tokenizer.language_map maps {lang!r} to {mapped!r}, which this model lacks")
        return mapped
    base, detail = _split_code(lang)
    want, _ = _iso639_3(base)
    if want is None:
        raise UserError(f"language {lang!r} is neither one of this model's codes (e.g. {', '.join(codes[:3])}) "
                        "nor an ISO 639 code")
    exact, members = [], []
    for code in codes:
        c_base, c_detail = _split_code(code)
        pt3, macro = _iso639_3(c_base)
        if pt3 == want:
            exact.append((code, c_detail))
        elif macro == want:
            members.append((code, c_detail))
    found = exact or members
    if detail:  # zh_Hant, pt_BR: the script or region must match too
        found = [(c, d) for c, d in found if d.lower() == detail.lower()]
    if len(found) == 1:
        return found[0][0]
    if not found:
        raise UserError(f"this model has no language {lang!r}; its codes include {', '.join(codes[:8])}... "
                        f"({len(codes)} in all)")
    raise UserError(f"language {lang!r} is ambiguous for this model: pass one of {', '.join(c for c, _ in found)} "
                    "(or map it with tokenizer.language_map)")
