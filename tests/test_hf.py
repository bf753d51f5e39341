"""Pretrained Hugging Face families (NLLB-200 / M2M100, mBART-50, mBART-25; T5, T5 v1.1, mT5, umT5, ByT5)
against the reference: Transformers' models and tokenizers on PyTorch CPU, built offline and random
(xling_jax/interop/hf_random.py).

For each family: the tokenizer's ids, the logits (within 1e-4), greedy and beam output token for
token, `xling score` against Transformers' log-probabilities (1e-4 relative), and export ->
Transformers giving the original logits. Then the commands on an imported model, its bad inputs,
fine-tuning, bfloat16 params and placement on a mesh.
"""
import functools
import json
import os
import subprocess
import sys

import jax
import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

import hf_models

from xling_jax.cli.main import main
from xling_jax.data.sequences import task_text
from xling_jax.decoding.beam import beam_search
from xling_jax.decoding.sampling import greedy
from xling_jax.decoding.score import Scorer
from xling_jax.interop import ct2
from xling_jax.interop.hf import export_hf, import_hf
from xling_jax.training.load import load_run

SOURCES = ["the king went to the city", "the light", "and the people said to the king of the day"]
TARGETS = ["el rey fue a la ciudad", "la luz", "y el pueblo dijo al rey"]
NEW = 12  # tokens generated after the forced prefix


def pad_rows(rows, value):
    out = np.full((len(rows), max(map(len, rows))), value, np.int32)
    for i, r in enumerate(rows):
        out[i, :len(r)] = r
    return out


def torch_ids(x):
    return torch.tensor(np.asarray(x), dtype=torch.long)


def hf_logits(model, src, pad, tgt_in):
    with torch.no_grad():
        return model(input_ids=torch_ids(src), attention_mask=torch_ids(src != pad),
                     decoder_input_ids=torch_ids(tgt_in)).logits.numpy()


def hf_generate(model, src, pad, start, forced, beams):
    """Transformers' generate() on the same terms as xling's search: pad never predicted, no EOS forced
    at the limit, beams scored by the sum of log p (length_penalty 0 = xling's alpha 0)."""
    kw = dict(forced_bos_token_id=forced[0]) if forced else {}
    with torch.no_grad():  # no cache: Transformers' T5 sizes it for the encoder's depth, not the decoder's
        out = model.generate(input_ids=torch_ids(src), attention_mask=torch_ids(src != pad), num_beams=beams,
                             length_penalty=0.0, early_stopping=False, do_sample=False, min_length=0,
                             max_new_tokens=NEW + len(forced), forced_eos_token_id=None, bad_words_ids=[[pad]],
                             decoder_start_token_id=start, use_cache=False, **kw)
    return out.numpy()[:, 1:]  # without the start token


def xling_search(run, src, prefix, start, beams):
    kw = dict(model=run.model, max_len=NEW + len(prefix))
    args = (run.params, src, None, np.asarray(prefix, np.int32), np.int32(start))
    if beams == 1:
        return np.asarray(jax.jit(functools.partial(greedy, **kw))(*args))
    return np.asarray(jax.jit(functools.partial(beam_search, beam_size=beams, alpha=0.0, **kw))(*args)[0][:, 0])


def until_eos(row, eos):
    row = list(row)
    return row[:row.index(eos) + 1] if eos in row else row


def assert_same_output(xling_BxT, hf_BxT, pad, eos):
    """Token for token up to each row's EOS (what follows is padding, which the engines fill differently);
    Transformers stops when every row has ended, xling pads the rest."""
    n = hf_BxT.shape[1]
    assert [until_eos(r, eos) for r in xling_BxT[:, :n]] == [until_eos(r, eos) for r in hf_BxT]
    assert (xling_BxT[:, n:] == pad).all()


