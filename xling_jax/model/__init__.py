"""Models, picked by `config.model.name`."""
from xling_jax.errors import UserError
from xling_jax.model.lstm import LSTMConfig, LSTMSeq2Seq
from xling_jax.model.transformer import Transformer, TransformerConfig

MODELS = {"transformer": (Transformer, TransformerConfig), "lstm": (LSTMSeq2Seq, LSTMConfig)}


def build_model(model_config, vocab_size: int, target_vocab_size: int = 0):
    """`target_vocab_size`: the decoder's vocabulary where it differs from the source's (0: the same)."""
    if model_config.name not in MODELS:
        raise UserError(f"unknown model.name {model_config.name!r}; choose one of {', '.join(MODELS)}")
    module_cls, config_cls = MODELS[model_config.name]
    return module_cls(config_cls.from_config(model_config, vocab_size, target_vocab_size))
