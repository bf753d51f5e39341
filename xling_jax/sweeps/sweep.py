"""Sweeps: lists of config overrides declared beside a base config, and running them.

A sweep file is a config file (`get_config()`) with a `get_sweep()` returning one dict of overrides
{dotted key: value} per run, built with the helpers below (`FILE.py:ARG` passes ARG, e.g. a size, to
get_config and, where it takes one, to get_sweep):

    def get_sweep():
        return product(grid(**{"model.pre_ln": [True, False]}), seeds(3))   # 6 runs

Each run lives in ROOT/NAME, NAME made of its overrides (`pre_ln=false,seed=1`). A run trains
(`train_and_evaluate`, which resumes from the run's latest checkpoint), is scored on
`config.final_eval.split` with its hypotheses and references kept for `xling compare`, and is done
once WORKDIR/final.json holds that score: rerunning a sweep skips finished runs and resumes the rest.
"""
import dataclasses
import hashlib
import inspect
import itertools
import json
import os
import re
import shlex
import subprocess
import sys
import time
import traceback

import ml_collections

from xling_jax.configs import loading
from xling_jax.data import mixture
from xling_jax.data import plan as data_plan
from xling_jax.errors import UserError
from xling_jax.evaluation import bleu
from xling_jax.training import checkpoints, run_record
from xling_jax.training.load import load_run
from xling_jax.training.train import train_and_evaluate

SWEEP_FILE = "sweep.json"
LOG_FILE = "sweep.log"
_MAX_NAME = 100


# ---- Declaring sweeps -------------------------------------------------------------------------

def grid(**lists) -> list[dict]:
    """Every combination of the values, the first key varying slowest:
    grid(a=[1, 2], b=[3, 4]) -> [{a: 1, b: 3}, {a: 1, b: 4}, {a: 2, b: 3}, {a: 2, b: 4}]."""
    keys = list(lists)
    return [dict(zip(keys, values)) for values in itertools.product(*(_values(k, v) for k, v in lists.items()))]


def zipped(**lists) -> list[dict]:
    """The i-th values together: zipped(a=[1, 2], b=[3, 4]) -> [{a: 1, b: 3}, {a: 2, b: 4}]."""
    columns = {k: _values(k, v) for k, v in lists.items()}
    lengths = {len(v) for v in columns.values()}
    if len(lengths) > 1:
        raise UserError(f"zipped(): the lists differ in length ({', '.join(f'{k}: {len(v)}' for k, v in columns.items())})")
    return [dict(zip(columns, values)) for values in zip(*columns.values())]


def seeds(n: int, start: int = 0) -> list[dict]:
    """[{seed: start}, ..., {seed: start + n - 1}]."""
    if n < 1:
        raise UserError(f"seeds({n}): give at least one seed")
    return [{"seed": s} for s in range(start, start + n)]


def product(*sweeps: list[dict]) -> list[dict]:
    """Every combination of one entry per sweep, merged: product(grid(...), seeds(3))."""
    out = []
    for parts in itertools.product(*sweeps):
        merged = {}
        for part in parts:
            clash = set(merged) & set(part)
            if clash:
                raise UserError(f"product(): {', '.join(sorted(clash))} set by two of the sweeps")
            merged.update(part)
        out.append(merged)
    return out


def _values(key: str, values) -> list:
    if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
        raise UserError(f"sweep values of {key} must be a list, got {values!r}")
    return list(values)


# ---- Runs --------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Run:
    name: str
    overrides: dict  # dotted config key -> value


@dataclasses.dataclass(frozen=True)
class Sweep:
    path: str  # the sweep file, absolute, with its :ARG if any
    runs: list[Run]
    extra: dict  # --config.KEY=VALUE strings applied to every run


