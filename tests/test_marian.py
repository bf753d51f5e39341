"""Marian / OPUS-MT interop against the reference: Transformers' MarianMTModel (PyTorch, CPU) and CTranslate2.

Models are tiny and random (MarianConfig + save_pretrained), with sentencepiece models trained on a
few lines: the point is that the same weights give the same numbers, not good translations.
"""
import functools
import io
import json
import os
import shutil

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import sentencepiece as spm

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
pytest.importorskip("safetensors")

from xling_jax.cli.main import main
from xling_jax.configs.default import get_config
from xling_jax.data import tokenizer as tokenizer_lib
from xling_jax.decoding.beam import beam_search
from xling_jax.decoding.sampling import greedy
from xling_jax.decoding.translate import Translator
from xling_jax.errors import UserError
from xling_jax.interop.marian import export_marian, import_marian
from xling_jax.model import build_model
from xling_jax.training import checkpoints, optimizer
from xling_jax.training import workdir as workdir_lib
from xling_jax.training.load import load_run
from xling_jax.training.steps import TrainState

EN = ["the king said to his people", "and the people went to the city", "in the beginning was the word",
      "he saw the light and it was good", "the day and the night", "she spoke to the king of the land"]
ES = ["el rey dijo a su pueblo", "y el pueblo fue a la ciudad", "en el principio era el verbo",
      "vio la luz y era buena", "el día y la noche", "ella habló al rey de la tierra"]
SOURCES = ["the king went to the city", "the light", "and the people said to the king of the day"]
TARGETS = ["el rey fue a la ciudad", "la luz", "y el pueblo dijo al rey"]
MAX_NEW = 12  # greedy tokens compared


def train_spm(lines, vocab_size):
    """A Marian-style sentencepiece model (</s> 0... ids are remapped through vocab.json anyway)."""
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(sentence_iterator=iter(lines * 5), model_writer=model, vocab_size=vocab_size,
                                   model_type="unigram", hard_vocab_limit=False, minloglevel=2, num_threads=1)
    return model.getvalue()


@pytest.fixture(scope="module")
def spms():
    return train_spm(EN, 40), train_spm(ES, 40)


def spm_pieces(proto):
    sp = spm.SentencePieceProcessor(model_proto=proto)
    return [sp.id_to_piece(i) for i in range(sp.get_piece_size()) if not (sp.is_control(i) or sp.is_unknown(i))]


def make_hf_model(directory, spms, *, share=True, activation="swish", languages=()):
    """A random MarianMTModel with OPUS-MT's layout (</s> 0, <unk> 1, [>>xx<<], pieces, <pad> last)."""
    src_proto, tgt_proto = spms
    tags = [f">>{l}<<" for l in languages]
    if share:
        pieces = list(dict.fromkeys(spm_pieces(src_proto) + spm_pieces(tgt_proto)))
        src_vocab = tgt_vocab = ["</s>", "<unk>"] + tags + pieces + ["<pad>"]
        pad = len(src_vocab) - 1
    else:
        # Separate vocabularies of different sizes; one pad id valid on both sides, as Transformers needs.
        src_vocab = ["</s>", "<unk>", "<pad>"] + tags + spm_pieces(src_proto) + ["▁extra", "▁more"]
        tgt_vocab = ["</s>", "<unk>", "<pad>"] + spm_pieces(tgt_proto)
        pad = 2
    config = transformers.MarianConfig(
        vocab_size=len(src_vocab), decoder_vocab_size=len(tgt_vocab), d_model=32, encoder_layers=2, decoder_layers=2,
        encoder_attention_heads=4, decoder_attention_heads=4, encoder_ffn_dim=64, decoder_ffn_dim=64,
        max_position_embeddings=128, activation_function=activation, scale_embedding=True, pad_token_id=pad,
        eos_token_id=0, forced_eos_token_id=0, decoder_start_token_id=pad, share_encoder_decoder_embeddings=share,
        dropout=0.1)
    # Random tied models tend to repeat one token whatever the source; take the first seed whose greedy
    # output varies, so that the greedy comparisons have teeth.
    probe = np.random.default_rng(0).integers(3, min(len(src_vocab), len(tgt_vocab)) - 1, (4, 6))
    for seed in range(20):
        model = random_marian(config, seed, pad)
        if len(np.unique(hf_greedy(model, probe, pad))) > 2:
            break
    model.save_pretrained(directory)
    for name, proto in (("source.spm", src_proto), ("target.spm", tgt_proto)):
        with open(os.path.join(directory, name), "wb") as f:
            f.write(proto)
    with open(os.path.join(directory, "vocab.json"), "w") as f:
        json.dump({p: i for i, p in enumerate(src_vocab)}, f)
    if not share:
        with open(os.path.join(directory, "target_vocab.json"), "w") as f:
            json.dump({p: i for i, p in enumerate(tgt_vocab)}, f)
    with open(os.path.join(directory, "tokenizer_config.json"), "w") as f:
        json.dump({"source_lang": "en", "target_lang": "es", "separate_vocabs": not share}, f)
    return model


