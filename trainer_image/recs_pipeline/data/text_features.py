"""Text features (a product description, a customer's trade) as token indices the towers pool.

A text becomes its first TOKENS distinct words (lower case, letters and digits); the vocabulary is
the words of the training rows' texts that occur in at least MIN_COUNT of them, the most frequent
VOCABULARY words at most, so a word only a later product uses is unknown and dropped. Index 0 pads.
Texts are tokenised once per distinct text, not per row: a catalog repeats its descriptions.
"""

from __future__ import annotations

import re
from collections import Counter

import numpy as np

TOKENS = 16
VOCABULARY = 30_000
MIN_COUNT = 2
_WORD = re.compile(r"[^\W_]+")


def words(text: str) -> list[str]:
    """The text's distinct words, in order of first appearance, at most TOKENS."""
    return list(dict.fromkeys(_WORD.findall(text.lower())))[:TOKENS]


def vocabulary(training_texts: np.ndarray) -> list[str]:
    """The words of these texts (one per distinct text seen in training) in at least MIN_COUNT of them,
    most frequent first (ties by the word), at most VOCABULARY."""
    counts = Counter(word for text in training_texts for word in words(str(text)))
    kept = sorted((word for word, count in counts.items() if count >= MIN_COUNT), key=lambda word: (-counts[word], word))
    return kept[:VOCABULARY]


def token_matrix(texts: np.ndarray, known_words: list[str]) -> np.ndarray:
    """(len(texts), TOKENS) int32: each text's known words as vocabulary index + 1, 0 after."""
    index = {word: number + 1 for number, word in enumerate(known_words)}
    out = np.zeros((len(texts), TOKENS), np.int32)
    for row, text in enumerate(texts):
        tokens = [index[word] for word in words(str(text)) if word in index]
        out[row, : len(tokens)] = tokens
    return out
