"""`xling bench train`: train-step throughput, FLOPs and MFU of a reference shape (and PyTorch's).

The step is `training/steps.py`'s train_step, jitted as `xling train` jits it, with the config's
model and optimizer; the shape (bench/shapes.py) sets the model size, vocabulary, batch and length,
and `--config.KEY=VALUE` overrides go on top (e.g. model.dtype=bfloat16). Batches are random full
rows (no padding), one segment per row, so every row holds length source + length target tokens.

Timed steps run one at a time (each waits for its result). With `--against torch` the PyTorch
reference (bench/torch_ref.py) of the same shape and batch runs in the same process on the same
threads, in blocks that alternate with xling's, so that both see the same machine load; the
ratio is of tokens/s at the median step times.
"""
import functools
import os
import resource
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np

from xling_jax.bench import flops as flops_lib
from xling_jax.bench import torch_ref
from xling_jax.bench.shapes import SHAPES, model_overrides
from xling_jax.errors import UserError
from xling_jax.model import build_model
from xling_jax.training import host_malloc, optimizer, steps
from xling_jax.training import mesh as mesh_lib

BLOCKS = 4  # alternating xling/torch blocks the timed steps are split into


def apply_shape(config, shape: str):
    """The shape's model size, vocabulary, batch and length on `config` (overrides come after)."""
    s = SHAPES[shape]
    config.model.update(model_overrides(shape))
    config.model.num_decoder_layers = 0
    config.tokenizer.vocab_size = s["vocab_size"]
    config.train.batch_size = s["batch_size"]
    config.data.max_len = s["length"]
    return config


def random_batch(batch: int, length: int, vocab: int, seed: int = 0) -> dict:
    """Full rows of random tokens (ids 2.. skip pad 0 and EOS 1), one segment per row."""
    rng = np.random.default_rng(seed)
    tokens = lambda: rng.integers(2, vocab, (batch, length), dtype=np.int32)
    ones = np.ones((batch, length), np.int32)
    positions = np.broadcast_to(np.arange(length, dtype=np.int32), (batch, length)).copy()
    return {"inputs": tokens(), "targets": tokens(), "inputs_segment_ids": ones, "targets_segment_ids": ones,
            "inputs_positions": positions, "targets_positions": positions}


def matmul_flops_per_s(dtype: str, n: int = 1024, reps: int = 3) -> float:
    """The best of `reps` timings of one large square matrix product: the machine's own peak."""
    a = jnp.ones((n, n), dtype)
    # 16-bit operands accumulate into float32, as the model's products do (model/matmul.py).
    mm = jax.jit(lambda x, y: jax.lax.dot(x, y, preferred_element_type=jnp.promote_types(x.dtype, jnp.float32)))
    jax.block_until_ready(mm(a, a))
    best = float("inf")
    for _ in range(reps):
        start = time.perf_counter()
        jax.block_until_ready(mm(a, a))
        best = min(best, time.perf_counter() - start)
    return 2 * n ** 3 / best


def _timings(seconds: list[float], tokens_per_step: int, flops_per_step: int) -> dict:
    median = statistics.median(seconds)
    q = np.percentile(seconds, [10, 90]) if len(seconds) > 1 else (median, median)

    def sig(s: float) -> float:  # significant digits, not decimals: tiny shapes step in microseconds
        return float(f"{s:.6g}")
    return {"step_s_median": sig(median), "step_s_p10": sig(float(q[0])), "step_s_p90": sig(float(q[1])),
            "step_s_min": sig(min(seconds)), "step_s_max": sig(max(seconds)), "timed_steps": len(seconds),
            "tokens_per_s": round(tokens_per_step / median, 1),
            "achieved_flops_per_s": round(flops_per_step / median)}


def _peak_memory(device) -> tuple[int | None, str]:
    stats = device.memory_stats() if hasattr(device, "memory_stats") else None
    if stats and "peak_bytes_in_use" in stats:
        return int(stats["peak_bytes_in_use"]), "device peak_bytes_in_use"
    # CPU backends keep no allocator statistics: the process's peak resident set, read after
    # xling's compile and warm-up and before PyTorch is built.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024, "process peak RSS (CPU)"


def _xla_memory(compiled) -> dict:
    """The compiled step's buffers as XLA planned them: `temp` is everything the step allocates
    beyond its inputs and outputs (activations kept for the backward pass, gradients...), the part
    that train.grad_accum_steps and model.remat trade for time; None where the backend says nothing."""
    try:
        m = compiled.memory_analysis()
    except NotImplementedError:
        m = None
    return {f"xla_{k}_memory_bytes": int(getattr(m, f"{k}_size_in_bytes")) if m is not None else None
            for k in ("temp", "argument", "output")}


