"""medical-augment: relieve data scarcity in a labeled medical image set with synthetic images.

real images (class folders of PNG/JPEG/DICOM, or the embedded `phantoms`)
  -> (1) staged as de-identified PNGs; split per class into training images and held-out
         real images that neither the generator nor any classifier trains on (the held-out
         images are the Run's own validation split)
  -> (2) a class-conditional generator trained on the training images (`train()`: a
         normal Run)
  -> (3) synthetic images per class up to --target-per-class, each audited against the
         training images (near-copies, implausible samples and, by default, samples that
         classifiers trained on the real images do not see as their class are dropped and
         counted)
  -> (4) downstream utility: a small CNN trained on real / real+synthetic / synthetic
         images, accuracy and AUC on the held-out real images, mean and 95% CI over seeds
  -> (5) the augmented folder: real + synthetic per class, every synthetic file marked by
         name, PNG metadata and provenance (watermark >= 256 px, else perceptual hash),
         manifest.csv, report.html (+ .pdf)
"""

from __future__ import annotations

import csv
import io
import math
import os
import secrets
import shutil
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from genforge.core.errors import GenforgeError
from genforge.core.images import make_grid, to_uint8
from genforge.core.io import write_bytes, write_json, write_text
from genforge.data.report import SkippedFile
from genforge.evaluate.utility import Classifier

Generator = Literal["auto", "cgan", "cddpm"]
QualityFilter = Literal["label", "implausible", "none"]
QUALITY_FILTERS: tuple[str, ...] = ("label", "implausible", "none")
# The "label" filter: this many classifiers, trained on the real training images only (seeds
# LABEL_SEED + i, apart from the utility test's 0..seeds-1), vote on each sample's class.
LABEL_NETS = 3
LABEL_SEED = 10_000
GENERATORS: tuple[str, ...] = ("auto", "cgan", "cddpm")
# Below this many training images per class a GAN's discriminator memorises the set and its
# generator collapses (Karras et al. 2020, arXiv:2006.06676, need ADA below ~5k images);
# a diffusion model regresses noise on every image at every step and degrades gracefully.
# Above it the GAN is kept for speed: one forward pass per sample instead of 20 denoising steps.
SMALL_DATA_PER_CLASS = 500
# Training steps when --steps is not given.
DEFAULT_STEPS = {"cgan": 3000, "cddpm": 4000}
CDDPM_SAMPLER = ("dpm-solver++", 20)  # sampler and steps of the synthetic set
EMBEDDED_SETS = ("phantoms",)
STAGING = ".staging"  # inside --out: the Run's data folder (training + held-out real images)
RECIPE = "medical-augment"

Log = Callable[[str], None]


@dataclass
class MedicalConfig:
    """Options of `genforge recipe medical-augment` (defaults run)."""

    data: str = "phantoms"  # "phantoms" or a folder with one subfolder per class
    out: str = "augmented"  # the augmented dataset folder (must be new or empty)
    target_per_class: int = 1000  # images per class in the output, real + synthetic
    real_per_class: int | None = None  # subsample the real training images (benchmarks)
    heldout_fraction: float = 0.25  # of each class's real images, for the utility test
    image_size: int = 64
    generator: Generator = "auto"
    steps: int | None = None  # generator training steps (None: DEFAULT_STEPS)
    batch_size: int = 64
    seeds: int = 5  # classifier seeds of the utility test
    classifier: Classifier = "pooled"  # the utility test's small CNN (evaluate.utility)
    # 300 steps undertrain the pooled CNN: on 50 phantoms per class real only reaches 0.685 at
    # 300 and 0.720 at 1000 (10 seeds); 500 real + synthetic images got 38 epochs at 300
    classifier_steps: int = 1000
    window: tuple[float, float] | None = None  # DICOM VOI (center, width); None: file's/min-max
    pdf: bool = False
    name: str | None = None  # run name
    run: str | None = None  # reuse this generator Run (trained on exactly these training images)
    runs_dir: str | None = None
    seed: int = 0
    model_options: dict[str, Any] = field(default_factory=dict)  # --set overrides of the model
    audit_rounds: int = 3  # sampling rounds to replace dropped near-copies
    # label: also drop samples unlike any real image and samples whose asked class real-trained
    # classifiers do not see; implausible: only the former; none: neither
    quality_filter: QualityFilter = "label"


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


@dataclass
class Synthetic:
    images: torch.Tensor  # (S, C, H, W) kept samples, quantised to 8 bits
    labels: torch.Tensor
    seeds: list[tuple[int, int]]  # (batch seed, index in batch) of each kept sample
    drawn: int
    flagged: int  # near-copies dropped
    implausible: int  # farther from every training image, or rougher, than any held-out real image
    rounds: int
    audit: dict[str, Any]
    closest: list[tuple[torch.Tensor, torch.Tensor, float, bool]]  # sample, nearest, dist, flagged
    off_label: int = 0  # real-trained classifiers gave their asked class p < 0.5; dropped


