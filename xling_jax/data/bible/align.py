"""Verse realignment of a Strong's-tagged translation onto KJV verse numbering.

The SWORD module of the Reina-Valera 1909 claims KJV versification, but some
chapters keep the Spanish (Vulgate-like) numbering: verses are shifted by one
or more positions, the slots left over are empty and the verses that did not
fit are crammed into a chapter's last verse.  Both the KJV and the RV1909
modules tag words with Strong's numbers; a verse and its translation share
most of them, while neighbouring verses share almost none.  This module uses
that signal, without any table of known offsets:

1. *detection*: a verse is *displaced* when a nearby verse of the other text
   (up to ``window`` verses away, across chapter boundaries) matches it
   clearly better than the verse with the same reference, or when the
   translation has nothing under its reference;
2. every chapter with a displaced verse, plus its neighbour chapters, forms a
   region; in each region a monotone dynamic-programming alignment maximises
   Strong's overlap with moves 1:1, 1:0, 0:1, n:1 (several KJV verses crammed
   into one verse), 1:2 and 1:3;
3. a verse holding several KJV verses is split at punctuation between its
   clauses (another small DP over clauses); pieces that do not match their
   KJV verse well enough are dropped rather than emitted misaligned;
4. (:func:`refine_boundaries`) where a translation ends a verse a clause
   earlier or later than KJV, the clauses are moved across the boundary.

Everything here is pure: it takes dicts of raw OSIS markup keyed by
``(book, chapter, verse)`` and returns plain data.
"""
from __future__ import annotations

import collections
import dataclasses
import functools
import itertools
import math
import re
from typing import Dict, Iterable, List, Mapping, Optional, Sequence, Set, Tuple

import numpy as np
from scipy import sparse

Ref = Tuple[str, int, int]          # (book, chapter, verse)
Piece = Tuple[Ref, int, int]        # units [lo, hi) of the verse ``ref``

__all__ = [
    'strongs', 'split_units', 'StrongsScorer', 'displaced_verses', 'suspect_regions',
    'align_sequences', 'split_among', 'Alignment', 'realign', 'strip_title_units', 'pairwise_swaps',
    'refine_boundaries',
]

_STRONGS = re.compile(r'strong:([HG])0*(\d+)([a-z]?)')
_TAG_OR_TEXT = re.compile(r'<[^>]*>|[^<]+')
_PUNCT = re.compile(r'[.;:?!,](?=\s|$)')


@functools.lru_cache(maxsize=1 << 18)
def strongs(raw: str) -> frozenset:
    """Strong's numbers tagged in a piece of OSIS markup ('H430', 'G2316', ...)."""
    return frozenset(p + n + s for p, n, s in _STRONGS.findall(raw))


def split_units(raw: str) -> List[Tuple[str, bool]]:
    """Split verse markup into clauses at punctuation followed by whitespace.

    Returns ``(fragment, strong)`` pairs whose fragments concatenate back to
    ``raw``; ``strong`` says the clause ends with ``. ; : ? !`` rather than a
    comma (or is the last one).  Cuts are placed after the punctuation and any
    end tags that follow it, so fragments stay (nearly) well formed.
    """
    toks = _TAG_OR_TEXT.findall(raw)
    cuts: List[Tuple[int, bool]] = []
    pos = 0
    for ti, tok in enumerate(toks):
        if not tok.startswith('<'):
            for m in _PUNCT.finditer(tok):
                end = m.end()
                if end == len(tok):
                    # punctuation ends the text node: the next text must start with a space
                    j, p = ti + 1, pos + end
                    while j < len(toks) and toks[j].startswith('</'):
                        p += len(toks[j])
                        j += 1
                    while j < len(toks) and toks[j].startswith('<'):
                        j += 1
                    if j >= len(toks) or not toks[j][:1].isspace():
                        continue
                    cut = p
                else:
                    cut = pos + end
                cuts.append((cut, m.group() != ','))
        pos += len(tok)
    units: List[Tuple[str, bool]] = []
    start = 0
    for cut, strong in cuts:
        if cut > start and raw[start:cut].strip() and raw[cut:].strip():
            # a clause without Strong's numbers cannot be placed: keep it with the next one
            if strongs(raw[start:cut]) or not units:
                units.append((raw[start:cut], strong))
                start = cut
    units.append((raw[start:], True))
    return units


