"""int8 decoding (model/quantize.py): the scheme, every family's layers, a trained model's translations and scores."""

import hf_models
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import sacrebleu
from conftest import TINY_CONFIG

from xling_jax import log
from xling_jax.cli.main import main as cli
from xling_jax.configs.loading import load_config_file
from xling_jax.decoding.score import Scorer
from xling_jax.decoding.translate import Translator
from xling_jax.errors import UserError
from xling_jax.evaluation.bleu import split_pairs
from xling_jax.interop.hf import import_hf
from xling_jax.model import build_model, quantize
from xling_jax.training.load import load_run
from xling_jax.training.train import train_and_evaluate

is_int8 = lambda x: isinstance(x, quantize.Int8)


def test_int8_product_is_the_absmax_scheme():
    """Known answer in numpy: per-output-channel weight scales; per-row activation scales for mode int8."""
    rng = np.random.default_rng(0)
    w_KxF = rng.normal(size=(48, 24)).astype(np.float32)
    w_KxF[:, 3] = 0.0  # an all-zero channel stays zero
    x_NxK = rng.normal(size=(5, 48)).astype(np.float32)
    w_scale = np.abs(w_KxF).max(0) / 127
    w_q = np.round(w_KxF / np.where(w_scale > 0, w_scale, 1)).astype(np.int8)
    q = quantize.quantize(w_KxF, (0,))
    np.testing.assert_array_equal(np.asarray(q.values), w_q)
    assert q.values.dtype == jnp.int8 and q.scale.shape == (1, 24)
    np.testing.assert_allclose(np.asarray(quantize.product(x_NxK, q, 0)), x_NxK @ (w_q * w_scale), rtol=1e-5, atol=1e-5)
    x_scale = np.abs(x_NxK).max(1, keepdims=True) / 127
    x_q = np.round(x_NxK / x_scale)
    expected = (x_q @ w_q.astype(np.float64)) * x_scale * w_scale
    both = quantize.quantize(w_KxF, (0,), activations=True)
    np.testing.assert_allclose(np.asarray(quantize.product(x_NxK, both, 0)), expected, rtol=1e-5, atol=1e-6)
    assert not np.asarray(quantize.product(x_NxK, both, 0))[:, 3].any()
    # The embedding's layout: V x D contracted over D, a scale per vocabulary row.
    e = quantize.quantize(w_KxF.T, (1,))
    np.testing.assert_allclose(np.asarray(quantize.product(x_NxK, e, 1)), x_NxK @ (w_q * w_scale), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("family", list(hf_models.FAMILIES))
def test_every_family_quantizes_its_kernels_and_embeddings(family, tmp_path):
    """Every dense kernel and token embedding of each imported family becomes int8 (position tables, relative
    biases, norms and biases stay float); logits stay close to float32's, params take under a third."""
    hf_models.make(family, str(tmp_path / "hf"), seed=0)
    import_hf(str(tmp_path / "hf"), str(tmp_path / "run"))
    run = load_run(str(tmp_path / "run"))
    c = run.model.cfg
    rng = np.random.default_rng(0)
    src = jnp.asarray(rng.integers(5, c.vocab_size, (4, 11)), jnp.int32)
    tgt = jnp.asarray(rng.integers(5, c.target_vocab, (4, 9)), jnp.int32)
    ref = np.asarray(run.model.apply({"params": run.params}, src, tgt))
    finite = np.isfinite(ref)
    for mode in ("int8-weights", "int8"):
        q = quantize.quantize_params(run.model, run.params, mode)
        flat = jax.tree_util.tree_flatten_with_path(q, is_leaf=is_int8)[0]
        names = {jax.tree_util.keystr(p, simple=True, separator="/"): leaf for p, leaf in flat}
        for name, leaf in names.items():
            expect = name.endswith("/kernel") or name.split("/")[-2:] in (["embedding", "embedding"],
                                                                        ["target_embedding", "embedding"])
            assert is_int8(leaf) == expect, name
            if expect:
                assert leaf.values.dtype == jnp.int8 and leaf.activations == (mode == "int8")
        out = np.asarray(run.model.apply({"params": q}, src, tgt))
        assert (np.isfinite(out) == finite).all()  # masked vocabulary entries stay masked
        err = np.abs(out - ref)[finite]
        assert err.mean() < 0.06 * ref[finite].std(), (mode, err.mean() / ref[finite].std())
        assert quantize.nbytes(q) < 0.41 * quantize.nbytes(run.params)


def test_quantized_params_take_a_quarter_of_the_memory():
    """int8 values plus one float32 scale per channel: a quarter of float32 and a little more."""
    c = load_config_file(TINY_CONFIG)
    c.model.emb_dim, c.model.mlp_dim, c.model.num_heads = 256, 1024, 4
    model = build_model(c.model, 8000)
    params = model.init(jax.random.key(0), jnp.ones((1, 8), jnp.int32), jnp.ones((1, 8), jnp.int32))["params"]
    q = quantize.quantize_params(model, params, "int8")
    converted = [x for x in jax.tree.leaves(q, is_leaf=is_int8) if is_int8(x)]
    assert sum(x.values.size for x in converted) > 0.97 * sum(x.size for x in jax.tree.leaves(params))
    assert 0.25 < quantize.nbytes(q) / quantize.nbytes(params) < 0.27


def test_trained_model_decodes_and_scores_in_int8(tiny_workdir, tmp_path, capsys, bible_data_dir):
    c = load_config_file(TINY_CONFIG)
    c.train.steps, c.eval_every, c.checkpoint_every, c.train.warmup_steps = 120, 120, 120, 10
    c.train.batch_size, c.data.train_pairs = 16, 500
    train_and_evaluate(c, tiny_workdir)
    run = load_run(tiny_workdir)
    d = run.config.decode
    d.method, d.max_len_a, d.max_len_b = "greedy", 1.0, 8
    sources, refs = split_pairs(_en_es(run), "dev", bible_data_dir, 48)
    float_out = Translator(run.model, run.params, run.tokenizer, d).translate(sources, "es", src_lang="en")
    d.quantize = "int8"
    int8 = Translator(run.model, run.params, run.tokenizer, d)
    assert quantize.is_quantized(int8.params)
    int8_out = int8.translate(sources, "es", src_lang="en")
    # A briefly trained model has many near-ties (repeated words), where int8's rounding picks the other one.
    same = np.mean([a == b for a, b in zip(float_out, int8_out)])
    chrf = sacrebleu.corpus_chrf(int8_out, [float_out]).score
    assert same >= 0.5 and chrf >= 70, (same, chrf)  # here: 0.67 and 84
    pairs = list(zip(sources, refs))
    exact = np.array(Scorer(run.model, run.params, run.tokenizer).score(pairs, "es", "en"))
    approx = np.array(Scorer(run.model, run.params, run.tokenizer, quantize_mode="int8").score(pairs, "es", "en"))
    assert np.abs(approx - exact).max() < 0.05 * np.abs(exact).mean()
    # The CLI: --quantize on translate and score, and a bad mode as one line.
    capsys.readouterr()
    inp = tmp_path / "in.txt"
    inp.write_text("\n".join(sources[:8]) + "\n", encoding="utf-8")
    assert cli(["translate", "--workdir", tiny_workdir, "--src", "en", "--tgt", "es", "--greedy", "--max_len_a", "1",
                "--max_len_b", "8", "--quantize", "int8", "--input", str(inp)]) == 0
    assert capsys.readouterr().out.splitlines() == int8_out[:8]
    tsv = tmp_path / "pairs.tsv"
    tsv.write_text("".join(f"{s}\t{t}\n" for s, t in pairs[:8]), encoding="utf-8")
    assert cli(["score", "--workdir", tiny_workdir, "--src", "en", "--tgt", "es", "--quantize", "int8",
                "--input", str(tsv)]) == 0
    np.testing.assert_allclose([float(s) for s in capsys.readouterr().out.split()], approx[:8], rtol=1e-5)
    for command in ("translate", "score"):
        assert cli([command, "--workdir", tiny_workdir, "--src", "en", "--tgt", "es", "--quantize", "int4",
                    "--input", str(inp)]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "int4" in err[0] and "int8-weights" in err[0]
    # Those commands wrote their diagnostics to stderr (stdout is their data); Python code after them logs as before.
    log.get_logger("xling_jax.test").info("after the commands")
    assert capsys.readouterr().out == "after the commands\n"


def _en_es(run):
    from xling_jax.data import plan as data_plan
    d, = [x for x in data_plan.resolve(run.config.data).evaluated if x.pair == "en-es"]
    return d


def test_the_lstm_is_refused_in_one_message():
    c = load_config_file(TINY_CONFIG)
    c.model.name = "lstm"
    model = build_model(c.model, 600)
    params = model.init(jax.random.key(0), jnp.ones((1, 8), jnp.int32), jnp.ones((1, 8), jnp.int32))["params"]
    with pytest.raises(UserError, match="no layers int8 decoding covers"):
        quantize.quantize_params(model, params, "int8")
