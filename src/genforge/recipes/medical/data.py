"""(1) The real data: class folders of PNG/JPEG/DICOM (or the embedded phantoms) converted to
de-identified PNGs, and each class split into training and held-out real images."""

from __future__ import annotations

import io
import os
import secrets
import shutil
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from genforge.core.errors import GenforgeError
from genforge.core.images import to_uint8
from genforge.core.io import write_bytes
from genforge.data.report import SkippedFile
from genforge.recipes.medical.config import EMBEDDED_SETS, STAGING, Log, MedicalConfig


@dataclass
class Staged:
    """The real data after staging and splitting (tensors in [-1, 1], labels 0..K-1)."""

    class_names: list[str]
    real_dir: Path  # the Run's data: training and held-out images (its own validation split)
    val_fraction: float  # the Run's val_fraction: its split is exactly train_* / test_*
    train_x: torch.Tensor
    train_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    train_files: list[Path]
    test_files: list[Path]
    counts: dict[str, dict[str, int]]  # class -> {"found", "train", "heldout", "unused"}
    skipped: list[SkippedFile]
    duplicates: int
    dicom: dict[str, Any]  # files, window sources, de-identification rows


def class_folders(root: Path) -> list[Path]:
    """The class subfolders of `root`; a one-line error unless there are at least two."""
    if not root.exists():
        raise GenforgeError(f"no such folder: {root}")
    if not root.is_dir():
        raise GenforgeError(
            f"--data must be a folder with one subfolder per class, got a file: {root}"
        )
    folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if len(folders) < 2:
        found = f"only {folders[0].name!r}" if folders else "none"
        raise GenforgeError(
            f"{root} needs one subfolder per class and at least two classes (e.g. healthy/ "
            f"and lesion/); found {found}"
        )
    return folders


def _files(folder: Path) -> list[Path]:
    out = []
    for d, dirs, names in os.walk(folder, followlinks=True):
        dirs[:] = sorted(x for x in dirs if not x.startswith("."))
        out += [Path(d, n) for n in sorted(names) if not n.startswith(".")]
    return out


def convert_folder(
    root: Path, dest: Path, window: tuple[float, float] | None, log: Log
) -> tuple[list[SkippedFile], dict[str, Any]]:
    """Write every usable image of `root/<class>/...` as `dest/<class>/NNNNN.png`.

    DICOM files are windowed and de-identified (see data/dicom.py); PNG/JPEG/... files are
    re-encoded without their metadata (EXIF can name a person or a place). Files get numbered
    names: original names of clinical files often hold patient names or ids.
    """
    from PIL import Image, ImageOps

    from genforge.data.dicom import DeidLog, is_dicom, read_dicom
    from genforge.data.images import IMAGE_EXTENSIONS, check_image_file

    salt = secrets.token_hex(16)  # pseudonyms and remapped UIDs of this conversion only
    deid = DeidLog()
    windows: Counter[str] = Counter()
    skipped: list[SkippedFile] = []
    n_dicom = 0
    for folder in class_folders(root):
        k = 0
        for path in _files(folder):
            rel = path.relative_to(root).as_posix()
            target = dest / folder.name / f"{k:05d}.png"
            if is_dicom(path):
                got = read_dicom(path, salt, window)
                if isinstance(got, str):
                    skipped.append(SkippedFile(rel, got))
                    continue
                n_dicom += 1
                deid.add(got.actions)
                windows[got.window_source] += 1
                _save_plain_png(target, Image.fromarray(got.pixels))
            elif path.suffix.lower() in IMAGE_EXTENSIONS:
                checked = check_image_file(path)  # the folder loader's verification: full decode
                if isinstance(checked, str):
                    skipped.append(SkippedFile(rel, checked))
                    continue
                with Image.open(path) as im:
                    im.load()
                    _save_plain_png(target, _plain(ImageOps.exif_transpose(im)))
            else:
                ext = path.suffix.lower() or "(none)"
                skipped.append(SkippedFile(rel, f"unsupported extension {ext} (not DICOM)"))
                continue
            k += 1
        log(f"  {folder.name}: {k} images")
    dicom = {
        "files": n_dicom,
        "windows": dict(windows),
        "deid_rows": deid.rows(),
    }
    return skipped, dicom


def _plain(im: Any) -> Any:
    """PIL image in a mode PNG stores without loss (L, I;16, RGB, RGBA)."""
    if im.mode in ("L", "RGB", "RGBA", "I;16"):
        return im
    if im.mode in ("1", "P", "LA", "CMYK", "YCbCr", "HSV", "LAB"):
        return im.convert("RGBA" if "A" in im.mode or "transparency" in im.info else "RGB")
    if im.mode in ("I", "F"):
        a = np.asarray(im, dtype=np.float64)
        lo, hi = float(a.min()), float(a.max())
        a = (a - lo) / (hi - lo) * 65535 if hi > lo else np.zeros_like(a)
        from PIL import Image

        return Image.fromarray(a.astype(np.uint16))
    return im.convert("RGB")


def _save_plain_png(path: Path, im: Any) -> None:
    """A PNG with pixels only (no text chunks, no EXIF)."""
    buf = io.BytesIO()
    im.save(buf, format="PNG")
    write_bytes(path, buf.getvalue())


