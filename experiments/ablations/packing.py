"""Ablation: packing several pairs per row vs batching by length (data.pack), 3 seeds each.

Run:      xling sweep experiments/ablations/packing.py:small --root runs/ablations/packing
          xling compare runs/ablations/packing
Smoke:    xling sweep experiments/ablations/packing.py (tiny: 300 steps, nothing to read from)
Real:     xling sweep experiments/ablations/packing.py:real --root runs/ablations/packing_real
Hardware: small (base.py): 6 runs of 3-7 minutes on 2 CPU cores (a shared, loaded 2-core AMD EPYC);
          real: 6 runs of about 15 minutes, not run here.
Expected: small, measured 2026-12-06 (code 2f3ff3a): mean ± std over seeds 0-2, en->es, greedy, test =
          first 300 verses of Mark, best-dev params; p: paired bootstrap, seeds pooled, against packing:
            config      dev BLEU     dev chrF++    test BLEU    test chrF++   p (BLEU, chrF++)  dev loss       tokens/s
            pack=true   4.43 ± 0.19  22.78 ± 0.79  5.54 ± 0.18  22.48 ± 1.00  baseline          3.887 ± 0.043  6,935 ± 257
            pack=false  1.12 ± 0.17  12.50 ± 0.49  1.12 ± 0.17  12.41 ± 0.59  0.001, 0.001      4.671 ± 0.067  6,161 ± 161
          At equal steps a packed row holds about two pairs, so the packed runs see about twice the
          tokens (5.4 steps/s against 11 for bucketing, at 12% more tokens/s: less padding). Per second of
          training packing still leads: the bucketed runs end after about 195 s at a train loss of 4.92,
          where the packed ones stood at 4.73 (compare/train_loss_vs_time.png; timings on a shared
          machine, so read the time axis loosely). With a step budget packing is the default to keep.

Both take train.batch_size rows of data.max_len tokens a step, so at equal steps a packed run sees more
pairs: the comparison is per step and per second (tokens/s, the loss-vs-time plot), as training is
budgeted. Bucketing pads each batch to a multiple of data.bucket_step.
"""
import os

from xling_jax.configs.loading import load_config_file
from xling_jax.sweeps.sweep import grid, product, seeds


def get_config(arg: str = "tiny"):
    c = load_config_file(os.path.join(os.path.dirname(__file__), f"base.py:{arg}"))
    return c


def get_sweep():
    return product(grid(**{"data.pack": [True, False]}), seeds(3))
