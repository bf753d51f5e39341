"""The shared sentencepiece tokenizer on arbitrary Unicode (property-based) and its language tags."""
import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xling_jax.data.tokenizer import EOS_ID, PAD_ID, Tokenizer

SETTINGS = settings(max_examples=150, deadline=None)


@pytest.fixture(scope="module")
def tok(tiny_tokenizer):
    return Tokenizer(tiny_tokenizer)


@SETTINGS
@given(text=st.text())
def test_any_unicode_encodes_to_valid_ids_and_decodes(tok, text):
    ids = tok.encode(text)
    assert all(0 <= i < tok.vocab_size and i not in (PAD_ID, EOS_ID) for i in ids)
    assert isinstance(tok.decode(ids), str)
    assert tok.encode_batch([text, text]) == [ids, ids]


@SETTINGS
@given(text=st.text(alphabet=st.sampled_from("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZáéíóúñ ,.;:!?'\t\n€漢"),
                    max_size=200))
def test_text_round_trips_up_to_normalisation(tok, text):
    # nmt_nfkc normalisation: NFKC, runs of whitespace become one space, ends are stripped.
    expected = " ".join(unicodedata.normalize("NFKC", text).split())
    assert tok.decode(tok.encode(text)) == expected


@SETTINGS
@given(text=st.text(alphabet=st.characters(categories=("L", "M", "N", "P", "S", "Zs")), max_size=100))
def test_characters_outside_the_vocabulary_survive_as_bytes(tok, text):
    once = tok.decode(tok.encode(text))
    assert "\u2047" not in once  # never the <unk> mark: byte fallback keeps every character
    assert tok.decode(tok.encode(once)) == once


@SETTINGS
@given(text=st.text(alphabet=st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF) | st.characters(),
                    min_size=1))
def test_lone_surrogates_do_not_crash(tok, text):
    assert all(0 <= i < tok.vocab_size for i in tok.encode(text))


def test_language_tags_are_control_symbols_that_text_cannot_produce(tok):
    assert set(tok.languages()) == {"en", "es"}
    tag = tok.tag_id("es")
    assert tag not in tok.encode("<2es> hola")  # a literal tag in the text stays text
    assert tok.decode([tag] + tok.encode("hola")) == "hola"
    with pytest.raises(KeyError):
        tok.tag_id("xx")


def test_decode_stops_at_eos_and_skips_padding(tok):
    ids = tok.encode("the king")
    assert tok.decode([PAD_ID] + ids + [EOS_ID] + tok.encode("said")) == "the king"


def test_mask_and_sentinels_are_control_symbols(tok, tmp_path):
    from xling_jax.data import tokenizer as tokenizer_lib
    from xling_jax.errors import UserError
    mask = tok.symbol_id(tokenizer_lib.MASK)
    assert mask not in tok.encode("a <mask> here") and tok.decode([mask] + tok.encode("hola")) == "hola"
    with pytest.raises(UserError, match="no <extra_id_0> symbol"):
        tok.symbol_id(tokenizer_lib.sentinel(0))  # the tiny config asks for no sentinels
    path = str(tmp_path / "t.model")
    tokenizer_lib.train(["the king said", "el rey dijo"] * 20, path, 400, ["en", "es"],
                        extra_symbols=tokenizer_lib.special_symbols(3))
    with_sentinels = Tokenizer(path)
    ids = [with_sentinels.symbol_id(tokenizer_lib.sentinel(i)) for i in range(3)]
    assert len(set(ids)) == 3 and with_sentinels.symbol_id(tokenizer_lib.MASK) not in ids


def test_a_vocabulary_smaller_than_the_characters_is_a_user_error(tmp_path):
    from xling_jax.data import tokenizer as tokenizer_lib
    from xling_jax.errors import UserError
    chinese = "".join(chr(0x4E00 + i) for i in range(300))  # 300 characters, each needs a piece
    with pytest.raises(UserError, match=r"tokenizer.vocab_size=400 is smaller than the \d+ characters"):
        tokenizer_lib.train([chinese, "the king said"] * 5, str(tmp_path / "t.model"), 400, ["en", "zh"])
    assert not (tmp_path / "t.model").exists()
