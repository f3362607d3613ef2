"""CLI fixtures: a runner that checks the one-line error contract, tiny trained runs built once
per session, and a builder of small image folders."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from click.testing import Result
from PIL import Image
from typer.testing import CliRunner

from genforge.cli.common import console
from genforge.cli.main import app

# Tiny settings per model: 8 px digits, 2 steps, narrow networks (seconds on a CPU).
COMMON = ["--image-size", "8", "--steps", "2", "--batch-size", "8"]
DCGAN_TINY = ["--set", "ngf=8", "--set", "ndf=8", "--set", "latent_dim=8"]
DDPM_TINY = [
    "--set", "block_out_channels=[8,16]", "--set", "norm_num_groups=4", "--set", "preview_steps=2",
]  # fmt: skip
TINY = {
    "gan": ["--set", "latent_dim=8", "--set", "g_hidden=[16]", "--set", "d_hidden=[16]"],
    "dcgan": DCGAN_TINY,
    "cgan": DCGAN_TINY,
    "wgan-gp": DCGAN_TINY,
    "hinge-sn": DCGAN_TINY,
    "vae": ["--set", "width=8", "--set", "latent_dim=8"],
    "cvae": ["--set", "width=8", "--set", "latent_dim=8"],
    "ddpm": DDPM_TINY,
    "cddpm": DDPM_TINY,
    "t2i": [*DDPM_TINY, "--set", "text_dim=16"],
}


class Cli:
    """`genforge` in-process: `cli(...)` returns the Result, `ok` and `fails` also check it."""

    def __init__(self, runner: CliRunner):
        self.runner = runner

    def __call__(self, *args: str | Path) -> Result:
        return self.runner.invoke(app, [str(a) for a in args])

    def ok(self, *args: str | Path) -> Result:
        result = self(*args)
        assert result.exit_code == 0, (
            f"genforge {' '.join(map(str, args))} exited {result.exit_code}: "
            f"{result.output}{result.exception!r}"
        )
        return result

    def fails(self, *args: str | Path) -> str:
        """Run a command that must fail as a user error; return its one-line message."""
        result = self(*args)
        assert result.exit_code == 1, f"exit {result.exit_code}: {result.output}"
        # A user error ends in SystemExit(1); anything else escaped the CLI as a crash.
        assert isinstance(result.exception, SystemExit), repr(result.exception)
        assert "Traceback" not in result.output
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, f"expected one line on stderr, got: {result.stderr!r}"
        assert lines[0].startswith("error: "), lines[0]
        return lines[0]

    @staticmethod
    def tiny(model: str) -> list[str]:
        return [*COMMON, *TINY[model]]

    def train(
        self, model: str, runs_dir: Path, name: str, *extra: str, data: str | Path = "digits"
    ) -> Path:
        """Train `model` tiny on `data` into runs_dir/name; return the run folder."""
        self.ok(
            "train", model, "--data", data, "--name", name, "--runs-dir", runs_dir,
            *self.tiny(model), *extra,
        )  # fmt: skip
        return runs_dir / name


@pytest.fixture(scope="session")
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture(scope="session")
def cli(runner: CliRunner) -> Cli:
    return Cli(runner)


@pytest.fixture(autouse=True)
def _cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run every command from tmp_path, with a console wide enough that rich never wraps.

    The width is set on the console itself: rich reads $COLUMNS once, when the console is made.
    """
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(console, "width", 200)


# ---------------------------------------------------------------------------------------
# Image folders
# ---------------------------------------------------------------------------------------

ImageFolderBuilder = Callable[..., Path]


def write_image_folder(
    root: Path,
    classes: dict[str, int] | int,
    size: tuple[int, int] = (12, 10),
    mode: str = "RGB",
    seed: int = 0,
) -> Path:
    """Write random PNGs: {class: count} into class subfolders, or a count into `root` itself."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    layout = classes if isinstance(classes, dict) else {"": classes}
    channels = {"RGB": (3,), "L": ()}[mode]
    for name, count in layout.items():
        folder = root / name
        folder.mkdir(exist_ok=True)
        for i in range(count):
            pixels = rng.integers(0, 256, (size[1], size[0], *channels), dtype=np.uint8)
            Image.fromarray(pixels, mode).save(folder / f"img{i:03d}.png")
    return root


@pytest.fixture(scope="session")
def image_folder() -> ImageFolderBuilder:
    """`image_folder(root, {"cats": 3, "dogs": 3})` (labeled) or `image_folder(root, 5)`."""
    return write_image_folder


# ---------------------------------------------------------------------------------------
# Trained runs, shared by every test that only reads them (copy a run before changing it)
# ---------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def session_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Scratch folder of the session fixtures: their cwd, their runs and their data."""
    return tmp_path_factory.mktemp("cli-session")


@pytest.fixture(scope="session")
def runs_home(session_dir: Path) -> Path:
    """The runs folder holding the shared runs."""
    return session_dir / "runs"


@pytest.fixture(scope="session")
def train_shared(cli: Cli, session_dir: Path, runs_home: Path) -> Callable[..., Path]:
    """Train a shared run from the session folder (never the repo), whatever test asks first."""

    def train(model: str, name: str, data: str | Path = "digits") -> Path:
        with pytest.MonkeyPatch.context() as mp:
            mp.chdir(session_dir)
            return cli.train(model, runs_home, name, data=data)

    return train


@pytest.fixture(scope="session")
def dcgan_run(train_shared: Callable[..., Path]) -> Path:
    """Unconditional DCGAN on digits, 8 px, 2 steps."""
    return train_shared("dcgan", "tiny-dcgan")


@pytest.fixture(scope="session")
def cgan_run(train_shared: Callable[..., Path]) -> Path:
    """Class-conditional GAN on digits (classes "0".."9")."""
    return train_shared("cgan", "tiny-cgan")


@pytest.fixture(scope="session")
def vae_run(train_shared: Callable[..., Path]) -> Path:
    """VAE on digits with latent_dim 8."""
    return train_shared("vae", "tiny-vae")


@pytest.fixture(scope="session")
def ddpm_run(train_shared: Callable[..., Path]) -> Path:
    """Unconditional DDPM on digits, 8 px, 2 steps, UNet widths (8, 16)."""
    return train_shared("ddpm", "tiny-ddpm")


@pytest.fixture(scope="session")
def cddpm_run(train_shared: Callable[..., Path]) -> Path:
    """Class-conditional DDPM (classifier-free guidance) on digits."""
    return train_shared("cddpm", "tiny-cddpm")


@pytest.fixture(scope="session")
def t2i_run(train_shared: Callable[..., Path]) -> Path:
    """Text-to-image diffusion on digits, captions "a handwritten zero" ... "nine"."""
    return train_shared("t2i", "tiny-t2i")


@pytest.fixture(scope="session")
def pets_cgan_run(train_shared: Callable[..., Path], session_dir: Path) -> Path:
    """Class-conditional GAN on an image folder with classes "cats" and "dogs"."""
    pets = write_image_folder(session_dir / "pets", {"cats": 12, "dogs": 12})
    return train_shared("cgan", "tiny-pets-cgan", data=pets)
