"""A sentence encoder (`decoding.embed.Encoder`) from a workdir: a translation or imported run's encoder,
or a retrieval run's (`config.tasks = ("retrieval:1",)`, marked by MARKER)."""
import json
import os

import jax
import jax.numpy as jnp
import ml_collections

from xling_jax.data import tokenizer as tokenizer_lib
from xling_jax.decoding.embed import Encoder
from xling_jax.errors import UserError
from xling_jax.model.embedder import build_embedder
from xling_jax.training import checkpoints
from xling_jax.training import workdir as workdir_lib
from xling_jax.training.load import load_run
from xling_jax.training.mesh import make_mesh, replicated

MARKER = "retrieval.json"  # a retrieval run's workdir: its pooling and tag language


def is_retrieval_run(workdir: str) -> bool:
    return os.path.isfile(os.path.join(workdir, MARKER))


def read_marker(workdir: str) -> dict:
    with open(os.path.join(workdir, MARKER), encoding="utf-8") as f:
        return json.load(f)


def embedder_params(model, workdir: str, step=None):
    """(params, step) of a retrieval run, replicated; None params where it has no checkpoint."""
    sharding = replicated(make_mesh(ml_collections.ConfigDict({"data": -1})))
    abstract = jax.tree.map(lambda s: jax.ShapeDtypeStruct(s.shape, s.dtype, sharding=sharding),
                            jax.eval_shape(lambda r: model.init(r, jnp.zeros((1, 8), jnp.int32))["params"],
                                           jax.random.key(0)))
    return checkpoints.restore_params(workdir, abstract, step)


def load_encoder(workdir: str, step: int | str | None = None, pooling: str | None = None,
                 tag_lang: str | None = None, batch_size: int = 64) -> Encoder:
    """The encoder of WORKDIR's params (latest checkpoint unless `step`); `pooling` and `tag_lang`
    default to a retrieval run's own, else "mean" and English (see decoding/embed.py)."""
    workdir = os.path.abspath(os.path.expanduser(workdir))
    if not is_retrieval_run(workdir):
        run = load_run(workdir, step)
        return Encoder(run.model, run.params, run.tokenizer, pooling or "mean", tag_lang, batch_size)
    config = workdir_lib.load_config(workdir)
    marker = read_marker(workdir)
    tokenizer = tokenizer_lib.load(workdir)
    model = build_embedder(config.model, tokenizer, marker["pooling"])
    params, _ = embedder_params(model, workdir, step)
    if params is None:
        raise UserError(f"{workdir} has no {'best ' if step == 'best' else ''}checkpoint yet; train first "
                        f"(xling train --workdir {workdir})")
    return Encoder(model, params, tokenizer, pooling or marker["pooling"], tag_lang or marker["tag_language"] or None,
                   batch_size)
