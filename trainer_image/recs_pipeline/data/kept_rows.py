"""Every input row as integer codes, and which rows data prep keeps: what everything after cleaning works on.

The arrays keep every row, in file order, so cleaning copies nothing; the splits (splits.SplitRows)
name kept rows only, and the ids and times are taken out once per split (a view when the rows
run in split order); a feature's codes per split or shard where they are used.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Rows:
    """Every row, as codes: users and items index their labels; times are epoch microseconds
    (None without a timestamp column); features[name] indexes that feature's labels; numbers[name]
    a numeric feature's values (NaN: missing), bucketised into `features` once the splits are known.
    `keep` is True for the rows kept (None: every row); a dropped row's values mean nothing."""

    users: np.ndarray
    items: np.ndarray
    times: np.ndarray | None
    features: dict[str, np.ndarray]
    numbers: dict[str, np.ndarray]
    texts: dict[str, np.ndarray]  # a text feature's code per row (its labels: the distinct texts)
    keep: np.ndarray | None
