"""A sequence classifier: the Transformer's encoder, a pooled vector, one dense layer to class logits.

`Classifier` subclasses `Transformer` (rather than holding one as a submodule) so that its encoder
params sit at the same paths as a translation run's (`embedding/embedding`, `encoder_0/...`,
`encoder_norm/...`): `training/init_from.py` loads them unchanged. Only the modules it calls get
params, so a classifier has no decoder; the head is `classification_head/{kernel,bias}`.
"""
import dataclasses

import flax.linen as nn
import jax.numpy as jnp

from xling_jax.errors import UserError
from xling_jax.model.pooling import POOLINGS, pool
from xling_jax.model.transformer import Transformer, TransformerConfig


class Classifier(Transformer):
    """`__call__(tokens_BxS)` returns class logits BxC (float32)."""
    num_classes: int = 2
    pooling: str = "mean"

    def setup(self):
        super().setup()
        self.head_dropout = nn.Dropout(self.cfg.dropout_rate)
        self.classification_head = nn.Dense(
            self.num_classes, dtype=jnp.float32, name="classification_head",
            kernel_init=nn.with_logical_partitioning(nn.initializers.lecun_normal(), ("embed", None)),
            bias_init=nn.with_logical_partitioning(nn.initializers.zeros_init(), (None,)))

    def __call__(self, tokens_BxS, *, deterministic=True):
        x_BxSxD = self.encode(tokens_BxS, deterministic=deterministic)
        pooled_BxD = pool(x_BxSxD, tokens_BxS, self.cfg.pad_id, self.pooling)
        pooled_BxD = self.head_dropout(pooled_BxD, deterministic=deterministic)
        return self.classification_head(pooled_BxD).astype(jnp.float32)


def build_classifier(model_config, tokenizer, num_classes: int, pooling: str) -> Classifier:
    """A classifier over `tokenizer`'s vocabulary with the encoder of `model_config` (config.model)."""
    if model_config.name != "transformer":
        raise UserError(f"the classifier needs model.name 'transformer', got {model_config.name!r}")
    if pooling not in POOLINGS:
        raise UserError(f"classify.pooling must be one of {', '.join(map(repr, POOLINGS))}, got {pooling!r}")
    cfg = TransformerConfig.from_config(model_config, tokenizer.vocab_size, tokenizer.target_vocab_size)
    # final_logits_bias is a param of the decoder's output, created in setup: not one the classifier needs.
    cfg = dataclasses.replace(cfg, final_logits_bias=False, pad_id=tokenizer.pad_id, eos_id=tokenizer.eos_id)
    return Classifier(cfg, num_classes=num_classes, pooling=pooling)
