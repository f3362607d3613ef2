"""Image-folder scanning and decoding (genforge/data/images.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from genforge.core.errors import GenforgeError
from genforge.data import images as images_module
from genforge.data import load_images, scan_image_folder
from genforge.data.images import decode_image

from .conftest import CLASS_NAMES, DUPLICATES, KEPT, SKIPPED


def _rel(root: Path, p: Path) -> str:
    return p.relative_to(root).as_posix()


# ---------------------------------------------------------------------------- scan


def test_scan_keeps_labels_and_explains_every_skipped_file(labeled_folder: Path) -> None:
    scan = scan_image_folder(labeled_folder)

    assert scan.class_names == CLASS_NAMES
    kept = {_rel(labeled_folder, e.path): e for e in scan.entries}
    assert set(kept) == set(KEPT)
    assert {p: e.mode for p, e in kept.items()} == KEPT
    assert all(e.label == CLASS_NAMES.index(p.split("/")[0]) for p, e in kept.items())
    assert kept["cats/nested/d.webp"].label == 0  # nested folders belong to the top class
    assert kept["cats/b.jpg"].size == (64, 48)

    assert {s.path: s.reason for s in scan.skipped} == SKIPPED
    assert scan.duplicates == DUPLICATES
    # 14 visible files: 8 kept + 5 skipped + 1 duplicate; hidden files are not even counted.
    assert scan.num_files == len(KEPT) + len(SKIPPED) + len(DUPLICATES)
    assert not any(".thumbnails" in s.path or ".DS_Store" in s.path for s in scan.skipped)


def test_scan_report_counts(labeled_folder: Path) -> None:
    report = scan_image_folder(labeled_folder).report()
    assert report.kind == "image-folder"
    assert report.image_size is None and report.channels is None  # inspect-only
    assert report.class_counts == {"cats": 5, "dogs": 3}
    assert report.num_images == 8
    assert report.original_modes == {"RGB": 4, "L": 2, "RGBA": 1, "I;16": 1}
    assert sum(report.original_sizes.values()) == 8


def test_flat_folder_is_unlabeled_and_gray_loads_one_channel(gray_flat_folder: Path) -> None:
    scan = scan_image_folder(gray_flat_folder)
    assert scan.class_names == [] and scan.labels is None
    assert scan.auto_channels() == 1

    ds = load_images(str(gray_flat_folder), image_size=16)
    assert ds.labels is None and ds.num_classes == 0 and ds.class_names == []
    assert ds.images.shape == (4, 1, 16, 16)
    assert ds.report.class_counts == {}
    assert ds.name == gray_flat_folder.name


def test_subfolder_without_images_does_not_make_a_class(tmp_path: Path) -> None:
    Image.new("L", (8, 8), 10).save(tmp_path / "x.png")
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "readme.txt").write_text("hi")
    scan = scan_image_folder(tmp_path)
    assert scan.class_names == []
    assert [s.reason for s in scan.skipped] == ["unsupported extension .txt"]


def test_symlinked_class_folders_are_followed_once(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    Image.new("L", (8, 8), 10).save(elsewhere / "x.png")
    (elsewhere / "loop").symlink_to(elsewhere)  # a cycle must not hang the scan
    root = tmp_path / "data"
    root.mkdir()
    (root / "cats").symlink_to(elsewhere)
    scan = scan_image_folder(root)
    assert scan.class_names == ["cats"] and len(scan.entries) == 1


# ---------------------------------------------------------------------------- decode


def test_labeled_folder_loads_as_rgb_tensors(labeled_folder: Path) -> None:
    ds = load_images(str(labeled_folder), image_size=32)
    assert ds.in_memory and ds.stream is None
    assert ds.images.shape == (8, 3, 32, 32) and ds.images.dtype == torch.float32
    assert ds.images.min() >= -1.0 and ds.images.max() <= 1.0
    assert ds.labels.tolist() == [0, 0, 0, 0, 0, 1, 1, 1]
    assert ds.labels.dtype == torch.int64
    assert ds.class_names == CLASS_NAMES and ds.num_classes == 2
    assert ds.report.image_size == 32 and ds.report.channels == 3
    # Grayscale files in an RGB set are replicated across the 3 channels (c.bmp is third).
    gray = ds.images[2]
    assert torch.equal(gray[0], gray[1]) and torch.equal(gray[1], gray[2])


def test_folder_default_size_is_64_and_channels_can_be_forced(labeled_folder: Path) -> None:
    ds = load_images(str(labeled_folder), channels=1)
    assert ds.images.shape == (8, 1, 64, 64)
    assert ds.channels == 1 and ds.image_size == 64


def test_alpha_is_composited_on_white(tmp_path: Path) -> None:
    rgba = np.zeros((8, 8, 4), dtype=np.uint8)  # fully transparent black
    rgba[:, 4:] = (0, 0, 0, 255)  # right half: opaque black
    Image.fromarray(rgba).save(tmp_path / "a.png")
    x = decode_image(tmp_path / "a.png", 8, 3)
    assert torch.allclose(x[:, :, :3], torch.ones(3, 8, 3), atol=1e-3)  # transparent -> white
    assert torch.allclose(x[:, :, 5:], -torch.ones(3, 8, 3), atol=1e-3)


def test_gifs_load_their_first_frame(tmp_path: Path) -> None:
    """Palette, transparent and animated GIFs are images like the others (they were refused
    as "unsupported extension .gif")."""
    red, blue = np.zeros((8, 8, 3), np.uint8), np.zeros((8, 8, 3), np.uint8)
    red[..., 0], blue[..., 2] = 255, 255
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    Image.fromarray(red).convert("P").save(tmp_path / "a" / "palette.gif")
    frames = [Image.fromarray(red).convert("P"), Image.fromarray(blue).convert("P")]
    frames[0].save(tmp_path / "a" / "animated.gif", save_all=True, append_images=frames[1:])
    clear = Image.fromarray(np.zeros((8, 8), np.uint8), "P")
    clear.putpalette([0, 0, 0] * 256)
    clear.save(tmp_path / "b" / "transparent.gif", transparency=0)
    Image.fromarray(blue).save(tmp_path / "b" / "plain.png")
    scan = scan_image_folder(tmp_path)
    assert scan.skipped == [] and len(scan.entries) == 4
    x = decode_image(tmp_path / "a" / "animated.gif", 8, 3)
    assert torch.allclose(x[0], torch.ones(8, 8), atol=0.02)  # the first frame: red
    assert torch.allclose(x[2], -torch.ones(8, 8), atol=0.02)
    white = decode_image(tmp_path / "b" / "transparent.gif", 8, 3)
    assert torch.allclose(white, torch.ones(3, 8, 8), atol=1e-3)  # composited on white
    ds = load_images(str(tmp_path), image_size=8)
    assert ds.images.shape == (4, 3, 8, 8) and ds.class_names == ["a", "b"]


def test_16_bit_gray_is_scaled_to_full_range(tmp_path: Path) -> None:
    levels = np.array([[0, 65535], [32896, 65535]], dtype=np.uint16).repeat(4, 0).repeat(4, 1)
    Image.fromarray(levels).save(tmp_path / "g.png")
    with Image.open(tmp_path / "g.png") as im:
        assert im.mode == "I;16"
    x = decode_image(tmp_path / "g.png", 8, 1)[0]  # (8, 8)
    assert x[0, 0] == pytest.approx(-1.0, abs=1e-3)  # 0 -> -1
    assert x[0, 7] == pytest.approx(1.0, abs=1e-3)  # 65535 -> +1
    assert x[7, 0] == pytest.approx(0.0, abs=0.01)  # 32896 = 128 * 257 -> about 0


def test_shorter_side_resize_then_center_crop(tmp_path: Path) -> None:
    # 40 x 10 image, black | white | black: the central 10 x 10 square (x 15..25) lies well
    # inside the white band (x 10..30), so the crop sees no black even through Lanczos taps.
    a = np.zeros((10, 40), dtype=np.uint8)
    a[:, 10:30] = 255
    Image.fromarray(a).save(tmp_path / "wide.png")
    x = decode_image(tmp_path / "wide.png", 8, 1)
    assert x.shape == (1, 8, 8)
    assert torch.allclose(x, torch.ones_like(x), atol=1e-3)


def test_exif_orientation_is_applied(tmp_path: Path) -> None:
    a = np.zeros((16, 16), dtype=np.uint8)
    a[8:] = 255  # stored: top black, bottom white
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    Image.fromarray(a).save(tmp_path / "phone.png", exif=exif)
    x = decode_image(tmp_path / "phone.png", 16, 1)[0]
    assert torch.allclose(x[:, :6], torch.ones(16, 6), atol=1e-3)  # bottom turned to the left
    assert torch.allclose(x[:, 10:], -torch.ones(16, 6), atol=1e-3)


def test_rgb_to_one_channel_uses_luminance(tmp_path: Path) -> None:
    Image.new("RGB", (8, 8), (255, 0, 0)).save(tmp_path / "red.png")
    x = decode_image(tmp_path / "red.png", 8, 1)
    assert x.shape == (1, 8, 8)
    assert x.mean().item() == pytest.approx(round(0.299 * 255) / 127.5 - 1, abs=0.01)


def test_streaming_returns_the_same_pixels_as_memory(labeled_folder: Path) -> None:
    in_memory = load_images(str(labeled_folder), image_size=16)
    streamed = load_images(str(labeled_folder), image_size=16, max_memory_bytes=1)
    assert not streamed.in_memory and streamed.images is None
    assert len(streamed) == len(in_memory) == 8
    assert streamed.channels == 3 and streamed.image_size == 16
    assert torch.equal(streamed.labels, in_memory.labels)
    for i in range(len(in_memory)):
        image, label = streamed.stream[i]
        assert torch.equal(image, in_memory.images[i])
        assert label == in_memory.labels[i].item()


def test_streaming_unlabeled_items_have_label_minus_one(gray_flat_folder: Path) -> None:
    ds = load_images(str(gray_flat_folder), image_size=8, max_memory_bytes=1)
    image, label = ds.stream[0]
    assert image.shape == (1, 8, 8) and label == -1


def test_progress_bar_path_decodes_the_same(
    gray_flat_folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plain = load_images(str(gray_flat_folder), image_size=8)
    monkeypatch.setattr(images_module, "PROGRESS_MIN_FILES", 1)
    with_bar = load_images(str(gray_flat_folder), image_size=8)
    assert torch.equal(plain.images, with_bar.images)


# ---------------------------------------------------------------------------- errors


def test_missing_path_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(GenforgeError, match="no such file or folder"):
        scan_image_folder(tmp_path / "nope")
    with pytest.raises(GenforgeError, match=r"no such file or folder: .*digits, phantoms"):
        load_images(str(tmp_path / "nope"))


def test_a_file_is_not_an_image_folder(labeled_folder: Path) -> None:
    with pytest.raises(GenforgeError, match="is a file, not an image folder"):
        load_images(str(labeled_folder / "cats" / "a.png"))


def test_empty_folder_is_an_error(tmp_path: Path) -> None:
    (tmp_path / ".hidden").write_text("ignored")
    with pytest.raises(GenforgeError, match=r"folder .* is empty"):
        load_images(str(tmp_path))


def test_folder_without_readable_images_names_an_example(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("x")
    (tmp_path / "b.png").write_bytes(b"not a png")
    with pytest.raises(GenforgeError) as info:
        load_images(str(tmp_path))
    message = str(info.value)
    assert "no readable image in" in message and "2 files skipped" in message
    assert "a.txt: unsupported extension .txt" in message
    assert "\n" not in message