class StrongsScorer:
    """IDF-weighted Dice similarity of Strong's-number sets."""

    def __init__(self, documents: Iterable[frozenset]):
        df: collections.Counter = collections.Counter()
        n = 0
        for doc in documents:
            df.update(doc)
            n += 1
        self._idf = {s: math.log((n + 1) / (c + 0.5)) for s, c in df.items()}
        self._default = math.log(n + 1) if n else 1.0
        self._cache: Dict[frozenset, float] = {}

    def weight(self, items: Iterable[str]) -> float:
        return sum(map(self._idf.get, items, itertools.repeat(self._default)))

    def _set_weight(self, a: frozenset) -> float:
        w = self._cache.get(a)
        if w is None:
            w = self._cache[a] = self.weight(a)
        return w

    def diagonal_sims(self, a: Sequence[frozenset], b: Sequence[frozenset],
                      offsets: Iterable[int]) -> Dict[int, np.ndarray]:
        """``{d: sims}`` with ``sims[i] = sim(a[i], b[i + d])`` (0 where ``i + d`` is out of range).

        Vectorised with sparse matrices: the same numbers as :meth:`sim`, fast.
        """
        n = len(a)
        vocab: Dict[str, int] = {}

        def matrix(sets):
            rows, cols = [], []
            for i, st in enumerate(sets):
                for x in st:
                    rows.append(i)
                    cols.append(vocab.setdefault(x, len(vocab)))
            return rows, cols
        ra, ca = matrix(a)
        rb, cb = matrix(b)
        v = max(len(vocab), 1)
        ma = sparse.csr_matrix((np.ones(len(ra)), (ra, ca)), shape=(n, v))
        mb = sparse.csr_matrix((np.ones(len(rb)), (rb, cb)), shape=(len(b), v))
        idf = np.zeros(v)
        for x, k in vocab.items():
            idf[k] = self._idf.get(x, self._default)
        wa, wb = ma @ idf, mb @ idf
        out: Dict[int, np.ndarray] = {}
        for d in offsets:
            sims = np.zeros(n)
            lo, hi = max(0, -d), min(n, len(b) - d)
            if hi > lo:
                common = np.asarray(ma[lo:hi].multiply(mb[lo + d:hi + d]) @ idf).ravel()
                total = wa[lo:hi] + wb[lo + d:hi + d]
                with np.errstate(divide='ignore', invalid='ignore'):
                    sims[lo:hi] = np.where((common > 0) & (total > 0), 2.0 * common / total, 0.0)
            out[d] = sims
        return out

    def sim(self, a: Set[str], b: Set[str]) -> float:
        if not a or not b:
            return 0.0
        common = a & b
        if not common:
            return 0.0
        a, b = frozenset(a), frozenset(b)
        total = self._set_weight(a) + self._set_weight(b)
        return 2.0 * self.weight(common) / total if total else 0.0


def displaced_verses(kjv: Sequence[frozenset], spa: Sequence[frozenset], scorer: StrongsScorer,
                     window: int = 6, margin: float = 0.2, floor: float = 0.5) -> List[int]:
    """Indices ``i`` where ``spa[i+d]`` (0 < |d| <= window) fits ``kjv[i]`` much better than ``spa[i]``."""
    n = len(kjv)
    if n == 0:
        return []
    sims = scorer.diagonal_sims(kjv, spa, range(-window, window + 1))
    same = sims.pop(0)
    best = np.max(np.stack(list(sims.values())), axis=0) if sims else np.zeros(n)
    return [int(i) for i in np.nonzero((best >= floor) & (best > same + margin))[0]]


