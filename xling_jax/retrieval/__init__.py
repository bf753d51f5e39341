"""Cross-lingual search: sentence encoders loaded from any run, retrieval and mining evaluations on
datasets, and the contrastive dual-encoder task (`config.tasks = ("retrieval:1",)`)."""
