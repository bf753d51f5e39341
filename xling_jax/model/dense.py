"""Dense layers: flax's Dense/DenseGeneral params, computed as 2-D products.

The params are flax's exactly (`kernel`, `bias`; same shapes, initialisation and names, so
checkpoints, Marian interop and `init_from` see no difference), and so is the computation on
GPU/TPU and in float32: `flat_dot_general` (model/matmul.py: rows flattened, plain matrix
gradients), then the bias in the compute dtype.

For 16-bit compute on CPU (`low_precision_rows`) the product is `low_precision_product`, which
accumulates into float32, and the bias is added to that float32 result before the one rounding.
flax adds the bias cast to bfloat16, so its gradient is a sum over all B*L rows accumulated in
bfloat16: XLA's CPU backend runs that as a scalar loop rounding every partial sum (290 ms of a
1.08 s cpu-ref step) and it is inexact (4096 rows of 1 sum to 1024). In float32 it vectorises.
"""
import math
from typing import Any, Callable

import flax.linen as nn
import jax.numpy as jnp
from flax.core import meta

from xling_jax.model import quantize
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
        if isinstance(kernel, quantize.Int8):  # decoding with int8 weights (model/quantize.py)
            lead = x.shape[:x.ndim - len(axis)]
            flat_w = kernel.replace(values=kernel.values.reshape(flat), scale=kernel.scale.reshape(-1))
            out_NxF = quantize.product(x.reshape(-1, flat[0]), flat_w, 0)
            if bias is not None:
                out_NxF += bias.reshape(-1).astype(jnp.float32)
            return out_NxF.astype(self.dtype or x.dtype).reshape(lead + features)
        dtype = self.dtype or jnp.result_type(x, kernel)
        if low_precision_rows(dtype):
            lead = x.shape[:x.ndim - len(axis)]
            out_NxF = low_precision_product(x.astype(dtype).reshape(-1, flat[0]), kernel.reshape(flat))
            if bias is not None:
                out_NxF += bias.reshape(-1)
            return out_NxF.astype(dtype).reshape(lead + features)
        out = flat_dot_general(x.astype(dtype), kernel.astype(dtype),
                               ((tuple(axis), tuple(range(len(axis)))), ((), ())))
        return out if bias is None else out + bias.astype(dtype)


    def quantized_axes(self) -> dict:
        """The kernel's contracted axes (its leading input axes), for model/quantize.py."""
        return {"kernel": tuple(range(1 if isinstance(self.axis, int) else len(self.axis)))}


class Embed(nn.Embed):
    """flax's Embed (same param, init and lookup) that also takes an int8 table (model/quantize.py):
    a scale per vocabulary row, for the lookup and for the tied logits (`attend`)."""

    def __call__(self, inputs):
        if not isinstance(self.embedding, quantize.Int8):
            return super().__call__(inputs)
        table = self.embedding
        rows = jnp.take(table.values, inputs, axis=0).astype(jnp.float32) * jnp.take(table.scale, inputs, axis=0)
        return rows.astype(self.dtype or jnp.float32)

    def attend(self, query):
        if not isinstance(self.embedding, quantize.Int8):
            return super().attend(query)
        lead = query.shape[:-1]
        out_NxV = quantize.product(query.reshape(-1, query.shape[-1]), self.embedding, 1)
        return out_NxV.reshape(lead + out_NxV.shape[-1:])

    def quantized_axes(self) -> dict:
        return {"embedding": (1,)}  # a scale per vocabulary row


class Dense(DenseGeneral):
    """DenseGeneral over the last axis; a class of its own so that unnamed layers are `Dense_N`."""
