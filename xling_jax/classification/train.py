"""The classification run: `classify_and_evaluate(config, workdir)`, importable from Colab.

Trains the classifier on cls-train in `classify.train_languages` (resuming from WORKDIR's latest
checkpoint), scores dev every `eval_every` steps in every `classify.eval_languages` (the best
params by dev accuracy in the training languages go to WORKDIR/best), then scores
`classify.eval_split` with the `classify.select` params: WORKDIR/classify_results.json and a
table per language.

With `init_from.workdir` (a translation or pretraining run) the encoder starts from that run's:
its vocabulary is copied and its model section replaces this config's (so that the shapes match),
except the dropout rates, which are this run's choice.
"""
import functools
import json
import os

import jax
import numpy as np

from xling_jax import log
from xling_jax.classification import batches, data, evaluate, steps
from xling_jax.data import catalog
from xling_jax.data import tokenizer as tokenizer_lib
from xling_jax.data.libreoffice.corpus import LANGUAGES
from xling_jax.errors import UserError
from xling_jax.model.classifier import build_classifier
from xling_jax.training import checkpoints, host_malloc, init_from, loop, numerics, optimizer
from xling_jax.training import mesh as mesh_lib
from xling_jax.training import train as train_lib
from xling_jax.training import workdir as workdir_lib
from xling_jax.training.train import train_tokenizer
from xling_jax.training.validate import validate

logger = log.get_logger(__name__)

LABELS_FILE = "classify_labels.json"  # marks a classification workdir: the task and its classes
# Keys that must not change when a run resumes: they decide what the checkpoints were trained on.
FIXED = ("seed", "tokenizer", "model", "classify.pooling", "classify.tag_language", "classify.max_len",
         "classify.train_languages", "classify.train_limit")
_DROPOUT_KEYS = ("dropout_rate", "attention_dropout_rate")


def check_config(config) -> None:
    """One clear error per bad classify key (the shared model/train keys: training/validate.py)."""
    validate(config)
    if config.model.name != "transformer" and not config.init_from.workdir:  # a source run's model: checked on load
        raise UserError(f"xling classify needs model.name='transformer' (its encoder), got {config.model.name!r}")
    if config.train.grad_accum_steps != 1:  # the classifier's batches are small: not implemented there
        raise UserError(f"xling classify trains whole batches; set train.grad_accum_steps=1 "
                        f"(got {config.train.grad_accum_steps}) and a smaller train.batch_size if memory is short")
    cc = config.classify
    data.check_languages("classify.train_languages", cc.train_languages)
    data.check_languages("classify.eval_languages", cc.eval_languages)
    if cc.eval_split not in ("dev", "test"):
        raise UserError(f"classify.eval_split must be 'dev' or 'test', got {cc.eval_split!r}")
    if cc.select not in ("best", "last"):
        raise UserError(f"classify.select must be 'best' or 'last', got {cc.select!r}")
    for key in ("max_len", "eval_batch_size"):
        if cc[key] <= 0:
            raise UserError(f"classify.{key} must be positive, got {cc[key]}")
    if cc.max_len < 3:
        raise UserError(f"classify.max_len={cc.max_len} leaves no room for text after the tag and EOS")
    for key in ("train_limit", "eval_limit"):
        if cc[key] < 0:
            raise UserError(f"classify.{key} must be 0 (all) or positive, got {cc[key]}")


def adopt_source_model(config) -> None:
    """With init_from.workdir: config.model becomes the source run's, keeping this config's dropout."""
    if not config.init_from.workdir:
        return
    source = workdir_lib.load_config(os.path.abspath(os.path.expanduser(config.init_from.workdir)))
    dropout = {k: config.model[k] for k in _DROPOUT_KEYS}
    config.model = source.model
    config.model.update(dropout)


def setup_tokenizer(config, workdir: str, records) -> tokenizer_lib.Tokenizer:
    """WORKDIR's vocabulary; without one, a sentencepiece model trained on cls-train text in all five
    languages (unlabelled text: the zero-shot languages get pieces, not labels)."""
    if not tokenizer_lib.exists(workdir):
        train_tokenizer(config, workdir, data.tokenizer_texts(records), LANGUAGES)
    return tokenizer_lib.load(workdir)