def build(family, root, **overrides):
    """(HF dir, Transformers model, Transformers tokenizer, workdir): the first seed whose greedy output
    varies (random tied models tend to repeat one token), imported into a workdir."""
    _, _, (src_code, tgt_code) = hf_models.FAMILIES[family]
    for seed in range(12):
        hf_dir = str(root / f"hf{seed}")
        model, _ = hf_models.make(family, hf_dir, seed=seed, **overrides)
        workdir = str(root / f"run{seed}")
        import_hf(hf_dir, workdir)
        run = load_run(workdir)
        src, prefix, start = xling_inputs(run, SOURCES)
        if len(np.unique(xling_search(run, src, prefix, start, 1)[:, len(prefix):])) > 2:
            break
    tok = transformers.AutoTokenizer.from_pretrained(hf_dir, src_lang=src_code, tgt_lang=tgt_code)
    return hf_dir, model, tok, workdir


def xling_inputs(run, texts, src="en", tgt="es"):
    """(padded sources, forced target prefix, decoder start) as xling translates en -> es."""
    tok, c = run.tokenizer, run.model.cfg
    start = tok.decoder_start_id(tgt)
    return (pad_rows(tok.encode_sources(texts, src, tgt), c.pad_id), tok.target_affixes(tgt)[0],
            c.decoder_start_id if start is None else start)


@pytest.fixture(scope="module", params=["nllb", "m2m100", "mbart50", "mbart", "t5", "t5v1_1", "mt5", "umt5", "byt5"])
def family(request, tmp_path_factory):
    return (request.param, *build(request.param, tmp_path_factory.mktemp(request.param)))


def test_family_matches_transformers(family, tmp_path):
    name, hf_dir, model, hf_tok, workdir = family
    run = load_run(workdir)
    c, tok = run.model.cfg, run.tokenizer
    # The tokenizer: xling builds the ids Transformers' tokenizer gives, language codes included (the T5
    # family: after the task prefix, "translate English to Spanish: " for T5, none for the others).
    lead = task_text(run.config.data.task_prefix, "en", "es")
    assert (lead == "translate English to Spanish: ") == (name == "t5" or name == "t5v1_1")
    enc = hf_tok([lead + s for s in SOURCES], text_target=TARGETS)
    src, prefix, start = xling_inputs(run, SOURCES)
    t_before, t_after = tok.target_affixes("es")
    targets = tok.encode_targets(TARGETS, "es")
    assert [list(r) for r in enc["input_ids"]] == [list(r[r != c.pad_id]) for r in src]
    assert [list(r) for r in enc["labels"]] == targets

    # Logits, behind the decoder input Transformers itself builds from the labels (mBART-25 wraps the
    # language code around to the front).
    tgt_in = pad_rows([[start] + t[:-1] for t in targets], c.pad_id)
    with torch.no_grad():
        from_labels = model(input_ids=torch_ids(src), attention_mask=torch_ids(src != c.pad_id),
                            labels=torch_ids(pad_rows(targets, -100))).logits.numpy()
    expected = hf_logits(model, src, c.pad_id, tgt_in)
    real = tgt_in != c.pad_id
    real[:, 0] = True
    np.testing.assert_allclose(expected[real], from_labels[real], atol=1e-6)
    got = np.asarray(jax.jit(lambda p, s, t: run.model.apply({"params": p}, s, t))(run.params, src, tgt_in))
    np.testing.assert_allclose(got[real], expected[real], atol=1e-4, rtol=0)
    assert np.abs(expected).max() > 1.0  # logits far from zero: the comparison has teeth

    # Greedy and beam search, with the forced language code (NLLB, M2M100, mBART-50) or the code as the
    # decoder start (mBART-25); on the targets too, so that beam search finds other outputs than greedy
    # somewhere (the comparison has teeth).
    both, _, _ = xling_inputs(run, SOURCES + TARGETS)
    g = xling_search(run, both, prefix, start, 1)
    assert_same_output(g, hf_generate(model, both, c.pad_id, start, prefix, 1), c.pad_id, c.eos_id)
    b = xling_search(run, both, prefix, start, 4)
    assert_same_output(b, hf_generate(model, both, c.pad_id, start, prefix, 4), c.pad_id, c.eos_id)
    assert (g[:, :len(prefix)] == prefix).all() and (b != g).any()

    # xling score: Transformers' log-probabilities of the text and its EOS (not the forced code).
    scores = Scorer(run.model, run.params, tok, batch_size=2).score(list(zip(SOURCES, TARGETS)), "es", "en")
    logp = torch.log_softmax(torch.tensor(expected), -1).numpy()
    ref = [sum(logp[r, j, t[j]] for j in range(len(t_before), len(t) - len(t_after) + 1))
           for r, t in enumerate(targets)]
    np.testing.assert_allclose(scores, ref, rtol=1e-4)

    # Export: Transformers and its tokenizer load the folder and give the original logits and ids.
    out = str(tmp_path / "export")
    assert export_hf(workdir, out) == []
    again = transformers.AutoModelForSeq2SeqLM.from_pretrained(out).eval()
    np.testing.assert_allclose(hf_logits(again, src, c.pad_id, tgt_in)[real], expected[real], atol=1e-5)
    src_code, tgt_code = hf_models.FAMILIES[name][2]
    again_tok = transformers.AutoTokenizer.from_pretrained(out, src_lang=src_code, tgt_lang=tgt_code)
    assert type(again_tok) is type(hf_tok) and again_tok([lead + s for s in SOURCES])["input_ids"] == enc["input_ids"]

    if name in ("t5", "t5v1_1", "mt5"):  # CTranslate2 converts the export, decodes and scores like xling
        ctranslate2 = pytest.importorskip("ctranslate2")
        ct2_dir = str(tmp_path / "ct2")
        ct2.convert(out, ct2_dir)
        translator = ctranslate2.Translator(ct2_dir, device="cpu")
        tokens = [again_tok.convert_ids_to_tokens(list(r[r != c.pad_id])) for r in both]
        results = translator.translate_batch(
            tokens, beam_size=1, max_decoding_length=NEW, return_end_token=True, suppress_sequences=[["<pad>"]])
        ct2_ids = [again_tok.convert_tokens_to_ids(r.hypotheses[0]) for r in results]
        assert ct2_ids == [until_eos(r, c.eos_id) for r in g]
        # Its log-probabilities are xling's (greedy output alone would not see a wrong logits scale).
        scored = translator.score_batch([again_tok.convert_ids_to_tokens(list(r[r != c.pad_id])) for r in src],
                                        [again_tok.convert_ids_to_tokens(t[:-1]) for t in targets])
        np.testing.assert_allclose([sum(r.log_probs) for r in scored], scores, rtol=1e-4)


