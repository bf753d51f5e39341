"""What the builders of user-named datasets (`gettext/NAME`, `parallel_text/NAME`) share.

Their sources are read first (so that bad options or sources fail before anything
is written), then DATA_DIR/FAMILY/NAME/VERSION is replaced by a fresh build.
"""
from __future__ import annotations

import logging
import os
import re
import shutil

import tensorflow_datasets as tfds

from xling_jax.errors import UserError

_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")


def check_name(config_name: str, family: str) -> str:
    if not isinstance(config_name, str) or not _NAME.fullmatch(config_name):
        raise UserError(f"bad dataset name {config_name!r}: use letters, digits, '_', '.' or '-' "
                        f"(e.g. {family}/mine)")
    return config_name


def check_options(options, allowed: set[str], family: str) -> dict:
    options = dict(options or {})
    unknown = sorted(set(options) - allowed)
    if unknown:
        raise UserError(f"unknown {family} option(s) {', '.join(unknown)}; the options are: "
                        f"{', '.join(sorted(allowed))}")
    return options


def prepare(builder_cls, data_dir: str, name: str, description: str, **kwargs):
    """Builds `builder_cls(**kwargs)` as array_record into DATA_DIR/FAMILY/NAME/VERSION, replacing an old build."""
    os.makedirs(data_dir, exist_ok=True)
    # A rebuild replaces the earlier build of the same name: its sources or options may have changed
    # (and TFDS would otherwise restore the old metadata, languages included).
    old = os.path.join(data_dir, builder_cls.name, name, str(builder_cls.VERSION))
    if os.path.isdir(old):
        shutil.rmtree(old)
    quiet = _DropCustomConfigWarning()  # a user-named config is the point here, not a mistake
    logging.getLogger("absl").addFilter(quiet)
    try:
        builder = builder_cls(data_dir=data_dir, file_format="array_record",
                              config=tfds.core.BuilderConfig(name=name, description=description), **kwargs)
    finally:
        logging.getLogger("absl").removeFilter(quiet)
    builder.download_and_prepare(download_config=tfds.download.DownloadConfig(
        try_download_gcs=False, compute_stats=tfds.download.ComputeStatsMode.SKIP))
    return builder


class _DropCustomConfigWarning(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "Using custom data configuration" not in record.getMessage()