def override_text(value) -> str:
    """A Python override value as `--config.KEY=` text that loading.apply_overrides parses back."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (tuple, list)):
        return repr(list(value))
    return str(value)


def _name_value(value) -> str:
    if isinstance(value, (tuple, list)):
        return "+".join(_name_value(v) for v in value)
    return override_text(value)


def run_names(runs: list[dict]) -> list[str]:
    """Readable, file-safe, distinct names: `key=value` joined by commas, each key its last dotted part
    unless two keys of the sweep share that part."""
    keys = list(dict.fromkeys(k for r in runs for k in r))
    last = [k.rsplit(".", 1)[-1] for k in keys]
    short = {k: (s if last.count(s) == 1 else k) for k, s in zip(keys, last)}
    names = []
    for r in runs:
        name = ",".join(f"{short[k]}={_name_value(v)}" for k, v in r.items()) or "base"
        name = re.sub(r"[^A-Za-z0-9._+=,-]", "_", name)
        if len(name) > _MAX_NAME:  # long tuples (mixtures): keep it readable and unique
            name = name[:_MAX_NAME - 9] + "-" + hashlib.sha1(name.encode()).hexdigest()[:8]
        names.append(name)
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise UserError(f"the sweep lists the same run more than once: {', '.join(repeated)}")
    return names


def load(path: str, extra: dict | None = None) -> Sweep:
    """The sweep file's runs, each config checked (unknown keys, wrong types, clashes with `extra`)."""
    module, arg = loading.load_module(path)
    if not hasattr(module, "get_sweep"):
        raise UserError(f"{path} has no get_sweep() function: a sweep file returns its runs' overrides "
                        "from get_sweep() (see xling_jax/sweeps/sweep.py)")
    takes_arg = arg is not None and inspect.signature(module.get_sweep).parameters
    overrides = [dict(r) for r in (module.get_sweep(arg) if takes_arg else module.get_sweep())]
    if not overrides:
        raise UserError(f"{path}: get_sweep() returned no runs")
    extra = dict(extra or {})
    clash = sorted(set(extra) & {k for r in overrides for k in r})
    if clash:
        raise UserError(f"--config.{clash[0]} is what the sweep varies; drop it or edit the sweep file")
    sweep = Sweep(_absolute(path), [Run(n, o) for n, o in zip(run_names(overrides), overrides)], extra)
    for run in sweep.runs:
        config = run_config(sweep, run)  # fail before anything trains
        if config.final_eval.step not in ("best", "last"):
            raise UserError(f"final_eval.step must be 'best' or 'last', got {config.final_eval.step!r}")
    return sweep


def _absolute(path: str) -> str:
    file, sep, arg = path.rpartition(":") if not os.path.isfile(path) and ":" in path else (path, "", "")
    return os.path.abspath(file) + sep + arg


def run_config(sweep: Sweep, run: Run) -> ml_collections.ConfigDict:
    config = loading.load_config_file(sweep.path)
    loading.apply_overrides(config, {k: override_text(v) for k, v in run.overrides.items()})
    loading.apply_overrides(config, sweep.extra)
    return config


def find(sweep: Sweep, name: str) -> Run:
    for run in sweep.runs:
        if run.name == name:
            return run
    raise UserError(f"--run {name!r} is not in {sweep.path}; its runs: {', '.join(r.name for r in sweep.runs)}")


def command(sweep: Sweep, root: str, run: Run) -> str:
    """One self-contained shell command that runs (or resumes) `run`."""
    args = ["xling", "sweep", sweep.path, "--root", os.path.abspath(root), "--run", run.name]
    args += [f"--config.{k}={v}" for k, v in sweep.extra.items()]
    return shlex.join(args)


def is_finished(workdir: str, config) -> bool:
    final = run_record.read_final(workdir)
    if not final or final.get("step", 0) < config.train.steps:
        return False
    return not config.final_eval.split or config.final_eval.split in final


