"""The retrieval run: `retrieval_and_evaluate(config, workdir)`, importable from Colab; `xling train`
runs it for config.tasks = ("retrieval:1",).

A dual encoder (one `Embedder`, shared by both sides) is trained on the training pairs of the data plan
of config.data (any dataset or mixture, data.train_pairs respected) with in-batch negatives and an
additive margin (objectives/contrastive.py; config.retrieval.margin and .scale), resuming from WORKDIR's
latest checkpoint, batches and all (retrieval/batches.py). Every `eval_every` steps (evals.dev_p1.every)
it scores P@1 of dev retrieval (`retrieval.evaluate.aligned_p1`, at most retrieval.eval_limit pairs) in
one direction per language pair of the plan: `dev_p1`, the mean over those pairs of the margin-scored
P@1 (both ways), selects WORKDIR/best (`dev_p1/PAIR` per pair and `dev_p1_cosine` are logged beside
it). Margin scoring (Artetxe & Schwenk 2019) rather than cosine: it is what search and mining use, and
it discounts hub vectors close to everything. At the end the `retrieval.select` params (best or last)
are scored the same way on `retrieval.eval_split`: WORKDIR/retrieval_results.json. Evaluations embed
whole texts (decoding/embed.py's Encoder, as `xling retrieve` does); training cuts them to
retrieval.max_len (retrieval/batches.py).

WORKDIR/retrieval.json (retrieval/load.py's MARKER) marks the run and holds its pooling and tag
language, so that `load_encoder` (and `xling embed/retrieve/mine`) embed as it was trained. With
`init_from.workdir` (a translation or pretraining run, or an imported model) the encoder starts from
that run's: its vocabulary is copied and its model section replaces this config's (the dropout rates
stay this config's), as in classification.
"""
import functools
import json
import os

import jax
import numpy as np

from xling_jax import log
from xling_jax.classification.train import adopt_source_model
from xling_jax.data import catalog
from xling_jax.data import plan as data_plan
from xling_jax.data import tokenizer as tokenizer_lib
from xling_jax.data.prefetch import Prefetch
from xling_jax.decoding import embed
from xling_jax.errors import UserError
from xling_jax.model.embedder import build_embedder
from xling_jax.model.pooling import POOLINGS
from xling_jax.retrieval import batches, evaluate, steps
from xling_jax.retrieval.load import MARKER, is_retrieval_run
from xling_jax.training import checkpoints, host_malloc, init_from, loop, numerics, optimizer
from xling_jax.training import mesh as mesh_lib
from xling_jax.training import train as train_lib
from xling_jax.training import workdir as workdir_lib
from xling_jax.training.validate import validate

logger = log.get_logger(__name__)

RESULTS_FILE = "retrieval_results.json"
# Keys that must not change when a run resumes: they decide what the checkpoints were trained on.
FIXED = ("seed", "data", "tokenizer", "model", "retrieval.pooling", "retrieval.tag_language", "retrieval.max_len")
SCORE = "margin"  # the scoring of dev_p1 and of the results' `p1` ("cosine" is reported beside it)


