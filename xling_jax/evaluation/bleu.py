"""sacreBLEU and chrF++ per direction on a dataset split, with sacrebleu's signatures."""
import hashlib
import json
import os

import sacrebleu

from xling_jax.data import mixture
from xling_jax.data.pipeline import PairSource
from xling_jax.decoding.load import Run
from xling_jax.decoding.translate import Translator
from xling_jax.errors import UserError

SCORES_FILE = "scores.json"


def bleu_tokenizer(tgt_lang: str) -> str:
    return "zh" if tgt_lang.startswith("zh") else "13a"


def metrics(tgt_lang: str) -> dict:
    """The two metrics, as sacrebleu objects: BLEU (13a, or zh for Chinese) and chrF++."""
    return {"bleu": sacrebleu.metrics.BLEU(tokenize=bleu_tokenizer(tgt_lang)),
            "chrf": sacrebleu.metrics.CHRF(word_order=2)}


def score(hypotheses: list[str], references: list[str], tgt_lang: str) -> dict:
    out = {}
    for name, metric in metrics(tgt_lang).items():
        out[name] = round(metric.corpus_score(hypotheses, [references]).score, 2)
        out[f"{name}_signature"] = str(metric.get_signature())
    out["sentences"] = len(hypotheses)
    # Identifies the references, so a comparison can check that two runs scored the same text.
    out["references_sha1"] = hashlib.sha1("\n".join(references).encode("utf-8")).hexdigest()
    return out


def hyp_filename(key: str) -> str:
    return key.replace("/", "_").replace(":", "_") + ".hyp"


def read_hypotheses(workdir: str, split: str, key: str) -> list[str]:
    path = os.path.join(workdir, "eval", split, hyp_filename(key))
    if not os.path.isfile(path):
        raise UserError(f"{path} is missing: evaluate that run on the same split first "
                        f"(xling eval --workdir {workdir} --split {split})")
    with open(path, encoding="utf-8") as f:
        return f.read().split("\n")[:-1]


def translate_split(translator: Translator, dirs, split: str, data_dir: str, limit: int = 0, progress=None):
    """{direction key: (target language, references, hypotheses)} for every direction of a run."""
    qualified = mixture.is_qualified(dirs)
    out = {}
    for d in dirs:
        source = PairSource(d, split, data_dir)
        n = len(source) if not limit else min(limit, len(source))
        pairs = [source[i] for i in range(n)]
        hyps = translator.translate([p["src"] for p in pairs], d.tgt, progress=progress)
        out[d.key(qualified)] = (d.tgt, [p["tgt"] for p in pairs], hyps)
    return out


def evaluate(run: Run, split: str = "test", data_dir: str | None = None, limit: int = 0,
             progress=None, compare: str | None = None) -> dict:
    """Translates every direction of the run on `split`, writes hypotheses and scores, returns the scores.

    Directions are named `en-es`, or `DATASET:en-es` when the run mixes several datasets. With
    `compare` (another run's workdir, evaluated on the same split), each direction also gets that
    run's scores, the difference and the paired-bootstrap p-value.
    """
    dc = run.config.data
    if data_dir:
        dc.data_dir = data_dir
    data_dir = mixture.ensure_built(dc)
    dirs = mixture.evaluated(mixture.directions(dc, data_dir))
    other = _load_other_run(compare, split, [d.key(mixture.is_qualified(dirs)) for d in dirs]) if compare else None
    translator = Translator(run.model, run.params, run.tokenizer, run.config.decode)
    out_dir = os.path.join(run.workdir, "eval", split)
    os.makedirs(out_dir, exist_ok=True)
    datasets = sorted({d.dataset for d in dirs})
    results = {"dataset": datasets[0] if len(datasets) == 1 else datasets, "split": split, "step": run.step,
               "decode": {k: run.config.decode[k] for k in ("method", "beam_size", "alpha")},
               "directions": {}}
    for key, (tgt, refs, hyps) in translate_split(translator, dirs, split, data_dir, limit, progress).items():
        with open(os.path.join(out_dir, hyp_filename(key)), "w", encoding="utf-8") as f:
            f.writelines(h.replace("\n", " ") + "\n" for h in hyps)
        results["directions"][key] = score(hyps, refs, tgt)
        if other is not None:
            results["directions"][key]["compare"] = compare_runs(
                hyps, read_hypotheses(compare, split, key), refs, tgt,
                other["directions"][key]["references_sha1"], compare)
    with open(os.path.join(out_dir, SCORES_FILE), "w", encoding="utf-8") as f:
        json.dump(results, f, indent=2)
    return results


def _load_other_run(workdir: str, split: str, keys: list[str]) -> dict:
    path = os.path.join(workdir, "eval", split, SCORES_FILE)
    if not os.path.isfile(path):
        raise UserError(f"--compare {workdir}: no {split} evaluation there; run "
                        f"`xling eval --workdir {workdir} --split {split}` first")
    with open(path, encoding="utf-8") as f:
        other = json.load(f)
    missing = [k for k in keys if k not in other.get("directions", {})]
    if missing:
        raise UserError(f"--compare {workdir}: its {split} evaluation has no {', '.join(missing)}")
    return other


def compare_runs(hyps: list[str], other_hyps: list[str], refs: list[str], tgt_lang: str,
                 other_refs_sha1: str | None = None, other_name: str = "other", n_samples: int = 1000) -> dict:
    """Both runs' BLEU and chrF++, their difference and the paired-bootstrap p-value (sacrebleu's test).

    The p-value estimates how often the difference could arise by chance: below 0.05 is the
    usual bar for calling one system better (Koehn 2004).
    """
    sha = hashlib.sha1("\n".join(refs).encode("utf-8")).hexdigest()
    if len(other_hyps) != len(refs) or (other_refs_sha1 and other_refs_sha1 != sha):
        raise UserError(f"--compare {other_name}: its hypotheses are for other references "
                        f"({len(other_hyps)} lines, {len(refs)} here); evaluate both runs on the same split "
                        "and --limit")
    from sacrebleu.significance import PairedTest
    test = PairedTest([(other_name, other_hyps), ("this", hyps)], metrics(tgt_lang), [refs], test_type="bs",
                      n_samples=n_samples)
    _, table = test()
    columns = [v for k, v in table.items() if k != "System"]  # one per metric, in the order given
    out = {"other": other_name}
    for name, (base, this) in zip(metrics(tgt_lang), columns):
        out[name] = {"this": round(this.score, 2), "other": round(base.score, 2),
                     "difference": round(this.score - base.score, 2), "p_value": this.p_value}
    return out
