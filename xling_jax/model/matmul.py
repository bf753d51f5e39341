"""The matrix product of the dense layers: rows of every leading axis flattened into one.

`flat_dot_general` is what Dense and DenseGeneral call (their `dot_general` field). It computes
exactly lax.dot_general, on the input reshaped from B x L x ... to (B*L) x ... and back. Why:
XLA differentiates the 3-D form into weight gradients that contract over two axes (B and L).
On CPU its compiler then copies the activation gradient transposed and hands the product to
its slow generic kernel instead of the fast one. In cpu-ref's train step that was 24 products
of ~64 GFLOP/s where the rest run at ~250. On 2-D inputs every gradient is a plain matrix
product. GPU and TPU compilers see the same graph up to reshapes, which cost nothing there.
"""
import math

from jax import lax


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
