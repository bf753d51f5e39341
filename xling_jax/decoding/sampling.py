"""Greedy decoding and sampling (temperature, top-k, top-p) with a key/value cache: the encoder runs once."""
import jax
import jax.numpy as jnp


def init_cache(model, src_BxS, max_len: int, beams: int = 1):
    """Zeroed decoder cache for `max_len` target positions of `beams` hypotheses per source row (shapes
    only; no params are built)."""
    def init(src, tgt):
        return model.init(jax.random.key(0), src, tgt,
                          method=lambda m, s, t: m.decode(m.encode(s), s, t, decode=True, prime=True))
    dummy_tgt = jnp.zeros((src_BxS.shape[0] * beams, max_len), jnp.int32)
    shapes = jax.eval_shape(init, src_BxS, dummy_tgt)["cache"]
    return jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), shapes)


def decoder_logits(params, cache, encoded_BxSxD, src_BxS, last_B, i, *, model, prime: bool = False):
    """The model's float32 logits BxV for target position `i` given the previous token, and the new
    cache (the first step, `prime=True`, also caches the encoder's cross-attention keys and values)."""
    logits_Bx1xV, mutated = model.apply(
        {"params": params, "cache": cache}, encoded_BxSxD, src_BxS, last_B[:, None],
        tgt_positions=jnp.full((last_B.shape[0], 1), i), decode=True, prime=prime, mutable=["cache"],
        method=model.decode)
    return logits_Bx1xV[:, 0].astype(jnp.float32), mutated["cache"]


def banned(ids, i, *, cfg, min_len: int = 0, prefix_len: int = 0):
    """Where `ids` are tokens the rules below never let position `i` predict: pad, and EOS before
    `min_len` tokens after the prefix."""
    out = ids == cfg.pad_id
    if min_len:
        out |= (ids == cfg.eos_id) & (i + 1 < min_len + prefix_len)
    return out


def forced_scores(prefix_P, i, vocab_size: int):
    """Log-probabilities V at a forced position i < P: 0 for the prefix's token, -inf elsewhere."""
    return jnp.where(jnp.arange(vocab_size) == jnp.asarray(prefix_P)[jnp.minimum(i, prefix_P.shape[0] - 1)],
                     0.0, -jnp.inf)


def next_token_logits(params, cache, encoded_BxSxD, src_BxS, last_B, i, *, model, min_len: int = 0,
                      prime: bool = False, prefix_P=None):
    """Log-probabilities BxV of target position `i` given the previous token (log_softmax of the
    model's logits, then the rules below); returns (log-probabilities, new cache).

    The rules act after the normalisation, as Transformers' logits processors do, so beam scores
    match its `generate()`: the pad id is never a prediction (decoding starts from it in OPUS-MT
    vocabularies, and it would be indistinguishable from the padding after EOS), as
    `bad_words_ids=[[pad]]` in Marian; `prefix_P` (ids, e.g. NLLB's target-language code) is forced
    at the first P positions: its token gets 0 and every other -inf, so it adds nothing to a
    hypothesis' score (`forced_bos_token_id`); EOS is ruled out before `min_len` tokens after the
    prefix (benchmarks force a fixed output length with it). The first step (`prime=True`) also
    caches the encoder's cross-attention keys and values.
    """
    raw_BxV, cache = decoder_logits(params, cache, encoded_BxSxD, src_BxS, last_B, i, model=model, prime=prime)
    p = 0 if prefix_P is None else prefix_P.shape[0]
    v = raw_BxV.shape[-1]
    rule_V = banned(jnp.arange(v), i, cfg=model.cfg, min_len=min_len, prefix_len=p)
    logits_BxV = jnp.where(rule_V[None, :], -jnp.inf, jax.nn.log_softmax(raw_BxV))
    if p:
        logits_BxV = jnp.where(i < p, forced_scores(prefix_P, i, v)[None, :], logits_BxV)
    return logits_BxV, cache


def start_ids(model, batch: int, start=None):
    """The first decoder input of every row: `start` (a token id, e.g. mBART-25's target-language
    code) or the model's decoder_start_id."""
    return jnp.full((batch,), model.cfg.decoder_start_id if start is None else start, jnp.int32)


