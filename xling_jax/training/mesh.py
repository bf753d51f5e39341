"""Device mesh, logical axis rules and shardings.

Three mesh axes, sized by config.mesh: `data` (rows of the batch; params replicated), `fsdp` (rows
of the batch too, and params and optimizer state sharded: each layer's weights are gathered when
used) and `tensor` (model parallel: attention heads, MLP units, vocabulary). Batches are split over
data x fsdp. `config.mesh.rules` maps the logical axis names that model/transformer.py annotates
its params and activations with onto mesh axes; names without a rule stay whole.
"""
import functools
import math

import flax.linen as nn
import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from xling_jax.errors import UserError
from xling_jax.model.transformer import sharding_context

AXES = ("data", "fsdp", "tensor")
BATCH_AXES = ("data", "fsdp")  # the mesh axes that split a batch's rows


def make_mesh(mesh_config) -> Mesh:
    """The (data, fsdp, tensor) mesh of config.mesh; data=-1: the devices fsdp x tensor leave."""
    n_devices = jax.device_count()
    fsdp, tensor = mesh_config.get("fsdp", 1), mesh_config.get("tensor", 1)
    if fsdp < 1 or tensor < 1:
        raise UserError(f"mesh.fsdp={fsdp} and mesh.tensor={tensor} must be at least 1")
    if n_devices % (fsdp * tensor):
        raise UserError(f"mesh.fsdp x mesh.tensor = {fsdp * tensor} does not divide the {n_devices} visible devices")
    data = n_devices // (fsdp * tensor) if mesh_config.data == -1 else mesh_config.data
    size = data * fsdp * tensor
    if data < 1 or size > n_devices:
        raise UserError(f"mesh.data={mesh_config.data} x mesh.fsdp={fsdp} x mesh.tensor={tensor} needs {size} devices "
                        f"but {n_devices} are visible; use mesh.data=-1 for all devices")
    if n_devices % size:
        raise UserError(f"the mesh's {size} devices (data x fsdp x tensor) do not divide the {n_devices} visible "
                        "devices")
    # Auto axes: linen's nn.Embed gather is rejected under Explicit axes (make_mesh's default).
    return jax.make_mesh((data, fsdp, tensor), AXES, axis_types=(jax.sharding.AxisType.Auto,) * 3,
                         devices=jax.devices()[:size])


def parse_rules(rules) -> tuple:
    """config.mesh.rules ("LOGICAL=AXIS", "LOGICAL=AXIS+AXIS", "LOGICAL=" for whole) as flax's
    (logical name, mesh axes) pairs."""
    out = []
    for rule in rules:
        name, sep, axes = rule.partition("=")
        targets = tuple(a for a in axes.split("+") if a)
        unknown = [a for a in targets if a not in AXES]
        if not sep or not name or unknown:
            raise UserError(f"mesh.rules entry {rule!r}: write LOGICAL=AXIS[+AXIS] with mesh axes among "
                            f"{', '.join(AXES)} (e.g. 'embed=fsdp', 'kv=' to keep an axis whole)")
        if name == "batch":
            raise UserError(f"mesh.rules entry {rule!r}: batches are always split over data x fsdp")
        out.append((name, targets or None))
    # Activations' batch axis: the rows each device holds (as fed by `global_batch`).
    return (("batch", BATCH_AXES),) + tuple(out)


def batch_splits(mesh: Mesh) -> int:
    """How many ways a batch's rows are split (data x fsdp)."""
    return math.prod(mesh.shape[a] for a in BATCH_AXES)


def replicated(mesh: Mesh) -> NamedSharding:
    return NamedSharding(mesh, P())


def batch_sharding(mesh: Mesh) -> NamedSharding:
    return NamedSharding(mesh, P(BATCH_AXES))


def global_batch(local_batch: dict, mesh: Mesh) -> dict:
    """Assembles each process's rows into arrays split over data x fsdp."""
    sharding = batch_sharding(mesh)
    return {k: jax.make_array_from_process_local_data(sharding, np.asarray(v)) for k, v in local_batch.items()}


