"""Orbax checkpoints: the train state and the data iterator in WORKDIR/checkpoints; the params
with the best dev BLEU so far in WORKDIR/best (with best.json: step and score)."""
import errno
import hashlib
import json
import os
import shutil
import time

import grain
import jax
import orbax.checkpoint as ocp

from xling_jax import log
from xling_jax.errors import UserError

logger = log.get_logger(__name__)

CORRUPT_DIR = "corrupt_checkpoints"  # unreadable checkpoints are moved here when training falls back
NUMERICS = "numerics"  # the checkpoint item with the non-finite guard's record


def manager(workdir: str, keep: int, cleanup: bool = False, state_handler=None) -> ocp.CheckpointManager:
    """Orbax writes each step into a temporary folder renamed into place once complete (atomic on a
    local disk), so a killed save leaves no half-written step; `cleanup` (the training run that owns
    the folder, not a reader) removes such leftovers. `state_handler`: how "state" is written (see
    `save_params`); any way of writing it restores with StandardRestore."""
    return ocp.CheckpointManager(
        os.path.join(os.path.abspath(workdir), "checkpoints"),
        options=ocp.CheckpointManagerOptions(max_to_keep=keep, create=True, cleanup_tmp_directories=cleanup),
        item_names=None if state_handler else ("state", "data", NUMERICS),
        item_handlers={"state": state_handler} if state_handler else None)


def saved_steps(workdir: str) -> list[int]:
    root = os.path.join(os.path.abspath(workdir), "checkpoints")
    return sorted(int(n) for n in os.listdir(root) if n.isdigit()) if os.path.isdir(root) else []


def imported_only(workdir: str) -> bool:
    """Whether WORKDIR's only checkpoint is step 0 without data-iterator state: params written by
    `xling import`, from which a run fine-tunes (fresh optimizer, data from the start)."""
    root = os.path.join(os.path.abspath(workdir), "checkpoints")
    steps = [n for n in os.listdir(root) if n.isdigit()] if os.path.isdir(root) else []
    return steps == ["0"] and not os.path.exists(os.path.join(root, "0", "data"))


DISK_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.EFBIG)


def disk_error(e: BaseException) -> OSError | None:
    """The OSError of a full or unwritable disk behind `e` (orbax re-raises its writer threads'
    errors wrapped in others), else None."""
    seen = set()
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if isinstance(e, OSError) and e.errno in DISK_ERRNOS:
            return e
        e = e.__cause__ or e.__context__
    return None


def _write_error(mngr, step, e: OSError) -> UserError:
    kept = ", ".join(map(str, mngr.all_steps())) or "none"
    where = f" ({e.filename})" if e.filename else ""
    return UserError(f"cannot write checkpoint step {step} to {mngr.directory}: {e.strerror}{where}; the "
                     f"checkpoints already there are intact (steps {kept}); free space or fix permissions and "
                     f"rerun the same command to resume")


# Orbax does not notice flipped bytes in array data (it restores them), so each finished step gets
# a list of its files' sizes and SHA-256 digests, checked before that step is restored.
CHECKSUMS = "xling_checksums.json"


