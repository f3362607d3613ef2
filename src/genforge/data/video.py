"""Video: a folder of clips (MP4, WebM, GIF, or a folder of frame images per clip) or an
embedded set -> clips (N, C, T, H, W) in [-1, 1].

    folder/a.mp4, folder/b.gif, folder/c/0001.png ...      -> unlabeled
    folder/walk/x.mp4, folder/run/y.webm, folder/run/z/*.png -> labeled; top-level subfolders
                                                              holding clips are classes

A subfolder holding only images (no clips, no subfolders) is one clip, its frames in file-name
order at `fps`. Every clip is decoded with PyAV, turned upright (the rotation its container
records), resampled in time to `fps` by the frames' own timestamps (so variable frame rates
come out even: each output time takes the last frame shown at or before it), cut to `frames`
frames (shorter clips repeat their last frame and are listed), center-cropped to a square and
resized to `image_size`. Files that cannot be decoded (corrupt, empty, no video stream) are
skipped and listed in the report with the reason, as images are.

Embedded sets (no network): `moving-digits` (Moving-MNIST-style: one digit from scikit-learn's
8x8 digits bouncing in the frame, seeded, labelled by the digit), `moving-digits-2` (two
handwritten samples of the same digit bouncing independently), and `sprite-clips` (the
character sprites of data/sprites.py animated: blinking, walking, nodding, labelled by the
motion).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from genforge.core.errors import GenforgeError
from genforge.data.governance import SHEET_NAME, content_digest, file_sha256, load_optout
from genforge.data.report import SkippedFile

VIDEO_EXTENSIONS = (".mp4", ".webm", ".gif", ".mov", ".mkv", ".avi")
FRAME_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".webp")
EMBEDDED_VIDEO = ("moving-digits", "moving-digits-2", "sprite-clips")
CLIPS_PER_DIGIT = 180  # moving-digits: clips per class (1800 clips)
_MAX_LISTED = 20


# ---------------------------------------------------------------------------------------
# Config, spec and report
# ---------------------------------------------------------------------------------------


@dataclass
class VideoDataConfig:
    """The data section of a video run's config.yaml."""

    source: str = "moving-digits"  # embedded (moving-digits, sprite-clips) or a folder of clips
    frames: int = 8  # every clip is cut (or padded) to this many frames
    fps: float = 8.0  # sampled at this frame rate
    image_size: int = 16  # center-cropped and resized to this square size
    channels: int = 1  # 1 (grayscale) or 3 (RGB)
    val_fraction: float = 0.1  # held out, seeded, stratified by label


@dataclass(frozen=True)
class VideoSpec:
    """The shape of the clips a video model is built for."""

    channels: int
    frames: int
    size: int
    fps: float
    num_classes: int = 0
    class_names: tuple[str, ...] = ()

    @property
    def seconds(self) -> float:
        return self.frames / self.fps

    def to_dict(self) -> dict[str, Any]:
        return {"channels": self.channels, "frames": self.frames, "size": self.size,
                "fps": self.fps, "num_classes": self.num_classes,
                "class_names": list(self.class_names)}  # fmt: skip

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> VideoSpec:
        return cls(d["channels"], d["frames"], d["size"], float(d["fps"]), d["num_classes"],
                   tuple(d["class_names"]))  # fmt: skip


