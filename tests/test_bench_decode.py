"""`xling bench decode`: the engines decode the same exported weights to the same tokens, on the random
reference shape and on any workdir (an imported NLLB, an xling run exported to Marian, a run that
cannot be exported)."""
import json
import os

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("ctranslate2")

import hf_models
from conftest import TINY_CONFIG

from xling_jax.bench.decode import reference_workdir
from xling_jax.cli.main import main
from xling_jax.configs.loading import load_config_file
from xling_jax.interop.hf import import_hf
from xling_jax.model import build_model
from xling_jax.training import checkpoints
from xling_jax.training import workdir as workdir_lib

ALL = {"xling_jax", "transformers", "ctranslate2_fp32", "ctranslate2_int8"}
SMALL = ["--sentences", "12", "--batch_size", "4", "--length", "8", "--threads", "1"]


def bench(capsys, *args):
    assert main(["bench", "decode", *args]) == 0
    return json.loads(capsys.readouterr().out)


def assert_timed(out, names, sentences=12, length=8):
    for name in names:
        e = out["engines"][name]
        assert e["target_tokens"] == sentences * length, name  # forced tokens only: no prefix, no EOS
        assert e["tokens_per_s"] > 0
    assert set(out["xling_jax_over"]) == set(out["xling_jax_over_by_cpu_time"]) == set(names) - {"xling_jax"}
    assert all(out["engines"][n]["cpu_seconds"] > 0 for n in names)


def test_engines_agree_and_report_tokens_per_second(tiny_workdir, capsys):
    out = bench(capsys, "--shape", "tiny", "--sentences", "12", "--threads", "1", "--tokenizer_from", tiny_workdir)
    assert set(out["engines"]) == ALL and out["shape"] == "tiny"
    assert out["sentences"] == 12 and out["threads"] == 1
    assert_timed(out, ALL)
    # Beam search over the same weights: token for token the same as CTranslate2 and Transformers.
    assert out["engines"]["ctranslate2_fp32"]["same_output_as_xling"] == 1.0
    assert out["engines"]["transformers"]["same_output_as_xling"] == 1.0


def test_int8_and_bfloat16_rows_beside_the_float_one(tiny_workdir, capsys):
    out = bench(capsys, "--shape", "tiny", "--engines", "xling,ctranslate2", "--quantize", "int8,int8-weights",
                "--bf16", "--tokenizer_from", tiny_workdir, *SMALL)
    names = {"xling_jax", "xling_jax_int8", "xling_jax_int8-weights", "xling_jax_bfloat16", "ctranslate2_fp32",
             "ctranslate2_int8"}
    assert set(out["engines"]) == names
    assert_timed(out, names - {"xling_jax_int8", "xling_jax_int8-weights", "xling_jax_bfloat16"})
    for mode, share in (("int8", 0.35), ("int8-weights", 0.35), ("bfloat16", 0.5)):
        row = out["engines"][f"xling_jax_{mode}"]
        assert row["target_tokens"] == 12 * 8 and 0 <= row["same_output_as_xling"] <= 1
        assert row["params_bytes"] <= share * out["engines"]["xling_jax"]["params_bytes"]
        assert set(out[f"xling_jax_{mode}_over"]) == {"ctranslate2_fp32", "ctranslate2_int8"}
    assert main(["bench", "decode", "--quantize", "int4", *SMALL]) == 2
    assert "int4" in capsys.readouterr().err


@pytest.fixture(scope="module")
def nllb_workdirs(tmp_path_factory):
    """{decoder heads: workdir} of two tiny random NLLB models: the decoder with the encoder's 4 heads
    (what CTranslate2 converts) and with 2."""
    root, out = tmp_path_factory.mktemp("nllb_bench"), {}
    for heads in (4, 2):
        hf_dir = str(root / f"hf{heads}")
        hf_models.make("nllb", hf_dir, seed=1, decoder_attention_heads=heads)
        import_hf(hf_dir, str(root / f"run{heads}"))
        out[heads] = str(root / f"run{heads}")
    return out


