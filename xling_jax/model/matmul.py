"""Matrix products in the forms XLA's CPU backend runs fast.

`flat_dot_general` is the dense layers' product (model/dense.py) in float32 and off CPU. It computes
exactly lax.dot_general, on the input reshaped from B x L x ... to (B*L) x ... and back. Why:
XLA differentiates the 3-D form into weight gradients that contract over two axes (B and L).
On CPU its compiler then copies the activation gradient transposed and hands the product to
its slow generic kernel instead of the fast one. In cpu-ref's train step that was 24 products
of ~64 GFLOP/s where the rest run at ~250. On 2-D inputs every gradient is a plain matrix
product. GPU and TPU compilers see the same graph up to reshapes, which cost nothing there.

`low_precision_product` and `low_precision_attention` are the 16-bit products on CPU (see
`low_precision_rows`), with their gradients written out: cpu-ref's bfloat16 step went from
1.08 s to 0.43 s with them (and model/dense.py's float32 bias), against 0.87 s in float32.
"""
import functools
import math

import jax
import jax.numpy as jnp
from jax import lax

NEG_INF = -1e9  # the logit of a masked attention position


def flat_dot_general(lhs, rhs, dimension_numbers, precision=None, preferred_element_type=None, **kwargs):
    (lhs_contract, rhs_contract), (lhs_batch, rhs_batch) = dimension_numbers
    n_lead = lhs.ndim - len(lhs_contract)
    # Only the dense-layer form: no batch axes, the contracted axes trailing and in order.
    if lhs_batch or rhs_batch or n_lead < 2 or tuple(lhs_contract) != tuple(range(n_lead, lhs.ndim)):
        return lax.dot_general(lhs, rhs, dimension_numbers, precision=precision,
                               preferred_element_type=preferred_element_type, **kwargs)
    lead = lhs.shape[:n_lead]
    lhs_2d = lhs.reshape(math.prod(lead), *lhs.shape[n_lead:])
    contract = tuple(range(1, lhs_2d.ndim))
    out = lax.dot_general(lhs_2d, rhs, ((contract, tuple(rhs_contract)), ((), ())), precision=precision,
                          preferred_element_type=preferred_element_type, **kwargs)
    return out.reshape(*lead, *out.shape[1:])


def low_precision_rows(dtype) -> bool:
    """Whether products in `dtype` take the two functions below: 16-bit floats on CPU.

    XLA's CPU backend multiplies bfloat16 fast (AMX: 0.5-1.6 TFLOP/s on cpu-ref's shapes, against
    ~250 GFLOP/s in float32) only when the product accumulates into a float32 result and neither
    operand is contracted over its leading (row) axis. A bfloat16 result, or the weight gradient
    x^T g as autodiff writes it, is converted to float32 and multiplied at float32 speed or below
    (~150-240 GFLOP/s). GPU and TPU compilers need none of this and keep flax's form.
    """
    return jnp.dtype(dtype).itemsize < 4 and jax.default_backend() == "cpu" and _cpu_runs_low_precision_forms()


@functools.cache
def _cpu_runs_low_precision_forms() -> bool:
    """Whether this jaxlib's CPU backend runs the forms below, tried once on tiny arrays. The fast
    kernels came with XLA's YNNPACK backend; its fallback for other forms rejects a float32 result
    of 16-bit operands ("Unsupported element type for DotThunk"), so an older jaxlib keeps flax's form."""
    def probe(x, w, q):
        mask = jnp.ones((2, 1, 8, 8), bool)
        return jnp.sum(low_precision_product(x, w)) + jnp.sum(low_precision_product(x, w, True)) + \
            jnp.sum(low_precision_attention(q, q, q, mask).astype(jnp.float32))
    try:
        with jax.ensure_compile_time_eval():  # runs now, also when called while a step is traced
            args = (jnp.ones((16, 16), jnp.bfloat16), jnp.ones((16, 16)), jnp.ones((2, 8, 2, 8), jnp.bfloat16))
            jax.block_until_ready(jax.jit(jax.grad(probe, argnums=(0, 1, 2)))(*args))
        return True
    except Exception:  # noqa: BLE001 - any failure means: do not use these forms
        return False


