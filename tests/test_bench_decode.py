"""`xling bench decode` on a tiny shape: the engines decode the same exported weights to the same tokens."""
import json

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("ctranslate2")

from xling_jax.cli.main import main


def test_engines_agree_and_report_tokens_per_second(tiny_workdir, capsys):
    assert main(["bench", "decode", "--shape", "tiny", "--sentences", "12", "--threads", "1",
                 "--tokenizer_from", tiny_workdir]) == 0
    out = json.loads(capsys.readouterr().out)
    engines = out["engines"]
    assert set(engines) == {"xling_jax", "transformers", "ctranslate2_fp32", "ctranslate2_int8"}
    assert out["sentences"] == 12 and out["threads"] == 1
    for name, e in engines.items():
        assert e["target_tokens"] == 12 * 8, name  # 8 forced tokens per sentence, EOS not counted
        assert e["tokens_per_s"] > 0
    # Beam search over the same weights: token for token the same as CTranslate2 and Transformers.
    assert engines["ctranslate2_fp32"]["same_output_as_xling"] == 1.0
    assert engines["transformers"]["same_output_as_xling"] == 1.0
    assert set(out["xling_jax_over"]) == {"transformers", "ctranslate2_fp32", "ctranslate2_int8"}
