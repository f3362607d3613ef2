import json

import numpy as np
import pytest
from PIL import Image

from genforge.core.errors import GenforgeError
from genforge.data import load_images
from genforge.data.captions import caption_dataset, class_captions


def test_captions_from_class_names():
    assert class_captions(list("0123456789"), None)[7] == "a handwritten seven"
    assert class_captions(["red_car", "dog"], None) == ["a red car", "a dog"]
    assert class_captions(["cat"], "a photo of a {name}") == ["a photo of a cat"]
    with pytest.raises(GenforgeError, match="must contain"):
        class_captions(["cat"], "a photo")


def test_digits_keep_their_labels_with_captions_as_class_names():
    ds = load_images("digits", 8)
    cap = caption_dataset(ds, "digits")
    assert cap.class_names[7] == "a handwritten seven"
    assert cap.labels is ds.labels or bool((cap.labels == ds.labels).all())


def test_captions_jsonl_labels_each_image_by_its_caption(tmp_path):
    root = tmp_path / "pics"
    root.mkdir()
    for i in range(4):  # distinct images (duplicates would be dropped)
        Image.fromarray(np.full((8, 8), 40 * i, np.uint8)).save(root / f"img{i:03d}.png")
    files = sorted(p.name for p in root.glob("*.png"))
    captions = ["a red ball", "a blue ball", "a red ball", "a green cube"]
    lines = [json.dumps({"file": f, "caption": c}) for f, c in zip(files, captions, strict=True)]
    (root / "captions.jsonl").write_text("\n".join(lines) + "\n")
    ds = caption_dataset(load_images(str(root), 8), str(root))
    assert ds.class_names == ["a blue ball", "a green cube", "a red ball"]
    by_file = {f.rsplit("/", 1)[-1]: ds.class_names[y] for f, y in zip(ds.files, ds.labels.tolist(), strict=True)}  # fmt: skip
    assert by_file == dict(zip(files, captions, strict=True))

    (root / "captions.jsonl").write_text("\n".join(lines[:3]) + "\n")
    with pytest.raises(GenforgeError, match=r"1 of 4 images have no caption .*img003.png"):
        caption_dataset(load_images(str(root), 8), str(root))
    (root / "captions.jsonl").write_text('{"file": "img000.png"}\n')
    with pytest.raises(GenforgeError, match="line 1: expected"):
        caption_dataset(load_images(str(root), 8), str(root))
