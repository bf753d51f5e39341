"""int8 weights for decoding: per-output-channel scales, optionally with int8 activations.

`quantize_params(model, params, mode)` turns each dense kernel and token embedding into an `Int8`: int8
values and a float32 scale per output channel (a kernel's output unit, an embedding's vocabulary row),
the symmetric absmax scheme (scale = max |w| / 127). The modules (model/dense.py) take an `Int8` where
their float param was:
- mode "int8-weights": weight-only; the product dequantizes the weights (a quarter of the params memory;
  on CPU XLA converts the whole matrix before each product, so it is slower than float32 there);
- mode "int8": weights and the rows of each product's input in int8 (a dynamic absmax scale per row),
  multiplied in int32 by `lax.dot_general(..., preferred_element_type=int32)`, then rescaled.
Layer norms, biases, position tables and the attention products stay in float32.

Why not qwix (Google's JAX quantization library, 0.1.8 with this flax 0.12): its PTQ provider quantizes
the dense kernels once the modules hand the kernel to `dot_general` unconverted, but a quantized
`nn.Embed` fails in its lookup (its `promote_dtype` interception leaves no array to promote), so the
shared embedding, the largest product of every pretrained family (the 250k-row logits), would stay in
float32 and params memory would not fall to a quarter.
"""
import flax.linen as nn
import jax
import jax.numpy as jnp
from flax import struct
from jax import lax

from xling_jax.errors import UserError

MODES = ("none", "int8-weights", "int8")


@struct.dataclass
class Int8:
    """A float array as int8 `values` times a float32 `scale` (1 along the contracted axes)."""
    values: jax.Array  # int8, the float array's shape (first leaf: flax checks param shapes on it)
    scale: jax.Array  # float32, broadcastable to values
    activations: bool = struct.field(pytree_node=False, default=False)  # mode "int8": int8 inputs too

    @property
    def shape(self):
        return self.values.shape

    @property
    def ndim(self):
        return self.values.ndim


def quantize(w, contracted: tuple[int, ...], activations: bool = False) -> Int8:
    """Absmax int8 of `w` with one scale per index of the axes not in `contracted`."""
    w = jnp.asarray(w, jnp.float32)
    scale = jnp.max(jnp.abs(w), axis=contracted, keepdims=True) / 127.0
    scale = jnp.where(scale > 0, scale, 1.0)  # an all-zero channel stays zero
    values = jnp.clip(jnp.round(w / scale), -127, 127).astype(jnp.int8)
    return Int8(values, scale, activations)


def product(x_NxK, w: Int8, rhs_contract: int):
    """x (float, N x K) times the 2-D `w` contracted over its axis `rhs_contract`: N x F, float32."""
    dims = (((1,), (rhs_contract,)), ((), ()))
    scale_1xF = w.scale.reshape(1, -1)
    if not w.activations:
        return lax.dot_general(x_NxK.astype(jnp.float32), w.values.astype(jnp.float32), dims) * scale_1xF
    x = quantize(x_NxK, (1,))  # dynamic: a scale per row
    acc_NxF = lax.dot_general(x.values, w.values, dims, preferred_element_type=jnp.int32)
    return acc_NxF.astype(jnp.float32) * x.scale * scale_1xF


def quantize_params(model, params, mode: str, src_BxS=None, tgt_BxT=None):
    """`params` with every dense kernel and token embedding the model uses on (src, tgt) as `Int8`.

    Which layers run is read from one abstract forward pass: each module with a `quantized_axes()` method
    (model/dense.py) names its params and their contracted axes."""
    if mode not in MODES:
        raise UserError(f"quantize mode {mode!r}: choose one of {', '.join(MODES)}")
    if mode == "none":
        return params
    src_BxS = jnp.ones((1, 4), jnp.int32) if src_BxS is None else src_BxS
    tgt_BxT = jnp.ones((1, 4), jnp.int32) if tgt_BxT is None else tgt_BxT
    found = {}  # param path -> contracted axes

    def record(next_fun, args, kwargs, context):
        m = context.module
        if context.method_name in ("__call__", "attend") and hasattr(m, "quantized_axes"):
            found.update({m.path + (name,): axes for name, axes in m.quantized_axes().items()})
        return next_fun(*args, **kwargs)

    with nn.intercept_methods(record):
        jax.eval_shape(lambda p: model.apply({"params": p}, src_BxS, tgt_BxT), params)
    if not found:
        raise UserError(f"quantize {mode}: this model has no layers int8 decoding covers (it covers the "
                        "Transformer families: dense layers and token embeddings)")
    activations = mode == "int8"

    def convert(path, leaf):
        key = tuple(k.key for k in path)
        return quantize(leaf, found[key], activations) if key in found else leaf

    return jax.tree_util.tree_map_with_path(convert, params)


def is_quantized(params) -> bool:
    return any(isinstance(x, Int8) for x in jax.tree.leaves(params, is_leaf=lambda x: isinstance(x, Int8)))


def nbytes(params) -> int:
    """Bytes the params take (an Int8's values and scales included)."""
    return sum(x.size * x.dtype.itemsize for x in jax.tree.leaves(params))
