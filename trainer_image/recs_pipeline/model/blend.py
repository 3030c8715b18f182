"""The model's score of a product for a customer, in the form validation prefers: the trained
buy-again mixture (buy_again.py), or a blend: buy again, recent first, then explore by the towers,
item-kNN and popularity, with its weights picked on the validation split.

    blend = repeat + popularity + w_towers * towers + w_knn * knn

- repeat: the customer's purchases of the product, each weighted 0.5 ** (age / half-life), the
  recency-weighted repeat baseline's weight (`baseline_half_life_days`; `fit` can choose among
  several, but on Ta-Feng choosing among 30, 90, 365 days and plain counts on validation made
  test recall@10 vary from 0.980x to 1.039x the best baseline over 3 seeds, against 1.028x to
  1.032x with the baseline's own, so the train step offers only that one);
- popularity: the product's purchase count scaled into [0, 1) (baselines.popularity_scores), so a
  recent purchase outranks a best-seller and a long-ago one-off can fall below it;
- towers: exp(logit - the customer's top logit), the towers' softmax over the catalog relative to
  the customer's top product, in (0, 1]: a per-customer scale the other terms can be added to;
- knn: the item-kNN baseline's summed similarity to the customer's recency-weighted purchases.

With both weights 0 the blend is a repeat baseline: recency-weighted, or by count. Why two forms:
on Ta-Feng the mixture scored 0.955x the recency-weighted repeat baseline at recall@10 (likelihood
objectives put weight on products the customer never bought), while the blend, its weights chosen
by validation recall, starts from that baseline and adds the towers (and kNN) as far as held-out
purchases say they help; on data whose repeats follow the customer's shares of purchases (the
embedded generator) the mixture is the better model (README, "Measured"). The train step scores
both with the training split as history and the validation split as targets, as the test split
is later scored from train + validation; the grid's first best wins, so ties keep the blend and
its smaller weights.
"""

from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass

import numpy as np
from scipy import sparse

from recs_pipeline.core.config import RECALL_KS
from recs_pipeline.evaluation import baselines, ranking
from recs_pipeline.evaluation.baselines import PurchaseHistory

TOWER_WEIGHTS = (0.0, 0.1, 0.3, 1.0, 3.0, 10.0)
KNN_WEIGHTS = (0.0, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0)
FIT_CUSTOMERS = 5000  # validation customers the weights are fitted on (a seeded sample beyond that)
CANDIDATES_PER_TERM = 200  # each term's top products per customer: the lists a fitted weight reorders
EXPLORE_TERMS = ("popularity", "towers", "knn")
BLEND, MIXTURE = "blend", "mixture"  # the two forms of the model's score


@dataclass(frozen=True)
class BlendWeights:
    """How the model scores: `form` MIXTURE ranks by the trained buy-again mixture (the other
    fields unused); BLEND by the blend with these weights."""

    towers: float
    knn: float
    repeat_half_life_days: float  # 0: no decay
    form: str = BLEND

    def __post_init__(self) -> None:
        if self.form not in (BLEND, MIXTURE) or (self.form == MIXTURE and (self.towers or self.knn)):
            raise ValueError(f"{self}: form must be {BLEND!r} or {MIXTURE!r}, and a mixture has no blend weights")

    @property
    def uses_knn(self) -> bool:
        return self.form == BLEND and self.knn != 0

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


@dataclass(frozen=True)
class BlendFit:
    """The chosen weights and their mean validation recall@K beside that of recency-weighted
    repeat alone (the baseline: both weights 0, its half-life)."""

    weights: BlendWeights
    validation_recall: float
    repeat_only_recall: float
    customers: int

    @property
    def gain(self) -> float:
        """The chosen form's validation recall over recency-weighted repeat's (1 when both are 0)."""
        if not self.repeat_only_recall:
            return 1.0 if not self.validation_recall else float("inf")
        return self.validation_recall / self.repeat_only_recall


