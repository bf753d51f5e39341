"""T5 span-corruption pretraining of a small T5 v1.1-shaped model: step 1 of the T5 low-resource study.

Run:      xling train --config experiments/lowres_t5_pretrain.py --workdir runs/lowres_t5_pretrain
Then:     experiments/lowres_t5_en_es.py (fine-tunes this run on 2,000 Bible pairs).
Hardware: 2 CPU cores (AMD EPYC) shared with other jobs (load average 4-9): 13.0 min for the 3,000 steps
          (about 1,860 tokens/s), plus 1.2 min for the 8,000-piece vocabulary (timed in a first attempt whose
          tokenizer.model the measured run reused). A GPU takes real sizes (more steps, an mT5-small shape).
Expected: measured 2026-12-06 (code 60734f9): 3.8M params, 8,000 pieces (100 sentinels among them);
          span corruption nll/t5 5.12 at step 100, 3.85 at 200, 3.62 at 1500, 3.57 at 3000 (loss 4.30 with
          label smoothing; token accuracy 0.52, the easily predicted sentinels included). The dev loss the run
          logs is translation's (8.9: it never learns to translate), nothing to read from.
          This checkpoint transfers badly (experiments/lowres_t5_en_es.py: worse than from scratch): its
          attention has collapsed to nearly one-hot weights in every layer (mean entropy 0.02-0.29 nats on four
          Genesis verses; 0.19-2.16 in the from-scratch model), with query kernels 2.5-2.9x the RMS of the
          from-scratch model's and an output projection 6x. Unscaled (T5) attention trained with Adam at the
          default 4e-3 grows its logits; this run does not say what a smaller pretraining learning rate gives.

The model has the T5 v1.1 options (model/transformer.py; see the README's T5 family): RMS norms, no
biases, unscaled attention (4 heads x head_dim 32), a gated GELU MLP (512), bucketed relative positions
shared by each stack, unscaled embeddings and an output projection of its own; 3 + 3 layers of width 128,
the default model's order of size. The task is T5's span corruption alone (15% of the tokens in spans of
mean length 3, each span replaced by a sentinel <extra_id_N> of the vocabulary).

The text is the data of experiments/lowres_pretrain.py (the mBART study), so that the two pretraining
recipes can be compared: each language side of the training splits of libreoffice_help (en, de, es, fr,
zh) and of bible (en, es), read as unaligned monolingual text (no pair is ever shown as a pair; the
Bible's test books are not in its training split). The Bible sides are there because the fine-tuning run
adopts this run's vocabulary (init_from): a vocabulary learnt from the help text alone splits the Bible's
English and Spanish into many more pieces.
"""
from xling_jax.configs.default import get_config as default_config


def t5_model(m):
    """The T5 v1.1-style model section (also the fine-tuning runs': init_from needs the same shape)."""
    m.emb_dim, m.num_layers, m.num_heads, m.head_dim, m.mlp_dim = 128, 3, 4, 32, 512
    m.norm = "rms"
    m.use_bias = False
    m.scale_attention = False
    m.mlp_gated = True
    m.activation = "gelu_tanh"
    m.positions = "relative"
    m.relative_buckets = 32
    m.relative_max_distance = 128
    m.scale_embeddings = False
    m.output_projection = "separate"  # T5 v1.1: untied output
    return m


def get_config():
    c = default_config()
    c.data.mixture = ("bible:en-es", "libreoffice_help:en-de", "libreoffice_help:en-es", "libreoffice_help:en-fr",
                      "libreoffice_help:en-zh")
    c.tasks = ("t5:1",)
    c.tokenizer.vocab_size = 8000  # five languages, Chinese among them
    c.tokenizer.sentinels = 100  # <extra_id_0> ... <extra_id_99>
    c.objective.t5_sentinels = 100
    t5_model(c.model)
    c.train.batch_size = 4  # as the mBART study
    c.train.steps = 3000
    c.eval_bleu = False  # nothing to translate yet
    c.eval_every = 1500
    c.eval_batches = 20
    c.checkpoint_every = 1000
    return c
