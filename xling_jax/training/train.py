"""The train loop: `train_and_evaluate(config, workdir)`, importable from Colab."""
import dataclasses
import functools
import os

import jax
import ml_collections
import numpy as np

from xling_jax import log
from xling_jax.data import pipeline
from xling_jax.data import plan as data_plan
from xling_jax.data import tokenizer as tokenizer_lib
from xling_jax.data.prefetch import Prefetch
from xling_jax.decoding.translate import Translator
from xling_jax.evaluation import bleu
from xling_jax.model import build_model
from xling_jax.objectives import batches as train_batches
from xling_jax.objectives import online_bt, tasks
from xling_jax.training import checkpoints, host_malloc, init_from, loop, numerics, optimizer, run_record, steps
from xling_jax.training import mesh as mesh_lib
from xling_jax.training import workdir as workdir_lib
from xling_jax.training.validate import validate

logger = log.get_logger(__name__)


@dataclasses.dataclass(frozen=True)
class RunPlan:
    """What a translation run is, resolved once from its config and handed down."""
    data: data_plan.DataPlan  # directions, their training pairs and sampling rates
    tasks: tasks.TaskMix  # the objectives mixture and its example features
    tokenizer: tokenizer_lib.Tokenizer
    mesh: jax.sharding.Mesh
    rules: tuple  # logical-axis rules (mesh.rules)


def setup_tokenizer(config, workdir: str, plan: data_plan.DataPlan) -> tokenizer_lib.Tokenizer:
    """Loads WORKDIR's vocabulary (tokenizer.model, or Marian's files after `xling import marian`),
    training a sentencepiece model on the train split of every language of `plan` first if there is none."""
    if not tokenizer_lib.exists(workdir):
        languages = sorted(set(plan.languages) | {lang for _, lang in plan.monolingual})
        sentences = pipeline.tokenizer_corpus(plan.directions, plan.data_dir, config.tokenizer.max_sentences,
                                              config.seed, plan.monolingual, plan.train_pairs)
        train_tokenizer(config, workdir, sentences, languages)
    return tokenizer_lib.load(workdir, config.data.task_prefix)


def train_tokenizer(config, workdir: str, sentences: list[str], languages) -> None:
    """Writes WORKDIR/tokenizer.model (config.tokenizer, with a tag per language); process 0 trains it
    while the other processes wait."""
    if jax.process_index() == 0:
        logger.info(f"Training a {config.tokenizer.vocab_size}-piece sentencepiece model on {len(sentences)} "
                    f"sentences ({', '.join(languages)})")
        tokenizer_lib.train(sentences, os.path.join(workdir, tokenizer_lib.FILENAME), config.tokenizer.vocab_size,
                            languages, config.tokenizer.model_type, config.tokenizer.max_sentences, config.seed,
                            tokenizer_lib.special_symbols(config.tokenizer.sentinels))
    _sync("tokenizer")


def resume_or_init(config, workdir: str, mngr, init, init_rng, fine_tune: bool, sharding, data_iter=None,
                   packed: bool | None = None):
    """The state of WORKDIR's latest checkpoint (and `data_iter`'s position), else a new one, with
    init_from's params loaded into it when `fine_tune`. `packed` (default data.pack): whether each process
    reads its own share of the examples (then the data state is per process count)."""
    if mngr.latest_step() is not None or checkpoints.saved_steps(workdir):
        packed = config.data.pack if packed is None else packed
        state = checkpoints.restore(mngr, jax.eval_shape(init, init_rng), data_iter, packed=packed)
        logger.info(f"Resuming from step {int(state.step)} in {workdir}")
        return state
    state = init(init_rng)
    if fine_tune:
        state = state.replace(params=jax.device_put(init_from.restore_into(state.params, config, workdir), sharding))
    return state


def run_and_select(task: loop.Task, state, workdir: str, mngr, config, header: str, select: str, init, init_rng,
                   param_shardings):
    """Runs `task` to train.steps with the loop, then returns (params, step) to score: the last ones
    (`select`="last") or WORKDIR/best's (else the last, where no evaluation kept any); None where a stop
    signal ended the run early. For the tasks that score a final split themselves (classification,
    retrieval)."""
    start, total = int(state.step), config.train.steps
    state, _, stopped = loop.run(task, state, workdir, mngr, loop.schedule(config), header=header)
    if stopped:
        return None
    if start >= total:
        logger.info(f"{workdir} is already trained to step {start} (train.steps={total}); evaluating it.")
    if select == "last":
        return state.params, int(state.step)
    abstract = jax.tree.map(lambda s, sh: jax.ShapeDtypeStruct(s.shape, s.dtype, sharding=sh),
                            jax.eval_shape(init, init_rng).params, param_shardings)
    params, step = checkpoints.restore_params(workdir, abstract, "best")
    return (state.params, int(state.step)) if params is None else (params, step)


def _sync(name: str) -> None:
    if jax.process_count() > 1:
        from jax.experimental import multihost_utils
        multihost_utils.sync_global_devices(name)