# ---------------------------------------------------------------------------------------
# (1) Real data: convert, de-identify, split
# ---------------------------------------------------------------------------------------


def _class_folders(root: Path) -> list[Path]:
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
    for folder in _class_folders(root):
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


def stage_real(cfg: MedicalConfig, out: Path, log: Log) -> Staged:
    """(1) Convert the input into PNGs, split each class into training and held-out images."""
    from genforge.data import load_images, scan_image_folder

    staging = out / STAGING
    converted = staging / "converted"
    if cfg.data in EMBEDDED_SETS:
        write_phantoms(converted, cfg.image_size, cfg.seed, log)
        skipped, dicom = [], {"files": 0, "windows": {}, "deid_rows": []}
    else:
        skipped, dicom = convert_folder(Path(cfg.data).expanduser(), converted, cfg.window, log)
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
    rng = np.random.default_rng(cfg.seed)
    real_dir = staging / "real"
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


# ---------------------------------------------------------------------------------------
# (2) Generator
# ---------------------------------------------------------------------------------------


def choose_generator(choice: Generator, per_class: int) -> tuple[str, str]:
    """The model name and the reason written in the report."""
    if choice not in GENERATORS:
        raise GenforgeError(f"unknown generator {choice!r}; choose one of {', '.join(GENERATORS)}")
    if choice != "auto":
        return choice, f"{choice} was asked for (--generator {choice})."
    if per_class < SMALL_DATA_PER_CLASS:
        return "cddpm", (
            f"{per_class} training images in the smallest class (< {SMALL_DATA_PER_CLASS}): a "
            "class-conditional diffusion model (cddpm). A GAN discriminator memorises a set this "
            "small and its generator collapses onto a few images (Karras et al. 2020); diffusion "
            "training denoises every image at every noise level and stays stable, at the cost "
            f"of {CDDPM_SAMPLER[1]} network passes per sample ({CDDPM_SAMPLER[0]})."
        )
    return "cgan", (
        f"{per_class} training images in the smallest class (>= {SMALL_DATA_PER_CLASS}): a "
        "class-conditional GAN (cgan: projection discriminator, hinge loss) trains stably at "
        "this size and draws each sample in one network pass, so thousands per class are cheap."
    )


def _image_keys(x: torch.Tensor) -> list[str]:
    """Sorted content hashes of 8-bit images: two sets compare equal whatever their order."""
    import hashlib

    return sorted(hashlib.sha1(to_uint8(img).tobytes()).hexdigest() for img in x)


def reuse_run(cfg: MedicalConfig, staged: Staged) -> tuple[Any, str]:
    """The `--run` generator and its model name, once it is shown to have trained on exactly
    the staged training images: a generator that saw held-out images would inflate the utility
    test, one that saw other images would not be this data's generator."""
    from genforge.core.run import resolve_run
    from genforge.evaluate.image import real_images

    assert cfg.run is not None
    the_run = resolve_run(cfg.run, cfg.runs_dir)
    model = the_run.read_config().get("model")
    if model not in ("cgan", "cddpm"):
        raise GenforgeError(
            f"run '{the_run.name}' is a {model} run; medical-augment samples from a cgan or "
            "cddpm run"
        )
    if not (the_run.model_dir / "meta.json").exists():
        raise GenforgeError(f"run '{the_run.name}' has no checkpoint yet")
    try:
        real = real_images(the_run, limit=len(staged.train_x) + len(staged.test_x) + 1)
    except (GenforgeError, OSError) as e:
        raise GenforgeError(
            f"cannot tell which images run '{the_run.name}' trained on ({e}); its training "
            "data must still be where it was"
        ) from None
    if real.class_names != staged.class_names or _image_keys(real.train) != _image_keys(
        staged.train_x
    ):
        raise GenforgeError(
            f"run '{the_run.name}' did not train on exactly this recipe's training images "
            "(give the same --data, --real-per-class, --heldout, --image-size and --seed as "
            "the recipe that trained it)"
        )
    return the_run, model


