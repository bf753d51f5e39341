"""Retrieval and mining evaluations of a sentence encoder on a dataset split.

`aligned_p1`: Tatoeba-style accuracy: a direction's aligned pairs of the split, each side's sentences
searched among all the other side's; a hit is the gold sentence or an identical copy of its text
(help pages repeat paragraphs). `bucc`: BUCC-style mining: the split's sentences of one language
hidden among every other split's sentences of the other (distractors), precision / recall / F1 of
the mined pairs against the gold alignment.
"""
import numpy as np

from xling_jax.data import catalog
from xling_jax.evaluation import retrieval

BUCC_SEED = 0  # the distractors' shuffle


def pairs(dataset: str, split: str, src: str, tgt: str, data_dir: str | None, limit: int = 0
          ) -> tuple[list[str], list[str]]:
    """The (source texts, target texts) of the split's usable pairs in src-tgt, at most `limit` (a
    seeded subset, in record order; 0: all)."""
    ds = catalog.open_dataset(dataset, data_dir)
    idx = ds.pair_index(split, src, tgt)
    if limit and len(idx) > limit:
        idx = np.sort(np.random.default_rng(0).choice(idx, limit, replace=False))
    records = list(ds.source(split).read_many(idx))
    return [r[src] for r in records], [r[tgt] for r in records]


def _hits(predicted: np.ndarray, texts: list[str]) -> float:
    """Share of rows i whose predicted text equals text i."""
    return float(np.mean([texts[p] == texts[i] for i, p in enumerate(predicted)])) if texts else 0.0


def aligned_p1(encoder, dataset: str, split: str, directions, data_dir: str | None, limit: int = 0, k: int = 4,
               candidates: int = 16, index: str = "auto", progress=None) -> dict:
    """{"SRC-TGT": {"n", "index", "cosine": {"forward", "backward", "mean"}, "margin": {...}}}: P@1 of
    SRC sentences retrieving their TGT translation (forward) and back."""
    out, cache = {}, {}  # (lang, text) -> vector: a language's sentences are embedded once for all pairs

    def vectors(texts, lang):
        new = [t for t in dict.fromkeys(texts) if (lang, t) not in cache]
        if new:
            cache.update(zip(((lang, t) for t in new), encoder(new, lang, progress)))
        return np.stack([cache[lang, t] for t in texts]) if texts else np.zeros((0, 1), np.float32)

    for src, tgt in directions:
        x_texts, y_texts = pairs(dataset, split, src, tgt, data_dir, limit)
        x, y = vectors(x_texts, src), vectors(y_texts, tgt)
        fwd = retrieval.retrieve(x, y, k, candidates, index)
        bwd = retrieval.retrieve(y, x, k, candidates, index)
        row = {"n": len(x_texts), "index": retrieval.index_kind(len(x_texts), index)}
        for s in ("cosine", "margin"):
            f, b = _hits(fwd[s], y_texts), _hits(bwd[s], x_texts)
            row[s] = {"forward": f, "backward": b, "mean": (f + b) / 2}
        out[f"{src}-{tgt}"] = row
    return out


def bucc_task(dataset: str, src: str, tgt: str, data_dir: str | None, split: str = "test"
              ) -> tuple[list[str], list[str], set[tuple[int, int]]]:
    """(source texts, target texts, gold (source id, target id) pairs): the split's src sentences with
    a tgt translation, and every tgt sentence of the dataset (the split's translations among the
    other splits' sentences, shuffled; distractors with the text of a gold target are left out)."""
    x_texts, gold_texts = pairs(dataset, split, src, tgt, data_dir)
    ds = catalog.open_dataset(dataset, data_dir)
    seen = set(gold_texts)
    distractors = []
    for other in sorted(ds.splits):
        if ds.split_name(split) == other:
            continue
        for record in ds.source(other).read_many(range(ds.splits[other])):
            text = record.get(tgt, "")
            if text.strip() and text not in seen:
                seen.add(text)
                distractors.append(text)
    y_texts = gold_texts + distractors
    order = np.random.default_rng(BUCC_SEED).permutation(len(y_texts))
    position = np.argsort(order)  # where target i went
    gold = {(i, int(position[i])) for i in range(len(x_texts))}
    return x_texts, [y_texts[j] for j in order], gold
