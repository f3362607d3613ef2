"""Serve fixtures: tiny trained runs (built once per session), an app over a copy of them, a
`genforge serve` process, and the headless Chromium of the browser tests."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from genforge.serve import Settings, create_app

CHROMIUM = Path("/usr/bin/chromium")  # Debian's; the browser tests skip without it
TINY = {"image_size": 16, "batch_size": 8, "ngf": 8, "ndf": 8, "latent_dim": 8}


@pytest.fixture(scope="session")
def trained_runs(tmp_path_factory) -> Path:
    """runs/dc (unconditional DCGAN) and runs/cg (class-conditional), 16 px, 2 steps."""
    from genforge.train.launch import train

    root = tmp_path_factory.mktemp("trained")
    train("dcgan", "digits", name="dc", runs_dir=root, steps=2, **TINY)
    train("cgan", "digits", name="cg", runs_dir=root, steps=2, **TINY)
    return root


# Tiny diffusion runs: 8 px, a (8, 16) UNet, 50 training timesteps, 2 training steps.
TINY_UNET = {"image_size": 8, "batch_size": 8, "block_out_channels": (8, 16),
             "norm_num_groups": 4, "preview_steps": 2, "num_train_timesteps": 50}  # fmt: skip


@pytest.fixture(scope="session")
def diffusion_runs(tmp_path_factory) -> Path:
    """runs/dd (ddpm), runs/cd (class-conditional cddpm), runs/ti (t2i on digits' captions)."""
    from genforge.train.launch import train

    root = tmp_path_factory.mktemp("diffusion")
    train("ddpm", "digits", name="dd", runs_dir=root, steps=2, **TINY_UNET)
    train("cddpm", "digits", name="cd", runs_dir=root, steps=2, **TINY_UNET)
    train("t2i", "digits", name="ti", runs_dir=root, steps=2, text_dim=16, **TINY_UNET)
    return root


@pytest.fixture
def runs_dir(tmp_path, trained_runs) -> Path:
    dst = tmp_path / "runs"
    shutil.copytree(trained_runs, dst)
    return dst


@pytest.fixture
def make_client(runs_dir) -> Iterator:
    """make_client(**settings) -> a TestClient over a fresh app (closed at teardown);
    `base_url` and `raise_server_exceptions` go to the TestClient."""
    clients = []

    def make(*, base_url: str = "http://testserver", raise_server_exceptions: bool = True,
             **kw) -> TestClient:  # fmt: skip
        kw.setdefault("start_worker", False)
        c = TestClient(create_app(Settings(runs_dir=runs_dir, **kw)), base_url=base_url,
                       raise_server_exceptions=raise_server_exceptions)  # fmt: skip
        c.__enter__()
        clients.append(c)
        return c

    yield make
    for c in clients:
        c.__exit__(None, None, None)


@pytest.fixture
def client(make_client):
    return make_client()


def _png_bytes(size: int = 16, seed: int = 0, mode: str = "L") -> bytes:
    import io

    rng = np.random.default_rng(seed)
    shape = (size, size) if mode == "L" else (size, size, 3)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, shape, dtype=np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_server(runs: Path, port: int, *extra: str) -> subprocess.Popen:
    log = open(runs.parent / f"server-{port}.log", "ab")  # noqa: SIM115 - lives with the process
    proc = subprocess.Popen(
        [sys.executable, "-m", "genforge.cli.main", "serve", "--port", str(port),
         "--runs-dir", str(runs), "--log-level", "warning", *extra],
        stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "CI": "1"},
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError((runs.parent / f"server-{port}.log").read_text())
        try:
            if httpx.get(f"http://127.0.0.1:{port}/v1/info", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("server did not start in 60 s")


NewPage = Callable[..., tuple[Any, list[str]]]


@contextmanager
def _chromium(*flags: str) -> Iterator[NewPage]:
    """Headless Chromium (with extra command-line `flags`); yields new_page(width, height,
    dialogs_are_errors=False) -> (page, errors): a page with generous timeouts (60 s per action,
    30 s per `expect`: a shared CI machine may take seconds to load a model or a data set) whose
    script errors, and dialogs when asked, are collected in `errors`. Closes the browser."""
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=30_000)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM),
                                    args=["--headless", "--no-sandbox", "--disable-gpu",
                                          "--disable-background-networking", *flags])  # fmt: skip

        def new_page(width: int, height: int, dialogs_are_errors: bool = False):
            page = browser.new_page(viewport={"width": width, "height": height})
            page.set_default_timeout(60_000)
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            if dialogs_are_errors:
                page.on("dialog", lambda d: (errors.append(f"dialog: {d.message}"), d.dismiss()))
            return page, errors

        try:
            yield new_page
        finally:
            browser.close()


# Helpers reach the tests as fixtures (test modules cannot import each other here).
@pytest.fixture
def chromium():
    """`with chromium() as new_page: page, errors = new_page(1280, 860)`; see `_chromium`."""
    return _chromium


@pytest.fixture
def png_bytes():
    """png_bytes(size=16, seed=0, mode="L") -> the bytes of a random PNG."""
    return _png_bytes


@pytest.fixture
def tiny() -> dict:
    """Config options of a tiny DCGAN (seconds on a CPU)."""
    return dict(TINY)


@pytest.fixture
def free_port():
    return _free_port


@pytest.fixture
def start_server():
    """start_server(runs, port, *cli_options) -> a `genforge serve` process answering /v1/info."""
    return _start_server
