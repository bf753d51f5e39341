"""Reference model shapes shared by the benchmarks (config.model keys, plus the benchmark batch).

cpu-ref: 6+6 layers, width 256, 4 heads, MLP 1024, vocabulary 8000, length 64, batch 32.
"""
SHAPES = {
    "tiny": dict(num_layers=2, emb_dim=32, num_heads=4, mlp_dim=64, vocab_size=500, length=8, batch_size=4),  # tests
    "cpu-ref": dict(num_layers=6, emb_dim=256, num_heads=4, mlp_dim=1024, vocab_size=8000, length=64, batch_size=32),
    "base": dict(num_layers=6, emb_dim=512, num_heads=8, mlp_dim=2048, vocab_size=32000, length=256, batch_size=64),
    "big": dict(num_layers=6, emb_dim=1024, num_heads=16, mlp_dim=4096, vocab_size=32000, length=256, batch_size=64),
}

# Marian's (OPUS-MT's) architecture in xling's model options: what Transformers and CTranslate2 run.
MARIAN_MODEL = dict(pre_ln=False, positions="sinusoidal_marian", activation="swish", final_logits_bias=True,
                    layer_norm_eps=1e-5, dropout_rate=0.0, attention_dropout_rate=0.0)


def model_overrides(shape: str) -> dict:
    s = SHAPES[shape]
    return {k: s[k] for k in ("num_layers", "emb_dim", "num_heads", "mlp_dim")}
