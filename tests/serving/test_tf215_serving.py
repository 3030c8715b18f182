"""The registered model is served by Vertex AI's prebuilt TensorFlow container, tf2-cpu.2-15, while
the train step exports it with TensorFlow 2.21; a SavedModel is only promised to load in the same
or a newer TensorFlow. So the exported serving SavedModel is loaded and called in TensorFlow 2.15
(a virtual environment of its own, .venv-tf215, made on first use) and must answer as it does in
2.21: the same top-K products, the same scores, the same unknown-customer fallback, and the same
lists for new customers through the `new_customer` signature (their feature values as strings)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from recs_pipeline.data import prepared_data
from recs_pipeline.steps import train
from recs_pipeline.vertex import registry

ROOT = Path(__file__).resolve().parents[2]
VENV = ROOT / ".venv-tf215"
REQUIREMENTS = Path(__file__).with_name("tf215-requirements.txt")

pytestmark = pytest.mark.slow

# Plain TensorFlow only, as the serving container has: no recs_pipeline, no Keras.
SERVE = """
import json, sys
import tensorflow as tf
signatures = tf.saved_model.load(sys.argv[1]).signatures
out = signatures["serving_default"](customer_id=tf.constant(json.loads(sys.argv[2])))
new = signatures["new_customer"](**{name: tf.constant(values) for name, values in json.loads(sys.argv[3]).items()})
answer = {name: value.numpy().tolist() for name, value in out.items()}
answer["product_ids"] = [[p.decode() for p in row] for row in answer["product_ids"]]
answer["new_ids"] = [[p.decode() for p in row] for row in new["product_ids"].numpy()]
answer["new_scores"] = new["scores"].numpy().tolist()
print(json.dumps({"tensorflow": tf.__version__, **answer}))
"""
# New customers' feature values: seen, unseen and empty ones (the embedded data's customer features).
NEW_CUSTOMERS = {"segment": ["retail", "no-such-segment", ""], "country": ["DE", "DE", "XX"]}


def tf215_python() -> str:
    """The venv's interpreter, installed once (pinned) when missing or out of date."""
    marker, python = VENV / "requirements.installed", VENV / "bin" / "python"
    if python.exists() and marker.exists() and marker.read_text() == REQUIREMENTS.read_text():
        return str(python)
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(VENV)], check=True)
    subprocess.run([str(VENV / "bin" / "pip"), "install", "-q", "-r", str(REQUIREMENTS)], check=True)
    marker.write_text(REQUIREMENTS.read_text())
    return str(python)


def served(python: str, serving_dir: Path, customers: list[str]) -> dict:
    done = subprocess.run([python, "-c", SERVE, str(serving_dir), json.dumps(customers), json.dumps(NEW_CUSTOMERS)], capture_output=True,
                          text=True, timeout=600,
                          env={"PATH": "/usr/bin:/bin", "TF_CPP_MIN_LOG_LEVEL": "2"}, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("settings", [
    dict(history_length=5, pool_history=True, buy_again=True),  # pooled history, the buy-again mixture and the blend's tables
    dict(history_length=0, buy_again=False, exclude_seen="true"),  # no history; bought products left out
], ids=["history", "exclude-seen"])
def test_tensorflow_2_15_serves_the_exported_model_as_2_21_does(settings, tiny_training, prepared_dir, tmp_path):
    python = tf215_python()
    train.run(prepared_dir, str(tmp_path / "model"), str(tmp_path / "history"), tiny_training(epochs=1, **settings), run_id="serve",
              serving_dir=str(tmp_path / "serving"))
    users = prepared_data.load(prepared_dir).users["user_id"].to_numpy(str)
    customers = [*users[::9].tolist(), "never-seen-customer"]
    new, old = served(sys.executable, tmp_path / "serving", customers), served(python, tmp_path / "serving", customers)
    assert new.pop("tensorflow").startswith("2.21") and old.pop("tensorflow").startswith(registry.SERVING_TENSORFLOW)
    assert old["product_ids"] == new["product_ids"] and old["known_customer"] == new["known_customer"]
    assert new["known_customer"][-1] is False and all(new["known_customer"][:-1])
    np.testing.assert_allclose(old["scores"], new["scores"], rtol=1e-6, atol=1e-7)
    assert old["new_ids"] == new["new_ids"] and len(new["new_ids"]) == 3
    np.testing.assert_allclose(old["new_scores"], new["new_scores"], rtol=1e-6, atol=1e-7)
    assert len(new["product_ids"][0]) == 100 or len(new["product_ids"][0]) == len(set(new["product_ids"][0]))
