"""Sweeps (xling sweep), the run registry (run.json, final.json) and xling compare."""
import json
import os
import shlex
import shutil

import pytest
from conftest import TINY_CONFIG

from xling_jax.cli.main import main
from xling_jax.errors import UserError
from xling_jax.sweeps import compare, sweep
from xling_jax.training import run_record

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_grid_zipped_seeds_product():
    assert sweep.grid(a=[1, 2], b=["x", "y"]) == [{"a": 1, "b": "x"}, {"a": 1, "b": "y"},
                                                  {"a": 2, "b": "x"}, {"a": 2, "b": "y"}]
    assert sweep.zipped(a=[1, 2], b=[3, 4]) == [{"a": 1, "b": 3}, {"a": 2, "b": 4}]
    assert sweep.seeds(2, start=5) == [{"seed": 5}, {"seed": 6}]
    assert sweep.product(sweep.grid(**{"model.pre_ln": [True, False]}), sweep.seeds(2)) == [
        {"model.pre_ln": True, "seed": 0}, {"model.pre_ln": True, "seed": 1},
        {"model.pre_ln": False, "seed": 0}, {"model.pre_ln": False, "seed": 1}]
    with pytest.raises(UserError, match="differ in length"):
        sweep.zipped(a=[1, 2], b=[3])
    with pytest.raises(UserError, match="seed set by two"):
        sweep.product(sweep.seeds(2), sweep.seeds(3))
    with pytest.raises(UserError, match="must be a list"):
        sweep.grid(a="abc")


def test_run_names():
    runs = [{"model.pre_ln": False, "data.temperature": 5.0, "seed": 1},
            {"data.mixture": ("bible:en-es", "libreoffice_help:en-de"), "decode.temperature": 0.5}]
    assert sweep.run_names(runs) == ["pre_ln=false,data.temperature=5.0,seed=1",
                                     "mixture=bible_en-es+libreoffice_help_en-de,decode.temperature=0.5"]
    with pytest.raises(UserError, match="more than once"):
        sweep.run_names([{"seed": 1}, {"seed": 1}])


