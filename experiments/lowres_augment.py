"""Augmentation in the low-resource setting: subword sampling, source noise, both, against none; 3 seeds.

Run:      xling sweep experiments/lowres_augment.py --root runs/lowres_augment
          xling compare runs/lowres_augment --baseline runs/lowres_augment/sampling_alpha=0.0,word_dropout=0.0,blank=0.0,shuffle_k=0,seed=0
Hardware: 12 runs of 4-8 minutes on 2 CPU cores, each then scored on the 903 test verses (greedy): the
          sweep took 77 minutes, sharing the cores with other jobs.
Expected: see experiments/lowres_en_es.py ("Augmentation").

The base is experiments/lowres_en_es.py (2,000 Bible pairs en->es, from scratch). The four
configurations:
  none      the base
  sampling  tokenizer.sampling_alpha=0.2 from the 32 best segmentations, both sides (Kudo 2018)
  noise     data.noise: word dropout 0.1, blanking 0.1, local shuffle k=3 (Edunov et al. 2018's setting)
  both      sampling and noise
"""
import os

from xling_jax.configs.loading import load_config_file
from xling_jax.sweeps.sweep import product, seeds, zipped


def get_config():
    c = load_config_file(os.path.join(os.path.dirname(__file__), "lowres_en_es.py"))
    c.tokenizer.nbest = 32  # candidates sampled from (only read where sampling_alpha > 0)
    return c


def get_sweep():
    return product(zipped(**{"tokenizer.sampling_alpha": [0.0, 0.2, 0.0, 0.2],
                             "data.noise.word_dropout": [0.0, 0.0, 0.1, 0.1],
                             "data.noise.blank": [0.0, 0.0, 0.1, 0.1],
                             "data.noise.shuffle_k": [0, 0, 3, 3]}), seeds(3))
