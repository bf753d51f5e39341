"""The paired bootstrap behind `xling eval --compare` and `xling compare` (evaluation/significance.py),
on the Spanish side of the Bible test books and made-up systems: references with words replaced."""
import os

import numpy as np
import pytest
from sacrebleu.significance import PairedTest

from xling_jax.data import mixture
from xling_jax.errors import UserError
from xling_jax.evaluation import bleu, significance
from xling_jax.sweeps import compare

LINES = 300


@pytest.fixture(scope="module")
def refs(bible_data_dir):
    return bleu.split_pairs(mixture.Direction("bible", "en", "es"), "test", bible_data_dir, LINES)[1]


def noisy(lines: list[str], seed: int, rate: float = 0.4) -> list[str]:
    """A system as good as `rate` allows: each word replaced by a wrong one with that probability."""
    rng = np.random.default_rng(seed)
    return [" ".join("zzz" if rng.random() < rate else w for w in line.split()) for line in lines]


def _compare_p(tmp_path, base_hyps, hyps, refs) -> dict:
    """`xling compare`'s p-values of one run against a baseline run, from their files."""
    records = []
    for name, lines in (("base", base_hyps), ("other", hyps)):
        workdir = tmp_path / name
        os.makedirs(workdir / "eval" / "test")
        for file, text in (("en-es.hyp", lines), ("en-es.ref", refs)):
            (workdir / "eval" / "test" / file).write_text("".join(t + "\n" for t in text), encoding="utf-8")
        test = {"directions": {"en-es": {"tgt": "es", "hyp": "eval/test/en-es.hyp", "ref": "eval/test/en-es.ref"}}}
        records.append(compare.RunRecord(str(workdir), {"seed": 0}, {}, test, [], {}))
    return compare.paired_bootstrap([tuple(records)], ["en-es"], 1000)


def test_identical_outputs_give_p_1_on_both_paths(refs, tmp_path):
    hyps = noisy(refs, 0)
    # sacrebleu alone calls this the most significant result it can: the bug both paths must not have.
    _, table = PairedTest([("other", hyps), ("this", list(hyps))], bleu.metrics("es"), [refs], test_type="bs",
                          n_samples=1000)()
    assert all(col[1].p_value < 0.002 for name, col in table.items() if name != "System")

    result = bleu.compare_runs(hyps, list(hyps), refs, "es")
    for name in ("bleu", "chrf"):
        assert result[name]["difference"] == 0 and result[name]["p_value"] == 1.0
        assert result[name]["this"] == result[name]["other"] == bleu.score(hyps, refs, "es")[name]
    assert _compare_p(tmp_path, hyps, list(hyps), refs) == {"bleu": 1.0, "chrf": 1.0}


def test_equal_statistics_count_as_ties(refs):
    # Different text, same metric statistics (BLEU splits on any whitespace, chrF++ drops it): not a difference.
    hyps = noisy(refs, 0)
    spaced = [h.replace(" ", "  ") for h in hyps]
    assert spaced != hyps
    result = bleu.compare_runs(spaced, hyps, refs, "es")
    assert all(result[m]["difference"] == 0 and result[m]["p_value"] == 1.0 for m in ("bleu", "chrf"))


def test_clearly_better_system(refs, tmp_path):
    shuffled = [refs[i] for i in np.random.default_rng(1).permutation(len(refs))]
    result = bleu.compare_runs(refs, shuffled, refs, "es")
    for name in ("bleu", "chrf"):
        assert result[name]["difference"] > 50 and result[name]["p_value"] < 0.05
    # A less extreme gap too: 40% of the words wrong against 60%.
    assert all(p < 0.05 for p in _compare_p(tmp_path, noisy(refs, 1, 0.6), noisy(refs, 0), refs).values())


def test_small_random_perturbation_is_not_significant(refs, tmp_path):
    # 20 of the lines replaced by another draw of the same noise: some better, some worse.
    hyps, redrawn = noisy(refs, 0), noisy(refs, 1)
    perturbed = [redrawn[i] if i % (LINES // 20) == 0 else h for i, h in enumerate(hyps)]
    result = bleu.compare_runs(perturbed, hyps, refs, "es")
    for name in ("bleu", "chrf"):
        assert abs(result[name]["difference"]) < 0.5 and result[name]["p_value"] > 0.15
    assert _compare_p(tmp_path, hyps, perturbed, refs) == {m: result[m]["p_value"] for m in ("bleu", "chrf")}


def test_untied_p_values_are_sacrebleus(refs):
    # Two equally noisy systems: no resampled statistic ties the observed one, so the p-values are
    # exactly those of sacrebleu's PairedTest (same resamples, same statistic).
    a, b = noisy(refs, 0), noisy(refs, 1)
    _, table = PairedTest([("other", a), ("this", b)], bleu.metrics("es"), [refs], test_type="bs", n_samples=1000)()
    theirs = [col[1].p_value for name, col in table.items() if name != "System"]
    ours = significance.paired_bootstrap(b, a, refs, bleu.metrics("es"))
    assert [ours[m]["p_value"] for m in ("bleu", "chrf")] == theirs
    assert min(theirs) > 0.15  # and equally good systems are not told apart


def test_compare_refuses_hypotheses_cut_short(refs, tmp_path):
    hyps = noisy(refs, 0)
    with pytest.raises(UserError, match=r"other/eval/test/en-es.hyp: 299 lines for 300 references"):
        _compare_p(tmp_path, hyps, hyps[:-1], refs)


def test_p_value_counts_ties():
    assert significance.p_value(np.zeros(999), 0.0) == 1.0
    assert significance.p_value(np.array([0.5, 1.0, 2.0]), 1.0) == 3 / 4
    assert significance.p_value(np.array([0.5, 0.9]), 1.0) == 1 / 3