def check_config(config) -> None:
    """One clear error per bad retrieval key (the shared model/train keys: training/validate.py)."""
    if config.model.name != "transformer" and not config.init_from.workdir:  # a source run's model: checked on load
        raise UserError(f"a retrieval run needs model.name='transformer' (its encoder), got {config.model.name!r}")
    validate(config, retrieval=True)
    if config.train.grad_accum_steps != 1:  # microbatches would each see fewer negatives: not the same loss
        raise UserError(f"a retrieval run's negatives are the whole batch; set train.grad_accum_steps=1 (got "
                        f"{config.train.grad_accum_steps}) and a smaller train.batch_size if memory is short")
    if config.train.batch_size < 2:
        raise UserError(f"train.batch_size={config.train.batch_size}: a retrieval batch needs at least 2 pairs "
                        "(each pair's negatives are the others)")
    if jax.process_count() > 1:
        raise UserError("a retrieval run evaluates on one process; run it with one process (any number of devices)")
    rc = config.retrieval
    if rc.pooling not in POOLINGS:
        raise UserError(f"retrieval.pooling must be one of {', '.join(map(repr, POOLINGS))}, got {rc.pooling!r}")
    if not 0.0 <= rc.margin < 2.0:
        raise UserError(f"retrieval.margin must be in [0, 2) (subtracted from a cosine), got {rc.margin}")
    if rc.scale <= 0:
        raise UserError(f"retrieval.scale must be positive (it multiplies the cosines), got {rc.scale}")
    if rc.max_len < 3:
        raise UserError(f"retrieval.max_len={rc.max_len} leaves no room for text after the tag and EOS")
    if rc.eval_limit < 0:
        raise UserError(f"retrieval.eval_limit must be 0 (all) or positive, got {rc.eval_limit}")
    if rc.eval_split not in ("dev", "test"):
        raise UserError(f"retrieval.eval_split must be 'dev' or 'test', got {rc.eval_split!r}")
    if rc.select not in ("best", "last"):
        raise UserError(f"retrieval.select must be 'best' or 'last', got {rc.select!r}")
    if rc.eval_batch_size <= 0:
        raise UserError(f"retrieval.eval_batch_size must be positive, got {rc.eval_batch_size}")


def _check_kind(workdir: str) -> None:
    """A workdir with checkpoints but no MARKER holds another kind of run (translation, classification)."""
    if checkpoints.saved_steps(workdir) and not os.path.isfile(os.path.join(workdir, MARKER)):
        raise UserError(f"{workdir} holds checkpoints of another kind of run (no {MARKER}); train the retrieval task "
                        "in a new --workdir (set --config.init_from.workdir to start from that run's encoder)")


def _check_model(config) -> None:
    m = config.model  # the source run's where init_from adopted it
    if m.get("positions") == "learned" and config.retrieval.max_len + m.position_offset > m.max_len:
        raise UserError(f"retrieval.max_len={config.retrieval.max_len} (+ model.position_offset={m.position_offset}) "
                        f"exceeds the learned position table model.max_len={m.max_len}")


def eval_directions(plan: data_plan.DataPlan) -> list:
    """One evaluated direction per dataset and unordered language pair (retrieval scores both ways)."""
    out = {}
    for d in plan.evaluated:
        out.setdefault((d.dataset, frozenset((d.src, d.tgt))), d)
    return list(out.values())


def _check_eval_splits(plan: data_plan.DataPlan, directions, eval_split: str) -> None:
    """Every scored pair has aligned sentences in dev and eval_split (else an error now, not after training)."""
    for d in directions:
        ds = catalog.open_dataset(d.dataset, plan.data_dir)
        for split in dict.fromkeys(("dev", eval_split)):
            ds.split_name(split)  # a UserError naming the splits it has
            if not len(ds.pair_index(split, d.src, d.tgt)):
                raise UserError(f"{d.dataset} has no {d.src}-{d.tgt} pairs in its {split} split: retrieval cannot be "
                                "scored there; train on directions that have some")


def score(encoder, params, directions, plan: data_plan.DataPlan, split: str, limit: int) -> dict:
    """{direction key: aligned_p1's row} of `params` on `split` (at most `limit` pairs each)."""
    encoder.params = params
    out = {}
    for d in directions:
        row, = evaluate.aligned_p1(encoder, d.dataset, split, [(d.src, d.tgt)], plan.data_dir, limit=limit).values()
        out[d.key(plan.qualified)] = row
    return out


def _mean(rows: dict, scoring: str) -> float:
    return float(np.mean([r[scoring]["mean"] for r in rows.values()]))


def _dev_row(rows: dict) -> dict:
    """dev_p1 (the selection score: mean margin P@1 over the pairs), its cosine twin, and one per pair."""
    row = {"dev_p1": _mean(rows, SCORE), "dev_p1_cosine": _mean(rows, "cosine")}
    if len(rows) > 1:
        row.update({f"dev_p1/{key}": r[SCORE]["mean"] for key, r in rows.items()})
    return row