@dataclass
class VideoReport:
    """What a video source holds and what was done to it."""

    source: str
    kind: str  # "video-folder" | "embedded"
    num_files: int  # clips looked at (files and frame folders)
    num_clips: int  # clips kept
    frames: int | None  # output frames (None for inspect)
    fps: float | None  # output rate (None for inspect)
    image_size: int | None
    durations: dict[str, float]  # min / mean / max seconds of the originals
    rates: dict[str, int]  # original average frame rate (fps, as text) -> count
    sizes: dict[str, int]  # original "WxH" (upright) -> count
    containers: dict[str, int]  # ".mp4" / ".gif" / "frames" -> count
    class_counts: dict[str, int]
    variable_rate: list[str] = field(default_factory=list)  # clips with uneven frame times
    rotated: list[tuple[str, int]] = field(default_factory=list)  # (clip, degrees) turned upright
    short: list[tuple[str, float]] = field(default_factory=list)  # (clip, seconds) padded
    skipped: list[SkippedFile] = field(default_factory=list)
    content: dict[str, Any] = field(default_factory=dict)  # the exact files used; {} embedded

    @property
    def num_images(self) -> int:  # the web UI's dataset view reads every report's count here
        return self.num_clips

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["short"] = [list(s) for s in self.short]
        d["rotated"] = [list(r) for r in self.rotated]
        d["num_images"] = self.num_clips
        return d

    def render(self, console: Any) -> None:
        from rich.table import Table

        dur = self.durations
        console.print(
            f"[bold]{self.source}[/]: {self.num_clips} clips kept of {self.num_files} found; "
            f"durations {dur.get('min', 0):.2f}-{dur.get('max', 0):.2f} s "
            f"(mean {dur.get('mean', 0):.2f} s)"
        )
        console.print(
            "frame rates: " + (", ".join(f"{r} fps ({n})" for r, n in self.rates.items()) or "-")
        )
        console.print("sizes: " + (", ".join(f"{s} ({n})" for s, n in self.sizes.items()) or "-"))
        console.print("containers: " + (", ".join(f"{c} ({n})" for c, n in self.containers.items()) or "-"))  # fmt: skip
        if self.frames:
            console.print(f"resampled to {self.frames} frames at {self.fps:g} fps, "
                          f"{self.image_size}x{self.image_size} center crops")  # fmt: skip
        if self.variable_rate:
            console.print(f"[yellow]{len(self.variable_rate)} clips with a variable frame rate[/] "
                          "(resampled by their timestamps)")  # fmt: skip
        if self.rotated:
            console.print(f"[yellow]{len(self.rotated)} clips recorded rotated[/] (turned upright): "
                          + ", ".join(f"{c} ({d}°)" for c, d in self.rotated[:_MAX_LISTED]))  # fmt: skip
        if self.class_counts:
            t = Table("class", "clips")
            for k, v in self.class_counts.items():
                t.add_row(k, str(v))
            console.print(t)
        else:
            console.print("unlabeled (no class subfolders)")
        if self.short:
            console.print(
                f"[yellow]{len(self.short)} clips shorter than asked[/] (last frame repeated):"
            )
            for f, s in self.short[:_MAX_LISTED]:
                console.print(f"  {f}: {s:.2f} s")
        if self.skipped:
            console.print(f"[red]{len(self.skipped)} files skipped[/]:")
            for s in self.skipped[:_MAX_LISTED]:
                console.print(f"  {s.path}: {s.reason}")
            if len(self.skipped) > _MAX_LISTED:
                console.print(f"  ... and {len(self.skipped) - _MAX_LISTED} more")


# ---------------------------------------------------------------------------------------
# The dataset
# ---------------------------------------------------------------------------------------


