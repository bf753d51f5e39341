"""sacreBLEU and chrF++ per direction on a dataset split, with sacrebleu's signatures.

By default a run is scored on its own directions. It can also be scored on other directions of
any dataset whose languages it knows (`directions=`, `dataset=`): for a many-to-many model
trained on en<->xx, the zero-shot directions (es->de, ...) of a multi-way dataset. With
`pivot=en` each of those is also translated through English with the same model (src->en->tgt)
and scored next to the direct translation.
"""
import hashlib
import json
import os

import sacrebleu

from xling_jax import log
from xling_jax.data import catalog, mixture
from xling_jax.data import plan as data_plan
from xling_jax.data.pipeline import PairSource
from xling_jax.data.plan import DataPlan
from xling_jax.decoding.text_io import one_line
from xling_jax.decoding.translate import Translator
from xling_jax.errors import UserError
from xling_jax.evaluation import significance

logger = log.get_logger(__name__)

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


def pivot_filename(key: str, pivot: str, intermediate: bool = False) -> str:
    """`es-de.via-en.hyp` (the target text) or `es-de.via-en.intermediate.hyp` (the pivot-language text)."""
    return hyp_filename(f"{key}.via-{pivot}" + (".intermediate" if intermediate else ""))


def eval_dir(workdir: str, split: str, dataset: str | None = None) -> str:
    """WORKDIR/eval/SPLIT for the run's own directions; WORKDIR/eval/SPLIT/DATASET for chosen ones."""
    out = os.path.join(workdir, "eval", split)
    return os.path.join(out, dataset.replace("/", "_")) if dataset else out


def read_hypotheses(workdir: str, split: str, key: str, dataset: str | None = None) -> list[str]:
    path = os.path.join(eval_dir(workdir, split, dataset), hyp_filename(key))
    if not os.path.isfile(path):
        raise UserError(f"{path} is missing: evaluate that run on the same split first "
                        f"(xling eval --workdir {workdir} --split {split})")
    with open(path, encoding="utf-8") as f:
        return f.read().split("\n")[:-1]


def _write_lines(path: str, texts: list[str]) -> None:
    with open(path, "w", encoding="utf-8") as f:
        f.writelines(one_line(t) + "\n" for t in texts)


def split_pairs(direction, split: str, data_dir: str, limit: int = 0) -> tuple[list[str], list[str]]:
    """(sources, references) of a direction's split: its first `limit` pairs (0: all)."""
    source = PairSource(direction, split, data_dir)
    n = len(source) if not limit else min(limit, len(source))
    pairs = [source[i] for i in range(n)]
    return [p["src"] for p in pairs], [p["tgt"] for p in pairs]


def translate_split(translator: Translator, dirs, split: str, data_dir: str, limit: int = 0, progress=None):
    """{direction key: (target language, references, hypotheses)} for every direction of a run."""
    qualified = mixture.is_qualified(dirs)
    out = {}
    for d in dirs:
        sources, refs = split_pairs(d, split, data_dir, limit)
        out[d.key(qualified)] = (d.tgt, refs, translator.translate(sources, d.tgt, progress=progress, src_lang=d.src))
    return out


def translate_via(translator: Translator, texts: list[str], pivot: str, tgt_lang: str,
                  progress=None, src_lang: str | None = None) -> tuple[list[str], list[str]]:
    """(pivot-language translations, their translations into tgt_lang): src -> pivot -> tgt, one model."""
    middle = translator.translate(texts, pivot, progress=progress, src_lang=src_lang)
    return middle, translator.translate(middle, tgt_lang, progress=progress, src_lang=pivot)


def chosen_directions(data_config, plan: DataPlan, dataset: str | None, pairs, pivot: str | None, tokenizer=None):
    """The directions `pairs` (['es-de', ...]; default: the run's own, from its `plan`) of `dataset` (default:
    the run's only dataset), checked against the dataset and the languages the run knows (the pivot too)."""
    # The datasets it is scored on (a distilled one's source dataset; see mixture.evaluated).
    refs = list(dict.fromkeys(d.dataset for d in plan.evaluated)) or mixture.dataset_refs(data_config)
    if not dataset:
        if len(refs) > 1:
            raise UserError(f"--directions: name the dataset (--dataset); this run trains on {', '.join(refs)}")
        dataset = refs[0]
    catalog.ensure_built(dataset, plan.data_dir, options=mixture.source_options(data_config, dataset))
    pairs = list(pairs) or list(dict.fromkeys(d.pair for d in plan.evaluated))
    dirs = [mixture.Direction(dataset, src, tgt)
            for src, tgt in catalog.parse_directions(dataset, pairs, plan.data_dir)]
    mixture.check_known(data_config, [("--directions", lang) for d in dirs for lang in (d.src, d.tgt)]
                        + ([("--pivot", pivot)] if pivot else []), tokenizer)
    for d in dirs:
        if pivot in (d.src, d.tgt):
            raise UserError(f"--pivot {pivot}: direction {d.pair} already has it at one end; pivot directions "
                            "between two other languages")
    return list(dict.fromkeys(dirs))


