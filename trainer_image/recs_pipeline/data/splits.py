"""The train / validation / test split of prepared rows, and the checks that each split can work.

Temporal: test from --test-start or the time quantile of --test-fraction, validation the end of
training by time. Random: a seeded hash of each row's user and item text and its time, so a row
lands in the same split on every machine and in every file order. A split is held as the rows it
names (SplitRows), not as a label per row. Both engines use the checks.
"""

from __future__ import annotations

import hashlib
import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from recs_pipeline.core.config import PrepConfig
from recs_pipeline.core.errors import DataError
from recs_pipeline.data.kept_rows import Rows

TRAIN, VAL, TEST = 0, 1, 2
SPLIT_ORDER = (TRAIN, VAL, TEST)  # as prepared_data.SPLITS names them
DROPPED = 3  # a row data prep does not keep


def _quantile_position(fraction: float, count: int) -> int:
    """Where the `fraction` quantile of `count` sorted values is (SQL quantile_disc: an element, not an interpolation)."""
    return max(math.ceil(fraction * count) - 1, 0)


@dataclass(frozen=True)
class SplitRows:
    """The rows of TRAIN, VAL and TEST (in that order), each a slice of the rows or their positions, in file order.
    A slice when the rows run in split order (a log in time order, split by time: the usual input),
    so taking a split's values copies nothing."""

    parts: tuple[slice | np.ndarray, ...]

    @classmethod
    def of(cls, labels: np.ndarray) -> SplitRows:
        """From TRAIN, VAL, TEST or DROPPED per row."""
        if in_order(labels):
            return cls.at(*np.cumsum(np.bincount(labels, minlength=len(SPLIT_ORDER))[:len(SPLIT_ORDER)]).tolist())
        with ThreadPoolExecutor(max_workers=len(SPLIT_ORDER)) as pool:  # NumPy's comparisons and nonzero release the GIL
            return cls(tuple(pool.map(lambda split: np.flatnonzero(labels == split), SPLIT_ORDER)))

    @classmethod
    def at(cls, val_start: int, test_start: int, end: int) -> SplitRows:
        """Rows 0 to val_start - 1 in training, then validation, then test up to `end`."""
        return cls((slice(0, val_start), slice(val_start, test_start), slice(test_start, end)))

    @classmethod
    def among(cls, positions: np.ndarray, val_start: int, test_start: int) -> SplitRows:
        """The first val_start of `positions` in training, then validation, then test (views of `positions`)."""
        return cls((positions[:val_start], positions[val_start:test_start], positions[test_start:]))

    def size(self, split: int) -> int:
        part = self.parts[split]
        return part.stop - part.start if isinstance(part, slice) else len(part)

    def take(self, values: np.ndarray, split: int, span: slice = slice(None)) -> np.ndarray:
        """The split's values (a view for a slice), or those of `span`, a range (step 1) of the split's rows."""
        part = self.parts[split]
        if isinstance(part, slice):
            start, stop, _ = span.indices(part.stop - part.start)
            return values[part.start + start:part.start + stop]
        return values[part[span]]

    def positions(self, split: int) -> np.ndarray:
        part = self.parts[split]
        return np.arange(part.start, part.stop) if isinstance(part, slice) else part


def counts(by_split: tuple[np.ndarray, ...], size: int) -> np.ndarray:
    """(3, size): how many rows of each split hold each code (`by_split`: the codes of each split's rows)."""
    return np.stack([np.bincount(codes, minlength=size) for codes in by_split])


def split_rows(con, rows: Rows, user_labels: np.ndarray, item_labels: np.ndarray, config: PrepConfig, source: str) -> SplitRows:
    """The kept rows of each split. Temporal: test from --test-start or the time quantile of
    --test-fraction, validation the end of train by time. Random: a seeded hash of the row's user,
    item and time, so a row lands in the same split on every machine and in every file order."""
    times, keep = rows.times, rows.keep
    if config.split == "random" or times is None:
        # Every row drawn (a dropped row's draw is discarded): cheaper than taking the kept rows out first.
        draw = (_row_hash(rows.users, rows.items, times, user_labels, item_labels, config.seed) % np.uint64(1_000_000)) / 1_000_000.0
        val_bound = config.test_fraction + config.val_fraction * (1 - config.test_fraction)
        labels = np.where(draw < config.test_fraction, TEST, np.where(draw < val_bound, VAL, TRAIN)).astype(np.int8)
        parts = SplitRows.of(_dropped(labels, keep))
    else:
        parts = _temporal(con, times, keep, config, source)
    if not parts.size(TRAIN):
        raise DataError(f"{source}: the training split is empty")
    return parts


