"""Captioned image folders for LoRA fine-tuning: captions.csv, sidecar .txt files, one caption
for all, and the one-line errors when they do not fit the images."""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from genforge.core.errors import GenforgeError
from genforge.data.caption_folder import decode_rgb, load_captioned_folder


def _images(root: Path, names: list[str]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for n in names:
        (root / n).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (10, 12, 3), dtype=np.uint8)).save(root / n)
    return root


def test_captions_csv_then_sidecar_files(tmp_path: Path):
    root = _images(tmp_path / "imgs", ["a.png", "b.jpg", "sub/c.png"])
    (root / "captions.csv").write_text('file,caption\na.png,"a red cat"\nsub/c.png,a dog\n')
    (root / "b.txt").write_text("a hat\n")
    items = load_captioned_folder(root)
    assert [(i.path.relative_to(root).as_posix(), i.caption) for i in items] == [
        ("a.png", "a red cat"), ("b.jpg", "a hat"), ("sub/c.png", "a dog"),
    ]  # fmt: skip
    x = decode_rgb(items, 8)
    assert x.shape == (3, 3, 8, 8) and x.min() >= -1 and x.max() <= 1


def test_one_caption_or_instance_prompt_for_every_image(tmp_path: Path):
    root = _images(tmp_path / "imgs", ["a.png", "b.png"])
    assert {i.caption for i in load_captioned_folder(root, caption="x y")} == {"x y"}
    items = load_captioned_folder(root, instance_prompt="a photo of sks dog")
    assert {i.caption for i in items} == {"a photo of sks dog"}
    with pytest.raises(GenforgeError, match="give one"):
        load_captioned_folder(root, caption="x", instance_prompt="y")


def test_a_csv_row_without_its_image_says_which(tmp_path: Path):
    root = _images(tmp_path / "imgs", ["a.png"])
    (root / "captions.csv").write_text("file,caption\na.png,one\nmissing.png,two\n")
    with pytest.raises(GenforgeError, match=r"line 3: 'missing.png' matches no image"):
        load_captioned_folder(root)


def test_uncaptioned_images_and_empty_folders_fail(tmp_path: Path):
    root = _images(tmp_path / "imgs", ["a.png", "b.png"])
    (root / "a.txt").write_text("one")
    with pytest.raises(GenforgeError, match="no caption for b.png"):
        load_captioned_folder(root)
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("x")
    with pytest.raises(GenforgeError, match="no images in"):
        load_captioned_folder(tmp_path / "empty", caption="x")
    with pytest.raises(GenforgeError, match="columns file,caption"):
        (root / "captions.csv").write_text("name,text\na.png,x\n")
        load_captioned_folder(root)
