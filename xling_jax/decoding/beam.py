"""Beam search with a key/value cache and the GNMT length penalty (pure, jit-compiled).

Shapes: B batch, K beam, T max target length, V vocabulary, S source length.
A hypothesis of L tokens (EOS included) scores sum(log p) / ((5 + L) / 6) ** alpha (Wu et al.
2016). A hypothesis ends at EOS or at its row's length limit (limit_B, e.g. a * source + b),
and a row stops once no live beam can still beat its K-th finished hypothesis.
The candidates of a step are the 2K best extensions of the live beams.
"""
import jax
import jax.numpy as jnp

from xling_jax.decoding.sampling import banned, decoder_logits, forced_scores, init_cache, start_ids


def length_penalty(length, alpha: float):
    return ((5.0 + length) / 6.0) ** alpha


TOP_K_BLOCK = 128  # vocabulary ids per block in `top_k_by_blocks`


def top_k_by_blocks(x_BxV, n: int, block: int = TOP_K_BLOCK):
    """(values BxN, ids BxN, row max B) of each row's n largest entries: exactly lax.top_k's (ties: lower
    id first), 5x faster on a 250k vocabulary on CPU, where XLA's top_k visits every entry sequentially.

    The n best entries lie in the n blocks of `block` ids with the largest maxima (ties: lower block), so
    only those n * block candidates, in id order, go to top_k: were an entry's block not among them, n
    other blocks would each hold an entry ranked above it. The block maxima give the row's max too."""
    b, v = x_BxV.shape
    blocks = -(-v // block)
    max_BxM = jax.lax.reduce_window(x_BxV, -jnp.inf, jax.lax.max, (1, block), (1, block),
                                    ((0, 0), (0, blocks * block - v)))
    best_BxN = jnp.sort(jax.lax.top_k(max_BxM, min(n, blocks))[1], axis=-1)
    ids_BxC = (best_BxN[:, :, None] * block + jnp.arange(block)).reshape(b, -1)
    # The last block may run past the vocabulary: its missing ids are -inf, never above a real entry.
    cand_BxC = jnp.where(ids_BxC < v, jnp.take_along_axis(x_BxV, jnp.minimum(ids_BxC, v - 1), axis=1), -jnp.inf)
    values_BxN, pick_BxN = jax.lax.top_k(cand_BxC, n)
    return values_BxN, jnp.take_along_axis(ids_BxC, pick_BxN, axis=1), jnp.max(max_BxM, axis=-1)


def top_log_probs(logits_BxV, n: int, i, *, cfg, min_len: int = 0, prefix_P=None):
    """(log-probabilities BxN, token ids BxN): the n best next tokens of each row, with the values and
    ties (lower id first) of `next_token_logits`' full BxV log-probabilities, which are never written
    out: log_softmax shifts a row by one constant, so its best tokens are the logits' best. The
    row's max and log-sum-exp are computed as jax.nn.log_softmax computes them, so the values are
    the same floats. Banned tokens (pad; EOS before min_len) are dropped from the n + 2 best."""
    p, v = (0 if prefix_P is None else prefix_P.shape[0]), logits_BxV.shape[-1]
    n = min(n, v)  # a vocabulary smaller than 2K: every token is a candidate
    top, ids, x_max = top_k_by_blocks(logits_BxV, min(n + 2, v))
    x_max = jax.lax.stop_gradient(x_max[:, None])
    shifted_lse = jnp.log(jnp.sum(jnp.exp(logits_BxV - x_max), axis=-1, keepdims=True))
    top = jnp.where(banned(ids, i, cfg=cfg, min_len=min_len, prefix_len=p), -jnp.inf, top)
    top, pick = jax.lax.top_k(top, n)
    ids = jnp.take_along_axis(ids, pick, axis=-1)
    logp = (top - x_max) - shifted_lse
    if p:  # forced positions: the prefix's token at 0, then -inf ones in id order, as a full row has them
        f_logp, f_ids = jax.lax.top_k(forced_scores(prefix_P, i, v)[None, :], n)
        logp = jnp.where(i < p, f_logp, logp)
        ids = jnp.where(i < p, f_ids, ids)
    return logp, ids


def _take(x_BxNx_, idx_BxM):
    """x[b, idx[b, m], ...] for every b, m."""
    idx = idx_BxM.reshape(idx_BxM.shape + (1,) * (x_BxNx_.ndim - 2))
    return jnp.take_along_axis(x_BxNx_, idx, axis=1)


def beam_search(params, src_BxS, limit_B=None, prefix_P=None, start=None, *, model, beam_size: int, max_len: int,
                alpha: float = 0.6, min_len: int = 0):
    """Returns (tokens BxKxT, scores BxK): the K best finished hypotheses per row, best first.

    Tokens after EOS (or after a row's limit) are the pad id. Scores include the length penalty,
    whose length L counts the tokens after the forced `prefix_P` (see `next_token_logits`, whose
    log-probabilities and rules `top_log_probs` gives for each row's best tokens).
    """
    c, (b, _), k = model.cfg, src_BxS.shape, beam_size
    p = 0 if prefix_P is None else prefix_P.shape[0]
    first_BK = start_ids(model, b * k, start)
    limit_B = jnp.full((b,), max_len) if limit_B is None else jnp.minimum(limit_B, max_len)
    # The encoder runs once per source; the decoder's rows are its K beams (row-major: b*K + k), which
    # share the source's encoder states and cross-attention keys (see the models' `decode`).
    encoded = model.apply({"params": params}, src_BxS, method=model.encode)

    def reorder_cache(cache, beams_BxK):
        rows_BK = (jnp.arange(b)[:, None] * k + beams_BxK).reshape(-1)

        def reorder(path, x):
            # Decoder state (self-attention keys/values, recurrent states) follows its beam; the
            # encoder's projections are the same for every beam of a row, the step index a scalar.
            names = {getattr(p, "key", None) for p in path}
            return x if names & {"cross_key", "cross_value", "cache_index"} else x[rows_BK]
        return jax.tree_util.tree_map_with_path(reorder, cache)

    def step(carry, prime=False):
        i, cache, alive_seq, alive_logp, fin_seq, fin_score, done_B = carry
        last_BK = jnp.where(i == 0, first_BK, alive_seq[:, :, jnp.maximum(i - 1, 0)].reshape(-1))
        logits_BKxV, cache = decoder_logits(params, cache, encoded, src_BxS, last_BK, i, model=model, prime=prime)
        # 2K candidates: even if K of them end here, K can stay alive. The best 2K extensions of all
        # beams are among each beam's own best 2K, so only those are scored.
        logp_BKxN, tok_BKxN = top_log_probs(logits_BKxV, 2 * k, i, cfg=c, min_len=min_len, prefix_P=prefix_P)
        n = logp_BKxN.shape[-1]
        cand_logp, flat = jax.lax.top_k((alive_logp[:, :, None] + logp_BKxN.reshape(b, k, n)).reshape(b, k * n),
                                        2 * k)
        cand_beam = flat // n
        cand_tok = jnp.take_along_axis(tok_BKxN.reshape(b, k * n), flat, axis=1).astype(jnp.int32)
        cand_seq = _take(alive_seq, cand_beam).at[:, :, i].set(cand_tok)
        # As in fairseq, Marian and Transformers, EOS ends a hypothesis only from the top K
        # candidates (lower-ranked EOS candidates are dropped), so one beam is greedy search.
        eos_in_top_k = (cand_tok == c.eos_id) & (jnp.arange(2 * k) < k)
        at_limit = i + 1 >= limit_B[:, None]
        ended = eos_in_top_k | at_limit

        # Finished: the best K of the old finished and the newly ended candidates.
        new_score = jnp.where(ended, cand_logp / length_penalty(i + 1 - p, alpha), -jnp.inf)
        top_score, pick = jax.lax.top_k(jnp.concatenate([fin_score, new_score], axis=1), k)
        top_seq = _take(jnp.concatenate([fin_seq, cand_seq], axis=1), pick)
        fin_score = jnp.where(done_B[:, None], fin_score, top_score)
        fin_seq = jnp.where(done_B[:, None, None], fin_seq, top_seq)

        # Alive: the best K candidates that did not end; the cache follows their parent beams.
        alive_logp, pick = jax.lax.top_k(jnp.where(ended | (cand_tok == c.eos_id), -jnp.inf, cand_logp), k)
        alive_seq = _take(cand_seq, pick)
        cache = reorder_cache(cache, _take(cand_beam, pick))

        # log p only falls as a hypothesis grows; the length penalty's best case is the row's
        # limit for alpha >= 0 and the next length for alpha < 0.
        best_len = limit_B if alpha >= 0 else jnp.minimum(i + 2, limit_B)
        bound_B = alive_logp[:, 0] / length_penalty(best_len - p, alpha)
        done_B = done_B | (fin_score[:, -1] >= bound_B)
        return i + 1, cache, alive_seq, alive_logp, fin_seq, fin_score, done_B

    def cond(carry):
        return (carry[0] < max_len) & ~jnp.all(carry[-1])

    seq0 = jnp.full((b, k, max_len), c.pad_id, jnp.int32)
    alive_logp0 = jnp.tile(jnp.array([0.0] + [-jnp.inf] * (k - 1)), (b, 1))  # one live beam at first
    init = (jnp.array(0), init_cache(model, src_BxS, max_len, k), seq0, alive_logp0, seq0,
            jnp.full((b, k), -jnp.inf), jnp.zeros((b,), bool))
    # The first step runs outside the loop: it fills the cross-attention cache the others read.
    _, _, _, _, fin_seq, fin_score, _ = jax.lax.while_loop(cond, step, step(init, prime=True))
    return fin_seq, fin_score