def _temporal(con, times: np.ndarray, keep: np.ndarray | None, config: PrepConfig, source: str) -> SplitRows:
    """Test from --test-start or the time quantile of --test-fraction, validation the end of train
    by time (the val_fraction quantile of the times before test)."""
    if in_order(times):  # a log in time order, its dropped rows too: the kept times are read where they are
        kept_rows = None if keep is None else np.flatnonzero(keep)
        return _in_split_order(kept_rows, *_bounds_in_order(con, times, kept_rows, config, source))
    kept = times if keep is None else times[keep]
    if keep is not None and in_order(kept):  # only the dropped rows out of order (a time that did not parse)
        return _in_split_order(np.flatnonzero(keep), *_bounds_in_order(con, kept, None, config, source))
    earliest, latest = int(kept.min()), int(kept.max())
    ordered = kept if keep is not None else kept.copy()  # partitioned in place: never the rows' own times
    below = len(ordered)  # the times below the test cut are among ordered[:below]
    if config.test_start:
        test_cut = _test_start(con, config)
    else:
        below = _quantile_position(1 - config.test_fraction, len(ordered))
        ordered.partition(below)
        test_cut = int(ordered[below])
    before = int(np.count_nonzero(ordered[:below] < test_cut))
    require_purchases_both_sides(earliest, latest, before, len(kept), config, source)
    # The `before` times below test_cut are the smallest of all, so the validation cut is found
    # among ordered[:below] without taking them out.
    position = _quantile_position(1 - config.val_fraction, before)
    ordered[:below].partition(position)
    return _between_cuts(times, keep, int(ordered[position]), test_cut)


def _bounds_in_order(con, times: np.ndarray, kept: np.ndarray | None, config: PrepConfig, source: str) -> tuple[int, int, int]:
    """Where validation and test start among the kept rows, and how many there are, for times in
    order: each cut found by bisection, nothing copied (`kept`: the kept rows' positions in
    `times`; None: every row)."""
    count = len(times) if kept is None else len(kept)

    def time_at(position: int) -> int:  # the time of the kept row at `position` in their order
        return int(times[position if kept is None else kept[position]])

    def count_before(cut: int) -> int:  # how many kept rows are earlier than `cut`
        rows = int(np.searchsorted(times, cut))
        return rows if kept is None else int(np.searchsorted(kept, rows))

    test_cut = _test_start(con, config) if config.test_start else time_at(_quantile_position(1 - config.test_fraction, count))
    test_start = count_before(test_cut)
    require_purchases_both_sides(time_at(0), time_at(count - 1), test_start, count, config, source)
    return count_before(time_at(_quantile_position(1 - config.val_fraction, test_start))), test_start, count


def _in_split_order(kept: np.ndarray | None, val_start: int, test_start: int, count: int) -> SplitRows:
    """The splits of kept rows in time order (`kept`: their positions; None: every row)."""
    return SplitRows.at(val_start, test_start, count) if kept is None else SplitRows.among(kept, val_start, test_start)


def _between_cuts(times: np.ndarray, keep: np.ndarray | None, val_cut: int, test_cut: int) -> SplitRows:
    """The kept rows earlier than `val_cut` (training), from it to `test_cut` (validation) and from
    `test_cut` on (test): each split's rows found in a thread of its own (NumPy's comparisons and
    nonzero release the GIL), with no label per row in between."""
    bounds = ((None, val_cut), (val_cut, test_cut), (test_cut, None))

    def rows_of(split: int) -> np.ndarray:
        low, high = bounds[split]
        inside = times >= low if low is not None else times < high
        if low is not None and high is not None:
            inside &= times < high
        if keep is not None:
            inside &= keep
        return np.flatnonzero(inside)

    with ThreadPoolExecutor(max_workers=len(SPLIT_ORDER)) as pool:
        return SplitRows(tuple(pool.map(rows_of, SPLIT_ORDER)))


def in_order(values: np.ndarray, block: int = 1 << 20) -> bool:
    """Whether `values` never decrease: block by block (each overlapping the next by one), so values
    out of order are told by the first block that has some, not after a pass over all of them."""
    for start in range(0, len(values) - 1, block):
        part = values[start:start + block + 1]
        if not (part[1:] >= part[:-1]).all():
            return False
    return True


