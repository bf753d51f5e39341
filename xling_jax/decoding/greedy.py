"""Greedy decoding with a key/value cache: the encoder runs once, one token a step."""
import jax
import jax.numpy as jnp



def init_cache(model, src_BxS, max_len: int):
    """Zeroed decoder cache for `max_len` target positions (shapes only; no params are built)."""
    def init(src, tgt):
        return model.init(jax.random.key(0), src, tgt, method=lambda m, s, t: m.decode(m.encode(s), s, t, decode=True))
    dummy_tgt = jnp.zeros((src_BxS.shape[0], max_len), jnp.int32)
    shapes = jax.eval_shape(init, src_BxS, dummy_tgt)["cache"]
    return jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), shapes)


def greedy(params, src_BxS, limit_B=None, *, model, max_len: int):
    """Returns BxT token ids (T = max_len): the argmax continuation, pad ids after EOS.

    `limit_B` optionally caps each row's length below `max_len` (a row stops after
    limit_B[b] tokens), so one compiled shape serves sources of different lengths.
    """
    c, batch = model.cfg, src_BxS.shape[0]
    limit_B = jnp.full((batch,), max_len) if limit_B is None else jnp.minimum(limit_B, max_len)
    encoded = model.apply({"params": params}, src_BxS, method=model.encode)
    cache = init_cache(model, src_BxS, max_len)

    def step(carry):
        i, cache, last_B, out_BxT, done_B = carry
        logits, mutated = model.apply(
            {"params": params, "cache": cache}, encoded, src_BxS, last_B[:, None],
            tgt_positions=jnp.full((batch, 1), i), decode=True, mutable=["cache"], method=model.decode)
        next_B = jnp.where(done_B, c.pad_id, jnp.argmax(logits[:, 0], axis=-1).astype(jnp.int32))
        out_BxT = out_BxT.at[:, i].set(next_B)
        return i + 1, mutated["cache"], next_B, out_BxT, done_B | (next_B == c.eos_id) | (i + 1 >= limit_B)

    def cond(carry):
        i, _, _, _, done_B = carry
        return (i < max_len) & ~jnp.all(done_B)

    init = (jnp.array(0), cache, jnp.full((batch,), c.decoder_start_id, jnp.int32),
            jnp.full((batch, max_len), c.pad_id, jnp.int32),
            jnp.zeros((batch,), bool))
    return jax.lax.while_loop(cond, step, init)[3]
