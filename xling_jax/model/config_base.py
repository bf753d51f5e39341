"""What every model config (TransformerConfig, LSTMConfig) derives from its fields the same way."""
import dataclasses

import jax.numpy as jnp


class SeqToSeqConfig:
    """Mixed into a frozen dataclass with vocab_size, target_vocab_size, num_layers,
    num_decoder_layers, share_embeddings, output_projection and dtype fields."""

    @classmethod
    def from_config(cls, model_config, vocab_size: int, target_vocab_size: int = 0):
        """The config.model keys this model has (the others belong to other models), and the vocabulary sizes."""
        fields = {f.name for f in dataclasses.fields(cls)}
        kwargs = {k: v for k, v in model_config.items() if k in fields}
        kwargs["vocab_size"] = vocab_size
        kwargs["target_vocab_size"] = 0 if target_vocab_size == vocab_size else target_vocab_size
        return cls(**kwargs)

    @property
    def decoder_layers(self) -> int:
        return self.num_decoder_layers or self.num_layers

    @property
    def target_vocab(self) -> int:
        return self.target_vocab_size or self.vocab_size

    @property
    def tied_output(self) -> bool:
        return self.output_projection == "tied" or (self.output_projection == "auto" and self.share_embeddings)

    @property
    def compute_dtype(self):
        return jnp.dtype(self.dtype)
