"""Blocklist matching that spelling cannot dodge: look-alike skeletons, whole words, split letters.

Prompt and terms are both reduced to a *skeleton* (``skeleton``): Unicode NFKC, case folding,
format characters (zero-width spaces, joiners, soft hyphens, bidi controls) and combining
marks removed, and look-alike letters folded to their Latin prototype with the Unicode TR39
confusables data as ``disarm`` maintains it (Cyrillic ``п``, Greek ``ο``, fullwidth ``ｎ``, small
capitals and mathematical letters all become plain Latin). Any run of characters that are not
letters or digits (whitespace, punctuation, underscores, symbols) then separates words.

``BlocklistMatcher(terms).find(prompt)`` finds a term in a prompt when

- its words appear in the prompt as whole, consecutive words (``gun`` is in "a gun, loaded",
  not in "gunsmith" or "Scunthorpe"), or
- its letters appear with the separators between them taken out, where the prompt splits a
  word with single punctuation marks (``n.u.d.e``, ``nu-de``, ``n_u_d_e``) or spaces single
  letters apart (``n u d e``, ``n . u . d . e``) with the same separator each time; the glued
  letters must start and end on the prompt's own word boundaries, or
- it is written in a script that does not separate words with spaces (Han, kana, Thai, ...),
  and its letters occur anywhere in the prompt.
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache

import disarm

__all__ = ["BlocklistMatcher", "clean_term", "matcher_for", "skeleton", "term_key", "words"]

# Removed outright rather than treated as separators: "nu\u200bde" is "nude".
_REMOVED = frozenset({"Cf", "Mn", "Me"})
# Marks that take up space (Indic vowel signs) belong to the word they sit in.
_WORD_CATEGORIES = frozenset({"Mc"})
_WORD = "w"
_RUN_OF_WORD = re.compile(f"{_WORD}+")


class _PerChar(dict[int, str]):
    """A ``str.translate`` table filled in per character on first sight, so the per-character
    work on a 4,000-character prompt runs in C. Remembers at most ``_CACHED`` characters."""

    _CACHED = 65536

    def __init__(self, rule: Callable[[str], str]) -> None:
        super().__init__()
        self._rule = rule

    def __missing__(self, code: int) -> str:
        value = self._rule(chr(code))
        if len(self) < self._CACHED:
            self[code] = value
        return value


def _kept(char: str) -> str:
    """The character itself, or nothing for format characters and combining marks."""
    return "" if unicodedata.category(char) in _REMOVED else char


def _kind(char: str) -> str:
    """``_WORD`` for a letter, digit or spacing mark; a space for anything else."""
    category = unicodedata.category(char)
    return _WORD if category[0] in "LN" or category in _WORD_CATEGORIES else " "


_KEPT = _PerChar(_kept)
_KIND = _PerChar(_kind)
# Between single letters, a separator this long or shorter still glues them ("n . u . d . e").
_MAX_LETTER_GAP = 3
# Scripts written without spaces between words: terms in them match anywhere.
_UNSPACED_SCRIPTS = (
    "CJK ",
    "HIRAGANA",
    "KATAKANA",
    "HALFWIDTH KATAKANA",
    "THAI",
    "LAO",
    "KHMER",
    "MYANMAR",
    "TIBETAN",
)


def skeleton(text: str) -> str:
    """``text`` as the blocklist compares it: NFKC, case-folded, without format characters or
    combining marks, look-alike letters folded to Latin (TR39). Not for display."""
    return _fold(unicodedata.normalize("NFKC", text).casefold())


def _views(text: str) -> list[str]:
    """The skeletons a prompt is searched in.

    Look-alikes are best folded before case: Greek capital "Ν" is a Latin "N" while its small
    form "ν" is a "v", and a capital "I" stands in for "l" ("bIood"). But folded that way
    "BIG" becomes "blg", so the case-folded-first skeleton is searched too.
    """
    cased = _fold(unicodedata.normalize("NFKC", text))
    lowered = skeleton(text)
    return [lowered] if cased == lowered else [lowered, cased]


def _fold(text: str) -> str:
    folded = _strip_marks(text)
    # The "tr39" digit policy also folds 0→o and 1→l, as TR39 does; disarm case-folds last.
    folded = disarm.skeleton_key(folded, digit_policy="tr39")
    # The fold can leave marks again ("İ" → "i" + dot above).
    return _strip_marks(folded).casefold()


def words(text: str) -> list[str]:
    """The words of ``text``'s skeleton; every run of non-letters, non-digits separates."""
    return _Tokens.of(skeleton(text)).words


def clean_term(term: str) -> str:
    """A term as a moderator typed it, in one stored form: NFKC, case-folded, without format
    characters, whitespace collapsed. Readable (unlike the skeleton); what it blocks is its
    ``term_key``."""
    text = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", term).casefold())
    return " ".join("".join(c for c in text if unicodedata.category(c) != "Cf").split())


def term_key(term: str) -> str:
    """What a term matches as: its skeleton's words joined by single spaces ("" if none).

    Two terms with the same key block exactly the same prompts.
    """
    return " ".join(words(term))


