"""`submit`/`schedule --template https://...`: the template is fetched (over real TLS, from a server
on 127.0.0.1 whose certificate the test trusts) and the values typed by its declarations, as for a
local file; bad values are refused before anything is sent, and caching is never forced on."""

from __future__ import annotations

import datetime
import ipaddress
import json
import re
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from click.testing import CliRunner
from recs_pipeline.cli import main

OWN_IMAGE = "europe-west4-docker.pkg.dev/shop-ml/recs/recs-pipeline-trainer:0.1.0"  # built into the project itself (docs/vertex.md)
SETTINGS = ["--project", "shop-ml", "--region", "europe-west4", "--pipeline-root", "gs://shop-ml-pipelines/root"]


def _certificate(folder):
    """A self-signed certificate for 127.0.0.1: (cert file, key file)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(hours=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return cert_file, key_file


@pytest.fixture
def template_server(tmp_path, monkeypatch):
    """Serves the compiled pipeline at https://127.0.0.1:PORT/two-tower-retrieval/v0.1.0; records each request."""
    template = tmp_path / "pipeline.yaml"
    assert CliRunner().invoke(main, ["compile", "--output", str(template), "--image", OWN_IMAGE]).exit_code == 0
    body = template.read_bytes()
    seen = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            seen.append((self.command, self.path, self.headers.get("Authorization")))
            found = self.path == "/two-tower-retrieval/v0.1.0"
            self.send_response(200 if found else 404)
            self.send_header("Content-Type", "application/x-yaml")
            self.send_header("Content-Length", str(len(body) if found else 0))
            self.end_headers()
            if found:
                self.wfile.write(body)

    cert, key = _certificate(tmp_path)
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # the client trusts this server, and only it
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    yield f"https://127.0.0.1:{server.server_address[1]}/two-tower-retrieval/v0.1.0", seen
    server.shutdown()


def test_a_template_url_types_the_values_in_a_dry_run(template_server):
    url, seen = template_server
    result = CliRunner().invoke(main, ["submit", *SETTINGS, "--template", url, "--param", "accelerator_count=0", "--param", "epochs=3",
                                       "--param", "learning_rate=0.01", "--param", "register_model=true", "--dry-run"])
    assert result.exit_code == 0, result.output
    # not "3", not 3.0
    assert re.search(r'"epochs": 3\s*[,}]', result.stdout) and re.search(r'"accelerator_count": 0\s*[,}]', result.stdout)
    job = json.loads(result.stdout)["pipelineJob"]
    assert job["runtimeConfig"]["parameterValues"] == {"accelerator_count": 0, "epochs": 3, "learning_rate": 0.01, "register_model": True}
    assert job["templateUri"] == url
    assert job["pipelineSpec"]["cached"] == ["data-prep", "evaluate"]
    assert seen == [("GET", "/two-tower-retrieval/v0.1.0", None)]  # fetched once; no token for a host that is not Artifact Registry


def test_a_schedule_from_a_template_url_types_the_values(template_server):
    url, _ = template_server
    result = CliRunner().invoke(main, ["schedule", *SETTINGS, "--template", url, "--cron", "0 3 * * 1", "--param", "epochs=8",
                                       "--param", "metrics_uri=gs://b/m/{run_id}", "--dry-run"])
    assert result.exit_code == 0, result.output
    run = json.loads(result.stdout)["createPipelineJobRequest"]["pipelineJob"]
    assert run["runtimeConfig"]["parameterValues"] == {"epochs": 8, "metrics_uri": "gs://b/m/{run_id}"}
    assert re.search(r'"epochs": 8\s*[,}]', result.stdout)


@pytest.mark.parametrize("param, message", [
    ("epoch=3", "unknown pipeline parameter 'epoch'"),
    ("epochs=three", "pipeline parameter epochs='three': not an integer"),
    ("register_model=yes", "register_model='yes': use true or false"),
    ("accelerator_count=1", "is the CPU build"),
])
def test_bad_values_for_a_template_url_are_refused_before_anything_is_sent(template_server, param, message):
    url, _ = template_server
    result = CliRunner().invoke(main, ["submit", *SETTINGS, "--template", url, "--param", param])  # not a dry run
    assert result.exit_code == 1 and message in result.output, result.output


def test_an_unknown_template_version_is_named(template_server):
    url, _ = template_server
    result = CliRunner().invoke(main, ["submit", *SETTINGS, "--template", url.replace("v0.1.0", "v9"), "--dry-run"])
    assert result.exit_code == 1 and "HTTP 404 (no such package, version or tag)" in result.output, result.output


def test_enable_caching_does_not_turn_caching_on_for_the_uncached_tasks(template_server):
    """aiplatform's enable_caching=True would set every task's cache on (input_fingerprint, the
    CustomJob, publish): `--enable-caching` leaves each task its own setting; off is off for all."""
    url, _ = template_server
    cached = {}
    for flag in ("--enable-caching", "--no-enable-caching"):
        result = CliRunner().invoke(main, ["submit", *SETTINGS, "--template", url, flag, "--dry-run"])
        assert result.exit_code == 0, result.output
        cached[flag] = json.loads(result.stdout)["pipelineJob"]["pipelineSpec"]["cached"]
    assert cached == {"--enable-caching": ["data-prep", "evaluate"], "--no-enable-caching": []}
