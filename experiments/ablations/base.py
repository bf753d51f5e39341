"""The base every ablation in this folder starts from, at three sizes (`FILE.py:ARG` picks one).

tiny (default): English->Spanish Bible, a 2-layer 64-wide Transformer, 300 steps, greedy decoding;
      about a minute per run on 2 CPU cores, so a 6-run sweep takes minutes. Far too small for good
      translations (test BLEU below 1): a smoke test of the sweep, nothing to read results from.
small: the default model (3 layers, 128 wide) on English->Spanish only, 1,500 steps, greedy decoding,
      test scored on the first 300 verses of Mark; 4-5 minutes a run on 2 CPU cores (dev BLEU about 4.5,
      chrF++ 23): the size the measured results in each ablation's docstring come from.
real: the default config (xling_jax/configs/default.py: 3 layers, 128 wide, 4,000 steps, beam 4,
      both directions), sized for 2 CPU cores at about 15 minutes a run; dev BLEU at every
      evaluation on the first 200 dev verses, test scored on every test verse.

Run:  xling train --config experiments/ablations/base.py --workdir runs/ablation_base   (tiny)
      xling train --config experiments/ablations/base.py:real --workdir runs/ablation_base_real
"""
from xling_jax.configs.default import get_config as default_config
from xling_jax.errors import UserError


def get_config(arg: str = "tiny"):
    c = default_config()
    if arg == "real":
        c.eval_bleu_limit = 200
        c.final_eval.limit = 0
        return c
    if arg == "small":
        c.data.directions = ("en-es",)
        c.train.steps = 1500
        c.train.warmup_steps = 100
        c.eval_every = 750
        c.checkpoint_every = 750
        c.eval_batches = 10
        c.eval_bleu_limit = 100
        c.decode.method = "greedy"
        c.final_eval.limit = 300
        return c
    if arg != "tiny":
        raise UserError(f"experiments/ablations: size {arg!r} unknown; use FILE.py (tiny), FILE.py:small or FILE.py:real")
    c.data.directions = ("en-es",)  # one direction: half the decoding
    c.data.max_len = 48
    c.tokenizer.vocab_size = 1000
    c.tokenizer.max_sentences = 20_000
    c.model.emb_dim = 64
    c.model.num_heads = 4
    c.model.num_layers = 2
    c.model.mlp_dim = 256
    c.train.steps = 300
    c.train.batch_size = 16
    c.train.warmup_steps = 30
    c.train.learning_rate = 3e-3
    c.log_every = 20
    c.eval_every = 100
    c.eval_batches = 10
    c.checkpoint_every = 100
    c.eval_bleu_limit = 50  # dev BLEU on the first 50 dev verses at every evaluation
    c.decode.method = "greedy"
    c.decode.max_len_b = 5
    c.final_eval.limit = 200  # test: the first 200 verses (Mark)
    return c