def _test_start(con, config: PrepConfig) -> int:
    """--test-start in epoch microseconds, read as DuckDB reads a time (its connection's zone is UTC)."""
    start = con.execute("SELECT CAST(CAST($1 AS TIMESTAMP) AS VARCHAR)", [config.test_start]).fetchall()[0][0]
    return int(np.datetime64(start, "us").astype(np.int64))


def _dropped(labels: np.ndarray, keep: np.ndarray | None) -> np.ndarray:
    """`labels` with DROPPED for each row not kept."""
    if keep is not None:
        labels[~keep] = DROPPED
    return labels


def require_purchases_both_sides(earliest: int, latest: int, before: int, total: int, config: PrepConfig, source: str) -> None:
    """A --test-start outside the data leaves the test or the training split with nothing: say
    so by the date, with the data's own range (times in epoch microseconds), since the fractions
    play no part then. Without one, only a time column with one value leaves training empty."""
    first, last = iso(earliest)[:10], iso(latest)[:10]
    if not config.test_start:
        if before == 0:  # the test fraction's cut is the earliest time: every purchase has it
            raise DataError(f"{source}: every purchase has the same time ({iso(earliest)}), so a split by time leaves nothing "
                            "to train on; use --split random, or a timestamp column that varies")
        return
    if before == total:
        raise DataError(f"{source}: no purchase on or after --test-start {config.test_start}: the data runs from {first} to {last}; "
                        "give a date within that range, or leave --test-start out to test on the last "
                        f"{config.test_fraction:.0%} of purchases by time")
    if before == 0:
        raise DataError(f"{source}: no purchase before --test-start {config.test_start}, so nothing to train on: the data runs from "
                        f"{first} to {last}; give a date within that range")


def require_evaluable(user_counts: np.ndarray, config: PrepConfig, source: str) -> None:
    """Validation and test need rows; when one is empty, or every customer has one purchase (an
    order or row id given as the customer), name the cause the user can act on (`user_counts`:
    each split's rows per customer)."""
    rows = int(user_counts.sum())
    if user_counts.sum(axis=0).max() <= 1:
        raise single_purchase_error(config, source, rows)
    for split in (VAL, TEST):
        if not user_counts[split].any():
            raise empty_split_error(split, config, source, rows)


def single_purchase_error(config: PrepConfig, source: str, rows: int) -> DataError:
    """No customer buys twice: most likely an order or row id was given as the customer."""
    return DataError(f"{source}: every customer in column {config.user_column!r} has a single purchase ({rows:,} rows), "
                     "so no customer's purchases say anything about their next one; the model learns from customers who buy "
                     "more than once: is --user-column the customer, not an order or row id?")


def empty_split_error(split: int, config: PrepConfig, source: str, rows: int) -> DataError:
    """The validation (VAL) or test (TEST) split of `rows` kept rows is empty: the option that fills it."""
    name = "validation" if split == VAL else "test"
    flag, fraction = ("--val-fraction", config.val_fraction) if split == VAL else ("--test-fraction", config.test_fraction)
    fix = "an earlier --test-start" if split == TEST and config.test_start else f"a larger {flag} (now {fraction})"
    return DataError(f"{source}: the {name} split is empty: {rows:,} rows are too few for {flag} {fraction}; use {fix} or more data")


def _label_hashes(labels: np.ndarray) -> np.ndarray:
    """A stable 64-bit hash of each label's text."""
    return np.array([int.from_bytes(hashlib.blake2b(str(label).encode(), digest_size=8).digest(), "little") for label in labels],
                    dtype=np.uint64)


def _mix(values: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser: every input bit moves every output bit."""
    with np.errstate(over="ignore"):
        values = (values ^ (values >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        values = (values ^ (values >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return values ^ (values >> np.uint64(31))


def _row_hash(users: np.ndarray, items: np.ndarray, times: np.ndarray | None, user_labels: np.ndarray, item_labels: np.ndarray,
              seed: int) -> np.ndarray:
    """A 64-bit hash per row from its user's and item's text and its time (not from codes, which
    depend on what else is in the file)."""
    stamps = times.astype(np.uint64) if times is not None else np.zeros(len(users), np.uint64)
    value = _mix(stamps ^ np.uint64(seed & 0xFFFFFFFFFFFFFFFF))
    value = _mix(value ^ _label_hashes(item_labels)[items])
    return _mix(value ^ _label_hashes(user_labels)[users])


def iso(microseconds: int) -> str:
    """Epoch microseconds as the ISO text the data stats hold."""
    return np.datetime64(int(microseconds), "us").astype(object).isoformat()
