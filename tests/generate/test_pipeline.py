import numpy as np
import pytest
import torch
from PIL import Image

from genforge.core.errors import GenforgeError
from genforge.core.images import read_png_params
from genforge.generate.image import encode_images, write_class_grid, write_samples, write_walk
from genforge.generate.pipeline import ImagePipeline, slerp, truncated_latent
from genforge.train.launch import train

TINY = {"image_size": 8, "batch_size": 8, "latent_dim": 8, "steps": 2}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    return {
        "cgan": train("cgan", "digits", runs_dir=root, ngf=8, ndf=8, **TINY),
        "dcgan": train("dcgan", "photos", runs_dir=root, ngf=8, ndf=8, **TINY),
        "vae": train("vae", "digits", runs_dir=root, width=8, **TINY),
    }


def test_truncation_bounds_latents():
    z = truncated_latent(1000, 4, 0.5, torch.Generator().manual_seed(0))
    assert z.abs().max() <= 0.5 and z.std() > 0.2


@pytest.mark.parametrize("bad", [0.0, 1e-300, 0.049, 10.5, -1.0])
def test_truncation_outside_its_range_is_a_one_line_error(bad):
    with pytest.raises(GenforgeError, match=r"truncation must be between 0.05 and 10, got "):
        truncated_latent(4, 4, bad, torch.Generator().manual_seed(0))


def test_truncation_resampling_is_bounded(monkeypatch):
    """Even at the smallest threshold the draw ends, and every value is inside it."""
    import genforge.generate.pipeline as gp

    monkeypatch.setattr(gp, "MAX_RESAMPLE_ROUNDS", 3)  # most values still outside after 3
    z = truncated_latent(2000, 8, 0.05, torch.Generator().manual_seed(0))
    assert z.abs().max() <= 0.05 and (z.abs() == 0.05).float().mean() > 0.5
    monkeypatch.undo()
    z = truncated_latent(20_000, 8, 0.05, torch.Generator().manual_seed(0))  # full rounds
    assert z.abs().max() <= 0.05 and (z.abs() == 0.05).sum() == 0


def test_slerp_endpoints_and_norm():
    a, b = torch.randn(16), torch.randn(16)
    path = slerp(a, b, torch.tensor([0.0, 0.5, 1.0]))
    assert torch.allclose(path[0], a, atol=1e-5) and torch.allclose(path[2], b, atol=1e-5)


def test_labels_by_name_or_index(runs):
    pipe = ImagePipeline(runs["cgan"])
    assert pipe.label_index("7") == 7 and pipe.label_index(3) == 3
    for bad in ("12", "-1"):
        with pytest.raises(GenforgeError, match="out of range.*knows 10 classes"):
            pipe.label_index(bad)
    with pytest.raises(GenforgeError, match="unknown class 'seven'.*knows 10 classes: 0, 1"):
        pipe.label_index("seven")
    with pytest.raises(GenforgeError, match="needs a class-conditional model"):
        ImagePipeline(runs["dcgan"]).label_index("1")
    assert torch.equal(pipe.labels_for(4), torch.tensor([0, 1, 2, 3]))


def test_samples_are_seeded_and_carry_parameters(runs, tmp_path):
    pipe = ImagePipeline(runs["dcgan"])
    assert pipe.spec.channels == 3
    a, b = pipe.sample(5, seed=4), pipe.sample(5, seed=4)
    assert a.shape == (5, 3, 8, 8) and torch.equal(a, b)
    paths = write_samples(pipe, 3, seed=4, grid=tmp_path / "g.png", out_dir=tmp_path / "single")
    assert len(paths) == 4
    params = read_png_params(paths[2])
    assert params["run"] == runs["dcgan"].name and params["seed"] == 4 and params["index"] == 1
    assert params["step"] == 2


def test_class_grid_rows_follow_labels(runs, tmp_path):
    path = write_class_grid(ImagePipeline(runs["cgan"]), tmp_path / "grid.png", per_class=3)
    with Image.open(path) as im:
        assert im.size == (2 + 3 * 10, 2 + 10 * 10)  # 10 rows of 3 images of 8 px + 2 px padding
    with pytest.raises(GenforgeError, match="needs a conditional run"):
        write_class_grid(ImagePipeline(runs["dcgan"]), tmp_path / "x.png")


def test_latent_walk_gif_and_mp4(runs, tmp_path):
    pipe = ImagePipeline(runs["dcgan"])
    video = pipe.interpolate(3, 7, seed=1, walks=2)
    assert video.shape == (7, 2, 3, 8, 8)
    gif = write_walk(pipe, tmp_path / "walk.gif", 3, 7)
    with Image.open(gif) as im:
        assert im.n_frames == 7 and min(im.size) >= 256
    mp4 = write_walk(pipe, tmp_path / "walk.mp4", 3, 7)
    assert mp4.read_bytes()[4:8] == b"ftyp"
    with pytest.raises(GenforgeError, match="use .gif or .mp4"):
        write_walk(pipe, tmp_path / "walk.avi", 3, 7)
    with pytest.raises(GenforgeError, match="at least 2 keyframes"):
        pipe.interpolate(1, 7)


def test_vae_encode_to_npz(runs, tmp_path):
    pipe = ImagePipeline(runs["vae"])
    out, n = encode_images(pipe, "digits", tmp_path / "z.npz", recon_grid=tmp_path / "r.png")
    data = np.load(out)
    assert data["mu"].shape == (n, 8) and n == 1797 and (data["labels"][:3] == [0, 1, 2]).all()
    assert (tmp_path / "r.png").exists()
    with pytest.raises(GenforgeError, match="needs a VAE run"):
        ImagePipeline(runs["cgan"]).encode(torch.zeros(1, 1, 8, 8))
    with pytest.raises(GenforgeError, match=r"must end in \.npz"):
        encode_images(pipe, "digits", tmp_path / "z.csv")


def test_python_api(runs):
    import genforge

    run = genforge.load(runs["cgan"].path)
    assert run.sample(4, seed=0).shape == (4, 1, 8, 8)
    trained = genforge.train("gan", data="digits", steps=1, image_size=8, batch_size=4, name="api")
    assert trained.sample(2, seed=0).shape == (2, 1, 8, 8)