def write_phantoms(dest: Path, image_size: int, seed: int, log: Log) -> None:
    """The embedded phantoms (healthy / lesion) as `dest/<class>/NNNNN.png`."""
    from PIL import Image

    from genforge.data.embedded import load_embedded

    data = load_embedded("phantoms", image_size, seed)
    counts: Counter[int] = Counter()
    assert data.labels is not None
    for x, y in zip(data.images, data.labels.tolist(), strict=True):
        name = data.class_names[y]
        _save_plain_png(dest / name / f"{counts[y]:05d}.png", Image.fromarray(to_uint8(x)[:, :, 0]))
        counts[y] += 1
    log(
        f"  phantoms: {len(data.images)} images ({', '.join(f'{data.class_names[k]} {v}' for k, v in sorted(counts.items()))})"
    )


def _convert(cfg: MedicalConfig, converted: Path, log: Log) -> tuple[list[SkippedFile], dict]:
    """The input as PNGs in `converted/<class>/`: the phantoms, or the converted folder."""
    if cfg.data in EMBEDDED_SETS:
        write_phantoms(converted, cfg.image_size, cfg.seed, log)
        return [], {"files": 0, "windows": {}, "deid_rows": []}
    return convert_folder(Path(cfg.data).expanduser(), converted, cfg.window, log)


def _pick(
    scan: Any, cfg: MedicalConfig, real_dir: Path
) -> tuple[list[tuple[Path, Path]], dict[str, int], int]:
    """Per class (seeded shuffle): the held-out images, then the training images, as moves into
    `real_dir/<class>/`; also the readable images per class and the held-out count."""
    rng = np.random.default_rng(cfg.seed)
    found: dict[str, int] = {}
    wanted_test = 0
    moves: list[tuple[Path, Path]] = []
    for label, name in enumerate(scan.class_names):
        files = [e.path for e in scan.entries if e.label == label]
        order = [files[i] for i in rng.permutation(len(files))]
        n_test = max(1, round(len(files) * cfg.heldout_fraction))
        available = len(files) - n_test
        if available < 2:
            raise GenforgeError(
                f"class {name!r} has {len(files)} readable images; at least 3 are needed "
                "(2 to train on, 1 held out)"
            )
        n_train = available if cfg.real_per_class is None else cfg.real_per_class
        if n_train > available:
            raise GenforgeError(
                f"--real-per-class {cfg.real_per_class}: class {name!r} has {available} training "
                f"images ({len(files)} readable, {n_test} held out)"
            )
        moves += [(p, real_dir / name / p.name) for p in order[: n_test + n_train]]
        found[name] = len(files)
        wanted_test += n_test
    return moves, found, wanted_test


def stage_real(cfg: MedicalConfig, out: Path, log: Log) -> Staged:
    """(1) Convert the input into PNGs, split each class into training and held-out images."""
    from genforge.data import load_images, scan_image_folder

    staging = out / STAGING
    converted = staging / "converted"
    skipped, dicom = _convert(cfg, converted, log)
    if not converted.exists():
        example = f" (e.g. {skipped[0].path}: {skipped[0].reason})" if skipped else ""
        raise GenforgeError(
            f"no readable image in {cfg.data}: {len(skipped)} files skipped{example}"
        )
    scan = scan_image_folder(converted)  # hashes: exact duplicates are dropped before the split
    if len(scan.class_names) < 2:
        raise GenforgeError(
            f"{cfg.data} has readable images in only one class ({', '.join(scan.class_names)}); "
            "augmentation needs at least two classes"
        )
    real_dir = staging / "real"
    moves, found, wanted_test = _pick(scan, cfg, real_dir)
    for src, dst in moves:
        dst.parent.mkdir(parents=True, exist_ok=True)
        os.replace(src, dst)
    shutil.rmtree(converted)  # what is left: unused (beyond --real-per-class) and duplicates
    # The held-out images are the Run's own validation split: train() splits the same folder
    # with the same val_fraction and seed, so `genforge eval RUN` audits and scores against them.
    real = load_images(str(real_dir), cfg.image_size, seed=cfg.seed)
    val_fraction = wanted_test / len(real)
    train, test = real.split(val_fraction, seed=cfg.seed)
    assert train.images is not None and test.images is not None  # small sets live in memory
    assert train.labels is not None and test.labels is not None
    counts: dict[str, dict[str, int]] = {}
    for k, name in enumerate(real.class_names):
        n_train, n_test = int((train.labels == k).sum()), int((test.labels == k).sum())
        counts[name] = {"found": found[name], "train": n_train, "heldout": n_test,
                        "unused": found[name] - n_train - n_test}  # fmt: skip
    return Staged(
        class_names=list(train.class_names),
        real_dir=real_dir,
        val_fraction=val_fraction,
        train_x=train.images,
        train_y=train.labels,
        test_x=test.images,
        test_y=test.labels,
        train_files=[Path(f) for f in train.files],
        test_files=[Path(f) for f in test.files],
        counts=counts,
        skipped=skipped + list(scan.skipped),
        duplicates=len(scan.duplicates),
        dicom=dicom,
    )