def text_prefix(tokenizer, lang: str) -> list[int]:
    """The ids in front of every text: the tag of `lang` as a translation target (classify.tag_language)."""
    if not lang:
        return []
    try:
        return tokenizer.source_prefix(lang)
    except KeyError:
        raise UserError(f"classify.tag_language {lang!r} has no tag in the vocabulary; use one of "
                        f"{', '.join(tokenizer.languages())} or '' (no tag)") from None


def _check_kind(workdir: str) -> None:
    """A workdir with checkpoints but no LABELS_FILE holds another kind of run (translation)."""
    if checkpoints.saved_steps(workdir) and not os.path.isfile(os.path.join(workdir, LABELS_FILE)):
        raise UserError(f"{workdir} holds checkpoints of another kind of run (no {LABELS_FILE}); classify in a "
                        "new --workdir (set --config.init_from.workdir to start from that run's encoder)")


def _write_labels(workdir: str, config) -> None:
    if jax.process_index() == 0:
        with open(os.path.join(workdir, LABELS_FILE), "w", encoding="utf-8") as f:
            json.dump({"dataset": data.DATASET, "labels": list(data.MODULES),
                       "tag_language": config.classify.tag_language, "pooling": config.classify.pooling}, f, indent=1)


class _Predictor:
    """Predicted labels of token rows: each process feeds its slice of a batch; all get every label."""

    def __init__(self, model, mesh):
        self.mesh = mesh
        self._fn = jax.jit(functools.partial(steps.predict_step, model=model),
                           out_shardings=mesh_lib.replicated(mesh))

    def __call__(self, params, tokens_BxS):
        local = _local_rows({"tokens": tokens_BxS})
        return jax.device_get(self._fn(params, mesh_lib.global_batch(local, self.mesh)["tokens"]))


def _local_rows(batch: dict) -> dict:
    """This process's contiguous share of a global batch (padded to one length for all processes)."""
    n = len(next(iter(batch.values()))) // jax.process_count()
    start = jax.process_index() * n
    return {k: v[start:start + n] for k, v in batch.items()}


def score(predictor, params, tokenizer, prefix, records, languages, config) -> dict:
    """evaluate.per_language of `params` on `records`."""
    cc = config.classify

    def predict_records(have, lang):
        rows = batches.encode(tokenizer, [r[lang] for r in have], prefix, cc.max_len)
        return evaluate.predict(lambda t: predictor(params, t), rows, cc.eval_batch_size, tokenizer.pad_id,
                                cc.max_len)
    return evaluate.per_language(predict_records, records, languages)


def _eval_records(records, split: str, config) -> list[dict]:
    cc = config.classify
    return data.subsample(data.unseen_records(records, split, cc.train_languages), cc.eval_limit, config.seed)


