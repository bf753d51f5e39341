"""Model FLOPs of an encoder-decoder train step, and the devices' peak FLOP/s (for MFU).

Only matrix products count (2 FLOPs per multiply-add); layer norms, softmax, the optimizer and
embedding gathers do not. A train step is 3 forward passes (the backward pass multiplies twice:
gradients of activations and of weights). Attention products are counted in full (also the
masked half of causal self-attention), as in the usual 6*N*tokens + attention formulas.
"""

FORMULA = ("3 * (forward) with forward = 2 * multiply-adds of every matrix product: "
           "B*S*L_enc*(8D^2 + 4DF) [enc q,k,v,o + MLP] + B*L_enc*4*S^2*D [enc QK^T, AV] "
           "+ B*T*L_dec*(12D^2 + 4DF) [dec self q,k,v,o, cross q,o + MLP] + B*S*L_dec*4D^2 [cross k,v of the "
           "encoder states] + B*L_dec*(4*T^2*D + 4*T*S*D) [self and cross QK^T, AV] + B*T*2DV [logits]")


def train_step_flops(*, batch: int, src_len: int, tgt_len: int, emb_dim: int, mlp_dim: int, vocab: int,
                     enc_layers: int, dec_layers: int) -> int:
    """Model FLOPs of one train step (see FORMULA)."""
    b, s, t, d, f, v = batch, src_len, tgt_len, emb_dim, mlp_dim, vocab
    encoder = enc_layers * (b * s * (8 * d * d + 4 * d * f) + b * 4 * s * s * d)
    decoder = dec_layers * (b * t * (12 * d * d + 4 * d * f) + b * s * 4 * d * d
                            + b * (4 * t * t * d + 4 * t * s * d))
    logits = b * t * 2 * d * v
    return 3 * (encoder + decoder + logits)


# Dense peak FLOP/s per chip by compute dtype, matched on a substring of jax's device_kind (first
# match wins, so more specific names come first). float32 on NVIDIA GPUs is the TF32 tensor-core
# peak: XLA's default precision for float32 dots there. TPUs have no float32 matrix unit peak.
PEAK_FLOPS = (
    ("H100 PCIe", {"bfloat16": 756e12, "float16": 756e12, "float32": 378e12}),
    ("H100", {"bfloat16": 989e12, "float16": 989e12, "float32": 494e12}),  # SXM
    ("H200", {"bfloat16": 989e12, "float16": 989e12, "float32": 494e12}),
    ("A100", {"bfloat16": 312e12, "float16": 312e12, "float32": 156e12}),
    ("TPU v4", {"bfloat16": 275e12}),
    ("TPU v5 lite", {"bfloat16": 197e12}),  # v5e
    ("TPU v5p", {"bfloat16": 459e12}),
    ("TPU v5", {"bfloat16": 459e12}),  # v5p reports "TPU v5"
    ("TPU v6 lite", {"bfloat16": 918e12}),  # v6e (Trillium)
)


def peak_flops(device_kind: str, dtype: str) -> float | None:
    """The chip's dense peak for `dtype`, or None where unknown (CPUs: measured instead)."""
    for name, peaks in PEAK_FLOPS:
        if name.lower() in device_kind.lower():
            return peaks.get(dtype)
    return None
