"""Each score form's NumPy version (evaluate, the fit) and TensorFlow version (the served model) give the same scores."""

import numpy as np
import pandas as pd
import pytest
from recs_pipeline.core.tf_runtime import tf
from recs_pipeline.scoring import blend, forms, mixture
from recs_pipeline.scoring.blend import Blend
from recs_pipeline.scoring.mixture import Mixture
from recs_pipeline.scoring.purchases import Purchases
from recs_pipeline.scoring.terms import Terms, TowerScores

CUSTOMERS, PRODUCTS, DIMENSION, WINDOW = 12, 40, 4, 6


def setting(seed: int = 0):
    rng = np.random.default_rng(seed)
    # The last customer and the last 5 products have no purchase: only the towers rank those products, or no one.
    rows = pd.DataFrame({"user_idx": rng.integers(0, CUSTOMERS - 1, 150), "item_idx": rng.integers(0, PRODUCTS - 5, 150),
                         "timestamp": pd.Timestamp("2026-01-01") + pd.to_timedelta(rng.integers(0, 400, 150), unit="D")})
    known = Purchases(rows, CUSTOMERS, PRODUCTS)
    users = rng.normal(size=(CUSTOMERS, DIMENSION)).astype(np.float32)
    items = rng.normal(size=(PRODUCTS, DIMENSION)).astype(np.float32)
    return known, Terms(known, 60.0, TowerScores(users, items, 0.5), WINDOW)


def tf_blend(form: Blend, known: Purchases, terms: Terms) -> np.ndarray:
    """The served blend's scores for every customer, from the serving tables as the SavedModel holds them."""
    tables = blend.serving_tables(known, form.repeat_half_life_days, terms.knn_half_life_days)
    logits = tf.constant(terms.towers.user_embeddings @ terms.towers.item_embeddings.T / terms.towers.temperature, tf.float32)
    rows = np.repeat(np.arange(CUSTOMERS), np.diff(tables.row_splits)).astype(np.int32)
    has_purchases = tf.constant(np.diff(tables.row_splits) > 0)
    scores = blend.serve_scores(form, logits, tf.constant(tables.popularity), tf.constant(tables.bought), has_purchases, tf.constant(rows),
                                tf.constant(tables.items), tf.constant(tables.repeat), tf.constant(tables.recency),
                                tf.constant(tables.neighbours), tf.constant(tables.similarities * np.float32(form.knn)))
    return scores.numpy()


SERVED = {name: form for name, form in forms.baselines(60.0).items() if not form.baseline_only}


@pytest.mark.parametrize("form", [Blend(0.3, 0.5, 30.0), Blend(3.0, 0.0, 0.0), Blend(0.3, 0.1, 30.0, towers_new_customers=3.0),
                                  Blend(0.0, 0.1, 30.0, towers_new_customers=1.0), Blend(0.3, 0.1, 0.0, towers_new_products=0.3),
                                  Blend(0.0, 0.0, 30.0, towers_new_products=1.0), *SERVED.values()],
                         ids=["blend", "towers-heavy", "new-customer-weight", "no-towers-for-regulars", "new-product-weight",
                              "towers-only-for-new-products", *SERVED])
def test_the_blend_in_numpy_and_tensorflow(form):
    known, terms = setting()
    numpy_scores = forms.scorer(form, terms)(np.arange(CUSTOMERS), 0, PRODUCTS)
    np.testing.assert_allclose(tf_blend(form, known, terms), numpy_scores, rtol=1e-5, atol=1e-5)
    unbought = np.arange(PRODUCTS - 5, PRODUCTS)
    assert np.isinf(numpy_scores[:, unbought]).all() == (form.towers_new_products == 0)  # rankable only through the towers
    assert np.isfinite(numpy_scores[:, :PRODUCTS - 5]).all()


def test_the_served_blend_refuses_a_baseline_only_term():
    known, terms = setting()
    with pytest.raises(ValueError, match="baselines"):
        tf_blend(forms.baselines(60.0)["ease"], known, terms)


def test_the_mixture_in_numpy_and_tensorflow():
    known, terms = setting(1)
    form = Mixture(0.7, 0.8)
    numpy_scores = forms.scorer(form, terms)(np.arange(CUSTOMERS), 0, PRODUCTS)
    logits = tf.constant(terms.towers.user_embeddings @ terms.towers.item_embeddings.T / terms.towers.temperature, tf.float32)
    served = mixture.serve_scores(form, logits, tf.constant(known.windows(WINDOW)), tf.constant([form.bought, form.share], tf.float32))
    np.testing.assert_allclose(served.numpy(), numpy_scores, rtol=1e-5, atol=1e-5)


def test_a_form_is_saved_and_read_back():
    for form in (Blend(0.3, 0.03, 90.0), Mixture(0.1, 1.0), *forms.baselines(90.0).values()):
        assert forms.from_dict(form.as_dict()) == form
    with pytest.raises(ValueError, match="'form' must be"):
        forms.from_dict({"form": "ensemble"})
