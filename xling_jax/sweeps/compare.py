"""`xling compare`: runs grouped by configuration, mean ± std over seeds, paired bootstrap, plots.

Runs whose configs are equal once the seed (and bookkeeping keys that cannot change results, see
IGNORED_KEYS) is set aside form one configuration (a row); the config keys that differ between
rows are its columns. Numbers come from each run's final.json (experiments/run_record.py) and
metrics.jsonl; std is the sample standard deviation (n - 1) over seeds.

Significance: paired bootstrap resampling (Koehn 2004; evaluation/significance.py: sacrebleu's test
with ties counted, the one `xling eval --compare` uses; 1,000 resamples; two-sided) of each
configuration's test hypotheses against the baseline's. With several seeds the runs are paired by
seed value (seed s of one configuration with seed s of the other; where no seed matches, in seed
order) and the paired runs' hypotheses are concatenated, each copy of the test set against its
references, into one corpus per configuration: the test asks whether the configuration is better on
the seeds together, resampling sentences of that pooled corpus. Directions are pooled the same way
(one p-value per metric; separately per BLEU tokenizer where Chinese targets use another), and each
direction also gets its own p-value in the per-direction table.
"""
import dataclasses
import html
import json
import os
import sys

import numpy as np

from xling_jax.errors import UserError
from xling_jax.evaluation import bleu  # not this module's significance()
from xling_jax.evaluation import significance as test_lib
from xling_jax.sweeps import sweep as sweep_lib
from xling_jax.training import metrics as metrics_lib
from xling_jax.training import run_record

# Keys that do not change what a run learns or scores: not a difference between configurations.
IGNORED_KEYS = ("seed", "data.data_dir", "data.prefetch", "checkpoint_every", "keep_checkpoints", "log_every",
                "decode.batch_size")
# (report column, where in the run's summary, format)
COLUMNS = (("dev BLEU", "dev_bleu", ".2f"), ("dev chrF++", "dev_chrf", ".2f"), ("test BLEU", "test_bleu", ".2f"),
           ("test chrF++", "test_chrf", ".2f"), ("dev loss", "dev_loss", ".3f"), ("train loss", "train_loss", ".3f"),
           ("tokens/s", "tokens_per_s", ",.0f"))
PLOTS = {"train_loss_vs_steps.png": ("train", "step", "loss", "steps", "train loss"),
         "train_loss_vs_time.png": ("train", "seconds", "loss", "training time (s, evaluation excluded)",
                                    "train loss"),
         "dev_bleu_vs_steps.png": ("eval", "step", "dev_bleu", "steps", "dev BLEU"),
         "dev_loss_vs_steps.png": ("eval", "step", "dev_loss", "steps", "dev loss")}


@dataclasses.dataclass
class RunRecord:
    workdir: str
    config: dict  # flattened: dotted key -> value
    summary: dict  # COLUMNS' keys -> number
    test: dict  # final.json's test section ({} when not scored)
    rows: list  # metrics.jsonl
    run: dict  # run.json ({} for runs from before run records)

    @property
    def seed(self):
        return self.config.get("seed")


@dataclasses.dataclass
class Group:
    label: str
    values: dict  # differing key -> value
    runs: list


