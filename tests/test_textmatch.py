"""Blocklist matching: spellings that dodge a term are caught, prompts that merely contain
its letters are not."""

from __future__ import annotations

import pytest

from bot.quotas.rules import find_blocked_term
from bot.quotas.textmatch import (
    BlocklistMatcher,
    clean_term,
    matcher_for,
    skeleton,
    term_key,
    words,
)

TERMS = ["nude", "gun", "big bad", "blood", "naked", "ass", "sex", "裸体"]

# (prompt, the term it must be refused for)
EVASIONS = [
    ("a ｎｕｄｅ woman", "nude"),  # fullwidth
    ("ＮＵＤＥ beach", "nude"),  # fullwidth capitals
    ("nu\u200bde portrait", "nude"),  # zero-width space
    ("a g\u200du\u200cn on the table", "gun"),  # zero-width joiner and non-joiner
    ("bl\u00adood on the snow", "blood"),  # soft hyphen
    ("nak\u2060ed and n\ufeffude", "naked"),  # word joiner, byte-order mark
    ("a пudе model", "nude"),  # Cyrillic п and е
    ("nаkеd man", "naked"),  # Cyrillic а and е
    ("blооd moon", "blood"),  # Cyrillic о
    ("ΝΑΚΕD", "naked"),  # Greek capitals Ν Α Κ Ε
    ("a gυn", "gun"),  # Greek upsilon
    ("ροrn or nυde", "nude"),  # Greek rho, omicron, upsilon
    ("n.u.d.e", "nude"),  # dotted
    ("n . u . d . e photo", "nude"),  # dotted and spaced
    ("n_u_d_e", "nude"),  # underscored
    ("draw a n u d e woman", "nude"),  # spaced letters after a one-letter word
    ("g\nu\nn", "gun"),  # one letter a line
    ("nu-de", "nude"),  # a hyphen inside the word
    ("the big  bad wolf", "big bad"),  # doubled space inside a phrase
    ("the big\u00a0bad wolf", "big bad"),  # non-breaking space
    ("the big\nbad wolf", "big bad"),  # line break inside a phrase
    ("the big\r\n\tbad wolf", "big bad"),  # CRLF and a tab
    ("the big, bad wolf", "big bad"),  # punctuation between the words
    ("b.i.g b.a.d", "big bad"),  # a dotted phrase
    ("B I G  B A D", "big bad"),  # a spaced phrase
    ("n̈üd̈ë", "nude"),  # combining diaereses
    ("g̶u̶n̶", "gun"),  # combining strike-through
    ("ģ̸̛u̵̢n̴̗", "gun"),  # zalgo
    ("𝐧𝐮𝐝𝐞 𝓰𝓾𝓷", "nude"),  # mathematical bold and script
    ("ⓝⓤⓓⓔ", "nude"),  # circled
    ("ɢᴜɴ", "gun"),  # small capitals
    ("bIood", "blood"),  # capital I for l
    ("bl00d", "blood"),  # zeros for o (TR39 folds 0 to o)
    ("ɴ.ᴜ.ᴅ.ᴇ", "nude"),  # mixed: small capitals, dotted
    ("Ｂ\u200bІ\u200bＧ  bаd", "big bad"),  # mixed: fullwidth, Cyrillic І, zero-width, two spaces
    ("a.s.s", "ass"),  # dotted
    ("S E X", "sex"),  # spaced capitals
    ("一个裸体女人", "裸体"),  # a script without spaces between words
    ("A GUN", "gun"),  # capitals
    ("shot-gun", "gun"),  # a hyphenated compound
]

INNOCENT = [
    "gunsmith at work",
    "the game has begun",
    "Gunnar in a burgundy coat",
    "Scunthorpe United at home",
    "a classic bass guitar in the grass",
    "an assassin in Massachusetts",
    "passengers at the embassy",
    "a denuded hillside",
    "Essex and Sussex in the rain",
    "a brass sextant on a unisex desk",
    "Middlesex county fair",
    "a bloodhound on the trail",
    "snakes in the den",
    "a big badger",
    "bigbad",
    "big, badly drawn map",
    "a S.S. Minnow postcard",
    "the letters of J. R. R. Tolkien",
    "nu metal band on a deck",
    "a nu de facto standard",
    "café crème, naïve art",
    "g-unit of measure",
    "ΩMEGA watch on a sunny day",
    "Hello World in Ｈｅｌｌｏ fullwidth",
    "a shotgun wedding",
]


# Through ``find_blocked_term``, which the job reservation calls for every door.
@pytest.mark.parametrize(("prompt", "term"), EVASIONS)
def test_every_evasion_is_caught(prompt: str, term: str) -> None:
    assert find_blocked_term(prompt, TERMS) == term


@pytest.mark.parametrize("prompt", INNOCENT)
def test_prompts_that_merely_contain_the_letters_pass(prompt: str) -> None:
    assert find_blocked_term(prompt, TERMS) is None


def test_the_tables_are_large_enough() -> None:
    assert len(EVASIONS) >= 20
    assert len(INNOCENT) >= 20


def test_skeleton_folds_width_case_format_marks_and_lookalikes() -> None:
    assert skeleton("ＮＵ\u200bDЕ") == "nude"  # fullwidth, zero-width, Cyrillic Е
    assert skeleton("Ĉafé") == "cafe"
    assert skeleton("ǅ") == "dz"
    assert words("n.u_d e,\u00a0x") == ["n", "u", "d", "e", "x"]


def test_term_keys_say_when_two_terms_are_the_same() -> None:
    assert term_key("  Big---BAD ") == term_key("bіg bаd") == "big bad"
    assert term_key("\u200b\u200b") == term_key("...!") == term_key("_") == ""
    assert clean_term("  ＢＩＧ \u200b  Bad ") == "big bad"


def test_terms_that_match_nothing_are_skipped() -> None:
    matcher = BlocklistMatcher(["\u200b", "...", "gun"])
    assert matcher.find("a gun") == "gun"
    assert matcher.find("... and more") is None
    assert not BlocklistMatcher(["\u200b"])


def test_the_term_is_returned_as_stored() -> None:
    # an old row stored before terms were normalised still matches, and is reported as is
    assert find_blocked_term("nude", ["ｎｕｄｅ"]) == "ｎｕｄｅ"
    assert find_blocked_term("a gun", []) is None


def test_matchers_are_compiled_once_per_list() -> None:
    assert matcher_for(("gun", "nude")) is matcher_for(("gun", "nude"))
    assert matcher_for(("gun",)) is not matcher_for(("gun", "nude"))