def write_manifest(sweep: Sweep, root: str) -> None:
    """ROOT/sweep.json: the sweep file and its runs in order (`xling compare` lists groups in it)."""
    os.makedirs(root, exist_ok=True)
    manifest = {"sweep": sweep.path, "extra": sweep.extra,
                "runs": [{"name": r.name, "overrides": r.overrides} for r in sweep.runs]}
    tmp = os.path.join(root, SWEEP_FILE + f".{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(manifest, f, indent=2, default=list)
    os.replace(tmp, os.path.join(root, SWEEP_FILE))


# ---- Running -----------------------------------------------------------------------------------

def final_eval(config, workdir: str) -> dict:
    """Scores the run on config.final_eval.split and records it in final.json, with the hypothesis
    and reference files per direction (what `xling compare` bootstraps)."""
    fe = config.final_eval
    use_best = fe.step == "best" and checkpoints.best_record(workdir) is not None
    run = load_run(workdir, "best" if use_best else None)
    results = bleu.evaluate(run, fe.split, limit=fe.limit)
    plan = data_plan.resolve(run.config.data)
    data_dir, dirs = plan.data_dir, plan.evaluated
    qualified = mixture.is_qualified(dirs)
    out_dir = bleu.eval_dir(workdir, fe.split)
    directions = {}
    for d in dirs:
        key = d.key(qualified)
        _, refs = bleu.split_pairs(d, fe.split, data_dir, fe.limit)
        ref_file = os.path.join(out_dir, bleu.hyp_filename(key)[:-len(".hyp")] + ".ref")
        with open(ref_file, "w", encoding="utf-8") as f:
            f.writelines(r.replace("\n", " ") + "\n" for r in refs)
        scores = results["directions"][key]
        directions[key] = {**{k: scores[k] for k in ("bleu", "chrf", "bleu_signature", "chrf_signature",
                                                     "sentences")},
                           "tgt": d.tgt, "hyp": os.path.relpath(os.path.join(out_dir, bleu.hyp_filename(key)), workdir),
                           "ref": os.path.relpath(ref_file, workdir)}
    n = len(directions)
    section = {"step": run.step, "params": "best" if use_best else "last", "limit": fe.limit,
               "decode": results["decode"], "bleu": sum(d["bleu"] for d in directions.values()) / n,
               "chrf": sum(d["chrf"] for d in directions.values()) / n, "directions": directions}
    return run_record.record_final(workdir, **{fe.split: section})


def run_one(sweep: Sweep, root: str, run: Run) -> str:
    """Trains and scores one run in this process: "done", or "skipped" when it had finished."""
    config = run_config(sweep, run)
    workdir = os.path.join(os.path.abspath(root), run.name)
    if is_finished(workdir, config):
        return "skipped"
    train_and_evaluate(config, workdir)
    if config.final_eval.split:
        final_eval(config, workdir)
    return "done"


def run_sweep(sweep: Sweep, root: str, parallel: int = 1, log=print) -> dict:
    """Runs every unfinished run: one after another in this process, or `parallel` subprocesses at a
    time (each the command `command()` prints, its output in ROOT/NAME/sweep.log). {name: status}."""
    write_manifest(sweep, root)
    status = {}
    todo = []
    for run in sweep.runs:
        if is_finished(os.path.join(os.path.abspath(root), run.name), run_config(sweep, run)):
            status[run.name] = "skipped"
            log(f"[sweep] {run.name}: finished before, skipped")
        else:
            todo.append(run)
    if parallel <= 1:
        for i, run in enumerate(todo):
            log(f"[sweep] {run.name} ({i + 1}/{len(todo)} to run)")
            t0 = time.perf_counter()
            try:
                status[run.name] = run_one(sweep, root, run)
            except UserError:
                raise  # the same for every run (a missing dataset, a bad key): stop here
            except Exception:  # one broken run should not stop the others; the summary names it
                traceback.print_exc()
                status[run.name] = "failed"
            log(f"[sweep] {run.name}: {status[run.name]} in {time.perf_counter() - t0:.0f} s")
    else:
        status.update(_run_subprocesses(sweep, root, todo, parallel, log))
    failed = [n for n, s in status.items() if s == "failed"]
    if failed:
        raise UserError(f"{len(failed)} of {len(sweep.runs)} runs failed: {', '.join(failed)} (see their "
                        f"{LOG_FILE} or the output above); rerun the sweep to retry them")
    return status


def _run_subprocesses(sweep: Sweep, root: str, todo: list[Run], parallel: int, log) -> dict:
    status, running, queue = {}, {}, list(todo)
    while queue or running:
        while queue and len(running) < parallel:
            run = queue.pop(0)
            workdir = os.path.join(os.path.abspath(root), run.name)
            os.makedirs(workdir, exist_ok=True)
            args = shlex.split(command(sweep, root, run))[1:]  # the printed command, with this Python
            log_file = open(os.path.join(workdir, LOG_FILE), "a", encoding="utf-8")
            proc = subprocess.Popen([sys.executable, "-m", "xling_jax.cli.main", *args], stdout=log_file,
                                    stderr=subprocess.STDOUT)
            running[run.name] = (proc, log_file, time.perf_counter())
            log(f"[sweep] {run.name}: started (pid {proc.pid}, log {os.path.join(workdir, LOG_FILE)})")
        time.sleep(0.5)
        for name, (proc, log_file, t0) in list(running.items()):
            if proc.poll() is not None:
                log_file.close()
                status[name] = "done" if proc.returncode == 0 else "failed"
                log(f"[sweep] {name}: {status[name]} in {time.perf_counter() - t0:.0f} s"
                    + ("" if proc.returncode == 0 else f" (exit status {proc.returncode})"))
                del running[name]
    return status