def suspect_regions(refs: Sequence[Ref], displaced: Iterable[int], context: int = 1) -> List[Tuple[int, int]]:
    """Index ranges [lo, hi) covering the chapters with displaced verses +- ``context`` chapters."""
    chapters: List[Tuple[str, int]] = []
    first: Dict[Tuple[str, int], int] = {}
    for i, r in enumerate(refs):
        c = (r[0], r[1])
        if c not in first:
            first[c] = i
            chapters.append(c)
    pos = {c: k for k, c in enumerate(chapters)}
    marked: Set[int] = set()
    for i in displaced:
        k = pos[(refs[i][0], refs[i][1])]
        for kk in range(k - context, k + context + 1):
            if 0 <= kk < len(chapters) and chapters[kk][0] == chapters[k][0]:
                marked.add(kk)
    regions: List[Tuple[int, int]] = []
    for k in sorted(marked):
        lo = first[chapters[k]]
        hi = first[chapters[k + 1]] if k + 1 < len(chapters) else len(refs)
        if regions and regions[-1][1] == lo and refs[lo][0] == refs[regions[-1][0]][0]:
            regions[-1] = (regions[-1][0], hi)
        else:
            regions.append((lo, hi))
    return regions


@dataclasses.dataclass(frozen=True)
class Block:
    """KJV verses [k_lo, k_hi) aligned with translated verses [s_lo, s_hi)."""
    k_lo: int
    k_hi: int
    s_lo: int
    s_hi: int
    score: float


def align_sequences(kjv: Sequence[frozenset], spa: Sequence[frozenset], scorer: StrongsScorer,
                    band: int = 10, max_cram: int = 12, tau: float = 0.3) -> List[Block]:
    """Monotone alignment of two verse sequences maximising Strong's overlap.

    Moves: 1:1, 1:0, 0:1, n:1 (n KJV verses in one translated verse, n <=
    ``max_cram``), 1:2 and 1:3.  Each block gains ``sim - tau``; a 1:1 block
    on the diagonal (same position) never gains less than a small positive
    amount, so verses without Strong's evidence keep their reference alignment.
    Both sequences are anchored at their ends (the caller aligns regions whose
    boundaries are known to be in step).
    """
    n, m = len(kjv), len(spa)
    neg = -1e18
    best: Dict[Tuple[int, int], float] = {(0, 0): 0.0}
    back: Dict[Tuple[int, int], Tuple[int, int]] = {}
    union_cache: Dict[Tuple[int, int], frozenset] = {}

    def kjv_union(lo: int, hi: int) -> frozenset:
        key = (lo, hi)
        u = union_cache.get(key)
        if u is None:
            u = frozenset().union(*kjv[lo:hi])
            union_cache[key] = u
        return u

    moves = [(1, 0), (0, 1), (1, 1)] + [(k, 1) for k in range(2, max_cram + 1)] + [(1, 2), (1, 3)]
    for i in range(n + 1):
        for j in range(max(0, i - band - max_cram), min(m, i + band + max_cram) + 1):
            cur = best.get((i, j))
            if cur is None or cur <= neg:
                continue
            for di, dj in moves:
                ni, nj = i + di, j + dj
                if ni > n or nj > m or abs(ni - nj) > band:
                    continue
                if di and dj:
                    if dj == 1:
                        s = scorer.sim(kjv_union(i, ni), spa[j])
                    else:
                        s = scorer.sim(kjv[i], frozenset().union(*spa[j:nj]))
                    gain = s - tau
                    if di == 1 and dj == 1 and i == j:
                        gain = max(gain, 0.01)
                else:
                    gain = 0.0
                val = cur + gain
                if val > best.get((ni, nj), neg) + 1e-12:
                    best[(ni, nj)] = val
                    back[(ni, nj)] = (i, j)
    if (n, m) not in best:
        raise ValueError('alignment band too narrow')
    blocks: List[Block] = []
    state = (n, m)
    while state != (0, 0):
        prev = back[state]
        (i, j), (ni, nj) = prev, state
        if ni > i and nj > j:
            blocks.append(Block(i, ni, j, nj, best[state] - best[prev]))
        elif ni > i:
            blocks.append(Block(i, ni, j, j, 0.0))
        else:
            blocks.append(Block(i, i, j, nj, 0.0))
        state = prev
    blocks.reverse()
    return blocks