def train_generator(cfg: MedicalConfig, staged: Staged, model: str, progress: bool) -> Any:
    from genforge.core.run import new_run_path
    from genforge.train.launch import train

    steps = cfg.steps if cfg.steps is not None else DEFAULT_STEPS[model]
    source = cfg.data if cfg.data in EMBEDDED_SETS else Path(cfg.data).resolve().name
    name = cfg.name or new_run_path(None, f"medical-{source}-{model}", cfg.runs_dir).name
    return train(
        model,
        str(staged.real_dir.resolve()),
        name=name,
        runs_dir=cfg.runs_dir,
        progress=progress,
        image_size=cfg.image_size,
        channels=staged.train_x.shape[1],
        val_fraction=staged.val_fraction,  # the held-out images: never trained on
        steps=steps,
        batch_size=min(cfg.batch_size, len(staged.train_x)),
        seed=cfg.seed,
        sample_every=max(1, steps // 4),
        checkpoint_every=max(1, steps // 4),
        **cfg.model_options,
    )


# ---------------------------------------------------------------------------------------
# (3) Synthetic images with a memorization audit
# ---------------------------------------------------------------------------------------


def _quantise(x: torch.Tensor) -> torch.Tensor:
    """What a PNG keeps: 8-bit levels, back in [-1, 1]."""
    return ((x.clamp(-1, 1) + 1) * 127.5).round() / 127.5 - 1


def label_checker(
    staged: Staged, cfg: MedicalConfig
) -> Callable[[torch.Tensor, int], torch.Tensor]:
    """A vote of `LABEL_NETS` classifiers (`cfg.classifier`, `cfg.classifier_steps` steps)
    trained on the real training images only: `check(x, label)` is True where their mean
    probability of `label` is at least 0.5.

    A conditional generator trained on a few images per class draws many samples that do not
    show their class (on 50 phantoms per class, 30 % of "healthy" draws look like lesions); as
    training data they are label noise. The held-out images are never used, so the utility test
    stays a test on unseen data."""
    from genforge.evaluate.utility import CLASSIFIERS

    train = CLASSIFIERS[cfg.classifier]
    nets = [train(staged.train_x, staged.train_y, cfg.classifier_steps, LABEL_SEED + i)
            for i in range(LABEL_NETS)]  # fmt: skip

    def check(x: torch.Tensor, label: int) -> torch.Tensor:
        with torch.no_grad():
            p = torch.stack([net(x).softmax(1)[:, label] for net in nets]).mean(0)
        return p >= 0.5

    return check


def roughness(x: torch.Tensor) -> torch.Tensor:
    """Mean absolute Laplacian per image (N,): pixel-scale noise. A failed denoising trajectory
    leaves speckle all over the image, while the head stays in place, so its pixel distance to the
    nearest training image can look ordinary while its roughness cannot."""
    import torch.nn.functional as F

    c = x.shape[1]
    kernel = torch.tensor([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]])
    kernel = kernel.expand(c, 1, 3, 3).to(x)
    lap = F.conv2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), kernel, groups=c)
    return lap.abs().mean(dim=(1, 2, 3))