def test_untied_m2m100_matches_transformers(tmp_path):
    """Untied and unscaled: three embedding tables and an lm_head of its own (only the logits compared)."""
    hf_dir, workdir = str(tmp_path / "hf"), str(tmp_path / "run")
    model, _ = hf_models.make("m2m100", hf_dir, tie_word_embeddings=False, scale_embedding=False)
    import_hf(hf_dir, workdir)
    run = load_run(workdir)
    assert "output_projection" in run.params and not run.model.cfg.scale_embeddings
    src, prefix, start = xling_inputs(run, SOURCES)
    tgt_in = src[:, :5]
    np.testing.assert_allclose(np.asarray(run.model.apply({"params": run.params}, src, tgt_in)),
                               hf_logits(model, src, run.model.cfg.pad_id, tgt_in), atol=1e-4)


@pytest.mark.parametrize("family", ["nllb"], indirect=True)
def test_sharded_safetensors_and_pytorch_bin_import_the_same_params(family, tmp_path):
    name, hf_dir, model, _, workdir = family
    expected = jax.tree.leaves(load_run(workdir).params)
    for kind, kw in (("sharded", dict(max_shard_size="50KB")), ("bin", dict(safe_serialization=False))):
        other = str(tmp_path / kind)
        model.save_pretrained(other, **kw)
        for f in os.listdir(hf_dir):
            if not f.startswith("model"):
                os.link(os.path.join(hf_dir, f), os.path.join(other, f)) if not os.path.exists(
                    os.path.join(other, f)) else None
        assert ("model.safetensors.index.json" in os.listdir(other)) == (kind == "sharded")
        import_hf(other, str(tmp_path / f"run_{kind}"))
        for a, b in zip(jax.tree.leaves(load_run(str(tmp_path / f"run_{kind}")).params), expected):
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_sentencepiece_only_tokenizer_is_converted_by_transformers(tmp_path):
    """mBART-50's Hub folder has sentencepiece.bpe.model and no tokenizer.json: the import has Transformers
    convert it, and the ids are the converted tokenizer's."""
    hf_dir = str(tmp_path / "hf")
    hf_models.make("mbart50", hf_dir, keep_spm=True)
    os.remove(os.path.join(hf_dir, "tokenizer.json"))
    import_hf(hf_dir, str(tmp_path / "run"))
    tok = load_run(str(tmp_path / "run")).tokenizer
    assert os.path.isfile(tmp_path / "run" / "tokenizer.json") and tok.convention == "mbart50"
    ref = transformers.AutoTokenizer.from_pretrained(hf_dir, src_lang="en_XX")
    before, after = tok.source_affixes("en", "es")
    assert [before + ids + after for ids in tok.encode_batch(SOURCES)] == ref(SOURCES)["input_ids"]


