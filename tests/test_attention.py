"""Cross-attention capture (evaluation/attention.py) and its heat maps (evaluation/attention_plot.py),
on a tiny model with random params (the CLI on a trained run is in test_cli.py)."""

import functools

import jax
import numpy as np
import pytest
from conftest import tiny_data_config, untrained_run

from xling_jax.decoding.translate import Translator
from xling_jax.errors import UserError
from xling_jax.evaluation import attention, attention_plot
from xling_jax.training.load import load_run

TEXT = "In the beginning God created the heaven and the earth."


@pytest.fixture(scope="module")
def run(tmp_path_factory, tiny_tokenizer):
    config = tiny_data_config()
    config.model.num_layers = 2  # layer order and selection need more than one
    config.decode.method = "greedy"
    return load_run(untrained_run(tmp_path_factory.mktemp("attention") / "run", config, tiny_tokenizer))


def test_rows_sum_to_one_over_real_source_pieces_and_padding_changes_nothing(run):
    tok, start = run.tokenizer, run.model.cfg.decoder_start_id
    short = attention.teacher_forcing_ids(tok, "God created.", "Dios creó.", "es", start)
    long = attention.teacher_forcing_ids(tok, TEXT, "En el principio creó Dios los cielos y la tierra.", "es", start)
    s, t = len(long[0]), len(long[1])
    src_BxS = np.zeros((2, s), np.int32)  # pad id 0
    tgt_in_BxT = np.zeros((2, t), np.int32)
    for row, (src, tgt_in, _) in enumerate((short, long)):
        src_BxS[row, :len(src)], tgt_in_BxT[row, :len(tgt_in)] = src, tgt_in
    capture = jax.jit(functools.partial(attention.cross_attention_weights, model=run.model))
    weights = capture(run.params, src_BxS, tgt_in_BxT)
    assert sorted(weights) == ["decoder_0", "decoder_1"]
    n_short = len(short[0])
    for w_BxHxTxS in weights.values():
        w = np.asarray(w_BxHxTxS)
        assert w.shape == (2, run.model.cfg.num_heads, t, s)
        np.testing.assert_allclose(w.sum(-1), 1.0, rtol=1e-5)
        assert np.all(w[0, :, :, n_short:] == 0.0)  # the short source's padding gets no weight at all
        assert np.all(w[0, :, :, :n_short] > 0.0)
    # Alone, without padding, the short pair attends exactly as it did inside the padded batch.
    alone = capture(run.params, np.array([short[0]]), np.array([short[1]]))
    for name, w in alone.items():
        np.testing.assert_allclose(np.asarray(w)[0], np.asarray(weights[name])[0, :, :len(short[1]), :n_short],
                                   atol=1e-6)
    # Capturing changes no logit.
    both = jax.jit(lambda p, s, t: (run.model.apply({"params": p}, s, t),
                                    run.model.apply({"params": p}, s, t, mutable=["intermediates"])[0]))
    plain, captured = both(run.params, src_BxS, tgt_in_BxT)
    np.testing.assert_array_equal(np.asarray(plain), np.asarray(captured))


def test_cross_attention_of_the_models_translation_is_labelled_with_pieces(run):
    att = attention.cross_attention(run, TEXT, "es")
    expected = Translator(run.model, run.params, run.tokenizer, run.config.decode).translate([TEXT], "es")[0]
    assert att.translation == expected
    tok = run.tokenizer
    assert att.source_pieces == ["<2es>"] + tok.pieces(tok.encode(TEXT)) + ["</s>"]
    assert att.target_pieces == tok.pieces(tok.encode(expected)) + ["</s>"]
    assert att.layers == ["decoder_0", "decoder_1"]
    assert att.weights_LxHxTxS.shape == (2, run.model.cfg.num_heads, len(att.target_pieces), len(att.source_pieces))
    np.testing.assert_allclose(att.weights_LxHxTxS.sum(-1), 1.0, rtol=1e-5)


def test_heat_maps_are_written_and_bad_selections_are_user_errors(run, tmp_path):
    att = attention.cross_attention(run, TEXT, "es", translation="En el principio creó Dios.")
    assert att.target_pieces[-1] == "</s>" and "▁Dios" in att.target_pieces
    fig = attention_plot.draw(att, layers=[1], heads=[0, 2])
    assert [ax.get_title() for ax in fig.axes[:3]] == ["decoder_1 head 0", "decoder_1 head 2", "decoder_1 mean"]
    # The mean panel shows the heads' average, on the x/y pieces.
    mean_panel = fig.axes[2].get_images()[0].get_array()
    np.testing.assert_allclose(mean_panel, att.weights_LxHxTxS[1].mean(0), rtol=1e-6)
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == att.target_pieces
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == att.source_pieces
    path = attention_plot.save(att, str(tmp_path / "sub" / "a.png"))
    with open(path, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(UserError, match="layers 2 out of range"):
        attention_plot.draw(att, layers=[2])
    with pytest.raises(UserError, match="heads 4 out of range"):
        attention_plot.draw(att, heads=[4])
    with pytest.raises(UserError, match="no target tag"):
        attention.cross_attention(run, TEXT, "xx")
