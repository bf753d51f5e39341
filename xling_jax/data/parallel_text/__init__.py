"""A user's own parallel text: a TSV (one column per language) or line-aligned files.

``ParallelText`` is the TFDS builder (``build(data_dir, config_name=NAME,
options={'languages': [...], 'train': ...})`` prepares DATA_DIR/parallel_text/NAME;
it needs no TensorFlow).
"""


def __getattr__(name):
    # The TFDS builder is imported lazily: tensorflow_datasets is slow to import.
    if name in ("ParallelText", "build", "LANGUAGES"):
        from xling_jax.data.parallel_text import builder
        return getattr(builder, name)
    raise AttributeError(name)


__all__ = ["ParallelText", "build", "LANGUAGES"]
