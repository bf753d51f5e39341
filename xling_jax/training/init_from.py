"""Fine-tuning from another run: full or partial restore of its params, with a report.

`config.init_from.workdir` names an xling run (or a model imported from Marian); its vocabulary
becomes this run's. `include`/`exclude` are regular expressions matched at the start of param
paths such as `encoder_0/self_attention/query/kernel`: only included, not excluded params that
exist in both models are loaded; the rest keep their fresh initialisation.
"""
import filecmp
import os
import re
import shutil

import jax
import numpy as np
from flax import traverse_util

from xling_jax import log
from xling_jax.data import hf_vocab, marian_vocab
from xling_jax.data import tokenizer as tokenizer_lib
from xling_jax.errors import UserError
from xling_jax.training.load import load_run

logger = log.get_logger(__name__)


def path_matches(path: str, patterns) -> bool:
    return any(re.match(p, path) for p in patterns)


def partial_restore(fresh, source, include=(), exclude=()) -> tuple[dict, dict]:
    """(params, report): `fresh` with the selected params of `source` put in.

    The report lists paths `loaded`, `new` (kept from `fresh`) and `ignored` (in `source` but not
    loaded). A selected param whose shape differs is an error, not a silent re-initialisation."""
    flat_fresh = traverse_util.flatten_dict(fresh, sep="/")
    flat_source = traverse_util.flatten_dict(source, sep="/")
    out, loaded, mismatched = {}, [], []
    for path, value in flat_fresh.items():
        take = path in flat_source and (not include or path_matches(path, include)) and not path_matches(path, exclude)
        if take and flat_source[path].shape != value.shape:
            mismatched.append(f"{path} {tuple(flat_source[path].shape)} -> {tuple(value.shape)}")
            take = False
        out[path] = flat_source[path] if take else value
        if take:
            loaded.append(path)
    if mismatched:
        raise UserError("cannot load params whose shapes differ (exclude them or change the model config): " +
                        "; ".join(mismatched[:5]) + (f" and {len(mismatched) - 5} more" if len(mismatched) > 5 else ""))
    report = {"loaded": loaded, "new": [p for p in flat_fresh if p not in loaded],
              "ignored": [p for p in flat_source if p not in loaded]}
    return traverse_util.unflatten_dict(out, sep="/"), report


def _vocabulary_files(workdir: str) -> list[str]:
    if os.path.isfile(os.path.join(workdir, tokenizer_lib.FILENAME)):
        return [tokenizer_lib.FILENAME]
    if hf_vocab.exists(workdir):  # an imported Hugging Face model: its tokenizer files and conventions
        return [f for f in hf_vocab.FILES + (hf_vocab.FILENAME,) if os.path.isfile(os.path.join(workdir, f))]
    return [f for f in marian_vocab.FILES + (marian_vocab.TARGET_VOCAB, marian_vocab.TOKENIZER_CONFIG)
            if os.path.isfile(os.path.join(workdir, f))]


def adopt_vocabulary(source_workdir: str, workdir: str) -> None:
    """Copies the source run's vocabulary into a new run; a run that has another one is refused."""
    files = _vocabulary_files(source_workdir)
    if not files:
        raise UserError(f"init_from.workdir {source_workdir} has no vocabulary (tokenizer.model); is it a run?")
    if tokenizer_lib.exists(workdir):
        same = set(_vocabulary_files(workdir)) == set(files) and all(
            filecmp.cmp(os.path.join(source_workdir, f), os.path.join(workdir, f), shallow=False) for f in files)
        if not same:
            raise UserError(f"vocabulary mismatch: {workdir} has another vocabulary than init_from.workdir "
                            f"{source_workdir}; fine-tune in a new workdir (the source's vocabulary is copied there)")
        return
    for f in files:
        shutil.copy(os.path.join(source_workdir, f), os.path.join(workdir, f))


def _count(params: dict, paths) -> int:
    flat = traverse_util.flatten_dict(params, sep="/")
    return int(sum(np.prod(flat[p].shape) for p in paths))


def _summarise(paths: list[str]) -> str:
    """Paths grouped by their first component: `encoder_0 (16), decoder_embedder (1)`."""
    groups: dict[str, int] = {}
    for p in paths:
        groups[p.split("/")[0]] = groups.get(p.split("/")[0], 0) + 1
    return ", ".join(f"{g} ({n})" for g, n in groups.items()) or "none"


def format_report(report: dict, fresh: dict, source: dict, source_workdir: str, step) -> str:
    return "\n".join([
        f"Initialised from {source_workdir} (step {step}):",
        f"  loaded {len(report['loaded'])} tensors, {_count(fresh, report['loaded']):,} params: "
        f"{_summarise(report['loaded'])}",
        f"  newly initialised {len(report['new'])} tensors, {_count(fresh, report['new']):,} params: "
        f"{_summarise(report['new'])}",
        f"  ignored {len(report['ignored'])} tensors, {_count(source, report['ignored']):,} params: "
        f"{_summarise(report['ignored'])}"])


def restore_into(fresh_params, config, workdir: str) -> dict:
    """The params a new fine-tuning run starts from; prints and saves (init_from.json) the report."""
    import json
    ic = config.init_from
    step = int(ic.step) if str(ic.step).isdigit() else (ic.step or None)
    source = load_run(ic.workdir, step)
    params, report = partial_restore(jax.device_get(fresh_params), jax.device_get(source.params), ic.include,
                                     ic.exclude)
    if not report["loaded"]:
        raise UserError(f"init_from loaded nothing from {ic.workdir}: check init_from.include/exclude")
    text = format_report(report, params, jax.device_get(source.params), source.workdir, source.step)
    if jax.process_index() == 0:
        logger.info(text)
        with open(os.path.join(workdir, "init_from.json"), "w", encoding="utf-8") as f:
            json.dump({"workdir": source.workdir, "step": source.step, **report}, f, indent=1)
    return params
