"""The model's score form, chosen on the validation split: the trained buy-again mixture
(scoring/mixture.py), or a blend (scoring/blend.py): buy again, recent first, then explore by the
towers, item-kNN and popularity, with its weights picked here; or, where validation says nothing
beats it, a baseline's own form (popularity, repeat by count, recency-weighted repeat, item-kNN,
the towers alone), so the model never keeps a form that a baseline beats on validation.

Customers with a purchase and customers without one are fitted apart: a new customer has no repeat
or kNN term, so their list is ordered by the towers' weight against popularity alone, and the
weight that suits them (towers_new_customers) differs from the one that suits a regular. Validation
has few new customers (1,383 on Ta-Feng), so that weight is also fitted on the regular customers'
purchases of products new to them, scored as a new customer's are, from their features alone: on
Ta-Feng, over 3 seeds, new customers' test recall@10 went from 0.0274 to 0.0286 (popularity:
0.0270). It is chosen together with the weight of products nobody bought, which competes with
popularity in a new customer's list.

- the repeat term's half-life is the recency-weighted repeat baseline's (`baseline_half_life_days`):
  on Ta-Feng choosing among 30, 90, 365 days and plain counts on validation made test recall@10
  vary from 0.980x to 1.039x the best baseline over 3 seeds, against 1.028x to 1.032x with the
  baseline's own, so the fit offers only that one;
- with both weights 0 the blend is the recency-weighted repeat baseline.

Why two forms: on Ta-Feng the mixture scored 0.955x the recency-weighted repeat baseline at
recall@10 (likelihood objectives put weight on products the customer never bought), while the
blend, its weights chosen by validation recall, starts from that baseline and adds the towers (and
kNN) as far as held-out purchases say they help; on data whose repeats follow the customer's shares
of purchases (the embedded generator) the mixture is the better model (README, "Measured"). The
train step scores both with the training split as the known purchases and the validation split as
targets, as the test split is later scored from train + validation; the grid's first best wins, so
ties keep the blend and its smaller weights.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, replace
from typing import NamedTuple

import numpy as np
from scipy import sparse

from recs_pipeline.core.config import RECALL_KS
from recs_pipeline.evaluation import ranking
from recs_pipeline.scoring import forms
from recs_pipeline.scoring.blend import Blend
from recs_pipeline.scoring.forms import Form
from recs_pipeline.scoring.mixture import Mixture
from recs_pipeline.scoring.terms import CANDIDATE_BLOCK, ROW_BLOCK, ScoreFn, Terms

TOWER_WEIGHTS = (0.0, 0.1, 0.3, 1.0, 3.0, 10.0)
KNN_WEIGHTS = (0.0, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0)
NEW_CUSTOMER_TOWER_WEIGHTS = (0.0, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0)  # against popularity alone: up to the towers alone
NEW_PRODUCT_TOWER_WEIGHTS = (0.0, 0.1, 0.3, 1.0, 3.0)  # a product nobody bought: how far up the towers lift it
FIT_CUSTOMERS = 5000  # validation customers of each kind (with and without a purchase) the weights are fitted on
CANDIDATES_PER_TERM = 200  # each term's top products per customer: the lists a fitted weight reorders
# The baseline forms validation measures the model against (forms.baselines' names): the ones a blend of these terms can express.
RIVALS = ("popularity", "repeat_purchase", "recency_repeat", "item_knn", forms.TOWERS_ONLY)


@dataclass(frozen=True)
class FormFit:
    """The chosen form and its mean validation recall@K (RECALL_KS) beside that of the best
    baseline form there (`rival`), over every validation row."""

    form: Form
    validation_recall: float
    rival_recall: float
    rival: str
    customers: int
    kept_rival: str = ""  # the baseline whose form the model kept for its regular customers, when no blend or mixture beat it

    @property
    def gain(self) -> float:
        """The chosen form's validation recall over the best baseline form's (1 when both are 0)."""
        if not self.rival_recall:
            return 1.0 if not self.validation_recall else float("inf")
        return self.validation_recall / self.rival_recall


def fit(terms: Terms, repeat_half_life_days: float, users: np.ndarray, items: np.ndarray, num_items: int,
        seen: sparse.spmatrix | None = None, seed: int = 42, mixture: tuple[Mixture, ScoreFn] | None = None,
        catalog: np.ndarray | None = None, features_only: ScoreFn | None = None) -> FormFit:
    """The form with the best mean recall@K (RECALL_KS) on these rows (validation purchases;
    `terms` built from the purchases before them): the baseline forms (RIVALS), blends of the repeat
    term at `repeat_half_life_days` with every grid weight, and `mixture`, the trained mixture and its
    score (forms.scorer), when the model has one; then, for customers with no purchase in `terms`,
    the towers' weight against popularity. Each customer's candidates are the union of every term's
    top CANDIDATES_PER_TERM products; a purchase's rank is counted among them.
    `seen`: products each customer bought, left out (exclude_seen); a purchase of one is a miss.
    `catalog`: the products that exist by the end of these rows (bool; default all): a product
    first bought later is no candidate, so nothing from after validation shapes the fit.
    `features_only`: the towers' term with every customer embedded from their features alone
    (trained.features_only_towers); the sampled regular customers' purchases of products new to
    them, scored so and with no purchase, join the new customers' rows when their weight is chosen."""
    rng = np.random.default_rng(seed)
    bought_users, bought_items = terms.purchases.bought_users(), terms.purchases.bought_items()
    columns = [terms.popularity(), terms.towers, terms.knn(), terms.repeat(repeat_half_life_days), terms.repeat(0.0)]
    if mixture is not None:
        columns.append(mixture[1])
    tables = {}
    for regular in (True, False):
        rows = bought_users[users] == regular
        if rows.any():
            tables[regular] = _CandidateTable.build(columns, *_sample(users[rows], items[rows], rng), num_items, seen, bought_items,
                                                    regular, catalog)
    rivals = {name: form for name, form in forms.baselines(repeat_half_life_days).items() if name in RIVALS}
    rivals = {"recency_repeat": rivals.pop("recency_repeat"), **rivals}  # first: a tie keeps the plain baseline of B2B data
    # Blends on both repeat terms the baselines have (recency-weighted first, then by count), so the
    # best blend is never below either repeat baseline on validation.
    grid: list[Form] = [*rivals.values(), *(Blend(towers, knn, half_life) for half_life, towers, knn in
                                            itertools.product((repeat_half_life_days, 0.0), TOWER_WEIGHTS, KNN_WEIGHTS)),
                        *([mixture[0]] if mixture else [])]
    form = rivals["recency_repeat"]
    if True in tables:
        best = -1.0
        for candidate in grid:  # the first best wins: a baseline's form before a blend that only ties it
            recall = tables[True].hits(_weights(candidate, len(columns))).mean()
            if recall > best + 1e-12:
                form, best = candidate, recall
    kept_rival = next((name for name, rival in rivals.items() if rival == form), "")
    scored = {name: _recall(tables, rival, len(columns)) for name, rival in rivals.items()}
    rival = max(scored, key=lambda name: scored[name])
    if isinstance(form, Blend) and tables:
        as_new = None
        if features_only is not None and True in tables:
            as_new = _as_new_table(terms, features_only, tables[True].customers, users, items, num_items, catalog, len(columns))
        form = _cold_start_weights(tables, as_new, form, len(columns), scored[rival])
    customers = sum(len(table.customers) for table in tables.values())
    recall = _recall(tables, form, len(columns))
    if scored[rival] > recall + 1e-12:  # fitted a segment at a time, the whole can still lose: then keep the rival's form
        form, recall, kept_rival = rivals[rival], scored[rival], rival
    return FormFit(form, recall, scored[rival], rival, customers, kept_rival)


