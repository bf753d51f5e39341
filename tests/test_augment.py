"""Augmentation of the training translation pairs (data/augment.py): source noise at its configured rates,
subword sampling at its probabilities, a stream fixed by the seed and resumed exactly, evaluation data
and targets untouched, and one-line errors for what cannot be done."""
import json
import os

import numpy as np
import plans
import pytest
from conftest import tiny_data_config as tiny_config

from xling_jax.configs.default import get_config
from xling_jax.data import augment, marian_vocab, mixture, pipeline
from xling_jax.data import plan as data_plan
from xling_jax.data import tokenizer as tokenizer_lib
from xling_jax.data.sequences import Sequences
from xling_jax.data.tokenizer import Tokenizer
from xling_jax.errors import UserError
from xling_jax.objectives import tasks
from xling_jax.training import workdir as workdir_lib
from xling_jax.training.validate import validate

WORDS = [f"w{i}" for i in range(20)]
LINES = ["the house of the king", "and the king said unto them", "a red house by the water", "the dog and the cat",
         "la casa del rey", "y el rey les dijo", "una casa roja junto al agua", "el perro y el gato"]
SYMBOLS = tuple(tokenizer_lib.special_symbols())


def small_vocab(path, model_type="unigram", symbols=SYMBOLS) -> str:
    """A sentencepiece model of LINES: its 256 byte pieces and a few dozen more (a second or less)."""
    tokenizer_lib.train(LINES * 20, str(path), 340, ["en", "es"], model_type=model_type, extra_symbols=symbols)
    return str(path)


def test_noise_drops_and_blanks_words_at_the_configured_rates():
    p_drop, p_blank, sentences = 0.1, 0.2, 1000
    rng = np.random.default_rng(0)
    out = [augment.noised_words(WORDS, rng, word_dropout=p_drop, blank=p_blank) for _ in range(sentences)]
    n = sentences * len(WORDS)
    dropped, blanked = n - sum(map(len, out)), sum(w is None for ws in out for w in ws)
    for count, p in ((dropped, p_drop), (blanked, p_blank)):  # binomial counts within 4 sigma
        assert abs(count - n * p) < 4 * np.sqrt(n * p * (1 - p))
    assert all(w in WORDS for ws in out for w in ws if w is not None)


@pytest.mark.parametrize("k", [1, 3])
def test_shuffle_moves_no_word_more_than_k_places(k):
    rng = np.random.default_rng(0)
    moves = [abs(new - int(w[1:])) for _ in range(300)
             for new, w in enumerate(augment.noised_words(WORDS, rng, shuffle_k=k))]
    assert len(moves) == 300 * len(WORDS)
    assert max(moves) == k  # never further, and the furthest does happen


def test_no_noise_leaves_the_words_and_the_ids_as_they_were(tiny_tokenizer, bible_data_dir):
    assert augment.noised_words(WORDS, np.random.default_rng(0)) == WORDS
    assert augment.noised_words([], np.random.default_rng(0), word_dropout=0.5) == []
    tok, bt = Tokenizer(tiny_tokenizer), 5
    pairs = pipeline.mixed_dataset(data_plan.resolve(tiny_config().data, bible_data_dir), 0)
    for i in range(50):
        ex = dict(pairs[i], backtranslated=i % 2 == 0)
        plain = pipeline.encode_example(tok, ex, bt)
        # Noise that never drops a word: the source encoded word by word, which for a unigram model is the
        # sentence's own segmentation, in the same frame (tag, <BT>, EOS).
        same = pipeline.encode_augmented(tok, ex, np.random.default_rng(i), augment.Options(word_dropout=1e-12), bt)
        assert all(np.array_equal(plain[k], same[k]) for k in plain)


def test_sampling_draws_segmentations_at_their_probabilities(tiny_tokenizer):
    tok, text, alpha, n = Tokenizer(tiny_tokenizer), "And the king said unto them", 0.3, 2000
    draws = [tuple(tok.encode_sampled(text, np.random.default_rng(i), alpha, 8)) for i in range(n)]
    assert len(set(draws)) > 1
    assert all(tok.decode(d) == text for d in set(draws))  # every segmentation spells the same text
    scores = np.array([c.score for c in tok.sp.nbest_encode(text, nbest_size=8, out_type="proto").nbests])
    p_best = 1 / np.exp(alpha * (scores - scores[0])).sum()
    assert 0.1 < p_best < 0.9
    observed = draws.count(tuple(tok.encode(text))) / n
    assert abs(observed - p_best) < 4 * np.sqrt(p_best * (1 - p_best) / n)
    assert draws[:20] == [tuple(tok.encode_sampled(text, np.random.default_rng(i), alpha, 8)) for i in range(20)]