def evaluate_loss(params, plan: RunPlan, eval_fn, *, batch_size: int, max_len: int, limit: int = 0,
                  split: str = "dev") -> dict:
    """Token-level dev loss and accuracy over all (real) directions, and per direction when there are
    several; `batch_size`, `max_len`, `limit`: train.batch_size, data.max_len, eval_batches."""
    dirs, qualified = plan.data.evaluated, plan.data.qualified
    out, grand = {}, {"nll_sum": 0.0, "correct": 0.0, "tokens": 0.0}
    for d in dirs:
        totals = {k: 0.0 for k in grand}
        for local in pipeline.eval_batches(plan.tokenizer, d, plan.data.data_dir, split, batch_size=batch_size,
                                           max_len=max_len, limit=limit, process_index=jax.process_index(),
                                           process_count=jax.process_count()):
            res = jax.device_get(eval_fn(params, mesh_lib.global_batch(local, plan.mesh)))
            for k in totals:
                totals[k] += float(res[k])
        for k in grand:
            grand[k] += totals[k]
        if len(dirs) > 1:
            out[f"{split}_loss/{d.key(qualified)}"] = totals["nll_sum"] / max(totals["tokens"], 1.0)
    n = max(grand["tokens"], 1.0)
    return {f"{split}_loss": grand["nll_sum"] / n, f"{split}_accuracy": grand["correct"] / n,
            f"{split}_tokens": grand["tokens"], **out}


def evaluate_bleu(translator, plan: data_plan.DataPlan, limit: int = 0, split: str = "dev") -> dict:
    """Decodes `split` (at most `limit` sentences a direction: eval_bleu_limit) with the translator:
    BLEU and chrF++ per direction, and their means as `{split}_bleu`."""
    out = {}
    for key, (tgt, refs, hyps) in bleu.translate_split(translator, plan.evaluated, split, plan.data_dir,
                                                       limit).items():
        scores = bleu.score(hyps, refs, tgt)
        out[f"{split}_bleu/{key}"], out[f"{split}_chrf/{key}"] = scores["bleu"], scores["chrf"]
    for name in ("bleu", "chrf"):
        values = [v for k, v in out.items() if k.startswith(f"{split}_{name}/")]
        out[f"{split}_{name}"] = float(np.mean(values))
    return out


def training_batches(config, data: data_plan.DataPlan, task_mix: tasks.TaskMix, tokenizer, process_index: int = 0,
                     process_count: int = 1):
    """This process's endless training batches (objectives/batches.py) under the config's batching keys."""
    return train_batches.train_dataset(data, task_mix, tokenizer, data=config.data, objective=config.objective,
                                       seed=config.seed, batch_size=config.train.batch_size,
                                       num_languages=config.model.num_languages, process_index=process_index,
                                       process_count=process_count)


