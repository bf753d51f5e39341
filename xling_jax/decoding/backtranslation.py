"""Offline back-translation (Sennrich et al. 2016), tagged (Caswell et al. 2019).

`backtranslate` translates monolingual text in TGT (the language the final model writes) into SRC
with a trained run and builds the pairs as the dataset `parallel_text/NAME`, its SRC side marked
`synthetic`. Named in a mixture (`parallel_text/NAME:SRC-TGT`), its sources get `<BT>` after the
target-language tag (data.bt_tag), `data.bt_ratio` sets its share of the pairs, and it is never
reversed nor scored (see data/mixture.py). OUT holds the line-aligned files `train.SRC` and
`train.TGT` (what the dataset is built from) and `backtranslation.json`: what made them.
"""
import datetime
import hashlib
import json
import os

from xling_jax.data import catalog, mixture, user_build
from xling_jax.data.parallel_text import readers
from xling_jax.decoding.translate import Translator
from xling_jax.errors import UserError

PROVENANCE = "backtranslation.json"


def monolingual_lines(path: str) -> list[str]:
    """The non-empty lines of `path`, cleaned as parallel_text cleans them, so that the built
    targets are exactly the texts that were translated."""
    if not os.path.isfile(path):
        raise UserError(f"--input {path} does not exist")
    lines = [readers.clean(line)[0] for line in mixture.read_lines(path)]
    lines = [line for line in lines if line]
    if not lines:
        raise UserError(f"--input {path} has no text to back-translate")
    return lines


def build_options(out_dir: str, src: str, tgt: str) -> dict:
    """parallel_text build options of the pairs in OUT (also the config.data.sources entry to rebuild them)."""
    return {"languages": [src, tgt], "synthetic": src,
            "train": [os.path.join(out_dir, f"train.{lang}") for lang in (src, tgt)]}


def backtranslate(run, src: str, tgt: str, input_path: str, out_dir: str, name: str | None = None,
                  data_dir: str | None = None, progress=None, warn=None) -> dict:
    """Translates INPUT (TGT text) into SRC with `run`, writes OUT and builds parallel_text/NAME
    (NAME: OUT's folder name by default) in the data directory; returns the provenance record."""
    if src == tgt:
        raise UserError(f"--src and --tgt are both {src!r}")
    mixture.check_known(run.config.data, [("--src", src), ("--tgt", tgt)], run.tokenizer)
    out_dir = os.path.abspath(os.path.expanduser(out_dir))
    name = user_build.check_name(name or os.path.basename(out_dir), "parallel_text")  # before hours of decoding
    input_path = os.path.abspath(os.path.expanduser(input_path))
    lines = monolingual_lines(input_path)
    dc = run.config.decode
    if dc.nbest != 1:
        raise UserError("back-translation keeps one translation per line: leave out --nbest")
    # An empty synthetic source teaches nothing (and parallel_text would drop the pair).
    dc.min_len = max(dc.min_len, 1)
    hyps = Translator(run.model, run.params, run.tokenizer, dc).translate(lines, src, progress, warn, src_lang=tgt)
    hyps = [readers.clean(h.replace("\n", " "))[0] for h in hyps]

    os.makedirs(out_dir, exist_ok=True)
    options = build_options(out_dir, src, tgt)
    for path, texts in zip(options["train"], (hyps, lines)):
        with open(path, "w", encoding="utf-8") as f:
            f.writelines(t + "\n" for t in texts)
    ref = f"parallel_text/{name}"
    data_dir = catalog.resolve_data_dir(data_dir)
    built = catalog.Dataset(ref, catalog.build(ref, data_dir, options=options))
    with open(input_path, "rb") as f:
        input_sha1 = hashlib.sha1(f.read()).hexdigest()
    record = {
        "dataset": ref, "data_dir": data_dir, "mixture_entry": f"{ref}:{src}-{tgt}", "synthetic": src,
        "src": src, "tgt": tgt, "input": input_path, "input_sha1": input_sha1,
        "lines": len(lines), "pairs": len(built.pair_index("train", src, tgt)),
        "empty_translations": sum(not h for h in hyps),
        "model": {"workdir": run.workdir, "step": run.step},
        "decode": {k: dc[k] for k in ("method", "beam_size", "alpha", "temperature", "top_k", "top_p", "seed",
                                      "max_len_a", "max_len_b", "min_len", "batch_size")},
        "sources": options, "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
    with open(os.path.join(out_dir, PROVENANCE), "w", encoding="utf-8") as f:
        json.dump(record, f, indent=2)
    return record
