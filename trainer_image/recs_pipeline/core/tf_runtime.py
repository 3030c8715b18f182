"""The one place TensorFlow is imported: TFRS needs Keras 2 (tf-keras), chosen before the first import.

TensorFlow >= 2.16 binds `tf.keras` to Keras 3, on which TFRS fails (tensorflow/recommenders
#712). `TF_USE_LEGACY_KERAS=1` must be set before TensorFlow is first imported; the image sets
it in its ENV, and importing this module sets it for local runs and notebooks. If TensorFlow was
already imported with Keras 3 we stop with a message saying what to do, rather than train wrongly.
"""

from __future__ import annotations

import os
import sys

if "tensorflow" not in sys.modules:
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf  # noqa: E402
import tensorflow_recommenders as tfrs  # noqa: E402
import tf_keras as keras  # noqa: E402

if not tf.keras.__name__.startswith("tf_keras"):
    raise ImportError(
        f"tf.keras is {tf.keras.__name__} (Keras 3); TFRS needs Keras 2 (tf-keras). Set TF_USE_LEGACY_KERAS=1 "
        "before TensorFlow is first imported (in a notebook: restart the kernel, set it first)."
    )

__all__ = ["tf", "tfrs", "keras"]