def evaluate(run, split: str = "test", data_dir: str | None = None, limit: int = 0,
             progress=None, compare: str | None = None, dataset: str | None = None, directions=(),
             pivot: str | None = None) -> dict:
    """Translates every direction of the run on `split`, writes hypotheses and scores, returns the scores.

    Directions are named `en-es`, or `DATASET:en-es` when the run mixes several datasets. With
    `compare` (another run's workdir, evaluated on the same split), each direction also gets that
    run's scores, the difference and the paired-bootstrap p-value.

    With `dataset` or `directions` (['es-de', ...]) those directions are scored instead, into
    eval/SPLIT/DATASET/. With `pivot` each of them is also translated through the pivot language:
    its scores go under the direction's `pivot`, its texts to `KEY.via-PIVOT.hyp` and
    `KEY.via-PIVOT.intermediate.hyp`.
    """
    plan = data_plan.resolve(run.config.data, data_dir)
    data_dir = plan.data_dir
    chosen = bool(dataset or directions or pivot)
    if chosen:
        dirs = chosen_directions(run.config.data, plan, dataset, directions, pivot, run.tokenizer)
        dataset = dirs[0].dataset
    else:
        dirs = plan.evaluated
    qualified = mixture.is_qualified(dirs)
    other = _load_other_run(compare, split, [d.key(qualified) for d in dirs], dataset) if compare else None
    translator = Translator(run.model, run.params, run.tokenizer, run.config.decode)
    out_dir = eval_dir(run.workdir, split, dataset if chosen else None)
    os.makedirs(out_dir, exist_ok=True)
    datasets = sorted({d.dataset for d in dirs})
    results = {"dataset": datasets[0] if len(datasets) == 1 else datasets, "split": split, "step": run.step,
               "decode": {k: run.config.decode[k] for k in ("method", "beam_size", "alpha")},
               **({"pivot": pivot} if pivot else {}), "directions": {}}
    for d in dirs:
        key = d.key(qualified)
        sources, refs = split_pairs(d, split, data_dir, limit)
        hyps = translator.translate(sources, d.tgt, progress=progress, src_lang=d.src,  # line N: the split's Nth pair
                                    warn=lambda msg: logger.warning(f"{split} {key} {msg}"))  # noqa: B023
        _write_lines(os.path.join(out_dir, hyp_filename(key)), hyps)
        results["directions"][key] = score(hyps, refs, d.tgt)
        if pivot:
            middle, final = translate_via(translator, sources, pivot, d.tgt, progress, src_lang=d.src)
            _write_lines(os.path.join(out_dir, pivot_filename(key, pivot, intermediate=True)), middle)
            _write_lines(os.path.join(out_dir, pivot_filename(key, pivot)), final)
            results["directions"][key]["pivot"] = {"via": pivot, **score(final, refs, d.tgt)}
        if other is not None:
            results["directions"][key]["compare"] = compare_runs(
                hyps, read_hypotheses(compare, split, key, dataset), refs, d.tgt,
                other["directions"][key]["references_sha1"], compare)
    with open(os.path.join(out_dir, SCORES_FILE), "w", encoding="utf-8") as f:
        json.dump(results, f, indent=2)
    return results


def _load_other_run(workdir: str, split: str, keys: list[str], dataset: str | None = None) -> dict:
    path = os.path.join(eval_dir(workdir, split, dataset), SCORES_FILE)
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
    """Both runs' BLEU and chrF++, their difference and the paired-bootstrap p-value
    (evaluation/significance.py, the test `xling compare` uses too).

    The p-value estimates how often the difference could arise by chance: below 0.05 is the
    usual bar for calling one system better (Koehn 2004); identical outputs get 1.
    """
    sha = hashlib.sha1("\n".join(refs).encode("utf-8")).hexdigest()
    if len(other_hyps) != len(refs) or (other_refs_sha1 and other_refs_sha1 != sha):
        raise UserError(f"--compare {other_name}: its hypotheses are for other references "
                        f"({len(other_hyps)} lines, {len(refs)} here); evaluate both runs on the same split "
                        "and --limit")
    tests = significance.paired_bootstrap(hyps, other_hyps, refs, metrics(tgt_lang), n_samples)
    out = {"other": other_name}
    for name, t in tests.items():  # `or 0.0`: a difference that rounds to zero prints as 0.00, not -0.00
        out[name] = {"this": round(t["this"], 2), "other": round(t["other"], 2),
                     "difference": round(t["difference"], 2) or 0.0, "p_value": t["p_value"]}
    return out
