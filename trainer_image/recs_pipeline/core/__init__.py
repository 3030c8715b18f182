"""The ground floor: settings, metric names, user-facing errors, storage, and the one TensorFlow import."""