def cli(*argv):
    return main([str(a) for a in argv])


# The sentencepiece backend with a forced code (M2M100) and the tokenizers backend with the code as the
# decoder start (mBART-25); the family test covers the others' ids and searches.
@pytest.mark.parametrize("family", ["m2m100", "mbart"], indirect=True)
def test_translate_score_and_language_codes_on_the_cli(family, tmp_path, capsys):
    name, hf_dir, model, hf_tok, workdir = family
    src_code, tgt_code = hf_models.FAMILIES[name][2]
    inp = tmp_path / "in.txt"
    inp.write_text("\n".join(SOURCES) + "\n", encoding="utf-8")
    outputs = []
    for src, tgt in (("en", "es"), (src_code, tgt_code)):
        assert cli("translate", "--workdir", workdir, "--src", src, "--tgt", tgt, "--greedy", "--input", inp,
                   "--max_len_a", "0", "--max_len_b", NEW) == 0
        outputs.append(capsys.readouterr().out)
    assert outputs[0] == outputs[1] and len(outputs[0].splitlines()) == len(SOURCES)
    # Decoded text is Transformers' decoding of the same ids.
    run = load_run(workdir)
    src, prefix, start = xling_inputs(run, SOURCES)
    ids = hf_generate(model, src, run.model.cfg.pad_id, start, prefix, 1)[:, len(prefix):]  # (M2M100 keeps its code)
    assert outputs[0].splitlines() == [t.strip() for t in hf_tok.batch_decode(ids, skip_special_tokens=True)]
    for flags in (["--beam", "3", "--nbest", "2", "--max_len_b", "3"], ["--sample", "--top_k", "5", "--seed", "1"]):
        assert cli("translate", "--workdir", workdir, "--src", "en", "--tgt", "es", "--input", inp, *flags) == 0
        lines = capsys.readouterr().out.splitlines()
        assert len(lines) == len(SOURCES) * (2 if "--nbest" in flags else 1)

    pairs = tmp_path / "pairs.tsv"
    pairs.write_text("".join(f"{s}\t{t}\n" for s, t in zip(SOURCES, TARGETS)) + "no tab here\n", encoding="utf-8")
    assert cli("score", "--workdir", workdir, "--src", "en", "--tgt", "es", "--input", pairs) == 0
    captured = capsys.readouterr()
    scores = captured.out.splitlines()
    assert len(scores) == len(SOURCES) + 1 and scores[-1] == "nan" and "line 4" in captured.err
    expected = Scorer(run.model, run.params, run.tokenizer).score(list(zip(SOURCES, TARGETS)), "es", "en")
    np.testing.assert_allclose([float(s) for s in scores[:-1]], expected, rtol=1e-5)
    assert all(float(s) < 0 for s in scores[:-1])


def random_folder(tmp_path_factory, family: str) -> str:
    """A random Hugging Face folder of `family`, built once per module that asks for it."""
    folder = str(tmp_path_factory.mktemp(family) / "hf")
    hf_models.make(family, folder)
    return folder


@pytest.fixture(scope="module")
def nllb_dir(tmp_path_factory):
    return random_folder(tmp_path_factory, "nllb")