def split_among(targets: Sequence[frozenset], units: Sequence[frozenset], weak_cut: Sequence[bool],
                scorer: StrongsScorer, weak_penalty: float = 0.05) -> Optional[List[Tuple[int, int, float]]]:
    """Split ``units`` (clauses of one verse) into ``len(targets)`` contiguous non-empty groups.

    Maximises the summed similarity of each group with its target; cutting
    after a clause that ends with a comma (``weak_cut[u]``) costs a little.
    Returns ``[(lo, hi, sim), ...]`` or None when there are too few units.
    """
    t, u = len(targets), len(units)
    if u < t:
        return None
    neg = -1e18
    prefix_union: Dict[Tuple[int, int], frozenset] = {}

    def group(lo: int, hi: int) -> frozenset:
        g = prefix_union.get((lo, hi))
        if g is None:
            g = frozenset().union(*units[lo:hi])
            prefix_union[(lo, hi)] = g
        return g

    # f[k][e]: best score placing targets[:k] over units[:e]
    f = [[neg] * (u + 1) for _ in range(t + 1)]
    arg = [[0] * (u + 1) for _ in range(t + 1)]
    f[0][0] = 0.0
    for k in range(1, t + 1):
        for e in range(k, u - (t - k) + 1):
            for s in range(k - 1, e):
                if f[k - 1][s] <= neg:
                    continue
                v = f[k - 1][s] + scorer.sim(targets[k - 1], group(s, e))
                if e < u and weak_cut[e - 1]:
                    v -= weak_penalty
                if v > f[k][e]:
                    f[k][e] = v
                    arg[k][e] = s
    if f[t][u] <= neg:
        return None
    out: List[Tuple[int, int, float]] = []
    e = u
    for k in range(t, 0, -1):
        s = arg[k][e]
        out.append((s, e, scorer.sim(targets[k - 1], group(s, e))))
        e = s
    out.reverse()
    return out


def strip_title_units(title: frozenset, body: frozenset, units: Sequence[frozenset],
                      scorer: StrongsScorer, min_title_sim: float = 0.3) -> int:
    """Number of leading units of a translated verse that render a heading.

    Used for psalm superscriptions, which KJV marks up as a ``<title>`` inside
    verse 1 while the translation runs them into the verse text.  Returns 0
    when no split fits convincingly.
    """
    if not title or len(units) < 2:
        return 0
    best_k, best_v = 0, scorer.sim(body, frozenset().union(*units))
    for k in range(1, len(units)):
        ts = scorer.sim(title, frozenset().union(*units[:k]))
        if ts < min_title_sim:
            continue
        v = ts + scorer.sim(body, frozenset().union(*units[k:]))
        if v > best_v:
            best_k, best_v = k, v
    return best_k


def _has_text(raw: str) -> bool:
    return bool(re.sub(r'<[^>]*>', '', raw).strip())


def pairwise_swaps(a: Sequence[frozenset], b: Sequence[frozenset], scorer: StrongsScorer,
                   window: int = 3, margin: float = 0.5, floor: float = 0.5) -> Dict[int, int]:
    """Positions whose counterparts are swapped, as ``{i: j, j: i}``.

    ``b[j]`` is taken for ``a[i]`` (and ``b[i]`` for ``a[j]``) when both crossed
    pairs match well (>= ``floor``) and together beat the straight pairs by
    ``margin``: e.g. two verses that a translation orders the other way round.
    """
    out: Dict[int, int] = {}
    n = len(a)
    sims = scorer.diagonal_sims(a, b, range(-window, window + 1))
    straight = sims[0]
    for i in range(n):
        if i in out:
            continue
        for j in range(i + 1, min(n, i + window + 1)):
            d = j - i
            x, y = sims[d][i], sims[-d][j]
            if j not in out and x >= floor and y >= floor and x + y > straight[i] + straight[j] + margin:
                out[i], out[j] = j, i
                break
    return out


