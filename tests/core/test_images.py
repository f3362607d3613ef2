import numpy as np
import torch
from PIL import Image

from genforge.core.images import make_grid, read_png_params, save_png


def test_grid_layout_and_values():
    imgs = torch.stack([torch.full((1, 4, 4), v) for v in (-1.0, 1.0, 0.0)])
    grid = make_grid(imgs, nrow=2, padding=1)
    assert grid.shape == (1 + 2 * 5, 1 + 2 * 5, 1)
    assert grid[1, 1, 0] == 0 and grid[1, 6, 0] == 255 and grid[6, 1, 0] == 128
    assert grid[0, 0, 0] == 255  # padding is white


def test_png_carries_generation_parameters(tmp_path):
    arr = np.zeros((4, 4, 3), np.uint8)
    path = save_png(tmp_path / "x.png", arr, {"run": "cats", "seed": 3, "label": "7"})
    assert read_png_params(path) == {"run": "cats", "seed": 3, "label": "7"}
    with Image.open(path) as im:
        assert im.text["genforge:seed"] == "3"
