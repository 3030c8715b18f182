"""Synthetic B2B purchase history with a known ground truth, the pipeline's embedded default data.

Customers (segment, country) buy products (category, price band). Each purchase is either a
repeat of one of the customer's earlier purchases or a new pick from a softmax over planted
latent affinities plus power-law popularity. Because the generator keeps the latents, the best
achievable ranking (the oracle) is known, so benchmarks can say how close a model gets.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from recs_pipeline.core.config import SYNTHETIC_SIZES, PrepConfig
from recs_pipeline.core.errors import ConfigError

SEGMENTS = ("manufacturing", "retail", "wholesale", "hospitality", "healthcare", "construction")
COUNTRIES = ("DE", "PL", "FR", "NL", "IT", "ES", "CZ", "AT")
PRICE_BANDS = ("low", "mid", "high", "premium")
START = np.datetime64("2025-01-01T00:00:00")
SECONDS_PER_YEAR = 365 * 24 * 3600
# How data prep reads the generated table: its columns and the features it carries. Only the
# embedded data has feature defaults; a user's own file has no feature columns unless named.
PREP_COLUMNS = {
    "user_column": "customer_id",
    "item_column": "product_id",
    "timestamp_column": "timestamp",
    "user_features": ("segment", "country"),
    "item_features": ("category", "price_band"),
}


@dataclass(frozen=True)
class SyntheticConfig:
    """Sizes and strengths of the planted signal; the defaults are the pipeline's default data."""

    num_purchases: int = SYNTHETIC_SIZES["synthetic_purchases"]
    num_customers: int = SYNTHETIC_SIZES["synthetic_customers"]
    num_products: int = SYNTHETIC_SIZES["synthetic_products"]
    num_categories: int = 24
    latent_dim: int = 8
    affinity_strength: float = 5.0
    popularity_exponent: float = 0.7
    repeat_probability: float = 0.35
    seed: int = 42


@dataclass(frozen=True)
class GroundTruth:
    """What generated the data: enough to compute each customer's true next-purchase distribution."""

    customer_latents: np.ndarray  # (customers, latent_dim)
    product_latents: np.ndarray  # (products, latent_dim)
    log_popularity: np.ndarray  # (products,)
    affinity_strength: float
    repeat_probability: float
    customer_ids: np.ndarray  # str ids, index-aligned with customer_latents
    product_ids: np.ndarray  # str ids, index-aligned with product_latents

    def new_purchase_probabilities(self, customer_index: np.ndarray) -> np.ndarray:
        """Probability of each product for a non-repeat purchase, one row per customer given."""
        logits = self.affinity_strength * self.customer_latents[customer_index] @ self.product_latents.T
        logits += self.log_popularity
        logits -= logits.max(axis=1, keepdims=True)
        probabilities = np.exp(logits)
        return probabilities / probabilities.sum(axis=1, keepdims=True)


@dataclass(frozen=True)
class SyntheticData:
    """The purchase table (one row per invoice line) and the ground truth that made it."""

    purchases: pd.DataFrame
    truth: GroundTruth


