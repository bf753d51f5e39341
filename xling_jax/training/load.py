"""Loading a trained run (config, tokenizer, params) from its workdir for inference."""
import dataclasses
import os

import jax
import jax.numpy as jnp
import ml_collections

from xling_jax.data import tokenizer as tokenizer_lib
from xling_jax.data.tokenizer import FILENAME, Tokenizer
from xling_jax.errors import UserError
from xling_jax.model import build_model
from xling_jax.training import checkpoints
from xling_jax.training import workdir as workdir_lib
from xling_jax.training.mesh import make_mesh, replicated


@dataclasses.dataclass
class Run:
    workdir: str
    config: ml_collections.ConfigDict
    tokenizer: Tokenizer  # or a MarianVocab (imported from Marian): the same interface
    model: object
    params: dict
    step: int


def load_run(workdir: str, step: int | str | None = None) -> Run:
    """Restores a run's params (latest checkpoint unless `step`: a number or "best"), replicated."""
    workdir = os.path.abspath(os.path.expanduser(workdir))
    if not os.path.isdir(workdir):
        raise UserError(f"workdir {workdir} does not exist; pass the --workdir of a trained run")
    config = workdir_lib.load_config(workdir)
    if not tokenizer_lib.exists(workdir):
        raise UserError(f"{workdir} has no {FILENAME}; start training there first (xling train --workdir {workdir})")
    tokenizer = tokenizer_lib.load(workdir, config.data.task_prefix)
    model = build_model(config.model, tokenizer.vocab_size, tokenizer.target_vocab_size)
    sharding = replicated(make_mesh(ml_collections.ConfigDict({"data": -1})))

    def init_params(rng):
        dummy = jnp.zeros((1, 8), jnp.int32)
        return model.init(rng, dummy, dummy)["params"]

    abstract = jax.tree.map(lambda s: jax.ShapeDtypeStruct(s.shape, s.dtype, sharding=sharding),
                            jax.eval_shape(init_params, jax.random.key(0)))
    params, restored_step = checkpoints.restore_params(workdir, abstract, step)
    if params is None and step == "best":
        raise UserError(f"{workdir} has no best checkpoint: it is written when dev BLEU is measured during "
                        "training (config.eval_bleu)")
    if params is None:
        raise UserError(f"{workdir} has no checkpoint yet; train first (xling train --workdir {workdir})")
    return Run(workdir, config, tokenizer, model, params, restored_step)
