"""Orbax checkpoints of the train state and the data iterator, in WORKDIR/checkpoints."""
import os

import grain
import jax
import orbax.checkpoint as ocp


def manager(workdir: str, keep: int) -> ocp.CheckpointManager:
    return ocp.CheckpointManager(
        os.path.join(os.path.abspath(workdir), "checkpoints"),
        options=ocp.CheckpointManagerOptions(max_to_keep=keep, create=True),
        item_names=("state", "data"))


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


def restore(mngr: ocp.CheckpointManager, abstract_state, data_iter=None, step: int | None = None):
    """Restores state (laid out like `abstract_state`) and, if given, the iterator in place."""
    step = mngr.latest_step() if step is None else step
    items = {"state": ocp.args.StandardRestore(abstract_state)}
    if data_iter is not None:
        items["data"] = grain.checkpoint.CheckpointRestore(data_iter)
    return mngr.restore(step, args=ocp.args.Composite(**items)).state


def restore_params(workdir: str, abstract_params, step: int | None = None):
    """Params only (for translation/eval), from the latest or a given step."""
    mngr = manager(workdir, keep=1_000_000)
    step = mngr.latest_step() if step is None else step
    if step is None:
        return None, None
    restored = mngr.restore(step, args=ocp.args.Composite(
        state=ocp.args.PyTreeRestore(
            item={"params": abstract_params},
            restore_args=jax.tree.map(lambda s: ocp.ArrayRestoreArgs(sharding=s.sharding), {"params": abstract_params}),
            partial_restore=True)))
    return restored.state["params"], step