@dataclass(frozen=True)
class _Tokens:
    """A skeleton split into words and the separator strings between them."""

    words: list[str]
    #: ``gaps[i]`` is the separator between ``words[i]`` and ``words[i + 1]``
    gaps: list[str]
    #: ``glue[i]``: whether ``gaps[i]`` only splits a word for show (``_glues``)
    glue: list[bool]

    @classmethod
    def of(cls, folded: str) -> _Tokens:
        """Split a skeleton (``skeleton``, ``_views``)."""
        spans = [m.span() for m in _RUN_OF_WORD.finditer(folded.translate(_KIND))]
        found = [folded[start:end] for start, end in spans]
        gaps = [folded[end:start] for (_, end), (start, _) in itertools.pairwise(spans)]
        glue = [_glues(*triple) for triple in zip(found, gaps, found[1:], strict=False)]
        return cls(found, gaps, glue)

    def glued_runs(self) -> list[list[str]]:
        """Runs of two or more words a separator only splits for show: one punctuation mark
        between them ("nu-de", "n.u.d.e") or a short gap between single letters ("n u d e").

        A run keeps one separator throughout, so initials after a word ("a S.S. ship") do not
        glue into another word ("ass"); a new separator starts a new run at the shared word.
        """
        runs: list[list[str]] = []
        run: list[str] = []
        run_gap: str | None = None
        for index, glued in enumerate(self.glue):
            gap = self.gaps[index]
            if glued and run and gap == run_gap:
                run.append(self.words[index + 1])
                continue
            if len(run) > 1:
                runs.append(run)
            run, run_gap = (self.words[index : index + 2], gap) if glued else ([], None)
        if len(run) > 1:
            runs.append(run)
        return runs

    def collapsed(self) -> list[str]:
        """The words with each glued run joined into one ("b.i.g b.a.d" is "big", "bad"),
        runs taken left to right without overlap."""
        out = self.words[:1]
        run_gap: str | None = None
        for index, glued in enumerate(self.glue):
            word, gap = self.words[index + 1], self.gaps[index]
            if glued and run_gap in (None, gap):
                out[-1] += word
                run_gap = gap
            else:
                out.append(word)
                run_gap = None
        return out


def _glues(before: str, gap: str, after: str) -> bool:
    if len(gap) == 1 and not gap.isspace():
        return True
    return len(before) == 1 and len(after) == 1 and len(gap) <= _MAX_LETTER_GAP


def _strip_marks(text: str) -> str:
    return unicodedata.normalize("NFC", unicodedata.normalize("NFD", text).translate(_KEPT))


def _unspaced(word: str) -> bool:
    return any(unicodedata.name(c, "").startswith(_UNSPACED_SCRIPTS) for c in word)


class BlocklistMatcher:
    """A guild's blocklist, compiled once; ``find`` is then cheap for any number of terms."""

    def __init__(self, terms: Iterable[str]) -> None:
        self._phrases: dict[tuple[str, ...], str] = {}
        self._glued: dict[str, str] = {}
        self._anywhere: dict[str, str] = {}
        for term in terms:
            parts = tuple(words(term))
            if not parts:
                continue  # nothing to match; /blocklist add refuses such terms
            self._phrases.setdefault(parts, term)
            joined = "".join(parts)
            self._glued.setdefault(joined, term)
            if _unspaced(joined):
                self._anywhere.setdefault(joined, term)
        self._longest_phrase = max(map(len, self._phrases), default=0)
        self._phrase_heads = {parts[0] for parts in self._phrases}
        # Gluing a run stops as soon as it is no term's beginning: "a b a b ..." stays linear.
        self._glued_prefixes = {k[:end] for k in self._glued for end in range(1, len(k) + 1)}

    def __bool__(self) -> bool:
        return bool(self._phrases)

    def find(self, prompt: str) -> str | None:
        """The first blocked term ``prompt`` contains (as the term was given), or None."""
        if not self._phrases:
            return None
        for view in _views(prompt):
            tokens = _Tokens.of(view)
            term = self._find_phrase(tokens.words) or self._find_anywhere(tokens.words)
            if term is None and any(tokens.glue):
                term = self._find_glued(tokens.glued_runs()) or self._find_phrase(
                    tokens.collapsed()
                )
            if term is not None:
                return term
        return None

    def _find_phrase(self, found: list[str]) -> str | None:
        for start, word in enumerate(found):
            if word not in self._phrase_heads:
                continue
            for end in range(start + 1, min(start + self._longest_phrase, len(found)) + 1):
                term = self._phrases.get(tuple(found[start:end]))
                if term is not None:
                    return term
        return None

    def _find_glued(self, runs: list[list[str]]) -> str | None:
        for run in runs:
            for start in range(len(run)):
                joined = run[start]
                if joined not in self._glued_prefixes:
                    continue
                for word in run[start + 1 :]:
                    joined += word
                    if joined not in self._glued_prefixes:
                        break
                    term = self._glued.get(joined)
                    if term is not None:
                        return term
        return None

    def _find_anywhere(self, found: list[str]) -> str | None:
        if not self._anywhere:
            return None
        text = "".join(found)
        return next((t for k, t in self._anywhere.items() if k in text), None)


@lru_cache(maxsize=256)
def matcher_for(terms: tuple[str, ...]) -> BlocklistMatcher:
    """The compiled matcher for a blocklist, reused while the list is unchanged."""
    return BlocklistMatcher(terms)
