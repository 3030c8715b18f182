"""The rows data prep keeps, as integer codes, and which of them each split holds.

Everything after cleaning works on these arrays. A split is a slice of them when the rows run in
split order (a log in time order under a temporal split, the usual input), so the split files and
the per-split counts take no copies; otherwise it is the rows' positions, taken once per column.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from recs_pipeline.data.splits import TEST, TRAIN, VAL

SPLIT_LABELS = (TRAIN, VAL, TEST)


@dataclass(frozen=True)
class Rows:
    """The kept rows, as codes: users and items index their labels; times are epoch microseconds
    (None without a timestamp column); features[name] indexes that feature's labels; numbers[name]
    a numeric feature's values (NaN: missing), bucketised into `features` once the splits are known."""

    users: np.ndarray
    items: np.ndarray
    times: np.ndarray | None
    features: dict[str, np.ndarray]
    numbers: dict[str, np.ndarray]
    texts: dict[str, np.ndarray]  # a text feature's code per row (its labels: the distinct texts)


@dataclass(frozen=True)
class SplitRows:
    """The rows of TRAIN, VAL and TEST (in that order), each a slice or the positions, in file order."""

    parts: tuple[slice | np.ndarray, ...]

    @classmethod
    def of(cls, labels: np.ndarray) -> SplitRows:
        if len(labels) < 2 or bool((labels[1:] >= labels[:-1]).all()):  # in split order: slices, no copies
            bounds = np.concatenate([[0], np.cumsum(np.bincount(labels, minlength=len(SPLIT_LABELS)))]).tolist()
            return cls(tuple(slice(bounds[split], bounds[split + 1]) for split in SPLIT_LABELS))
        return cls(tuple(np.flatnonzero(labels == split) for split in SPLIT_LABELS))

    def size(self, split: int) -> int:
        part = self.parts[split]
        return part.stop - part.start if isinstance(part, slice) else len(part)

    def take(self, values: np.ndarray, split: int) -> np.ndarray:
        """The split's values (a view for a slice)."""
        return values[self.parts[split]]

    def positions(self, *chosen: int) -> np.ndarray:
        """The positions of the rows of the `chosen` splits."""
        parts = [self.parts[split] for split in chosen]
        return np.concatenate([np.arange(part.start, part.stop) if isinstance(part, slice) else part for part in parts])


def split_counts(by_split: tuple[np.ndarray, ...], size: int) -> np.ndarray:
    """(3, size) int64: how many rows of each split hold each code (`by_split`: the codes per split)."""
    return np.stack([np.bincount(codes, minlength=size) for codes in by_split]) if size else np.zeros((len(by_split), 0), np.int64)
