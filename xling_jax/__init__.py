"""xling_jax: cross-lingual Transformer encoder-decoder models in JAX/Flax."""
from xling_jax import host_malloc

__version__ = "0.1.0"

# Before anything starts the threads of JAX's CPU runtime (host_malloc.py says why).
host_malloc.tune()