def _cold_start_weights(tables: dict[bool, _CandidateTable], as_new: _CandidateTable | None, form: Blend, width: int,
                        floor: float) -> Blend:
    """The towers' weights for new customers and for products nobody bought, chosen together: a
    product nobody bought scores only its towers term, so how far it rises depends on what the
    other products score, and in a new customer's list those score only popularity and the towers
    at the new customers' weight (fitted one after the other, lifting new products could push a new
    customer's list below popularity's). For each new products' weight, the new customers' weight
    with the most hits over the new customers' rows and `as_new` (regular customers scored from
    their features alone: validation has few new customers, so their weight alone is noisy).

    Of those pairs, the one whose new products earn the most hits, among the pairs whose hits over
    every validation row are not significantly below the best pair's (within_noise) nor below
    `floor`, the best baseline form's recall (fit keeps that form where the blend falls below it,
    and with it new products at weight 0). Validation holds few purchases of new products (on
    Ta-Feng 590 of 58,036 sampled rows, where the longer test period has 2.7%), so on hits alone a
    weight that never shows a new product wins whenever showing them moves a few rows either way,
    and the model then cannot recommend a product launched after training. With neither new
    customers nor `as_new` their weight stays the form's; so does theirs without a purchase of a
    product nobody bought (0 but for the towers alone: such products then score -inf)."""
    cold_tables = [table for table in (tables.get(False), as_new) if table is not None]
    lifts_new = any(table.row_unbought.any() for table in tables.values())
    trials = []
    for product_weight in NEW_PRODUCT_TOWER_WEIGHTS if lifts_new else (form.towers_new_products,):
        lifted = replace(form, towers_new_products=product_weight)
        if cold_tables:
            trial = [replace(lifted, towers_new_customers=weight) for weight in NEW_CUSTOMER_TOWER_WEIGHTS]
            cold_hits = [sum(int(table.hits(_weights(candidate, width)).sum()) for table in cold_tables) for candidate in trial]
            lifted = trial[int(np.argmax(cold_hits))]  # the first best wins: ties keep the smaller weight
        hits = [table.hits(_weights(lifted, width)) for table in tables.values()]
        new_product_hits = sum(int(table_hits[table.row_unbought].sum()) for table, table_hits in zip(tables.values(), hits))
        trials.append(_Trial(lifted, np.concatenate(hits), new_product_hits))
    return _most_new_products_within_noise(trials, floor)