def sample_audited(
    pipe: Any, staged: Staged, need: dict[int, int], cfg: MedicalConfig, log: Log
) -> Synthetic:
    """Draw `need[label]` samples per class; drop near-copies of training images, implausible
    samples and (quality filter "label") off-label ones, and redraw (up to `cfg.audit_rounds`
    rounds).

    Both distance bounds are calibrated on the held-out real images' RMS pixel distances to
    their nearest training image: a near-copy is closer than half their 5th percentile
    (`evaluate.memorization.audit`); an implausible sample (a failed denoising trajectory, a
    collapsed blob) is farther than the farthest held-out real image, or rougher (`roughness`)
    than the roughest one. Off-label: see `label_checker`."""
    from genforge.evaluate.memorization import audit, nearest

    far = float(nearest(staged.test_x, staged.train_x)[0].max())
    rough = float(roughness(staged.test_x).max())
    if cfg.quality_filter == "none":
        far = rough = float("inf")
    check_labels = cfg.quality_filter == "label" and any(n > 0 for n in need.values())
    on_label = label_checker(staged, cfg) if check_labels else None  # no draws: no classifiers
    kept_x, kept_y, kept_seeds = [], [], []
    drawn = flagged = implausible = off_label = rounds = 0
    all_x, all_flag, all_dist, all_idx = [], [], [], []
    summary: dict[str, Any] = {}
    for label in sorted(need):
        missing = need[label]
        class_drawn = 0
        for r in range(cfg.audit_rounds):
            if missing <= 0:
                break
            rounds = max(rounds, r + 1)
            if r == 0:
                n = missing
            else:  # enough for this class's keep rate so far (at least 1 in 4), plus a margin
                rate = max(0.25, (need[label] - missing) / class_drawn)
                n = math.ceil(missing / rate) + max(2, missing // 4)
            class_drawn += n
            seed = cfg.seed * 1_000_003 + label * 1000 + r  # reproducible: genforge sample --seed
            x = _quantise(pipe.sample(n, seed=seed, label=label))
            aud = audit(x, staged.train_x, staged.test_x)
            summary = aud.summary()
            drawn += n
            flagged += aud.num_flagged
            odd = (aud.pixel_dist > far) | (roughness(x) > rough)
            implausible += int((odd & ~aud.flagged).sum())
            drop = aud.flagged | odd
            if on_label is not None:  # off-label among the otherwise kept
                off = ~on_label(x, label) & ~drop
                off_label += int(off.sum())
                drop |= off
            all_x.append(x)
            all_flag.append(aud.flagged)
            all_dist.append(aud.pixel_dist)
            all_idx.append(aud.pixel_index)
            ok = (~drop).nonzero().flatten()[:missing]
            kept_x.append(x[ok])
            kept_y.append(torch.full((len(ok),), label, dtype=torch.long))
            kept_seeds += [(seed, int(i)) for i in ok]
            missing -= len(ok)
        name = staged.class_names[label]
        log(
            f"  {name}: {need[label] - missing} synthetic kept"
            + (f", {missing} short" if missing else "")
        )
    c, s = staged.train_x.shape[1], staged.train_x.shape[-1]
    empty = torch.zeros(0, c, s, s)
    xs = torch.cat(all_x) if all_x else empty
    dist = torch.cat(all_dist) if all_dist else torch.zeros(0)
    closest = []
    for i in dist.argsort()[:8].tolist():
        j = int(torch.cat(all_idx)[i])
        closest.append((xs[i], staged.train_x[j], float(dist[i]), bool(torch.cat(all_flag)[i])))
    return Synthetic(
        images=torch.cat(kept_x) if kept_x else empty,
        labels=torch.cat(kept_y) if kept_y else torch.zeros(0, dtype=torch.long),
        seeds=kept_seeds,
        drawn=drawn,
        flagged=flagged,
        implausible=implausible,
        off_label=off_label,
        rounds=rounds,
        audit={
            **{
                k: summary.get(k)
                for k in ("pixel_threshold", "val_pixel_median", "calibration_items")
            },
            "implausible_threshold": far,
            "roughness_threshold": rough,
        },
        closest=closest,
    )


# ---------------------------------------------------------------------------------------
# (4) Output folder: real + marked synthetic files, provenance, manifest
# ---------------------------------------------------------------------------------------


MANIFEST_FIELDS = [
    "path",
    "class",
    "synthetic",
    "split",
    "source_run",
    "seed",
    "index",
    "mark",
    "output_id",
]


def write_dataset(
    out: Path,
    staged: Staged,
    syn: Synthetic,
    run: Any,
    pipe_params: dict[str, Any],
    runs_dir: str | None,
) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """Copy the real training images, write the marked synthetic ones, register them in the
    provenance store (`genforge watermark detect` reads it) and return the manifest rows."""
    from genforge.safety.marking import encode_png
    from genforge.safety.provenance import ProvenanceStore
    from genforge.serve.settings import Settings

    rows: list[dict[str, Any]] = []
    for path in staged.train_files:
        cls = path.parent.name
        dst = out / cls / f"real_{path.name}"
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, dst)
        rows.append({"path": dst.relative_to(out).as_posix(), "class": cls, "synthetic": "no",
                     "split": "train", "source_run": "", "seed": "", "index": "", "mark": "",
                     "output_id": ""})  # fmt: skip
    for path in staged.test_files:
        rows.append({"path": path.relative_to(out).as_posix(), "class": path.parent.name,
                     "synthetic": "no", "split": "heldout", "source_run": "", "seed": "",
                     "index": "", "mark": "", "output_id": ""})  # fmt: skip
    store = ProvenanceStore(Settings(runs_dir=Path(runs_dir) if runs_dir else None).db_path)
    records, marks = [], Counter()
    for k, (x, y, (seed, index)) in enumerate(
        zip(syn.images, syn.labels.tolist(), syn.seeds, strict=True)
    ):
        cls = staged.class_names[y]
        oid = store.new_id()
        params = {**pipe_params, "synthetic": True, "recipe": RECIPE, "run": run.name,
                  "label": cls, "seed": seed, "index": index}  # fmt: skip
        png = encode_png(to_uint8(x), params, oid)
        dst = out / cls / f"synthetic_{cls}_{k:05d}_{oid}.png"
        write_bytes(dst, png.content)
        # what finds this file again: its name, its PNG chunk, and the store by exact bytes,
        # watermark (>= 256 px) or perceptual hash (None for a flat image: nothing to hash)
        mark = "+".join(["filename", "png-metadata", "sha256"]
                        + ["watermark"] * png.watermarked + ["phash"] * (png.phash is not None))  # fmt: skip
        marks[mark] += 1
        records.append(store.record(oid, who=RECIPE, run=run.name, modality="image", params=params,
                                    content=png.content, phash_hex=png.phash,
                                    watermarked=png.watermarked, path=str(dst.resolve())))  # fmt: skip
        rows.append({"path": dst.relative_to(out).as_posix(), "class": cls, "synthetic": "yes",
                     "split": "train", "source_run": run.name, "seed": seed, "index": index,
                     "mark": mark, "output_id": oid})  # fmt: skip
    store.add_many(records)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=MANIFEST_FIELDS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    write_text(out / "manifest.csv", buf.getvalue())
    return rows, dict(marks)


# ---------------------------------------------------------------------------------------
# The recipe
# ---------------------------------------------------------------------------------------


@dataclass
class MedicalResult:
    out: Path
    run: Any
    report: list[Path]
    summary: dict[str, Any]