def classify_and_evaluate(config, workdir: str) -> dict:
    """Trains (or resumes) and evaluates; returns what it writes to WORKDIR/classify_results.json."""
    host_malloc.tune()
    check_config(config)
    cc = config.classify
    workdir = workdir_lib.prepare(workdir)
    data_dir = catalog.ensure_built(data.DATASET, config.data.data_dir or None)
    records = data.all_records(data_dir)
    mesh, rules = mesh_lib.make_mesh(config.mesh), mesh_lib.parse_rules(config.mesh.rules)
    mesh_lib.check_batch_size(config.train.batch_size, mesh)
    if cc.eval_batch_size % mesh_lib.batch_splits(mesh) or cc.eval_batch_size % jax.process_count():
        raise UserError(f"classify.eval_batch_size={cc.eval_batch_size} is not divisible by both the batch-parallel "
                        f"size {mesh_lib.batch_splits(mesh)} and the {jax.process_count()} processes")
    adopt_source_model(config)
    _check_kind(workdir)
    workdir_lib.save_config(workdir, config, FIXED)  # refuses a changed FIXED key before anything is written
    _write_labels(workdir, config)
    fine_tune = bool(config.init_from.workdir) and not checkpoints.saved_steps(workdir)
    if fine_tune:
        init_from.adopt_vocabulary(os.path.abspath(os.path.expanduser(config.init_from.workdir)), workdir)
    tokenizer = setup_tokenizer(config, workdir, records)
    prefix = text_prefix(tokenizer, cc.tag_language)

    train_records = data.split_records(records, "train")
    examples = [ex for lang in cc.train_languages
                for ex in data.subsample(data.examples(train_records, lang), cc.train_limit, config.seed)]
    rows = batches.encode(tokenizer, [ex.text for ex in examples], prefix, cc.max_len)
    labels = np.array([ex.label for ex in examples], np.int32)
    lengths = np.array([len(r) for r in rows])
    if len(rows) < config.train.batch_size:
        raise UserError(f"{len(rows)} training texts are fewer than train.batch_size={config.train.batch_size}; "
                        "lower it or raise classify.train_limit")
    dev_records = _eval_records(records, "dev", config)

    model = build_classifier(config.model, tokenizer, len(data.MODULES), cc.pooling)
    tx = optimizer.make_optimizer(config.train)
    replicated = mesh_lib.replicated(mesh)
    init_fn = functools.partial(steps.init_state, model=model, tx=tx)
    shardings = mesh_lib.state_shardings(jax.eval_shape(init_fn, jax.random.key(0)),
                                         model.param_axes(np.zeros((1, 8), np.int32)), mesh, rules)
    init = jax.jit(init_fn, out_shardings=shardings)
    train_step = jax.jit(mesh_lib.with_rules(functools.partial(
        steps.train_step, model=model, tx=tx, schedule=optimizer.schedule(config.train),
        label_smoothing=config.train.label_smoothing), mesh, rules),
        out_shardings=(shardings, replicated), donate_argnums=(0,))
    nan_steps = numerics.nan_steps_array(config.debug.nan_steps)
    predictor = _Predictor(model, mesh)
    mngr = checkpoints.manager(workdir, config.keep_checkpoints)
    init_rng, step_rng = jax.random.split(jax.random.key(config.seed))
    state = train_lib.resume_or_init(config, workdir, mngr, init, init_rng, fine_tune, shardings.params)
    n_params = sum(x.size for x in jax.tree.leaves(state.params))

    def step(state, i):
        idx = batches.train_indices(lengths, config.train.batch_size, i, config.seed)
        batch = {"tokens": batches.pad([rows[j] for j in idx], tokenizer.pad_id, max_len=cc.max_len),
                 "labels": labels[idx]}
        return train_step(state, mesh_lib.global_batch(_local_rows(batch), mesh), step_rng, nan_steps=nan_steps)

    def dev_accuracy(params):
        dev = score(predictor, params, tokenizer, prefix, dev_records, cc.eval_languages, config)
        return _dev_row(dev, cc.train_languages)

    task = loop.Task(step, tokens=lambda fetched: sum(float(m["tokens"]) for m in fetched),
                     guard_keys=("accuracy", "grad_norm"),
                     evaluators=[loop.Evaluator("dev_accuracy", loop.every(config, "dev_accuracy"), dev_accuracy)], select="dev_accuracy")
    header = (f"{n_params / 1e6:.1f}M params on {mesh.devices.size} device(s); {len(rows):,} training texts "
              f"({', '.join(cc.train_languages)}), {len(dev_records):,} dev records")
    selected = train_lib.run_and_select(task, state, workdir, mngr, config, header, cc.select, init, init_rng,
                                        shardings.params)
    if selected is None:
        return {}
    params, step = selected
    eval_records = _eval_records(records, cc.eval_split, config)
    results = {
        "split": cc.eval_split, "step": step, "select": cc.select, "pooling": cc.pooling,
        "train_languages": list(cc.train_languages), "train_examples": len(rows),
        "init_from": config.init_from.workdir, "records": len(eval_records),
        "majority": evaluate.majority(train_records, eval_records, cc.eval_languages),
        "languages": score(predictor, params, tokenizer, prefix, eval_records, cc.eval_languages, config)}
    if jax.process_index() == 0:
        with open(os.path.join(workdir, evaluate.RESULTS_FILE), "w", encoding="utf-8") as f:
            json.dump(results, f, indent=1)
        logger.info(evaluate.format_table(results))
    return results


def _dev_row(dev: dict, train_languages) -> dict:
    """dev_accuracy (mean over the training languages: the selection score) and one per language."""
    row = {"dev_accuracy": float(np.mean([dev[lang]["accuracy"] for lang in train_languages]))}
    row.update({f"dev_accuracy/{lang}": r["accuracy"] for lang, r in dev.items()})
    return row

