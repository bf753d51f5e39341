"""English<->Spanish Bible verse pairs (KJV, WEB, Reina-Valera 1909) from Debian's SWORD packages.

``verse_pairs()`` gives the examples as Python dicts; ``Bible`` is the TFDS
builder (``build(data_dir)`` prepares it; it needs no TensorFlow).
"""
from xling_jax.data.bible.corpus import SPLIT_BOOKS, verse_pairs


def __getattr__(name):
    # The TFDS builder is imported lazily: tensorflow_datasets is slow to import.
    if name in ('Bible', 'build'):
        from xling_jax.data.bible import builder
        return getattr(builder, name)
    raise AttributeError(name)


__all__ = ['Bible', 'build', 'verse_pairs', 'SPLIT_BOOKS']
