"""Token-level cross-entropy with label smoothing (pure)."""
import jax
import jax.numpy as jnp


def cross_entropy(logits_BxTxV, targets_BxT, weights_BxT, label_smoothing: float = 0.0):
    """Returns sums over weighted tokens: (smoothed loss, nll, correct tokens, token count).

    The smoothed loss puts 1 - label_smoothing on the target and spreads the rest
    uniformly over the vocabulary; callers divide by the token count, so the loss is
    normalised by non-pad target tokens of the whole (global) batch.
    """
    logp_BxTxV = jax.nn.log_softmax(logits_BxTxV.astype(jnp.float32))
    nll_BxT = -jnp.take_along_axis(logp_BxTxV, targets_BxT[..., None], axis=-1)[..., 0]
    smooth_BxT = -jnp.mean(logp_BxTxV, axis=-1)
    loss_BxT = (1.0 - label_smoothing) * nll_BxT + label_smoothing * smooth_BxT
    w = weights_BxT.astype(jnp.float32)
    correct = (jnp.argmax(logits_BxTxV, axis=-1) == targets_BxT) * w
    return jnp.sum(loss_BxT * w), jnp.sum(nll_BxT * w), jnp.sum(correct), jnp.sum(w)
