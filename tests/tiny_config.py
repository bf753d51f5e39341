"""A tiny config for tests: seconds per run on one CPU core.

Run:  xling train --config tests/tiny_config.py --workdir /tmp/tiny
"""
from xling_jax.configs.default import get_config as default_config


def shrink(c):
    """Tiny sizes (model, vocabulary, steps, decoding) for any config: what tests run experiments at."""
    c.data.max_len = 32
    c.tokenizer.vocab_size = 600
    c.tokenizer.max_sentences = 20_000
    c.model.emb_dim = 32
    c.model.num_heads = 4
    c.model.num_layers = 1
    c.model.mlp_dim = 64
    c.train.steps = 6
    c.train.batch_size = 8
    c.train.warmup_steps = 2
    c.checkpoint_every = 3
    c.log_every = 1
    c.eval_every = 3
    c.eval_batches = 2
    c.eval_bleu = False  # the CLI test turns it on
    c.eval_bleu_limit = 8
    c.decode.batch_size = 8
    c.decode.max_len_a = 1.0
    c.decode.max_len_b = 4
    return c


def get_config():
    return shrink(default_config())
