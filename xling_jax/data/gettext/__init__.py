"""English -> N languages from gettext message catalogs (.po / .mo) under a folder.

``corpus.build_corpus(source)`` gives the records as Python dicts; ``Gettext`` is
the TFDS builder (``build(data_dir, config_name=NAME, options={'source': DIR})``
prepares DATA_DIR/gettext/NAME; it needs no TensorFlow).
"""


def __getattr__(name):
    # The TFDS builder is imported lazily: tensorflow_datasets is slow to import.
    if name in ("Gettext", "build", "LANGUAGES"):
        from xling_jax.data.gettext import builder
        return getattr(builder, name)
    raise AttributeError(name)


__all__ = ["Gettext", "build", "LANGUAGES"]
