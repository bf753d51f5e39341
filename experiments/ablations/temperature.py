"""Ablation: direction sampling temperature T (data.temperature) over a mixture of unequal directions.

Run:      xling sweep experiments/ablations/temperature.py --root runs/ablations/temperature
          xling compare runs/ablations/temperature
Real:     xling sweep experiments/ablations/temperature.py:real --root runs/ablations/temperature_real
Hardware: tiny (base.py, 8 directions: a 2,000-piece vocabulary and 100 test sentences per direction): 6 runs of about 3 minutes on 2 CPU cores; real: 6 runs of about 20 minutes.
Expected: not measured yet (tiny or real).

The mixture: Bible en->es (31k pairs) and LibreOffice help en->de (41k), en->fr (39k), en->zh (28k),
each also reversed: 8 directions (both datasets are built offline from Debian packages; xling data
build libreoffice_help). p_i ~ n_i^(1/T): T=1 samples by size, T=100 nearly uniformly. The sizes
differ by 1.5x at most, so the effect on the smallest direction (en<->zh) is what to look at in the
per-direction table.
"""
import os

from xling_jax.configs.loading import load_config_file
from xling_jax.experiments.sweep import grid, product, seeds


def get_config(arg: str = "tiny"):
    c = load_config_file(os.path.join(os.path.dirname(__file__), f"base.py:{arg}"))
    c.data.mixture = ("bible:en-es", "libreoffice_help:en-de", "libreoffice_help:en-fr", "libreoffice_help:en-zh")
    c.data.both_directions = True
    if arg in ("tiny", "small"):
        c.tokenizer.vocab_size = 2000 if arg == "tiny" else 4000  # five languages, Chinese among them
        c.final_eval.limit = 100
        c.eval_bleu_limit = 20
    return c


def get_sweep():
    return product(grid(**{"data.temperature": [1.0, 5.0, 100.0]}), seeds(2))
