"""Accuracy per language on a classification split, and the results table.

For each language: accuracy over the split's records that have text in it (`n` differs between
languages: zh lacks most Base pages), and `parallel_accuracy` over the records that have text in
every evaluated language, where the same paragraphs are scored in each language, so differences
come from the language alone.
"""
import collections

import numpy as np

from xling_jax.classification import batches, data

RESULTS_FILE = "classify_results.json"


def predict(predict_fn, rows, batch_size: int, pad_id: int, max_len: int) -> np.ndarray:
    """Predicted labels of encoded rows, in their order. `predict_fn(tokens_BxS) -> labels_B`."""
    out = np.zeros(len(rows), np.int64)
    for idx, tokens_BxS in batches.eval_batches(rows, batch_size, pad_id, max_len):
        out[idx] = np.asarray(predict_fn(tokens_BxS))[:len(idx)]
    return out


def per_language(predict_records, records, languages) -> dict:
    """{lang: {accuracy, n, parallel_accuracy, parallel_n}}; `predict_records(records, lang)` gives
    the predicted labels of the records' texts in `lang` (all of them have text in it)."""
    both = {id(r) for r in data.parallel(records, languages)}
    out = {}
    for lang in languages:
        have = [r for r in records if r[lang].strip()]
        labels = np.array([data.MODULES.index(r["module"]) for r in have], np.int64)
        right = predict_records(have, lang) == labels if have else np.zeros(0, bool)
        in_both = np.array([id(r) in both for r in have], bool)
        out[lang] = {"accuracy": float(right.mean()) if len(right) else 0.0, "n": len(have),
                     "parallel_accuracy": float(right[in_both].mean()) if in_both.any() else 0.0,
                     "parallel_n": int(in_both.sum())}
    return out


def majority(train_records, records, languages=()) -> dict:
    """The chance line: cls-train's most frequent module, its share of `records` and, per language,
    of the records with text in that language."""
    label = collections.Counter(r["module"] for r in train_records).most_common(1)[0][0]

    def share(rs):
        return float(np.mean([r["module"] == label for r in rs])) if rs else 0.0
    return {"label": label, "accuracy": share(records),
            "languages": {lang: share([r for r in records if r[lang].strip()]) for lang in languages}}


def format_table(results: dict) -> str:
    """Language, accuracy, the majority class's share, n, accuracy on the parallel subset; zero-shot
    languages marked."""
    train = set(results["train_languages"])
    parallel_n = max((r["parallel_n"] for r in results["languages"].values()), default=0)
    lines = [f"{results['split']} accuracy (step {results['step']}; majority class "
             f"{results['majority']['label']}: {results['majority']['accuracy']:.3f})",
             f"{'language':<16}{'accuracy':>9}{'majority':>9}{'n':>7}   parallel (n={parallel_n})"]
    chance = results["majority"].get("languages", {})
    for lang, r in results["languages"].items():
        name = lang if lang in train else f"{lang} (zero-shot)"
        lines.append(f"{name:<16}{r['accuracy']:>9.3f}{chance.get(lang, 0.0):>9.3f}{r['n']:>7}   "
                     f"{r['parallel_accuracy']:.3f}")
    return "\n".join(lines)
