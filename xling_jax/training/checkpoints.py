"""Orbax checkpoints: the train state and the data iterator in WORKDIR/checkpoints; the params
with the best dev BLEU so far in WORKDIR/best (with best.json: step and score)."""
import json
import os

import grain
import jax
import orbax.checkpoint as ocp

from xling_jax.errors import UserError


def manager(workdir: str, keep: int) -> ocp.CheckpointManager:
    return ocp.CheckpointManager(
        os.path.join(os.path.abspath(workdir), "checkpoints"),
        options=ocp.CheckpointManagerOptions(max_to_keep=keep, create=True),
        item_names=("state", "data"))


def saved_steps(workdir: str) -> list[int]:
    root = os.path.join(os.path.abspath(workdir), "checkpoints")
    return sorted(int(n) for n in os.listdir(root) if n.isdigit()) if os.path.isdir(root) else []


def imported_only(workdir: str) -> bool:
    """Whether WORKDIR's only checkpoint is step 0 without data-iterator state: params written by
    `xling import`, from which a run fine-tunes (fresh optimizer, data from the start)."""
    root = os.path.join(os.path.abspath(workdir), "checkpoints")
    steps = [n for n in os.listdir(root) if n.isdigit()] if os.path.isdir(root) else []
    return steps == ["0"] and not os.path.exists(os.path.join(root, "0", "data"))


def save(mngr: ocp.CheckpointManager, step: int, state, data_iter=None) -> None:
    items = {"state": ocp.args.StandardSave(state)}
    if data_iter is not None:
        items["data"] = grain.checkpoint.CheckpointSave(data_iter)
    mngr.save(step, args=ocp.args.Composite(**items))


def save_params(workdir: str, config, params, step: int = 0) -> None:
    """A checkpoint of `params` with a fresh optimizer state and no data-iterator state (what
    `xling import` writes, and what `xling train` fine-tunes from)."""
    import jax.numpy as jnp
    from xling_jax.training import optimizer
    from xling_jax.training.steps import TrainState
    state = TrainState(step=jnp.array(step, jnp.int32), params=params,
                       opt_state=optimizer.make_optimizer(config.train).init(params))
    mngr = manager(workdir, config.keep_checkpoints)
    save(mngr, step, state)
    mngr.wait_until_finished()
    mngr.close()


def restore(mngr: ocp.CheckpointManager, abstract_state, data_iter=None, step: int | None = None):
    """Restores state (laid out like `abstract_state`) and, if given, the iterator in place."""
    step = mngr.latest_step() if step is None else step
    items = {"state": ocp.args.StandardRestore(abstract_state)}
    if data_iter is not None:
        items["data"] = grain.checkpoint.CheckpointRestore(data_iter)
    return mngr.restore(step, args=ocp.args.Composite(**items)).state


BEST_DIR, BEST_FILE = "best", "best.json"


def _best_manager(workdir: str) -> ocp.CheckpointManager:
    return ocp.CheckpointManager(os.path.join(os.path.abspath(workdir), BEST_DIR),
                                 options=ocp.CheckpointManagerOptions(max_to_keep=1, create=True),
                                 item_names=("params",))


def best_record(workdir: str) -> dict | None:
    """{"step", "metric", "score"} of the best checkpoint, or None before the first one."""
    path = os.path.join(workdir, BEST_DIR, BEST_FILE)
    if not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def save_best(workdir: str, step: int, params, metric: str, score: float) -> None:
    """Replaces WORKDIR/best with these params; best.json is written once they are on disk."""
    mngr = _best_manager(workdir)
    mngr.save(step, args=ocp.args.Composite(params=ocp.args.StandardSave(params)))
    mngr.wait_until_finished()
    if jax.process_index() == 0:
        path = os.path.join(workdir, BEST_DIR, BEST_FILE)
        with open(path + ".tmp", "w", encoding="utf-8") as f:
            json.dump({"step": step, "metric": metric, "score": score}, f)
        os.replace(path + ".tmp", path)


def restore_params(workdir: str, abstract_params, step: int | str | None = None):
    """Params only (for translation/eval): the latest, a given step, or "best" (best dev BLEU)."""
    restore_args = jax.tree.map(lambda s: ocp.ArrayRestoreArgs(sharding=s.sharding), abstract_params)
    if step == "best":
        record = best_record(workdir)
        if record is None:
            return None, None
        restored = _best_manager(workdir).restore(record["step"], args=ocp.args.Composite(
            params=ocp.args.PyTreeRestore(item=abstract_params, restore_args=restore_args)))
        return restored.params, record["step"]
    mngr = manager(workdir, keep=1_000_000)
    step = mngr.latest_step() if step is None else step
    if step is None:
        return None, None
    if step not in mngr.all_steps():
        raise UserError(f"{workdir} has no checkpoint at step {step}; it has steps "
                        f"{', '.join(map(str, mngr.all_steps()))} (and `best`)")
    restored = mngr.restore(step, args=ocp.args.Composite(
        state=ocp.args.PyTreeRestore(item={"params": abstract_params}, restore_args={"params": restore_args},
                                     partial_restore=True)))
    return restored.state["params"], step
