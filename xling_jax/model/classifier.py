"""A sequence classifier: the Transformer's encoder, a pooled vector, one dense layer to class logits.

`Classifier` subclasses `Transformer` (rather than holding one as a submodule) so that its encoder
params sit at the same paths as a translation run's (`embedding/embedding`, `encoder_0/...`,
`encoder_norm/...`): `training/init_from.py` loads them unchanged. Only the modules it calls get
params, so a classifier has no decoder; the head is `classification_head/{kernel,bias}`.
"""
import flax.linen as nn
import jax.numpy as jnp

from xling_jax.model.pooling import encoder_config, pool
from xling_jax.model.transformer import Transformer


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
    cfg = encoder_config(model_config, tokenizer, pooling, "the classifier", "classify.pooling")
    return Classifier(cfg, num_classes=num_classes, pooling=pooling)
