"""Ablation: Transformer vs LSTM encoder-decoder with attention (model.name).

Run:      xling sweep experiments/ablations/lstm.py --root runs/ablations/lstm
          xling compare runs/ablations/lstm
Real:     xling sweep experiments/ablations/lstm.py:real --root runs/ablations/lstm_real
Hardware: tiny (base.py): 6 runs of about a minute each on 2 CPU cores; real: 6 runs of about 15 minutes.
Expected: not measured yet (tiny or real).

model.name "lstm" is the LSTM baseline (its own keys, e.g. its attention type, keep their defaults);
both use the base's sizes (emb_dim as the LSTM width, num_layers layers).
"""
import os

from xling_jax.configs.loading import load_config_file
from xling_jax.experiments.sweep import grid, product, seeds


def get_config(arg: str = "tiny"):
    c = load_config_file(os.path.join(os.path.dirname(__file__), f"base.py:{arg}"))
    return c


def get_sweep():
    return product(grid(**{"model.name": ["transformer", "lstm"]}), seeds(3))