def random_marian(config, seed, pad):
    torch.manual_seed(seed)
    model = transformers.MarianMTModel(config).eval()
    with torch.no_grad():
        # Noise on every weight (init leaves biases 0 and norms 1) and a nonzero logits bias, so that
        # every parameter matters.
        for name, p in model.named_parameters():
            if "embed_positions" not in name:  # fixed sinusoids, not saved
                p.add_(torch.randn_like(p) * 0.3)
        model.model.decoder.embed_tokens.weight[pad] = 0.0  # Marian's decoder starts from a zero vector
        bias = 0.3 * torch.randn_like(model.final_logits_bias)
        bias[0, pad] = -30.0  # Marian never emits pad (CTranslate2 drops it from the vocabulary)
        model.final_logits_bias.copy_(bias)
    return model


def hf_tokenizer(directory):
    return transformers.MarianTokenizer.from_pretrained(directory)


def pad_rows(rows, pad):
    out = np.full((len(rows), max(map(len, rows))), pad, np.int32)
    for i, r in enumerate(rows):
        out[i, :len(r)] = r
    return out


def hf_logits(model, src_BxS, pad, tgt_in_BxT):
    with torch.no_grad():
        return model(input_ids=torch.tensor(src_BxS, dtype=torch.long),
                     attention_mask=torch.tensor(src_BxS != pad, dtype=torch.long),
                     decoder_input_ids=torch.tensor(tgt_in_BxT, dtype=torch.long)).logits.numpy()


def hf_greedy(model, src_BxS, pad):
    with torch.no_grad():
        out = model.generate(input_ids=torch.tensor(src_BxS, dtype=torch.long),
                             attention_mask=torch.tensor(src_BxS != pad, dtype=torch.long), num_beams=1,
                             do_sample=False, max_new_tokens=MAX_NEW, min_length=0, forced_eos_token_id=None)
    return out.numpy()[:, 1:]  # without the decoder-start token


def hf_beam(model, src_BxS, pad, beams):
    """Transformers' beam search scored like xling's with alpha=0 (length_penalty=0: sum of log p)."""
    with torch.no_grad():
        out = model.generate(input_ids=torch.tensor(src_BxS, dtype=torch.long),
                             attention_mask=torch.tensor(src_BxS != pad, dtype=torch.long), num_beams=beams,
                             length_penalty=0.0, early_stopping=False, do_sample=False, max_new_tokens=MAX_NEW,
                             min_length=0, forced_eos_token_id=None)
    return out.numpy()[:, 1:]


def xling_beam(model, params, src_BxS, beams):
    search = functools.partial(beam_search, model=model, beam_size=beams, max_len=MAX_NEW, alpha=0.0)
    return np.asarray(jax.jit(search)(params, src_BxS)[0][:, 0])


