"""`xling score` on xling's own models (the Transformer and the LSTM; tests/test_hf.py covers the
pretrained families against Transformers): each line's number is the teacher-forced log-probability
of the target's tokens and EOS, whatever the batch and the padding around it."""
import math

import jax
import numpy as np
import pytest
from conftest import tiny_data_config, untrained_run

from xling_jax.cli.main import main
from xling_jax.decoding.score import Scorer
from xling_jax.training.load import load_run

PAIRS = [("In the beginning God created the heaven and the earth.", "En el principio creó Dios los cielos y la tierra."),
         ("And God said, Let there be light.", "Y dijo Dios: Sea la luz."),
         ("Jesus wept.", "Jesús lloró.")]


def reference(run, src, tgt):
    """log p(target tokens and EOS | source), from one unpadded teacher-forced forward pass."""
    tok, c = run.tokenizer, run.model.cfg
    s = np.asarray([tok.encode_sources([src], "en", "es")[0]], np.int32)
    t = tok.encode_targets([tgt], "es")[0]
    logits = run.model.apply({"params": run.params}, s, np.asarray([[c.decoder_start_id] + t[:-1]], np.int32))
    logp = jax.nn.log_softmax(np.asarray(logits, np.float64)[0])
    return float(sum(logp[i, tok_id] for i, tok_id in enumerate(t)))


@pytest.fixture(scope="module", params=["transformer", "lstm"])
def run(request, tmp_path_factory, tiny_tokenizer):
    config = tiny_data_config()
    config.model.name = request.param
    return load_run(untrained_run(tmp_path_factory.mktemp(request.param) / "run", config, tiny_tokenizer))


def test_scores_are_teacher_forced_log_probabilities_in_any_batch(run):
    expected = [reference(run, s, t) for s, t in PAIRS]
    for batch_size in (1, 2):  # other neighbours and other padding: the same numbers
        got = Scorer(run.model, run.params, run.tokenizer, batch_size).score(PAIRS, "es", "en")
        np.testing.assert_allclose(got, expected, rtol=1e-5)
    assert all(x < 0 for x in expected) and len(set(np.round(expected, 3))) == 3


def test_score_cli_writes_one_number_per_line(run, tmp_path, capsys):
    path = tmp_path / "pairs.tsv"
    path.write_text("".join(f"{s}\t{t}\n" for s, t in PAIRS[:2]) + "a line without a tab\n" + f"{PAIRS[2][0]}\t\n",
                    encoding="utf-8")
    out = tmp_path / "scores.txt"
    assert main(["score", "--workdir", run.workdir, "--src", "en", "--tgt", "es", "--input", str(path),
                 "--output", str(out)]) == 0
    lines = out.read_text().splitlines()
    assert len(lines) == 4 and lines[2] == "nan" and "line 3" in capsys.readouterr().err
    np.testing.assert_allclose([float(x) for x in lines[:2]], [reference(run, s, t) for s, t in PAIRS[:2]], rtol=1e-5)
    # An empty target is scored: the probability of EOS alone.
    assert math.isclose(float(lines[3]), reference(run, PAIRS[2][0], ""), rel_tol=1e-5)
    assert main(["score", "--workdir", run.workdir, "--src", "en", "--tgt", "xx"]) == 2
