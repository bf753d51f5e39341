"""Denoising pretraining (mBART) on the monolingual text of every corpus: step 1 of the low-resource study.

Run:      xling train --config experiments/lowres_pretrain.py --workdir runs/lowres_pretrain
Then:     experiments/lowres_en_es.py (fine-tunes this run on 2,000 Bible pairs).
Hardware: 2 CPU cores: 20 minutes measured with other jobs sharing them (a GPU takes the real
          size: train.steps=50_000 and a base-size model).
Expected: nll/mbart 4.69 at step 1500 (loss 5.30 with label smoothing), 2.4M params, 8,000 pieces.

The text is each language side of the training splits of bible (en, es) and libreoffice_help (en, de,
es, fr, zh), read as unaligned monolingual text: no pair is ever shown as a pair. The Bible's Spanish
side is the future fine-tuning target's side, as in any study that pretrains on in-domain text.
"""
from xling_jax.configs.default import get_config as default_config


def get_config():
    c = default_config()
    c.data.mixture = ("bible:en-es", "libreoffice_help:en-de", "libreoffice_help:en-es", "libreoffice_help:en-fr",
                      "libreoffice_help:en-zh")
    c.tasks = ("mbart:1",)
    c.tokenizer.vocab_size = 8000  # five languages, Chinese among them
    c.train.batch_size = 4  # the results below were measured with 4 rows a step
    c.train.steps = 1500
    c.eval_bleu = False  # nothing to translate yet
    c.eval_every = 750
    c.eval_batches = 20
    return c