def _check_config(cfg: MedicalConfig) -> None:
    from genforge.evaluate.utility import CLASSIFIERS

    if cfg.generator not in GENERATORS:
        raise GenforgeError(
            f"unknown generator {cfg.generator!r}; choose one of {', '.join(GENERATORS)}"
        )
    if cfg.quality_filter not in QUALITY_FILTERS:
        raise GenforgeError(
            f"unknown quality filter {cfg.quality_filter!r}; choose one of {', '.join(QUALITY_FILTERS)}"
        )
    if cfg.run is not None and (
        cfg.steps is not None or cfg.model_options or cfg.name or cfg.generator != "auto"
    ):
        raise GenforgeError(
            "--run reuses a trained generator; --generator, --steps, --set and --name apply to "
            "a new one"
        )
    if cfg.classifier not in CLASSIFIERS:
        raise GenforgeError(
            f"unknown classifier {cfg.classifier!r}; choose one of {', '.join(CLASSIFIERS)}"
        )
    if cfg.target_per_class < 1:
        raise GenforgeError(f"--target-per-class must be at least 1, got {cfg.target_per_class}")
    if cfg.real_per_class is not None and cfg.real_per_class < 2:
        raise GenforgeError(f"--real-per-class must be at least 2, got {cfg.real_per_class}")
    if cfg.seeds < 2:
        raise GenforgeError(
            f"--seeds must be at least 2 for a confidence interval, got {cfg.seeds}"
        )
    if not 0.0 < cfg.heldout_fraction < 1.0:
        raise GenforgeError(f"held-out fraction must be in (0, 1), got {cfg.heldout_fraction}")
    if cfg.steps is not None and cfg.steps < 1:
        raise GenforgeError(f"--steps must be at least 1, got {cfg.steps}")
    if cfg.data not in EMBEDDED_SETS and not Path(cfg.data).expanduser().exists():
        raise GenforgeError(
            f"no such folder: {cfg.data} (give a folder with one subfolder per class, or "
            f"{' / '.join(EMBEDDED_SETS)} for the embedded demo)"
        )
    if cfg.data not in EMBEDDED_SETS:
        _class_folders(Path(cfg.data).expanduser())  # two class folders at least, before any work
    if cfg.data in EMBEDDED_SETS and cfg.window is not None:
        raise GenforgeError("--window applies to DICOM files; the phantoms are already gray levels")
    out = Path(cfg.out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise GenforgeError(f"--out {out} exists and is not an empty folder; choose a new folder")


def run(cfg: MedicalConfig, log: Log = print, progress: bool = False) -> MedicalResult:
    """Run the whole recipe; see the module docstring. Returns where everything went."""
    from genforge.generate.image import open_pipeline

    _check_config(cfg)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}
    try:
        t = time.perf_counter()
        log(f"(1/5) staging real images from {cfg.data}")
        staged = stage_real(cfg, out, log)
        timings["stage_s"] = time.perf_counter() - t
        per_class = {n: c["train"] for n, c in staged.counts.items()}
        log(
            f"  training: {per_class}; held out: { {n: c['heldout'] for n, c in staged.counts.items()} }"
        )

        if cfg.run is not None:
            the_run, model = reuse_run(cfg, staged)
            why = (
                f"the existing run '{the_run.name}' (--run, {the_run.step} steps), checked to "
                "have trained on exactly these training images."
            )
            log(f"(2/5) reusing {model} run {the_run.name}: trained on these training images")
        else:
            model, why = choose_generator(cfg.generator, min(per_class.values()))
            log(f"(2/5) training {model}: {why.split(':')[0]}")
            t = time.perf_counter()
            the_run = train_generator(cfg, staged, model, progress)
            timings["train_s"] = time.perf_counter() - t
            log(f"  run: {the_run.path}")

        log(f"(3/5) sampling up to {cfg.target_per_class} images per class, auditing near-copies")
        t = time.perf_counter()
        if model == "cddpm":
            pipe = open_pipeline(
                the_run, device="auto", sampler=CDDPM_SAMPLER[0], steps=CDDPM_SAMPLER[1]
            )
        else:
            pipe = open_pipeline(the_run, device="auto")
        need = {
            k: max(0, cfg.target_per_class - per_class[n]) for k, n in enumerate(staged.class_names)
        }
        syn = sample_audited(pipe, staged, need, cfg, log)
        timings["sample_s"] = time.perf_counter() - t

        log(
            f"(4/5) downstream utility: {cfg.seeds} seeds x 3 training sets, {len(staged.test_x)} held-out real images"
        )
        t = time.perf_counter()
        utility = measure_utility(staged, syn, cfg, log)
        timings["utility_s"] = time.perf_counter() - t

        log("(5/5) writing the augmented dataset, manifest and report")
        rows, marks = write_dataset(out, staged, syn, the_run, sampling_params(pipe), cfg.runs_dir)
    except BaseException:
        if not any(p for p in out.iterdir() if p.name != STAGING):
            shutil.rmtree(out, ignore_errors=True)  # nothing of value yet: a rerun starts clean
        raise
    summary = {
        "recipe": RECIPE,
        "data": cfg.data,
        "config": {k: v for k, v in asdict(cfg).items() if k != "model_options"},
        "model_options": cfg.model_options,
        "run": the_run.name,
        "model": model,
        "model_reason": why,
        "classes": staged.class_names,
        "counts": staged.counts,
        "synthetic_per_class": {
            n: int((syn.labels == k).sum()) for k, n in enumerate(staged.class_names)
        },
        "skipped_files": len(staged.skipped),
        "duplicates_dropped": staged.duplicates,
        "dicom_files": staged.dicom["files"],
        "audit": {
            "drawn": syn.drawn,
            "flagged_dropped": syn.flagged,
            "implausible_dropped": syn.implausible,
            "off_label_dropped": syn.off_label,
            "rounds": syn.rounds,
            **syn.audit,
        },
        "utility": utility,
        "marks": marks,
        "files": len(rows),
        "timings_s": {k: round(v, 1) for k, v in timings.items()},
    }
    write_json(out / "summary.json", summary)
    report = write_report(out / "report.html", cfg, staged, syn, summary, the_run, pdf=cfg.pdf)
    return MedicalResult(out, the_run, report, summary)