def log_directions(plan: data_plan.DataPlan) -> None:
    """The training directions with their pairs and sampling rates (several directions only)."""
    if len(plan.directions) > 1:
        logger.info(f"Directions (train pairs, sampling rate at T={plan.temperature:g}): " + ", ".join(
            f"{d.key(plan.qualified)}{' (' + d.kind + ')' if d.kind != 'real' else ''} {n:,} {r:.1%}"
            for d, n, r in zip(plan.directions, plan.train_counts, plan.rates)))


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> dict:
    """Trains (resuming from WORKDIR's latest checkpoint) and returns the final dev metrics."""
    host_malloc.tune()  # first: before anything starts a thread (host_malloc.py says why and its costs)
    validate(config)
    # Device, rule and batch checks too come before any build or compile.
    mesh, rules = mesh_lib.make_mesh(config.mesh), mesh_lib.parse_rules(config.mesh.rules)
    mesh_lib.check_batch_size(config.train.batch_size, mesh, config.train.grad_accum_steps)
    workdir = workdir_lib.prepare(workdir)
    data = data_plan.resolve(config.data)  # builds what is missing, checks language codes
    if jax.process_index() == 0:
        log_directions(data)
    # Params imported (`xling import`) come without data state: data, seed and subword sampling may still change.
    imported = checkpoints.imported_only(workdir)
    fixed = workdir_lib.imported_fixed(config) if imported else workdir_lib.FIXED_SECTIONS
    workdir_lib.save_config(workdir, config, fixed)
    fine_tune = bool(config.init_from.workdir) and not checkpoints.saved_steps(workdir)
    if fine_tune:
        init_from.adopt_vocabulary(os.path.abspath(os.path.expanduser(config.init_from.workdir)), workdir)
    plan = RunPlan(data, tasks.resolve(config), setup_tokenizer(config, workdir, data), mesh, rules)
    tokenizer = plan.tokenizer

    model = build_model(config.model, tokenizer.vocab_size, tokenizer.target_vocab_size)
    tx = optimizer.make_optimizer(config.train)
    replicated = mesh_lib.replicated(mesh)
    init_fn = functools.partial(steps.init_state, model=model, tx=tx, batch_shape=(1, 8))
    dummy = np.zeros((1, 8), np.int32)
    shardings = mesh_lib.state_shardings(jax.eval_shape(init_fn, jax.random.key(0)), model.param_axes(dummy, dummy),
                                         mesh, rules)
    init = jax.jit(init_fn, out_shardings=shardings)
    step_fn = mesh_lib.with_rules(steps.configured_train_step(config, model, tx, plan.tasks.metric_names),
                                  mesh, rules)
    train_step = jax.jit(step_fn, out_shardings=(shardings, replicated), donate_argnums=(0,))
    nan_steps = numerics.nan_steps_array(config.debug.nan_steps)
    bt_batches = None
    if plan.tasks.online_bt:  # a second compiled step: the one that back-translates
        online_bt.check(config.online_bt, tokenizer, mesh_lib.batch_splits(mesh), config.train.grad_accum_steps)
        bt_batches = online_bt.BtBatches(config.online_bt, tokenizer, data, config.data.max_len, config.seed,
                                         jax.process_index(), jax.process_count())
        bt_step = jax.jit(functools.partial(step_fn, bt_options=online_bt.options(config.online_bt, config.decode)),
                          out_shardings=(shardings, replicated), donate_argnums=(0,))
    eval_step = jax.jit(mesh_lib.with_rules(functools.partial(steps.eval_step, model=model), mesh, rules),
                        out_shardings=replicated)

    batches = iter(training_batches(config, data, plan.tasks, tokenizer, jax.process_index(), jax.process_count()))
    # The checkpoint stores the state after the last batch the loop consumed, not after prefetched ones.
    data_iter = Prefetch(batches, lambda b: mesh_lib.global_batch(b, mesh), size=config.data.prefetch)
    mngr = checkpoints.manager(workdir, config.keep_checkpoints, cleanup=True)
    rng = jax.random.key(config.seed)
    init_rng, step_rng = jax.random.split(rng)
    if imported:
        abstract = jax.tree.map(lambda s, sh: jax.ShapeDtypeStruct(s.shape, s.dtype, sharding=sh),
                                jax.eval_shape(init, init_rng).params, shardings.params)
        state = init(init_rng).replace(params=checkpoints.restore_params(workdir, abstract, 0)[0])
        logger.info(f"Fine-tuning the params imported into {workdir}")
    else:
        state = resume_or_init(config, workdir, mngr, init, init_rng, fine_tune, shardings.params, data_iter)
    n_params = sum(x.size for x in jax.tree.leaves(state.params))
    translator = Translator(model, state.params, tokenizer, config.decode) if config.eval_bleu else None

    def step(state, i):
        batch = next(data_iter)
        if bt_batches is not None and i >= config.online_bt.start_step:
            return bt_step(state, batch, step_rng, mesh_lib.global_batch(bt_batches[i], mesh), nan_steps=nan_steps)
        return train_step(state, batch, step_rng, nan_steps=nan_steps)

    def dev_bleu(params):
        translator.params = params
        return evaluate_bleu(translator, data, config.eval_bleu_limit)

    def dev_loss(params):
        return evaluate_loss(params, plan, eval_step, batch_size=config.train.batch_size,
                             max_len=config.data.max_len, limit=config.eval_batches)

    evaluators = [loop.Evaluator("dev_loss", loop.every(config, "dev_loss"), dev_loss)]
    if translator is not None:
        evaluators.append(loop.Evaluator("dev_bleu", loop.every(config, "dev_bleu"), dev_bleu))
    task = loop.Task(step, tokens=lambda fetched: sum(m["source_tokens"] + m["target_tokens"] for m in fetched),
                     guard_keys=("nll", "accuracy", "grad_norm"), extra_row=_objective_losses, evaluators=evaluators,
                     select="dev_bleu" if translator is not None else None, data_iter=data_iter)
    total = config.train.steps

    def on_start(start):
        if jax.process_index() == 0 and start < total:
            run_record.record_start(workdir, start)  # run.json: code version and environment

    start = int(state.step)
    state, eval_metrics, _ = loop.run(task, state, workdir, mngr, loop.schedule(config), on_start=on_start,
                                      header=f"{n_params / 1e6:.1f}M params on {mesh.devices.size} device(s)")
    if jax.process_index() == 0:  # final.json: last dev evaluation, train loss and throughput
        run_record.record_final(workdir, keep_old=start >= total)
    if start >= total:
        logger.info(f"{workdir} is already trained to step {start} (train.steps={total}); nothing to do.")
    return eval_metrics


def _objective_losses(fetched: list[dict]) -> dict:
    """nll/NAME per task of the mixture: token-weighted over the window."""
    row = {}
    for key in sorted({k for m in fetched for k in m}):
        if key.startswith("nll_sum/"):
            name = key.split("/", 1)[1]
            n = sum(m.get(f"tokens/{name}", 0.0) for m in fetched)
            if n:  # e.g. online BT before its start step: nothing to report
                row[f"nll/{name}"] = float(sum(m.get(key, 0.0) for m in fetched) / n)
    return row
