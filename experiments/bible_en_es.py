"""English<->Spanish on the Bible (KJV / Reina-Valera 1909): the README's main job.

Run:      xling train --config experiments/bible_en_es.py --workdir runs/bible_en_es
          xling eval --workdir runs/bible_en_es --split test
Hardware: 2 CPU cores: 12.8 min on 2 idle cores for the README's main command from a fresh clone
          (set-up and data build included; 2026-11-23), 10.1 min with the data already built
          (2026-11-24).
Expected: see README.md ("Main job") for the measured test BLEU/chrF++ per direction.
"""
from xling_jax.configs.default import get_config  # noqa: F401  (the default config is this experiment)
