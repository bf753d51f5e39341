"""The in-batch-negatives contrastive loss with an additive margin (LaBSE: Feng et al. 2022, after Yang
et al. 2019's additive margin softmax), a pure function of the two sides' vectors.

For unit vectors x_BxD (sources) and y_BxD (their translations), S = x·yᵀ holds the cosines; the
logits are scale·(S − margin·I): each true pair's cosine must beat every other pair's by the margin.
The loss is the mean of the softmax cross-entropies both ways (each row: x_i retrieving y_i among all
y; each column: y_j retrieving x_j among all x), as LaBSE's bidirectional loss. `scale` is the inverse
temperature: cosines lie in [-1, 1], whose softmax is nearly flat without one (LaBSE-style
implementations use 10 to 100).

Rows that must not act as negatives: `valid_B` (False for the padding rows of an incomplete batch: they
are neither queries nor candidates) and `distinct_BxB` (False where pair j is no negative for pair i,
e.g. they share a text: the same pair read both ways, a repeated sentence; see `distinct_pairs`).
"""
import jax
import jax.numpy as jnp

_MASKED = -1e9  # the logit of an excluded candidate (finite: no NaN where everything is masked)


def distinct_pairs(src_key_B: jax.Array, tgt_key_B: jax.Array) -> jax.Array:
    """BxB, True where pairs i and j share no text (keys: one int per text, e.g. a hash of it). Pairs
    that share one are no negatives of each other: (a, b) beside (b, a) would ask a's vector to be
    unlike itself; (a, b) beside (a, c) would push a valid translation away."""
    keys_Bx2 = jnp.stack([src_key_B, tgt_key_B], axis=-1)
    shared_BxB = jnp.any(keys_Bx2[:, None, :, None] == keys_Bx2[None, :, None, :], axis=(-2, -1))
    return ~shared_BxB


def in_batch_softmax(x_BxD: jax.Array, y_BxD: jax.Array, *, margin: float, scale: float,
                     valid_B: jax.Array | None = None, distinct_BxB: jax.Array | None = None
                     ) -> tuple[jax.Array, jax.Array]:
    """(loss, accuracy): the mean over valid pairs of the two directions' cross-entropies, and the
    share of valid queries (both directions) whose nearest candidate by cosine is their own pair."""
    b = x_BxD.shape[0]
    eye_BxB = jnp.eye(b, dtype=bool)
    valid_B = jnp.ones(b, bool) if valid_B is None else valid_B.astype(bool)
    distinct_BxB = jnp.ones((b, b), bool) if distinct_BxB is None else distinct_BxB.astype(bool)
    # allowed[i, j]: y_j a candidate for query x_i (row i) and x_i one for query y_j (column j).
    allowed_BxB = eye_BxB | (valid_B[:, None] & valid_B[None, :] & distinct_BxB)
    s_BxB = jnp.dot(x_BxD.astype(jnp.float32), y_BxD.astype(jnp.float32).T)
    logits_BxB = jnp.where(allowed_BxB, scale * (s_BxB - margin * eye_BxB), _MASKED)
    diagonal_B = jnp.diagonal(logits_BxB)
    rows_B = jax.nn.logsumexp(logits_BxB, axis=1) - diagonal_B  # x_i -> y
    columns_B = jax.nn.logsumexp(logits_BxB, axis=0) - diagonal_B  # y_j -> x
    weights_B = valid_B.astype(jnp.float32)
    n = jnp.maximum(jnp.sum(weights_B), 1.0)
    loss = jnp.sum((rows_B + columns_B) * weights_B) / (2 * n)
    scores_BxB = jnp.where(allowed_BxB, s_BxB, _MASKED)
    hits_B = ((jnp.argmax(scores_BxB, axis=1) == jnp.arange(b)).astype(jnp.float32)
              + (jnp.argmax(scores_BxB, axis=0) == jnp.arange(b)).astype(jnp.float32))
    accuracy = jnp.sum(hits_B * weights_B) / (2 * n)
    return loss, accuracy
