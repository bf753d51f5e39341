"""Mesh rules, state shardings and multi-process settings (no compilation: milliseconds)."""
import argparse

import jax
import numpy as np
import pytest
from conftest import TINY_CONFIG
from jax.sharding import PartitionSpec as P

from xling_jax.configs.loading import load_config_file
from xling_jax.errors import UserError
from xling_jax.model import build_model
from xling_jax.training import distributed, optimizer, steps
from xling_jax.training import mesh as mesh_lib


def test_rules_parse_and_refuse_unknown_axes():
    assert mesh_lib.parse_rules(("embed=fsdp", "heads=tensor+data", "kv=")) == (
        ("batch", ("data", "fsdp")), ("embed", ("fsdp",)), ("heads", ("tensor", "data")), ("kv", None))
    for bad in ("embed=model", "embed", "batch=data"):
        with pytest.raises(UserError):
            mesh_lib.parse_rules((bad,))


def test_dimensions_the_mesh_does_not_divide_stay_whole():
    mesh = jax.sharding.AbstractMesh((2, 1, 4), mesh_lib.AXES)
    assert mesh_lib.fit(P("fsdp", "tensor"), (32, 64), mesh) == P("fsdp", "tensor")
    assert mesh_lib.fit(P("tensor", "fsdp"), (601, 32), mesh) == P(None, "fsdp")
    assert mesh_lib.fit(P(("data", "tensor")), (12, 5), mesh) == P(None, None)


def test_optimizer_state_is_sharded_like_the_params_it_mirrors():
    config = load_config_file(TINY_CONFIG)
    config.train.freeze = ("decoder",)  # optax.multi_transform wraps the Adam state in masks
    model = build_model(config.model, 600)
    tx = optimizer.make_optimizer(config.train)
    init = lambda rng: steps.init_state(rng, model=model, tx=tx, batch_shape=(1, 8))
    dummy = np.zeros((1, 8), np.int32)
    mesh = mesh_lib.make_mesh(config.mesh)
    s = mesh_lib.state_shardings(jax.eval_shape(init, jax.random.key(0)), model.param_axes(dummy, dummy), mesh,
                                 mesh_lib.parse_rules(config.mesh.rules))
    specs = {jax.tree_util.keystr(p): x.spec for p, x in jax.tree_util.tree_flatten_with_path(s)[0]}
    kernel = "['encoder_0']['mlp']['Dense_0']['kernel']"
    assert specs[".params" + kernel] == P("fsdp", "tensor")
    mirrors = [k for k in specs if k.endswith(kernel) and not k.startswith(".params")]
    assert len(mirrors) == 2 and all(specs[k] == P("fsdp", "tensor") for k in mirrors)  # mu, nu
    assert specs[".params['embedding']['embedding']"] == P("tensor", "fsdp")
    assert specs[".step"] == P() and any(k.endswith(".count") and v == P() for k, v in specs.items())


def _args(*argv):
    p = argparse.ArgumentParser()
    distributed.add_flags(p)
    return p.parse_args(argv)


def test_distributed_settings_from_flags_environment_or_cluster(monkeypatch):
    for k in ("JAX_COORDINATOR_ADDRESS", "JAX_NUM_PROCESSES", "JAX_PROCESS_ID", "XLING_DISTRIBUTED"):
        monkeypatch.delenv(k, raising=False)
    assert distributed.settings(_args()) is None
    flags = ("--coordinator_address", "h:1", "--num_processes", "2", "--process_id", "1")
    assert distributed.settings(_args(*flags)) == {"coordinator_address": "h:1", "num_processes": 2, "process_id": 1}
    assert distributed.settings(_args("--distributed")) == {}
    with pytest.raises(UserError):
        distributed.settings(_args("--num_processes", "2"))  # the rest neither given nor detected
    monkeypatch.setenv("JAX_COORDINATOR_ADDRESS", "h:2")
    monkeypatch.setenv("JAX_NUM_PROCESSES", "4")
    monkeypatch.setenv("JAX_PROCESS_ID", "3")
    assert distributed.settings(_args("--process_id", "0")) == {"coordinator_address": "h:2", "num_processes": 4,
                                                                 "process_id": 0}
    monkeypatch.setenv("JAX_PROCESS_ID", "4")
    with pytest.raises(UserError):
        distributed.settings(_args())
