"""xling_jax: cross-lingual Transformer encoder-decoders in JAX/Flax."""
import setuptools

# safetensors is a core requirement (below), so the extra does not list it again.
INTEROP = ["torch==2.13.0", "transformers>=5", "ctranslate2>=4.5"]

setuptools.setup(
    name="xling_jax",
    version="0.1.0",
    description="JAX/Flax research code for cross-lingual encoder-decoder models.",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.11",
    packages=setuptools.find_packages(include=["xling_jax", "xling_jax.*"]),
    install_requires=[
        "jax>=0.7",
        "flax>=0.11",
        "optax>=0.2.4",
        "orbax-checkpoint>=0.11",
        "grain>=0.2.12",
        # tensorflow-datasets 4.9.x reads array_record without TensorFlow but
        # forgets to declare importlib_resources.
        "tensorflow-datasets>=4.9.7",
        "importlib_resources",
        "array_record>=0.7",
        "sentencepiece>=0.2",
        "sacrebleu>=2.4",
        "ml_collections>=1.0",
        "tensorboardX>=2.6",
        "rich>=13",
        # Plots on the Agg canvas (no display): xling compare's curves, xling attention's heat maps.
        "matplotlib>=3.8",
        # xling compare's Markdown/HTML tables.
        "tabulate>=0.9",
        "numpy",
        # Writing Hugging Face weights (xling export), numpy only; reading needs no library (interop/hf_checkpoint.py).
        "safetensors>=0.4",
        # Pretrained models (xling import hf): their tokenizer.json (NLLB, mBART), the Hub download where the
        # internet is reachable, and ISO 639 codes mapped to the model's language codes (en -> eng_Latn).
        "tokenizers>=0.20",
        "huggingface_hub>=0.24",
        "iso639-lang>=2.6",
        # k-nearest-neighbour search for xling retrieve / mine and the retrieval task's evaluation.
        "faiss-cpu>=1.8",
    ],
    extras_require={
        # Checking Marian interop against the reference (Transformers, PyTorch on CPU) and CTranslate2;
        # reading pytorch_model.bin. Never imported by training code.
        "interop": INTEROP,
        # nbclient, nbformat, ipykernel: tests/test_notebooks.py runs colab/*.ipynb top to bottom.
        # pytest-xdist: the suite runs on every core (pytest.ini). ruff: the linter of the test command.
        "dev": ["ruff>=0.6", "pytest>=8", "pytest-timeout", "pytest-xdist>=3.5", "hypothesis>=6", "nbclient>=0.10", "nbformat>=5.10",
                "ipykernel>=6.29"] + INTEROP,
    },
    entry_points={"console_scripts": ["xling = xling_jax.cli.main:main"]},
)
