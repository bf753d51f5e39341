import os
import shutil

import pytest

from xling_jax.data import registry

TINY_CONFIG = os.path.join(os.path.dirname(__file__), "tiny_config.py")


@pytest.fixture(scope="session")
def bible_data_dir():
    """The real Bible corpus, built once into the user's data directory (as the main job does)."""
    return registry.ensure_built("bible")


@pytest.fixture(scope="session")
def tiny_tokenizer(bible_data_dir, tmp_path_factory):
    """A tokenizer for the tiny config, trained once and copied into each test's workdir."""
    from xling_jax.configs.loading import load_config_file
    from xling_jax.training.train import setup_tokenizer
    workdir = str(tmp_path_factory.mktemp("tokenizer"))
    setup_tokenizer(load_config_file(TINY_CONFIG), workdir, bible_data_dir)
    return os.path.join(workdir, "tokenizer.model")


@pytest.fixture
def tiny_workdir(tmp_path, tiny_tokenizer):
    workdir = tmp_path / "run"
    workdir.mkdir()
    shutil.copy(tiny_tokenizer, workdir / "tokenizer.model")
    return str(workdir)