class TowerScores:
    """towers(u, i) = exp(logit - the customer's top logit), logit = dot product / temperature."""

    def __init__(self, user_embeddings: np.ndarray, item_embeddings: np.ndarray, temperature: float):
        self.user_embeddings, self.item_embeddings, self.temperature = user_embeddings, item_embeddings, temperature
        self._top = np.full(len(user_embeddings), np.nan)

    def top_logits(self, users: np.ndarray) -> np.ndarray:
        missing = np.unique(users[np.isnan(self._top[users])])
        for start in range(0, len(missing), ranking.ROW_BLOCK):
            block = missing[start : start + ranking.ROW_BLOCK]
            best = np.full(len(block), -np.inf)
            for low in range(0, len(self.item_embeddings), ranking.CANDIDATE_BLOCK):
                best = np.maximum(best, self.logits(block, low, low + ranking.CANDIDATE_BLOCK).max(axis=1))
            self._top[block] = best
        return self._top[users]

    def logits(self, users: np.ndarray, low: int, high: int) -> np.ndarray:
        return (self.user_embeddings[users] @ self.item_embeddings[low:high].T).astype(np.float64) / self.temperature

    def __call__(self, users: np.ndarray, low: int, high: int) -> np.ndarray:
        return np.exp(self.logits(users, low, high) - self.top_logits(users)[:, None])


def repeat_term(known: PurchaseHistory, half_life_days: float) -> ranking.ScoreFn:
    repeat = known.matrix(known.decayed(half_life_days)).tocsr()
    return lambda users, low, high: repeat[users][:, low:high].toarray()


def terms(known: PurchaseHistory, repeat_half_life_days: float, knn_half_life_days: float, user_embeddings: np.ndarray,
          item_embeddings: np.ndarray, temperature: float, mixture: ranking.ScoreFn | None = None) -> dict[str, ranking.ScoreFn]:
    """The four terms, by name, for customers whose purchases so far are `known`, and the trained
    mixture's score (`mixture`, when the model has one)."""
    popularity = baselines.popularity_scores(known)
    parts = {
        "repeat": repeat_term(known, repeat_half_life_days),
        "popularity": lambda users, low, high: np.broadcast_to(popularity[low:high], (len(users), high - low)),
        "towers": TowerScores(user_embeddings, item_embeddings, temperature),
        "knn": baselines.similarity_scorer(known, knn_half_life_days),
    }
    if mixture is not None:
        parts[MIXTURE] = mixture
    return parts


def scorer(parts: dict[str, ranking.ScoreFn], weights: BlendWeights) -> ranking.ScoreFn:
    """The model's score in its form; a blend term with weight 0 is not computed."""
    if weights.form == MIXTURE:
        return parts[MIXTURE]

    def score(users: np.ndarray, low: int, high: int) -> np.ndarray:
        total = parts["repeat"](users, low, high) + parts["popularity"](users, low, high)
        if weights.towers:
            total = total + weights.towers * parts["towers"](users, low, high)
        if weights.knn:
            total = total + weights.knn * parts["knn"](users, low, high)
        return total

    return score


