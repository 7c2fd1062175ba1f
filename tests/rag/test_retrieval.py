import numpy as np
import pytest

from labkit.rag import retrieval

VOCAB = ["capital", "veloria", "tarsk", "bridge", "arches", "river", "lamp", "glass"]


def bag_of_words(texts: list[str]) -> np.ndarray:
    """A transparent encoder for tests: word counts over a fixed vocabulary."""
    return np.array([[text.lower().replace("?", " ").replace(".", " ").split().count(w) for w in VOCAB]
                     for text in texts], dtype=np.float32)


PASSAGES = ["Tarsk is the capital of Veloria.", "The bridge has nineteen arches over the river.",
            "The skyglass lamp is made of glass."]
SOURCES = ["Tarsk", "Bridge", "Lamp"]


def test_chunk_words_overlaps_and_covers_the_text():
    text = " ".join(f"w{i}" for i in range(25))
    chunks = retrieval.chunk_words(text, max_words=10, overlap=3)
    assert [len(c.split()) for c in chunks] == [10, 10, 10, 4]
    assert chunks[1].split()[:3] == chunks[0].split()[-3:]
    assert chunks[-1].split()[-1] == "w24"
    assert retrieval.chunk_words("short text", max_words=10, overlap=2) == ["short text"]
    assert retrieval.chunk_words("   ") == []
    with pytest.raises(ValueError):
        retrieval.chunk_words(text, max_words=5, overlap=5)


def test_search_ranks_by_cosine():
    index = retrieval.Retriever.build(bag_of_words, PASSAGES, SOURCES)
    assert np.allclose(np.linalg.norm(index.embeddings, axis=1), 1.0)
    assert index.search(["What is the capital of Veloria?"], k=1) == [[0]]
    assert index.search(["How many arches has the bridge?"], k=2)[0][0] == 1
    assert index.retrieve("Is the lamp glass?", k=1) == [PASSAGES[2]]
    scores = index.scores(["capital veloria tarsk"])
    assert scores.shape == (1, 3) and scores[0, 0] == pytest.approx(1.0)
    assert len(index.search(["river"], k=10)[0]) == 3  # k larger than the index is clipped


def test_recall_at_k():
    index = retrieval.Retriever.build(bag_of_words, PASSAGES, SOURCES)
    queries = ["capital of Veloria", "river arches", "capital veloria lamp"]
    assert retrieval.recall_at_k(index, queries, ["Tarsk", "Bridge", "Lamp"], k=1) == pytest.approx(2 / 3)
    assert retrieval.recall_at_k(index, queries, ["Tarsk", "Bridge", "Lamp"], k=2) == 1.0
    with pytest.raises(ValueError):
        retrieval.recall_at_k(index, queries, ["Tarsk"], k=1)


def test_build_checks_its_inputs():
    with pytest.raises(ValueError):
        retrieval.Retriever.build(bag_of_words, [])
    with pytest.raises(ValueError):
        retrieval.Retriever.build(bag_of_words, PASSAGES, ["only one"])
    assert retrieval.Retriever.build(bag_of_words, PASSAGES).sources == ["0", "1", "2"]


def test_rag_prompt_puts_context_before_question():
    prompt = retrieval.rag_prompt("Capital?", ["A.", "B."])
    assert prompt.index("A.") < prompt.index("B.") < prompt.index("Capital?")


def test_minilm_retrieves_the_right_article():
    from labkit import models

    encoder = models.load_sentence_encoder()
    index = retrieval.Retriever.build(encoder.encode, PASSAGES, SOURCES)
    assert index.embeddings.shape == (3, 384)
    assert retrieval.recall_at_k(index, ["Which city is Veloria's capital?", "Who made the glowing lamp?"],
                                 ["Tarsk", "Lamp"], k=1) == 1.0