def xling_logits(model, params, src_BxS, tgt_in_BxT):
    # Jitted: op-by-op dispatch compiles every primitive on its own, which is slower on CPU.
    return np.asarray(jax.jit(lambda p, s, t: model.apply({"params": p}, s, t))(params, src_BxS, tgt_in_BxT))


def xling_greedy(model, params, src_BxS):
    return np.asarray(jax.jit(functools.partial(greedy, model=model, max_len=MAX_NEW))(params, src_BxS))


def assert_same_greedy(xling_BxT, hf_BxT, pad, eos):
    """Token for token; Transformers stops when every row has ended, xling pads the rest."""
    n = hf_BxT.shape[1]
    np.testing.assert_array_equal(xling_BxT[:, :n], hf_BxT)
    assert (xling_BxT[:, n:] == pad).all() or n == MAX_NEW
    assert (hf_BxT != pad).any()


@pytest.fixture(scope="module")
def shared_swish(tmp_path_factory, spms):
    """(HF dir, HF model, workdir imported from it): shared vocabulary, swish, multilingual tags."""
    root = tmp_path_factory.mktemp("shared_swish")
    hf_dir, workdir = str(root / "hf"), str(root / "run")
    model = make_hf_model(hf_dir, spms, languages=("es", "fr"))
    import_marian(hf_dir, workdir)
    return hf_dir, model, workdir


def xling_side(workdir, texts, tgt_lang):
    run = load_run(workdir)
    tok = run.tokenizer
    rows = [tok.source_prefix(tgt_lang) + ids + [tok.eos_id] for ids in tok.encode_batch(texts)]
    return run, pad_rows(rows, run.model.cfg.pad_id)


def check_against_transformers(hf_dir, model, workdir, tgt_lang, text_prefix, beam_differs=False):
    run, src = xling_side(workdir, SOURCES, tgt_lang)
    c, tok = run.model.cfg, run.tokenizer
    # Transformers' own tokenizer gives the same source ids (the >>xx<< code is part of the text there).
    hf_src = hf_tokenizer(hf_dir)([text_prefix + s for s in SOURCES], padding=True, return_tensors="np")["input_ids"]
    np.testing.assert_array_equal(src, hf_src)
    tgt_in = pad_rows([[c.decoder_start_id] + tok.encode_target(t) for t in TARGETS], c.eos_id)
    expected = hf_logits(model, src, c.pad_id, tgt_in)
    got = xling_logits(run.model, run.params, src, tgt_in)
    np.testing.assert_allclose(got, expected, atol=1e-4, rtol=0)
    assert np.abs(np.delete(expected, c.pad_id, -1)).max() > 1.0  # logits far from zero: the comparison has teeth
    out = xling_greedy(run.model, run.params, src)
    assert_same_greedy(out, hf_greedy(model, src, c.pad_id), c.pad_id, c.eos_id)
    beam = xling_beam(run.model, run.params, src, 4)
    assert_same_greedy(beam, hf_beam(model, src, c.pad_id, 4), c.pad_id, c.eos_id)
    if beam_differs:  # beam search finds other outputs than greedy: the comparison has teeth
        assert (beam != out).any()


def test_import_shared_vocab_swish_matches_transformers(shared_swish):
    hf_dir, model, workdir = shared_swish
    check_against_transformers(hf_dir, model, workdir, "es", ">>es<< ", beam_differs=True)
    config = workdir_lib.load_config(workdir)
    assert (config.model.positions, config.model.activation, config.model.pre_ln) == ("sinusoidal_marian", "swish",
                                                                                       False)
    assert config.data.directions == ("en-es", "en-fr")  # the multilingual model's >>xx<< codes


def test_import_separate_vocabs_relu_matches_transformers(tmp_path, spms):
    hf_dir, workdir = str(tmp_path / "hf"), str(tmp_path / "run")
    model = make_hf_model(hf_dir, spms, share=False, activation="relu")
    import_marian(hf_dir, workdir)
    run = load_run(workdir)
    assert run.model.cfg.target_vocab != run.model.cfg.vocab_size and "target_embedding" in run.params
    assert run.tokenizer.source_prefix("es") == []  # bilingual: no language token
    check_against_transformers(hf_dir, model, workdir, "es", "", beam_differs=True)