def _write_marker(workdir: str, config, tag_lang: str, plan: data_plan.DataPlan) -> None:
    if jax.process_index() == 0:
        dc = config.data
        info = {"pooling": config.retrieval.pooling, "tag_language": tag_lang,
                "dataset": list(dc.mixture) if dc.mixture else dc.name,
                "directions": [d.key(True) for d in plan.directions]}
        with open(os.path.join(workdir, MARKER), "w", encoding="utf-8") as f:
            json.dump(info, f, indent=1)


def _check_tag_language(config, workdir: str, plan: data_plan.DataPlan) -> None:
    """Every language of the plan frames as a source into the tag language (embed.frame) with the run's
    vocabulary (WORKDIR's, init_from's, or the one to be trained: a tag per language of the plan): an
    error now, before config.json fixes retrieval.tag_language."""
    tag = config.retrieval.tag_language
    source = os.path.abspath(os.path.expanduser(config.init_from.workdir)) if config.init_from.workdir else ""
    vocabulary = workdir if tokenizer_lib.exists(workdir) else source
    if not vocabulary:  # setup_tokenizer's vocabulary: the tags of the plan's languages
        known = sorted(set(plan.languages) | {lang for _, lang in plan.monolingual})
        if tag and tag not in known:
            raise UserError(f"retrieval.tag_language={tag!r} is none of the run's languages ({', '.join(known)}), which "
                            "alone get tags in its vocabulary; pick one ('': English where known, else the first)")
        return
    tokenizer = tokenizer_lib.load(vocabulary)
    tag = embed.tag_language(tokenizer, tag or None)
    for lang in plan.languages:
        try:
            tokenizer.source_affixes(lang, tag)
        except KeyError as e:
            raise UserError(f"the vocabulary of {vocabulary} has no language {e.args[0]!r} (retrieval.tag_language="
                            f"{tag!r}); it knows {', '.join(tokenizer.languages()) or 'no language tags'}") from None


