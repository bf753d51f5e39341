"""Cross-lingual retrieval and bitext mining over unit sentence vectors, with cosine and margin scores.

k-NN search goes through faiss: an exact inner-product index (`IndexFlatIP`) up to `EXACT_MAX` keys, an
HNSW graph above (approximate; `index=` forces either). Vectors are unit length, so inner products are
cosines.

Ratio margin (Artetxe & Schwenk 2019): a candidate pair's cosine divided by the mean cosine of each
side's k nearest neighbours on the other side,

    margin(x, y) = cos(x, y) / (mean_{z in NN_k(x)} cos(x, z) / 2 + mean_{z in NN_k(y)} cos(y, z) / 2),

which discounts "hubs" (vectors close to everything). Each query's candidates are its `candidates`
nearest keys by cosine, rescored by margin (Artetxe & Schwenk's forward candidates).
"""
import faiss
import numpy as np

EXACT_MAX = 100_000  # keys searched exhaustively; above, an HNSW graph (search time grows ~log n)
INDEXES = ("auto", "flat", "hnsw")
HNSW_LINKS = 32  # graph degree (faiss's M)
HNSW_EF_SEARCH = 128  # candidates kept while searching: recall over speed


def index_kind(n_keys: int, index: str = "auto") -> str:
    if index not in INDEXES:
        raise ValueError(f"index must be one of {INDEXES}, got {index!r}")
    return ("flat" if n_keys <= EXACT_MAX else "hnsw") if index == "auto" else index


def knn(queries_NxD: np.ndarray, keys_MxD: np.ndarray, k: int, index: str = "auto"
        ) -> tuple[np.ndarray, np.ndarray]:
    """(cosines NxK, key ids NxK) of each query's k nearest keys, nearest first (K = min(k, M))."""
    keys_MxD = np.ascontiguousarray(keys_MxD, np.float32)
    d = keys_MxD.shape[1]
    if index_kind(len(keys_MxD), index) == "flat":
        idx = faiss.IndexFlatIP(d)
    else:
        idx = faiss.IndexHNSWFlat(d, HNSW_LINKS, faiss.METRIC_INNER_PRODUCT)
        idx.hnsw.efSearch = max(HNSW_EF_SEARCH, k)
    idx.add(keys_MxD)
    sims_NxK, ids_NxK = idx.search(np.ascontiguousarray(queries_NxD, np.float32), min(k, len(keys_MxD)))
    return sims_NxK, ids_NxK


def neighbourhood(queries_NxD: np.ndarray, keys_MxD: np.ndarray, k: int, index: str = "auto") -> np.ndarray:
    """Mean cosine of each query's k nearest keys: the margin's denominator term (N,)."""
    return knn(queries_NxD, keys_MxD, k, index)[0].mean(axis=1)


def margin(cos: np.ndarray, mean_x: np.ndarray, mean_y: np.ndarray) -> np.ndarray:
    """Ratio margin of cosines `cos` given the neighbourhood means of their x and y (broadcast)."""
    return cos / ((mean_x + mean_y) / 2)


def retrieve(src_NxD: np.ndarray, tgt_MxD: np.ndarray, k: int = 4, candidates: int = 16, index: str = "auto"
             ) -> dict[str, np.ndarray]:
    """For each source, the id of its best target: {"cosine": (N,), "margin": (N,)}."""
    cos_NxC, ids_NxC = knn(src_NxD, tgt_MxD, max(candidates, 1), index)
    mean_x = neighbourhood(src_NxD, tgt_MxD, k, index)
    mean_y = neighbourhood(tgt_MxD, src_NxD, k, index)
    scores_NxC = margin(cos_NxC, mean_x[:, None], mean_y[ids_NxC])
    best = np.argmax(scores_NxC, axis=1)
    return {"cosine": ids_NxC[:, 0], "margin": ids_NxC[np.arange(len(ids_NxC)), best]}


def precision_at_1(predicted: np.ndarray, gold: np.ndarray) -> float:
    return float(np.mean(predicted == gold)) if len(gold) else 0.0


def mine(src_NxD: np.ndarray, tgt_MxD: np.ndarray, k: int = 4, candidates: int = 16, threshold: float = 0.0,
         index: str = "auto") -> list[tuple[float, int, int]]:
    """Bitext mining: [(margin, source id, target id)], best first, each source and target used once.

    Candidates are every source's best target and every target's best source by margin (both
    directions, as for BUCC); taken in margin order, a pair is kept if neither side is taken yet and
    its margin is at least `threshold`."""
    mean_x = neighbourhood(src_NxD, tgt_MxD, k, index)
    mean_y = neighbourhood(tgt_MxD, src_NxD, k, index)
    found = {}
    for queries, keys, mq, mk, forward in ((src_NxD, tgt_MxD, mean_x, mean_y, True),
                                           (tgt_MxD, src_NxD, mean_y, mean_x, False)):
        cos_NxC, ids_NxC = knn(queries, keys, max(candidates, 1), index)
        scores_NxC = margin(cos_NxC, mq[:, None], mk[ids_NxC])
        best = np.argmax(scores_NxC, axis=1)
        for q, c in enumerate(best):
            pair = (q, int(ids_NxC[q, c])) if forward else (int(ids_NxC[q, c]), q)
            found[pair] = float(scores_NxC[q, c])
    used_src, used_tgt, out = set(), set(), []
    for (i, j), score in sorted(found.items(), key=lambda kv: (-kv[1], kv[0])):
        if score < threshold:
            break
        if i not in used_src and j not in used_tgt:
            used_src.add(i)
            used_tgt.add(j)
            out.append((score, i, j))
    return out


def prf(mined: list[tuple[float, int, int]], gold: set[tuple[int, int]]) -> dict:
    """Precision, recall and F1 of mined pairs against the gold pairs; `best` the same at the threshold
    that maximises F1 (an oracle threshold, as BUCC results tuned on their train split are)."""
    def at(pairs):
        right = sum((i, j) in gold for _, i, j in pairs)
        p = right / len(pairs) if pairs else 0.0
        r = right / len(gold) if gold else 0.0
        return {"precision": p, "recall": r, "f1": 2 * p * r / (p + r) if p + r else 0.0, "pairs": len(pairs)}
    out = at(mined)
    best, right = dict(at([]), threshold=None), 0
    for n, (score, i, j) in enumerate(mined, 1):  # mined is best first: each prefix is a threshold
        right += (i, j) in gold
        p, r = right / n, right / len(gold) if gold else 0.0
        f1 = 2 * p * r / (p + r) if p + r else 0.0
        if f1 > best["f1"]:
            best = {"precision": p, "recall": r, "f1": f1, "pairs": n, "threshold": score}
    out["best"] = best
    return out
