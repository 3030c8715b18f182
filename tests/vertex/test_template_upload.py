"""Uploading the compiled template through kfp's RegistryClient, recorded by a local stand-in of
the registry's upload endpoint (Artifact Registry itself cannot be reached here)."""

import email.parser
import email.policy

import pytest
from click.testing import CliRunner
from recs_pipeline import __version__
from recs_pipeline.cli import main
from recs_pipeline.vertex.templates import TemplateError, registry_host, release_tags


@pytest.fixture
def registry(http_stand_in):
    """Records each upload's multipart form fields; answers with a version name as the registry does."""
    uploads = []

    def answer(method, path, headers, body):
        message = email.parser.BytesParser(policy=email.policy.default).parsebytes(
            f"Content-Type: {headers['Content-Type']}\r\n\r\n".encode() + body)
        parts = {part.get_param("name", header="content-disposition"): part.get_content() for part in message.iter_parts()}
        uploads.append({"path": path, "parts": parts})
        return b"two-tower-retrieval/sha256:0123abcd", "text/plain"

    return http_stand_in(answer), uploads


def test_the_compiled_template_is_uploaded_with_version_tags(registry, tmp_path):
    host, uploads = registry
    template = tmp_path / "pipeline.yaml"
    assert CliRunner().invoke(main, ["compile", "--output", str(template), "--image", "example.com/t:abc1234"]).exit_code == 0
    result = CliRunner().invoke(main, ["upload-template", str(template), "--host", host, "--tag", "abc1234", "--tag", "latest"])
    assert result.exit_code == 0, result.output
    assert f"template URL: {host}/two-tower-retrieval/v{__version__}" in result.output
    (upload,) = uploads
    assert upload["parts"]["tags"] == f"v{__version__},abc1234,latest"
    content = upload["parts"]["content"]
    content = content.decode() if isinstance(content, bytes) else content
    assert content == template.read_text()


def test_tags_and_hosts_are_checked():
    with pytest.raises(TemplateError, match="tag 'a b'"):
        release_tags(["a b"])
    assert release_tags(["latest-gpu"], "gpu") == [f"v{__version__}-gpu", "latest-gpu"]  # never the CPU template's tags
    assert registry_host("europe-west4", "shop-ml", "pipelines") == "https://europe-west4-kfp.pkg.dev/shop-ml/pipelines"
    missing = CliRunner().invoke(main, ["upload-template", "nope.yaml", "--host", "http://127.0.0.1:9"])
    assert missing.exit_code == 1 and "template 'nope.yaml': no such file" in missing.output