def measure_utility(staged: Staged, syn: Synthetic, cfg: MedicalConfig, log: Log) -> dict[str, Any]:
    """Accuracy/AUC on the held-out real images for real, real+synthetic and synthetic training
    sets (the synthetic set is the one written out), plus the paired gain of augmenting."""
    from genforge.evaluate.utility import compare_training_sets, paired_difference

    real = (staged.train_x, staged.train_y)
    both = (torch.cat([staged.train_x, syn.images]), torch.cat([staged.train_y, syn.labels]))
    sets = {"real": lambda s: real, "real+synthetic": lambda s: both}
    if len(syn.images) and len(set(syn.labels.tolist())) >= 2:
        sets["synthetic"] = lambda s: (syn.images, syn.labels)

    def tick(key: str, seed: int) -> None:
        if key == "real":
            log(f"  seed {seed + 1}/{cfg.seeds}")

    scores = compare_training_sets(
        sets,
        staged.test_x,
        staged.test_y,
        cfg.seeds,
        cfg.classifier_steps,
        tick,
        classifier=cfg.classifier,
    )
    gain = {}
    for metric in ("accuracy", "auc"):
        m, ci = paired_difference(
            scores["real+synthetic"][metric]["values"], scores["real"][metric]["values"]
        )
        gain[metric] = {"mean": m, "ci95": ci}
    return {"scores": scores, "gain": gain, "test_items": len(staged.test_x),
            "train_real": len(staged.train_x), "train_synthetic": len(syn.images),
            "classifier": cfg.classifier, "classifier_steps": cfg.classifier_steps,
            "seeds": cfg.seeds}  # fmt: skip


def sample_grid(real: torch.Tensor, synthetic: torch.Tensor, k: int = 8) -> np.ndarray:
    """Two rows: k real images over k synthetic ones (uint8 grid)."""
    c, s = real.shape[1], real.shape[-1]
    blank = torch.ones(c, s, s)

    def row(x: torch.Tensor) -> list[torch.Tensor]:
        items = list(x[:k])
        return items + [blank] * (k - len(items))

    return make_grid(torch.stack(row(real) + row(synthetic)), nrow=k)


def sampling_params(pipe: Any) -> dict[str, Any]:
    """Model, checkpoint step and (diffusion) sampler settings of the synthetic images."""
    out = {"model": pipe.model_name, "step": pipe.step}
    for key in ("sampler", "steps", "guidance"):  # diffusion pipelines
        if getattr(pipe, key, None) is not None:
            out[key] = getattr(pipe, key)
    return out


# ---------------------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------------------


CLASSIFIER_TEXT = {
    "pooled": "VGG-style, BatchNorm, global max pooling, trained on randomly shifted images",
    "domain": "genforge's domain classifier",
}


