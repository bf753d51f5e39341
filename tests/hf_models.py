"""Random pretrained-style Hugging Face models for the interop tests, built offline.

The builder is public (`xling_jax.interop.hf_random`, which colab/pretrained.ipynb uses too):
`make(family, directory)` writes a folder like a Hub checkpoint of that family, with a random model
whose encoder and decoder differ in depth, heads and width, and returns (model, tokenizer).
"""
import os
import shutil

from xling_jax.interop.hf_random import FAMILIES, make_random

make = make_random  # the tests' name for it
__all__ = ["FAMILIES", "make", "copy_without"]


def copy_without(src: str, dst: str, *names: str) -> str:
    """A copy of folder `src` at `dst` without the named files (for the bad-input tests)."""
    shutil.copytree(src, dst)
    for name in names:
        os.remove(os.path.join(dst, name))
    return dst