def test_print_commands(capsys, tmp_path):
    path = os.path.join(ROOT, "experiments", "ablations", "pre_ln.py")
    assert main(["sweep", path, "--print-commands", "--root", str(tmp_path / "r"), "--config.train.steps=7"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines == [shlex.join(["xling", "sweep", path, "--root", str(tmp_path / "r"), "--run", f"pre_ln={p},seed={s}",
                                 "--config.train.steps=7"]) for p in ("true", "false") for s in range(3)]
    # The size argument reaches get_config; what the sweep varies cannot be overridden for all runs.
    assert main(["sweep", path + ":real", "--print-commands"]) == 0
    assert "pre_ln.py:real --root" in capsys.readouterr().out
    assert main(["sweep", path, "--print-commands", "--config.model.pre_ln=true"]) == 2
    assert "what the sweep varies" in capsys.readouterr().err


def _tiny_sweep_file(tmp_path) -> str:
    path = tmp_path / "tiny_sweep.py"
    path.write_text(f"""
from xling_jax.configs.loading import load_config_file
from xling_jax.sweeps.sweep import seeds

def get_config():
    c = load_config_file({TINY_CONFIG!r})
    c.train.steps, c.eval_every, c.checkpoint_every = 2, 2, 2
    c.data.directions = ("en-es",)
    c.decode.method = "greedy"
    c.final_eval.limit = 4
    return c

def get_sweep():
    return seeds(2)
""")
    return str(path)


def test_sweep_runs_records_and_resumes(tmp_path, tiny_tokenizer, capsys):
    root = tmp_path / "root"
    s = sweep.load(_tiny_sweep_file(tmp_path), {"train.warmup_steps": "1"})
    assert [r.name for r in s.runs] == ["seed=0", "seed=1"]
    for r in s.runs:  # the tokenizer is trained once per test session, not per run
        (root / r.name).mkdir(parents=True)
        shutil.copy(tiny_tokenizer, root / r.name / "tokenizer.model")
    assert sweep.run_sweep(s, str(root)) == {"seed=0": "done", "seed=1": "done"}

    run_dir = root / "seed=1"
    record = run_record.read_run(str(run_dir))
    assert record["start_step"] == 0 and "previous" not in record
    assert set(record["code"]) == {"commit", "dirty", "source"} and len(record["code"]["commit"]) == 40
    env = record["environment"]
    assert env["backend"] == "cpu" and env["device_count"] >= 1 and env["process_count"] == 1
    assert {"jax", "jaxlib", "flax", "optax", "orbax-checkpoint"} <= {k for k, v in env["packages"].items() if v}
    final = run_record.read_final(str(run_dir))
    assert final["step"] == 2 and final["dev"]["step"] == 2 and final["tokens_per_s"] > 0
    test = final["test"]["directions"]["en-es"]
    assert final["test"]["bleu"] == test["bleu"] and test["sentences"] == 4
    for key in ("hyp", "ref"):
        with open(run_dir / test[key], encoding="utf-8") as f:
            assert len(f.read().splitlines()) == 4
    assert json.load(open(root / "sweep.json"))["runs"][1] == {"name": "seed=1", "overrides": {"seed": 1}}

    # Interrupted before seed=1 was scored: only seed=1 runs again (its training is done: scoring only).
    kept = (root / "seed=0" / "final.json").read_text()
    os.remove(run_dir / "final.json")
    assert sweep.run_sweep(s, str(root)) == {"seed=0": "skipped", "seed=1": "done"}
    assert (root / "seed=0" / "final.json").read_text() == kept
    assert run_record.read_final(str(run_dir))["test"]["directions"]["en-es"]["sentences"] == 4
    assert "previous" not in run_record.read_run(str(run_dir))  # no training attempt was recorded

    # Two seeds of one configuration: one row, two seeds, no p-value (it is the baseline).
    report = compare.compare([str(root)], None, str(tmp_path / "cmp"), n_samples=50, echo=False)
    assert report["differing_keys"] == [] and report["groups"][0]["seeds"] == [0, 1]


def _fake_run(workdir, pre_ln: bool, emb_dim: int, seed: int, hyps, refs, test_bleu, dev_bleu, tokens_per_s):
    """A run folder as train + sweep write it, with made-up numbers."""
    os.makedirs(os.path.join(workdir, "eval", "test"))
    config = {"seed": seed, "model": {"pre_ln": pre_ln, "emb_dim": emb_dim}, "data": {"data_dir": f"/d{seed}"}}
    with open(os.path.join(workdir, "config.json"), "w") as f:
        json.dump(config, f)
    rows = [{"step": s, "kind": "train", "loss": 5.0 - s - seed, "tokens_per_s": tokens_per_s, "steps_per_s": 2.0}
            for s in (1, 2, 3, 4)]
    rows += [{"step": s, "kind": "eval", "dev_loss": 4.0 - s, "dev_bleu": dev_bleu * s / 4} for s in (2, 4)]
    with open(os.path.join(workdir, "metrics.jsonl"), "w") as f:
        f.writelines(json.dumps(r) + "\n" for r in rows)
    for name, lines in (("en-es.hyp", hyps), ("en-es.ref", refs)):
        with open(os.path.join(workdir, "eval", "test", name), "w") as f:
            f.writelines(line + "\n" for line in lines)
    direction = {"bleu": test_bleu, "chrf": test_bleu + 10, "tgt": "es", "sentences": len(refs),
                 "hyp": "eval/test/en-es.hyp", "ref": "eval/test/en-es.ref"}
    final = {**run_record.train_summary(rows), "test": {"bleu": test_bleu, "chrf": test_bleu + 10,
                                                      "directions": {"en-es": direction}}}
    with open(os.path.join(workdir, "final.json"), "w") as f:
        json.dump(final, f)


def test_compare_synthetic_runs(tmp_path, capsys):
    refs = [f"la casa {i} es muy grande y el perro {i} duerme en el jardín" for i in range(40)]
    poor = [f"el gato {i} come" for i in range(40)]
    root = tmp_path / "runs"
    # Baseline (pre-LN) with poor output; post-LN copies the references; a third group repeats the baseline's
    # output exactly. Seeds 0 and 1 each, made-up BLEU and throughput.
    for seed in (0, 1):
        _fake_run(str(root / f"a_pre_{seed}"), True, 8, seed, poor, refs, 10.0 + 2 * seed, 1.0, 100.0 + 20 * seed)
        _fake_run(str(root / f"b_post_{seed}"), False, 8, seed, refs, refs, 90.0 + seed, 3.0, 200.0)
        _fake_run(str(root / f"c_wide_{seed}"), True, 16, seed, poor, refs, 10.0, 1.0, 50.0)
    out = tmp_path / "report"
    assert main(["compare", str(root), "--baseline", str(root / "a_pre_0"), "--out", str(out),
                 "--samples", "200"]) == 0
    assert "xling compare" in capsys.readouterr().out  # the terminal table

    report = json.load(open(out / "report.json"))
    assert report["differing_keys"] == ["model.emb_dim", "model.pre_ln"]  # not seed, not data.data_dir
    pre, post, wide = report["groups"]
    assert pre["label"] == "emb_dim=8, pre_ln=true" and pre["baseline"] and pre["seeds"] == [0, 1]
    assert pre["stats"]["test_bleu"] == pytest.approx({"mean": 11.0, "std": 2 ** 0.5, "n": 2})
    assert pre["stats"]["tokens_per_s"] == pytest.approx({"mean": 110.0, "std": 200 ** 0.5, "n": 2})
    assert pre["stats"]["train_loss"]["mean"] == pytest.approx(0.5)  # last train rows: 1.0 and 0.0
    assert post["stats"]["test_bleu"]["mean"] == pytest.approx(90.5)
    assert pre["p_values"] is None
    assert 0 < post["p_values"]["bleu"] < 0.05 and 0 < post["p_values"]["chrf"] < 0.05
    assert wide["p_values"] == {"bleu": 1.0, "chrf": 1.0}  # identical output: no difference can be smaller
    assert post["p_values_per_direction"]["en-es"] == post["p_values"]

    md = (out / "report.md").read_text()
    assert "| emb_dim=8, pre_ln=true  | 8         | true     | 2       |" in md
    assert "11.00 ± 1.41" in md and "90.50 ± 0.71" in md and "110 ± 14" in md and "baseline" in md
    assert "<table>" in (out / "report.html").read_text()
    for png in ("train_loss_vs_steps.png", "train_loss_vs_time.png", "dev_bleu_vs_steps.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"]({png})" in md


def test_pair_runs_by_seed():
    def run(seed):
        return compare.RunRecord(f"/r{seed}", {"seed": seed}, {}, {}, [], {})
    base = [run(0), run(1), run(2)]
    assert [(b.seed, o.seed) for b, o in compare.pair_runs(base, [run(2), run(1)])] == [(2, 2), (1, 1)]
    assert [(b.seed, o.seed) for b, o in compare.pair_runs(base, [run(7), run(8)])] == [(0, 7), (1, 8)]


def test_sweep_parallel_then_one_run_by_name(tmp_path, tiny_tokenizer, capsys):
    path, root = _tiny_sweep_file(tmp_path), tmp_path / "root"
    for name in ("seed=0", "seed=1"):
        (root / name).mkdir(parents=True)
        shutil.copy(tiny_tokenizer, root / name / "tokenizer.model")
    # No test-split scoring (test_sweep_runs_records_and_resumes has it): two runs' training at once
    # is what this checks, and decoding would add a compile to each.
    flags = ["--root", str(root), "--config.train.warmup_steps=1", "--config.final_eval.split="]
    assert main(["sweep", path, *flags, "--parallel", "2"]) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("[sweep]")]
    started = [i for i, line in enumerate(lines) if ": started (pid" in line]
    finished = [i for i, line in enumerate(lines) if ": done in" in line]
    assert len(started) == len(finished) == 2 and max(started) < min(finished), lines  # both at once
    for name in ("seed=0", "seed=1"):
        final = run_record.read_final(str(root / name))
        assert final["step"] == 2 and final["dev"]["step"] == 2 and final["tokens_per_s"] > 0, name
        assert run_record.read_run(str(root / name))["argv"][-4:] == ["--run", name, *flags[-2:]]
        assert "step 2/2" in (root / name / sweep.LOG_FILE).read_text()  # its subprocess's output

    # --run NAME: that run alone (here its final.json was lost); the other's final.json is untouched.
    kept = (root / "seed=0" / "final.json").read_text()
    os.remove(root / "seed=1" / "final.json")
    assert main(["sweep", path, *flags, "--run", "seed=1"]) == 0
    assert capsys.readouterr().out.strip().splitlines()[-1] == "[sweep] seed=1: done"
    assert run_record.read_final(str(root / "seed=1"))["step"] == 2
    assert (root / "seed=0" / "final.json").read_text() == kept
    assert main(["sweep", path, *flags, "--run", "seed=0"]) == 0
    assert capsys.readouterr().out.strip().splitlines()[-1] == "[sweep] seed=0: skipped"

    assert main(["sweep", path, *flags, "--run", "seed=7"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("xling: error: --run 'seed=7' is not in ") and err.endswith("its runs: seed=0, seed=1")
    assert "\n" not in err and not (root / "seed=7").exists()


def test_run_json_keeps_earlier_attempts_under_previous(tiny_workdir):
    from xling_jax.configs.loading import load_config_file
    from xling_jax.training.train import train_and_evaluate
    config = load_config_file(TINY_CONFIG)
    config.train.steps, config.checkpoint_every, config.eval_every = 2, 1, 2
    train_and_evaluate(config, tiny_workdir)
    first = run_record.read_run(tiny_workdir)
    assert first["start_step"] == 0 and "previous" not in first
    shutil.rmtree(os.path.join(tiny_workdir, "checkpoints", "2"))  # killed before its step-2 checkpoint
    train_and_evaluate(config, tiny_workdir)
    second = run_record.read_run(tiny_workdir)
    assert second["start_step"] == 1 and second["previous"] == [first]
    assert {"started", "argv", "code", "environment"} <= set(second)
    # A rerun of a finished run trains nothing and records no attempt.
    train_and_evaluate(config, tiny_workdir)
    assert run_record.read_run(tiny_workdir) == second
    # A third attempt lists both earlier ones, oldest first, each as written (not nested in the next).
    third = run_record.record_start(tiny_workdir, 1)
    assert third["previous"] == [first, {k: v for k, v in second.items() if k != "previous"}]
    assert run_record.read_run(tiny_workdir) == third
