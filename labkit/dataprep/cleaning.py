"""Normalisation and quality filters for instruction data (notebook 07, survey ch. 3).

Cleaning comes before de-duplication: two copies of a record that differ only in a non-breaking
space or a stray ``<br/>`` should look identical to the de-duplicator. The filters are simple
rules a learner can read in one sitting; each returns a reason, so a notebook can count what
every rule removed.
"""

from __future__ import annotations

import html
import re
import unicodedata

TAG = re.compile(r"</?([A-Za-z][A-Za-z0-9]*)[^<>]{0,200}>")  # an HTML/XML tag, opening or closing, with attributes
INLINE = {"a", "b", "i", "u", "em", "strong", "span", "small", "code", "font", "mark"}  # tags inside a word run
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u200b-\u200d\ufeff]")  # control and zero-width characters

# The most frequent short function words of each language: a document's share of them says which
# language it is in. Enough for whole sentences; unreliable on two or three words.
STOPWORDS = {
    "en": set("the a an and or of to in on for with is are was were be it this that you i my your what how "
              "which who why when from as at by not do does can will would should have has there their".split()),
    "de": set("der die das und oder ist sind war ein eine einen zu im in mit für von den dem des nicht wie was "
              "ich du es sie wir auf auch bei warum wann wer".split()),
    "fr": set("le la les un une des et ou est sont de du pour avec dans en que qui ne pas je tu il elle nous "
              "vous au aux sur par ce cette pourquoi".split()),
    "es": set("el la los las un una y o es son de del para con en que qui no yo tu él ella nosotros por "
              "al se su sus qué cuál cómo hay".split()),
}


def normalise(text: str) -> str:
    """Unicode NFKC (full-width letters, ligatures and non-breaking spaces become plain ones),
    control and zero-width characters dropped, runs of whitespace collapsed, ends stripped."""
    text = CONTROL.sub("", unicodedata.normalize("NFKC", text))
    return re.sub(r"\s+", " ", text).strip()


def strip_markup(text: str) -> str:
    """Remove HTML tags and decode entities (``&amp;`` -> ``&``, ``&nbsp;`` -> a space), then
    :func:`normalise`. Block tags (``<p>``, ``<br/>``, ``<div>``) become a space, so the words on
    either side stay apart; inline tags (``<b>``, ``<span>``) vanish, so ``<b>no</b>.`` stays ``no.``"""
    text = TAG.sub(lambda m: "" if m.group(1).lower() in INLINE else " ", text)
    return normalise(html.unescape(text))


def words(text: str) -> list[str]:
    """Lower-cased words (letters, with apostrophes), the unit of the length and language rules."""
    return re.findall(r"[^\W\d_]+(?:'[^\W\d_]+)?", text.lower())


def language_scores(text: str) -> dict[str, float]:
    """Share of ``text``'s words that are stop words of each language in :data:`STOPWORDS`."""
    tokens = words(text)
    return {lang: sum(t in stop for t in tokens) / max(len(tokens), 1) for lang, stop in STOPWORDS.items()}


def detect_language(text: str) -> str:
    """The language with the largest stop-word share, or ``"unknown"`` when no stop word occurs."""
    scores = language_scores(text)
    best = max(scores, key=scores.get)
    return best if scores[best] > 0 else "unknown"


def quality_problem(record: dict, min_words: int = 5, max_words: int = 400, language: str = "en") -> str | None:
    """Why a ``{"instruction", "response"}`` record should be dropped, or None to keep it.

    ``too short`` (fewer than ``min_words`` words in all, or an empty response), ``too long``
    (more than ``max_words``), or ``wrong language`` (:func:`detect_language` on instruction and
    response together finds another language; too few stop words to tell is given the benefit of
    the doubt).
    """
    text = f"{record['instruction']} {record['response']}"
    count = len(words(text))
    if count < min_words or not record["response"].strip():
        return "too short"
    if count > max_words:
        return "too long"
    if detect_language(text) not in (language, "unknown"):
        return "wrong language"
    return None
