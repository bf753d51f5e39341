"""Cross-attention of a translation: which source pieces each target piece attended to.

The text is translated with the run's decode config, then the model runs teacher-forced on
(source, translation) once more with the "intermediates" collection mutable, in which each
Attention module records its softmax weights (flax `sow`; nothing is recorded otherwise).
`xling attention` draws them (evaluation/attention_plot.py).
"""
import dataclasses
import functools
import re

import jax
import jax.numpy as jnp
import numpy as np
from flax import traverse_util

from xling_jax.decoding.translate import MAX_SOURCE_LEN, Translator
from xling_jax.errors import UserError

WEIGHTS = "attention_weights"  # the name the model's Attention modules sow their weights under
CROSS = "cross_attention"  # the decoder layers' cross-attention modules


@dataclasses.dataclass
class CrossAttention:
    """The decoder's cross-attention weights for one sentence pair."""
    source_pieces: list[str]  # S: target tag, the text's pieces, </s>
    target_pieces: list[str]  # T: the translation's pieces and </s>, each the piece predicted at that row
    layers: list[str]  # L decoder layer names (param paths, e.g. "decoder_0")
    weights_LxHxTxS: np.ndarray  # each row a distribution over the source pieces
    translation: str


def _layer_order(name: str):
    """decoder_2 before decoder_10."""
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name)]


def cross_attention_weights(params, src_BxS, tgt_in_BxT, *, model) -> dict[str, jax.Array]:
    """{decoder layer name: weights BxHxTxS (float32)} of a teacher-forced pass on (src, tgt_in).

    Padding (the model's pad id) in src gets weight 0; every target row sums to 1."""
    _, state = model.apply({"params": params}, src_BxS, tgt_in_BxT, mutable=["intermediates"])
    flat = traverse_util.flatten_dict(state.get("intermediates", {}))
    # sow appends to a tuple: one entry per call, and each module runs once in a teacher-forced pass.
    return {"/".join(path[:-2]): value[0] for path, value in flat.items() if path[-2:] == (CROSS, WEIGHTS)}


def _source_affixes(tokenizer, src_lang: str | None, tgt_lang: str) -> tuple[list[int], list[int]]:
    try:
        return tokenizer.source_affixes(src_lang, tgt_lang)
    except KeyError:
        raise UserError(f"the model has no target tag for {tgt_lang!r}; its languages: "
                        f"{', '.join(tokenizer.languages()) or 'none'}") from None


def teacher_forcing_ids(tokenizer, text: str, translation: str, tgt_lang: str, decoder_start_id: int,
                        src_lang: str | None = None):
    """(source ids S, decoder input ids T, target ids T): the source as `xling translate` encodes it
    (e.g. target tag, pieces, </s>) and the target (with any forced language code) shifted right behind
    the decoder's start id (the vocabulary's for the language, else the model's)."""
    _source_affixes(tokenizer, src_lang, tgt_lang)  # the language check
    src, = tokenizer.encode_sources([text], src_lang, tgt_lang)
    tgt, = tokenizer.encode_targets([translation], tgt_lang)
    start = tokenizer.decoder_start_id(tgt_lang)
    return src, [decoder_start_id if start is None else start] + tgt[:-1], tgt


def cross_attention(run, text: str, tgt_lang: str, translation: str | None = None,
                    src_lang: str | None = None) -> CrossAttention:
    """The cross-attention of `run` (a training.load.Run) on `text` (in `src_lang`) and its translation
    into `tgt_lang`: the model's own (run.config.decode) unless `translation` is given (e.g. a reference)."""
    if not text.strip():
        raise UserError("give a non-empty text to translate")
    _source_affixes(run.tokenizer, src_lang, tgt_lang)  # an unknown language fails before any decoding
    if translation is None:
        translator = Translator(run.model, run.params, run.tokenizer, run.config.decode)
        translation = translator.translate([text], tgt_lang, src_lang=src_lang)[0]
    src, tgt_in, tgt = teacher_forcing_ids(run.tokenizer, text, translation, tgt_lang, run.model.cfg.decoder_start_id,
                                           src_lang)
    if len(src) > MAX_SOURCE_LEN:
        raise UserError(f"the text has {len(src)} pieces; give at most {MAX_SOURCE_LEN} (a heat map that size is "
                        "unreadable anyway)")
    fn = jax.jit(functools.partial(cross_attention_weights, model=run.model))
    by_layer = fn(run.params, jnp.asarray([src], jnp.int32), jnp.asarray([tgt_in], jnp.int32))
    if not by_layer:
        raise UserError(f"model.name={run.config.model.name!r} records no cross-attention weights")
    layers = sorted(by_layer, key=_layer_order)
    weights_LxHxTxS = np.stack([np.asarray(by_layer[name])[0] for name in layers])
    return CrossAttention(run.tokenizer.pieces(src), run.tokenizer.pieces(tgt, target=True), layers,
                          weights_LxHxTxS, translation)
