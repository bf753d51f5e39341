"""flat_dot_general computes exactly lax.dot_general (values and gradients) for every form
the dense layers use, and leaves the forms it does not handle to lax.dot_general;
low_precision_product and low_precision_attention are float32-accumulated products of bfloat16
operands, gradients included."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from xling_jax.model.matmul import (
    NEG_INF,
    flat_dot_general,
    low_precision_attention,
    low_precision_product,
    low_precision_rows,
)

CASES = {  # name: (lhs shape, rhs shape, dimension numbers)
    "dense 3-D": ((3, 5, 8), (8, 6), (((2,), (0,)), ((), ()))),
    "dense 4-D": ((2, 3, 5, 8), (8, 6), (((3,), (0,)), ((), ()))),
    "to heads": ((3, 5, 8), (8, 2, 4), (((2,), (0,)), ((), ()))),
    "from heads": ((3, 5, 2, 4), (2, 4, 8), (((2, 3), (0, 1)), ((), ()))),
    "2-D (unchanged)": ((15, 8), (8, 6), (((1,), (0,)), ((), ()))),
    "batch axes (fallback)": ((3, 5, 8), (3, 8, 6), (((2,), (1,)), ((0,), (0,)))),
    "leading contraction (fallback)": ((8, 3, 5), (8, 6), (((0,), (0,)), ((), ()))),
}


@pytest.mark.parametrize("name", CASES)
def test_values_and_gradients_equal_lax_dot_general(name):
    lhs_shape, rhs_shape, dims = CASES[name]
    k1, k2, k3 = jax.random.split(jax.random.key(0), 3)
    lhs, rhs = jax.random.normal(k1, lhs_shape), jax.random.normal(k2, rhs_shape)
    want = lax.dot_general(lhs, rhs, dims)
    got = flat_dot_general(lhs, rhs, dims)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)
    cot = jax.random.normal(k3, want.shape)
    grads = lambda f: jax.grad(lambda a, b: jnp.sum(f(a, b, dims) * cot), argnums=(0, 1))(lhs, rhs)
    for g, w in zip(grads(flat_dot_general), grads(lax.dot_general)):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-5)


def test_preferred_element_type_is_passed_on():
    lhs, rhs = jnp.ones((2, 3, 4), jnp.bfloat16), jnp.ones((4, 5), jnp.bfloat16)
    out = flat_dot_general(lhs, rhs, (((2,), (0,)), ((), ())), preferred_element_type=jnp.float32)
    assert out.dtype == jnp.float32 and out.shape == (2, 3, 5) and float(out[0, 0, 0]) == 4.0


def _rounded(a):
    return a.astype(jnp.bfloat16).astype(jnp.float32)


@pytest.mark.parametrize("w_is_FxK", [False, True])
def test_low_precision_product_is_the_float32_product_of_rounded_operands(w_is_FxK):
    """Value: the float32 product of bfloat16-rounded operands. Gradients: dx is the rounded
    float32 product of the rounded cotangent, dw stays float32 (not rounded to bfloat16)."""
    k1, k2, k3 = jax.random.split(jax.random.key(1), 3)
    x = jax.random.normal(k1, (96, 48)).astype(jnp.bfloat16)
    w = jax.random.normal(k2, (40, 48) if w_is_FxK else (48, 40))
    g = jax.random.normal(k3, (96, 40))
    w_KxF = _rounded(w.T if w_is_FxK else w)
    out, vjp = jax.vjp(lambda x, w: low_precision_product(x, w, w_is_FxK), x, w)
    assert out.dtype == jnp.float32 and out.shape == (96, 40)
    np.testing.assert_allclose(out, x.astype(jnp.float32) @ w_KxF, rtol=1e-5, atol=1e-4)
    dx, dw = vjp(g)
    assert dx.dtype == jnp.bfloat16 and dw.dtype == jnp.float32 and dw.shape == w.shape
    want_dx = (_rounded(g) @ w_KxF.T).astype(jnp.bfloat16).astype(jnp.float32)
    np.testing.assert_allclose(dx.astype(jnp.float32), want_dx, rtol=1e-2, atol=1e-2)
    want_dw = x.astype(jnp.float32).T @ _rounded(g)
    np.testing.assert_allclose(dw, want_dw.T if w_is_FxK else want_dw, rtol=1e-5, atol=1e-3)
    # Not rounded: a bfloat16 weight gradient would be off by up to 2^-9 relative.
    assert not np.array_equal(np.asarray(dw), np.asarray(_rounded(dw)))


def test_low_precision_rows_only_for_16_bit_floats_on_cpu():
    assert not low_precision_rows(jnp.float32)
    assert low_precision_rows(jnp.bfloat16) == (jax.default_backend() == "cpu")


def test_low_precision_attention_is_float32_attention_of_rounded_inputs():
    """Values and gradients of float32 attention over the same (rounded) q, k, v, with a mask that
    has padded keys and a fully masked query row."""
    kq, kk, kv, kg = jax.random.split(jax.random.key(2), 4)
    q, k, v = (jax.random.normal(key, (2, 5, 3, 8)).astype(jnp.bfloat16) for key in (kq, kk, kv))
    mask = jnp.ones((2, 1, 5, 5), bool).at[0, :, :, 3:].set(False).at[1, :, 4, :].set(False)

    def reference(q, k, v):
        logits = jnp.einsum("bthk,bshk->bhts", q, k)
        return jnp.einsum("bhts,bshk->bthk", jax.nn.softmax(jnp.where(mask, logits, NEG_INF)), v)

    f32 = lambda a: a.astype(jnp.float32)
    out, vjp = jax.vjp(lambda q, k, v: low_precision_attention(q, k, v, mask), q, k, v)
    want, want_vjp = jax.vjp(reference, f32(q), f32(k), f32(v))
    assert out.dtype == jnp.bfloat16
    np.testing.assert_allclose(f32(out), want, rtol=1e-2, atol=1e-2)
    g = jax.random.normal(kg, out.shape)
    for got, w in zip(vjp(g.astype(jnp.bfloat16)), want_vjp(_rounded(g)), strict=True):
        assert got.dtype == jnp.bfloat16
        np.testing.assert_allclose(f32(got), w, rtol=3e-2, atol=3e-2)
    # Keys the mask hides get no gradient.
    assert not np.any(np.asarray(f32(vjp(g.astype(jnp.bfloat16))[1]))[0, 3:])
