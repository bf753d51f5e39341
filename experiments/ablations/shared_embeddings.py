"""Ablation: one embedding table shared by source, target and output projection vs one of each.


Run:      xling sweep experiments/ablations/shared_embeddings.py --root runs/ablations/shared_embeddings
          xling compare runs/ablations/shared_embeddings
Real:     xling sweep experiments/ablations/shared_embeddings.py:real --root runs/ablations/shared_embeddings_real
Hardware: tiny (base.py): 6 runs of about a minute each on 2 CPU cores; real: 6 runs of about 15 minutes.
Expected: not measured yet (tiny or real).

With model.output_projection "auto" the logits reuse the shared table when sharing, else a
projection of their own: the separate runs have about 3 x vocab x emb_dim more parameters.
"""
import os

from xling_jax.configs.loading import load_config_file
from xling_jax.experiments.sweep import grid, product, seeds


def get_config(arg: str = "tiny"):
    c = load_config_file(os.path.join(os.path.dirname(__file__), f"base.py:{arg}"))
    return c


def get_sweep():
    return product(grid(**{"model.share_embeddings": [True, False]}), seeds(3))
