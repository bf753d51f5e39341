"""Ablation: label smoothing 0, 0.1 and 0.2 (train.label_smoothing), 2 seeds each.

Run:      xling sweep experiments/ablations/label_smoothing.py --root runs/ablations/label_smoothing
          xling compare runs/ablations/label_smoothing
Real:     xling sweep experiments/ablations/label_smoothing.py:real --root runs/ablations/label_smoothing_real
Hardware: tiny (base.py): 6 runs of about a minute each on 2 CPU cores; real: 6 runs of about 15 minutes.
Expected: not measured yet (tiny or real).

Train loss includes the smoothing term, so compare dev loss (plain NLL) and BLEU/chrF++, not train loss.
"""
import os

from xling_jax.configs.loading import load_config_file
from xling_jax.experiments.sweep import grid, product, seeds


def get_config(arg: str = "tiny"):
    c = load_config_file(os.path.join(os.path.dirname(__file__), f"base.py:{arg}"))
    return c


def get_sweep():
    return product(grid(**{"train.label_smoothing": [0.0, 0.1, 0.2]}), seeds(2))
