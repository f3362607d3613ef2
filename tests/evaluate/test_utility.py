"""The utility test's pooled CNN: random shifts that keep a scan's background."""

from __future__ import annotations

import torch

from genforge.evaluate.utility import random_shift, train_pooled_cnn


def test_random_shift_moves_each_image_by_at_most_the_ratio_and_fills_with_background():
    torch.manual_seed(0)
    x = torch.full((64, 1, 32, 32), -1.0)
    x[:, 0, 16, 16] = 1.0  # one bright pixel on a black background
    y = random_shift(x, 1 / 16, fill=-1.0)
    assert set(y.unique().tolist()) == {-1.0, 1.0}  # no grey strips where the image moved away
    places = set()
    for img in y[:, 0]:
        ((r, c),) = (img == 1.0).nonzero().tolist()
        assert abs(r - 16) <= 2 and abs(c - 16) <= 2  # 1/16 of 32 px
        places.add((r, c))
    assert len(places) > 10  # each image gets its own shift


def test_pooled_cnn_trains_with_and_without_shifts():
    torch.manual_seed(0)
    x = torch.randn(16, 1, 16, 16)
    y = torch.arange(16) % 2
    x[y == 1, :, 4:8, 4:8] += 4.0  # class 1: a bright square
    for shift in (0.0, 1 / 16):
        net = train_pooled_cnn(x, y, steps=40, seed=0, shift=shift)
        assert (net(x).argmax(1) == y).float().mean() == 1.0
