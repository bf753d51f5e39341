"""Tiny versions of the experiments in experiments/: the same configs and commands, shrunk to seconds."""
import json
import os
import shutil

from conftest import TINY_CONFIG

from xling_jax.cli.main import main
from xling_jax.configs.loading import load_config_file
from xling_jax.training.train import train_and_evaluate

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def experiment(name: str, **overrides):
    """An experiment config with the tiny config's sizes and schedule (its own data and tasks kept)."""
    c, tiny = load_config_file(os.path.join(ROOT, "experiments", name)), load_config_file(TINY_CONFIG)
    for section in ("model", "train"):
        for key in ("emb_dim", "num_heads", "num_layers", "mlp_dim", "batch_size", "warmup_steps"):
            if key in tiny[section]:
                c[section][key] = tiny[section][key]
    c.data.max_len, c.tokenizer.max_sentences = tiny.data.max_len, tiny.tokenizer.max_sentences
    c.train.steps, c.checkpoint_every, c.eval_every, c.eval_batches = 3, 3, 3, 2
    c.eval_bleu = False  # `xling eval` below decodes; dev BLEU during training is tested elsewhere
    for k, v in overrides.items():
        section, key = k.split(".")
        c[section][key] = v
    return c


def test_low_resource_scratch_vs_pretrained(tmp_path, tiny_tokenizer, capsys):
    pre = experiment("lowres_pretrain.py")
    pre.data.mixture = ("bible:en-es",)  # (the real run adds libreoffice_help's languages)
    pre_dir = tmp_path / "pretrain"
    pre_dir.mkdir()
    shutil.copy(tiny_tokenizer, pre_dir / "tokenizer.model")
    train_and_evaluate(pre, str(pre_dir))

    fine = experiment("lowres_en_es.py", **{"data.train_pairs": 200, "tokenizer.vocab_size": 500})
    assert fine.data.directions == ("en-es",) and fine.init_from.workdir == ""
    train_and_evaluate(fine, str(tmp_path / "scratch"))
    fine.init_from.workdir = str(pre_dir)
    train_and_evaluate(fine, str(tmp_path / "pretrained"))
    # The pretrained run adopted the pretraining vocabulary; the scratch run learnt one from its 200 pairs.
    with open(pre_dir / "tokenizer.model", "rb") as a, open(tmp_path / "pretrained" / "tokenizer.model", "rb") as b:
        assert a.read() == b.read()
    assert os.path.getsize(tmp_path / "scratch" / "tokenizer.model") < os.path.getsize(pre_dir / "tokenizer.model")

    args = ["--split", "test", "--limit", "10", "--greedy"]
    assert main(["eval", "--workdir", str(tmp_path / "scratch")] + args) == 0
    capsys.readouterr()
    assert main(["eval", "--workdir", str(tmp_path / "pretrained")] + args + ["--compare", str(tmp_path / "scratch")]) == 0
    result = json.loads(capsys.readouterr().out)
    compare = result["directions"]["en-es"]["compare"]
    assert set(result["directions"]) == {"en-es"} and 0 <= compare["bleu"]["p_value"] <= 1
    assert {"this", "other", "difference", "p_value"} <= set(compare["chrf"])


def test_low_resource_t5_configs_share_the_model():
    """experiments/lowres_t5_*.py: the fine-tuning runs have the pretraining run's T5 v1.1-shaped model (what
    init_from needs) with their own dropout, and the pretraining vocabulary has the task's sentinels."""
    pre = load_config_file(os.path.join(ROOT, "experiments", "lowres_t5_pretrain.py"))
    fine = load_config_file(os.path.join(ROOT, "experiments", "lowres_t5_en_es.py"))
    assert pre.tasks == ("t5:1",) and pre.objective.t5_sentinels <= pre.tokenizer.sentinels
    assert (pre.model.norm, pre.model.positions, pre.model.mlp_gated, pre.model.scale_attention) == (
        "rms", "relative", True, False)
    dropout = ("dropout_rate", "attention_dropout_rate")
    strip = lambda m: {k: v for k, v in m.to_dict().items() if k not in dropout}
    assert strip(fine.model) == strip(pre.model) and fine.model.dropout_rate == 0.3
    assert fine.data.train_pairs == 2000 and fine.data.directions == ("en-es",) and fine.init_from.workdir == ""


def test_prune_experiment_fine_tunes_the_main_job_to_its_sparsity():
    """experiments/prune_bible_en_es.py: a valid config that starts from the main job and prunes over the
    first two thirds of its steps (the mechanics are tests/test_pruning.py's)."""
    from xling_jax.training.validate import validate
    c = load_config_file(os.path.join(ROOT, "experiments", "prune_bible_en_es.py"))
    validate(c)
    assert c.init_from.workdir == "runs/bible_en_es" and c.train.prune.sparsity > 0
    assert c.train.prune.start_step < c.train.prune.end_step < c.train.steps


def test_distill_experiment_students_are_half_the_teacher():
    """experiments/distill_bible_en_es.py: valid student configs, half the default model's width, on the
    references, the distilled pairs, or both half and half (the mechanics are tests/test_distillation.py's)."""
    from xling_jax.configs.default import get_config as default_config
    from xling_jax.training.validate import validate
    path = os.path.join(ROOT, "experiments", "distill_bible_en_es.py")
    teacher = default_config().model
    mixtures = {}
    for student in ("refs", "distilled", "mixed"):
        c = load_config_file(f"{path}:{student}")
        validate(c)
        assert (c.model.emb_dim, c.model.mlp_dim) == (teacher.emb_dim // 2, teacher.mlp_dim // 2)
        assert c.model.num_layers < teacher.num_layers and c.train.steps == default_config().train.steps
        mixtures[student] = (c.data.mixture, c.data.distill_ratio)
    kd = ("parallel_text/bible_kd:en-es", "parallel_text/bible_kd:es-en")
    assert mixtures == {"refs": ((), 0.0), "distilled": (kd, 0.0), "mixed": (("bible:en-es", *kd), 0.5)}


def test_retrieval_experiments_are_valid_retrieval_runs():
    """experiments/retrieval_*.py: retrieval runs (the task's mechanics are tests/test_retrieval_task.py's)
    on one direction per language pair, with negatives from whole batches."""
    from xling_jax.retrieval.train import check_config
    for name, pairs in (("retrieval_bible.py", 1), ("retrieval_libreoffice.py", 10)):
        c = load_config_file(os.path.join(ROOT, "experiments", name))
        check_config(c)
        assert c.tasks == ("retrieval:1",) and len(c.data.directions) == pairs and c.train.batch_size >= 32
        assert len({frozenset(d.split("-")) for d in c.data.directions}) == pairs


def test_augmentation_sweep_is_four_configurations_by_three_seeds():
    """experiments/lowres_augment.py: none, sampling, noise and both on the low-resource base, seeds 0-2."""
    from xling_jax.sweeps import sweep as sweep_lib
    from xling_jax.training.validate import validate
    s = sweep_lib.load(os.path.join(ROOT, "experiments", "lowres_augment.py"))
    assert len(s.runs) == 12 and len({r.name for r in s.runs}) == 12
    settings = set()
    for run in s.runs:
        c = sweep_lib.run_config(s, run)
        validate(c)
        assert c.data.train_pairs == 2000
        settings.add((c.tokenizer.sampling_alpha > 0, c.data.noise.word_dropout > 0))
    assert settings == {(False, False), (True, False), (False, True), (True, True)}