class _Trial(NamedTuple):
    """A pair of cold-start weights and what it scored: each validation row's hits (rows x K, bool)
    and how many of them are purchases of products nobody bought before."""

    form: Blend
    hits: np.ndarray
    new_product_hits: int


def _most_new_products_within_noise(trials: list[_Trial], floor: float) -> Blend:
    """The trial with the most hits on new products among those whose total is not significantly
    below the best total nor its mean below `floor` (the first of them: the smaller weights); the
    best trial when none is."""
    best = max(trials, key=lambda trial: int(trial.hits.sum()))
    kept = [trial for trial in trials if within_noise(trial.hits, best.hits) and trial.hits.mean() >= floor - 1e-12]
    return max(kept or [best], key=lambda trial: trial.new_product_hits).form


def within_noise(hits: np.ndarray, best: np.ndarray) -> bool:
    """Whether `hits` (rows x K, bool) falls short of `best`'s total by at most one standard
    deviation of that difference were the two forms equally good: each row's difference, summed
    over its K (nested: a purchase that drops out of every list differs at each K), flips sign at
    random under that hypothesis, so the deviation is the square root of the rows' squared differences."""
    by_row = hits.sum(axis=1, dtype=np.int64) - best.sum(axis=1, dtype=np.int64)
    return -int(by_row.sum()) <= np.sqrt(float((by_row**2).sum()))