@dataclasses.dataclass
class Alignment:
    """Result of :func:`realign`.

    ``pieces[ref]`` lists the translated material for KJV verse ``ref``: pieces
    ``(spa_ref, lo, hi)`` meaning units ``lo:hi`` of ``split_units`` of that
    verse (``lo=0, hi=-1`` meaning the whole verse); an empty list means the
    verse is dropped.  ``units`` holds the unit fragments of verses that were
    split.  ``realigned_chapters`` lists the chapters (book, chapter) whose
    pairs differ from the by-reference alignment, ``changed`` the KJV
    references concerned.
    """
    pieces: Dict[Ref, List[Piece]]
    units: Dict[Ref, List[str]]
    realigned_chapters: List[Tuple[str, int]]
    changed: List[Ref]
    dropped: List[Ref]
    regions: List[Tuple[Ref, Ref]]
    spa_raw: Mapping[Ref, str] = dataclasses.field(repr=False, default_factory=dict)

    def material(self, ref: Ref) -> List[str]:
        """Raw markup fragments of the translation aligned with KJV verse ``ref`` (in order)."""
        return [self.spa_raw.get(s, '') if hi == -1 else ''.join(self.units[s][lo:hi])
                for s, lo, hi in self.pieces[ref]]


def realign(refs: Sequence[Ref], kjv_raw: Mapping[Ref, str], spa_raw: Mapping[Ref, str], *,
            window: int = 6, tau: float = 0.3, min_piece_sim: float = 0.3,
            scorer: Optional[StrongsScorer] = None) -> Alignment:
    """Align translated verses (``spa_raw``) onto KJV references ``refs`` (canonical order).

    ``spa_raw`` is keyed by the references the translation's module uses,
    which are assumed to be the same set as ``refs`` (the module claims KJV
    versification); misnumbered chapters are detected and realigned.
    """
    kjv_sets = [strongs(kjv_raw[r]) for r in refs]
    spa_sets = [strongs(spa_raw.get(r, '')) for r in refs]
    if scorer is None:
        scorer = StrongsScorer(kjv_sets + spa_sets)
    pieces: Dict[Ref, List[Piece]] = {r: [(r, 0, -1)] for r in refs}
    units: Dict[Ref, List[str]] = {}

    # Books are aligned independently (shifts never cross a book boundary).
    book_spans: List[Tuple[int, int]] = []
    for i, r in enumerate(refs):
        if i == 0 or refs[i - 1][0] != r[0]:
            book_spans.append((i, i + 1))
        else:
            book_spans[-1] = (book_spans[-1][0], i + 1)

    all_regions: List[Tuple[int, int]] = []
    for b_lo, b_hi in book_spans:
        disp = displaced_verses(kjv_sets[b_lo:b_hi], spa_sets[b_lo:b_hi], scorer, window)
        # an empty slot in the translation is a symptom too (its verse went elsewhere)
        disp += [i - b_lo for i in range(b_lo, b_hi)
                 if not _has_text(spa_raw.get(refs[i], '')) and _has_text(kjv_raw[refs[i]])]
        all_regions.extend((b_lo + lo, b_lo + hi) for lo, hi in suspect_regions(refs[b_lo:b_hi], disp))

    for lo, hi in all_regions:
        blocks = align_sequences(kjv_sets[lo:hi], spa_sets[lo:hi], scorer, tau=tau)
        for blk in blocks:
            k_idx = list(range(lo + blk.k_lo, lo + blk.k_hi))
            k_refs = [refs[i] for i in k_idx]
            s_refs = [refs[lo + j] for j in range(blk.s_lo, blk.s_hi)]
            if not k_refs:
                continue
            if not s_refs:
                for r in k_refs:
                    pieces[r] = []
                continue
            if len(k_refs) == 1:
                # several translated verses for one KJV verse (empty slots left by
                # the misnumbering are simply skipped)
                pieces[k_refs[0]] = [(s, 0, -1) for s in s_refs if _has_text(spa_raw.get(s, ''))] or []
                continue
            # Several KJV verses in one translated verse: split it by clauses.
            s_ref = s_refs[0]
            frags = split_units(spa_raw.get(s_ref, ''))
            unit_sets = [strongs(f) for f, _ in frags]
            weak = [not strong for _, strong in frags]
            split = split_among([kjv_sets[i] for i in k_idx], unit_sets, weak, scorer)
            if split is None:
                for r in k_refs:
                    pieces[r] = []
                continue
            units[s_ref] = [f for f, _ in frags]
            for r, (u_lo, u_hi, s) in zip(k_refs, split):
                pieces[r] = [(s_ref, u_lo, u_hi)] if s >= min_piece_sim else []

    changed = [r for r in refs if pieces[r] != [(r, 0, -1)]]
    dropped = [r for r in changed if not pieces[r]]
    chapters: List[Tuple[str, int]] = []
    for r in changed:
        if not chapters or chapters[-1] != (r[0], r[1]):
            chapters.append((r[0], r[1]))
    return Alignment(pieces=pieces, units=units, realigned_chapters=chapters, changed=changed,
                     dropped=dropped, regions=[(refs[lo], refs[hi - 1]) for lo, hi in all_regions],
                     spa_raw=spa_raw)