def fit(parts: dict[str, ranking.ScoreFn], repeats: dict[float, ranking.ScoreFn], users: np.ndarray, items: np.ndarray,
        num_items: int, seen: sparse.spmatrix | None = None, seed: int = 42) -> BlendFit:
    """The weights and repeat half-life with the best mean recall@K (RECALL_KS) on these rows
    (validation purchases; `parts` and `repeats`, the repeat term by half-life, the first being the
    baseline's, built from the purchases before them). Each customer's candidates are the union of
    every term's top CANDIDATES_PER_TERM products; a purchase's rank is counted among them.
    `seen`: products each customer bought, left out (exclude_seen); a purchase of one is a miss."""
    customers = np.unique(users)
    if len(customers) > FIT_CUSTOMERS:
        customers = np.sort(np.random.default_rng(seed).choice(customers, FIT_CUSTOMERS, replace=False))
        chosen = np.isin(users, customers)
        users, items = users[chosen], items[chosen]
    mixture = [parts[MIXTURE]] if MIXTURE in parts else []
    columns = [*(parts[name] for name in EXPLORE_TERMS), *repeats.values(), *mixture]
    table = _CandidateTable.build(columns, customers, users, items, num_items, seen)

    def weights_vector(weights: BlendWeights) -> np.ndarray:
        if weights.form == MIXTURE:
            return np.array([0.0] * (len(columns) - 1) + [1.0])
        return np.array([1.0, weights.towers, weights.knn, *(float(h == weights.repeat_half_life_days) for h in repeats), *[0.0] * len(mixture)])

    baseline = BlendWeights(0.0, 0.0, next(iter(repeats)))
    best, best_recall = baseline, table.mean_recall(weights_vector(baseline))
    repeat_only = best_recall
    forms = [BlendWeights(towers, knn, half_life) for half_life, towers, knn in itertools.product(repeats, TOWER_WEIGHTS, KNN_WEIGHTS)]
    for weights in forms + ([BlendWeights(0.0, 0.0, 0.0, MIXTURE)] if mixture else []):
        recall = table.mean_recall(weights_vector(weights))
        if recall > best_recall + 1e-12:
            best, best_recall = weights, recall
    return BlendFit(best, best_recall, repeat_only, len(customers))


@dataclass(frozen=True)
class _CandidateTable:
    """Every term's value at each customer's candidates and at each purchase, for scoring any
    weights with one matrix product."""

    union: np.ndarray  # (customers, slots) product indices
    valid: np.ndarray  # (customers, slots) bool: False for a repeated or a left-out product
    candidates: np.ndarray  # (customers, slots, terms)
    purchases: np.ndarray  # (rows, terms)
    row_customer: np.ndarray  # (rows,) index into customers
    items: np.ndarray  # (rows,) the purchased products
    missed: np.ndarray  # (rows,) bool: a purchase of a product left out (exclude_seen)

    @classmethod
    def build(cls, columns: list[ranking.ScoreFn], customers, users, items, num_items, seen) -> "_CandidateTable":
        per_term = min(CANDIDATES_PER_TERM, num_items)
        # With exclude_seen each term's list is of products the customer never bought, as ranked.
        listed = columns if seen is None else [ranking.excluding(term, seen) for term in columns]
        union = np.sort(np.concatenate([ranking.top_k(term, customers, num_items, per_term)[0] for term in listed], axis=1), axis=1)
        valid = np.ones(union.shape, bool)
        valid[:, 1:] = union[:, 1:] != union[:, :-1]
        row_customer = np.searchsorted(customers, users)
        missed = np.zeros(len(users), bool)
        if seen is not None:
            bought = seen.tocsr()[customers].tocoo()
            keys = bought.row.astype(np.int64) * num_items + bought.col
            valid &= ~np.isin(np.arange(len(customers))[:, None] * num_items + union, keys)
            missed = np.isin(row_customer.astype(np.int64) * num_items + items, keys)
        candidates = np.stack([_at_candidates(term, customers, union) for term in columns], axis=-1)
        purchases = np.stack([_at_purchases(term, customers, row_customer, items) for term in columns], axis=-1)
        return cls(union, valid, candidates, purchases, row_customer, items, missed)

    def mean_recall(self, weights: np.ndarray) -> float:
        """Mean over RECALL_KS of recall@K: a purchase's rank is the number of valid candidates
        scored strictly above it, never counting the product itself (its two scores may differ in
        the last bit, as in ranking.positive_ranks)."""
        scores = self.candidates @ weights
        own = self.purchases @ weights
        ranks = np.zeros(len(own), np.int64)
        for start in range(0, len(own), 8192):
            part = slice(start, start + 8192)
            customer = self.row_customer[part]
            above = (scores[customer] > own[part, None]) & self.valid[customer] & (self.union[customer] != self.items[part, None])
            ranks[part] = above.sum(axis=1)
        ranks[self.missed] = np.iinfo(np.int64).max
        return float(np.mean([(ranks < k).mean() for k in RECALL_KS]))


