"""Model shapes, masks, packing and the cached decode path."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from xling_jax.decoding.sampling import init_cache
from xling_jax.model.transformer import Transformer, TransformerConfig, attention_mask

SRC = jnp.array([[5, 6, 7, 8, 0, 0], [9, 10, 11, 12, 13, 14]])
TGT_IN = jnp.array([[0, 20, 21, 0, 0], [0, 22, 23, 24, 25]])


def tiny(**kw):
    base = dict(vocab_size=40, emb_dim=32, num_heads=4, num_layers=2, mlp_dim=64, dropout_rate=0.0)
    base.update(kw)
    return Transformer(TransformerConfig(**base))


def init(model):
    return model.init(jax.random.key(0), SRC, TGT_IN)["params"]


# The T5 family: RMS norms, no biases, heads x head_dim != emb_dim, unscaled attention, a gated MLP and
# relative position buckets shared by the stack (T5/mT5) or one table per layer (umT5).
T5 = dict(norm="rms", use_bias=False, head_dim=12, scale_attention=False, mlp_gated=True, positions="relative",
          scale_embeddings=False, relative_buckets=8, relative_max_distance=16, activation="gelu_tanh")
UMT5 = dict(T5, relative_per_layer=True, num_decoder_layers=3, num_decoder_heads=2)


@pytest.mark.parametrize("kw", [{}, {"pre_ln": False}, {"share_embeddings": False}, {"positions": "learned"},
                                {"num_decoder_layers": 1}, T5])
def test_shapes(kw):
    model = tiny(**kw)
    params = init(model)
    assert model.apply({"params": params}, SRC, TGT_IN).shape == (2, 5, 40)
    assert model.apply({"params": params}, SRC, method=model.encode).shape == (2, 6, 32)
    has_output_proj = "output_projection" in params
    assert has_output_proj == (not model.cfg.share_embeddings)
    assert ("decoder_1" in params) == (kw.get("num_decoder_layers") != 1)


def test_attention_mask_segments_and_causality():
    seg = jnp.array([[1, 1, 2, 0]])
    m = np.asarray(attention_mask(seg, seg, causal=True))[0, 0]
    expected = np.array([[1, 0, 0, 0], [1, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 0]], bool)
    np.testing.assert_array_equal(m, expected)


def test_padding_does_not_change_outputs():
    """Extra source padding and trailing target positions leave real logits unchanged."""
    model = tiny()
    params = init(model)
    src, tgt = SRC[:1, :4], TGT_IN[:1, :3]
    short = model.apply({"params": params}, src, tgt)
    long = model.apply({"params": params}, jnp.pad(src, ((0, 0), (0, 5))), jnp.pad(tgt, ((0, 0), (0, 4))))
    np.testing.assert_allclose(short, long[:, :3], atol=1e-5)


@pytest.mark.parametrize("kw", [{}, UMT5])
def test_packed_row_equals_separate_rows(kw):
    """Two examples packed into one row (segment ids + positions) give the same logits as alone
    (relative positions too: they are counted within each segment)."""
    model = tiny(**kw)
    params = init(model)
    a_src, a_tgt = jnp.array([[5, 6, 7]]), jnp.array([[0, 20, 21]])
    b_src, b_tgt = jnp.array([[9, 10]]), jnp.array([[0, 22]])
    packed = model.apply(
        {"params": params}, jnp.array([[5, 6, 7, 9, 10, 0]]), jnp.array([[0, 20, 21, 0, 22, 0]]),
        src_segment_ids=jnp.array([[1, 1, 1, 2, 2, 0]]), tgt_segment_ids=jnp.array([[1, 1, 1, 2, 2, 0]]),
        src_positions=jnp.array([[0, 1, 2, 0, 1, 0]]), tgt_positions=jnp.array([[0, 1, 2, 0, 1, 0]]))
    np.testing.assert_allclose(packed[:, :3], model.apply({"params": params}, a_src, a_tgt), atol=1e-5)
    np.testing.assert_allclose(packed[:, 3:5], model.apply({"params": params}, b_src, b_tgt), atol=1e-5)


@pytest.mark.parametrize("kw", [{}, {"pre_ln": False, "positions": "learned", "share_embeddings": False},
                                {"remat": "full"}, {"dtype": "bfloat16"}, T5, dict(UMT5, remat="full")])
def test_cached_decoding_matches_full_forward(kw):
    model = tiny(**kw)
    params = init(model)
    full = model.apply({"params": params}, SRC, TGT_IN)
    encoded = model.apply({"params": params}, SRC, method=model.encode)
    cache = init_cache(model, SRC, TGT_IN.shape[1])
    steps = []
    for t in range(TGT_IN.shape[1]):
        logits, mutated = model.apply(
            {"params": params, "cache": cache}, encoded, SRC, TGT_IN[:, t:t + 1],
            tgt_positions=jnp.full((2, 1), t), decode=True, prime=t == 0, mutable=["cache"], method=model.decode)
        cache = mutated["cache"]
        steps.append(logits)
    # bfloat16: the cache holds rounded keys and values, and the one-query path multiplies differently.
    np.testing.assert_allclose(jnp.concatenate(steps, axis=1), full, atol=5e-2 if "dtype" in kw else 1e-5)


@pytest.mark.parametrize("remat", ["full", "dots"])
def test_remat_changes_neither_params_nor_gradients(remat):
    """Recomputed layers (model.remat) give the gradients of stored ones, dropout masks included."""
    def loss_and_grads(model, params):
        def loss(p):
            logits = model.apply({"params": p}, SRC, TGT_IN, deterministic=False, rngs={"dropout": jax.random.key(3)})
            return jnp.sum(jax.nn.log_softmax(logits)[..., 7])
        return jax.jit(jax.value_and_grad(loss))(params)

    plain, rematted = tiny(dropout_rate=0.2), tiny(dropout_rate=0.2, remat=remat)
    params = init(plain)
    assert jax.tree.structure(init(rematted)) == jax.tree.structure(params)
    (l0, g0), (l1, g1) = loss_and_grads(plain, params), loss_and_grads(rematted, params)
    np.testing.assert_allclose(l1, l0, rtol=1e-6)
    for a, b in zip(jax.tree.leaves(g1), jax.tree.leaves(g0), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    # The recomputation is really there: the backward pass runs the layers' products again.
    count = lambda m: jax.jit(jax.grad(lambda p: jnp.sum(m.apply({"params": p}, SRC, TGT_IN)))).lower(
        params).as_text().count("dot_general")
    assert count(rematted) > count(plain)


def test_relative_buckets_match_t5s_definition():
    """T5's bucketing written out in numpy for a grid of distances: exact below half the buckets (per
    direction when bidirectional), logarithmic up to max_distance, then the last bucket."""
    import math

    from xling_jax.model.transformer import relative_bucket
    rel = np.arange(-200, 201)

    def reference(r, bidirectional, n, max_d):
        out = 0
        if bidirectional:
            n //= 2
            out += (r > 0) * n
            r = abs(r)
        else:
            r = max(-r, 0)
        exact = n // 2
        if r < exact:
            return out + r
        return out + min(n - 1, exact + int(math.log(r / exact) / math.log(max_d / exact) * (n - exact)))
    for bidirectional in (True, False):
        got = np.asarray(relative_bucket(jnp.asarray(rel)[None, None], bidirectional, 32, 128))[0, 0]
        np.testing.assert_array_equal(got, [reference(int(r), bidirectional, 32, 128) for r in rel])


def test_relative_tables_per_stack_or_per_layer():
    shared, own = init(tiny(**T5)), init(tiny(**UMT5))
    assert set(shared["encoder_relative_bias"]) == {"embedding"} and "relative_bias" not in shared["encoder_0"]
    assert "encoder_relative_bias" not in own and own["decoder_2"]["relative_bias"]["embedding"].shape == (8, 2)
    assert "bias" not in shared["encoder_0"]["self_attention"]["query"]  # no biases anywhere
    assert shared["encoder_0"]["self_attention"]["query"]["kernel"].shape == (32, 4, 12)  # 4 x 12 != 32
    assert set(shared["encoder_0"]["mlp"]) == {"Dense_0", "Dense_1", "Dense_2"}  # gated


def test_unscaled_attention_starts_like_scaled_attention():
    """T5's unscaled attention (scale_attention=False) trained from scratch starts with 1/sqrt(head_dim) in the
    query's initial weights, as T5 initialises it: from the same seed, the same model as scaled attention
    (not attention logits with head_dim times the variance, near one-hot from the first step)."""
    kw = dict(T5, head_dim=16)
    unscaled, scaled = tiny(**kw), tiny(**dict(kw, scale_attention=True))
    p_unscaled, p_scaled = init(unscaled), init(scaled)
    q = lambda p: np.asarray(p["encoder_0"]["self_attention"]["query"]["kernel"])
    np.testing.assert_allclose(q(p_unscaled), q(p_scaled) / 4.0, rtol=1e-6)
    k = lambda p: np.asarray(p["decoder_0"]["cross_attention"]["key"]["kernel"])
    np.testing.assert_array_equal(k(p_unscaled), k(p_scaled))  # keys, values and outputs unchanged
    np.testing.assert_allclose(unscaled.apply({"params": p_unscaled}, SRC, TGT_IN),
                               scaled.apply({"params": p_scaled}, SRC, TGT_IN), rtol=1e-4, atol=1e-5)


def test_encoder_lm_head_is_the_tied_source_embedding():
    model = tiny()
    params = init(model)
    logits = model.apply({"params": params}, SRC, method=model.encode_lm)
    encoded = model.apply({"params": params}, SRC, method=model.encode)
    assert logits.shape == (2, 6, 40) and logits.dtype == jnp.float32
    np.testing.assert_allclose(logits, encoded @ params["embedding"]["embedding"].T, atol=1e-5)


def test_causal_encoder_sees_only_earlier_positions():
    model = tiny()
    params = init(model)
    changed = SRC.at[1, 3].set(30)
    for causal in (True, False):
        a = model.apply({"params": params}, SRC, causal=causal, method=model.encode_lm)
        b = model.apply({"params": params}, changed, causal=causal, method=model.encode_lm)
        np.testing.assert_allclose(a[0], b[0], atol=1e-6)  # other rows never change
        assert np.allclose(a[1, :3], b[1, :3], atol=1e-6) == causal  # earlier positions: only if causal
        assert not np.allclose(a[1, 3:], b[1, 3:], atol=1e-3)


def test_language_embeddings_change_the_encoding_only_when_given():
    model = tiny(num_languages=2)
    params = init(model)
    assert params["encoder_embedder"]["language_embedding"].shape == (2, 32)
    plain = model.apply({"params": params}, SRC, method=model.encode)
    lang0 = model.apply({"params": params}, SRC, languages=jnp.zeros_like(SRC), method=model.encode)
    mixed = model.apply({"params": params}, SRC, languages=jnp.array([[0, 0, 0, 1, 1, 1]] * 2), method=model.encode)
    assert not np.allclose(plain, lang0, atol=1e-3) and not np.allclose(lang0, mixed, atol=1e-3)
    assert "language_embedding" not in str(jax.tree_util.tree_structure(init(tiny())))


def test_packed_row_mixing_causal_and_bidirectional_segments_equals_separate_rows():
    """A CLM segment (per-token causal flags) packed beside an MLM segment with TLM-style positions
    and languages (-1: none) gives each segment the LM logits it gets alone."""
    model = tiny(num_languages=2)
    params = init(model)
    lm = lambda *a, **k: model.apply({"params": params}, *a, method=model.encode_lm, **k)
    a_src, a_pos, a_lang = jnp.array([[5, 6, 7, 8]]), jnp.array([[0, 1, 0, 1]]), jnp.array([[0, 0, 1, 1]])
    b_src = jnp.array([[9, 10, 11]])
    alone_a = lm(a_src, None, a_pos, languages=a_lang)
    alone_b = lm(b_src, causal=True)
    packed = lm(jnp.array([[5, 6, 7, 8, 9, 10, 11, 0]]), jnp.array([[1, 1, 1, 1, 2, 2, 2, 0]]),
                jnp.array([[0, 1, 0, 1, 0, 1, 2, 0]]), languages=jnp.array([[0, 0, 1, 1, -1, -1, -1, -1]]),
                causal=jnp.array([[0, 0, 0, 0, 1, 1, 1, 0]], bool))
    np.testing.assert_allclose(packed[:, :4], alone_a, atol=1e-5)
    np.testing.assert_allclose(packed[:, 4:7], alone_b, atol=1e-5)


@pytest.mark.parametrize("kw", [{}, {"share_embeddings": False}])
def test_bfloat16_loss_and_gradients_track_float32(kw):
    """16-bit compute (on CPU: model/matmul.py's float32-accumulated products) over float32 params."""
    def loss_and_grads(model, params):
        def loss(p):
            logits = model.apply({"params": p}, SRC, TGT_IN)
            assert logits.dtype == jnp.float32
            return jnp.mean(jax.nn.logsumexp(logits, -1) - logits[..., 7])
        return jax.jit(jax.value_and_grad(loss))(params)

    f32, bf16 = tiny(**kw), tiny(dtype="bfloat16", **kw)
    params = init(f32)
    (l32, g32), (l16, g16) = loss_and_grads(f32, params), loss_and_grads(bf16, params)
    np.testing.assert_allclose(l16, l32, rtol=2e-2)
    flat = lambda g: jnp.concatenate([x.ravel() for x in jax.tree.leaves(g)])
    assert float(jnp.linalg.norm(flat(g16) - flat(g32)) / jnp.linalg.norm(flat(g32))) < 0.03
    floor = 1e-3 * float(jnp.linalg.norm(flat(g32)))  # key biases: gradient ~0 in exact arithmetic
    for a, b in zip(jax.tree.leaves(g16), jax.tree.leaves(g32), strict=True):
        assert a.dtype == jnp.float32
        assert float(jnp.linalg.norm(a - b)) <= 0.25 * float(jnp.linalg.norm(b)) + floor  # flax's own: up to 0.17