def test_import_gelu_matches_transformers(tmp_path, spms):
    hf_dir, workdir = str(tmp_path / "hf"), str(tmp_path / "run")
    model = make_hf_model(hf_dir, spms, activation="gelu")
    import_marian(hf_dir, workdir)
    check_against_transformers(hf_dir, model, workdir, "es", "")


def test_translator_and_cli_on_imported_model(shared_swish, tmp_path, capsys):
    hf_dir, model, _ = shared_swish
    workdir = str(tmp_path / "run")
    assert main(["import", "marian", hf_dir, "--workdir", workdir, "--src", "en", "--tgt", "es"]) == 0
    assert main(["import", "marian", hf_dir, "--workdir", workdir]) == 2  # not over an existing run
    assert "already holds a run" in capsys.readouterr().err
    run = load_run(workdir)
    config = run.config
    config.decode.max_len_a, config.decode.max_len_b, config.decode.batch_size = 0.0, MAX_NEW, 4
    config.decode.method = "greedy"
    texts = Translator(run.model, run.params, run.tokenizer, config.decode).translate(SOURCES, "es")
    # The same text as Transformers' greedy output decoded by its own tokenizer.
    _, src = xling_side(workdir, SOURCES, "es")
    hf_tok = hf_tokenizer(hf_dir)
    expected = [hf_tok.decode(row, skip_special_tokens=True) for row in hf_greedy(model, src, run.model.cfg.pad_id)]
    assert texts == expected


def params_equal(a, b):
    fa, fb = jax.tree_util.tree_flatten_with_path(a)[0], jax.tree_util.tree_flatten_with_path(b)[0]
    assert [p for p, _ in fa] == [p for p, _ in fb]
    for (path, x), (_, y) in zip(fa, fb):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y), err_msg=jax.tree_util.keystr(path))


def test_round_trip_import_export_import(shared_swish, tmp_path):
    hf_dir, model, workdir = shared_swish
    out, again = str(tmp_path / "out"), str(tmp_path / "again")
    assert export_marian(workdir, out) == []
    import_marian(out, again)
    a, b = load_run(workdir), load_run(again)
    assert checkpoints.imported_only(again)  # `xling train` fine-tunes it with a fresh optimizer and data
    params_equal(a.params, b.params)
    assert a.config.model.to_dict() == b.config.model.to_dict()
    assert a.tokenizer.source.pieces == b.tokenizer.source.pieces
    # And Transformers reads the export as the original.
    exported = transformers.MarianMTModel.from_pretrained(out).eval()
    src = np.array([[5, 6, 7, 0], [8, 9, 0, model.config.pad_token_id]])
    tgt = np.array([[model.config.pad_token_id, 10, 11]] * 2)
    np.testing.assert_allclose(hf_logits(exported, src, model.config.pad_token_id, tgt),
                               hf_logits(model, src, model.config.pad_token_id, tgt), atol=1e-6)


