"""LibreOffice help paragraphs in en, de, es, fr, zh (zh-CN), built offline from Debian's help packages.

``corpus.split_records(help_root)`` gives the examples as Python dicts;
``LibreofficeHelp`` is the TFDS builder (``build(data_dir)`` downloads the
packages and prepares it; it needs no TensorFlow).
"""
from xling_jax.data.libreoffice.corpus import DEV_MODULES, LANGUAGES, TEST_MODULES


def __getattr__(name):
    # The TFDS builder is imported lazily: tensorflow_datasets is slow to import.
    if name in ('LibreofficeHelp', 'build'):
        from xling_jax.data.libreoffice import builder
        return getattr(builder, name)
    raise AttributeError(name)


__all__ = ['LibreofficeHelp', 'build', 'LANGUAGES', 'DEV_MODULES', 'TEST_MODULES']
