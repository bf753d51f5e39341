"""Ablation: packing several pairs per row vs batching by length (data.pack), 3 seeds each.

Run:      xling sweep experiments/ablations/packing.py --root runs/ablations/packing
          xling compare runs/ablations/packing
Real:     xling sweep experiments/ablations/packing.py:real --root runs/ablations/packing_real
Hardware: tiny (base.py): 6 runs of about a minute each on 2 CPU cores; real: 6 runs of about 15 minutes.
Expected: not measured yet (tiny or real).

Both take train.batch_size rows of data.max_len tokens a step, so at equal steps a packed run sees more
pairs: the comparison is per step and per second (tokens/s, the loss-vs-time plot), as training is
budgeted. Bucketing pads each batch to a multiple of data.bucket_step.
"""
import os

from xling_jax.configs.loading import load_config_file
from xling_jax.experiments.sweep import grid, product, seeds


def get_config(arg: str = "tiny"):
    c = load_config_file(os.path.join(os.path.dirname(__file__), f"base.py:{arg}"))
    return c


def get_sweep():
    return product(grid(**{"data.pack": [True, False]}), seeds(3))
