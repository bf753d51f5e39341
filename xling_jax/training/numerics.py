"""Guarded numerics on the host side of the train loop.

The jitted step (steps.train_step) skips the update of a step whose loss or gradient is not
finite and flags it (`nonfinite` = 1). From the per-step metrics of each logged window this
module counts those steps, stops training after `max_nonfinite` consecutive ones, and reports
loss spikes: a step whose loss exceeds `spike_factor` times the running mean of the logged
losses (an exponential moving average over logged rows, so that it is rebuilt exactly from
metrics.jsonl on resume).
"""
import math

import jax
import numpy as np

from xling_jax import log
from xling_jax.errors import UserError

logger = log.get_logger(__name__)

SPIKE_DECAY = 0.9  # weight of the past in the running mean of logged losses
SPIKE_WARMUP_ROWS = 5  # rows logged before spikes are looked for (the loss falls fast at first)


MAX_NAN_STEPS = 8  # debug.nan_steps entries: a fixed-size argument of the compiled step


def nan_steps_array(steps) -> np.ndarray:
    """debug.nan_steps as the train step's `nan_steps` argument (0-padded: the same compiled step
    whichever steps are poisoned, none included)."""
    if len(steps) > MAX_NAN_STEPS or any(s < 1 for s in steps):
        raise UserError(f"debug.nan_steps takes at most {MAX_NAN_STEPS} step numbers >= 1, got {tuple(steps)}")
    return np.array(list(steps) + [0] * (MAX_NAN_STEPS - len(steps)), np.int32)


class NonFiniteStop(UserError):
    """Too many consecutive non-finite steps; the CLI exits with status 3."""
    exit_code = 3


class Guard:
    """The host side of the guard for one run. `logged_losses`: the train rows' losses kept from
    before a resume; `saved`: what the checkpoint resumed from recorded (`Guard.saved`), so that a
    streak of non-finite steps goes on counting across a restart."""

    def __init__(self, max_nonfinite: int, spike_factor: float, logged_losses=(), saved=None):
        self.max_nonfinite, self.spike_factor = max_nonfinite, spike_factor
        saved = saved or {}
        self.streak, self.first_bad = saved.get("nonfinite_streak", 0), saved.get("first_nonfinite")
        self.mean, self.rows = None, 0
        for loss in logged_losses:  # rows kept from before a resume
            self._fold(loss)

    def _fold(self, loss: float) -> None:
        if not math.isfinite(loss):
            return
        self.mean = loss if self.mean is None else SPIKE_DECAY * self.mean + (1 - SPIKE_DECAY) * loss
        self.rows += 1

    def _count(self, step: int) -> None:
        self.streak += 1
        self.first_bad = step if self.streak == 1 else self.first_bad
        if self.max_nonfinite and self.streak >= self.max_nonfinite:
            raise NonFiniteStop(f"stopped at step {step}: {self.streak} consecutive steps with a non-finite "
                                f"loss or gradient (steps {self.first_bad}-{step}, updates skipped; "
                                f"train.max_nonfinite={self.max_nonfinite})")

    def check(self, steps: list[int], losses: list[float], nonfinite: list[float]) -> dict:
        """Row entries for one logged window of steps (1-based `done` numbers): `nonfinite` (steps
        skipped) and `loss_spikes`; raises NonFiniteStop when the streak reaches max_nonfinite,
        and the row's `loss` is the mean over finite steps."""
        spikes, good = 0, []
        for step, loss, bad in zip(steps, losses, nonfinite):
            if bad:
                self._count(step)
                continue
            self.streak = 0
            good.append(loss)
            if (self.spike_factor and self.mean is not None and self.rows >= SPIKE_WARMUP_ROWS
                    and loss > self.spike_factor * self.mean):
                spikes += 1
                logger.warning(f"loss spike at step {step}: {loss:.4g} > {self.spike_factor:g} x the "
                               f"running mean {self.mean:.4g}")
        loss = sum(good) / len(good) if good else float("nan")
        self._fold(loss)
        return {"loss": loss, "nonfinite": int(sum(1 for b in nonfinite if b)), "loss_spikes": spikes}

    def window_row(self, done: int, fetched: list[dict], keys=()) -> dict:
        """`check` on the fetched metrics of the steps up to `done`, plus the mean of each of `keys`
        over the finite steps (over all of them if none was finite)."""
        row = self.check(list(range(done - len(fetched) + 1, done + 1)), [float(m["loss"]) for m in fetched],
                         [float(m["nonfinite"]) for m in fetched])
        finite = [m for m in fetched if not m["nonfinite"]] or fetched
        row.update({k: float(np.mean([m[k] for m in finite])) for k in keys})
        return row

    def saved(self, done: int, pending: list) -> dict:
        """What a checkpoint of step `done` records: the streak after the steps not logged yet, whose
        `nonfinite` flags (device values) are `pending`. Raises NonFiniteStop if they complete a streak
        (the check at the next log would stop there; a checkpoint past it would resume a run that
        should have stopped)."""
        streak, first = self.streak, self.first_bad
        for step, bad in zip(range(done - len(pending) + 1, done + 1), jax.device_get(pending)):
            if bad:
                self._count(step)
            else:
                self.streak = 0
        record = {"nonfinite_streak": self.streak, "first_nonfinite": self.first_bad if self.streak else None}
        self.streak, self.first_bad = streak, first  # these steps are checked again when they are logged
        return record

    def stop_error(self, e: NonFiniteStop, mngr) -> NonFiniteStop:
        """`e` naming the newest checkpoint of checkpoint manager `mngr` from before the streak."""
        good = [s for s in mngr.all_steps() if s < self.first_bad]
        return NonFiniteStop(f"{e}; the last good checkpoint is " + (
            f"step {max(good)} in {mngr.directory}" if good else "none (no step before it was saved)"))


def stopping_caller(guard: Guard, mngr, *cleanup):
    """A caller of `guard`'s methods for a train loop: a NonFiniteStop from them first runs the
    `cleanup` callables (finish the checkpoint being written, close the data and the metrics) and
    then ends the run, naming the last good checkpoint of `mngr`."""
    def call(method, *args):
        try:
            return method(*args)
        except NonFiniteStop as e:
            for fn in cleanup:
                fn()
            raise guard.stop_error(e, mngr) from None
    return call
