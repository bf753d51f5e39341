"""The fused cross-entropy (hand-written gradient) against plain autodiff."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from xling_jax.training.loss import cross_entropy


def _reference(logits, targets, weights, ls):
    logp = jax.nn.log_softmax(logits)
    nll = -jnp.take_along_axis(logp, targets[..., None], axis=-1)[..., 0]
    loss = (1 - ls) * nll + ls * -jnp.mean(logp, axis=-1)
    return jnp.sum(loss * weights), jnp.sum(nll * weights)


@pytest.mark.parametrize("ls", [0.0, 0.1, 0.3])
def test_values_and_gradients_match_autodiff(ls):
    k1, k2, k3 = jax.random.split(jax.random.key(0), 3)
    logits = 3.0 * jax.random.normal(k1, (3, 7, 50))
    targets = jax.random.randint(k2, (3, 7), 0, 50)
    weights = (jax.random.uniform(k3, (3, 7)) > 0.3).astype(jnp.float32)
    loss, nll, correct, n = cross_entropy(logits, targets, weights, ls)
    ref_loss, ref_nll = _reference(logits, targets, weights, ls)
    np.testing.assert_allclose([loss, nll], [ref_loss, ref_nll], rtol=1e-5)
    assert n == weights.sum()
    assert correct == jnp.sum((logits.argmax(-1) == targets) * weights)
    # Both outputs carry gradients (the train step differentiates the smoothed loss,
    # a caller may differentiate the nll); a mix checks the two cotangent paths at once.
    mix = lambda f: lambda x: (lambda a, b: 0.7 * a + 0.2 * b)(*f(x)[:2])
    g = jax.grad(mix(lambda x: cross_entropy(x, targets, weights, ls)))(logits)
    g_ref = jax.grad(mix(lambda x: _reference(x, targets, weights, ls)))(logits)
    np.testing.assert_allclose(g, g_ref, atol=1e-6)
    assert jnp.all(g[weights == 0] == 0)


def test_accuracy_counts_argmax_hits_and_breaks_ties_like_argmax():
    """Accuracy comes from the row maxima, not argmax: a target tied with an earlier maximum is a
    miss, exactly as for argmax (which picks the first)."""
    k1, k2 = jax.random.split(jax.random.key(1))
    logits = jax.random.randint(k1, (4, 50, 6), 0, 3).astype(jnp.float32)  # many ties
    targets = jax.random.randint(k2, (4, 50), 0, 6)
    is_max = jnp.take_along_axis(logits, targets[..., None], -1)[..., 0] == logits.max(-1)
    hits = logits.argmax(-1) == targets
    assert jnp.sum(is_max & ~hits) > 10 and jnp.sum(hits) > 10  # both cases occur
    weights = jnp.ones((4, 50)).at[0].set(0.0)
    _, _, correct, _ = cross_entropy(logits, targets, weights, 0.1)
    assert correct == jnp.sum(hits * weights)
