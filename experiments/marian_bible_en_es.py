"""The main job's model in Marian's layout, so that it exports to Hugging Face Marian and CTranslate2 and
comes back as an imported model: what int8 decoding is measured on for an imported model.

Run:      xling train --config experiments/marian_bible_en_es.py --workdir runs/marian_bible
          xling export marian --workdir runs/marian_bible --out exported/marian_bible
          xling import marian exported/marian_bible --workdir runs/marian_imported   # both directions
          xling eval --workdir runs/marian_imported --split test                # float32
          cp -r runs/marian_imported runs/marian_int8
          xling eval --workdir runs/marian_int8 --split test --quantize int8 --compare runs/marian_imported
          xling bench decode --workdir runs/marian_imported --threads 2 --quantize int8,int8-weights --bf16
Hardware: 2 CPU cores (AMD EPYC, 2026-12-06): ~11 min of training.
Expected: test books, beam 4, BLEU / chrF++ (2026-12-06): float32 en->es 12.28 / 31.48, es->en 14.52 / 35.30
          (the same before export and after import); int8 12.48 / 31.58 and 14.44 / 35.31 (+0.20 p 0.05,
          -0.08 p 0.15); int8-weights 12.35 / 31.49 and 14.43 / 35.34.

Post-LN (Marian normalises after each residual) does not train at the default learning rate 4e-3
(experiments/ablations/pre_ln.py), so this run uses 1e-3 with a longer warmup.
"""
from xling_jax.configs.default import get_config as default_config


def get_config():
    c = default_config()
    c.model.pre_ln = False
    c.model.positions = "sinusoidal_marian"
    c.model.activation = "swish"
    c.model.final_logits_bias = True
    c.model.layer_norm_eps = 1e-5
    c.train.learning_rate = 1e-3
    c.train.warmup_steps = 1000
    return c