def _at_candidates(score: ranking.ScoreFn, customers: np.ndarray, columns: np.ndarray) -> np.ndarray:
    """The term at each customer's columns, a block of customers x a block of the catalog at a time."""
    out = np.zeros(columns.shape)
    end = int(columns.max(initial=0)) + 1
    for first in range(0, len(customers), ranking.ROW_BLOCK):
        block = columns[first : first + ranking.ROW_BLOCK]
        for low in range(0, end, ranking.CANDIDATE_BLOCK):
            high = min(low + ranking.CANDIDATE_BLOCK, end)
            rows, slots = np.nonzero((block >= low) & (block < high))
            if len(rows):
                values = np.asarray(score(customers[first : first + ranking.ROW_BLOCK], low, high))
                out[first + rows, slots] = values[rows, block[rows, slots] - low]
    return out


def _at_purchases(score: ranking.ScoreFn, customers: np.ndarray, row_customer: np.ndarray, items: np.ndarray) -> np.ndarray:
    """The term at each purchase's (customer, product), a block of customers x a block of the
    catalog at a time: memory bounded however many purchases one customer has."""
    out = np.zeros(len(items))
    order = np.argsort(row_customer, kind="stable")
    bounds = np.searchsorted(row_customer[order], np.arange(0, len(customers) + ranking.ROW_BLOCK, ranking.ROW_BLOCK))
    end = int(items.max(initial=0)) + 1
    for number, first in enumerate(range(0, len(customers), ranking.ROW_BLOCK)):
        rows = order[bounds[number] : bounds[number + 1]]
        for low in range(0, end, ranking.CANDIDATE_BLOCK):
            high = min(low + ranking.CANDIDATE_BLOCK, end)
            inside = rows[(items[rows] >= low) & (items[rows] < high)]
            if len(inside):
                values = np.asarray(score(customers[first : first + ranking.ROW_BLOCK], low, high))
                out[inside] = values[row_customer[inside] - first, items[inside] - low]
    return out


@dataclass(frozen=True)
class ServingTables:
    """What the served model needs to compute every term but the towers' in TensorFlow: each
    customer's products (CSR) with their recency-weighted counts, popularity, and each product's
    nearest products with their similarities (padded with product 0 at similarity 0)."""

    row_splits: np.ndarray  # (customers + 1,) int64
    items: np.ndarray  # int32: the products each customer bought, once each
    repeat: np.ndarray  # float32, aligned with items: the repeat term's weights
    recency: np.ndarray  # float32, aligned with items: the kNN term's weights
    popularity: np.ndarray  # (products,) float32
    neighbours: np.ndarray  # (products, width) int32
    similarities: np.ndarray  # (products, width) float32


def serving_tables(known: PurchaseHistory, repeat_half_life_days: float, knn_half_life_days: float, neighbours: bool = True) -> ServingTables:
    """The tables from these purchases; `neighbours` False leaves the kNN tables empty (a weight of 0 needs none)."""
    repeat = known.matrix(known.decayed(repeat_half_life_days)).tocsr()
    repeat.sum_duplicates()  # explicit zeros (a weight that underflowed) stay: they are still purchases
    recency = known.matrix(known.decayed(knn_half_life_days)).tocsr()
    recency.sum_duplicates()
    assert np.array_equal(repeat.indices, recency.indices) and np.array_equal(repeat.indptr, recency.indptr)
    similar = baselines.item_similarities(known).tocsr() if neighbours else sparse.csr_matrix((known.num_items, known.num_items))
    lengths = np.diff(similar.indptr)
    width = max(int(lengths.max(initial=0)), 1)
    rows = np.repeat(np.arange(similar.shape[0]), lengths)
    slots = np.arange(len(similar.indices)) - similar.indptr[rows]
    neighbours = np.zeros((similar.shape[0], width), np.int32)
    similarities = np.zeros((similar.shape[0], width), np.float32)
    neighbours[rows, slots] = similar.indices
    similarities[rows, slots] = similar.data
    return ServingTables(repeat.indptr.astype(np.int64), repeat.indices.astype(np.int32), repeat.data.astype(np.float32),
                         recency.data.astype(np.float32), baselines.popularity_scores(known).astype(np.float32), neighbours, similarities)
