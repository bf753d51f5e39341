"""`xling bench train`: the JSON it prints, and its FLOPs formula against a hand count."""
import json

import pytest

from xling_jax.bench import flops
from xling_jax.cli.main import main


def _matmul_flops(m, k, n, count=1):
    return 2 * m * k * n * count


def test_flops_formula_matches_a_hand_count_of_every_matrix_product():
    # tiny shape, but source and target lengths and encoder/decoder depths differ to catch mix-ups
    b, s, t, d, f, v, le, ld = 4, 8, 6, 32, 64, 500, 2, 3
    fwd = 0
    for _ in range(le):
        fwd += _matmul_flops(b * s, d, d, 4)  # q, k, v, out
        fwd += _matmul_flops(b * s, d, f) + _matmul_flops(b * s, f, d)  # MLP
        fwd += _matmul_flops(s, d, s, b) + _matmul_flops(s, s, d, b)  # QK^T, AV (heads folded into d)
    for _ in range(ld):
        fwd += _matmul_flops(b * t, d, d, 4)  # self q, k, v, out
        fwd += _matmul_flops(t, d, t, b) + _matmul_flops(t, t, d, b)
        fwd += _matmul_flops(b * t, d, d, 2) + _matmul_flops(b * s, d, d, 2)  # cross q, out; k, v of encoder
        fwd += _matmul_flops(t, d, s, b) + _matmul_flops(t, s, d, b)
        fwd += _matmul_flops(b * t, d, f) + _matmul_flops(b * t, f, d)
    fwd += _matmul_flops(b * t, d, v)  # logits
    assert flops.train_step_flops(batch=b, src_len=s, tgt_len=t, emb_dim=d, mlp_dim=f, vocab=v, enc_layers=le,
                                  dec_layers=ld) == 3 * fwd


def test_peak_table():
    assert flops.peak_flops("NVIDIA H100 80GB HBM3", "bfloat16") == 989e12
    assert flops.peak_flops("NVIDIA H100 PCIe", "bfloat16") == 756e12
    assert flops.peak_flops("TPU v5 lite", "bfloat16") == 197e12
    assert flops.peak_flops("cpu", "float32") is None


def test_bench_train_prints_timings_flops_and_the_torch_ratio(capsys):
    pytest.importorskip("torch")
    assert main(["bench", "train", "--shape", "tiny", "--steps", "2", "--warmup", "1", "--against", "torch"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["tokens_per_step"] == 2 * 4 * 8
    assert out["model_flops_per_step"] == flops.train_step_flops(
        batch=4, src_len=8, tgt_len=8, emb_dim=32, mlp_dim=64, vocab=500, enc_layers=2, dec_layers=2)
    for engine in ("xling_jax", "torch"):
        e = out[engine]
        assert e["timed_steps"] == 2
        assert e["step_s_min"] <= e["step_s_median"] <= e["step_s_max"]
        assert e["tokens_per_s"] == pytest.approx(out["tokens_per_step"] / e["step_s_median"], rel=1e-3, abs=0.06)
    x = out["xling_jax"]
    assert x["compile_s"] > 0 and x["peak_memory_bytes"] > 0 and x["xla_flops_per_step"] > 0
    assert x["achieved_over_matmul"] == pytest.approx(x["achieved_flops_per_s"] / out["cpu_matmul_flops_per_s"],
                                                      abs=1e-4)  # printed with 4 decimals
    assert out["xling_over_torch"] == pytest.approx(x["tokens_per_s"] / out["torch"]["tokens_per_s"], rel=1e-2)
    assert out["torch"]["achieved_over_matmul"] == pytest.approx(
        out["torch"]["achieved_flops_per_s"] / out["cpu_matmul_flops_per_s"], abs=1e-4)
    assert out["torch"]["float32_matmul_precision"] == "highest"  # torch's default, echoed
    assert "torch_float32" not in out  # only beside a 16-bit xling run


def _bench_tiny(capsys, *args) -> dict:
    assert main(["bench", "train", "--shape", "tiny", "--steps", "1", "--warmup", "0", *args]) == 0
    return json.loads(capsys.readouterr().out)


def test_xla_memory_of_the_compiled_step_and_what_grad_accumulation_saves(capsys):
    # Rows long enough that activations, not the gradient accumulator, dominate the temporary buffers.
    longer = ["--config.train.batch_size=16", "--config.data.max_len=32"]
    one, two = (_bench_tiny(capsys, *longer, f"--config.train.grad_accum_steps={n}") for n in (1, 2))
    assert (one["grad_accum_steps"], two["grad_accum_steps"]) == (1, 2)
    for out in (one, two):
        for kind in ("temp", "argument", "output"):
            value = out["xling_jax"][f"xla_{kind}_memory_bytes"]
            assert isinstance(value, int) and value > 0
    # Two microbatches of 8 rows keep half the activations (measured: 11.6 MB -> 6.1 MB); params,
    # optimizer state and the batch, the step's arguments, are the same.
    assert two["xling_jax"]["xla_temp_memory_bytes"] < 0.7 * one["xling_jax"]["xla_temp_memory_bytes"]
    assert two["xling_jax"]["xla_argument_memory_bytes"] == one["xling_jax"]["xla_argument_memory_bytes"]


def test_torch_precision_reaches_torch_during_its_steps_only(capsys):
    torch = pytest.importorskip("torch")
    before = torch.get_float32_matmul_precision()
    out = _bench_tiny(capsys, "--against", "torch", "--torch_precision", "medium")
    assert out["torch"]["float32_matmul_precision"] == "medium" != before
    assert torch.get_float32_matmul_precision() == before  # the rest of the process is untouched


def test_torch_precision_without_torch_is_a_one_line_error(capsys):
    assert main(["bench", "train", "--shape", "tiny", "--torch_precision", "medium"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("xling: error: ") and "\n" not in err and "--against torch" in err, err


def test_bfloat16_bench_on_cpu_also_times_torch_in_float32(capsys):
    pytest.importorskip("torch")
    assert main(["bench", "train", "--shape", "tiny", "--steps", "2", "--warmup", "1", "--against", "torch",
                 "--config.model.dtype=bfloat16"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["model"]["dtype"] == "bfloat16"
    for engine in ("torch", "torch_float32"):
        assert out[engine]["timed_steps"] == 2
        assert out[f"xling_over_{engine}"] == pytest.approx(
            out["xling_jax"]["tokens_per_s"] / out[engine]["tokens_per_s"], rel=1e-2)