def bench_train(config, shape: str, steps_timed: int = 20, warmup: int = 3, against: str | None = None,
                torch_precision: str | None = None) -> dict:
    if steps_timed < 1 or warmup < 0:
        raise UserError(f"--steps must be >= 1 and --warmup >= 0 (got {steps_timed}, {warmup})")
    if torch_precision and against != "torch":
        raise UserError(f"--torch_precision {torch_precision} sets PyTorch's float32 matmul precision: "
                        "add --against torch")
    host_malloc.tune()  # as xling train does; PyTorch, in the same process, gains from it too
    mc, tc = config.model, config.train
    vocab, batch_size, length = config.tokenizer.vocab_size, tc.batch_size, config.data.max_len
    threads = len(os.sched_getaffinity(0))
    batch_np = random_batch(batch_size, length, vocab, config.seed)

    mesh = mesh_lib.make_mesh(config.mesh)
    mesh_lib.check_batch_size(batch_size, mesh, tc.grad_accum_steps)
    model = build_model(mc, vocab)
    tx = optimizer.make_optimizer(tc)
    replicated = mesh_lib.replicated(mesh)
    state = jax.jit(functools.partial(steps.init_state, model=model, tx=tx, batch_shape=(1, 8)),
                    out_shardings=replicated)(jax.random.key(config.seed))
    step_fn = steps.configured_train_step(config, model, tx)
    batch = mesh_lib.global_batch(batch_np, mesh)
    rng = jax.random.key(config.seed)
    start = time.perf_counter()
    compiled = jax.jit(step_fn, out_shardings=(replicated, replicated), donate_argnums=(0,)).lower(
        state, batch, rng).compile()
    compile_s = time.perf_counter() - start
    cost = compiled.cost_analysis()
    cost = cost[0] if isinstance(cost, (list, tuple)) else cost

    def xling_steps(n):
        nonlocal state
        times, loss = [], None  # no loss after 0 steps (--warmup 0)
        for _ in range(n):
            t0 = time.perf_counter()
            state, metrics = compiled(state, batch, rng)
            jax.block_until_ready(metrics)
            times.append(time.perf_counter() - t0)
            loss = metrics["loss"]
        return times, None if loss is None else float(loss)

    xling_steps(warmup)
    device = jax.devices()[0]
    peak_mem, peak_mem_kind = _peak_memory(device)

    torch_steps = {}  # name in the JSON -> PyTorch step
    if against == "torch":
        torch_steps["torch"], torch_device, torch_version = torch_ref.build(
            model.cfg, tc, length, threads, matmul_precision=torch_precision)
        if mc.dtype != "float32" and device.platform == "cpu":
            # PyTorch's autocast runs slower than its float32 on CPUs: compare with its best too.
            torch_steps["torch_float32"] = torch_ref.build(model.cfg, tc, length, threads, dtype="float32",
                                                           matmul_precision=torch_precision)[0]
        for torch_step in torch_steps.values():
            for _ in range(warmup):
                torch_step(batch_np)

    blocks = min(BLOCKS if torch_steps else 1, max(steps_timed, 1))
    x_times, matmul = [], []
    t_times, t_loss = {name: [] for name in torch_steps}, {}
    for i in range(blocks):
        n = steps_timed // blocks + (i < steps_timed % blocks)
        times, x_loss = xling_steps(n)
        x_times += times
        for name, torch_step in torch_steps.items():
            for _ in range(n):
                t0 = time.perf_counter()
                t_loss[name] = torch_step(batch_np)
                t_times[name].append(time.perf_counter() - t0)
        if device.platform == "cpu":  # sampled between blocks, under the same load
            matmul.append(matmul_flops_per_s(mc.dtype))

    tokens = 2 * batch_size * length
    model_flops = flops_lib.train_step_flops(
        batch=batch_size, src_len=length, tgt_len=length, emb_dim=mc.emb_dim, mlp_dim=mc.mlp_dim, vocab=vocab,
        enc_layers=mc.num_layers, dec_layers=mc.num_decoder_layers or mc.num_layers)
    xling = _timings(x_times, tokens, model_flops)
    xling.update(compile_s=round(compile_s, 2), loss=round(x_loss, 4), peak_memory_bytes=peak_mem,
                 peak_memory_kind=peak_mem_kind, **_xla_memory(compiled),
                 xla_flops_per_step=round(cost["flops"]) if cost and "flops" in cost else None)
    peak = flops_lib.peak_flops(device.device_kind, mc.dtype)
    if peak:
        xling["mfu"] = round(xling["achieved_flops_per_s"] / peak, 4)
    out = {"shape": shape, "model": {k: mc[k] for k in ("num_layers", "emb_dim", "num_heads", "mlp_dim", "pre_ln",
                                                         "dtype", "remat")} | {"vocab_size": vocab},
           "batch_size": batch_size, "grad_accum_steps": tc.grad_accum_steps, "src_len": length, "tgt_len": length, "tokens_per_step": tokens,
           "warmup_steps": warmup, "device": f"{jax.device_count()} x {device.device_kind}", "threads": threads,
           "load_average_1min": round(os.getloadavg()[0], 2), "jax_version": jax.__version__,
           "model_flops_per_step": model_flops, "flops_formula": flops_lib.FORMULA,
           "device_peak_flops_per_s": peak, "xling_jax": xling}
    if matmul:
        out["cpu_matmul_flops_per_s"] = round(max(matmul))
        xling["achieved_over_matmul"] = round(xling["achieved_flops_per_s"] / max(matmul), 4)
    for name in torch_steps:
        torch_res = _timings(t_times[name], tokens, model_flops)
        torch_res.update(loss=round(t_loss[name], 4), device=torch_device, version=torch_version,
                         float32_matmul_precision=torch_steps[name].matmul_precision)
        if peak and name == "torch":
            torch_res["mfu"] = round(torch_res["achieved_flops_per_s"] / peak, 4)
        if matmul and name == "torch":  # the matmul was timed in model.dtype, this engine's precision
            torch_res["achieved_over_matmul"] = round(torch_res["achieved_flops_per_s"] / max(matmul), 4)
        out[name] = torch_res
        out[f"xling_over_{name}"] = round(xling["tokens_per_s"] / torch_res["tokens_per_s"], 3)
    return out
