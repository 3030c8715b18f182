"""The rows data prep keeps, as integer codes: what everything after cleaning works on."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


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
