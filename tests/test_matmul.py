"""flat_dot_general computes exactly lax.dot_general (values and gradients) for every form
the dense layers use, and leaves the forms it does not handle to lax.dot_general."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from xling_jax.model.matmul import flat_dot_general

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
