"""TFDS builder for the LibreOffice help in five languages (no TensorFlow needed).

Build and read::

    from xling_jax.data.libreoffice.builder import build
    builder = build(data_dir)          # apt-get download + dpkg -x the help packages, writes array_record
    source = tfds.builder_from_directory(builder.data_dir).as_data_source('test')
    source[0]  # {'page': b'text/smath/...', 'module': b'smath', 'id': b'hd_id...', 'en': b'...', 'de': b'...', ...}

Text features come back from the data source as UTF-8 ``bytes``.

With the bookworm packages (4:7.4.7-1+deb12u14) the build takes about a minute
(one CPU core, 2,560 pages x 5 languages) and gives these examples and usable
pairs (both sides non-empty and different; the counts are also saved in the
dataset's metadata.json under ``pair_counts``)::

    pair        train      dev     test
    records    41,872      874    1,282
    en-de      40,935      870    1,257
    en-es      36,072      856    1,220
    en-fr      38,723      859    1,244
    en-zh      28,312      843    1,185
    de-es      35,262      853    1,203
    de-fr      38,132      858    1,228
    de-zh      27,695      840    1,166
    es-fr      34,203      841    1,185
    es-zh      27,535      831    1,159
    fr-zh      27,506      829    1,158

Short texts repeat across pages ('Yes', 'Syntax:', 'Click OK.'): the distinct
text pairs are 35,789 en-de, 33,966 en-fr, 30,802 en-es and 24,831 en-zh.
"""
from __future__ import annotations

import os

import tensorflow_datasets as tfds

from xling_jax import log
from xling_jax.data.libreoffice import corpus, download
from xling_jax.data.report import SkipReport

logger = log.get_logger(__name__)

LANGUAGES = corpus.LANGUAGES  # ('en', 'de', 'es', 'fr', 'zh')
CACHE_SUBDIR = os.path.join('downloads', 'libreoffice_help')

_DESCRIPTION = f"""\
Multi-way parallel paragraphs and headings of the LibreOffice 7.4 help in
English (en), German (de), Spanish (es), French (fr) and Simplified Chinese
(zh = zh-CN), from the Debian packages {', '.join(download.PACKAGES.values())}
(fetched with apt-get download and unpacked with dpkg -x; nothing is installed).

One example per (page, id): `page` is the help page's path
('text/swriter/guide/text_frame.html'), `module` its help module ('swriter'),
`id` the paragraph or heading id ('par_id3149842', 'hd_id3156104'), which is
the same in every language, and one text feature per language. Text is the
visible text as the help viewer shows it on Linux (system switches: the UNIX,
else the default case; application switches: the case of the page's
application, WRITER on shared pages), markup removed, entities decoded,
whitespace normalised. Paragraphs copied into a page from another page
(div.embedded) are taken only from their own page.

A language's text is '' where it is missing, where it equals the English text
(untranslated fall-back), where it has no letters, or where the id occurs
twice on the page with different texts. An example has text in at least two
languages. Examples are ordered by page path, then by position on the English
page.

Splits are by whole help modules (pages of a module share text):
dev = {', '.join(sorted(corpus.DEV_MODULES))} (Chart help), test = {', '.join(sorted(corpus.TEST_MODULES))} (Math help),
train = the other modules (sbasic, scalc, sdatabase, sdraw, shared, simpress,
swriter).
"""

_HOMEPAGE = 'https://help.libreoffice.org/'
_CITATION = ''

__all__ = ['LibreofficeHelp', 'build', 'LANGUAGES']


class LibreofficeHelp(tfds.core.GeneratorBasedBuilder):
    """LibreOffice help paragraphs in en, de, es, fr, zh, aligned by (page, id)."""

    VERSION = tfds.core.Version('1.0.0')
    RELEASE_NOTES = {'1.0.0': 'Initial release.'}

    description = _DESCRIPTION
    homepage = _HOMEPAGE

    def _info(self) -> tfds.core.DatasetInfo:
        return self.dataset_info_from_configs(
            description=_DESCRIPTION,
            features=tfds.features.FeaturesDict({
                'page': tfds.features.Text(),
                'module': tfds.features.Text(),
                'id': tfds.features.Text(),
                **{lang: tfds.features.Text() for lang in LANGUAGES},
            }),
            metadata=tfds.core.MetadataDict(languages=list(LANGUAGES)),
            disable_shuffling=True,  # keep the (page, position) order
            homepage=_HOMEPAGE,
            citation=_CITATION,
            license='MPL-2.0',
        )

    def _split_generators(self, dl_manager):
        del dl_manager  # the data comes from Debian packages (download.fetch)
        cache_dir = os.path.join(os.fspath(self.data_dir_root), CACHE_SUBDIR)
        help_root = download.fetch(cache_dir)
        self.skip_report = SkipReport()
        splits = corpus.split_records(help_root, self.skip_report)
        self.pair_counts = {split: corpus.pair_counts(examples) for split, examples in splits.items()}
        self.split_sizes = {split: len(examples) for split, examples in splits.items()}
        # Saved with the dataset (metadata.json): where the text comes from and what it holds.
        self.info.metadata['packages'] = download.deb_versions(cache_dir)
        self.info.metadata['pair_counts'] = self.pair_counts
        return {split: self._generate_examples(splits[split]) for split in corpus.SPLITS}

    def _generate_examples(self, examples):
        for ex in examples:
            yield f"{ex['page']}#{ex['id']}", {k: ex[k] for k in corpus.FIELDS}


def build(data_dir: str, *, install: bool = False) -> LibreofficeHelp:
    """Download and unpack the help packages (once), then prepare the dataset in ``data_dir``.

    The ``.deb`` files and their unpacked pages are kept in
    ``DATA_DIR/downloads/libreoffice_help/`` and reused.  With ``install``,
    ``apt-get update`` runs first (through sudo when not root), for package
    lists that are missing or out of date.  Raises :class:`xling_jax.errors.UserError`
    (one line saying what to run) when the download or the unpacking fails.
    Returns the prepared builder (reusing an existing build in ``data_dir``).
    """
    os.makedirs(data_dir, exist_ok=True)
    builder = LibreofficeHelp(data_dir=data_dir, file_format='array_record')
    if builder.is_prepared():
        return builder
    download.fetch(os.path.join(data_dir, CACHE_SUBDIR), update=install)  # UserErrors before TFDS starts
    builder.download_and_prepare(
        download_config=tfds.download.DownloadConfig(
            try_download_gcs=False,
            compute_stats=tfds.download.ComputeStatsMode.SKIP,
        ))
    if hasattr(builder, 'skip_report'):
        logger.info(builder.skip_report.summary('libreoffice_help: skipped or blanked'))
        logger.info('libreoffice_help: examples and usable pairs per split\n'
                    + corpus.format_counts(builder.pair_counts, builder.split_sizes))
    return builder
