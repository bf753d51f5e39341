"""Many-to-many translation between en, de, es, fr, zh on libreoffice_help: an encoder to start
`experiments/libreoffice_classify.py` from (a short run, sized for a CPU).

Run:      xling train --config experiments/libreoffice_translate.py --workdir runs/lo_translate
Hardware: 2 CPU cores, about 18 minutes: 2.3 for the tokenizer, 15.3 for 1,500 steps (1.8 steps/s).
Expected: dev loss 4.28 nats (token accuracy 0.28) at step 1,500: a weak translator, whose encoder
          still lifts zero-shot classification (see experiments/libreoffice_classify.py).

The 20 directions of the five languages share one 8,000-piece vocabulary and the model shape of
libreoffice_classify.py. The dataset's train split holds every module but Chart and Math, so it
includes the text (not the labels) of the classifier's held-out pages: the classifier's zero-shot
scores after this run measure transfer through an encoder that has seen those paragraphs'
translations, as with any pretraining corpus that contains the test text.
"""
from xling_jax.configs.default import get_config as default_config

LANGUAGES = ("en", "de", "es", "fr", "zh")


def get_config():
    c = default_config()
    c.data.name = "libreoffice_help"
    c.data.directions = tuple(f"{a}-{b}" for a in LANGUAGES for b in LANGUAGES if a != b)
    c.data.max_len = 64  # help paragraphs: longer pairs (about 5%) are dropped
    c.tokenizer.vocab_size = 8000  # five languages, Chinese needs about 1,400 characters alone
    c.train.steps = 1500
    c.train.batch_size = 8
    c.train.warmup_steps = 200
    c.checkpoint_every = 500
    c.eval_every = 500
    c.eval_batches = 20  # dev loss on 20 batches of each direction
    c.eval_bleu = False  # decoding 20 directions would take longer than the training
    return c