def test_imported_nllb_with_its_language_codes(nllb_workdirs, capsys):
    out = bench(capsys, "--workdir", nllb_workdirs[4], "--src", "en", "--tgt", "es", *SMALL)
    from xling_jax.data.hf_vocab import HFVocab
    vocab = HFVocab(nllb_workdirs[4])
    # NLLB: the source starts with eng_Latn, decoding starts from EOS and forces spa_Latn first.
    assert out["forced_target_prefix"] == [vocab.tag_id("spa_Latn")] and out["decoder_start_id"] == vocab.eos_id
    assert out["model"]["vocab_size"] == vocab.vocab_size and out["source_text"] == "bible test (en)"
    assert set(out["engines"]) == ALL
    assert_timed(out, ALL)
    # The fp32 engines run the same float32 weights and the same search, so they agree with xling token
    # for token here (1.0 on this machine). Their kernels round differently (up to ~1e-6 relative), so
    # a near-tie between two beams may flip on another CPU: one sentence of the 12 is allowed to differ.
    # int8 changes the weights; its agreement is reported, not asserted.
    for name in ("transformers", "ctranslate2_fp32"):
        assert out["engines"][name]["same_output_as_xling"] >= 11 / 12 - 1e-3, name


def test_a_model_ctranslate2_cannot_take_is_reported_not_crashed(nllb_workdirs, capsys):
    out = bench(capsys, "--workdir", nllb_workdirs[2], "--src", "eng_Latn", "--tgt", "spa_Latn",
                "--engines", "xling,ctranslate2", "--sentences", "4", "--batch_size", "4", "--length", "4")
    assert set(out["engines"]) == {"xling_jax", "ctranslate2"}
    assert "decoder has 2" in out["engines"]["ctranslate2"]["skipped"]
    assert out["engines"]["xling_jax"]["target_tokens"] == 16 and out["xling_jax_over"] == {}


def test_xling_workdirs(tiny_workdir, bible_data_dir, tmp_path, capsys):
    # A run of Marian's architecture goes through export_marian (ids renumbered, pad last) and back.
    marian = reference_workdir(str(tmp_path / "marian"), "tiny", 0, bible_data_dir, tiny_workdir)
    out = bench(capsys, "--workdir", marian, "--engines", "xling,ctranslate2", *SMALL)
    assert set(out["engines"]) == {"xling_jax", "ctranslate2_fp32", "ctranslate2_int8"}
    assert_timed(out, out["engines"])
    assert out["engines"]["ctranslate2_fp32"]["same_output_as_xling"] >= 11 / 12 - 1e-3

    # xling's default pre-LN Transformer has no Hugging Face family to go to: the engines say why.
    config = load_config_file(TINY_CONFIG)
    pre_ln = workdir_lib.prepare(str(tmp_path / "pre_ln"))
    os.link(os.path.join(tiny_workdir, "tokenizer.model"), os.path.join(pre_ln, "tokenizer.model"))
    from xling_jax.bench.decode import random_params
    from xling_jax.data.tokenizer import load
    tok = load(pre_ln)
    workdir_lib.save_config(pre_ln, config)
    checkpoints.save_params(pre_ln, config, random_params(build_model(config.model, tok.vocab_size), 0, tok.pad_id))
    out = bench(capsys, "--workdir", pre_ln, *SMALL[:2], "--length", "4")
    assert out["engines"]["xling_jax"]["target_tokens"] == 12 * 4
    for name in ("transformers", "ctranslate2"):
        assert "cannot export the model" in out["engines"][name]["skipped"] and "pre_ln" in out["engines"][name]["skipped"]


@pytest.mark.parametrize("args, words", [
    (["--shape", "tiny"], ["--shape", "--workdir"]),
    (["--tgt", "xx_Zzzz"], ["xx_Zzzz"]),
    (["--length", "0"], ["--length"]),
])
def test_bad_flags_are_one_line_errors(nllb_workdirs, capsys, args, words):
    assert main(["bench", "decode", "--workdir", nllb_workdirs[2], *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("xling: error:") and err.count("\n") == 1 and all(w in err for w in words), err
