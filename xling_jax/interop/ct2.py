"""Converting an exported Hugging Face folder to CTranslate2, with the output scaling T5 models need.

CTranslate2's T5 loader (4.x; mT5 and umT5 inherit it) scales the decoder's output by d_model^-0.5
when `config.tie_word_embeddings` is true. Transformers v5 sets that attribute to True for every
T5-family config and keeps whether to scale in `scale_decoder_outputs` instead, so a T5 v1.1, mT5 or
umT5 export (untied, unscaled) would be converted with scaled logits: greedy output survives a
positive scale, beam search and scores do not. During the conversion the loader is shown
`scale_decoder_outputs` where the config has one. Needs ctranslate2 (the `interop` extra).
"""
import contextlib


@contextlib.contextmanager
def _t5_scaling_from_config():
    from ctranslate2.converters import transformers as loaders
    loader = getattr(loaders, "T5Loader", None)
    if loader is None:
        yield
        return
    original = loader.get_model_spec

    def get_model_spec(self, model):
        config = model.config
        scaled = getattr(config, "scale_decoder_outputs", None)
        if scaled is None:  # Transformers v4: tie_word_embeddings says both things
            return original(self, model)
        tied = config.tie_word_embeddings
        config.tie_word_embeddings = bool(scaled)
        try:
            return original(self, model)
        finally:
            config.tie_word_embeddings = tied

    loader.get_model_spec = get_model_spec
    try:
        yield
    finally:
        loader.get_model_spec = original


def convert(hf_dir: str, out_dir: str) -> str:
    """Converts the Hugging Face folder `hf_dir` into the CTranslate2 model folder `out_dir`."""
    from ctranslate2.converters import TransformersConverter
    with _t5_scaling_from_config():
        return TransformersConverter(hf_dir).convert(out_dir, force=True)
