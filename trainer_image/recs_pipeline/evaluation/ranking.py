"""Exact retrieval metrics over the whole catalog, for the model and the baselines, with one ranker.

Every test row counts (TFRS FactorizedTopK semantics): its rank is the number of catalog items
scored strictly above the purchased item for that customer; a purchased item the method scores
-inf (one it cannot rank, or one left out as already bought) is a miss at every K. Scoring runs in blocks of customers
× blocks of candidates, each customer scored once for all their test rows, so memory stays
bounded for catalogs of millions of products.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from recs_pipeline.core import metric_keys
from recs_pipeline.core.config import RECALL_KS
from recs_pipeline.scoring.terms import CANDIDATE_BLOCK, ROW_BLOCK, ScoreFn

# A catalog up to this size is scored in one block per block of customers (fewer customers a block, the
# same memory): each score is computed once, for the ranks and the coverage lists alike; larger ones go
# in blocks of CANDIDATE_BLOCK, scored once to read each row's own score and again to count above it.
SINGLE_PASS_ITEMS = 65_536
MISS = np.iinfo(np.int64).max // 4  # the rank of a purchase the method cannot rank: beyond every K, finite in NDCG and MRR


@dataclass(frozen=True)
class RankingMetrics:
    """recall@K, NDCG@K and MRR over test rows; named as they appear in final_metrics; `groups`: the
    same over named subsets of the rows (the test segments)."""

    values: dict[str, float]
    groups: dict[str, dict[str, float]] = field(default_factory=dict)


def positive_ranks(score: ScoreFn, users: np.ndarray, items: np.ndarray, num_items: int) -> np.ndarray:
    """Rank (0 = top) of each row's purchased item among all `num_items` candidates: the number of
    other items scored strictly above it. A customer's scores are computed once for all their test
    rows (blocks of customers × blocks of candidates); each row's own score is read from its
    customer's block, and the item itself is never counted above itself."""
    return _rank_pass(score, users, items, num_items, 0)[0]


