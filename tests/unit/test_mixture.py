"""The buy-again mixture is one function in training (in-batch), evaluation (NumPy) and serving (TF)."""

import numpy as np
from recs_pipeline.core.tf_runtime import tf
from recs_pipeline.scoring import mixture

# Three customers' recent purchases as item index + 1, 0 pads: customer 0 bought item 2 twice
# and item 0 once, customer 1 nothing, customer 2 item 4 once.
HISTORY = np.array([[3, 1, 3, 0], [0, 0, 0, 0], [5, 0, 0, 0]], dtype=np.int32)
NUM_ITEMS = 6
EXPECTED_COUNTS = np.array([[1, 0, 2, 0, 0, 0], [0, 0, 0, 0, 0, 0], [0, 0, 0, 0, 1, 0]], dtype=np.float64)


def test_catalog_counts_and_the_numpy_table_agree_with_a_hand_count():
    served = mixture.catalog_counts(tf.constant(HISTORY), NUM_ITEMS).numpy()
    np.testing.assert_array_equal(served, EXPECTED_COUNTS)
    table = mixture.CountTable(HISTORY)
    np.testing.assert_array_equal(table.block(np.array([2, 0, 1]), 0, NUM_ITEMS), EXPECTED_COUNTS[[2, 0, 1]])
    np.testing.assert_array_equal(table.block(np.array([0]), 2, 5), EXPECTED_COUNTS[[0], 2:5])


def test_batch_counts_pair_every_customer_with_every_candidate():
    candidates = tf.constant([2, 4, 0], dtype=tf.int32)
    counts = mixture.batch_counts(tf.constant(HISTORY), candidates, NUM_ITEMS).numpy()
    np.testing.assert_array_equal(counts, EXPECTED_COUNTS[:, [2, 4, 0]])
    repeated = tf.constant([2, 2, 5, 0, 2], dtype=tf.int32)  # in-batch duplicates get the same column
    np.testing.assert_array_equal(mixture.batch_counts(tf.constant(HISTORY), repeated, NUM_ITEMS).numpy(),
                                  EXPECTED_COUNTS[:, [2, 2, 5, 0, 2]])
    np.testing.assert_array_equal(mixture.window_sizes(tf.constant(HISTORY)).numpy(), [3, 0, 1])


def test_mix_adds_the_repeat_probability_to_products_bought_and_leaves_the_rest():
    logits = np.array([[2.0, -1.0, 0.5], [0.3, 1.0, -2.0]])
    counts = np.array([[0.0, 1.0, 2.0], [0.0, 1.0, 0.0]])
    totals = np.array([4.0, 1.0])
    mixed = mixture.mix(logits, counts, totals, 0.7, 0.3)
    repeat = lambda share: np.exp(0.7) * share**0.3
    expected = [[2.0, np.log(np.exp(-1.0) + repeat(1 / 4)), np.log(np.exp(0.5) + repeat(2 / 4))],
                [0.3, np.log(np.exp(1.0) + repeat(1.0)), -2.0]]
    np.testing.assert_allclose(mixed, expected)
    served = mixture.mix(*(tf.constant(a, tf.float32) for a in (logits, counts, totals)), 0.7, 0.3).numpy()
    np.testing.assert_allclose(served, expected, rtol=1e-6)
    # Stable far from zero, where exp would overflow float32.
    far = mixture.mix(tf.constant([[500.0, -500.0]]), tf.constant([[1.0, 1.0]]), tf.constant([2.0]), 0.0, 1.0).numpy()
    np.testing.assert_allclose(far, [[500.0, np.log(0.5)]], rtol=1e-6)


def test_the_tensorflow_mix_and_its_gradients_equal_the_formula_over_every_entry():
    # The TensorFlow mix computes only where the customer bought the product; the values and the
    # gradients (of the logits and of both weights) must be the formula's over the whole matrix.
    rng = np.random.default_rng(0)
    logits = tf.constant(rng.normal(0, 3, (64, 50)), tf.float32)
    counts = tf.constant(np.where(rng.random((64, 50)) < 0.05, rng.integers(1, 4, (64, 50)), 0), tf.float32)
    totals = tf.reduce_sum(counts, axis=1) + 2.0
    weights = [tf.Variable(0.4), tf.Variable(0.8)]

    def everywhere(logits, counts, totals, bought, share):
        repeat = bought + share * tf.math.log(tf.maximum(counts / tf.maximum(totals, 1.0)[:, None], 1e-12))
        return tf.where(counts > 0, tf.maximum(logits, repeat) + tf.math.log1p(tf.exp(-tf.abs(logits - repeat))), logits)

    results = []
    for function in (mixture.mix, everywhere):
        with tf.GradientTape() as tape:
            tape.watch(logits)
            loss = tf.reduce_sum(tf.nn.log_softmax(function(logits, counts, totals, *weights)) * tf.sin(logits))
        results.append([function(logits, counts, totals, *weights), *tape.gradient(loss, [logits, *weights])])
    for ours, formula in zip(*results):
        np.testing.assert_allclose(ours.numpy(), formula.numpy(), rtol=1e-5, atol=1e-6)


def test_in_batch_losses_are_the_tfrs_task_with_the_adjusted_logits():
    from recs_pipeline.core.tf_runtime import keras, tfrs
    from recs_pipeline.model.towers import in_batch_losses

    rng = np.random.default_rng(0)
    query, candidate = tf.constant(rng.normal(size=(5, 4)), tf.float32), tf.constant(rng.normal(size=(5, 4)), tf.float32)
    ids, probability = tf.constant([1, 2, 1, 3, 4]), tf.constant(rng.uniform(0.01, 0.2, size=5), tf.float32)
    task = tfrs.tasks.Retrieval(loss=keras.losses.CategoricalCrossentropy(from_logits=True, reduction="none"), temperature=0.1,
                                remove_accidental_hits=True)
    expected = task(query, candidate, candidate_ids=ids, candidate_sampling_probability=probability, compute_metrics=False)
    ours = in_batch_losses(query, candidate, ids, probability, 0.1, True)
    np.testing.assert_allclose(ours.numpy(), expected.numpy(), rtol=1e-5)
    # Raising each row's own product's logit lowers every loss; an identity adjustment changes nothing.
    np.testing.assert_allclose(in_batch_losses(query, candidate, ids, probability, 0.1, True, lambda logits: logits).numpy(), ours.numpy())
    boosted = in_batch_losses(query, candidate, ids, probability, 0.1, True, lambda logits: logits + tf.eye(5)).numpy()
    assert (boosted <= ours.numpy()).all() and boosted.sum() < ours.numpy().sum()


def test_scorer_mixes_the_repeat_term_into_the_tempered_base_scores():
    base = lambda users, low, high: np.ones((len(users), high - low))
    score = mixture.scorer(base, mixture.CountTable(HISTORY), mixture.Mixture(0.5, 1.0), 0.5)
    repeat = lambda share: np.exp(0.5) * share
    np.testing.assert_allclose(score(np.array([0]), 0, NUM_ITEMS),
                               [[np.log(np.exp(2.0) + repeat(1 / 3)), 2.0, np.log(np.exp(2.0) + repeat(2 / 3)), 2.0, 2.0, 2.0]])
