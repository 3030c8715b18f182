"""The buy-again bonus is one function in training (in-batch), evaluation (NumPy) and serving (TF)."""

import numpy as np

from recs_pipeline import buy_again
from recs_pipeline.tf_runtime import tf

# Three customers' recent purchases as item index + 1, 0 pads: customer 0 bought item 2 twice
# and item 0 once, customer 1 nothing, customer 2 item 4 once.
HISTORY = np.array([[3, 1, 3, 0], [0, 0, 0, 0], [5, 0, 0, 0]], dtype=np.int32)
NUM_ITEMS = 6
EXPECTED_COUNTS = np.array([[1, 0, 2, 0, 0, 0], [0, 0, 0, 0, 0, 0], [0, 0, 0, 0, 1, 0]], dtype=np.float64)


def test_catalog_counts_and_the_numpy_table_agree_with_a_hand_count():
    served = buy_again.catalog_counts(tf.constant(HISTORY), NUM_ITEMS).numpy()
    np.testing.assert_array_equal(served, EXPECTED_COUNTS)
    table = buy_again.CountTable(HISTORY)
    np.testing.assert_array_equal(table.block(np.array([2, 0, 1]), 0, NUM_ITEMS), EXPECTED_COUNTS[[2, 0, 1]])
    np.testing.assert_array_equal(table.block(np.array([0]), 2, 5), EXPECTED_COUNTS[[0], 2:5])


def test_batch_counts_pair_every_customer_with_every_candidate():
    candidates = tf.constant([2, 4, 0], dtype=tf.int32)
    counts = buy_again.batch_counts(tf.constant(HISTORY), candidates, NUM_ITEMS).numpy()
    np.testing.assert_array_equal(counts, EXPECTED_COUNTS[:, [2, 4, 0]])
    repeated = tf.constant([2, 2, 5, 0, 2], dtype=tf.int32)  # in-batch duplicates get the same column
    np.testing.assert_array_equal(buy_again.batch_counts(tf.constant(HISTORY), repeated, NUM_ITEMS).numpy(), EXPECTED_COUNTS[:, [2, 2, 5, 0, 2]])
    np.testing.assert_array_equal(buy_again.window_sizes(tf.constant(HISTORY)).numpy(), [3, 0, 1])


def test_bonus_is_zero_for_products_never_bought_and_follows_the_share():
    counts = np.array([[0.0, 1.0, 2.0], [0.0, 1.0, 0.0]])
    totals = np.array([4.0, 1.0])
    values = buy_again.bonus(counts, totals, 0.7, 0.3)
    np.testing.assert_allclose(values, [[0.0, 0.7 + 0.3 * np.log(1 / 4), 0.7 + 0.3 * np.log(2 / 4)], [0.0, 0.7, 0.0]])
    served = buy_again.bonus(tf.constant(counts, tf.float32), tf.constant(totals, tf.float32), 0.7, 0.3).numpy()
    np.testing.assert_allclose(served, values, rtol=1e-6)


def test_extended_embeddings_give_dot_products_plus_the_bonus():
    rng = np.random.default_rng(0)
    query, candidate = rng.normal(size=(3, 4)).astype(np.float32), rng.normal(size=(3, 4)).astype(np.float32)
    bonuses = rng.normal(size=(3, 3)).astype(np.float32)
    extended_query, extended_candidate = buy_again.with_bonus(tf.constant(query), tf.constant(candidate), tf.constant(bonuses))
    np.testing.assert_allclose((extended_query @ tf.transpose(extended_candidate)).numpy(), query @ candidate.T + bonuses, rtol=1e-5)


def test_scorer_adds_the_bonus_to_the_base_scores():
    base = lambda users, low, high: np.ones((len(users), high - low))  # noqa: E731
    score = buy_again.scorer(base, buy_again.CountTable(HISTORY), (0.5, 1.0))
    np.testing.assert_allclose(score(np.array([0]), 0, NUM_ITEMS), [[1.5 + np.log(1 / 3), 1.0, 1.5 + np.log(2 / 3), 1.0, 1.0, 1.0]])