@dataclass
class VideoDataset:
    """Clips in [-1, 1], (N, C, T, H, W), with optional labels."""

    name: str
    images: torch.Tensor  # (N, C, T, H, W) float32: the training items (named for Batches)
    labels: torch.Tensor | None
    class_names: list[str]
    report: VideoReport
    fps: float
    stream: Any = None
    in_memory: bool = True

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def channels(self) -> int:
        return self.images.shape[1]

    @property
    def frames(self) -> int:
        return self.images.shape[2]

    @property
    def image_size(self) -> int:
        return self.images.shape[-1]

    def __len__(self) -> int:
        return len(self.images)

    def split(self, val_fraction: float, seed: int) -> tuple[VideoDataset, VideoDataset]:
        """(train, val), stratified by label when labeled."""
        from genforge.data.dataset import stratified_pick

        if not 0.0 <= val_fraction < 1.0:
            raise GenforgeError(
                f"validation fraction must be at least 0 and below 1, got {val_fraction}"
            )
        n = len(self)
        labels = self.labels.numpy() if self.labels is not None else np.zeros(n, dtype=np.int64)
        val = stratified_pick(labels, round(n * val_fraction), np.random.default_rng(seed))
        is_val = np.zeros(n, dtype=bool)
        is_val[val] = True
        if is_val.all():
            raise GenforgeError(f"validation fraction {val_fraction} leaves no training clip")
        return self.subset(np.flatnonzero(~is_val)), self.subset(np.flatnonzero(is_val))

    def subset(self, index: np.ndarray) -> VideoDataset:
        idx = torch.from_numpy(np.asarray(index)).long()
        labels = self.labels[idx] if self.labels is not None else None
        counts = Counter(labels.tolist()) if labels is not None else Counter()
        report = VideoReport(**{**asdict(self.report), "num_clips": len(idx)})
        report.skipped = list(self.report.skipped)
        report.class_counts = {n: counts[i] for i, n in enumerate(self.class_names)}
        return VideoDataset(self.name, self.images[idx], labels, list(self.class_names), report,
                            self.fps)  # fmt: skip


# ---------------------------------------------------------------------------------------
# Decoding and conditioning one clip
# ---------------------------------------------------------------------------------------


@dataclass
class Decoded:
    """One clip as decoded: upright RGB frames (H, W, 3) uint8 and their times in seconds."""

    frames: list[np.ndarray]
    times: np.ndarray  # (F,) presentation times, starting at 0
    rotation: int = 0  # degrees the container asked to turn the picture (counter-clockwise)

    @property
    def duration(self) -> float:
        if len(self.times) < 2:
            return 0.0
        step = float(np.median(np.diff(self.times)))
        return float(self.times[-1] - self.times[0]) + step

    @property
    def rate(self) -> float:
        return (len(self.times) / self.duration) if self.duration > 0 else 0.0

    @property
    def variable_rate(self) -> bool:
        gaps = np.diff(self.times)
        return len(gaps) > 1 and float(gaps.max() - gaps.min()) > 0.1 * float(np.median(gaps))


def upright(frame: np.ndarray, rotation: int) -> np.ndarray:
    """Turn a frame by the container's display rotation (degrees counter-clockwise)."""
    k = round(rotation / 90) % 4
    return np.ascontiguousarray(np.rot90(frame, k)) if k else frame


def decode_file(path: Path) -> Decoded:
    """Decode a clip file with PyAV: every frame of its first video stream, upright.

    Raises:
        GenforgeError: unreadable, empty, no video stream, no frame decoded.
    """
    import av

    if path.stat().st_size == 0:
        raise GenforgeError("empty file (0 bytes)")
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise GenforgeError("no video stream")
            stream = container.streams.video[0]
            tag = stream.metadata.get("rotate")  # older containers record it as a tag
            frames, times, rotation = [], [], -int(tag) if tag else 0  # the tag: clockwise
            for i, frame in enumerate(container.decode(stream)):
                rotation = int(getattr(frame, "rotation", 0) or 0) or rotation
                frames.append(frame.to_ndarray(format="rgb24"))
                t = frame.time
                times.append(float(t) if t is not None else i / float(stream.average_rate or 25))
    except GenforgeError:
        raise
    except Exception as e:  # av's errors: invalid data, truncated, unknown format
        raise GenforgeError(f"unreadable: {' '.join(str(e).split())[:120]}") from None
    if not frames:
        raise GenforgeError("no frames decoded")
    order = np.argsort(times, kind="stable")  # decode order may differ from display order
    t = np.asarray(times)[order]
    return Decoded([upright(frames[i], rotation) for i in order], t - t[0], rotation)


