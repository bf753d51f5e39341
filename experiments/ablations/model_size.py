"""Ablation: model size: width, MLP and depth grow together (zipped), 2 seeds each.

Run:      xling sweep experiments/ablations/model_size.py --root runs/ablations/model_size
          xling compare runs/ablations/model_size
Real:     xling sweep experiments/ablations/model_size.py:real --root runs/ablations/model_size_real
Hardware: tiny: 6 runs of one to three minutes on 2 CPU cores; real: 6 runs of 5 to 40 minutes.
Expected: not measured yet (tiny or real).

Tiny: 32/64/128 wide with 1/2/3 layers around base.py's 64 x 2; real: 64/128/256 wide with 2/3/4
layers around the default config's 128 x 3.
"""
import os

from xling_jax.configs.loading import load_config_file
from xling_jax.experiments.sweep import product, seeds, zipped

SIZES = {"tiny": {"model.emb_dim": [32, 64, 128], "model.mlp_dim": [128, 256, 512], "model.num_layers": [1, 2, 3]},
         "small": {"model.emb_dim": [64, 128, 256], "model.mlp_dim": [256, 512, 1024], "model.num_layers": [2, 3, 4]},
         "real": {"model.emb_dim": [64, 128, 256], "model.mlp_dim": [256, 512, 1024], "model.num_layers": [2, 3, 4]}}


def get_config(arg: str = "tiny"):
    return load_config_file(os.path.join(os.path.dirname(__file__), f"base.py:{arg}"))


def get_sweep(arg: str = "tiny"):
    return product(zipped(**SIZES[arg]), seeds(2))
