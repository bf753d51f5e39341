"""`xling attention`: cross-attention heat maps of one translated text, to PNG."""
import hashlib
import os
import sys

from xling_jax.errors import UserError


def add_parser(sub, add_decode_flags) -> None:
    at = sub.add_parser("attention", help="cross-attention heat maps (decoder layers x heads, source vs target "
                                          "pieces) of one translated text, to PNG",
                        description="Translates TEXT with the run (its config.decode, or the decoding flags), "
                                    "runs the model teacher-forced on the text and its translation, and draws "
                                    "the decoder's cross-attention weights: one row per layer, one column per "
                                    "head and their mean. Prints the PNG's path.")
    at.add_argument("text", help="the source text")
    at.add_argument("--workdir", required=True)
    at.add_argument("--src", required=True, help="source language code")
    at.add_argument("--tgt", required=True, help="target language code")
    at.add_argument("--out", default=None, help="PNG to write (default: WORKDIR/attention/SRC-TGT_HASH.png)")
    at.add_argument("--step", default=None, help="checkpoint step, or `best` (default: latest)")
    at.add_argument("--layers", default="", help="comma-separated decoder layers to draw, from 0 (default: all)")
    at.add_argument("--heads", default="", help="comma-separated heads to draw, from 0 (default: all)")
    at.add_argument("--translation", default=None, help="attend over this translation (e.g. a reference) "
                                                       "instead of the model's own")
    add_decode_flags(at)


def _indices(text: str, flag: str) -> list[int]:
    try:
        return [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise UserError(f"{flag} {text!r}: give comma-separated numbers from 0, e.g. {flag} 0,2") from None


def default_out(workdir: str, src: str, tgt: str, text: str) -> str:
    digest = hashlib.sha1(text.encode("utf-8")).hexdigest()[:8]
    return os.path.join(workdir, "attention", f"{src}-{tgt}_{digest}.png")


def cmd_attention(args, step, apply_decode_flags) -> None:
    from xling_jax.data import mixture
    from xling_jax.evaluation import attention, attention_plot
    from xling_jax.training.load import load_run
    layers, heads = _indices(args.layers, "--layers"), _indices(args.heads, "--heads")
    run = load_run(args.workdir, step)
    mixture.check_known(run.config.data, [("--src", args.src), ("--tgt", args.tgt)], run.tokenizer)
    apply_decode_flags(args, run.config.decode)
    att = attention.cross_attention(run, args.text, args.tgt, args.translation, src_lang=args.src)
    path = attention_plot.save(att, args.out or default_out(run.workdir, args.src, args.tgt, args.text), layers, heads)
    print(f"translation: {att.translation}", file=sys.stderr)
    print(path)
