"""Our blocked brute-force recall equals TFRS FactorizedTopK on the same embeddings and rows."""

import numpy as np
import pandas as pd
import pytest
from recs_pipeline.core.config import RECALL_KS
from recs_pipeline.core.tf_runtime import tf, tfrs
from recs_pipeline.evaluation import ranking
from recs_pipeline.scoring.terms import embedding_scorer


def tfrs_recall(user_embeddings, item_embeddings, users, items):
    candidates = tf.data.Dataset.from_tensor_slices((np.arange(len(item_embeddings)), item_embeddings)).batch(128)
    metric = tfrs.metrics.FactorizedTopK(candidates=candidates, ks=RECALL_KS)
    metric.update_state(
        tf.constant(user_embeddings[users]), tf.constant(item_embeddings[items]), true_candidate_ids=tf.constant(items)
    )
    return {k: float(value) for k, value in zip(RECALL_KS, metric.result())}


@pytest.mark.parametrize("seed", [0, 1])
def test_recall_matches_tfrs_factorized_top_k(seed, monkeypatch):
    rng = np.random.default_rng(seed)
    user_embeddings = rng.normal(size=(60, 16)).astype(np.float32)
    item_embeddings = rng.normal(size=(700, 16)).astype(np.float32)
    test = pd.DataFrame({"user_idx": rng.integers(0, 60, 800), "item_idx": rng.integers(0, 700, 800)})
    monkeypatch.setattr(ranking, "CANDIDATE_BLOCK", 256)  # several candidate blocks, as for a big catalog
    ours = ranking.evaluate_scorer(embedding_scorer(user_embeddings, item_embeddings), test, 700).values
    theirs = tfrs_recall(user_embeddings, item_embeddings, test["user_idx"].to_numpy(), test["item_idx"].to_numpy())
    for k in RECALL_KS:
        assert ours[f"recall_at_{k}"] == pytest.approx(theirs[k], abs=1e-6)
    assert 0.0 < ours["recall_at_5"] < ours["recall_at_100"] < 1.0  # a spread that can tell them apart
