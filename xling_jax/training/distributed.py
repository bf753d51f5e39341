"""Multi-process start-up: `jax.distributed.initialize` from flags, the environment or the cluster.

Every process of a multi-host job runs the same `xling train` command. The coordinator address,
process count and process id come from the flags (--coordinator_address, --num_processes,
--process_id), else from JAX_COORDINATOR_ADDRESS, JAX_NUM_PROCESSES, JAX_PROCESS_ID; with
--distributed alone (or XLING_DISTRIBUTED=1) JAX detects them itself (TPU pod slices, SLURM,
Open MPI, Kubernetes).
"""
import argparse
import os

from xling_jax.errors import UserError


def add_flags(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("multi-process (one process per host; see README: TPU pods, GPU clusters)")
    g.add_argument("--distributed", action="store_true",
                   help="call jax.distributed.initialize(), which finds the coordinator on TPU pods and SLURM")
    g.add_argument("--coordinator_address", default=None, metavar="HOST:PORT",
                   help="process 0's address (default: $JAX_COORDINATOR_ADDRESS)")
    g.add_argument("--num_processes", type=int, default=None, help="default: $JAX_NUM_PROCESSES")
    g.add_argument("--process_id", type=int, default=None, help="this process, 0..N-1 (default: $JAX_PROCESS_ID)")


def _env_int(name: str) -> int | None:
    text = os.environ.get(name)
    if not text:
        return None
    if not text.isdigit():
        raise UserError(f"{name}={text!r} is not a number")
    return int(text)


def settings(args) -> dict | None:
    """jax.distributed.initialize's keyword arguments for these flags and environment; None: one process."""
    address = args.coordinator_address or os.environ.get("JAX_COORDINATOR_ADDRESS")
    count = args.num_processes if args.num_processes is not None else _env_int("JAX_NUM_PROCESSES")
    index = args.process_id if args.process_id is not None else _env_int("JAX_PROCESS_ID")
    explicit = (address, count, index)
    if any(v is not None for v in explicit) and not all(v is not None for v in explicit):
        if not (args.distributed or os.environ.get("XLING_DISTRIBUTED") == "1"):
            raise UserError("give all of --coordinator_address, --num_processes and --process_id (or "
                            "JAX_COORDINATOR_ADDRESS, JAX_NUM_PROCESSES, JAX_PROCESS_ID), or --distributed to "
                            "have JAX detect the cluster")
    elif all(v is not None for v in explicit):
        if not 0 <= index < count:
            raise UserError(f"process id {index} is not in 0..{count - 1}")
        return {"coordinator_address": address, "num_processes": count, "process_id": index}
    if args.distributed or os.environ.get("XLING_DISTRIBUTED") == "1":
        # What is known is passed on; JAX's cluster detection fills in the rest.
        return {k: v for k, v in zip(("coordinator_address", "num_processes", "process_id"), explicit)
                if v is not None}
    return None


def initialize(args) -> None:
    """Joins the multi-process job the flags or environment describe (nothing for a single process)."""
    kwargs = settings(args)
    import jax
    if kwargs is None or jax.distributed.is_initialized():  # e.g. a second command in the same process
        return
    try:
        jax.distributed.initialize(**kwargs)
    except (ValueError, RuntimeError) as e:
        raise UserError(f"jax.distributed.initialize failed ({e}); pass --coordinator_address, "
                        "--num_processes and --process_id, or run where JAX detects the cluster") from None
