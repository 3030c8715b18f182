import dataclasses

import numpy as np
from recs_pipeline.data import synthetic


def test_same_seed_same_data_and_other_seed_differs(tiny_config, tiny_data):
    assert synthetic.generate(tiny_config).purchases.equals(tiny_data.purchases)
    other = synthetic.generate(dataclasses.replace(tiny_config, seed=tiny_config.seed + 1))
    assert not other.purchases.equals(tiny_data.purchases)


def test_default_sizes_columns_and_order():
    frame = synthetic.generate().purchases
    assert len(frame) == 200_000
    assert frame["customer_id"].nunique() == 5000
    assert 1800 <= frame["product_id"].nunique() <= 2000
    assert set(frame.columns) >= {"customer_id", "product_id", "timestamp", "segment", "country", "category", "price_band"}
    assert frame["timestamp"].is_monotonic_increasing


def test_popularity_is_heavy_tailed_and_repeats_are_common():
    frame = synthetic.generate().purchases
    counts = frame["product_id"].value_counts().to_numpy()
    top_decile_share = counts[: len(counts) // 10].sum() / counts.sum()
    assert top_decile_share > 0.3  # a uniform catalog would give 0.1
    seen_before = frame.duplicated(["customer_id", "product_id"])
    assert 0.3 < seen_before.mean() < 0.8


def test_ground_truth_rows_are_distributions(tiny_data):
    probabilities = tiny_data.truth.new_purchase_probabilities(np.arange(10))
    assert probabilities.shape == (10, len(tiny_data.truth.product_ids))
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-9)


def test_planted_preferences_are_in_the_data(tiny_data):
    """Customers buy products their latent vector favours, beyond what popularity explains."""
    truth = tiny_data.truth
    frame = tiny_data.purchases
    customer = np.searchsorted(truth.customer_ids, frame["customer_id"].to_numpy())
    product = np.searchsorted(truth.product_ids, frame["product_id"].to_numpy())
    bought = np.einsum("ij,ij->i", truth.customer_latents[customer], truth.product_latents[product]).mean()
    any_product = (truth.customer_latents[customer] @ truth.product_latents.T).mean()
    assert bought > any_product + 0.2


def test_too_few_purchases_is_refused():
    import pytest

    with pytest.raises(ValueError, match="num_purchases"):
        synthetic.generate(synthetic.SyntheticConfig(num_purchases=10, num_customers=100))
