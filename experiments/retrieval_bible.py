"""Cross-lingual retrieval on the Bible: a contrastive dual encoder fine-tuned from the main job's encoder.

Run:      xling train --workdir runs/bible_en_es                                  # the main job (README)
          xling train --config experiments/retrieval_bible.py --workdir runs/retrieval_bible \\
              --config.init_from.workdir=runs/bible_en_es
          xling retrieve --workdir runs/retrieval_bible --dataset bible --split test --directions en-es
          xling mine --workdir runs/retrieval_bible --dataset bible --src en --tgt es --out pairs.tsv
Hardware: 2 CPU cores: RESULT_TIME.
Expected: RESULT_TABLE

Pairs: the Bible's en-es training verses (one direction: a dual encoder reads both sides the same
way), 64 pairs a step, each pair's 63 neighbours its negatives. Every text is framed `<2en> text
</s>` whatever its language (retrieval.tag_language) and mean-pooled.
"""
from xling_jax.configs.default import get_config as default_config


def get_config():
    c = default_config()
    c.tasks = ("retrieval:1",)
    c.data.directions = ("en-es",)
    c.train.batch_size = 64  # in-batch negatives: 63 per pair
    c.train.steps = 1000
    c.train.warmup_steps = 100
    c.train.learning_rate = 1e-3
    c.train.label_smoothing = 0.0
    c.model.dropout_rate = 0.1
    c.checkpoint_every = 250
    c.eval_every = 250
    c.retrieval.eval_limit = 1000
    return c
