"""`genforge bench train`'s reference loop reads images as pytorch/examples dcgan/main.py does:
ImageFolder, Resize(shorter side) + CenterCrop + ToTensor + Normalize(0.5, 0.5)."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from genforge.bench.train import PILImageFolder, reference_dataset, reference_workers


def test_the_pil_pipeline_resizes_the_shorter_side_then_crops_the_centre(tmp_path):
    (tmp_path / "a").mkdir()
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (10, 20, 3), dtype=np.uint8)  # 20 wide, 10 high
    Image.fromarray(pixels).save(tmp_path / "a" / "x.png")
    x, label = PILImageFolder(tmp_path, 5)[0]
    expected = Image.fromarray(pixels).resize((10, 5), Image.BILINEAR).crop((2, 0, 7, 5))
    want = torch.from_numpy(np.asarray(expected, dtype=np.float32) / 255).permute(2, 0, 1)
    assert label == 0 and x.shape == (3, 5, 5)
    assert torch.allclose(x, (want - 0.5) / 0.5)
    assert x.min() >= -1 and x.max() <= 1


def test_the_reference_says_which_loader_ran(tmp_path):
    (tmp_path / "a").mkdir()
    Image.new("RGB", (8, 8)).save(tmp_path / "a" / "x.png")
    dataset, kind = reference_dataset(tmp_path, 4)
    assert len(dataset) == 1 and dataset[0][0].shape == (3, 4, 4)
    assert kind in ("torchvision ImageFolder", "ImageFolder steps in PIL (no torchvision)")
    assert 1 <= reference_workers() <= 8


def test_ddpm_is_timed_against_the_diffusers_loop_at_each_precision():
    from genforge.bench.train import TrainBench, run_train_bench, train_table

    bench = TrainBench(model="ddpm", image_size=8, batch_size=4, precision="fp32,bf16", steps=1,
                       repeats=1, device="cpu")  # fmt: skip
    res = run_train_bench(bench, log=lambda *_: None)
    labels = [r.label for r, _ in res.results]
    assert labels == ["reference fp32 (diffusers loop)", "reference bf16 (diffusers loop)",
                      "genforge fp32", "genforge bf16"]  # fmt: skip
    assert res.reference("bf16").label == "reference bf16 (diffusers loop)"
    assert all(r.median > 0 for r, _ in res.results)
    assert train_table(res).row_count == 4
