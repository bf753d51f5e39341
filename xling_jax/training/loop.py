"""The one training loop: any task's steps, with logging, evaluation, best params, checkpoints,
preemption and the non-finite guard, written once.

A task hands the loop a `Task`: how to run one step (its batches and its jitted step), what its
metrics rows add, its evaluators and the metric that selects WORKDIR/best. Translation
(training/train.py: the objectives mixture and online BT) and classification
(classification/train.py) are such tasks; `run` returns the state, the last evaluation row and
whether a stop signal ended the run early.
"""
import dataclasses
import time
from collections.abc import Callable, Sequence
from typing import Any

import jax

from xling_jax.training import checkpoints, numerics, preemption
from xling_jax.training.metrics import MetricsWriter
from xling_jax.training.progress import Progress


@dataclasses.dataclass(frozen=True)
class Evaluator:
    """A named evaluation: `fn(params) -> {metric: value}` every `every` steps and at the last step."""
    name: str
    every: int
    fn: Callable[[Any], dict]

    def due(self, done: int, total: int) -> bool:
        return done % self.every == 0 or done == total


def every(config, name: str) -> int:
    """The cadence of evaluator `name`: config.evals.NAME.every, or eval_every."""
    return config.evals[name].every or config.eval_every


@dataclasses.dataclass(frozen=True)
class Task:
    """What the loop runs.

    step: (state, step index) -> (state, metrics on device); takes the step's batch itself.
    tokens: fetched metrics of a window -> tokens processed (for tokens_per_s).
    guard_keys: metrics averaged over each logged window, besides the loss.
    extra_row: fetched metrics of a window -> more entries of its row (e.g. the loss per objective).
    evaluators: run in order when due; their metrics form one eval row.
    select: the eval metric whose best value keeps the params in WORKDIR/best (None: no best).
    data_iter: checkpointed with the state (its position), and closed at the end; or None.
    """
    step: Callable[[Any, int], tuple[Any, dict]]
    tokens: Callable[[list[dict]], float]
    guard_keys: Sequence[str] = ()
    extra_row: Callable[[list[dict]], dict] = lambda fetched: {}
    evaluators: Sequence[Evaluator] = ()
    select: str | None = None
    data_iter: Any = None


@dataclasses.dataclass(frozen=True)
class Schedule:
    """The run's length and cadences (config.train.steps, log_every, checkpoint_every) and the
    non-finite guard's settings (config.train.max_nonfinite, spike_factor)."""
    total: int
    log_every: int
    checkpoint_every: int
    max_nonfinite: int
    spike_factor: float


def schedule(config) -> Schedule:
    return Schedule(config.train.steps, config.log_every, config.checkpoint_every, config.train.max_nonfinite,
                    config.train.spike_factor)


def run(task: Task, state, workdir: str, mngr, schedule: Schedule, header: str = "",
        on_start: Callable[[int], None] | None = None) -> tuple[Any, dict, bool]:
    """Trains `state` from its step to schedule.total; returns (state, last eval row, stopped early).

    `on_start(start_step)`: called once the metrics are open, before the first step (run records)."""
    start, total = int(state.step), schedule.total
    writer = MetricsWriter(workdir, start)
    guard = numerics.Guard(schedule.max_nonfinite, schedule.spike_factor,
                           [r["loss"] for r in writer.kept if r["kind"] == "train" and "loss" in r],
                           checkpoints.saved_numerics(mngr, start))
    closers = [lambda: checkpoints.finish(mngr)] + ([task.data_iter.close] if task.data_iter is not None else [])
    guard_call = numerics.stopping_caller(guard, mngr, *closers, writer.close)
    if on_start is not None:
        on_start(start)
    best = checkpoints.best_record(workdir) if task.select else None
    eval_row, stopped = {}, False
    with preemption.StopRequest() as stop, Progress(start, total, enabled=jax.process_index() == 0,
                                                    header=header) as progress:
        window, t_window = [], time.perf_counter()
        for step in range(start, total):
            state, metrics = task.step(state, step)
            window.append(metrics)
            done = step + 1
            if done % schedule.log_every == 0 or done == total:
                fetched = jax.device_get(window)
                elapsed = time.perf_counter() - t_window
                row = guard_call(guard.window_row, done, fetched, tuple(task.guard_keys))
                row.update(task.extra_row(fetched))
                row.update(learning_rate=float(fetched[-1]["learning_rate"]),
                           tokens_per_s=task.tokens(fetched) / elapsed, steps_per_s=len(fetched) / elapsed)
                writer.write(done, row)
                progress.update(done, row)
                window, t_window = [], time.perf_counter()
            due = [e for e in task.evaluators if e.due(done, total)]
            if due:
                eval_row = {}
                for evaluator in due:
                    eval_row.update(evaluator.fn(state.params))
                if task.select in eval_row and (best is None or eval_row[task.select] > best["score"]):
                    # Every process saves its share of the params.
                    checkpoints.save_best(workdir, done, state.params, task.select, eval_row[task.select])
                    best = checkpoints.best_record(workdir) or {"score": eval_row[task.select]}
                writer.write(done, eval_row, kind="eval")
                progress.log(f"step {done}: " + ", ".join(f"{k}={v:.4g}" for k, v in eval_row.items()))
            # Asked once per step: a signal between the save and the break must not skip the save.
            stopping = stop.stop_at(done)
            if done % schedule.checkpoint_every == 0 or done == total or stopping:
                checkpoints.save(mngr, done, state, task.data_iter,
                                 guard_call(guard.saved, done, [m["nonfinite"] for m in window]))
            if stopping:
                checkpoints.finish(mngr)
                preemption.report_stop(stopping, done, str(mngr.directory), workdir)
                stopped = True
                break
            if not window:
                t_window = time.perf_counter()  # evaluation and checkpoint time is not training throughput
    checkpoints.finish(mngr)
    if task.data_iter is not None:
        task.data_iter.close()
    writer.close()
    return state, eval_row, stopped