def decode_frame_folder(folder: Path, fps: float) -> Decoded:
    """A folder of frame images (file-name order) as a clip at `fps`."""
    from PIL import Image

    files = sorted(f for f in folder.iterdir() if f.suffix.lower() in FRAME_EXTENSIONS)
    frames = []
    for f in files:
        try:
            with Image.open(f) as im:
                frames.append(np.asarray(im.convert("RGB")))
        except Exception as e:
            raise GenforgeError(
                f"unreadable frame {f.name}: {' '.join(str(e).split())[:80]}"
            ) from None
    if not frames:
        raise GenforgeError("no frames")
    if len({fr.shape for fr in frames}) > 1:
        raise GenforgeError("frames of different sizes")
    return Decoded(frames, np.arange(len(frames)) / fps)


def resample_times(times: np.ndarray, frames: int, fps: float) -> np.ndarray:
    """Index of the frame shown at each output time k / fps (k < frames): the last frame whose
    time is at or before it (a clip's own timestamps, so variable rates come out even)."""
    want = np.arange(frames) / fps
    idx = np.searchsorted(times, want + 1e-6, side="right") - 1
    return np.clip(idx, 0, len(times) - 1)


def center_square(frame: np.ndarray, size: int, channels: int) -> np.ndarray:
    """Center-crop (H, W, 3) to a square, resize to `size` (area filter), to `channels`."""
    from PIL import Image

    h, w = frame.shape[:2]
    s = min(h, w)
    top, left = (h - s) // 2, (w - s) // 2
    im = Image.fromarray(frame[top : top + s, left : left + s])
    im = im.resize((size, size), Image.Resampling.BOX if s >= size else Image.Resampling.BICUBIC)
    if channels == 1:
        return np.asarray(im.convert("L"))[:, :, None]
    return np.asarray(im)


def condition_clip(clip: Decoded, frames: int, fps: float, size: int, channels: int) -> np.ndarray:
    """Decoded clip -> (C, T, H, W) float32 in [-1, 1]."""
    idx = resample_times(clip.times, frames, fps)
    out = np.stack([center_square(clip.frames[i], size, channels) for i in idx])  # (T, H, W, C)
    return (out.transpose(3, 0, 1, 2).astype(np.float32) / 127.5) - 1.0


# ---------------------------------------------------------------------------------------
# Folders
# ---------------------------------------------------------------------------------------


def is_frame_folder(folder: Path) -> bool:
    """A folder holding frame images and nothing else that is data (one clip)."""
    items = [p for p in folder.iterdir() if not p.name.startswith(".") and p.name != SHEET_NAME]
    return bool(items) and all(p.is_file() and p.suffix.lower() in FRAME_EXTENSIONS for p in items)


def clip_entries(root: Path) -> tuple[list[tuple[Path, str | None]], list[SkippedFile]]:
    """(clip file or frame folder, class or None) for every clip under `root`; other files are
    skipped with a reason."""
    entries: list[tuple[Path, str | None]] = []
    skipped: list[SkippedFile] = []

    def scan(folder: Path, cls: str | None, depth: int) -> None:
        for p in sorted(folder.iterdir()):
            if p.name.startswith(".") or p.name == SHEET_NAME:
                continue
            rel = str(p.relative_to(root))
            if p.is_dir():
                if is_frame_folder(p):
                    entries.append((p, cls))
                elif depth == 0:
                    scan(p, p.name, 1)
                else:
                    skipped.append(SkippedFile(rel, "nested folder (not a clip of frames)"))
            elif p.suffix.lower() in VIDEO_EXTENSIONS:
                entries.append((p, cls))
            else:
                skipped.append(SkippedFile(rel, f"not a clip ({p.suffix or 'no extension'})"))

    scan(root, None, 0)
    labeled = any(c is not None for _, c in entries)
    if labeled:  # clips next to the class folders belong to no class
        for p, c in entries:
            if c is None:
                skipped.append(SkippedFile(str(p.relative_to(root)), "not in a class subfolder"))
        entries = [(p, c) for p, c in entries if c is not None]
    return entries, skipped