def refine_boundaries(refs: Sequence[Ref], kjv_sets: Mapping[Ref, frozenset],
                      material: Dict[Ref, List[str]], scorer: StrongsScorer, *,
                      margin: float = 0.17, min_evidence: float = 1.5, max_shift: int = 8,
                      prefilter: float = 0.8) -> List[Tuple[Ref, int]]:
    """Move clauses across the boundary between consecutive verses where that fits much better.

    Translations sometimes end a verse a clause earlier or later than KJV
    (e.g. RV1909 1 Kings 18:33-34, 2 Samuel 2:31-32).  For each pair of
    consecutive verses of a chapter whose Strong's match is not already good
    (< ``prefilter``), the clauses of both translated verses are pooled and
    the cut that maximises the two verses' summed similarity is taken when it
    beats the current cut by ``margin`` and the moved clauses carry Strong's
    numbers of the receiving KJV verse absent from the giving one (IDF weight
    >= ``min_evidence`` more than the reverse).  ``material`` (raw fragments
    per KJV verse, see :meth:`Alignment.material`) is updated in place;
    returns ``[(ref, shift), ...]``: clauses moved from the verse after
    ``ref`` into it (shift > 0) or the other way (shift < 0).
    """
    moved: List[Tuple[Ref, int]] = []

    def units_of(ref: Ref) -> List[str]:
        return [u for frag in material.get(ref, []) for u, _ in split_units(frag) if u.strip()]

    for i in range(len(refs) - 1):
        a, b = refs[i], refs[i + 1]
        if a[:2] != b[:2] or not material.get(a) or not material.get(b):
            continue
        ka, kb = kjv_sets[a], kjv_sets[b]
        sa = frozenset().union(*(strongs(f) for f in material[a]))
        sb = frozenset().union(*(strongs(f) for f in material[b]))
        # Clauses can only move if they carry evidence for the receiving verse.
        if (scorer.weight(sb & (ka - kb)) < min_evidence and scorer.weight(sa & (kb - ka)) < min_evidence):
            continue
        cur_a, cur_b = scorer.sim(ka, sa), scorer.sim(kb, sb)
        if min(cur_a, cur_b) >= prefilter:
            continue
        ua, ub = units_of(a), units_of(b)
        if not ua or not ub:
            continue
        sets = [strongs(u) for u in ua + ub]
        cur = cur_a + cur_b
        b0, best_b, best = len(ua), len(ua), cur
        for cut in range(max(1, b0 - max_shift), min(len(sets) - 1, b0 + max_shift) + 1):
            if cut == b0:
                continue
            v = scorer.sim(ka, frozenset().union(*sets[:cut])) + scorer.sim(kb, frozenset().union(*sets[cut:]))
            if v > best + 1e-9 or (abs(v - best) <= 1e-9 and abs(cut - b0) < abs(best_b - b0)):
                best_b, best = cut, v
        if best_b == b0 or best <= cur + margin:
            continue
        if best_b < b0:   # clauses move from a to b
            moving, receiver, giver = frozenset().union(*sets[best_b:b0]), kb, ka
        else:             # clauses move from b to a
            moving, receiver, giver = frozenset().union(*sets[b0:best_b]), ka, kb
        evidence = scorer.weight(moving & (receiver - giver)) - scorer.weight(moving & (giver - receiver))
        if evidence < min_evidence:
            continue
        pooled = ua + ub
        material[a], material[b] = pooled[:best_b], pooled[best_b:]
        moved.append((a, best_b - b0))
    return moved