def native_workdir(path, **model_overrides):
    """An xling-native run (xling's own sentencepiece vocabulary: pad 0, EOS 1, <2xx> tags) with random params."""
    os.makedirs(path)
    config = get_config()
    config.model.update(dict(emb_dim=32, num_heads=4, num_layers=2, mlp_dim=64, pre_ln=False,
                             positions="sinusoidal_marian", activation="swish", final_logits_bias=True,
                             layer_norm_eps=1e-5), **model_overrides)
    tokenizer_lib.train(EN + ES, os.path.join(path, tokenizer_lib.FILENAME), 300, ["en", "es"])
    tok = tokenizer_lib.Tokenizer(os.path.join(path, tokenizer_lib.FILENAME))
    model = build_model(config.model, tok.vocab_size)
    dummy = jnp.zeros((1, 8), jnp.int32)

    # Random params from numpy (compiling model.init costs more than the whole test): std 0.2 everywhere,
    # layer-norm scales around 1, biases nonzero. As for Transformers' models, the first seed whose
    # greedy output is not one repeated token.
    shapes = jax.eval_shape(lambda: model.init(jax.random.key(1), dummy, dummy)["params"])
    run_greedy = jax.jit(functools.partial(greedy, model=model, max_len=MAX_NEW))
    probe = np.random.default_rng(0).integers(3, tok.vocab_size, (4, 6))
    for seed in range(20):
        rng = np.random.default_rng(seed)
        params = jax.tree_util.tree_map_with_path(
            lambda path, x: rng.normal(1.0 if jax.tree_util.keystr(path).endswith("['scale']") else 0.0, 0.2,
                                       x.shape).astype(np.float32), shapes)
        params["final_logits_bias"][tok.pad_id] = -30.0  # pad never the argmax
        if len(np.unique(np.asarray(run_greedy(params, probe)))) > 2:
            break
    workdir_lib.save_config(path, config)
    tx = optimizer.make_optimizer(config.train)
    mngr = checkpoints.manager(path, 1)
    checkpoints.save(mngr, 5, TrainState(jnp.array(5), params, tx.init(params)), None)
    mngr.wait_until_finished()
    return path


def test_native_post_ln_export_matches_transformers(tmp_path):
    workdir = native_workdir(str(tmp_path / "run"))
    out = str(tmp_path / "out")
    warnings = export_marian(workdir, out)
    assert any("zero vector" in w for w in warnings)  # the pad (start) embedding was trained, not zero
    run = load_run(workdir)
    v = run.tokenizer.vocab_size
    new_id = np.array([v - 1] + list(range(v - 1)))  # pad moves to the end, everything else down by one
    hf_tok, model = hf_tokenizer(out), transformers.MarianMTModel.from_pretrained(out).eval()
    assert model.config.pad_token_id == v - 1 and model.config.eos_token_id == 0
    # Transformers' tokenizer reads xling's <2es> tag as the language code >>es<<.
    src = pad_rows([[run.tokenizer.tag_id("es")] + ids + [1] for ids in run.tokenizer.encode_batch(SOURCES)], 0)
    hf_src = hf_tok([">>es<< " + s for s in SOURCES], padding=True, return_tensors="np")["input_ids"]
    np.testing.assert_array_equal(new_id[src], hf_src)
    tgt_in = pad_rows([[0] + run.tokenizer.encode(t) for t in TARGETS], 1)
    got = xling_logits(run.model, run.params, src, tgt_in)
    expected = hf_logits(model, new_id[src], v - 1, new_id[tgt_in])
    np.testing.assert_allclose(got, expected[..., new_id], atol=1e-4, rtol=0)
    out_ids = xling_greedy(run.model, run.params, src)
    assert_same_greedy(new_id[out_ids], hf_greedy(model, new_id[src], v - 1), v - 1, 0)


def test_many_to_many_export_imports_with_every_direction(tmp_path):
    """xling's en<->es export names no source language: its import translates both ways (or one, with --src)."""
    workdir = native_workdir(str(tmp_path / "run"))
    export_marian(workdir, str(tmp_path / "out"))
    import_marian(str(tmp_path / "out"), str(tmp_path / "both"))
    assert load_run(str(tmp_path / "both")).config.data.directions == ("en-es", "es-en")
    import_marian(str(tmp_path / "out"), str(tmp_path / "en"), src="en")
    assert load_run(str(tmp_path / "en")).config.data.directions == ("en-es",)
    with pytest.raises(UserError, match="--src and --tgt are both 'es'"):
        import_marian(str(tmp_path / "out"), str(tmp_path / "es"), src="es", tgt="es")


def test_export_refuses_what_marian_cannot_represent(tmp_path):
    workdir = native_workdir(str(tmp_path / "run"), pre_ln=True, positions="learned")
    with pytest.raises(UserError, match=r"model\.pre_ln=True.*model\.positions='learned'"):
        export_marian(workdir, str(tmp_path / "out"))
    assert main(["export", "marian", "--workdir", workdir, "--out", str(tmp_path / "out")]) == 2
    assert not os.path.exists(tmp_path / "out" / "model.safetensors")