def _digests(step_dir: str) -> dict:
    out = {}
    for base, _, files in os.walk(step_dir):
        for name in files:
            path = os.path.join(base, name)
            rel = os.path.relpath(path, step_dir)
            if rel.startswith(CHECKSUMS):  # itself, and its temporary file while being written
                continue
            h = hashlib.sha256()
            with open(path, "rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    h.update(block)
            out[rel] = [os.path.getsize(path), h.hexdigest()]
    return out


def _seal(mngr: ocp.CheckpointManager, step: int | None) -> None:
    """Writes the checksums of a finished step (once; atomically)."""
    if step is None or jax.process_index() != 0:
        return
    step_dir = os.path.join(str(mngr.directory), str(step))
    path = os.path.join(step_dir, CHECKSUMS)
    if os.path.isdir(step_dir) and not os.path.exists(path):
        with open(path + ".tmp", "w", encoding="utf-8") as f:
            json.dump(_digests(step_dir), f)
        os.replace(path + ".tmp", path)


def verify(root: str, step: int) -> None:
    """Raises ValueError if a file of the step differs from its checksums (steps without: unchecked)."""
    step_dir = os.path.join(root, str(step))
    path = os.path.join(step_dir, CHECKSUMS)
    if not os.path.exists(path):
        return
    with open(path, encoding="utf-8") as f:
        expected = json.load(f)
    actual = _digests(step_dir)
    bad = sorted(k for k in expected if actual.get(k) != expected[k])
    if bad:
        raise ValueError(f"{len(bad)} file(s) changed since it was written (sizes and SHA-256 in {CHECKSUMS}), "
                         f"e.g. {bad[0]}")


def save(mngr: ocp.CheckpointManager, step: int, state, data_iter=None, numerics: dict | None = None,
         state_args=ocp.args.StandardSave) -> None:
    """Starts writing a checkpoint (in the background); a full or unwritable disk is a UserError,
    here or from `finish`. `numerics`: the guard's record (numerics.Guard.saved), as JSON."""
    items = {"state": state_args(state)}
    if data_iter is not None:
        items["data"] = grain.checkpoint.CheckpointSave(data_iter)
    if numerics is not None:
        items[NUMERICS] = ocp.args.JsonSave(numerics)
    finish(mngr)  # the previous step (orbax would wait for it anyway), then its checksums
    try:
        mngr.save(step, args=ocp.args.Composite(**items))
    except Exception as e:
        if (err := disk_error(e)) is None:
            raise
        raise _write_error(mngr, step, err) from None


def finish(mngr: ocp.CheckpointManager) -> None:
    """Waits for the checkpoint being written, and writes its checksums."""
    try:
        mngr.wait_until_finished()
        _seal(mngr, mngr.latest_step())
    except Exception as e:
        if (err := disk_error(e)) is None:
            raise
        raise _write_error(mngr, mngr.latest_step(), err) from None


def save_params(workdir: str, config, params, step: int = 0) -> None:
    """A checkpoint of `params` alone, without optimizer or data-iterator state (what `xling import`
    writes: `xling train` fine-tunes from it with a fresh optimizer, see `imported_only`). An
    optimizer state of zeros would triple a large model's memory and disk for nothing.

    Written without compression: trained float weights shrink by under 10% (the exponent bits), and
    zstd took most of an NLLB-600M import's time and held a compressed copy of every array in
    memory while writing (scripts/bench_import.py)."""
    import jax.numpy as jnp
    state = {"step": jnp.array(step, jnp.int32), "params": params}
    mngr = manager(workdir, config.keep_checkpoints, state_handler=ocp.PyTreeCheckpointHandler(use_compression=False))
    save(mngr, step, state, state_args=ocp.args.PyTreeSave)
    finish(mngr)
    mngr.close()


def _latest_good(mngr: ocp.CheckpointManager, restore_step, quarantine: bool):
    """(restore_step(step), step) for the newest step that restores. A step that fails is reported
    and skipped (and with `quarantine`, moved to WORKDIR/corrupt_checkpoints so that training can
    write that step again); if none restores, a UserError: never a silent fresh start."""
    root = str(mngr.directory)
    # Step folders orbax does not list (e.g. missing metadata) count too: they are checkpoints gone bad.
    listed = sorted(set(mngr.all_steps()) | set(saved_steps(os.path.dirname(root))), reverse=True)
    failures = []
    for step in listed:
        try:
            result = restore_step(step)
        except UserError:  # e.g. a process count the data state cannot resume with: not corruption
            raise
        except Exception as e:  # orbax/tensorstore raise many kinds for truncated or garbled files
            reason = " ".join(f"{type(e).__name__}: {e}".split())[:300]
            failures.append((step, reason))
            logger.warning(f"checkpoint step {step} in {root} cannot be restored ({reason})")
            continue
        if failures:
            bad = [s for s, _ in failures]
            moved = ""
            if quarantine and jax.process_index() == 0:
                target = os.path.join(os.path.dirname(root), CORRUPT_DIR, time.strftime("%Y%m%d-%H%M%S"))
                os.makedirs(target, exist_ok=True)
                for s in bad:
                    shutil.move(os.path.join(root, str(s)), os.path.join(target, str(s)))
                mngr.reload()
                moved = f"; moved step(s) {', '.join(map(str, bad))} to {target}"
            logger.warning(f"falling back to checkpoint step {step}{moved}")
        return result, step
    if failures:
        raise UserError(f"none of the checkpoints in {root} can be restored (" +
                        "; ".join(f"step {s}: {r}" for s, r in failures) +
                        f"); move {root} away to start over, or use another --workdir")
    return None, None


def restore(mngr: ocp.CheckpointManager, abstract_state, data_iter=None, step: int | None = None,
            packed: bool = False):
    """Restores state (laid out and sharded like `abstract_state`, whatever the mesh and process count
    that saved it) and, if given, the iterator in place (`packed`: its position is per process, see
    data_state): the given step, else the latest one that restores (see _latest_good)."""
    def restore_step(s):
        verify(str(mngr.directory), s)
        state = mngr.restore(s, args=ocp.args.Composite(state=ocp.args.StandardRestore(abstract_state))).state
        if data_iter is not None:
            data_iter.set_state(data_state(os.path.join(str(mngr.directory), str(s), "data"), packed))
        return state
    if step is not None:
        return restore_step(step)
    return _latest_good(mngr, restore_step, quarantine=True)[0]


def saved_numerics(mngr: ocp.CheckpointManager, step: int) -> dict:
    """The guard's record in checkpoint `step` ({} where there is none: a fresh run, an import, or
    a checkpoint from before the record existed)."""
    if not os.path.isdir(os.path.join(str(mngr.directory), str(step), NUMERICS)):
        return {}
    return mngr.restore(step, args=ocp.args.Composite(**{NUMERICS: ocp.args.JsonRestore()}))[NUMERICS]


def data_state(directory: str, packed: bool = False) -> bytes:
    """This process's data-iterator state in a checkpoint (grain writes one file per process).

    Saved by another number of processes, it is still found when every process saved the same
    state: a pipeline whose processes all read the whole stream and keep their rows of each batch
    (data.pack=False). Packed pipelines give each process its own examples (every process-count-th),
    so they resume only with the process count that saved them."""
    own = os.path.join(directory, f"process_{jax.process_index()}-of-{jax.process_count()}.json")
    if os.path.isfile(own):
        return open(own, "rb").read()
    if not os.path.isdir(directory):
        raise UserError(f"{directory} is missing: the checkpoint has no data-iterator state")
    saved = sorted(n for n in os.listdir(directory) if n.startswith("process_") and n.endswith(".json"))
    states = {open(os.path.join(directory, n), "rb").read() for n in saved}
    # Packed: refused even where the saved states happen to be equal (one process's, or equal counters):
    # a position in one process count's share of the stream is another place in another count's.
    if packed or len(states) != 1:
        raise UserError(f"{directory} holds the data-iterator states of {len(saved)} process(es), each with its "
                        f"own share of the packed examples; resume with {len(saved)} process(es) (a run with "
                        "data.pack=False resumes with any number)")
    return states.pop()


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
    _seal(mngr, step)
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
        mngr = _best_manager(workdir)
        try:
            verify(str(mngr.directory), record["step"])
            restored = mngr.restore(record["step"], args=ocp.args.Composite(
                params=ocp.args.PyTreeRestore(item=abstract_params, restore_args=restore_args)))
        except Exception as e:  # there is no earlier best to fall back to
            raise UserError(f"the best checkpoint {mngr.directory}/{record['step']} does not restore "
                            f"({str(e).splitlines()[0][:200]}); use a numbered --step (or none: the latest)") from None
        return restored.params, record["step"]
    mngr = manager(workdir, keep=1_000_000)

    def restore_step(s):
        verify(str(mngr.directory), s)
        return mngr.restore(s, args=ocp.args.Composite(state=ocp.args.PyTreeRestore(
            item={"params": abstract_params}, restore_args={"params": restore_args},
            partial_restore=True))).state["params"]
    if step is None:  # the latest one that restores (read-only: nothing is moved)
        return _latest_good(mngr, restore_step, quarantine=False)
    if step not in mngr.all_steps():
        raise UserError(f"{workdir} has no checkpoint at step {step}; it has steps "
                        f"{', '.join(map(str, mngr.all_steps()))} (and `best`)")
    return restore_step(step), step