def test_ambiguous_and_unknown_languages_are_one_line_errors(nllb_dir, tmp_path, capsys):
    """NLLB has two codes for ISO 639-1 zh (zho_Hans, zho_Hant): an error lists them."""
    workdir = str(tmp_path / "w")
    import_hf(nllb_dir, workdir)
    assert cli("translate", "--workdir", workdir, "--src", "en", "--tgt", "zh") == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "zho_Hans" in err and "zho_Hant" in err and err.startswith("xling: error:")
    assert cli("translate", "--workdir", workdir, "--src", "en", "--tgt", "zh_Hant", "--input", os.devnull) == 0
    assert cli("translate", "--workdir", workdir, "--src", "en", "--tgt", "xx_Zzzz") == 2
    assert "xx_Zzzz" in capsys.readouterr().err


def import_fails(source, workdir, capsys, *words, extra=()):
    assert cli("import", "hf", source, "--workdir", workdir, *extra) == 2
    err = capsys.readouterr().err
    assert err.startswith("xling: error:") and err.count("\n") == 1, err
    for w in words:
        assert w in err, err
    assert not os.path.exists(workdir) and not [f for f in os.listdir(os.path.dirname(workdir))
                                                 if ".importing-" in f]  # nothing written


def test_bad_folders_are_one_line_errors_and_write_nothing(nllb_dir, mt5_dir, tmp_path, capsys):
    wd = str(tmp_path / "runs" / "w")
    os.makedirs(os.path.dirname(wd))
    import_fails(str(tmp_path), wd, capsys, "config.json")
    import_fails(hf_models.copy_without(nllb_dir, str(tmp_path / "no_tok"), "tokenizer.json"), wd, capsys,
                 "tokenizer.json")
    for model_type, word in (("nllb_moe", "mixture-of-experts"), ("longt5", "LongT5"), ("whisper", "whisper")):
        other = hf_models.copy_without(nllb_dir, str(tmp_path / model_type))
        config = json.load(open(os.path.join(other, "config.json")))
        config["model_type"] = model_type
        json.dump(config, open(os.path.join(other, "config.json"), "w"))
        import_fails(other, wd, capsys, word, "m2m_100")
    # T5 variants xling does not implement, and an encoder-only T5.
    t5 = hf_models.copy_without(mt5_dir, str(tmp_path / "t5_proj"))
    config = json.load(open(os.path.join(t5, "config.json")))
    config["feed_forward_proj"] = "gated-mish"
    json.dump(config, open(os.path.join(t5, "config.json"), "w"))
    import_fails(t5, wd, capsys, "feed_forward_proj", "gated-mish")
    config.update(feed_forward_proj="gated-gelu", architectures=["T5EncoderModel"])
    json.dump(config, open(os.path.join(t5, "config.json"), "w"))
    import_fails(t5, wd, capsys, "T5EncoderModel")
    # Weights that do not match the config.
    other = hf_models.copy_without(nllb_dir, str(tmp_path / "wide"))
    config = json.load(open(os.path.join(other, "config.json")))
    config["encoder_ffn_dim"] *= 2
    json.dump(config, open(os.path.join(other, "config.json"), "w"))
    import_fails(other, wd, capsys, "fc1", "do not match")
    # A truncated file and a garbled header.
    weights = os.path.join(nllb_dir, "model.safetensors")
    truncated = hf_models.copy_without(nllb_dir, str(tmp_path / "truncated"), "model.safetensors")
    with open(weights, "rb") as f, open(os.path.join(truncated, "model.safetensors"), "wb") as g:
        g.write(f.read()[:os.path.getsize(weights) // 2])
    import_fails(truncated, wd, capsys, "truncated")
    garbled = hf_models.copy_without(nllb_dir, str(tmp_path / "garbled"), "model.safetensors")
    data = bytearray(open(weights, "rb").read())
    data[10:30] = b"\x00" * 20
    open(os.path.join(garbled, "model.safetensors"), "wb").write(bytes(data))
    import_fails(garbled, wd, capsys, "malformed")
    # An existing run is never overwritten; a Hub id that cannot be downloaded says how to bring it.
    os.makedirs(wd)
    open(os.path.join(wd, "keep"), "w").close()
    assert cli("import", "hf", nllb_dir, "--workdir", wd) == 2 and os.listdir(wd) == ["keep"]
    assert "not empty" in capsys.readouterr().err
    os.environ["HF_HUB_OFFLINE"] = "1"  # no network here anyway; this makes the failure immediate
    try:
        import_fails("facebook/nllb-200-distilled-600M", str(tmp_path / "runs" / "hub"), capsys, "cannot download",
                     "snapshot_download")
    finally:
        del os.environ["HF_HUB_OFFLINE"]


def test_fine_tune_an_imported_model_on_bible(bible_data_dir, nllb_dir, tmp_path, capsys):
    """The imported config.py trains on a dataset's en-es pairs with NLLB's codes, from the imported step 0."""
    workdir = str(tmp_path / "ft")
    assert cli("import", "hf", nllb_dir, "--workdir", workdir) == 0
    before = load_run(workdir).params
    assert cli("train", "--config", os.path.join(workdir, "config.py"), "--workdir", workdir,
               "--config.data.directions=en-es", "--config.train.steps=4", "--config.train.batch_size=4",
               "--config.log_every=2", "--config.eval_every=4", "--config.eval_batches=1",
               "--config.eval_bleu_limit=4", "--config.data.max_len=48", "--config.train.learning_rate=1e-3") == 0
    rows = [json.loads(l) for l in open(os.path.join(workdir, "metrics.jsonl"))]
    assert np.isfinite([r["loss"] for r in rows if r.get("kind", "train") == "train"]).all()
    assert any("dev_bleu" in r for r in rows)
    after = load_run(workdir)
    assert after.step == 4 and not np.allclose(np.asarray(after.params["encoder_0"]["mlp"]["Dense_0"]["kernel"]),
                                               np.asarray(before["encoder_0"]["mlp"]["Dense_0"]["kernel"]))
    capsys.readouterr()
    assert cli("translate", "--workdir", workdir, "--src", "en", "--tgt", "es", "--greedy", "--input", os.devnull) == 0
    # eval and attention work on it too: sources built with NLLB's codes, hypotheses scored per direction.
    assert cli("eval", "--workdir", workdir, "--split", "test", "--limit", "2", "--greedy", "--max_len_b", "4") == 0
    scores = json.loads(capsys.readouterr().out)
    assert scores["directions"]["en-es"]["sentences"] == 2
    png = tmp_path / "att.png"
    assert cli("attention", "--workdir", workdir, "--src", "en", "--tgt", "es", "In the beginning", "--greedy",
               "--max_len_b", "3", "--out", png) == 0
    assert png.stat().st_size > 1000


def test_bfloat16_params(nllb_dir, tmp_path):
    f32, bf16 = str(tmp_path / "f32"), str(tmp_path / "bf16")
    import_hf(nllb_dir, f32)
    import_hf(nllb_dir, bf16, param_dtype="bfloat16")
    a, b = load_run(f32), load_run(bf16)
    assert {x.dtype for x in jax.tree.leaves(b.params)} == {jax.numpy.dtype("bfloat16")}
    # Orbax's data files (not its metadata): 16 bits a param, where they were 32.
    disk = lambda w: sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(os.path.join(w, "checkpoints"))
                         for f in fs if os.path.basename(d) == "d")
    assert disk(bf16) < 0.6 * disk(f32)
    src, prefix, start = xling_inputs(a, SOURCES)
    la = np.asarray(a.model.apply({"params": a.params}, src, src))
    lb = np.asarray(b.model.apply({"params": b.params}, src, src))
    np.testing.assert_allclose(lb, la, atol=0.1 * np.abs(la).max())


def test_params_are_placed_on_the_mesh_while_loading(nllb_dir, tmp_path):
    """With mesh.fsdp=8 on 8 simulated devices each device holds 1/8 of the embedding."""
    code = f"""
import jax, numpy as np
from xling_jax.interop.hf import import_hf
from xling_jax.training.load import load_run
emb = None
import xling_jax.interop.hf as hf
real = hf.read_params
def spy(*a, **k):
    global emb
    out = real(*a, **k)
    emb = out["embedding"]["embedding"]
    return out
hf.read_params = spy
import_hf({nllb_dir!r}, {str(tmp_path / 'w2')!r}, overrides={{"mesh.fsdp": "8"}})
import json
print(json.dumps([len(jax.devices()), [s.data.shape for s in emb.addressable_shards], emb.shape]))
"""
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=8", JAX_PLATFORMS="cpu")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    devices, shard_shapes, (rows, width) = json.loads(out.stdout.splitlines()[-1])
    assert devices == 8 and shard_shapes == [[rows, width // 8]] * 8  # "embed=fsdp": the width split 8 ways


@pytest.fixture(scope="module")
def mt5_dir(tmp_path_factory):
    return random_folder(tmp_path_factory, "mt5")


def test_continue_t5_pretraining_on_an_imported_mt5(bible_data_dir, mt5_dir, tmp_path):
    """T5 span corruption mixed with translation trains an imported mT5 with its own sentinels."""
    workdir = str(tmp_path / "w")
    import_hf(mt5_dir, workdir)
    assert cli("train", "--config", os.path.join(workdir, "config.py"), "--workdir", workdir,
               "--config.data.directions=en-es", "--config.tasks=t5:1,translation:1",
               "--config.objective.t5_sentinels=10", "--config.train.steps=4", "--config.train.batch_size=4",
               "--config.log_every=2", "--config.eval_every=4", "--config.eval_batches=1", "--config.eval_bleu=false",
               "--config.data.max_len=64", "--config.train.learning_rate=1e-3") == 0
    rows = [json.loads(l) for l in open(os.path.join(workdir, "metrics.jsonl")) if '"nll/t5"' in l]
    assert rows and all(np.isfinite([r["nll/t5"], r["nll/translation"]]).all() for r in rows)
    # The task's sentinels are the model's own <extra_id_N>, the last ids of its vocabulary.
    from xling_jax.data import tokenizer as tokenizer_lib
    tok = load_run(workdir).tokenizer
    assert tok.symbol_id(tokenizer_lib.sentinel(0)) == max(tok.symbol_id(tokenizer_lib.sentinel(i)) for i in range(10))


def test_classify_starts_from_an_imported_mt5_encoder(tiny_libreoffice_dir, mt5_dir, tmp_path, capsys):
    workdir, source = str(tmp_path / "cls"), str(tmp_path / "mt5")
    import_hf(mt5_dir, source)
    overrides = [f"--config.{k}={v}" for k, v in {
        "init_from.workdir": source, "data.data_dir": tiny_libreoffice_dir, "classify.max_len": 16,
        "classify.tag_language": "", "train.steps": 4, "train.batch_size": 8, "log_every": 2, "eval_every": 4,
        "checkpoint_every": 4, "classify.eval_limit": 8}.items()]
    assert cli("classify", "--config", os.path.join(source, "config.py"), "--workdir", workdir, *overrides) == 0
    report = json.load(open(os.path.join(workdir, "init_from.json")))
    assert any(p.startswith("encoder_relative_bias") for p in report["loaded"])
    assert not any(p.startswith("decoder") for p in report["loaded"])
    assert os.path.isfile(os.path.join(workdir, "classify_results.json"))


def test_nllb_legacy_behaviour_puts_the_source_code_last(nllb_dir, tmp_path):
    """NllbTokenizer(legacy_behaviour=True): sources `text </s> [src_code]`, as Transformers builds them."""
    legacy = hf_models.copy_without(nllb_dir, str(tmp_path / "legacy"))
    path = os.path.join(legacy, "tokenizer_config.json")
    config = json.load(open(path))
    config["legacy_behaviour"] = True
    json.dump(config, open(path, "w"))
    import_hf(legacy, str(tmp_path / "run"))
    tok = load_run(str(tmp_path / "run")).tokenizer
    ref = transformers.AutoTokenizer.from_pretrained(legacy, src_lang="eng_Latn")
    assert tok.convention == "nllb_legacy"
    assert tok.encode_sources(SOURCES, "en", "es") == ref(SOURCES)["input_ids"]
    assert tok.encode_sources(SOURCES, "en", "es")[0][-2:] == [tok.eos_id, tok.tag_id("eng_Latn")]