def generate(config: SyntheticConfig = SyntheticConfig()) -> SyntheticData:
    """Generate purchases deterministically from `config.seed`."""
    _check(config)
    rng = np.random.default_rng(config.seed)
    category_centres = rng.normal(size=(config.num_categories, config.latent_dim))
    segment_centres = rng.normal(size=(len(SEGMENTS), config.latent_dim))

    product_category = rng.integers(0, config.num_categories, config.num_products)
    product_latents = _unit_rows(category_centres[product_category] + 0.6 * rng.normal(size=(config.num_products, config.latent_dim)))
    popularity_rank = rng.permutation(config.num_products) + 1
    log_popularity = -config.popularity_exponent * np.log(popularity_rank)
    product_price_band = rng.integers(0, len(PRICE_BANDS), config.num_products)

    customer_segment = rng.integers(0, len(SEGMENTS), config.num_customers)
    customer_country = rng.integers(0, len(COUNTRIES), config.num_customers)
    customer_latents = _unit_rows(segment_centres[customer_segment] + 0.8 * rng.normal(size=(config.num_customers, config.latent_dim)))

    customer_ids = np.array([f"C{i:05d}" for i in range(config.num_customers)])
    product_ids = np.array([f"P{i:05d}" for i in range(config.num_products)])
    truth = GroundTruth(
        customer_latents=customer_latents,
        product_latents=product_latents,
        log_popularity=log_popularity,
        affinity_strength=config.affinity_strength,
        repeat_probability=config.repeat_probability,
        customer_ids=customer_ids,
        product_ids=product_ids,
    )

    purchases_per_customer = _purchase_counts(rng, config)
    customer_of_row = np.repeat(np.arange(config.num_customers), purchases_per_customer)
    product_of_row = _pick_products(rng, truth, purchases_per_customer)
    seconds = _timestamps(rng, purchases_per_customer)

    frame = pd.DataFrame(
        {
            "customer_id": customer_ids[customer_of_row],
            "product_id": product_ids[product_of_row],
            "timestamp": START + seconds.astype("timedelta64[s]"),
            "quantity": rng.integers(1, 20, customer_of_row.size),
            "segment": np.array(SEGMENTS)[customer_segment[customer_of_row]],
            "country": np.array(COUNTRIES)[customer_country[customer_of_row]],
            "category": np.char.add("cat_", product_category[product_of_row].astype(str)),
            "price_band": np.array(PRICE_BANDS)[product_price_band[product_of_row]],
        }
    )
    frame = frame.sort_values(["timestamp", "customer_id"], kind="stable").reset_index(drop=True)
    return SyntheticData(purchases=frame, truth=truth)


def _check(config: SyntheticConfig) -> None:
    if config.num_customers < 2 or config.num_products < 2:
        raise ConfigError("synthetic data needs at least 2 customers and 2 products")
    if config.num_purchases < config.num_customers:
        raise ConfigError(
            f"num_purchases={config.num_purchases} must be at least num_customers={config.num_customers}"
        )
    if not 0.0 <= config.repeat_probability < 1.0:
        raise ConfigError(f"repeat_probability={config.repeat_probability} must be in [0, 1)")


def _unit_rows(matrix: np.ndarray) -> np.ndarray:
    return matrix / np.linalg.norm(matrix, axis=1, keepdims=True)


def _purchase_counts(rng: np.random.Generator, config: SyntheticConfig) -> np.ndarray:
    """Heavy-tailed activity (B2B accounts differ by orders of magnitude), at least one purchase each."""
    activity = rng.lognormal(mean=0.0, sigma=0.8, size=config.num_customers)
    extra = config.num_purchases - config.num_customers
    counts = 1 + np.floor(activity / activity.sum() * extra).astype(np.int64)
    shortfall = config.num_purchases - counts.sum()
    np.add.at(counts, rng.choice(config.num_customers, size=shortfall, p=activity / activity.sum()), 1)
    return counts


def _pick_products(rng: np.random.Generator, truth: GroundTruth, counts: np.ndarray) -> np.ndarray:
    """Each customer's purchases in time order: a repeat of an earlier line, or a new pick."""
    picks = np.empty(counts.sum(), dtype=np.int64)
    num_products = truth.product_latents.shape[0]
    offset = 0
    for customer, count in enumerate(counts):
        probabilities = truth.new_purchase_probabilities(np.array([customer]))[0]
        fresh = rng.choice(num_products, size=count, p=probabilities)
        is_repeat = rng.random(count) < truth.repeat_probability
        is_repeat[0] = False
        earlier = np.floor(rng.random(count) * np.arange(count)).astype(np.int64)
        own = fresh.copy()
        for position in np.flatnonzero(is_repeat):
            own[position] = own[earlier[position]]
        picks[offset : offset + count] = own
        offset += count
    return picks


def _timestamps(rng: np.random.Generator, counts: np.ndarray) -> np.ndarray:
    """Sorted purchase times within one year, per customer, so row order is purchase order."""
    seconds = np.empty(counts.sum(), dtype=np.int64)
    offset = 0
    for count in counts:
        seconds[offset : offset + count] = np.sort(rng.integers(0, SECONDS_PER_YEAR, count))
        offset += count
    return seconds


def prep_config(**settings) -> PrepConfig:
    """The PrepConfig that reads the generated table: its columns and features, other settings as given."""
    return PrepConfig(**{**settings, **PREP_COLUMNS})
