"""English<->Spanish on the Bible (KJV / Reina-Valera 1909): the README's main job.

Run:      xling train --config experiments/bible_en_es.py --workdir runs/bible_en_es
          xling eval --workdir runs/bible_en_es --split test
Hardware: 2 CPU cores (about 15 minutes end to end).
Expected: see README.md ("Main job") for the measured test BLEU/chrF++ per direction.
"""
from xling_jax.configs.default import get_config  # noqa: F401  (the default config is this experiment)
