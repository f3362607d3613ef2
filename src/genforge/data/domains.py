"""Two image folders as the two domains of an image-to-image model (`--domain-a/--domain-b`).

Unpaired (CycleGAN): every image of folder A gets label 0, every image of folder B label 1;
the result is an ordinary labeled `ImageDataset` with the two folder names as class names.

Paired (pix2pix): files are paired by name — the same path without extension in both folders
(`sketches/cat1.png` pairs with `photos/cat1.jpg`). Each item stacks A and B on the channel
axis, (N, 2C, H, W), so a batch (and its augmentation) keeps every pair together. Files without
a partner are listed in the report's skipped files and left out; no pair at all is an error.
"""

from __future__ import annotations

from pathlib import Path

import torch

from genforge.core.errors import GenforgeError
from genforge.data.dataset import DEFAULT_FOLDER_SIZE, ImageDataset, check_image_options
from genforge.data.images import FolderScan, ImageFolderStream, decode_images, scan_image_folder
from genforge.data.report import DataReport, SkippedFile


def _scan(path: str, which: str) -> FolderScan:
    p = Path(path).expanduser()
    if not p.exists():
        raise GenforgeError(f"--domain-{which}: no such folder: {path}")
    if not p.is_dir():
        raise GenforgeError(f"--domain-{which}: {path} is a file, not a folder of images")
    try:
        return scan_image_folder(p)
    except GenforgeError as e:
        raise GenforgeError(f"--domain-{which}: {e}") from None


def _key(scan: FolderScan, path: Path) -> str:
    """The pairing key: the path inside the folder, without its extension."""
    return path.relative_to(scan.root).with_suffix("").as_posix()


def domain_names(a: str, b: str) -> list[str]:
    na, nb = Path(a).expanduser().resolve().name, Path(b).expanduser().resolve().name
    return [na, nb] if na != nb else [f"{na}-a", f"{nb}-b"]


def load_domains(
    domain_a: str,
    domain_b: str,
    image_size: int | None = None,
    channels: int | None = None,
    *,
    paired: bool = False,
    max_memory_bytes: int = 2**31,
) -> ImageDataset:
    """Load folders A and B as a two-domain dataset (see the module docstring).

    Raises:
        GenforgeError: a folder is missing, a file, empty or unreadable; no file pairs up.
    """
    check_image_options(image_size, channels)
    scans = _scan(domain_a, "a"), _scan(domain_b, "b")
    names = domain_names(domain_a, domain_b)
    size = DEFAULT_FOLDER_SIZE if image_size is None else image_size
    if channels is None:
        channels = 1 if all(s.auto_channels() == 1 for s in scans) else 3
    skipped = [SkippedFile(f"{n}/{f.path}", f.reason) for n, s in zip(names, scans, strict=True)
               for f in s.skipped]  # fmt: skip
    duplicates = [(f"{n}/{d}", f"{n}/{k}") for n, s in zip(names, scans, strict=True)
                  for d, k in s.duplicates]  # fmt: skip
    if paired:
        paths_a, paths_b = _pairs(scans, names, skipped)
        counts = {names[0]: len(paths_a), names[1]: len(paths_a)}
    else:
        paths_a, paths_b = [e.path for e in scans[0].entries], [e.path for e in scans[1].entries]
        counts = {names[0]: len(paths_a), names[1]: len(paths_b)}
    reports = [s.report() for s in scans]
    report = DataReport(
        source=f"{scans[0].root} + {scans[1].root}",
        kind="paired-folders" if paired else "two-domain-folders",
        num_files=scans[0].num_files + scans[1].num_files,
        num_images=len(paths_a) if paired else len(paths_a) + len(paths_b),
        image_size=size,
        channels=channels,
        original_sizes={**reports[1].original_sizes, **reports[0].original_sizes},
        original_modes={**reports[1].original_modes, **reports[0].original_modes},
        class_counts=counts,
        skipped=skipped,
        duplicates=duplicates,
    )
    name = "-".join(names)
    per_image = channels * size * size * 4
    if paired:
        if 2 * len(paths_a) * per_image > max_memory_bytes:
            raise GenforgeError(
                f"{len(paths_a)} pairs at {size}x{size} do not fit the memory limit; paired "
                "folders are held in memory: use a smaller --image-size or --set memory_limit_mb=..."
            )
        images = torch.cat([decode_images(paths_a, size, channels),
                            decode_images(paths_b, size, channels)], dim=1)  # fmt: skip
        return ImageDataset(name, images, None, names, report,
                            files=list(map(str, paths_a)), paired=True)  # fmt: skip
    paths = paths_a + paths_b
    labels = [0] * len(paths_a) + [1] * len(paths_b)
    y = torch.tensor(labels, dtype=torch.long)
    if len(paths) * per_image <= max_memory_bytes:
        images = decode_images(paths, size, channels)
        return ImageDataset(name, images, y, names, report, files=list(map(str, paths)))
    stream = ImageFolderStream(paths, labels, size, channels)
    return ImageDataset(name, None, y, names, report, stream=stream, files=list(map(str, paths)))


def _pairs(
    scans: tuple[FolderScan, FolderScan], names: list[str], skipped: list[SkippedFile]
) -> tuple[list[Path], list[Path]]:
    """Paths of A and B with the same key, in sorted key order; the rest go to `skipped`."""
    by_key = [{_key(s, e.path): e.path for e in s.entries} for s in scans]
    keys = sorted(by_key[0].keys() & by_key[1].keys())
    for mine, other in ((0, 1), (1, 0)):
        for k in sorted(by_key[mine].keys() - by_key[other].keys()):
            rel = by_key[mine][k].relative_to(scans[mine].root).as_posix()
            skipped.append(SkippedFile(f"{names[mine]}/{rel}", f"no file named {k}.* in "
                                       f"{names[other]}"))  # fmt: skip
    if not keys:
        raise GenforgeError(
            f"no image of {names[0]} has a partner of the same name in {names[1]} "
            f"(e.g. {names[0]}/cat1.png and {names[1]}/cat1.jpg); pix2pix needs paired files"
        )
    return [by_key[0][k] for k in keys], [by_key[1][k] for k in keys]