def is_animated_gif(path: Path) -> bool:
    from PIL import Image

    try:
        with Image.open(path) as im:
            return getattr(im, "n_frames", 1) > 1
    except Exception:
        return False


def is_video_source(source: str) -> bool:
    """An embedded video set, or a folder holding a movie file (MP4, WebM, ...) or an animated
    GIF (a folder of still GIFs is an image folder)."""
    if source in EMBEDDED_VIDEO:
        return True
    p = Path(source).expanduser()
    if not p.is_dir():
        return False
    files = [f for f in p.rglob("*") if f.is_file()]
    if any(f.suffix.lower() in VIDEO_EXTENSIONS and f.suffix.lower() != ".gif" for f in files):
        return True
    return any(is_animated_gif(f) for f in files if f.suffix.lower() == ".gif")


def read_folder(
    source: str, cfg: VideoDataConfig | None
) -> tuple[list, list | None, list, VideoReport]:
    """Decode every clip: (clips, labels or None, class names, report); clips are conditioned
    to `cfg`'s frames, rate and size, or left out when `cfg` is None (inspection)."""
    root = Path(source).expanduser()
    if not root.exists():
        raise GenforgeError(
            f"no such folder: {source}; give a folder of MP4/WebM/GIF clips (or frame folders) "
            f"or an embedded set ({', '.join(EMBEDDED_VIDEO)})"
        )
    if not root.is_dir():
        raise GenforgeError(f"{source} is a file; give the folder that holds the clips")
    entries, skipped = clip_entries(root)
    looked = len(entries) + sum(s.reason != "not in a class subfolder" for s in skipped)
    fps = cfg.fps if cfg else 8.0
    clips, classes, durations, rates, sizes, kinds = [], [], [], Counter(), Counter(), Counter()
    vfr, rotated, short, kept = [], [], [], []
    optout = load_optout()
    for path, cls in entries:
        rel = str(path.relative_to(root))
        digest = file_sha256(path) if path.is_file() else None
        why = optout.match(path, digest) if digest else None
        if why:
            skipped.append(SkippedFile(rel, why))
            continue
        try:
            clip = decode_file(path) if path.is_file() else decode_frame_folder(path, fps)
        except GenforgeError as e:
            skipped.append(SkippedFile(rel, str(e)))
            continue
        h, w = clip.frames[0].shape[:2]
        sizes[f"{w}x{h}"] += 1
        rates[f"{clip.rate:.3g}" if path.is_file() else f"{fps:g} (frames)"] += 1
        kinds[path.suffix.lower() if path.is_file() else "frames"] += 1
        durations.append(clip.duration if path.is_file() else len(clip.frames) / fps)
        if clip.variable_rate:
            vfr.append(rel)
        if clip.rotation % 360:
            rotated.append((rel, clip.rotation))
        if cfg is not None:
            if durations[-1] < cfg.frames / cfg.fps - 1e-6:
                short.append((rel, round(durations[-1], 3)))
            clips.append(condition_clip(clip, cfg.frames, cfg.fps, cfg.image_size, cfg.channels))
        classes.append(cls)
        kept.append((rel, digest or _folder_digest(path)))
    class_names = sorted({c for c in classes if c is not None})
    labels = [class_names.index(c) for c in classes] if class_names else None
    counts = Counter(classes)
    report = VideoReport(
        source=source, kind="video-folder", num_files=looked, num_clips=len(classes),
        frames=cfg.frames if cfg else None, fps=cfg.fps if cfg else None,
        image_size=cfg.image_size if cfg else None, durations=_stats(durations),
        rates=dict(rates.most_common()), sizes=dict(sizes.most_common(10)),
        containers=dict(kinds.most_common()), class_counts={c: counts[c] for c in class_names},
        variable_rate=vfr, rotated=rotated, short=short,
        skipped=sorted(skipped, key=lambda s: s.path), content=content_digest(kept),
    )  # fmt: skip
    return clips, labels, class_names, report


