"""Providers: a tiny random Stable Diffusion pipeline built here, and a fake images endpoint
on 127.0.0.1 (no network)."""

import base64
import io
import json
import shutil
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import numpy as np
import pytest
from PIL import Image

from genforge.core.errors import GenforgeError
from genforge.generate.providers import LocalPipeline, OpenAICompatible, get_provider
from hf_tiny import save_tiny_sd_pipeline


@pytest.fixture(scope="module")
def sd_folder(tmp_path_factory):
    """A random Stable Diffusion pipeline with 8x8 images, saved as safetensors."""
    return save_tiny_sd_pipeline(tmp_path_factory.mktemp("sd"))


@pytest.fixture(scope="module")
def local(sd_folder):
    return LocalPipeline(sd_folder, device="cpu")


def test_local_txt2img_is_seeded(local):
    a = local.txt2img("a red cat", n=2, seed=0, steps=2, guidance=2.0)
    b = local.txt2img("a red cat", n=2, seed=0, steps=2, guidance=2.0)
    assert len(a) == 2 and a[0].size == (8, 8)
    assert np.array_equal(np.asarray(a[0]), np.asarray(b[0]))


def test_local_img2img_and_inpaint(local):
    image = Image.fromarray(np.random.default_rng(0).integers(0, 256, (8, 8, 3), np.uint8))
    out = local.img2img(image, "a cat", strength=0.5, steps=4)
    assert out[0].size == (8, 8)
    mask = Image.new("L", (8, 8), 0)
    assert local.inpaint(image, mask, "a cat", steps=2)[0].size == (8, 8)
    with pytest.raises(GenforgeError, match="the mask is 4x4 but the image is 8x8"):
        local.inpaint(image, Image.new("L", (4, 4)), "a cat")


def test_incomplete_pipeline_lists_what_is_missing(sd_folder, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(sd_folder, broken)
    shutil.rmtree(broken / "unet")
    for f in (broken / "vae").glob("*.safetensors"):
        f.unlink()
    with pytest.raises(GenforgeError, match=r"missing: unet/, vae/\*\.safetensors$"):
        LocalPipeline(broken)
    with pytest.raises(GenforgeError, match="missing: model_index.json"):
        LocalPipeline(tmp_path)
    with pytest.raises(GenforgeError, match="unknown provider 'dalle'; known: local"):
        get_provider("dalle")


class FakeImagesAPI(BaseHTTPRequestHandler):
    requests: list = []  # noqa: RUF012  (class-level log of (path, auth, body))
    status = 200

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).requests.append((self.path, self.headers["Authorization"], body))
        if type(self).status != 200:
            payload = {"error": {"message": "Incorrect API key provided", "type": "auth"}}
        else:
            buf = io.BytesIO()
            Image.new("RGB", (4, 4), (255, 0, 0)).save(buf, format="PNG")
            item = {"b64_json": base64.b64encode(buf.getvalue()).decode()}
            payload = {"data": [item] * body["n"]}
        raw = json.dumps(payload).encode()
        self.send_response(type(self).status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def log_message(self, *args):
        pass


@pytest.fixture()
def api(monkeypatch):
    FakeImagesAPI.requests, FakeImagesAPI.status = [], 200
    server = HTTPServer(("127.0.0.1", 0), FakeImagesAPI)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("OPENAI_BASE_URL", f"http://127.0.0.1:{server.server_port}/v1")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    yield FakeImagesAPI
    server.shutdown()
    server.server_close()


def test_remote_txt2img(api):
    images = OpenAICompatible(model="img-1", size="256x256").txt2img("a cat wearing a hat", n=2)
    assert len(images) == 2 and images[0].getpixel((0, 0)) == (255, 0, 0)
    path, auth, body = api.requests[0]
    assert path == "/v1/images/generations" and auth == "Bearer sk-test"
    assert body == {"prompt": "a cat wearing a hat", "n": 2, "size": "256x256",
                    "response_format": "b64_json", "model": "img-1"}  # fmt: skip


def test_remote_error_shows_status_and_message_once(api):
    api.status = 401
    with pytest.raises(GenforgeError, match="answered 401: Incorrect API key provided"):
        OpenAICompatible().txt2img("a cat")
    assert len(api.requests) == 1  # no retries


def test_remote_configuration_errors(monkeypatch):
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(GenforgeError, match="set OPENAI_BASE_URL"):
        OpenAICompatible()
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    with pytest.raises(GenforgeError, match="set OPENAI_API_KEY"):
        OpenAICompatible()
    monkeypatch.setenv("OPENAI_API_KEY", "k")
    with pytest.raises(GenforgeError, match="cannot reach http://127.0.0.1:9/v1"):
        OpenAICompatible(timeout=5).txt2img("a cat")


def test_cli_routes_a_pipeline_folder_and_the_remote_endpoint(sd_folder, api, tmp_path):
    from typer.testing import CliRunner

    from genforge.cli.main import app

    runner = CliRunner()
    out = tmp_path / "grid.png"
    result = runner.invoke(app, ["generate", "image", "--model", str(sd_folder), "--prompt",
                                 "a cat", "--n", "2", "--steps", "2", "--out", str(out)])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert Image.open(out).size == (22, 12)  # two 8 px images side by side, 2 px padding
    result = runner.invoke(app, ["generate", "image", "--provider", "openai-compatible",
                                 "--prompt", "a cat wearing a hat", "--n", "1",
                                 "--out-dir", str(tmp_path / "remote")])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert len(list((tmp_path / "remote").glob("*.png"))) == 1
    api.status = 500
    result = runner.invoke(app, ["generate", "image", "--provider", "openai-compatible",
                                 "--prompt", "a cat"])  # fmt: skip
    assert result.exit_code == 1
    assert result.stderr.strip().count("\n") == 0 and "answered 500" in result.stderr