def ct2_greedy(out, tmp_path, source_pieces):
    ctranslate2 = pytest.importorskip("ctranslate2")
    from xling_jax.interop import ct2
    ct2_dir = str(tmp_path / "ct2")
    ct2.convert(out, ct2_dir)
    translator = ctranslate2.Translator(ct2_dir, device="cpu")
    results = translator.translate_batch(source_pieces, beam_size=1, max_decoding_length=MAX_NEW,
                                         min_decoding_length=0)  # CTranslate2's default 1 forbids EOS first
    return [r.hypotheses[0] for r in results]


def xling_greedy_pieces(run, src, pieces):
    out = xling_greedy(run.model, run.params, src)
    rows = []
    for row in out.tolist():
        row = row[:row.index(run.model.cfg.eos_id)] if run.model.cfg.eos_id in row else row
        rows.append([pieces[i] for i in row])
    return rows


def test_ctranslate2_converts_export_of_imported_model(shared_swish, tmp_path):
    _, _, workdir = shared_swish
    out = str(tmp_path / "out")
    export_marian(workdir, out)
    run, src = xling_side(workdir, SOURCES, "es")
    pieces = run.tokenizer.source.pieces
    source_pieces = [[pieces[i] for i in row if i != run.model.cfg.pad_id] for row in src.tolist()]
    expected = xling_greedy_pieces(run, src, pieces)
    assert ct2_greedy(out, tmp_path, source_pieces) == expected
    assert any(len(r) > 2 for r in expected)


def test_ctranslate2_converts_export_of_native_model(tmp_path):
    """Pad is renumbered last and tags renamed; CTranslate2 starts from a zero vector, so zero that row."""
    workdir = native_workdir(str(tmp_path / "run"))
    mngr = checkpoints.manager(workdir, 1)
    run = load_run(workdir)
    params = jax.tree.map(np.array, run.params)
    params["embedding"]["embedding"][0] = 0.0
    checkpoints.save(mngr, 6, TrainState(jnp.array(6), params, optimizer.make_optimizer(run.config.train).init(
        params)), None)
    mngr.wait_until_finished()
    out = str(tmp_path / "out")
    assert not any("zero vector" in w for w in export_marian(workdir, out))
    run = load_run(workdir)
    tok = run.tokenizer
    src = pad_rows([[tok.tag_id("es")] + ids + [1] for ids in tok.encode_batch(SOURCES)], 0)
    pieces = json.load(open(os.path.join(out, "vocab.json")))
    by_new_id = sorted(pieces, key=pieces.get)
    pieces = by_new_id[-1:] + by_new_id[:-1]  # xling id -> exported piece
    source_pieces = [[pieces[i] for i in row if i != 0] for row in src.tolist()]
    assert source_pieces[0][0] == ">>es<<" and source_pieces[0][-1] == "</s>"
    expected = xling_greedy_pieces(run, src, pieces)
    assert ct2_greedy(out, tmp_path, source_pieces) == expected


def test_import_errors_are_clear(tmp_path, spms, shared_swish):
    hf_dir, _, _ = shared_swish
    bad = str(tmp_path / "bad")
    shutil.copytree(hf_dir, bad)
    with open(os.path.join(bad, "config.json")) as f:
        config = json.load(f)
    config["decoder_ffn_dim"] = 128
    with open(os.path.join(bad, "config.json"), "w") as f:
        json.dump(config, f)
    with pytest.raises(UserError, match="do not match its config.json"):  # decoder widths may differ, not lie
        import_marian(bad, str(tmp_path / "run"))
    os.remove(os.path.join(bad, "model.safetensors"))
    with pytest.raises(UserError, match="lacks the Marian vocabulary"):
        os.remove(os.path.join(bad, "target.spm"))
        import_marian(bad, str(tmp_path / "run"))
