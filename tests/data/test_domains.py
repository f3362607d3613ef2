import numpy as np
import pytest
import torch
from PIL import Image

from genforge.core.errors import GenforgeError
from genforge.data.domains import load_domains
from genforge.data.transforms import AUGMENTATIONS, augment


def write(path, value, mode="L"):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((8, 8), value, np.uint8)).convert(mode).save(path)


def test_pairs_match_by_name_and_augmentation_keeps_them_together(tmp_path):
    for i, v in enumerate((10, 60, 110)):  # B is A's negative, under another extension
        write(tmp_path / "a" / f"x{i}.png", v)
        write(tmp_path / "b" / f"x{i}.bmp", 255 - v)
    write(tmp_path / "b" / "extra.png", 0)
    ds = load_domains(str(tmp_path / "a"), str(tmp_path / "b"), 8, paired=True)
    assert ds.images.shape == (3, 2, 8, 8) and ds.channels == 1 and ds.paired
    assert ds.class_names == ["a", "b"] and ds.labels is None
    assert torch.allclose(ds.images[:, 0], -ds.images[:, 1], atol=1e-5)
    assert [(s.path, s.reason) for s in ds.report.skipped] == [
        ("b/extra.png", "no file named extra.* in a")
    ]
    train, _ = ds.split(0.34, seed=0)
    assert train.paired and train.channels == 1 and train.report.class_counts == {"a": 2, "b": 2}
    y = augment(ds.images, tuple(AUGMENTATIONS), generator=torch.Generator().manual_seed(0))
    assert torch.allclose(y[:, 0], -y[:, 1], atol=1e-5)


def test_unpaired_domains_are_labeled_and_share_channels(tmp_path):
    write(tmp_path / "photos" / "p.png", 30, "RGB")
    write(tmp_path / "sketch" / "s1.png", 30)
    write(tmp_path / "sketch" / "s2.png", 90)
    ds = load_domains(str(tmp_path / "photos"), str(tmp_path / "sketch"), 8)
    assert ds.images.shape == (3, 3, 8, 8) and ds.labels.tolist() == [0, 1, 1]
    assert ds.report.class_counts == {"photos": 1, "sketch": 2}
    same = load_domains(str(tmp_path / "sketch"), str(tmp_path / "sketch"), 8)
    assert same.class_names == ["sketch-a", "sketch-b"]
    with pytest.raises(GenforgeError, match="partner of the same name"):
        load_domains(str(tmp_path / "photos"), str(tmp_path / "sketch"), 8, paired=True)