def _one_hypothesis(params, src_BxS, limit_B, rng, choose, *, model, max_len: int, min_len: int = 0, prefix_P=None,
                    start=None):
    """The decoding loop shared by greedy and sampling: `choose(logits_BxV, rng) -> B ids`."""
    c, batch = model.cfg, src_BxS.shape[0]
    limit_B = jnp.full((batch,), max_len) if limit_B is None else jnp.minimum(limit_B, max_len)
    encoded = model.apply({"params": params}, src_BxS, method=model.encode)

    def step(carry, prime=False):
        i, cache, last_B, out_BxT, done_B = carry
        logits_BxV, cache = next_token_logits(params, cache, encoded, src_BxS, last_B, i, model=model,
                                              min_len=min_len, prime=prime, prefix_P=prefix_P)
        next_B = jnp.where(done_B, c.pad_id, choose(logits_BxV, jax.random.fold_in(rng, i)).astype(jnp.int32))
        out_BxT = out_BxT.at[:, i].set(next_B)
        return i + 1, cache, next_B, out_BxT, done_B | (next_B == c.eos_id) | (i + 1 >= limit_B)

    def cond(carry):
        i, _, _, _, done_B = carry
        return (i < max_len) & ~jnp.all(done_B)

    init = (jnp.array(0), init_cache(model, src_BxS, max_len), start_ids(model, batch, start),
            jnp.full((batch, max_len), c.pad_id, jnp.int32), jnp.zeros((batch,), bool))
    # The first step runs outside the loop: it fills the cross-attention cache the others read.
    return jax.lax.while_loop(cond, step, step(init, prime=True))[3]


def greedy(params, src_BxS, limit_B=None, prefix_P=None, start=None, *, model, max_len: int, min_len: int = 0):
    """Returns BxT token ids (T = max_len): the argmax continuation, pad ids after EOS.

    `limit_B` optionally caps each row's length below `max_len` (a row stops after
    limit_B[b] tokens), so one compiled shape serves sources of different lengths. `prefix_P`
    and `start`: forced first tokens and the first decoder input (see `next_token_logits`).
    """
    return _one_hypothesis(params, src_BxS, limit_B, jax.random.key(0), lambda logits, _: jnp.argmax(logits, -1),
                           model=model, max_len=max_len, min_len=min_len, prefix_P=prefix_P, start=start)


def filter_logits(logits_BxV, temperature: float = 1.0, top_k: int = 0, top_p: float = 1.0):
    """Logits / temperature with everything outside the top-k and the top-p nucleus set to -inf.

    top_k=0 and top_p=1 switch the filters off. The nucleus is the smallest set of most likely
    tokens whose probability reaches top_p; it always holds the most likely token.
    """
    logits_BxV = logits_BxV / temperature
    if top_k:
        kth_B = jax.lax.top_k(logits_BxV, top_k)[0][:, -1]
        logits_BxV = jnp.where(logits_BxV < kth_B[:, None], -jnp.inf, logits_BxV)
    if top_p < 1.0:
        sorted_BxV = jnp.sort(logits_BxV, axis=-1)[:, ::-1]
        probs_BxV = jax.nn.softmax(sorted_BxV, axis=-1)
        # Probability mass strictly before each sorted token: a token is kept while that mass < top_p.
        before_BxV = jnp.cumsum(probs_BxV, axis=-1) - probs_BxV
        n_keep_B = jnp.sum(before_BxV < top_p, axis=-1)
        cutoff_B = jnp.take_along_axis(sorted_BxV, n_keep_B[:, None] - 1, axis=-1)[:, 0]
        logits_BxV = jnp.where(logits_BxV < cutoff_B[:, None], -jnp.inf, logits_BxV)
    return logits_BxV


def sample(params, src_BxS, limit_B, rng, prefix_P=None, start=None, *, model, max_len: int, min_len: int = 0,
           temperature: float = 1.0, top_k: int = 0, top_p: float = 1.0):
    """Ancestral sampling with temperature, top-k and top-p (nucleus); BxT ids like `greedy`."""
    def choose(logits_BxV, key):
        return jax.random.categorical(key, filter_logits(logits_BxV, temperature, top_k, top_p), axis=-1)
    return _one_hypothesis(params, src_BxS, limit_B, rng, choose, model=model, max_len=max_len, min_len=min_len,
                           prefix_P=prefix_P, start=start)
