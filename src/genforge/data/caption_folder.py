"""An image folder with one caption per image, for fine-tuning a pretrained text-to-image
pipeline (`genforge train lora`).

Where each image's caption comes from, first match wins:
- one caption for every image (`caption`, or DreamBooth's `instance_prompt`, e.g.
  "a photo of sks dog");
- `captions.csv` in the folder, columns `file,caption` (`file` relative to the folder);
- a sidecar text file next to the image: `cat01.png` -> `cat01.txt`.

A captions.csv row naming no image, an image left without a caption, or a folder without
images is a one-line error that says which.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import torch

from genforge.core.errors import GenforgeError
from genforge.data.images import IMAGE_EXTENSIONS, decode_image

CAPTIONS_CSV = "captions.csv"
# caption sources that give every image the same caption; a LoRA run records that caption in
# its config.yaml (data.caption) so that evaluation reloads the captions it trained on
SHARED_SOURCES = ("caption", "instance_prompt")


@dataclass(frozen=True)
class CaptionedImage:
    path: Path
    caption: str


def image_files(folder: Path) -> list[Path]:
    """The image files under `folder` (recursively, hidden files and folders skipped), sorted."""
    return sorted(
        f
        for f in folder.rglob("*")
        if f.is_file()
        and f.suffix.lower() in IMAGE_EXTENSIONS
        and not any(part.startswith(".") for part in f.relative_to(folder).parts)
    )


def read_captions_csv(folder: Path, images: list[Path]) -> dict[Path, str]:
    """captions.csv -> {image path: caption}; a row whose file is not an image here fails."""
    path = folder / CAPTIONS_CSV
    known = {p.relative_to(folder).as_posix(): p for p in images}
    captions: dict[Path, str] = {}
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        if not reader.fieldnames or not {"file", "caption"} <= set(reader.fieldnames):
            raise GenforgeError(
                f"{path} needs the columns file,caption; it has "
                f"{', '.join(reader.fieldnames or []) or 'none'}"
            )
        for line, row in enumerate(reader, start=2):
            name = (row["file"] or "").strip()
            if name not in known:
                raise GenforgeError(f"{path} line {line}: '{name}' matches no image in {folder}")
            captions[known[name]] = (row["caption"] or "").strip()
    return captions


def load_captioned_folder(
    folder: str | Path, caption: str | None = None, instance_prompt: str | None = None
) -> list[CaptionedImage]:
    """The images of `folder` with their captions (see the module docstring for the sources).

    Args:
        folder: the image folder.
        caption: one caption for every image.
        instance_prompt: DreamBooth's prompt naming the subject; one caption for every image.

    Returns:
        One CaptionedImage per image file, sorted by path.
    """
    root = Path(folder).expanduser()
    if not root.is_dir():
        raise GenforgeError(f"no image folder {root}")
    images = image_files(root)
    if not images:
        raise GenforgeError(f"no images in {root} (looked for {', '.join(IMAGE_EXTENSIONS)})")
    if caption is not None and instance_prompt is not None:
        raise GenforgeError("--caption and --instance-prompt both caption every image; give one")
    shared = caption if caption is not None else instance_prompt
    if shared is not None:
        return [CaptionedImage(p, shared) for p in images]
    captions = read_captions_csv(root, images) if (root / CAPTIONS_CSV).is_file() else {}
    out, missing = [], []
    for p in images:
        text = captions.get(p)
        if text is None and p.with_suffix(".txt").is_file():
            text = p.with_suffix(".txt").read_text(encoding="utf-8").strip()
        if text is None:
            missing.append(p.relative_to(root).as_posix())
        else:
            out.append(CaptionedImage(p, text))
    if missing:
        shown = ", ".join(missing[:5]) + (
            f" and {len(missing) - 5} more" if len(missing) > 5 else ""
        )
        raise GenforgeError(
            f"no caption for {shown} in {root}: give a {CAPTIONS_CSV} (file,caption), "
            "NAME.txt files, --caption or --instance-prompt"
        )
    return out


def decode_rgb(items: list[CaptionedImage], image_size: int) -> torch.Tensor:
    """The images as one (N, 3, image_size, image_size) tensor in [-1, 1] (center square)."""
    return torch.stack([decode_image(item.path, image_size, 3) for item in items])


def items_of_run(
    data: dict, sample_prompts: list[str] | tuple[str, ...] = ()
) -> list[CaptionedImage]:
    """The captioned images a LoRA run trained on, from its config's `data` section (source,
    captions, caption); a folder that gained or lost images since is a one-line error.
    `sample_prompts` stand in for the shared caption of runs that did not record it."""
    shared = None
    if data.get("captions") in SHARED_SOURCES:
        shared = data.get("caption") or (list(sample_prompts) or [""])[0]
    items = load_captioned_folder(data["source"], caption=shared)
    if len(items) != int(data["images"]):
        raise GenforgeError(
            f"{data['source']} holds {len(items)} images but the run trained on "
            f"{data['images']}; the images changed since training"
        )
    return items
