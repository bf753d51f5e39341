"""TFDS builder for the English-Spanish Bible verse pairs (no TensorFlow needed).

Build and read::

    from xling_jax.data.bible.builder import build
    builder = build(data_dir)                       # exports the SWORD modules, writes array_record
    source = tfds.data_source('bible', split='test', data_dir=data_dir)
    source[0]  # {'ref': b'Mark.1.1', 'book': b'Mark', 'en': b'...', 'en_web': b'...', 'es': b'...'}

Text features come back from the data source as UTF-8 ``bytes``.
"""
from __future__ import annotations

import os

import tensorflow_datasets as tfds

from xling_jax.data.bible import corpus, sword

_DESCRIPTION = """\
English-Spanish Bible verse pairs built from the SWORD modules shipped by
Debian: King James Version with Strong's numbers (engKJV2006eb, package
sword-text-kjv), World English Bible (engWEB2015eb, sword-text-web) and
Reina-Valera 1909 with Strong's numbers (spaRV1909eb, sword-text-sparv),
exported with mod2imp (libsword-utils). All three texts are in the public
domain.

One example per KJV verse: `en` is the KJV text, `en_web` the WEB text of the
same verse ('' where WEB omits it) and `es` the Reina-Valera 1909 text,
realigned to KJV verse numbering with Strong's numbers (the Spanish module
keeps Spanish numbering in some chapters, e.g. Jonah 1:17 = RV 2:1). Markup
is removed: footnotes, cross-references, headings, psalm superscriptions,
speaker labels and Strong's tags. `ref` is the OSIS reference (e.g.
'Gen.1.1', KJV numbering) and `book` the OSIS book id.

Splits are by whole books: test = Mark, Lamentations, Titus, Philemon;
dev = Ruth, Jonah, Philippians; train = the other 59 books.
"""

_HOMEPAGE = 'https://crosswire.org/sword/modules/'
_CITATION = ''

__all__ = ['Bible', 'build', 'LANGUAGES']

LANGUAGES = ('en', 'es')  # text features that are languages ('en_web' is an alternative English)


class Bible(tfds.core.GeneratorBasedBuilder):
    """English (KJV, WEB) <-> Spanish (Reina-Valera 1909) verse pairs from Debian's SWORD packages."""

    VERSION = tfds.core.Version('1.0.0')
    RELEASE_NOTES = {'1.0.0': 'Initial release.'}

    description = _DESCRIPTION
    homepage = _HOMEPAGE

    def _info(self) -> tfds.core.DatasetInfo:
        return self.dataset_info_from_configs(
            description=_DESCRIPTION,
            features=tfds.features.FeaturesDict({
                'ref': tfds.features.Text(),
                'book': tfds.features.Text(),
                'en': tfds.features.Text(),
                'en_web': tfds.features.Text(),
                'es': tfds.features.Text(),
            }),
            supervised_keys=('en', 'es'),
            metadata=tfds.core.MetadataDict(languages=list(LANGUAGES)),
            disable_shuffling=True,  # keep canonical (book, chapter, verse) order
            homepage=_HOMEPAGE,
            citation=_CITATION,
            license='Public domain (KJV, WEB, Reina-Valera 1909)',
        )

    def _split_generators(self, dl_manager):
        del dl_manager  # the data comes from locally installed Debian packages
        pairs = corpus.verse_pairs()
        return {split: self._generate_examples(pairs[split]) for split in corpus.SPLITS}

    def _generate_examples(self, examples):
        for ex in examples:
            yield ex['ref'], {k: ex[k] for k in corpus.FIELDS}


def build(data_dir: str, install: bool = False) -> Bible:
    """Check (or, with ``install``, apt-get install) the packages, then prepare the dataset.

    Raises :class:`xling_jax.errors.UserError` naming the missing packages and
    the apt-get line when they are not installed and ``install`` is False.
    Returns the prepared builder (reusing an existing build in ``data_dir``).
    """
    if install:
        sword.install_packages()
    sword.check_packages()
    os.makedirs(data_dir, exist_ok=True)
    builder = Bible(data_dir=data_dir, file_format='array_record')
    builder.download_and_prepare(
        download_config=tfds.download.DownloadConfig(
            try_download_gcs=False,
            compute_stats=tfds.download.ComputeStatsMode.SKIP,
        ))
    return builder
