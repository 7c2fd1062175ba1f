import numpy as np
import pytest

from labkit.dataprep import dedup

BASE = ("Continue this passage in the same style: The harbour town sits at the mouth of a slow brown river, "
        "where the water from the hills meets the grey sea and the old quay still carries iron rings.")


def test_exact_duplicates_ignore_case_and_whitespace_and_keep_the_first():
    texts = ["Hello world", "Another text", "hello   World ", "Hello world"]
    assert dedup.exact_duplicates(texts) == [(2, 0), (3, 0)]


def test_near_duplicates_find_small_edits_not_different_texts():
    edited = BASE.replace("harbour", "harbuor")  # one typo: 3 of the 35 word 3-grams change
    other = ("Continue this passage in the same style: The bakery opens at six, and the first loaves "
             "go to the fishermen before the boats leave the quay in the dark.")
    assert dedup.jaccard(BASE, edited) > 0.7 > dedup.jaccard(BASE, other)
    assert dedup.near_duplicates([BASE, other, edited], threshold=0.7) == [(2, 0)]
    estimate = dedup.minhash(BASE).jaccard(dedup.minhash(edited))
    assert estimate == pytest.approx(dedup.jaccard(BASE, edited), abs=0.15)


def test_semantic_duplicates_respect_threshold_and_groups():
    vectors = np.array([[1.0, 0.0], [0.0, 1.0], [0.99, 0.1], [0.7, 0.7]])
    assert dedup.semantic_duplicates(vectors, threshold=0.95) == [(2, 0)]
    assert dedup.semantic_duplicates(vectors, threshold=0.95, groups=["a", "b", "b", "a"]) == []
    assert dedup.semantic_duplicates(vectors, threshold=0.7) == [(2, 0), (3, 0)]


def test_shingles_of_short_text():
    assert dedup.shingles("Two words") == {"two words"}
    assert dedup.shingles("a b c d", n=3) == {"a b c", "b c d"}
