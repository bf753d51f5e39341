"""Moving models between xling_jax and other toolkits' formats (`marian`: Hugging Face Marian/OPUS-MT)."""
