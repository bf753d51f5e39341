"""Preemption: SIGTERM or SIGINT asks the train loop to stop after its current step.

The loop then writes a checkpoint (with the data iterator's position) and returns normally, so
`xling train` exits 0 and rerunning the same command resumes. The handlers that were installed
before are put back on exit (train_and_evaluate also runs inside Colab and tests), and as soon as
the first signal arrives, so a second Ctrl-C or SIGTERM acts as it did before (aborts at once).

In a multi-process job a process that stopped alone would leave the others waiting in the next
step's collectives, and the signal may reach one host only, or the hosts at different steps. There
SIGTERM is left to JAX's preemption service (started by jax.distributed.initialize), which agrees
on one step for all processes: `multihost_utils.reached_preemption_sync_point`. SIGINT keeps its
default there (it aborts).
"""
import shlex
import signal
import threading

from xling_jax import log

logger = log.get_logger(__name__)

SIGNALS = (signal.SIGTERM, signal.SIGINT)
# Set by the CLI (`xling ...` as typed) so that the stop message can print the command to rerun.
command: list[str] | None = None


# Steps at which this process has already stopped for a preemption: JAX's preemption service keeps
# answering yes at its sync step, which a later run in the same process must not take as a new stop.
_used_sync_steps: set[int] = set()


class StopRequest:
    """A context manager; `requested` names the signal this process received (e.g. "SIGTERM"),
    else None; `stop_at(step)` is the loop's question, the same on every process."""

    def __init__(self):
        import jax
        self.requested: str | None = None
        self._previous = {}
        self._multi = jax.process_count() > 1

    def __enter__(self) -> "StopRequest":
        # Python lets only the main thread install handlers; elsewhere the loop runs without them.
        if not self._multi and threading.current_thread() is threading.main_thread():
            self._previous = {s: signal.signal(s, self._handle) for s in SIGNALS}
        return self

    def stop_at(self, step: int) -> str | None:
        """The signal to stop for after `step`, else None; asked after every step. In a multi-process
        job every process gets the same answer at the same step."""
        if not self._multi:
            return self.requested
        from jax._src import distributed
        from jax.experimental import multihost_utils
        if distributed.global_state.preemption_sync_manager is None:  # jax_enable_preemption_service off
            return None
        if step not in _used_sync_steps and multihost_utils.reached_preemption_sync_point(step):
            _used_sync_steps.add(step)
            return "SIGTERM"
        return None

    def _handle(self, signum, frame) -> None:
        self.requested = signal.Signals(signum).name
        self._restore()

    def _restore(self) -> None:
        for s, handler in self._previous.items():
            signal.signal(s, handler)
        self._previous = {}

    def __exit__(self, *exc) -> None:
        self._restore()


def report_stop(signal_name: str, step: int, checkpoint_dir: str, workdir: str) -> None:
    logger.warning(f"Stopped by {signal_name} after step {step}: checkpoint written to {checkpoint_dir}/{step}; "
                   f"{resume_hint(workdir)}")


def resume_hint(workdir: str) -> str:
    """How to continue a stopped run: the CLI command as typed, else the Python call."""
    if command:
        return f"rerun the same command to resume: {shlex.join(command)}"
    return f"call train_and_evaluate(config, {workdir!r}) again with the same config to resume"