def _as_new_table(terms: Terms, features_only: ScoreFn, customers: np.ndarray, users: np.ndarray, items: np.ndarray, num_items: int,
                  catalog: np.ndarray | None, width: int) -> _CandidateTable | None:
    """The sampled regular customers' validation purchases of products they had not bought, scored
    as a new customer's are: popularity and the towers from their features alone (a new customer's
    every purchase is of a product new to them; repeat and kNN terms are 0 with no purchase); None
    when they bought nothing new."""
    rows = np.isin(users, customers)
    users, items = users[rows], items[rows]
    first = terms.purchases.counts()[users, items].A1 == 0
    if not first.any():  # none: nothing to learn a new customer's weight from
        return None
    return _CandidateTable.build([terms.popularity(), features_only], customers, users[first], items[first], num_items, None,
                                 terms.purchases.bought_items(), False, catalog).widened(width)


def _sample(users: np.ndarray, items: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The rows of at most FIT_CUSTOMERS customers (a seeded sample beyond that), and those customers."""
    customers = np.unique(users)
    if len(customers) > FIT_CUSTOMERS:
        customers = np.sort(rng.choice(customers, FIT_CUSTOMERS, replace=False))
        chosen = np.isin(users, customers)
        users, items = users[chosen], items[chosen]
    return customers, users, items


def _weights(form: Form, width: int) -> tuple[np.ndarray, np.ndarray, float | None]:
    """The form's coefficient of each candidate column (popularity, towers, kNN, repeat at the fit's
    half-life, repeat by count[, the mixture]), for customers with a purchase and without one; and
    the towers' weight for products nobody bought (None: as the others, the mixture)."""
    if isinstance(form, Mixture):
        only = np.zeros(width)
        only[-1] = 1.0
        return only, only, None
    assert not form.baseline_only and form.repeat_half_life_days >= 0
    by_count = form.repeat_half_life_days == 0
    regular = np.zeros(width)
    regular[:5] = [form.popularity, form.towers, form.knn, 0.0 if by_count else form.repeat, form.repeat if by_count else 0.0]
    new = regular.copy()
    new[1] = form.towers_new_customers
    return regular, new, form.towers_new_products


def _recall(tables: dict[bool, _CandidateTable], form: Form, width: int) -> float:
    """Mean recall@K over every row of both tables with this form."""
    hits = [table.hits(_weights(form, width)) for table in tables.values()]
    return float(np.concatenate(hits).mean()) if hits else 0.0


