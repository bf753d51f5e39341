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


def read_built(builder):
    """(builder read back from its directory, {split: [records with str values]}) of a finished build."""
    import tensorflow_datasets as tfds
    loaded = tfds.builder_from_directory(builder.data_dir)
    out = {}
    for split in loaded.info.splits:
        source = loaded.as_data_source(split)
        out[split] = [{k: v.decode("utf-8") for k, v in source[i].items()} for i in range(len(source))]
    return loaded, out


def untrained_run(workdir, config, tokenizer_path) -> str:
    """WORKDIR holding `config`, the tokenizer and random step-0 params (as `xling import` writes a run):
    for tests that need a model to decode with, not a trained one."""
    from xling_jax.bench.decode import random_params
    from xling_jax.data.tokenizer import Tokenizer
    from xling_jax.model import build_model
    from xling_jax.training import checkpoints, workdir as workdir_lib
    workdir = str(workdir)
    os.makedirs(workdir, exist_ok=True)
    shutil.copy(tokenizer_path, os.path.join(workdir, "tokenizer.model"))
    tokenizer = Tokenizer(tokenizer_path)
    model = build_model(config.model, tokenizer.vocab_size)
    workdir_lib.save_config(workdir, config)
    checkpoints.save_params(workdir, config, random_params(model, config.seed, tokenizer.pad_id))
    return workdir
