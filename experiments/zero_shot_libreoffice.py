"""Zero-shot translation: one many-to-many model trained on en<->{de,es,fr,zh} of the LibreOffice help only.

Run:      xling train --config experiments/zero_shot_libreoffice.py --workdir runs/zero_shot_lo
          xling eval --workdir runs/zero_shot_lo --limit 200
          xling eval --workdir runs/zero_shot_lo --dataset libreoffice_help --directions es-de,de-fr,fr-zh,zh-es \
              --pivot en --limit 200
Hardware: 2 CPU cores; about 30 minutes of training, then about 10 minutes per evaluation command.
Expected: measured figures are in the README ("Zero-shot translation").

The model never sees a non-English pair; the target tag alone asks for the language. The second
eval command scores the zero-shot directions of the multi-way test split (records are paragraphs
aligned across all five languages, so any two languages pair) both directly and pivoting through
English with the same model (src->en->tgt), into runs/zero_shot_lo/eval/test/libreoffice_help/.
"""
from xling_jax.configs.default import get_config as default_config

LANGUAGES = ("de", "es", "fr", "zh")


def get_config():
    c = default_config()
    c.data.mixture = tuple(f"libreoffice_help:en-{lang}" for lang in LANGUAGES)
    c.data.both_directions = True  # en->xx and xx->en: eight directions, none between two xx
    c.data.temperature = 1.0  # the four pairs are of similar size (28k-41k)
    c.tokenizer.vocab_size = 8000  # five languages, Chinese characters among them
    c.train.steps = 4000
    c.train.warmup_steps = 300
    c.checkpoint_every = 1000
    c.eval_every = 2000
    c.eval_batches = 8  # dev loss on 8 batches per direction
    c.eval_bleu_limit = 32  # dev sentences decoded per direction (eight directions)
    return c
