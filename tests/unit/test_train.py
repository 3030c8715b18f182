"""The train step on tiny data: history flushed per epoch, towers exported, failures recorded."""

import json
from dataclasses import replace

import numpy as np
import pytest
from recs_pipeline.core.errors import ConfigError
from recs_pipeline.steps import train
from recs_pipeline.tracking.schema import validate
from recs_pipeline.tracking.sink import SinkUnwritableError


@pytest.fixture(scope="module")
def trained(tiny_training, prepared_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("trained")
    result = train.run(prepared_dir, str(out / "model"), str(out / "history"), tiny_training(epochs=2), run_id="tiny",
                       metrics_uri=str(out / "sink"))
    return result, out


def test_history_is_complete_and_valid_in_every_target(tiny_training, trained):
    result, out = trained
    assert result.epochs_done == 2
    for target in ("history", "sink"):
        document = json.loads((out / target / "training_metrics.json").read_text())
        validate(document)
        assert document["epochs"] == [0, 1]
        assert document["params"] == {**tiny_training(epochs=2).as_params(), "exclude_seen": False}  # resolved: the data repeats
        assert document["final_metrics"]["final_loss"] == document["loss"]["loss"][-1]
        assert document["final_metrics"]["kept_epoch"] == document["final_metrics"]["best_epoch"]  # restored at the end of training
        status = json.loads((out / target / "training_status.json").read_text())
        assert status["stage"] == "completed" and status["epochs_done"] == 2 and status["error"] is None


def test_gradient_and_weight_statistics_are_real(tiny_training, trained):
    _, out = trained
    document = json.loads((out / "history" / "training_metrics.json").read_text())
    for tower in ("query", "candidate"):
        gradients = document["gradient_stats"][tower]
        assert all(n > 0 for n in gradients["norm"])
        assert len(gradients["histogram"]["counts"]) == 2 and sum(gradients["histogram"]["counts"][0]) > 0
        weights = document["weight_stats"][tower]
        assert len(weights["histogram"]["bin_edges"]) == tiny_training(epochs=2).histogram_bins + 1
        assert weights["std"][1] > 0
    assert all(t > 0 for t in document["gradient"]["total"])


def test_exported_towers_embed_users_and_items(trained, prepared_dir):
    from recs_pipeline.data import prepared_data
    from recs_pipeline.model import trained as trained_model

    _, out = trained
    prepared = prepared_data.load(prepared_dir)
    info = trained_model.model_info(str(out / "model"))
    query, candidate = trained_model.load_towers(str(out / "model"))
    users = trained_model.embed_entities(query, prepared.users, info["query_inputs"])
    items = trained_model.embed_entities(candidate, prepared.items, info["candidate_inputs"])
    assert users.shape == (len(prepared.users), 8) and items.shape == (len(prepared.items), 8)
    assert np.isfinite(users).all() and np.isfinite(items).all()


def test_unwritable_sink_stops_before_training(tiny_training, prepared_dir, tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    with pytest.raises(SinkUnwritableError, match="not-a-folder/sink is not writable"):
        train.run(prepared_dir, str(tmp_path / "model"), str(tmp_path / "history"), tiny_training(epochs=2), run_id="x",
                  metrics_uri=str(blocker / "sink"))
    assert not (tmp_path / "model").exists()


def test_a_failure_during_training_is_recorded_and_raised(tiny_training, prepared_dir, tmp_path):
    bad_prepared = tmp_path / "prepared"
    bad_prepared.mkdir()
    with pytest.raises(FileNotFoundError):
        train.run(str(bad_prepared), str(tmp_path / "model"), str(tmp_path / "history"), tiny_training(epochs=2), run_id="x")
    status = json.loads((tmp_path / "history" / "training_status.json").read_text())
    assert status["stage"] == "failed" and "FileNotFoundError" in status["error"]


def test_a_diverged_run_stops_in_that_epoch_and_says_what_to_change(tiny_training, prepared_dir, tmp_path):
    expected = r"training diverged: loss is (nan|inf) in epoch 1 of 3; start a new run with a lower learning_rate \(now 1e\+12\)"
    with pytest.raises(ConfigError, match=expected):
        train.run(prepared_dir, str(tmp_path / "model"), str(tmp_path / "history"), replace(tiny_training(epochs=3), learning_rate=1e12),
                  run_id="diverged")
    status = json.loads((tmp_path / "history" / "training_status.json").read_text())
    assert status["stage"] == "failed" and status["epochs_done"] == 0 and "training diverged" in status["error"]
    assert not (tmp_path / "model").exists()


def test_early_stopping_ends_at_the_patience_after_the_best_epoch(tiny_training, prepared_dir, tmp_path, caplog):
    config = tiny_training(epochs=40, learning_rate=0.05, early_stopping_patience=2)
    with caplog.at_level("INFO", logger="recs_pipeline.progress"):
        result = train.run(prepared_dir, str(tmp_path / "model"), str(tmp_path / "history"), config, run_id="early")
    document = json.loads((tmp_path / "history" / "training_metrics.json").read_text())
    best = document["final_metrics"]["best_epoch"]
    assert result.epochs_done < 40  # tiny data overfits long before 40 epochs
    assert result.epochs_done == best + 1 + 2
    assert document["final_metrics"]["best_val_loss"] == min(document["loss"]["val_loss"])
    assert document["final_metrics"]["kept_epoch"] == best  # the exported weights are the best epoch's (0-based, as `epochs`)
    # what a person reads counts epochs from 1 and says whose weights were kept
    lines = [record.getMessage().removeprefix("[progress] ") for record in caplog.records if record.name == "recs_pipeline.progress"]
    assert lines[1].startswith("epoch 1 of 40: loss ") and lines[1].endswith("with start-up; ETA after the next epoch")
    assert "ETA" in lines[2] and "for up to 38 more" in lines[2]
    assert sum(line.startswith("epoch ") for line in lines) == result.epochs_done
    assert lines[-1].startswith(f"train: early stopping after epoch {result.epochs_done} of 40 (validation loss not lower for 2 epoch(s)); "
                                f"kept the weights of epoch {best + 1} "
                                f"(the lowest validation loss, val_loss {min(document['loss']['val_loss']):.4f})")
    assert json.loads((tmp_path / "history" / "training_status.json").read_text())["stage"] == "completed"


def stop_epoch(callback, model, val_losses, first_epoch=0):
    """Feed epoch ends to an early-stopping callback; the epoch it stops after (None: never)."""
    callback.set_model(model)
    callback.on_train_begin()
    for epoch, loss in enumerate(val_losses, start=first_epoch):
        model.set_weights([np.full_like(w, epoch) for w in model.get_weights()])  # weights tagged by epoch
        callback.on_epoch_end(epoch, {"val_loss": loss})
        if model.stop_training:
            callback.on_train_end()
            return epoch
    return None


@pytest.mark.parametrize("losses, killed_after, patience", [
    ([1.0, 0.8, 0.9, 0.85, 0.7], 2, 2),  # killed between the best epoch and the stop
    ([1.0, 0.8, 0.9, 0.85, 0.7], 1, 2),  # killed right after the best epoch
    ([1.0, 0.8, 0.7, 0.75, 0.6], 2, 1),  # the default patience
])
def test_a_resumed_run_stops_where_an_uninterrupted_one_does(losses, killed_after, patience):
    from recs_pipeline.core.tf_runtime import keras
    from recs_pipeline.training.callbacks import ResumableEarlyStopping

    def tiny_model():
        model = keras.Sequential([keras.layers.Dense(1)])
        model.build((None, 1))
        model.stop_training = False
        return model

    whole = tiny_model()
    uninterrupted = stop_epoch(ResumableEarlyStopping(patience, []), whole, losses)
    resumed_model = tiny_model()
    resumed_model.set_weights([np.full_like(w, killed_after) for w in resumed_model.get_weights()])  # the checkpoint
    resumed = stop_epoch(ResumableEarlyStopping(patience, losses[: killed_after + 1]), resumed_model, losses[killed_after + 1 :],
                         first_epoch=killed_after + 1)
    assert resumed == uninterrupted is not None
    # Both keep the best epoch's weights when the checkpoint or the resumed process saw it.
    best = int(np.argmin(losses[: uninterrupted + 1]))
    assert whole.get_weights()[0][0, 0] == best
    if best >= killed_after:
        assert resumed_model.get_weights()[0][0, 0] == best


def test_the_metrics_uri_can_name_a_folder_per_run(tiny_training, prepared_dir, tmp_path):
    config = tiny_training(epochs=1)
    train.run(prepared_dir, str(tmp_path / "model"), str(tmp_path / "history"), config, run_id="nightly/7",
              metrics_uri=str(tmp_path / "metrics" / "{run_id}"))
    assert json.loads((tmp_path / "metrics" / "nightly-7" / "training_metrics.json").read_text())["run_id"] == "nightly/7"


def test_the_epoch_line_counts_from_1_and_gives_an_eta():
    from recs_pipeline.training.callbacks import epoch_line

    logs = {"loss": 5.31234, "val_loss": 5.4, "total_loss": 5.5}
    # The first epoch traces and compiles: no ETA from it; later ones average the epochs after it.
    first, second = epoch_line(0, 10, logs, 40.0, True), epoch_line(1, 10, logs, 15.9, True, [15.9])
    assert first == "epoch 1 of 10: loss 5.3123, val_loss 5.4000, 40.0 s with start-up; ETA after the next epoch"
    assert second == "epoch 2 of 10: loss 5.3123, val_loss 5.4000, 15.9 s; ETA 2 min 07 s for up to 8 more"
    assert epoch_line(2, 10, logs, 16.1, False, [15.9, 16.1]).endswith("ETA 1 min 52 s for 7 more")
    assert epoch_line(9, 10, logs, 15.9, True, [15.9]) == "epoch 10 of 10: loss 5.3123, val_loss 5.4000, 15.9 s"
