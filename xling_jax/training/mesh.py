"""Device mesh and shardings.

The `data` axis spans every device of every process: parameters and optimizer
state are replicated, batches are split along their first dimension.
"""
import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from xling_jax.errors import UserError


def make_mesh(mesh_config) -> Mesh:
    n_devices = jax.device_count()
    data = n_devices if mesh_config.data == -1 else mesh_config.data
    if data < 1 or data > n_devices:
        raise UserError(f"mesh.data={mesh_config.data} but only {n_devices} devices are visible; "
                        "use -1 for all devices")
    if n_devices % data:
        raise UserError(f"mesh.data={data} does not divide the {n_devices} visible devices")
    # Auto axes: linen's nn.Embed gather is rejected under Explicit axes (make_mesh's default).
    return jax.make_mesh((data,), ("data",), axis_types=(jax.sharding.AxisType.Auto,),
                         devices=jax.devices()[:data])


def replicated(mesh: Mesh) -> NamedSharding:
    return NamedSharding(mesh, P())


def batch_sharding(mesh: Mesh) -> NamedSharding:
    return NamedSharding(mesh, P("data"))


def global_batch(local_batch: dict, mesh: Mesh) -> dict:
    """Assembles each process's rows into arrays sharded over the `data` axis."""
    sharding = batch_sharding(mesh)
    return {k: jax.make_array_from_process_local_data(sharding, np.asarray(v)) for k, v in local_batch.items()}


def check_batch_size(batch_size: int, mesh: Mesh) -> None:
    if batch_size % mesh.shape["data"]:
        raise UserError(f"train.batch_size={batch_size} is not divisible by the data-parallel size "
                        f"{mesh.shape['data']}")
    if batch_size % jax.process_count():
        raise UserError(f"train.batch_size={batch_size} is not divisible by the {jax.process_count()} processes")
