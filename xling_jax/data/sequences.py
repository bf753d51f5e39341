"""What every tokenizer class shares (tokenizer.py, marian_vocab.py, hf_vocab.py): whole sources and
targets from texts, with data.task_prefix filled in before a source's text."""
from xling_jax.errors import UserError


def language_name(code: str) -> str:
    """The English name of an ISO 639 code (`de` -> German, `pt_BR` -> Portuguese), for task prefixes."""
    # iso639 reads its language tables on import: only task prefixes with {src}/{tgt} need them.
    from iso639 import Lang
    from iso639.exceptions import DeprecatedLanguageValue, InvalidLanguageValue
    base = code.replace("-", "_").split("_", 1)[0]
    try:
        return Lang(base).name.split(";")[0].split(" (")[0]
    except (InvalidLanguageValue, DeprecatedLanguageValue):
        raise UserError(f"data.task_prefix names languages, and {code!r} is no ISO 639 code; write the prefix "
                        "without {src}/{tgt} or use {src_code}/{tgt_code}") from None


def task_text(template: str, src_lang: str | None, tgt_lang: str) -> str:
    """data.task_prefix filled in: {src}/{tgt} English language names ("translate {src} to {tgt}: " ->
    "translate English to German: ", as T5 was trained), {src_code}/{tgt_code} the codes."""
    if not template:
        return ""
    names = {k: language_name(v) for k, v in (("src", src_lang), ("tgt", tgt_lang))
             if v and "{" + k + "}" in template}
    try:
        return template.format(src_code=src_lang or "", tgt_code=tgt_lang, **names)
    except (KeyError, IndexError, ValueError) as e:
        raise UserError(f"data.task_prefix {template!r}: use only {{src}}, {{tgt}}, {{src_code}}, {{tgt_code}} "
                        f"({type(e).__name__}: {e})") from None


class Sequences:
    """Whole sources and targets from texts, for every tokenizer class: the affixes around the ids,
    and `task_prefix` (data.task_prefix, e.g. T5's "translate {src} to {tgt}: ") before a source's text."""
    task_prefix = ""

    def encode_sources(self, texts, src_lang: str | None, tgt_lang: str, after_prefix=()) -> list[list[int]]:
        """Source ids of each text; `after_prefix` (e.g. the <BT> tag) follows the vocabulary's prefix."""
        prefix, suffix = self.source_affixes(src_lang, tgt_lang)
        prefix = prefix + list(after_prefix)
        lead = task_text(self.task_prefix, src_lang, tgt_lang)
        return [prefix + ids + suffix for ids in self.encode_batch([lead + t for t in texts])]

    def check_sampling(self) -> None:
        """A UserError unless the vocabulary can sample segmentations (`encode_sampled`, subword
        regularisation): the sentencepiece ones override this."""
        raise UserError(f"tokenizer.sampling_alpha > 0 samples segmentations of a unigram sentencepiece model, "
                        f"which the vocabulary of {self.path} is not: set tokenizer.sampling_alpha=0")

    def encode_targets(self, texts, tgt_lang: str) -> list[list[int]]:
        prefix, suffix = self.target_affixes(tgt_lang)
        return [prefix + self.encode_target(t) + suffix for t in texts]
