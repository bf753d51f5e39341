"""sacreBLEU and chrF++ per direction on a dataset split, with sacrebleu's signatures."""
import json
import os

import sacrebleu

from xling_jax.data import registry
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
    """Translates every direction of the run on `split`, writes hypotheses and scores, returns the scores."""
    dc = run.config.data
    data_dir = registry.ensure_built(dc.name, data_dir or dc.data_dir)
    spec = registry.get_spec(dc.name)
    source = registry.TextSource(dc.name, split, data_dir)
    records = [source[i] for i in range(len(source) if not limit else min(limit, len(source)))]
    translator = Translator(run.model, run.params, run.tokenizer, run.config.decode)
    out_dir = os.path.join(run.workdir, "eval", split)
    os.makedirs(out_dir, exist_ok=True)
    results = {"dataset": dc.name, "split": split, "step": run.step, "directions": {}}
    for src, tgt in registry.parse_directions(dc.name, dc.directions):
        sources = [r[spec.languages[src]] for r in records]
        refs = [r[spec.languages[tgt]] for r in records]
        hyps = translator.translate(sources, tgt, progress=progress)
        with open(os.path.join(out_dir, f"{src}-{tgt}.hyp"), "w", encoding="utf-8") as f:
            f.writelines(h.replace("\n", " ") + "\n" for h in hyps)
        results["directions"][f"{src}-{tgt}"] = score(hyps, refs, tgt)
    with open(os.path.join(out_dir, "scores.json"), "w", encoding="utf-8") as f:
        json.dump(results, f, indent=2)
    return results
