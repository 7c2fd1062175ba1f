"""De-duplication at three strengths: exact, near (MinHash) and semantic (sentence embeddings).

Duplicates make a model memorise, waste compute and leak test items into training (survey ch. 3).
They come in three kinds, and each needs its own tool:

* **exact**: the same text again, after normalisation: a hash of the normalised text finds them;
* **near**: the same text with small edits (a typo, a word added): MinHash estimates the Jaccard
  similarity of word n-gram sets, and locality-sensitive hashing (LSH) finds candidate pairs
  without comparing every pair (``datasketch``);
* **semantic**: the same meaning in other words: cosine similarity of sentence embeddings
  (MiniLM) catches paraphrases that share few n-grams.

Every function keeps the *first* record of a group and returns ``(dropped, kept)`` index pairs,
so a notebook can show what each removal matched.
"""

from __future__ import annotations

import hashlib
import re
from typing import Sequence

import numpy as np


def exact_key(text: str) -> str:
    """A hash of ``text`` with case and whitespace differences removed."""
    return hashlib.sha1(re.sub(r"\s+", " ", text).strip().casefold().encode()).hexdigest()


def exact_duplicates(texts: Sequence[str]) -> list[tuple[int, int]]:
    """``(i, j)`` for every text ``i`` whose :func:`exact_key` equals that of an earlier text ``j``."""
    first: dict[str, int] = {}
    pairs = []
    for i, text in enumerate(texts):
        key = exact_key(text)
        if key in first:
            pairs.append((i, first[key]))
        else:
            first[key] = i
    return pairs


def shingles(text: str, n: int = 3) -> set[str]:
    """The set of lower-cased word ``n``-grams of ``text`` (the whole text if it is shorter)."""
    tokens = re.findall(r"\w+", text.lower())
    return {" ".join(tokens[i:i + n]) for i in range(max(len(tokens) - n + 1, 1))}


def minhash(text: str, num_perm: int = 128, n: int = 3, seed: int = 1):
    """A ``datasketch.MinHash`` of the text's word n-grams: ``a.jaccard(b)`` estimates their Jaccard."""
    from datasketch import MinHash

    signature = MinHash(num_perm=num_perm, seed=seed)
    signature.update_batch([s.encode() for s in shingles(text, n)])
    return signature


def jaccard(a: str, b: str, n: int = 3) -> float:
    """The exact Jaccard similarity of two texts' word n-gram sets (what MinHash estimates)."""
    x, y = shingles(a, n), shingles(b, n)
    return len(x & y) / len(x | y)


def near_duplicates(texts: Sequence[str], threshold: float = 0.7, num_perm: int = 128,
                    n: int = 3) -> list[tuple[int, int]]:
    """``(i, j)`` for every text ``i`` whose estimated Jaccard with an earlier kept text ``j`` is
    at least ``threshold``. LSH proposes candidates; the MinHash estimate confirms them."""
    from datasketch import MinHashLSH

    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
    signatures, pairs = {}, []
    for i, text in enumerate(texts):
        signature = minhash(text, num_perm, n)
        scored = [(signature.jaccard(signatures[j]), j) for j in lsh.query(signature)]
        best = max(scored, default=(0.0, -1))
        if best[0] >= threshold:
            pairs.append((i, best[1]))
        else:
            lsh.insert(i, signature)
            signatures[i] = signature
    return pairs


def semantic_duplicates(embeddings, threshold: float = 0.9, groups: Sequence | None = None) -> list[tuple[int, int]]:
    """``(i, j)`` for every row ``i`` whose cosine similarity with an earlier kept row ``j`` is at
    least ``threshold``. Rows need not be normalised.

    With ``groups`` (one label per row, e.g. the task), rows are compared only within their group:
    a question and the paragraph it is about can be close in meaning without being duplicates.
    Compares all pairs: fine for thousands of rows; beyond that use a nearest-neighbour index."""
    vectors = np.asarray(embeddings, dtype=np.float32)
    vectors = vectors / np.linalg.norm(vectors, axis=1, keepdims=True).clip(min=1e-12)
    groups = list(groups) if groups is not None else [None] * len(vectors)
    kept_by_group: dict = {}
    pairs = []
    for i, vector in enumerate(vectors):
        kept = kept_by_group.setdefault(groups[i], [])
        if kept:
            similarity = vectors[kept] @ vector
            best = int(similarity.argmax())
            if similarity[best] >= threshold:
                pairs.append((i, kept[best]))
                continue
        kept.append(i)
    return pairs
