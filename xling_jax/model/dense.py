"""Dense layers: flax's Dense/DenseGeneral params, computed as 2-D products with a float32 bias.

The params are flax's exactly (`kernel`, `bias`; same shapes, initialisation and names, so
checkpoints, Marian interop and `init_from` see no difference). Two things differ:
- the product is `flat_dot_general` (model/matmul.py: rows flattened, plain matrix gradients), or
  for 16-bit compute on CPU `low_precision_product`, which accumulates into float32;
- the bias is added in float32 and the sum rounded once to the compute dtype. With flax's
  `out + bias.astype(bfloat16)` the bias gradient is a sum over all B*L rows accumulated in
  bfloat16, which XLA's CPU backend runs as a scalar loop rounding every partial sum (290 ms of
  a 1.08 s cpu-ref step in bfloat16) and which loses precision on any device. In float32 the sum
  vectorises and is exact to float32 rounding. For a float32 compute dtype nothing changes.
"""
import math
from typing import Any, Callable

import flax.linen as nn
import jax.numpy as jnp
from flax.core import meta

from xling_jax.model.matmul import flat_dot_general, low_precision_product, low_precision_rows


def _flat_init(init: Callable, flat_shape: tuple[int, ...]) -> Callable:
    """`init` drawn at `flat_shape` and reshaped, as flax's DenseGeneral does: fan-in and fan-out
    of a D x H x K kernel are D and H*K, not what a 3-D initializer would take them to be."""
    def wrapped(rng, shape, dtype=jnp.float32):
        value = init(rng, flat_shape, dtype)
        if isinstance(value, meta.AxisMetadata):
            return meta.replace_boxed(value, jnp.reshape(value.unbox(), shape))
        return jnp.reshape(value, shape)
    return wrapped


def add_bias(out, bias):
    """out + bias broadcast over the leading axes, in float32 when `out` is of lower precision."""
    if jnp.finfo(out.dtype).bits >= 32:
        return out + bias.astype(out.dtype)
    return (out.astype(jnp.float32) + bias.astype(jnp.float32)).astype(out.dtype)


class DenseGeneral(nn.Module):
    """A product over the trailing `axis` of the input into `features` (an int or a tuple), plus a bias."""
    features: int | tuple[int, ...]
    axis: int | tuple[int, ...] = -1
    use_bias: bool = True
    dtype: Any = None
    param_dtype: Any = jnp.float32
    kernel_init: Callable = nn.initializers.lecun_normal()
    bias_init: Callable = nn.initializers.zeros_init()

    @nn.compact
    def __call__(self, x):
        features = (self.features,) if isinstance(self.features, int) else tuple(self.features)
        axis = sorted(a % x.ndim for a in ((self.axis,) if isinstance(self.axis, int) else self.axis))
        if axis != list(range(x.ndim - len(axis), x.ndim)):
            raise ValueError(f"DenseGeneral contracts trailing axes only, not {self.axis} of a rank-{x.ndim} input")
        in_shape = tuple(x.shape[a] for a in axis)
        flat = (math.prod(in_shape), math.prod(features))
        kernel = self.param("kernel", _flat_init(self.kernel_init, flat), in_shape + features, self.param_dtype)
        bias = (self.param("bias", _flat_init(self.bias_init, flat[1:]), features, self.param_dtype)
                if self.use_bias else None)
        dtype = self.dtype or jnp.result_type(x, kernel)
        if low_precision_rows(dtype):
            lead = x.shape[:x.ndim - len(axis)]
            out_NxF = low_precision_product(x.astype(dtype).reshape(-1, flat[0]), kernel.reshape(flat))
            if bias is not None:
                out_NxF += bias.reshape(-1)
            return out_NxF.astype(dtype).reshape(lead + features)
        out = flat_dot_general(x.astype(dtype), kernel.astype(dtype),
                               ((tuple(axis), tuple(range(len(axis)))), ((), ())))
        return out if bias is None else add_bias(out, bias)


class Dense(DenseGeneral):
    """DenseGeneral over the last axis; a class of its own so that unnamed layers are `Dense_N`."""