def verdict_of(summary: dict[str, Any]) -> Any:
    """PASS when augmenting raises held-out accuracy with a 95% CI above zero; CAUTION when the
    gain is positive but not significant or near-copies were dropped; FAIL when it does not help."""
    from genforge.recipes.report import Verdict

    u = summary["utility"]
    sc, gain = u["scores"], u["gain"]["accuracy"]
    real, both = sc["real"]["accuracy"], sc["real+synthetic"]["accuracy"]
    reasons = [
        f"held-out real accuracy: real only {real['mean']:.3f} ± {real['ci95']:.3f}, "
        f"real + synthetic {both['mean']:.3f} ± {both['ci95']:.3f} (95% CI, {u['seeds']} seeds, "
        f"{u['test_items']} held-out real images)",
        f"paired gain {gain['mean']:+.3f} ± {gain['ci95']:.3f} accuracy; AUC "
        f"{sc['real']['auc']['mean']:.3f} -> {sc['real+synthetic']['auc']['mean']:.3f}",
    ]
    if "synthetic" in sc:
        syn = sc["synthetic"]["accuracy"]
        reasons.append(
            f"synthetic only (train on synthetic, test on real): {syn['mean']:.3f} ± {syn['ci95']:.3f}"
        )
    a = summary["audit"]
    reasons.append(
        f"memorization audit: {a['flagged_dropped']} of {a['drawn']} samples were near-copies of "
        f"training images and were dropped; {a['implausible_dropped']} implausible ones too"
        + (f", and {a['off_label_dropped']} that classifiers trained on the real images did not "
           "see as their class" if summary["config"]["quality_filter"] == "label" else "")
    )  # fmt: skip
    lo = gain["mean"] - gain["ci95"]
    if gain["mean"] > 0 and lo > 0:
        level, head = "ok", "augmentation helps on held-out real data"
    elif gain["mean"] > 0:
        level, head = "warn", "augmentation may help, but the gain is within the seed-to-seed noise"
    else:
        level, head = (
            "bad",
            "augmentation does not help on held-out real data: use the real images alone",
        )
    if level == "ok" and a["flagged_dropped"]:
        level = "warn"
        head += " (some samples were near-copies and were dropped; check the audit)"
    return Verdict(level, head, reasons)


