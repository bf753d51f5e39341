"""xling_jax: cross-lingual Transformer encoder-decoder models in JAX/Flax."""

__version__ = "0.1.0"
