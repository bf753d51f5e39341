"""Zero-shot translation: one many-to-many model trained on en<->{de,es,fr,zh} of the LibreOffice help only.

Run:      xling train --config experiments/zero_shot_libreoffice.py --workdir runs/zero_shot_lo
          xling eval --workdir runs/zero_shot_lo --limit 200
          xling eval --workdir runs/zero_shot_lo --dataset libreoffice_help --directions es-de,de-fr,fr-zh,zh-es \
              --pivot en --limit 200
Hardware: 2 CPU cores. Measured with a second training job sharing them (load 7-9): tokenizer 2.5 min,
          4,000 steps 32 min, each eval command 10-11 min (beam 4, 200 test sentences per direction).
Expected: at step 4000 (2.4M params), first 200 test sentences per direction, BLEU / chrF++:
            supervised  en-de 1.7/13.8  de-en 3.0/16.9  en-es 1.7/16.9  es-en 2.1/15.1
                        en-fr 2.1/17.0  fr-en 3.8/18.2  en-zh 3.2/5.5   zh-en 2.1/15.5
            zero-shot   es-de 1.5/13.2  de-fr 1.3/15.6  fr-zh 2.4/5.3   zh-es 2.5/15.2
            via en      es-de 1.5/11.8  de-fr 1.0/13.9  fr-zh 1.5/4.6   zh-es 1.2/13.7
          (dev BLEU at step 4000, 32 sentences per direction: mean 7.5, en-de 17.5). A model this small
          and briefly trained is weak everywhere; its zero-shot output is mostly in the asked language,
          about as good as its supervised directions, and pivoting compounds two weak steps.

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
    c.train.batch_size = 4  # the results below were measured with 4 rows a step
    c.train.steps = 4000
    c.train.warmup_steps = 300
    c.checkpoint_every = 1000
    c.eval_every = 2000
    c.eval_batches = 8  # dev loss on 8 batches per direction
    c.eval_bleu_limit = 32  # dev sentences decoded per direction (eight directions)
    return c
