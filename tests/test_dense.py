"""xling's Dense layers against flax's: the same params (names, shapes, values), the same outputs
and gradients in float32; in bfloat16 on CPU, a bias gradient summed in float32."""
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax.core import meta

from xling_jax.model import matmul
from xling_jax.model.dense import Dense, DenseGeneral
from xling_jax.model.matmul import low_precision_rows

partitioned = nn.with_logical_partitioning
LAYERS = {  # name: (input shape, keyword arguments shared by flax's class and xling's)
    "Dense": ((3, 5, 8), dict(features=6)),
    "to heads": ((3, 5, 8), dict(features=(2, 4))),
    "from heads": ((3, 5, 2, 4), dict(features=8, axis=(-2, -1))),
    "partitioned, no bias": ((3, 5, 8), dict(features=(2, 4), use_bias=False, kernel_init=partitioned(
        nn.initializers.xavier_uniform(), ("embed", "heads", "kv")))),
}


def _pair(name):
    shape, kwargs = LAYERS[name]
    if name == "Dense":
        return shape, nn.Dense(**kwargs), Dense(**kwargs)
    return shape, nn.DenseGeneral(**kwargs), DenseGeneral(**kwargs)


@pytest.mark.parametrize("name", LAYERS)
def test_params_outputs_and_gradients_equal_flax(name):
    shape, flax_layer, layer = _pair(name)
    kx, kc = jax.random.split(jax.random.key(0))
    x = jax.random.normal(kx, shape)
    flax_vars, our_vars = flax_layer.init(jax.random.key(1), x), layer.init(jax.random.key(1), x)
    # Same structure, boxes (sharding names) and values: checkpoints and interop cannot tell.
    assert jax.tree.structure(flax_vars, is_leaf=lambda v: isinstance(v, meta.Partitioned)) == \
        jax.tree.structure(our_vars, is_leaf=lambda v: isinstance(v, meta.Partitioned))
    jax.tree.map(np.testing.assert_array_equal, meta.unbox(flax_vars), meta.unbox(our_vars))
    params = meta.unbox(flax_vars)
    want, flax_vjp = jax.vjp(lambda p, x: flax_layer.apply(p, x), params, x)
    got, our_vjp = jax.vjp(lambda p, x: layer.apply(p, x), params, x)
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)
    cot = jax.random.normal(kc, want.shape)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5), our_vjp(cot), flax_vjp(cot))


@pytest.mark.skipif(not low_precision_rows(jnp.bfloat16), reason="16-bit layers keep flax's form off CPU")
def test_bfloat16_bias_gradient_is_summed_in_float32():
    """4096 rows of cotangent 1: summed in bfloat16 (8 significant bits) this is off (flax's layer gives 1024)."""
    layer = Dense(4, dtype=jnp.bfloat16)
    x = jnp.ones((64, 64, 8), jnp.bfloat16)
    params = layer.init(jax.random.key(0), x)
    grads = jax.grad(lambda p: jnp.sum(layer.apply(p, x).astype(jnp.float32)))(params)
    assert grads["params"]["bias"].dtype == jnp.float32
    np.testing.assert_array_equal(grads["params"]["bias"], np.full(4, 4096.0))


@pytest.mark.parametrize("name", ["to heads", "from heads"])
def test_bfloat16_outputs_and_gradients_close_to_float32(name):
    shape, _, layer = _pair(name)
    x = jax.random.normal(jax.random.key(2), shape)
    params = layer.init(jax.random.key(3), x)
    bf16 = layer.clone(dtype=jnp.bfloat16)
    out, vjp = jax.vjp(lambda p, x: bf16.apply(p, x), params, x.astype(jnp.bfloat16))
    want, want_vjp = jax.vjp(lambda p, x: layer.apply(p, x), params, x)
    assert out.dtype == jnp.bfloat16
    np.testing.assert_allclose(out.astype(jnp.float32), want, rtol=3e-2, atol=3e-2)
    cot = jax.random.normal(jax.random.key(4), want.shape)
    (g_params, g_x), (w_params, w_x) = vjp(cot.astype(jnp.bfloat16)), want_vjp(cot)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=5e-2, atol=5e-2), g_params, w_params)
    assert jax.tree.leaves(g_params)[0].dtype == jnp.float32
    np.testing.assert_allclose(g_x.astype(jnp.float32), w_x, rtol=5e-2, atol=5e-2)


def test_a_cpu_backend_without_the_fast_forms_gets_flax_computation(monkeypatch):
    """Where the probe finds the 16-bit forms unsupported (an older jaxlib), bfloat16 layers compute
    exactly as flax's do."""
    monkeypatch.setattr(matmul, "_cpu_runs_low_precision_forms", lambda: False)
    assert not low_precision_rows(jnp.bfloat16)
    shape, flax_layer, layer = _pair("to heads")
    flax_layer, layer = flax_layer.clone(dtype=jnp.bfloat16), layer.clone(dtype=jnp.bfloat16)
    x = jax.random.normal(jax.random.key(5), shape)
    params = meta.unbox(flax_layer.init(jax.random.key(6), x))
    want, flax_vjp = jax.vjp(lambda p: flax_layer.apply(p, x), params)
    got, our_vjp = jax.vjp(lambda p: layer.apply(p, x), params)
    np.testing.assert_array_equal(got, want)
    cot = jnp.ones(want.shape, want.dtype)
    jax.tree.map(np.testing.assert_array_equal, our_vjp(cot), flax_vjp(cot))