def write_report(
    path: Path, cfg: MedicalConfig, staged: Staged, syn: Synthetic, summary: dict[str, Any],
    the_run: Any, pdf: bool,
) -> list[Path]:  # fmt: skip
    from genforge.evaluate.report import Raw, html_table, png_img
    from genforge.evaluate.result import Section
    from genforge.recipes.report import write_recipe_report

    sections = []
    # -- data
    rows = [[n, c["found"], c["train"], c["heldout"], c["unused"], summary["synthetic_per_class"][n]]
            for n, c in staged.counts.items()]  # fmt: skip
    data_html = (
        f"<p>Source: <code>{_esc(cfg.data)}</code>. Each class is split (seed {cfg.seed}) into "
        f"training images and held-out real images ({cfg.heldout_fraction:.0%}) that neither the "
        "generator nor any classifier trains on"
        + (
            f"; training images subsampled to {cfg.real_per_class} per class"
            if cfg.real_per_class
            else ""
        )
        + f". Images at {cfg.image_size}x{cfg.image_size} px. Exact duplicates dropped: "
        f"{staged.duplicates}.</p>"
        + html_table(
            ["class", "readable", "training", "held out", "unused", "synthetic added"], rows
        )
    )
    if staged.skipped:
        data_html += f"<p>{len(staged.skipped)} files skipped:</p>" + html_table(
            ["file", "reason"], [[s.path, s.reason] for s in staged.skipped[:50]]
        )
    sections.append(Section("Data", data_html))
    if staged.dicom["files"]:
        d = staged.dicom
        win = ", ".join(f"{k}: {v}" for k, v in sorted(d["windows"].items()))
        sections.append(Section("DICOM conversion and de-identification", (
            f"<p>{d['files']} DICOM files converted to 8-bit PNG: modality LUT (rescale slope / "
            f"intercept), VOI window ({win}; option = --window, file = the file's WindowCenter/"
            "WindowWidth, min-max = no window given), MONOCHROME1 inverted. Only pixels go into "
            "the PNGs; the table lists which tags were removed or replaced, in how many files "
            "(values are never shown). Patient ids became salted pseudonyms and UIDs were "
            "remapped with a secret of this conversion only.</p>"
            + html_table(["tag", "keyword", "action", "files"], d["deid_rows"])
        )))  # fmt: skip
    # -- generator
    sections.append(Section("Generator", (
        f"<p><b>{summary['model']}</b>: {_esc(summary['model_reason'])}</p>"
        f"<p>Run <code>{_esc(the_run.name)}</code> ({_esc(str(the_run.path))}), "
        f"{the_run.step} steps, "
        + (f"trained in {summary['timings_s']['train_s']:.0f} s. " if "train_s" in summary["timings_s"]
           else "reused with --run. ")
        + f"Every genforge command works on it: <code>genforge sample {_esc(the_run.name)} "
        f"--label {_esc(staged.class_names[-1])}</code>, <code>genforge eval {_esc(the_run.name)}"
        "</code> (its validation split is the held-out set), <code>genforge serve</code>.</p>"
    )))  # fmt: skip
    # -- samples
    grids = []
    for k, name in enumerate(staged.class_names):
        real = staged.train_x[staged.train_y == k]
        fake = syn.images[syn.labels == k]
        grids.append(f"<p><b>{_esc(name)}</b>: top row real training images, bottom row synthetic</p>"
                     + png_img(sample_grid(real, fake), f"{name}: real vs synthetic", width=min(640, 8 * 4 * cfg.image_size)))  # fmt: skip
    sections.append(Section("Samples per class", "".join(grids)))
    # -- audit
    a = summary["audit"]
    pairs = []
    for x, nearest_img, dist, flagged in syn.closest:
        pairs.append([Raw(png_img(make_grid(torch.stack([x, nearest_img]), nrow=2), "sample | nearest training image", width=128)),
                      dist, "yes (dropped)" if flagged else "no"])  # fmt: skip
    thr = a.get("pixel_threshold")
    sections.append(Section("Memorization audit", (
        f"<p>{a['drawn']} samples drawn in up to {a['rounds']} rounds; <b>{a['flagged_dropped']} "
        "were near-copies of a training image and were dropped</b> (replaced by new draws). A "
        "sample is a near-copy when its RMS pixel distance to the nearest training image is "
        "below half the 5th percentile of the held-out real images' distances to the training "
        f"set (threshold {thr if thr is None else f'{thr:.4g}'}). Quality filter: "
        f"<b>{a['implausible_dropped']} samples farther from every training image than the "
        f"farthest held-out real image ({a['implausible_threshold']:.4g}), or rougher (mean "
        "absolute Laplacian) than the roughest held-out real image "
        f"({a['roughness_threshold']:.4g}), were dropped too</b> "
        "(noise left by a failed denoising run, a collapsed blob). "
        + (f"Label filter: <b>{a['off_label_dropped']} samples were dropped because "
           f"{LABEL_NETS} classifiers trained on the real training images (never the held-out "
           "ones) gave their asked class a mean probability below 0.5</b> (off-label draws are "
           "label noise for a classifier trained on them). "
           if cfg.quality_filter == "label" else "")
        + "The closest samples:</p>"
        + html_table(["sample | nearest training image", "RMS distance", "near-copy"], pairs)
    )))  # fmt: skip
    # -- utility
    u = summary["utility"]
    urows = []
    for key, by in u["scores"].items():
        acc, auc = by["accuracy"], by["auc"]
        urows.append([key, acc["mean"], acc["ci95"], auc["mean"], auc["ci95"],
                      ", ".join(f"{v:.3f}" for v in acc["values"])])  # fmt: skip
    g = u["gain"]
    sections.append(Section("Downstream utility on held-out real images", (
        f"<p>The same small CNN ({CLASSIFIER_TEXT[u['classifier']]}, {u['classifier_steps']} "
        "steps) "
        f"trained on each set: real = {u['train_real']} real training images; real+synthetic = "
        f"those plus the {u['train_synthetic']} synthetic images written to the output; synthetic "
        f"= the synthetic images alone. Scored on {u['test_items']} held-out real images. Seeds "
        "(0..{n}) vary the classifier's initialisation and batches; the 95% CI is Student t over "
        "seeds.</p>".replace("{n}", str(u["seeds"] - 1))
        + html_table(["training set", "accuracy", "± 95% CI", "AUC", "± 95% CI", "accuracy per seed"], urows)
        + f"<p>Paired gain of adding synthetic images (same seed in both arms): accuracy "
        f"{g['accuracy']['mean']:+.4f} ± {g['accuracy']['ci95']:.4f}, AUC "
        f"{g['auc']['mean']:+.4f} ± {g['auc']['ci95']:.4f}.</p>"
    )))  # fmt: skip
    # -- output
    marks = ", ".join(f"{k}: {v}" for k, v in summary["marks"].items()) or "none"
    sections.append(Section("Output", (
        f"<p><code>{_esc(str(path.parent))}</code>: one folder per class with the real training "
        "images (<code>real_*.png</code>) and the synthetic ones (<code>synthetic_*.png</code>); "
        f"the Run's data (training and held-out real images) in <code>{STAGING}/real/</code>; "
        "<code>manifest.csv</code> lists "
        f"all {summary['files']} files (class, synthetic yes/no, split, run, seed, mark).</p>"
        "<p>Every synthetic file is marked three ways: its name starts with <code>synthetic_</code>; "
        "its PNG <code>genforge</code> text chunk says <code>\"synthetic\": true</code> with the run "
        "and sampling parameters; and it is registered in the provenance store (invisible "
        "watermark for images of at least 256 px, perceptual hash for smaller ones, plus the "
        "file's SHA-256), so <code>genforge watermark detect FILE</code> names the run. Marks: "
        f"{_esc(marks)}.</p>"
    )))  # fmt: skip
    subtitle = (f"{cfg.data} · {summary['model']} run {the_run.name} · seed {cfg.seed} · "
                f"{sum(summary['synthetic_per_class'].values())} synthetic images")  # fmt: skip
    return write_recipe_report(path, title="Medical image augmentation", subtitle=subtitle,
                               verdict=verdict_of(summary), sections=sections, pdf=pdf)  # fmt: skip


def _esc(text: str) -> str:
    import html

    return html.escape(text)
