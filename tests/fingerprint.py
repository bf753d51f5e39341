"""The losses of the first 50 steps of the default translation config and of the classification
experiment: what a refactoring of the training code must leave bit-identical (tests/test_fingerprint.py).

    .venv/bin/python tests/fingerprint.py      # writes tests/fingerprints/losses.json on this machine

Only what the losses cannot depend on changes: 50 steps, a row per step in metrics.jsonl, dev scoring
cut to a few texts (classification) or left to the dev loss (translation), no checkpoint before the end.
"""
import hashlib
import json
import os
import sys
import tempfile

import jax

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FILE = os.path.join(ROOT, "tests", "fingerprints", "losses.json")
STEPS = 50


def machine() -> str:
    """CPU model, a hash of its feature flags, and jax's version: the same floats only where all agree."""
    model, flags = "unknown", ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() == "model name":
                    model = value.strip()
                elif key.strip() == "flags":
                    flags = value.strip()
    except OSError:
        pass
    return f"{model} flags:{hashlib.sha1(flags.encode()).hexdigest()[:10]} jax {jax.__version__}"


def _short(config):
    config.train.steps = STEPS
    config.log_every, config.eval_every, config.checkpoint_every = 1, STEPS, STEPS
    return config


def _losses(workdir: str) -> list[float]:
    from xling_jax.training import metrics
    rows = {r["step"]: r["loss"] for r in metrics.read(workdir) if r["kind"] == "train"}
    return [rows[s] for s in range(1, STEPS + 1)]


def translation_losses(workdir: str) -> list[float]:
    from xling_jax.configs.default import get_config
    from xling_jax.training.train import train_and_evaluate
    config = _short(get_config())
    config.eval_bleu = False
    train_and_evaluate(config, workdir)
    return _losses(workdir)


def classification_losses(workdir: str) -> list[float]:
    from xling_jax.classification.train import classify_and_evaluate
    from xling_jax.configs.loading import load_config_file
    config = _short(load_config_file(os.path.join(ROOT, "experiments", "libreoffice_classify.py")))
    config.classify.eval_limit = 20
    classify_and_evaluate(config, workdir)
    return _losses(workdir)


RUNS = {"translation (configs/default.py)": translation_losses,
        "classification (experiments/libreoffice_classify.py)": classification_losses}


if __name__ == "__main__":
    out = {"machine": machine(), "losses": {}}
    for name, fn in RUNS.items():
        with tempfile.TemporaryDirectory() as workdir:
            out["losses"][name] = [float(x).hex() for x in fn(workdir)]
    os.makedirs(os.path.dirname(FILE), exist_ok=True)
    with open(FILE, "w", encoding="utf-8") as f:
        json.dump(out, f, indent=1)
    print(f"wrote {FILE}", file=sys.stderr)