def flatten(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(flatten(v, f"{prefix}{k}."))
        else:
            out[prefix + k] = tuple(v) if isinstance(v, list) else v
    return out


def find_runs(dirs: list[str]) -> list[str]:
    """Run workdirs (folders with config.json) in or under `dirs`: a sweep root's in its sweep.json
    order, the rest sorted by path."""
    found = []
    for d in dirs:
        if not os.path.isdir(d):
            raise UserError(f"{d} is not a folder: pass run workdirs or sweep roots")
        if os.path.isfile(os.path.join(d, "config.json")):
            found.append(d)
            continue
        manifest = os.path.join(d, sweep_lib.SWEEP_FILE)
        ordered = []
        if os.path.isfile(manifest):
            with open(manifest, encoding="utf-8") as f:
                ordered = [os.path.join(d, r["name"]) for r in json.load(f)["runs"]]
        under = []
        for top, subdirs, files in os.walk(d):
            if "config.json" in files:
                under.append(top)
                subdirs.clear()  # a run's own folders hold no runs
            subdirs.sort()
        found += [w for w in ordered if w in under] + [w for w in sorted(under) if w not in ordered]
    found = list(dict.fromkeys(os.path.abspath(w) for w in found))
    if not found:
        raise UserError(f"no runs (folders with config.json) in {', '.join(dirs)}")
    return found


def load_run_record(workdir: str) -> RunRecord:
    with open(os.path.join(workdir, "config.json"), encoding="utf-8") as f:
        config = flatten(json.load(f))
    rows = metrics_lib.read(workdir)
    final = run_record.read_final(workdir) or run_record.train_summary(rows)
    dev = final.get("dev", {})
    test = final.get("test", {})
    summary = {"dev_bleu": dev.get("dev_bleu"), "dev_chrf": dev.get("dev_chrf"), "dev_loss": dev.get("dev_loss"),
               "test_bleu": test.get("bleu"), "test_chrf": test.get("chrf"),
               "train_loss": final.get("train_loss"), "tokens_per_s": final.get("tokens_per_s")}
    return RunRecord(workdir, config, {k: v for k, v in summary.items() if v is not None}, test, rows,
                     run_record.read_run(workdir) or {})


def _short_names(keys: list[str]) -> dict:
    last = [k.rsplit(".", 1)[-1] for k in keys]
    return {k: (s if last.count(s) == 1 else k) for k, s in zip(keys, last)}


def group_runs(runs: list[RunRecord]) -> tuple[list[Group], list[str]]:
    """Groups (in first-seen order) of runs with equal configs but for IGNORED_KEYS, and the keys that
    differ between groups."""
    by_key = {}
    for r in runs:
        key = json.dumps({k: v for k, v in r.config.items() if k not in IGNORED_KEYS}, sort_keys=True, default=str)
        by_key.setdefault(key, []).append(r)
    members = list(by_key.values())
    keys = sorted({k for rs in members for k in rs[0].config} - set(IGNORED_KEYS))
    differing = [k for k in keys if len({json.dumps(rs[0].config.get(k), default=str) for rs in members}) > 1]
    short = _short_names(differing)
    groups = []
    for rs in members:
        values = {k: rs[0].config.get(k) for k in differing}
        label = ", ".join(f"{short[k]}={sweep_lib.override_text(v)}" for k, v in values.items()) or "all runs"
        groups.append(Group(label, values, sorted(rs, key=lambda r: (r.seed is None, r.seed or 0, r.workdir))))
    return groups, differing


def stats(values: list[float]) -> dict:
    """{mean, std (n - 1; None for one value), n}."""
    if not values:
        return {"mean": None, "std": None, "n": 0}
    a = np.asarray(values, float)
    return {"mean": float(a.mean()), "std": float(a.std(ddof=1)) if len(a) > 1 else None, "n": len(a)}


def pair_runs(base: list[RunRecord], other: list[RunRecord]) -> list[tuple[RunRecord, RunRecord]]:
    """Seed-matched (baseline run, other run) pairs; in seed order where no seed matches."""
    base_by_seed = {r.seed: r for r in base}
    matched = [(base_by_seed[r.seed], r) for r in other if r.seed in base_by_seed]
    return matched or list(zip(base, other))


def _read_lines(workdir: str, rel: str) -> list[str]:
    with open(os.path.join(workdir, rel), encoding="utf-8") as f:
        return f.read().split("\n")[:-1]


def paired_bootstrap(pairs: list[tuple[RunRecord, RunRecord]], directions: list[str], n_samples: int) -> dict:
    """{metric: p-value} of the other runs against the baseline runs, pooled over the pairs and the
    given test directions (one BLEU tokenizer among them)."""
    base_hyps, hyps, refs, tgt = [], [], [], None
    for b, o in pairs:
        for key in directions:
            bd, od = b.test["directions"][key], o.test["directions"][key]
            r = _read_lines(b.workdir, bd["ref"])
            if _read_lines(o.workdir, od["ref"]) != r:
                raise UserError(f"{b.workdir} and {o.workdir} were scored on different {key} references "
                                f"(final_eval.limit or data differ); they cannot be compared pairwise")
            for run, d, into in ((b, bd, base_hyps), (o, od, hyps)):
                lines = _read_lines(run.workdir, d["hyp"])
                if len(lines) != len(r):  # resampling would pair sentences with other references
                    raise UserError(f"{os.path.join(run.workdir, d['hyp'])}: {len(lines)} lines for {len(r)} "
                                    "references (changed after scoring?); delete that run's final.json and rerun "
                                    "xling sweep to score it again")
                into += lines
            refs += r
            tgt = bd["tgt"]
    tests = test_lib.paired_bootstrap(hyps, base_hyps, refs, bleu.metrics(tgt), n_samples)
    return {name: t["p_value"] for name, t in tests.items()}


def significance(groups: list[Group], baseline: int, n_samples: int) -> tuple[dict, dict]:
    """({group index: {metric: p}} pooled over directions, {group index: {direction: {metric: p}}})."""
    pooled, per_direction = {}, {}
    base_runs = [r for r in groups[baseline].runs if r.test.get("directions")]
    for i, g in enumerate(groups):
        runs = [r for r in g.runs if r.test.get("directions")]
        if i == baseline or not runs or not base_runs:
            continue
        pairs = pair_runs(base_runs, runs)
        keys = [k for k in pairs[0][0].test["directions"] if all(k in o.test["directions"] and
                                                                 k in b.test["directions"] for b, o in pairs)]
        per_direction[i] = {k: paired_bootstrap(pairs, [k], n_samples) for k in keys}
        by_tokenizer = {}
        for k in keys:
            by_tokenizer.setdefault(bleu.bleu_tokenizer(pairs[0][0].test["directions"][k]["tgt"]), []).append(k)
        if len(by_tokenizer) == 1:
            pooled[i] = per_direction[i][keys[0]] if len(keys) == 1 else paired_bootstrap(pairs, keys, n_samples)
        else:  # BLEU with different tokenizers cannot pool: one p per tokenizer, the largest reported
            ps = [paired_bootstrap(pairs, ks, n_samples) for ks in by_tokenizer.values()]
            pooled[i] = {m: max(p[m] for p in ps) for m in ps[0]}
    return pooled, per_direction


def curves(group: Group, kind: str, x: str, y: str) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """(x, mean y, std y) over the group's runs at the steps all of them logged `y` at."""
    series = []
    for r in group.runs:
        rows = [row for row in r.rows if row.get("kind", "train") == kind and y in row]
        if not rows:
            return None
        xs = run_record.train_seconds(rows) if x == "seconds" else np.array([row["step"] for row in rows], float)
        series.append({row["step"]: (xv, row[y]) for row, xv in zip(rows, xs)})
    steps = sorted(set.intersection(*(set(s) for s in series)))
    if not steps:
        return None
    xs = np.array([[s[t][0] for t in steps] for s in series])
    ys = np.array([[s[t][1] for t in steps] for s in series])
    return xs.mean(0), ys.mean(0), ys.std(0, ddof=1) if len(series) > 1 else np.zeros(len(steps))


def plot(groups: list[Group], out_dir: str) -> list[str]:
    """The PLOTS that have data, one line per configuration (mean over seeds, ± std shaded)."""
    import matplotlib
    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt
    written = []
    for filename, (kind, x, y, xlabel, ylabel) in PLOTS.items():
        lines = [(g.label, curves(g, kind, x, y)) for g in groups]
        if not any(c is not None for _, c in lines):
            continue
        fig, ax = plt.subplots(figsize=(7, 4.5))
        for label, c in lines:
            if c is None:
                continue
            xs, mean, std = c
            (line,) = ax.plot(xs, mean, label=label, marker="o" if len(xs) < 12 else None)
            ax.fill_between(xs, mean - std, mean + std, color=line.get_color(), alpha=0.2)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        ax.legend()
        fig.tight_layout()
        fig.savefig(os.path.join(out_dir, filename), dpi=100)
        plt.close(fig)
        written.append(filename)
    return written


def _cell(s: dict, fmt: str) -> str:
    if s["mean"] is None:
        return "—"
    return format(s["mean"], fmt) + ("" if s["std"] is None else " ± " + format(s["std"], fmt))


def _p_cell(p: dict | None, metric: str, is_baseline: bool) -> str:
    if is_baseline:
        return "baseline"
    return "—" if not p else f"{p[metric]:.4f}"


def compare(dirs: list[str], baseline: str | None, out_dir: str, n_samples: int = 1000, echo: bool = True) -> dict:
    """Writes OUT/report.md, report.html, report.json and the PNG plots; returns report.json's content."""
    runs = [load_run_record(w) for w in find_runs(dirs)]
    groups, differing = group_runs(runs)
    base = 0
    if baseline:
        target = os.path.abspath(baseline)
        hits = [i for i, g in enumerate(groups) if any(r.workdir == target for r in g.runs)]
        if not hits:
            raise UserError(f"--baseline {baseline} is not one of the compared runs")
        base = hits[0]
    pooled, per_direction = significance(groups, base, n_samples)
    os.makedirs(out_dir, exist_ok=True)
    plots = plot(groups, out_dir)

    short = _short_names(differing)
    header = ["configuration"] + [short[k] for k in differing] + ["seeds"]
    header += [c for c, _, _ in COLUMNS[:4]] + ["p BLEU", "p chrF++"] + [c for c, _, _ in COLUMNS[4:]]
    table, report_groups = [], []
    for i, g in enumerate(groups):
        st = {key: stats([r.summary[key] for r in g.runs if key in r.summary]) for _, key, _ in COLUMNS}
        cells = {c: _cell(st[key], fmt) for c, key, fmt in COLUMNS}
        row = [g.label] + [sweep_lib.override_text(g.values[k]) for k in differing] + [str(len(g.runs))]
        row += [cells[c] for c, _, _ in COLUMNS[:4]]
        row += [_p_cell(pooled.get(i), "bleu", i == base), _p_cell(pooled.get(i), "chrf", i == base)]
        row += [cells[c] for c, _, _ in COLUMNS[4:]]
        table.append(row)
        report_groups.append({"label": g.label, "values": g.values, "runs": [r.workdir for r in g.runs],
                              "seeds": [r.seed for r in g.runs], "stats": st, "p_values": pooled.get(i),
                              "p_values_per_direction": per_direction.get(i), "baseline": i == base})
    direction_rows = []
    for i, g in enumerate(groups):
        keys = list(dict.fromkeys(k for r in g.runs for k in r.test.get("directions", {})))
        for k in keys:
            b = stats([r.test["directions"][k]["bleu"] for r in g.runs if k in r.test.get("directions", {})])
            c = stats([r.test["directions"][k]["chrf"] for r in g.runs if k in r.test.get("directions", {})])
            p = per_direction.get(i, {}).get(k)
            direction_rows.append([g.label, k, _cell(b, ".2f"), _cell(c, ".2f"), _p_cell(p, "bleu", i == base),
                                   _p_cell(p, "chrf", i == base)])
    direction_header = ["configuration", "direction", "test BLEU", "test chrF++", "p BLEU", "p chrF++"]

    commits = sorted({f"{r.run['code']['commit'][:12]}{' (dirty)' if r.run['code']['dirty'] else ''}"
                      for r in runs if r.run.get("code")})
    report = {"runs": len(runs), "baseline": groups[base].label, "differing_keys": differing, "groups": report_groups,
              "plots": plots, "commits": commits, "bootstrap_samples": n_samples}
    notes = [f"{len(runs)} runs in {len(groups)} configurations; baseline: **{groups[base].label}**.",
             "Config keys that differ between configurations: " + (", ".join(f"`{k}`" for k in differing) or "none")
             + ".",
             "Mean ± sample std (n − 1) over seeds. BLEU/chrF++: sacreBLEU; test scores from each run's "
             "final.json (`xling sweep`), dev scores and losses from its last evaluation, tokens/s the median of "
             "its logged training windows.",
             f"p: paired bootstrap ({n_samples} resamples; sacreBLEU's test with ties counted, identical "
             "output p = 1) of test hypotheses against the baseline, runs paired by seed and pooled with all test directions into one corpus (see "
             "xling_jax/sweeps/compare.py).",
             "Code: " + (", ".join(commits) or "unknown (runs without run.json)") + "."]
    _write_reports(out_dir, header, table, direction_header, direction_rows, notes, plots, groups)
    with open(os.path.join(out_dir, "report.json"), "w", encoding="utf-8") as f:
        json.dump(report, f, indent=2, default=str)
    if echo:
        _print_table(header, table, out_dir)
    return report


def _write_reports(out_dir, header, table, direction_header, direction_rows, notes, plots, groups) -> None:
    from tabulate import tabulate
    runs_md = "\n".join(f"- {g.label}: " + ", ".join(f"`{r.workdir}`" for r in g.runs) for g in groups)
    md = ["# Comparison", "", *[f"{n}  " for n in notes], "", tabulate(table, header, tablefmt="github", disable_numparse=True), ""]
    if direction_rows:
        md += ["## Test per direction", "", tabulate(direction_rows, direction_header, tablefmt="github", disable_numparse=True), ""]
    md += ["## Plots", "", *[f"![{p[:-4]}]({p})" for p in plots], "", "## Runs", "", runs_md, ""]
    with open(os.path.join(out_dir, "report.md"), "w", encoding="utf-8") as f:
        f.write("\n".join(md))
    body = ["<h1>Comparison</h1>", *[f"<p>{html.escape(n)}</p>" for n in notes],
            tabulate(table, header, tablefmt="html", disable_numparse=True)]
    if direction_rows:
        body += ["<h2>Test per direction</h2>", tabulate(direction_rows, direction_header, tablefmt="html", disable_numparse=True)]
    body += ["<h2>Plots</h2>", *[f'<img src="{p}" alt="{p[:-4]}">' for p in plots], "<h2>Runs</h2>", "<ul>",
             *[f"<li>{html.escape(g.label)}: {html.escape(', '.join(r.workdir for r in g.runs))}</li>"
               for g in groups], "</ul>"]
    style = "body{font-family:sans-serif} table{border-collapse:collapse} td,th{border:1px solid #ccc;padding:4px}"
    with open(os.path.join(out_dir, "report.html"), "w", encoding="utf-8") as f:
        f.write(f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>xling compare</title>"
                f"<style>{style}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n")


def _print_table(header, table, out_dir) -> None:
    from rich.console import Console
    from rich.table import Table
    t = Table(title="xling compare")
    for h in header:
        t.add_column(h)
    for row in table:
        t.add_row(*row)
    console = Console(width=None if sys.stdout.isatty() else 200)  # logs and notebooks: no truncation
    console.print(t)
    console.print(f"Report: {os.path.join(out_dir, 'report.md')} (and report.html, plots)")
