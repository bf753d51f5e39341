"""TFDS builder `gettext`: English -> N languages from software message catalogs (no TensorFlow needed).

Build and read::

    from xling_jax.data.gettext.builder import build
    builder = build(data_dir, config_name='lo', options={'source': '/tmp/lo/x', 'languages': ['de', 'fr']})
    source = tfds.builder_from_directory(builder.data_dir).as_data_source('test')
    source[0]  # {'catalog': b'acc', 'context': b'RID_...', 'en': b'...', 'de': b'...', 'fr': b''}

The dataset lands in DATA_DIR/gettext/NAME/1.0.0/; its languages are in the
metadata (`info.metadata['languages']`, 'en' first). Options:

* `source` (required): a folder (or one file) holding .po / .mo / .gmo catalogs;
* `languages`: the codes to keep (default: every language found);
* `dev_fraction`, `test_fraction` (default 0.05 each): the shares of held-out records;
* `dev_catalogs`, `test_catalogs`: held-out domains named explicitly.

See :mod:`xling_jax.data.gettext.corpus` for the layouts, the record format and
the split rule, :mod:`xling_jax.data.gettext.catalog` for what is kept verbatim.
"""
from __future__ import annotations

import os

import tensorflow_datasets as tfds

from xling_jax import log
from xling_jax.data import langcode, user_build
from xling_jax.data.gettext import corpus as corpus_lib
from xling_jax.errors import UserError

logger = log.get_logger(__name__)

__all__ = ["Gettext", "build", "LANGUAGES"]

LANGUAGES = None  # dynamic: read them from the built dataset's metadata

_DESCRIPTION = """\
English source strings (msgid) and their translations (msgstr) from gettext
message catalogs (.po text catalogs, .mo/.gmo compiled ones) under a folder:
a source tree (po/de.po), an installed system (/usr/share/locale/de/LC_MESSAGES/*.mo)
or an unpacked package such as libreoffice-l10n-de.

One record per (catalog domain, msgctxt, English msgid) with one field per
language ('' where that language lacks the message), `catalog` and `context`.
Plural messages give two records (msgid and msgid_plural with the singular and
plural forms). Fuzzy, untranslated, obsolete and header entries are left out.
Strings are verbatim: placeholders, accelerator markers (~ _ &) and markup kept.
Splits are by catalog domain (by a hash of the English text where there are
fewer than three domains); every English string in test is removed from dev
and train, and every one in dev from train.
"""
_OPTIONS = {"source", "languages", "dev_fraction", "test_fraction", "dev_catalogs", "test_catalogs"}


class Gettext(tfds.core.GeneratorBasedBuilder):
    """English -> N languages from gettext catalogs; build it with :func:`build`."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Initial release."}

    def __init__(self, *, corpus: corpus_lib.Corpus | None = None, **kwargs):
        if corpus is None:
            raise UserError("gettext datasets are built with xling_jax.data.gettext.builder.build() "
                            "and read with tfds.builder_from_directory()")
        self._corpus = corpus
        super().__init__(**kwargs)

    @property
    def skipped(self):
        """What the build skipped (a SkipReport)."""
        return self._corpus.report

    def _info(self) -> tfds.core.DatasetInfo:
        c = self._corpus
        return self.dataset_info_from_configs(
            description=_DESCRIPTION,
            features=tfds.features.FeaturesDict({
                "catalog": tfds.features.Text(),
                "context": tfds.features.Text(),
                **{lang: tfds.features.Text() for lang in c.languages},
            }),
            metadata=tfds.core.MetadataDict(languages=list(c.languages), catalogs=dict(c.catalogs),
                                            skipped=c.report.to_dict()),
            disable_shuffling=True,
            license="that of the catalogs",
        )

    def _split_generators(self, dl_manager):
        del dl_manager  # local files only
        return {split: self._generate_examples(records) for split, records in self._corpus.splits.items()}

    def _generate_examples(self, records):
        for i, record in enumerate(records):
            yield i, record


def _str_list(value, what: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        return list(value)
    raise UserError(f"gettext option {what} must be a list of names, got {value!r}")


def _fraction(options: dict, key: str) -> float:
    value = options.get(key, 0.05)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < 0.5:
        raise UserError(f"gettext option {key} must be a number between 0 and 0.5, got {value!r}")
    return float(value)


def build(data_dir: str, *, install: bool = False, config_name: str, options: dict) -> Gettext:
    """Reads the catalogs of `options['source']` and writes DATA_DIR/gettext/NAME/1.0.0 (replacing it).

    Raises UserError for bad options, a missing source or nothing usable in it; prints
    what was skipped (to stderr) and keeps the counts in the dataset's metadata (`skipped`).
    """
    del install  # nothing to install
    name = user_build.check_name(config_name, "gettext")
    options = user_build.check_options(options, _OPTIONS, "gettext")
    source = options.get("source")
    if not isinstance(source, str) or not source.strip():
        raise UserError("gettext needs a source: a folder with .po/.mo catalogs (--source DIR)")
    source = os.path.abspath(os.path.expanduser(source))
    if not os.path.exists(source):
        raise UserError(f"gettext source {source} does not exist: pass a folder with .po/.mo catalogs")
    languages = langcode.normalise_all(options.get("languages") or [], "gettext languages")
    dev_fraction, test_fraction = _fraction(options, "dev_fraction"), _fraction(options, "test_fraction")
    corpus = corpus_lib.build_corpus(
        source, languages, dev_fraction=dev_fraction, test_fraction=test_fraction,
        dev_catalogs=_str_list(options.get("dev_catalogs"), "dev_catalogs"),
        test_catalogs=_str_list(options.get("test_catalogs"), "test_catalogs"))
    builder = user_build.prepare(Gettext, data_dir, name, f"gettext catalogs under {source}", corpus=corpus)
    sizes = ", ".join(f"{s} {len(r):,}" for s, r in corpus.splits.items())
    # A warning: the build report (what was skipped) belongs with the warnings, on stderr.
    logger.warning(f"gettext/{name}: {', '.join(corpus.languages)}; records: {sizes}\n"
                   + corpus.report.summary(f"gettext/{name} skipped"))
    return builder