def _transposed_copy(x_NxK):
    """x^T laid out row-major. A plain transpose is folded into the product as a transposed
    operand (the slow form above); through a rank-3 swap axis XLA keeps it a copy (~1 ms for 2 MB)."""
    n, k = x_NxK.shape
    return jnp.swapaxes(x_NxK.reshape(n, k, 1), 0, 2).reshape(k, n)


def _rows_dot(a, b, contract_b: int):
    return lax.dot_general(a, b, (((1,), (contract_b,)), ((), ())), preferred_element_type=jnp.float32)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2,))
def low_precision_product(x_NxK, w, w_is_FxK: bool = False):
    """x @ w (or x @ w^T when `w_is_FxK`: the tied embedding) as a float32 N x F result, the
    operands rounded to x's dtype; the weight gradient comes back in w's dtype (float32 master
    weights) without a round trip through bfloat16. Gradients are those of that rounded product,
    as flax's bfloat16 layers have, with every product in one of the fast forms."""
    return _rows_dot(x_NxK, w.astype(x_NxK.dtype), 1 if w_is_FxK else 0)


def _low_precision_fwd(x_NxK, w, w_is_FxK):
    return low_precision_product(x_NxK, w, w_is_FxK), (x_NxK, w)


def _low_precision_bwd(w_is_FxK, residuals, g_NxF):
    x_NxK, w = residuals
    g_NxF = g_NxF.astype(x_NxK.dtype)  # the cotangent of a rounded result: exact
    w_lp = w.astype(x_NxK.dtype)
    dx_NxK = _rows_dot(g_NxF, w_lp, 0 if w_is_FxK else 1).astype(x_NxK.dtype)
    dw_KxF = _rows_dot(_transposed_copy(x_NxK), g_NxF, 0)
    if w_is_FxK:  # the barrier keeps XLA from folding the transpose into the product as g^T x
        dw_KxF = lax.optimization_barrier(dw_KxF)  # (a form its CPU backend cannot run in bfloat16)
    return dx_NxK, (dw_KxF.T if w_is_FxK else dw_KxF).astype(w.dtype)


low_precision_product.defvjp(_low_precision_fwd, _low_precision_bwd)


def _heads_dot(spec: str, a, b):
    return jnp.einsum(spec, a, b, preferred_element_type=jnp.float32)


@jax.custom_vjp
def low_precision_attention(q_BxTxHxK, k_BxSxHxK, v_BxSxHxK, mask_Bx1xTxS):
    """softmax(q k^T) v per head for 16-bit q, k, v (q already scaled): the products accumulate into
    float32, the softmax is float32, the result is rounded once. The gradients are written out so
    that every product multiplies two 16-bit operands: autodiff of the float32 results would pair
    float32 cotangents with 16-bit operands, which XLA's CPU backend multiplies in float32."""
    return _attention_fwd(q_BxTxHxK, k_BxSxHxK, v_BxSxHxK, mask_Bx1xTxS)[0]


def _attention_fwd(q, k, v, mask):
    logits_BxHxTxS = _heads_dot("bthk,bshk->bhts", q, k)
    p_BxHxTxS = jax.nn.softmax(jnp.where(mask, logits_BxHxTxS, NEG_INF))
    out_BxTxHxK = _heads_dot("bhts,bshk->bthk", p_BxHxTxS.astype(q.dtype), v).astype(q.dtype)
    return out_BxTxHxK, (q, k, v, mask, p_BxHxTxS)


def _attention_bwd(residuals, g_BxTxHxK):
    q, k, v, mask, p = residuals
    g_BxTxHxK = g_BxTxHxK.astype(q.dtype)
    dp = _heads_dot("bthk,bshk->bhts", g_BxTxHxK, v)
    dlogits = p * (dp - jnp.sum(dp * p, axis=-1, keepdims=True))  # softmax's vjp
    dlogits = jnp.where(mask, dlogits, 0.0).astype(q.dtype)  # masked logits are constants (fully masked rows)
    dv = _heads_dot("bhts,bthk->bshk", p.astype(q.dtype), g_BxTxHxK).astype(v.dtype)
    dq = _heads_dot("bhts,bshk->bthk", dlogits, k).astype(q.dtype)
    dk = _heads_dot("bhts,bthk->bshk", dlogits, q).astype(k.dtype)
    return dq, dk, dv, None


low_precision_attention.defvjp(_attention_fwd, _attention_bwd)
