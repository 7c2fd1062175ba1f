"""Dense retrieval: embed passages once, then find the nearest ones to a question by cosine.

This is the "R" of retrieval-augmented generation (RAG). Instead of teaching a model facts by
changing its weights, we look the facts up at question time and paste them into the prompt.
The index is a plain matrix of unit-length embeddings, so a search is one matrix product: no
vector database is needed for a few thousand passages, and every step can be printed.

Any ``encode(texts) -> array`` function works as the encoder; notebooks pass the MiniLM sentence
encoder (``models.load_sentence_encoder().encode``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

Encode = Callable[[list[str]], np.ndarray]


def chunk_words(text: str, max_words: int = 120, overlap: int = 20) -> list[str]:
    """Split ``text`` into passages of at most ``max_words`` words, consecutive ones overlapping.

    Sentence encoders read a limited window (MiniLM: 256 word pieces) and a short passage gives a
    sharper embedding than a long one; the overlap keeps a fact that straddles a cut whole in one
    of the two passages.
    """
    if not 0 <= overlap < max_words:
        raise ValueError(f"overlap ({overlap}) must be at least 0 and smaller than max_words ({max_words})")
    words = text.split()
    if len(words) <= max_words:
        return [" ".join(words)] if words else []
    step = max_words - overlap
    starts = range(0, len(words) - overlap, step)
    return [" ".join(words[start:start + max_words]) for start in starts]


def _unit_rows(vectors) -> np.ndarray:
    array = np.asarray(vectors, dtype=np.float32)
    if array.ndim == 1:
        array = array[None, :]
    norms = np.linalg.norm(array, axis=1, keepdims=True)
    return array / np.maximum(norms, 1e-12)


@dataclass
class Retriever:
    """An in-memory cosine-similarity index over ``passages``.

    Build it with :meth:`build`; ``sources[i]`` says where passage ``i`` came from (an article
    title, a file name), which is what recall@k compares against.
    """

    encode: Encode
    passages: list[str]
    sources: list[str]
    embeddings: np.ndarray = field(repr=False)

    @classmethod
    def build(cls, encode: Encode, passages: Sequence[str], sources: Sequence[str] | None = None) -> "Retriever":
        """Embed every passage once (the 'preparation' cost of RAG) and keep unit-length rows."""
        passages = list(passages)
        if not passages:
            raise ValueError("cannot build a retriever over no passages")
        sources = list(sources) if sources is not None else [str(i) for i in range(len(passages))]
        if len(sources) != len(passages):
            raise ValueError(f"{len(sources)} sources for {len(passages)} passages")
        return cls(encode, passages, sources, _unit_rows(encode(passages)))

    def scores(self, queries: Sequence[str]) -> np.ndarray:
        """Cosine similarity of each query (rows) with each passage (columns)."""
        return _unit_rows(self.encode(list(queries))) @ self.embeddings.T

    def search(self, queries: Sequence[str], k: int = 3) -> list[list[int]]:
        """Indices of the ``k`` most similar passages for each query, best first."""
        k = min(k, len(self.passages))
        scores = self.scores(queries)
        # stable sort on -score: ties keep passage order, so results are reproducible
        return [list(np.argsort(-row, kind="stable")[:k]) for row in scores]

    def retrieve(self, question: str, k: int = 3) -> list[str]:
        """The ``k`` best passages for one question, as text."""
        return [self.passages[i] for i in self.search([question], k)[0]]


def recall_at_k(retriever: Retriever, queries: Sequence[str], relevant: Sequence[str], k: int) -> float:
    """Share of queries whose relevant source is among the top ``k`` retrieved passages.

    If the answer is not retrieved, the generator cannot read it: recall@k is an upper bound
    on what RAG can score, and the first number to check when RAG answers badly.
    """
    if len(queries) != len(relevant):
        raise ValueError(f"{len(queries)} queries for {len(relevant)} relevant sources")
    hits = [relevant[q] in {retriever.sources[i] for i in found}
            for q, found in enumerate(retriever.search(queries, k))]
    return sum(hits) / max(len(hits), 1)


def rag_prompt(question: str, passages: Sequence[str]) -> str:
    """A user message that puts the retrieved passages before the question.

    Asking for a short answer "from the context" keeps a small model from wandering off into
    what it half-remembers.
    """
    context = "\n\n".join(passages)
    return f"Context:\n{context}\n\nUsing only the context above, answer briefly.\nQuestion: {question}"
