"""sacreBLEU and chrF++ per direction on a dataset split, with sacrebleu's signatures."""
import json
import os

import sacrebleu

from xling_jax.data import mixture
from xling_jax.data.pipeline import PairSource
from xling_jax.decoding.load import Run
from xling_jax.decoding.translate import Translator


def bleu_tokenizer(tgt_lang: str) -> str:
    return "zh" if tgt_lang.startswith("zh") else "13a"


def score(hypotheses: list[str], references: list[str], tgt_lang: str) -> dict:
    bleu = sacrebleu.metrics.BLEU(tokenize=bleu_tokenizer(tgt_lang))
    chrf = sacrebleu.metrics.CHRF(word_order=2)  # chrF++
    b = bleu.corpus_score(hypotheses, [references])
    c = chrf.corpus_score(hypotheses, [references])
    return {"bleu": round(b.score, 2), "chrf": round(c.score, 2), "bleu_signature": str(bleu.get_signature()),
            "chrf_signature": str(chrf.get_signature()), "sentences": len(hypotheses)}


def evaluate(run: Run, split: str = "test", data_dir: str | None = None, limit: int = 0,
             progress=None) -> dict:
    """Translates every direction of the run on `split`, writes hypotheses and scores, returns the scores.

    Directions are named `en-es`, or `DATASET:en-es` when the run mixes several datasets.
    """
    dc = run.config.data
    if data_dir:
        dc.data_dir = data_dir
    data_dir = mixture.ensure_built(dc)
    dirs = mixture.directions(dc, data_dir)
    qualified = mixture.is_qualified(dirs)
    translator = Translator(run.model, run.params, run.tokenizer, run.config.decode)
    out_dir = os.path.join(run.workdir, "eval", split)
    os.makedirs(out_dir, exist_ok=True)
    datasets = sorted({d.dataset for d in dirs})
    results = {"dataset": datasets[0] if len(datasets) == 1 else datasets, "split": split, "step": run.step,
               "directions": {}}
    for d in dirs:
        source = PairSource(d, split, data_dir)
        n = len(source) if not limit else min(limit, len(source))
        pairs = [source[i] for i in range(n)]
        hyps = translator.translate([p["src"] for p in pairs], d.tgt, progress=progress)
        key = d.key(qualified)
        with open(os.path.join(out_dir, key.replace("/", "_").replace(":", "_") + ".hyp"), "w",
                  encoding="utf-8") as f:
            f.writelines(h.replace("\n", " ") + "\n" for h in hyps)
        results["directions"][key] = score(hyps, [p["tgt"] for p in pairs], d.tgt)
    with open(os.path.join(out_dir, "scores.json"), "w", encoding="utf-8") as f:
        json.dump(results, f, indent=2)
    return results
