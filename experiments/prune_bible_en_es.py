"""Magnitude pruning of the main job's model: fine-tuned from runs/bible_en_es to a final sparsity.

Run:      xling train --workdir runs/bible_en_es                       # the README's main job, first
          for s in 0.5 0.8 0.9; do
            xling train --config experiments/prune_bible_en_es.py --workdir runs/prune_$s \\
                --config.train.prune.sparsity=$s
            xling eval --workdir runs/prune_$s --split test --compare runs/bible_en_es
          done
          xling train --config experiments/prune_bible_en_es.py --workdir runs/prune_0.0 \\
              --config.train.prune.sparsity=0.0                      # the control: same steps, no pruning
Hardware: 2 CPU cores (AMD EPYC, 2026-12-06): ~4 min a fine-tuning run, ~1 min an eval.
Expected: test books, beam 4, BLEU / chrF++ en->es and es->en, p from paired bootstrap vs the control:
            sparsity     params stored sparsely   en->es         es->en         BLEU vs control (p)
            main job     7.6 MB dense             13.43 / 32.87  15.37 / 36.10  -1.24, -1.61 (0.001)
            0 (control)  7.6 MB dense             14.67 / 34.71  16.97 / 37.94
            50%          4.1 MB                   13.82 / 33.49  16.23 / 37.06  -0.85 (0.001), -0.74 (0.002)
            80%          1.8 MB                   10.12 / 28.50  11.50 / 31.98  -4.55, -5.48 (0.001)
            90%          1.0 MB                    5.97 / 21.75   7.30 / 25.63  -8.70, -9.67 (0.001)
          "Stored sparsely": a bitmask plus the float32 nonzeros of the pruned params.

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