def check_batch_size(batch_size: int, mesh: Mesh, accum_steps: int = 1) -> None:
    if batch_size % batch_splits(mesh):
        raise UserError(f"train.batch_size={batch_size} is not divisible by the batch-parallel size "
                        f"{batch_splits(mesh)} (mesh data x fsdp)")
    if batch_size % (accum_steps * batch_splits(mesh)):
        raise UserError(f"train.batch_size={batch_size} is not divisible by train.grad_accum_steps={accum_steps} x "
                        f"the batch-parallel size {batch_splits(mesh)}: each microbatch must split evenly "
                        f"over the devices")
    if batch_size % jax.process_count():
        raise UserError(f"train.batch_size={batch_size} is not divisible by the {jax.process_count()} processes")
    check_process_rows(mesh)


def check_process_rows(mesh: Mesh) -> None:
    """Each process feeds its own contiguous block of rows (data/pipeline.py), so the mesh must give
    each process's devices exactly that block: data x fsdp a multiple of the process count."""
    n, procs = batch_splits(mesh), jax.process_count()
    bad = n % procs != 0
    if not bad:
        for device, (rows,) in batch_sharding(mesh).devices_indices_map((n,)).items():
            bad |= (rows.start or 0) // (n // procs) != device.process_index
    if bad:
        raise UserError(f"the mesh splits batches {n} ways (data x fsdp) over {procs} processes, which cannot each "
                        "hold their own rows; make mesh.data x mesh.fsdp a multiple of the process count")


def fit(spec: P, shape, mesh: Mesh) -> P:
    """`spec` without the mesh axes that do not divide their dimension (those dimensions stay whole)."""
    dims = tuple(spec) + (None,) * (len(shape) - len(tuple(spec)))
    size = lambda axes: math.prod(mesh.shape[a] for a in ((axes,) if isinstance(axes, str) else axes))
    return P(*(axes if axes is None or dim % size(axes) == 0 else None for axes, dim in zip(dims, shape)))


def param_shardings(param_axes, abstract_params, mesh: Mesh, rules) -> dict:
    """NamedShardings of the params from their logical axes (`Transformer.param_axes`) and the rules."""
    specs = nn.logical_to_mesh(param_axes, rules)
    return jax.tree.map(lambda spec, x: NamedSharding(mesh, fit(spec, x.shape, mesh)), specs, abstract_params,
                        is_leaf=lambda s: isinstance(s, P))


def state_shardings(abstract_state, param_axes, mesh: Mesh, rules):
    """Shardings of a TrainState: the params', the same for every optimizer-state leaf that mirrors a
    param (found by its trailing path and shape: Adam's moments, under any optax wrapping), and
    replicated for the rest (step, counts)."""
    params = param_shardings(param_axes, abstract_state.params, mesh, rules)
    flat = {_dict_path(path): (s, x.shape) for (path, s), x in zip(
        jax.tree_util.tree_flatten_with_path(params)[0], jax.tree.leaves(abstract_state.params))}

    def like_param(path, x):
        keys = _dict_path(path)
        for i in range(len(keys)):  # the longest trailing run of dict keys that names a param
            sharding, shape = flat.get(keys[i:], (None, None))
            if sharding is not None and shape == x.shape:
                return sharding
        return replicated(mesh)
    opt_state = jax.tree_util.tree_map_with_path(like_param, abstract_state.opt_state)
    return abstract_state.replace(step=replicated(mesh), params=params, opt_state=opt_state)


def _dict_path(path) -> tuple:
    """The trailing dict keys of a pytree path (a param's path inside any optimizer-state wrapping)."""
    keys = []
    for k in reversed(path):
        if not isinstance(k, jax.tree_util.DictKey):
            break
        keys.append(k.key)
    return tuple(reversed(keys))


def with_rules(fn, mesh: Mesh, rules):
    """`fn` traced with the mesh and rules, so the model's logical sharding constraints apply."""
    @functools.wraps(fn)
    def wrapped(*args, **kwargs):
        with sharding_context(mesh, rules):
            return fn(*args, **kwargs)
    return wrapped