def retrieval_and_evaluate(config, workdir: str) -> dict:
    """Trains (or resumes) and evaluates; returns what it writes to WORKDIR/retrieval_results.json
    ({} where a stop signal ended the run early)."""
    host_malloc.tune()
    check_config(config)
    rc = config.retrieval
    mesh, rules = mesh_lib.make_mesh(config.mesh), mesh_lib.parse_rules(config.mesh.rules)
    mesh_lib.check_batch_size(config.train.batch_size, mesh)
    workdir = workdir_lib.prepare(workdir)
    _check_kind(workdir)
    if config.init_from.workdir and is_retrieval_run(os.path.abspath(os.path.expanduser(config.init_from.workdir))):
        raise UserError(f"init_from.workdir {config.init_from.workdir} is a retrieval run, which init_from does not "
                        "load yet; start from the run it was initialised from, or continue it in its own workdir")
    adopt_source_model(config)
    _check_model(config)
    plan = data_plan.resolve(config.data)  # builds what is missing, checks language codes
    directions = eval_directions(plan)
    _check_eval_splits(plan, directions, rc.eval_split)
    if jax.process_index() == 0:
        train_lib.log_directions(plan)
    _check_tag_language(config, workdir, plan)
    workdir_lib.save_config(workdir, config, FIXED)  # refuses a changed FIXED key before anything is written
    fine_tune = bool(config.init_from.workdir) and not checkpoints.saved_steps(workdir)
    if fine_tune:
        init_from.adopt_vocabulary(os.path.abspath(os.path.expanduser(config.init_from.workdir)), workdir)
    if not tokenizer_lib.exists(workdir):
        train_lib.setup_tokenizer(config, workdir, plan)
    tokenizer = tokenizer_lib.load(workdir)  # no data.task_prefix: an embedding is no translation request
    tag_lang = embed.tag_language(tokenizer, rc.tag_language or None)
    _write_marker(workdir, config, tag_lang, plan)

    model = build_embedder(config.model, tokenizer, rc.pooling)
    tx = optimizer.make_optimizer(config.train)
    replicated = mesh_lib.replicated(mesh)
    init_fn = functools.partial(steps.init_state, model=model, tx=tx)
    shardings = mesh_lib.state_shardings(jax.eval_shape(init_fn, jax.random.key(0)),
                                         model.param_axes(np.zeros((1, 8), np.int32)), mesh, rules)
    init = jax.jit(init_fn, out_shardings=shardings)
    train_step = jax.jit(mesh_lib.with_rules(functools.partial(
        steps.train_step, model=model, tx=tx, schedule=optimizer.schedule(config.train), margin=rc.margin,
        scale=rc.scale), mesh, rules), out_shardings=(shardings, replicated), donate_argnums=(0,))
    nan_steps = numerics.nan_steps_array(config.debug.nan_steps)

    stream = iter(batches.train_dataset(plan, tokenizer, tag_lang, seed=config.seed,
                                        batch_size=config.train.batch_size, max_len=rc.max_len,
                                        process_index=jax.process_index(), process_count=jax.process_count()))
    # The checkpoint stores the state after the last batch the loop consumed, not after prefetched ones.
    data_iter = Prefetch(stream, lambda b: mesh_lib.global_batch(b, mesh), size=config.data.prefetch)
    mngr = checkpoints.manager(workdir, config.keep_checkpoints, cleanup=True)
    init_rng, step_rng = jax.random.split(jax.random.key(config.seed))
    # Every process reads the whole stream (its rows of each global batch): any process count resumes it.
    state = train_lib.resume_or_init(config, workdir, mngr, init, init_rng, fine_tune, shardings.params, data_iter,
                                     packed=False)
    n_params = sum(x.size for x in jax.tree.leaves(state.params))
    encoder = embed.Encoder(model, state.params, tokenizer, rc.pooling, tag_lang, rc.eval_batch_size)

    def step(state, i):
        return train_step(state, next(data_iter), step_rng, nan_steps=nan_steps)

    def dev_p1(params):
        return _dev_row(score(encoder, params, directions, plan, "dev", rc.eval_limit))

    task = loop.Task(step, tokens=lambda fetched: sum(float(m["tokens"]) for m in fetched),
                     guard_keys=("accuracy", "grad_norm"),
                     evaluators=[loop.Evaluator("dev_p1", loop.every(config, "dev_p1"), dev_p1)],
                     select="dev_p1", data_iter=data_iter)
    header = (f"{n_params / 1e6:.1f}M params on {mesh.devices.size} device(s); retrieval on "
              f"{sum(plan.train_counts):,} training pairs, batches of {config.train.batch_size}; dev P@1 in "
              f"{', '.join(d.key(plan.qualified) for d in directions)}")
    selected = train_lib.run_and_select(task, state, workdir, mngr, config, header, rc.select, init, init_rng,
                                        shardings.params)
    if selected is None:
        return {}
    params, step = selected
    rows = score(encoder, params, directions, plan, rc.eval_split, rc.eval_limit)
    results = {"split": rc.eval_split, "step": step, "select": rc.select, "pooling": rc.pooling,
               "tag_language": tag_lang, "score": SCORE, "p1": _mean(rows, SCORE), "p1_cosine": _mean(rows, "cosine"),
               "eval_limit": rc.eval_limit, "init_from": config.init_from.workdir, "directions": rows}
    if jax.process_index() == 0:
        with open(os.path.join(workdir, RESULTS_FILE), "w", encoding="utf-8") as f:
            json.dump(results, f, indent=1)
        logger.info(format_table(results))
    return results


def format_table(results: dict) -> str:
    """P@1 per direction (forward, backward) with cosine and margin scoring."""
    lines = [f"{results['split']} P@1 of the step-{results['step']} encoder ({results['select']}), forward / backward:"]
    for key, r in results["directions"].items():
        lines.append(f"  {key} (n={r['n']}): cosine {r['cosine']['forward']:.1%} / {r['cosine']['backward']:.1%}, "
                     f"margin {r['margin']['forward']:.1%} / {r['margin']['backward']:.1%}")
    lines.append(f"  mean: cosine {results['p1_cosine']:.1%}, margin {results['p1']:.1%}")
    return "\n".join(lines)