def _layout(num_items: int) -> tuple[int, list[tuple[int, int]]]:
    """Customers per block and the candidate blocks (SINGLE_PASS_ITEMS)."""
    if num_items <= SINGLE_PASS_ITEMS:
        return max(1, ROW_BLOCK * CANDIDATE_BLOCK // max(num_items, 1)), [(0, num_items)]
    return ROW_BLOCK, [(low, min(low + CANDIDATE_BLOCK, num_items)) for low in range(0, num_items, CANDIDATE_BLOCK)]


def _rank_pass(score: ScoreFn, users: np.ndarray, items: np.ndarray, num_items: int, top: int) -> tuple[np.ndarray, np.ndarray | None]:
    """positive_ranks, and with `top` each customer's (np.unique(users)) best `top` items, read from
    the same scores when the catalog is one block (None otherwise: top_k scores them again)."""
    customers, row_customer = np.unique(users, return_inverse=True)
    ranks = np.zeros(len(users), dtype=np.int64)
    by_customer = np.argsort(row_customer, kind="stable")
    row_block, blocks = _layout(num_items)
    bounds = np.searchsorted(row_customer[by_customer], np.arange(0, len(customers) + row_block, row_block))
    lists = np.zeros((len(customers), min(top, num_items)), np.int64) if top and len(blocks) == 1 else None
    for number, first in enumerate(range(0, len(customers), row_block)):
        block_customers = customers[first : first + row_block]
        rows = by_customer[bounds[number] : bounds[number + 1]]
        local, row_items = row_customer[rows] - first, items[rows]
        # Pass 1: each row's own score. Blocks are kept for pass 2 when the catalog is one block.
        positive = np.empty(len(rows))
        kept = {}
        for low, high in blocks:
            inside = np.flatnonzero((row_items >= low) & (row_items < high))
            if len(inside) or len(blocks) == 1:
                scores = np.asarray(score(block_customers, low, high))
                positive[inside] = scores[local[inside], row_items[inside] - low]
                if len(blocks) == 1:
                    kept[low] = scores
        # Pass 2: count what scores above each row's own item, block by block.
        for low, high in blocks:
            scores = kept.pop(low) if low in kept else np.asarray(score(block_customers, low, high))
            ordered = np.sort(scores, axis=1)
            if lists is not None:
                best = best_columns(scores, ordered, lists.shape[1])
                best[np.take_along_axis(scores, best, axis=1) == -np.inf] = -1  # fewer than k rankable: not shown
                lists[first : first + row_block] = best
            own_column = np.where((row_items >= low) & (row_items < high), row_items - low, -1)
            ranks[rows] += count_above(scores, local, positive, own_column, ordered)
        ranks[rows[positive == -np.inf]] = MISS
    return ranks, lists


def count_above(scores: np.ndarray, row_customer: np.ndarray, own: np.ndarray, own_column: np.ndarray,
                ordered: np.ndarray | None = None) -> np.ndarray:
    """The one rank-counting rule of every recall here (evaluate and the score fit): per row, the
    candidates of its customer (`scores`: customers x candidates; `row_customer`: each row's
    customer) scored strictly above the row's own score `own`, never counting the row's own product
    (at `own_column`; -1: not among these candidates), whose score there, read apart, may differ in
    the last bit. Each customer's scores are sorted once and every row found by a binary search:
    far cheaper than comparing each row with its customer's whole catalog (`ordered`: the sorted
    scores, when already sorted)."""
    ordered = np.sort(scores, axis=1) if ordered is None else ordered
    width = scores.shape[1]
    low, high = np.zeros(len(own), np.int64), np.full(len(own), width, np.int64)
    for _ in range(width.bit_length()):  # per row: how many of the customer's scores are <= own
        middle = (low + high) // 2
        at_or_below = (low < high) & (ordered[row_customer, np.minimum(middle, width - 1)] <= own)
        low, high = np.where(at_or_below, middle + 1, low), np.where(at_or_below | (low >= high), high, middle)
    counts = width - low
    listed = np.flatnonzero(own_column >= 0)
    counts[listed] -= scores[row_customer[listed], own_column[listed]] > own[listed]
    return counts


def best_columns(scores: np.ndarray, ordered: np.ndarray, k: int) -> np.ndarray:
    """Each row's k best columns, best first, ties to the lower column (as top_k), from the
    sorted scores (`ordered`): the columns above the row's k-th best score, ordered, then the
    lowest columns equal to it (often most of the row: a term that is 0 for every product not bought)."""
    width, rows = scores.shape[1], np.arange(len(scores))
    if not 0 < k <= width:
        raise ValueError(f"best_columns: k={k} must be between 1 and the {width} columns")
    threshold = ordered[:, width - k][:, None]
    out = np.zeros((len(scores), k), np.int64)
    above = np.flatnonzero(scores > threshold)  # fewer than k a row
    row, column = np.divmod(above, width)
    order = np.lexsort((column, -scores.ravel()[above], row))
    row, column = row[order], column[order]
    out[row, np.arange(len(row)) - np.searchsorted(row, rows)[row]] = column
    count_above = np.bincount(row, minlength=len(scores))
    row, column = np.divmod(np.flatnonzero(scores == threshold), width)  # row by row, columns ascending
    place = count_above[row] + np.arange(len(row)) - np.searchsorted(row, rows)[row]
    kept = place < k
    out[row[kept], place[kept]] = column[kept]
    return out


def top_k(score: ScoreFn, users: np.ndarray, num_items: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Each user's k best items, best first, and their scores: the brute-force ranking that the
    exported retrieval model must reproduce. Ties go to the lower item index."""
    k = min(k, num_items)
    all_items = np.zeros((len(users), k), dtype=np.int64)
    all_scores = np.zeros((len(users), k), dtype=np.float64)
    for start in range(0, len(users), ROW_BLOCK):
        block_users = users[start : start + ROW_BLOCK]
        best_scores = np.full((len(block_users), 0), -np.inf)
        best_items = np.zeros((len(block_users), 0), dtype=np.int64)
        for low in range(0, num_items, CANDIDATE_BLOCK):
            high = min(low + CANDIDATE_BLOCK, num_items)
            best_scores = np.concatenate([best_scores, score(block_users, low, high)], axis=1)
            best_items = np.concatenate([best_items, np.broadcast_to(np.arange(low, high), (len(block_users), high - low))], axis=1)
            if best_scores.shape[1] > k:
                # Columns run in item order (the best so far, ties by item, then the block): ties go to the lower item.
                keep = best_columns(best_scores, np.sort(best_scores, axis=1), k)
                best_scores = np.take_along_axis(best_scores, keep, axis=1)
                best_items = np.take_along_axis(best_items, keep, axis=1)
        order = np.lexsort((best_items, -best_scores), axis=1)
        all_items[start : start + ROW_BLOCK] = np.take_along_axis(best_items, order, axis=1)
        all_scores[start : start + ROW_BLOCK] = np.take_along_axis(best_scores, order, axis=1)
    return all_items, all_scores


def catalog_coverage(score: ScoreFn, users: np.ndarray, num_items: int, ks: tuple[int, ...] = metric_keys.COVERAGE_KS,
                     ranked: np.ndarray | None = None) -> dict[str, float]:
    """Share of the catalog that appears in at least one of these users' top-K lists (`ranked`:
    their best max(ks) items, best first, -1 past the last they can rank, when already known). A
    product a customer's list cannot rank (-inf) is never shown, so never counted."""
    if ranked is None:
        ranked, scores = top_k(score, users, num_items, max(ks))
        ranked = np.where(scores == -np.inf, -1, ranked)
    coverage = {}
    for k in ks:
        shown = np.zeros(num_items + 1, dtype=bool)  # the last: -1, nothing shown
        shown[ranked[:, :k].ravel()] = True
        shown = shown[:num_items]
        coverage[metric_keys.coverage(k)] = float(shown.mean())
    return coverage


def ranking_metrics(ranks: np.ndarray, ks: tuple[int, ...] = RECALL_KS) -> RankingMetrics:
    values: dict[str, float] = {}
    for k in ks:
        hit = ranks < k
        values[metric_keys.recall(k)] = float(hit.mean())
        values[metric_keys.ndcg(k)] = float(np.where(hit, 1.0 / np.log2(ranks + 2.0), 0.0).mean())
    values[metric_keys.MRR] = float((1.0 / (ranks + 1.0)).mean())
    return RankingMetrics(values)


def excluding(score: ScoreFn, seen) -> ScoreFn:
    """`score` with the products each customer bought before (`seen`: a (users, items) SciPy
    sparse matrix, non-zero where bought) at -inf, so they are never recommended; a test
    purchase of one of them counts as a miss."""
    seen = seen.tocsr()

    def score_unseen(users: np.ndarray, low: int, high: int) -> np.ndarray:
        block = np.array(score(users, low, high), dtype=np.float64)
        block[seen[users][:, low:high].toarray() > 0] = -np.inf
        return block

    return score_unseen


def evaluate_scorer(score: ScoreFn, test: pd.DataFrame, num_items: int, row_groups: dict[str, np.ndarray] | None = None
                    ) -> RankingMetrics:
    """recall@K, NDCG@K, MRR over every test row, and catalog coverage over the test customers;
    then recall@K, NDCG@K and MRR over each of `row_groups` (name -> a mask of test rows) that has rows."""
    users = test["user_idx"].to_numpy(np.int64)
    items = test["item_idx"].to_numpy(np.int64)
    ranks, lists = _rank_pass(score, users, items, num_items, max(metric_keys.COVERAGE_KS))
    metrics = ranking_metrics(ranks).values
    metrics.update(catalog_coverage(score, np.unique(users), num_items, ranked=lists))
    groups = {name: ranking_metrics(ranks[mask]).values for name, mask in (row_groups or {}).items() if mask.any()}
    return RankingMetrics(metrics, groups)