def _folder_digest(folder: Path) -> str:
    import hashlib

    h = hashlib.sha256()
    for f in sorted(folder.iterdir()):
        if f.is_file():
            h.update(f.name.encode() + file_sha256(f).encode())
    return h.hexdigest()


def _stats(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    return {"min": float(min(values)), "mean": float(np.mean(values)), "max": float(max(values))}


# ---------------------------------------------------------------------------------------
# Embedded sets
# ---------------------------------------------------------------------------------------


def bounce(start: np.ndarray, velocity: np.ndarray, frames: int, room: float) -> np.ndarray:
    """Positions (T, 2) of a point moving at `velocity` per frame inside [0, room], reflecting
    off the walls."""
    p = start[None, :] + velocity[None, :] * np.arange(frames)[:, None]  # unfolded path
    period = 2 * room
    p = np.mod(p, period) if room > 0 else np.zeros_like(p)
    return np.where(p > room, period - p, p)


def moving_digits(
    frames: int, fps: float, size: int, digits_per_clip: int = 1, per_class: int = CLIPS_PER_DIGIT,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """Moving-MNIST-style clips (Srivastava et al. 2015) from scikit-learn's 8x8 digits:
    (clips (N, 1, T, S, S) in [-1, 1], labels (N,)).

    Each clip shows `digits_per_clip` handwritten samples of one digit class, each half the
    frame wide, moving in a straight line at a random direction and a speed of 0.4 to 0.8
    frame widths per second, bouncing off the edges; overlapping strokes take the maximum."""
    from PIL import Image
    from sklearn.datasets import load_digits

    d = load_digits()
    rng = np.random.default_rng(seed)
    side = max(2, size // 2)
    glyphs = np.stack([
        np.asarray(Image.fromarray((im / 16 * 255).astype(np.uint8)).resize(
            (side, side), Image.Resampling.BILINEAR), dtype=np.float32) / 255.0
        for im in d.images
    ])  # fmt: skip  # (1797, side, side) in [0, 1]
    room = size - side
    clips = np.zeros((10 * per_class, 1, frames, size, size), np.float32)
    labels = np.repeat(np.arange(10), per_class)
    for n, k in enumerate(labels):
        pool = np.flatnonzero(d.target == k)
        for g in rng.choice(pool, digits_per_clip, replace=False):
            angle = rng.uniform(0, 2 * np.pi)
            speed = rng.uniform(0.4, 0.8) * size / fps  # px per frame
            vel = speed * np.array([np.cos(angle), np.sin(angle)])
            path = np.rint(bounce(rng.uniform(0, room, 2), vel, frames, room)).astype(int)
            for t, (x, y) in enumerate(path):
                view = clips[n, 0, t, y : y + side, x : x + side]
                np.maximum(view, glyphs[g], out=view)
    return clips * 2 - 1, labels


def make_embedded(
    name: str, cfg: VideoDataConfig, seed: int
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    if name in ("moving-digits", "moving-digits-2"):
        if cfg.channels != 1:
            raise GenforgeError(f"{name} is grayscale; use channels 1 (got {cfg.channels})")
        x, y = moving_digits(cfg.frames, cfg.fps, cfg.image_size, 2 if name.endswith("-2") else 1,
                             seed=seed)  # fmt: skip
        return x, y, [str(k) for k in range(10)]
    from genforge.data.sprite_clips import MOTIONS, sprite_clips

    x, y = sprite_clips(cfg.frames, cfg.image_size, cfg.channels, seed=seed)
    return x, y, list(MOTIONS)


# ---------------------------------------------------------------------------------------
# Entry points
# ---------------------------------------------------------------------------------------


def check_config(cfg: VideoDataConfig) -> None:
    if not 2 <= cfg.frames <= 256:
        raise GenforgeError(f"frames must be 2..256, got {cfg.frames}")
    if not 0 < cfg.fps <= 240:
        raise GenforgeError(f"fps must be above 0 and at most 240, got {cfg.fps}")
    if cfg.image_size not in (8, 16, 32, 64, 128, 256):
        raise GenforgeError(f"image_size must be 8, 16, 32, 64, 128 or 256, got {cfg.image_size}")
    if cfg.image_size > 128 and cfg.source in EMBEDDED_VIDEO:  # 1800 clips of 256 px: GBs
        raise GenforgeError(f"the embedded set {cfg.source} goes up to 128 px; 256 px clips "
                            "come from a folder")  # fmt: skip
    if cfg.channels not in (1, 3):
        raise GenforgeError(f"channels must be 1 or 3, got {cfg.channels}")


def load_video(cfg: VideoDataConfig, *, seed: int = 0) -> VideoDataset:
    """Load an embedded set or a folder of clips as a `VideoDataset` of (N, C, T, H, W) clips.

    Raises:
        GenforgeError: bad frames/fps/size, missing folder, no readable clip, one class only.
    """
    check_config(cfg)
    source = cfg.source
    if source in EMBEDDED_VIDEO:
        x, y, names = make_embedded(source, cfg, seed)
        counts = Counter(y.tolist())
        secs = cfg.frames / cfg.fps
        report = VideoReport(
            source, "embedded", len(x), len(x), cfg.frames, cfg.fps, cfg.image_size,
            {"min": secs, "mean": secs, "max": secs}, {f"{cfg.fps:g}": len(x)},
            {f"{cfg.image_size}x{cfg.image_size}": len(x)}, {"generated": len(x)},
            {n: counts[i] for i, n in enumerate(names)},
        )  # fmt: skip
        return VideoDataset(source, torch.from_numpy(x), torch.from_numpy(y).long(), names,
                            report, cfg.fps)  # fmt: skip
    clips, labels, names, report = read_folder(source, cfg)
    if not clips:
        reasons = Counter(s.reason.split(":")[0] for s in report.skipped)
        why = "; ".join(f"{n} {r}" for r, n in reasons.most_common(3)) or "the folder is empty"
        raise GenforgeError(f"no readable clip (MP4/WebM/GIF/frame folder) in {source}: {why}")
    if names and len(names) < 2:
        raise GenforgeError(
            f"{source} has a single class folder ({names[0]}); use two or more class "
            "subfolders, or put the clips directly in the folder for unlabeled training"
        )
    x = torch.from_numpy(np.stack(clips))
    y = torch.tensor(labels) if labels is not None else None
    return VideoDataset(Path(source).expanduser().resolve().name, x, y, names, report, cfg.fps)


def inspect_video(source: str) -> VideoReport:
    """Counts, durations, frame rates, sizes, rotations, classes and skipped files, without
    resampling the clips."""
    if source in EMBEDDED_VIDEO:
        return load_video(VideoDataConfig(source=source)).report
    return read_folder(source, None)[3]


def read_clip(
    path: str | Path, spec: Any, fps: float | None = None, max_frames: int | None = None
) -> torch.Tensor:
    """One clip file (or frame folder) in the model's shape: (C, T', H, W) in [-1, 1] at `fps`
    (default the spec's) and the spec's size, T' the frames it holds up to `max_frames`
    (default the spec's count). Nothing is padded: `genforge predict` needs only the first
    frames, and says when there are too few."""
    p = Path(path).expanduser()
    if not p.exists():
        raise GenforgeError(f"no such clip: {path}")
    fps = fps or spec.fps
    try:
        clip = decode_file(p) if p.is_file() else decode_frame_folder(p, fps)
    except GenforgeError as e:
        raise GenforgeError(f"cannot read clip {path}: {e}") from None
    span = clip.duration if p.is_file() else len(clip.frames) / fps
    frames = max(1, min(max_frames or spec.frames, int(np.floor(span * fps + 1e-6))))
    x = condition_clip(clip, frames, fps, spec.size, spec.channels)
    return torch.from_numpy(x)
