"""Token-level cross-entropy with label smoothing (pure)."""
import functools

import jax
import jax.numpy as jnp


@functools.partial(jax.custom_vjp, nondiff_argnums=(3,))
def _weighted_losses(logits_NxV, targets_N, weights_N, label_smoothing):
    return _weighted_losses_fwd(logits_NxV, targets_N, weights_N, label_smoothing)[0]


def _weighted_losses_fwd(logits_NxV, targets_N, weights_N, label_smoothing):
    max_N = jnp.max(logits_NxV, axis=-1)
    lse_N = max_N + jnp.log(jnp.sum(jnp.exp(logits_NxV - max_N[:, None]), axis=-1))
    target_N = jnp.take_along_axis(logits_NxV, targets_N[:, None], axis=-1)[:, 0]
    nll_N = lse_N - target_N
    smooth_N = lse_N - jnp.mean(logits_NxV, axis=-1)
    loss_N = (1.0 - label_smoothing) * nll_N + label_smoothing * smooth_N
    correct_N = _is_first_max(logits_NxV, targets_N, target_N, max_N)
    out = (jnp.sum(loss_N * weights_N), jnp.sum(nll_N * weights_N), jnp.sum(correct_N * weights_N))
    return out, (logits_NxV, lse_N, targets_N, weights_N)


def _is_first_max(logits_NxV, targets_N, target_N, max_N):
    """argmax(logits) == targets, from the row maxima the loss needs anyway: XLA's CPU backend
    runs argmax's (value, index) reduction ~20x slower than a max (30 ms per cpu-ref step)."""
    ids_1xV = jnp.arange(logits_NxV.shape[-1], dtype=targets_N.dtype)[None, :]
    tie_before_N = jnp.any((logits_NxV == max_N[:, None]) & (ids_1xV < targets_N[:, None]), axis=-1)
    return (target_N == max_N) & ~tie_before_N


def _weighted_losses_bwd(label_smoothing, residuals, cotangents):
    # d loss / d logits = softmax - smoothed one-hot, written once: autodiff of the
    # unfused form builds this VxN array twice (once transposed for the embedding gradient).
    logits_NxV, lse_N, targets_N, weights_N = residuals
    g_loss, g_nll, _ = cotangents
    v = logits_NxV.shape[-1]
    probs_NxV = jnp.exp(logits_NxV - lse_N[:, None])
    onehot_NxV = jax.nn.one_hot(targets_N, v, dtype=logits_NxV.dtype)
    target_NxV = (g_loss * (1.0 - label_smoothing) + g_nll) * onehot_NxV + g_loss * label_smoothing / v
    g_NxV = ((g_loss + g_nll) * probs_NxV - target_NxV) * weights_N[:, None]
    return g_NxV, None, None


_weighted_losses.defvjp(_weighted_losses_fwd, _weighted_losses_bwd)


def cross_entropy(logits_BxTxV, targets_BxT, weights_BxT, label_smoothing: float = 0.0):
    """Returns sums over weighted tokens: (smoothed loss, nll, correct tokens, token count).

    The smoothed loss puts 1 - label_smoothing on the target and spreads the rest
    uniformly over the vocabulary; callers divide by the token count, so the loss is
    normalised by non-pad target tokens of the whole (global) batch.
    """
    v = logits_BxTxV.shape[-1]
    logits_NxV = logits_BxTxV.astype(jnp.float32).reshape(-1, v)
    w_N = weights_BxT.astype(jnp.float32).reshape(-1)
    loss_sum, nll_sum, correct = _weighted_losses(logits_NxV, targets_BxT.reshape(-1), w_N, float(label_smoothing))
    return loss_sum, nll_sum, correct, jnp.sum(w_N)


def token_nll(logits_BxTxV, targets_BxT):
    """Per-token negative log-likelihood BxT, without gradient (for metrics)."""
    logits_BxTxV = jax.lax.stop_gradient(logits_BxTxV.astype(jnp.float32))
    picked_BxT = jnp.take_along_axis(logits_BxTxV, targets_BxT[..., None], axis=-1)[..., 0]
    return jax.nn.logsumexp(logits_BxTxV, axis=-1) - picked_BxT
