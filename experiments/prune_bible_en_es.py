"""Magnitude pruning of the main job's model: fine-tuned from runs/bible_en_es to a final sparsity.

Run:      xling train --workdir runs/bible_en_es                       # the README's main job, first
          for s in 0.5 0.8 0.9; do
            xling train --config experiments/prune_bible_en_es.py --workdir runs/prune_$s \\
                --config.train.prune.sparsity=$s
            xling eval --workdir runs/prune_$s --split test --compare runs/bible_en_es
          done
Hardware: 2 CPU cores.
Expected: see the docstring's table below (filled in when measured).

Every dense kernel and the shared embedding lose the scheduled share of their smallest weights
(layer by layer) over the first two thirds of the steps; the last third fine-tunes with the masks
fixed. The learning rate restarts lower than the main job's (its warmup is short): the model is
already trained.
"""
from xling_jax.configs.default import get_config as default_config


def get_config():
    c = default_config()
    c.init_from.workdir = "runs/bible_en_es"
    c.train.steps = 1500
    c.train.warmup_steps = 100
    c.train.learning_rate = 1e-3
    c.train.prune.sparsity = 0.8
    c.train.prune.start_step = 0
    c.train.prune.end_step = 1000
    c.train.prune.every = 50
    c.checkpoint_every = 500
    c.eval_every = 1500
    return c
