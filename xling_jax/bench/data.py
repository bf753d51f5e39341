"""`xling bench data`: input pipeline throughput next to what the train step consumes.

Both are measured in the same process on the same machine: the pipeline alone
(single host thread, no prefetch) producing `batches` batches, then the jitted
train step on batches of the same config. The pipeline should deliver at least
5x what the step consumes.
"""
import functools
import time

import jax
import numpy as np

from xling_jax.data import plan as data_plan
from xling_jax.model import build_model
from xling_jax.objectives import tasks
from xling_jax.training import mesh as mesh_lib
from xling_jax.training import optimizer, steps
from xling_jax.training import workdir as workdir_lib
from xling_jax.training.train import setup_tokenizer, training_batches


def _count(batch) -> tuple[int, int]:
    """(examples, non-pad source+target tokens) in a batch."""
    seg = batch["targets_segment_ids"]
    examples = int(sum(len(np.unique(row[row > 0])) for row in seg))
    tokens = int(np.sum(batch["inputs_segment_ids"] > 0) + np.sum(seg > 0))
    return examples, tokens


def bench_data(config, workdir: str, batches: int = 50, steps_timed: int = 10) -> dict:
    workdir = workdir_lib.prepare(workdir)  # a new --workdir is created before the tokenizer is trained into it
    data = data_plan.resolve(config.data)
    tokenizer = setup_tokenizer(config, workdir, data)

    start = time.perf_counter()
    it = iter(training_batches(config, data, tasks.resolve(config), tokenizer))
    first = next(it)
    startup = time.perf_counter() - start
    examples = tokens = 0
    start = time.perf_counter()
    kept = [first]
    for _ in range(batches):
        b = next(it)
        e, t = _count(b)
        examples, tokens = examples + e, tokens + t
        if len(kept) < steps_timed + 1:
            kept.append(b)
    elapsed = time.perf_counter() - start
    pipe_tokens_per_s = tokens / elapsed

    mesh = mesh_lib.make_mesh(config.mesh)
    model = build_model(config.model, tokenizer.vocab_size)
    tx = optimizer.make_optimizer(config.train)
    state = jax.jit(functools.partial(steps.init_state, model=model, tx=tx, batch_shape=(1, 8)),
                    out_shardings=mesh_lib.replicated(mesh))(jax.random.key(config.seed))
    step = jax.jit(steps.configured_train_step(config, model, tx), donate_argnums=(0,))
    rng = jax.random.key(0)
    on_device = [mesh_lib.global_batch(b, mesh) for b in kept]
    state, m = step(state, on_device[0], rng)  # compile
    jax.block_until_ready(m)
    step_tokens, start = 0, time.perf_counter()
    for b in on_device[1:]:
        state, m = step(state, b, rng)
        step_tokens += float(m["source_tokens"] + m["target_tokens"])
    jax.block_until_ready(m)
    step_tokens_per_s = step_tokens / (time.perf_counter() - start)
    return {
        "pipeline": {"batches": batches, "examples_per_s": round(examples / elapsed, 1),
                     "tokens_per_s": round(pipe_tokens_per_s), "batches_per_s": round(batches / elapsed, 2),
                     "startup_s": round(startup, 2)},
        "train_step": {"steps": len(on_device) - 1, "tokens_per_s": round(step_tokens_per_s)},
        "pipeline_over_step": round(pipe_tokens_per_s / step_tokens_per_s, 2),
        "batch_size": config.train.batch_size, "max_len": config.data.max_len, "pack": bool(config.data.pack),
        "directions": [d.key(True) for d in data.directions],
        "devices": f"{jax.device_count()} x {jax.devices()[0].device_kind}",
    }
