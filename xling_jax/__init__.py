"""xling_jax: cross-lingual Transformer encoder-decoder models in JAX/Flax.

Packages form layers; a module imports only from its own layer or those before it (tests/test_layers.py
checks it, function-level imports included):

    errors, log                 one-line user errors; diagnostics through logging
    configs                     the default config and config files
    model                       flax modules: Transformer, LSTM, classifier
    data                        corpora, tokenizers, mixtures, the input pipeline of pairs
    decoding                    beam search, sampling, translation and scoring of text
    objectives                  the tasks that turn pairs into training examples (MLM, T5, online BT, ...)
    evaluation                  BLEU/chrF++, significance, attention inspection
    training                    steps, the loop, checkpoints, meshes, loading a trained run
    sweeps, classification, retrieval  runs of runs (`xling sweep`, `xling compare`); the classification task;
                                the contrastive retrieval task, retrieval and mining evaluations
    interop                     Marian, Hugging Face and CTranslate2 import/export
    bench                       benchmarks
    cli                         the `xling` command (imports each command lazily, for start-up time)
"""

__version__ = "0.1.0"