@dataclass(frozen=True)
class _CandidateTable:
    """Every term's value at each customer's candidates and at each purchase, for scoring any
    weights with one matrix product. One table holds customers of one kind: all with a purchase
    (`regular`), or all without one."""

    customers: np.ndarray  # (customers,) their indices
    regular: bool
    union: np.ndarray  # (customers, slots) product indices
    valid: np.ndarray  # (customers, slots) bool: False for a repeated or a left-out product
    unbought: np.ndarray  # (customers, slots) bool: a product with no purchase (only the towers rank it)
    candidates: np.ndarray  # (customers, slots, terms)
    purchases: np.ndarray  # (rows, terms)
    row_customer: np.ndarray  # (rows,) index into customers
    own_slot: np.ndarray  # (rows,) where the purchased product is in its customer's union (-1: not there)
    missed: np.ndarray  # (rows,) bool: a purchase of a product left out (exclude_seen)
    row_unbought: np.ndarray  # (rows,) bool: a purchase of a product with no purchase before

    @classmethod
    def build(cls, columns: list[ScoreFn], customers, users, items, num_items, seen, bought_items: np.ndarray,
              regular: bool = True, catalog: np.ndarray | None = None) -> _CandidateTable:
        row_customer = np.searchsorted(customers, users)
        union, candidates, purchases = _term_values(columns, customers, row_customer, items, num_items, seen)
        valid = np.ones(union.shape, bool)
        valid[:, 1:] = union[:, 1:] != union[:, :-1]
        if catalog is not None:
            valid &= catalog[union]
        missed = np.zeros(len(users), bool)
        if seen is not None:
            bought = seen.tocsr()[customers].tocoo()
            keys = bought.row.astype(np.int64) * num_items + bought.col
            valid &= ~np.isin(np.arange(len(customers))[:, None] * num_items + union, keys)
            missed = np.isin(row_customer.astype(np.int64) * num_items + items, keys)
        # union is sorted within each customer, so (customer, product) keys are sorted over the whole table
        keys = (np.arange(len(customers))[:, None] * num_items + union).ravel()
        wanted = row_customer.astype(np.int64) * num_items + items
        found = np.minimum(np.searchsorted(keys, wanted), len(keys) - 1)
        own_slot = np.where(keys[found] == wanted, found - row_customer * union.shape[1], -1)
        return cls(customers, regular, union, valid, ~bought_items[union], candidates, purchases, row_customer, own_slot, missed,
                   ~bought_items[items])

    def widened(self, width: int) -> _CandidateTable:
        """The table with terms appended up to `width`, each 0 at every candidate and purchase."""
        extra = width - self.purchases.shape[1]
        return replace(self, candidates=np.pad(self.candidates, ((0, 0), (0, 0), (0, extra))),
                       purchases=np.pad(self.purchases, ((0, 0), (0, extra))))

    def hits(self, weights: tuple[np.ndarray, np.ndarray, float | None]) -> np.ndarray:
        """(rows, len(RECALL_KS)) bool: each purchase within the top K. Its rank is counted as
        evaluate counts it (ranking.count_above) among the customer's valid candidates. A product nobody bought
        has the towers at the new products' weight; where that is 0 it cannot be ranked: it scores
        -inf, and buying one is a miss."""
        chosen = weights[0] if self.regular else weights[1]
        scores = self.candidates @ chosen
        own = self.purchases @ chosen
        new_products = weights[2]
        unrankable = new_products == 0
        if new_products is not None:  # a product nobody bought: the towers at their own weight
            lifted = chosen.copy()
            lifted[1] = new_products
            scores = np.where(self.unbought, -np.inf if unrankable else self.candidates @ lifted, scores)
            own = np.where(self.row_unbought, -np.inf if unrankable else self.purchases @ lifted, own)
        ranks = ranking.count_above(np.where(self.valid, scores, -np.inf), self.row_customer, own, self.own_slot)
        ranks[self.missed | (self.row_unbought & unrankable)] = ranking.MISS
        return np.stack([ranks < k for k in RECALL_KS], axis=1)


def _term_values(columns: list[ScoreFn], customers: np.ndarray, row_customer: np.ndarray, items: np.ndarray, num_items: int,
                 seen: sparse.spmatrix | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each customer's candidates (the union of every term's top CANDIDATES_PER_TERM products, sorted;
    with exclude_seen, of products the customer never bought), every term at them, and every term at
    each purchase: each term scored once over the whole catalog, a block of customers at a time."""
    per_term = min(CANDIDATES_PER_TERM, num_items)
    union = np.zeros((len(customers), per_term * len(columns)), np.int64)
    candidates = np.zeros((*union.shape, len(columns)))
    purchases = np.zeros((len(items), len(columns)))
    seen_rows = seen.tocsr()[customers] if seen is not None else None
    step = max(1, ROW_BLOCK * CANDIDATE_BLOCK // (num_items * len(columns)))
    order = np.argsort(row_customer, kind="stable")
    bounds = np.searchsorted(row_customer[order], np.arange(0, len(customers) + step, step))
    for number, first in enumerate(range(0, len(customers), step)):
        block = slice(first, first + step)
        rows = order[bounds[number] : bounds[number + 1]]
        scores = [np.asarray(term(customers[block], 0, num_items), dtype=np.float64) for term in columns]
        bought = seen_rows[block].toarray() > 0 if seen_rows is not None else None
        lists = []
        for values in scores:
            listed = values if bought is None else np.where(bought, -np.inf, values)
            lists.append(ranking.best_columns(listed, np.sort(listed, axis=1), per_term))
        union[block] = np.sort(np.concatenate(lists, axis=1), axis=1)
        for term, values in enumerate(scores):
            candidates[block, :, term] = np.take_along_axis(values, union[block], axis=1)
            purchases[rows, term] = values[row_customer[rows] - first, items[rows]]
    return union, candidates, purchases