def test_marian_vocabularies_sample_too(tmp_path):
    for side in ("source", "target"):
        small_vocab(tmp_path / f"{side}.spm")
    sp = Tokenizer(str(tmp_path / "source.spm")).sp
    pieces = [marian_vocab.EOS, marian_vocab.UNK, marian_vocab.PAD] + [sp.id_to_piece(i) for i in range(3, len(sp))]
    (tmp_path / marian_vocab.VOCAB).write_text(json.dumps({p: i for i, p in enumerate(dict.fromkeys(pieces))}))
    vocab = marian_vocab.MarianVocab(str(tmp_path))
    vocab.check_sampling()
    text = LINES[0]
    draws = {tuple(vocab.encode_target_sampled(text, np.random.default_rng(i), 0.5, 16)) for i in range(100)}
    assert len(draws) > 1 and all(vocab.decode(d) == text for d in draws)


def _pairs(c, tok, data_dir, n=200):
    plan = data_plan.resolve(c.data, data_dir)
    ds = tasks.mix(tasks.resolve(c), c.objective, tok, plan, pipeline.mixed_dataset(plan, c.seed), c.seed)
    return [ds[i] for i in range(n)]


def test_noise_touches_sources_alone_and_only_where_asked(tiny_tokenizer, bible_data_dir):
    tok = Tokenizer(tiny_tokenizer)
    plain = _pairs(tiny_config(), tok, bible_data_dir)

    def noised(**noise):
        c = tiny_config()
        c.data.noise.update(noise)
        return _pairs(c, tok, bible_data_dir)

    out = noised(word_dropout=0.1, blank=0.1, shuffle_k=3)
    assert all(np.array_equal(a["targets"], b["targets"]) for a, b in zip(plain, out))
    assert sum(not np.array_equal(a["inputs"], b["inputs"]) for a, b in zip(plain, out)) > 150
    assert all(a["inputs"][0] == b["inputs"][0] and b["inputs"][-1] == tok.eos_id for a, b in zip(plain, out))
    mask = tok.symbol_id(tokenizer_lib.MASK)
    assert sum(int((b["inputs"] == mask).sum()) for b in out) > 100
    # The Bible has no back-translated pairs: noising those alone noises nothing.
    for a, b in zip(plain, noised(word_dropout=0.1, only_backtranslated=True)):
        assert all(np.array_equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("sides", ["source", "target"])
def test_sampling_sides(tiny_tokenizer, bible_data_dir, sides):
    tok = Tokenizer(tiny_tokenizer)
    c = tiny_config()
    c.tokenizer.sampling_alpha, c.tokenizer.sampling_sides = 0.2, sides
    plain, out = _pairs(tiny_config(), tok, bible_data_dir, 50), _pairs(c, tok, bible_data_dir, 50)
    kept, sampled = ("targets", "inputs") if sides == "source" else ("inputs", "targets")
    assert all(np.array_equal(a[kept], b[kept]) for a, b in zip(plain, out))
    assert sum(not np.array_equal(a[sampled], b[sampled]) for a, b in zip(plain, out)) > 25
    assert all(tok.decode(a[sampled]) == tok.decode(b[sampled]) for a, b in zip(plain, out))


def augmented_config():
    # Sampled segmentations are longer: at the tiny max_len most pairs would be dropped (and waited for).
    c = tiny_config(max_len=64)
    c.tokenizer.sampling_alpha = 0.5
    c.data.noise.update(word_dropout=0.1, blank=0.1, shuffle_k=3)
    return c


def _batches(it, n):
    return [next(it) for _ in range(n)]


def _same(a, b) -> bool:
    return len(a) == len(b) and all(x.keys() == y.keys() and all(np.array_equal(x[k], y[k]) for k in x)
                                    for x, y in zip(a, b))


def test_augmented_stream_is_fixed_by_the_seed_and_resumes_exactly(tiny_tokenizer, bible_data_dir):
    tok, c = Tokenizer(tiny_tokenizer), augmented_config()
    it = iter(plans.batches(c, tok, bible_data_dir))
    first = _batches(it, 2)
    state = json.loads(json.dumps(it.get_state()))  # as the checkpoint stores it
    expected = _batches(it, 2)
    assert _same(_batches(iter(plans.batches(c, tok, bible_data_dir)), 4), first + expected)
    fresh = iter(plans.batches(c, tok, bible_data_dir))
    fresh.set_state(state)
    assert _same(_batches(fresh, 2), expected)
    c.seed = 1
    assert not _same(_batches(iter(plans.batches(c, tok, bible_data_dir)), 1), first[:1])


def test_evaluation_data_is_untouched(tiny_tokenizer, bible_data_dir):
    tok = Tokenizer(tiny_tokenizer)
    d, = [x for x in mixture.directions(tiny_config().data, bible_data_dir) if x.pair == "en-es"]
    evaluate = lambda: list(pipeline.eval_batches(tok, d, bible_data_dir, batch_size=8, max_len=32, limit=3))
    before = evaluate()
    _batches(iter(plans.batches(augmented_config(), tok, bible_data_dir)), 2)  # the same tokenizer object
    assert _same(evaluate(), before)
    assert _same(before, list(pipeline.eval_batches(Tokenizer(tiny_tokenizer), d, bible_data_dir, batch_size=8,
                                                    max_len=32, limit=3)))


def one_line_error(fn) -> str:
    with pytest.raises(UserError) as e:
        fn()
    assert "\n" not in str(e.value)
    return str(e.value)


def test_vocabularies_that_cannot_sample_or_blank_are_refused_early(tmp_path):
    bpe = Tokenizer(small_vocab(tmp_path / "bpe.model", "bpe"))
    sampling = augment.Options(sampling_alpha=0.1)
    assert "is a bpe one" in one_line_error(lambda: pipeline.augment_mask_id(bpe, sampling))
    hf_like = type("Vocab", (Sequences,), {"path": "imported"})()  # a Hugging Face tokenizer's vocabulary
    assert "imported is not" in one_line_error(lambda: pipeline.augment_mask_id(hf_like, sampling))
    no_mask = Tokenizer(small_vocab(tmp_path / "plain.model", symbols=()))
    assert "data.noise.blank=0" in one_line_error(lambda: pipeline.augment_mask_id(no_mask,
                                                                                     augment.Options(blank=0.1)))
    assert pipeline.augment_mask_id(no_mask, augment.Options(word_dropout=0.1, shuffle_k=2)) is None


@pytest.mark.parametrize("key,value", [
    ("data.noise.word_dropout", 1.0), ("data.noise.blank", -0.1), ("data.noise.shuffle_k", -1),
    ("tokenizer.sampling_alpha", -0.5), ("tokenizer.sampling_sides", "left"), ("tokenizer.nbest", 1),
    ("tokenizer.model_type", "bpe")])
def test_bad_augmentation_keys_are_one_line_errors(key, value):
    c = get_config()
    c.tokenizer.sampling_alpha = 0.1
    *sections, name = key.split(".")
    node = c
    for part in sections:
        node = node[part]
    node[name] = value
    assert key in one_line_error(lambda: validate(c))


def test_noise_rates_must_leave_words_kept():
    c = get_config()
    c.data.noise.update(word_dropout=0.5, blank=0.5)
    assert "word_dropout + data.noise.blank" in one_line_error(lambda: validate(c))


def test_augmentation_keys_are_fixed_on_resume_but_free_after_an_import(tmp_path):
    c = get_config()
    workdir_lib.save_config(str(tmp_path), c)
    changed = get_config()
    changed.tokenizer.sampling_alpha = 0.1
    assert "tokenizer" in one_line_error(lambda: workdir_lib.save_config(str(tmp_path), changed))
    workdir_lib.save_config(str(tmp_path), changed, workdir_lib.imported_fixed(changed))  # no data state yet
    changed.tokenizer.vocab_size += 1
    assert "tokenizer.vocab_size" in one_line_error(
        lambda: workdir_lib.save_config(str(tmp_path), changed, workdir_lib.imported_fixed(changed)))
    assert os.path.isfile(tmp_path / workdir_lib.CONFIG_FILE)
