"""Audio: a folder of clips (WAV/FLAC/OGG) or an embedded set -> waveforms (N, 1, L) in [-1, 1].

    folder/a.wav, folder/b.flac          -> unlabeled
    folder/dog/x.wav, folder/cat/y.ogg   -> labeled; each top-level subfolder is a class

Every clip is read with soundfile, mixed down to mono, resampled to `sample_rate` (polyphase,
scipy `resample_poly`), stripped of leading silence, cut or zero-padded to `seconds` and
loudness-normalised (RMS to -20 dBFS, peaks kept below 0.99). Files that cannot be read are
skipped and listed in the report with the reason; clips at another rate are resampled and
counted; clips shorter than `seconds` are padded and listed.

Embedded sets (no network): `tones` (synthesised notes and major triads, labeled by root
pitch) and `spoken-digits` ("zero" .. "nine" spoken by espeak-ng in several voices, speeds
and pitches; needs the espeak-ng program).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import torch

from genforge.core.errors import GenforgeError
from genforge.data.governance import SHEET_NAME, content_digest, file_sha256, load_optout
from genforge.data.report import SkippedFile

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg")
EMBEDDED_AUDIO = ("tones", "spoken-digits")
TARGET_DBFS = -20.0  # loudness normalisation target (RMS)
SILENCE_DBFS = -40.0  # leading samples below this (relative to the clip's peak) are trimmed
_MAX_LISTED = 20


# ---------------------------------------------------------------------------------------
# Spec and report
# ---------------------------------------------------------------------------------------


@dataclass
class AudioDataConfig:
    """The data section of an audio run's config.yaml."""

    source: str = "tones"  # embedded (tones, spoken-digits) or a folder of WAV/FLAC/OGG clips
    sample_rate: int = 16000  # every clip is resampled to this rate
    seconds: float = 1.0  # and cut or zero-padded to this length
    val_fraction: float = 0.1  # held out, seeded, stratified by label


@dataclass(frozen=True)
class AudioSpec:
    """The shape of the clips an audio model is built for."""

    sample_rate: int
    length: int  # samples per clip
    num_classes: int = 0
    class_names: tuple[str, ...] = ()

    @property
    def seconds(self) -> float:
        return self.length / self.sample_rate

    def to_dict(self) -> dict[str, Any]:
        return {"sample_rate": self.sample_rate, "length": self.length,
                "num_classes": self.num_classes, "class_names": list(self.class_names)}  # fmt: skip

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> AudioSpec:
        return cls(d["sample_rate"], d["length"], d["num_classes"], tuple(d["class_names"]))


@dataclass
class AudioReport:
    """What an audio source holds and what was done to it."""

    source: str
    kind: str  # "audio-folder" | "embedded"
    num_files: int  # files looked at
    num_clips: int  # clips kept
    sample_rate: int | None  # output rate (None for inspect)
    seconds: float | None  # output length (None for inspect)
    durations: dict[str, float]  # min / mean / max seconds of the originals
    sample_rates: dict[str, int]  # original rate (Hz, as text) -> count
    channels: dict[str, int]  # original channel count (as text) -> count
    class_counts: dict[str, int]
    resampled: int = 0  # clips converted from another rate
    short: list[tuple[str, float]] = field(default_factory=list)  # (file, seconds) padded
    skipped: list[SkippedFile] = field(default_factory=list)
    content: dict[str, Any] = field(default_factory=dict)  # the exact files used; {} embedded

    @property
    def num_images(self) -> int:  # the web UI's dataset view reads every report's item count here
        return self.num_clips

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["short"] = [list(s) for s in self.short]
        d["num_images"] = self.num_clips
        return d

    def render(self, console: Any) -> None:
        from rich.table import Table

        dur = self.durations
        console.print(
            f"[bold]{self.source}[/]: {self.num_clips} clips kept of {self.num_files} files; "
            f"durations {dur.get('min', 0):.2f}-{dur.get('max', 0):.2f} s "
            f"(mean {dur.get('mean', 0):.2f} s)"
        )
        rates = ", ".join(f"{r} Hz ({n})" for r, n in self.sample_rates.items())
        console.print(f"sample rates: {rates or '-'}")
        if len(self.sample_rates) > 1 or self.resampled:
            target = f" to {self.sample_rate} Hz" if self.sample_rate else " when training"
            console.print(f"[yellow]mixed sample rates[/]: clips are resampled{target}")
        chans = ", ".join(f"{c} ch ({n})" for c, n in self.channels.items())
        console.print(f"channels: {chans or '-'} (mixed down to mono)")
        if self.class_counts:
            t = Table("class", "clips")
            for k, v in self.class_counts.items():
                t.add_row(k, str(v))
            console.print(t)
        else:
            console.print("unlabeled (no class subfolders)")
        if self.short:
            want = f"{self.seconds:g} s" if self.seconds else "the requested length"
            console.print(
                f"[yellow]{len(self.short)} clips shorter than {want}[/] (padded with silence):"
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
class AudioDataset:
    """Waveforms in [-1, 1], (N, 1, L), with optional labels."""

    name: str
    images: torch.Tensor  # (N, 1, L) float32: the training items (named for Batches)
    labels: torch.Tensor | None
    class_names: list[str]
    report: AudioReport
    sample_rate: int
    stream: Any = None
    in_memory: bool = True

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def length(self) -> int:
        return self.images.shape[-1]

    def __len__(self) -> int:
        return len(self.images)

    def split(self, val_fraction: float, seed: int) -> tuple[AudioDataset, AudioDataset]:
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
        return self._subset(np.flatnonzero(~is_val)), self._subset(np.flatnonzero(is_val))

    def _subset(self, index: np.ndarray) -> AudioDataset:
        idx = torch.from_numpy(index).long()
        labels = self.labels[idx] if self.labels is not None else None
        counts = Counter(labels.tolist()) if labels is not None else Counter()
        report = AudioReport(**{**asdict(self.report), "num_clips": len(index)})
        report.skipped = list(self.report.skipped)
        report.class_counts = {n: counts[i] for i, n in enumerate(self.class_names)}
        return AudioDataset(self.name, self.images[idx], labels, list(self.class_names), report,
                            self.sample_rate)  # fmt: skip


# ---------------------------------------------------------------------------------------
# Signal conditioning
# ---------------------------------------------------------------------------------------


def resample(x: np.ndarray, from_rate: int, to_rate: int) -> np.ndarray:
    """Polyphase resampling of a mono signal (anti-aliasing FIR, scipy.signal.resample_poly)."""
    if from_rate == to_rate:
        return x
    from scipy.signal import resample_poly

    r = Fraction(to_rate, from_rate).limit_denominator(1000)
    return resample_poly(x, r.numerator, r.denominator).astype(np.float32)


def trim_leading_silence(x: np.ndarray) -> np.ndarray:
    peak = np.abs(x).max() if len(x) else 0.0
    if peak <= 0:
        return x
    loud = np.flatnonzero(np.abs(x) >= peak * 10 ** (SILENCE_DBFS / 20))
    return x[max(0, loud[0] - 16) :]


def fit_length(x: np.ndarray, length: int) -> np.ndarray:
    """Cut to `length` samples, or zero-pad at the end."""
    if len(x) >= length:
        return x[:length]
    return np.pad(x, (0, length - len(x)))


def normalise_loudness(x: np.ndarray) -> np.ndarray:
    """RMS to TARGET_DBFS, but never so loud that a peak passes 0.99 (silence stays silent)."""
    rms = float(np.sqrt(np.mean(x.astype(np.float64) ** 2)))
    peak = float(np.abs(x).max())
    if rms < 1e-8:
        return x
    gain = min(10 ** (TARGET_DBFS / 20) / rms, 0.99 / peak)
    return (x * gain).astype(np.float32)


def condition(x: np.ndarray, rate: int, sample_rate: int, length: int) -> np.ndarray:
    x = resample(x.astype(np.float32), rate, sample_rate)
    return normalise_loudness(fit_length(trim_leading_silence(x), length))


# ---------------------------------------------------------------------------------------
# Folders
# ---------------------------------------------------------------------------------------


def _audio_files(root: Path) -> tuple[list[tuple[Path, str | None]], list[SkippedFile]]:
    """(file, class or None) for every audio file; other files are skipped with a reason."""
    entries, skipped = [], []
    subdirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    labeled = any(
        f.suffix.lower() in AUDIO_EXTENSIONS for d in subdirs for f in d.rglob("*") if f.is_file()
    )
    for f in sorted(root.rglob("*")):
        if not f.is_file() or any(part.startswith(".") for part in f.relative_to(root).parts):
            continue
        if f.name == SHEET_NAME:  # a datasheet.yaml describes the folder; it is not data
            continue
        rel = f.relative_to(root)
        if f.suffix.lower() not in AUDIO_EXTENSIONS:
            skipped.append(
                SkippedFile(str(rel), f"not an audio file ({f.suffix or 'no extension'})")
            )
            continue
        if labeled and len(rel.parts) == 1:
            skipped.append(SkippedFile(str(rel), "not in a class subfolder"))
            continue
        entries.append((f, rel.parts[0] if labeled else None))
    return entries, skipped


def is_audio_source(source: str) -> bool:
    """An embedded audio set, an audio file's folder (holding no images), or an audio file."""
    if source in EMBEDDED_AUDIO:
        return True
    p = Path(source).expanduser()
    if p.is_file():
        return p.suffix.lower() in AUDIO_EXTENSIONS
    if not p.is_dir():
        return False
    from genforge.data.images import IMAGE_EXTENSIONS

    suffixes = {f.suffix.lower() for f in p.rglob("*") if f.is_file()}
    return bool(suffixes & set(AUDIO_EXTENSIONS)) and not suffixes & set(IMAGE_EXTENSIONS)


def _read_folder(source: str, sample_rate: int | None, seconds: float | None):
    """Read every clip: (waves, labels or None, class names, report); waves are conditioned
    to `sample_rate` x `seconds` when both are given, else left empty (inspection)."""
    import soundfile as sf

    root = Path(source).expanduser()
    if not root.exists():
        raise GenforgeError(
            f"no such folder: {source}; give a folder of WAV/FLAC/OGG clips or an embedded set "
            f"({', '.join(EMBEDDED_AUDIO)})"
        )
    if not root.is_dir():
        raise GenforgeError(f"{source} is a file; give the folder that holds the clips")
    entries, skipped = _audio_files(root)
    looked = len(entries) + len(skipped)
    length = round(sample_rate * seconds) if sample_rate and seconds else None
    waves, classes, durations, rates, chans, short = [], [], [], Counter(), Counter(), []
    resampled = 0
    optout, kept = load_optout(), []  # the project's opt-out list (data/governance.py)
    for path, cls in entries:
        rel = str(path.relative_to(root))
        digest = file_sha256(path)
        why = optout.match(path, digest)
        if why:
            skipped.append(SkippedFile(rel, why))
            continue
        try:
            x, rate = sf.read(str(path), dtype="float32", always_2d=True)
        except Exception as e:  # libsndfile's errors: truncated, wrong format, empty
            why = re.sub(r"^Error opening .*?: ", "", " ".join(str(e).split()))
            skipped.append(SkippedFile(rel, f"unreadable: {why[:120]}"))
            continue
        if len(x) == 0:
            skipped.append(SkippedFile(rel, "empty (no samples)"))
            continue
        rates[str(rate)] += 1
        chans[str(x.shape[1])] += 1
        durations.append(len(x) / rate)
        if length is not None:
            resampled += rate != sample_rate
            y = trim_leading_silence(resample(x.mean(1), rate, sample_rate))  # mono, new rate
            if len(y) < length:
                short.append((rel, round(len(y) / sample_rate, 3)))
            waves.append(normalise_loudness(fit_length(y, length)))
        classes.append(cls)
        kept.append((rel, digest))
    class_names = sorted({c for c in classes if c is not None})
    labels = [class_names.index(c) for c in classes] if class_names else None
    counts = Counter(classes)
    report = AudioReport(
        source=source, kind="audio-folder", num_files=looked, num_clips=len(classes),
        sample_rate=sample_rate, seconds=seconds, durations=_duration_stats(durations),
        sample_rates=dict(rates.most_common()), channels=dict(chans.most_common()),
        class_counts={c: counts[c] for c in class_names}, resampled=resampled, short=short,
        skipped=sorted(skipped, key=lambda s: s.path), content=content_digest(kept),
    )  # fmt: skip
    return waves, labels, class_names, report


def _duration_stats(durations: list[float]) -> dict[str, float]:
    if not durations:
        return {}
    return {"min": min(durations), "mean": float(np.mean(durations)), "max": max(durations)}


# ---------------------------------------------------------------------------------------
# Embedded sets
# ---------------------------------------------------------------------------------------

NOTES = {"C4": 261.63, "D4": 293.66, "E4": 329.63, "F4": 349.23,
         "G4": 392.00, "A4": 440.00, "B4": 493.88, "C5": 523.25}  # fmt: skip
DIGITS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
DIGIT_VOICES = ("en-us", "en-gb", "en-gb-scotland", "en-us+f3")
DIGIT_RATES = (130, 165, 200)
DIGIT_PITCHES = (35, 65)


def synth_tones(sample_rate: int, seconds: float, per_class: int = 40, seed: int = 0):
    """Notes (2/3) and major triads (1/3) on 8 roots, random timbre and envelope: (waves, labels)."""
    rng = np.random.default_rng(seed)
    n = round(sample_rate * seconds)
    t = np.arange(n) / sample_rate
    waves, labels = [], []
    for k, f0 in enumerate(NOTES.values()):
        for i in range(per_class):
            chord = [1.0, 2 ** (4 / 12), 2 ** (7 / 12)] if i % 3 == 2 else [1.0]
            harmonics = rng.uniform(0, 1, 5) ** 2 / np.arange(1, 6)
            harmonics[0] = 1.0
            detune = 2 ** (rng.normal(0, 0.1) / 12)
            x = np.zeros(n)
            for ratio in chord:
                f = f0 * ratio * detune
                for h, a in enumerate(harmonics, start=1):
                    if f * h < sample_rate / 2:
                        x += a * np.sin(2 * np.pi * f * h * t + rng.uniform(0, 2 * np.pi))
            attack = rng.uniform(0.005, 0.05)
            decay = rng.uniform(1.5, 6.0) / seconds
            env = np.minimum(t / attack, 1.0) * np.exp(-decay * t)
            onset = int(rng.uniform(0, 0.1) * n)
            x = np.roll(x * env, onset)
            x[:onset] = 0
            x += rng.normal(0, 0.002, n)
            waves.append(normalise_loudness(x.astype(np.float32)))
            labels.append(k)
    return waves, labels, list(NOTES)


def synth_spoken_digits(
    sample_rate: int,
    seconds: float,
    voices: tuple[str, ...] = DIGIT_VOICES,
    rates: tuple[int, ...] = DIGIT_RATES,
    pitches: tuple[int, ...] = DIGIT_PITCHES,
):
    """ "zero".."nine" from espeak-ng in every voice x rate x pitch: (waves, labels, names)."""
    from genforge.data.espeak import require_espeak, synthesise

    require_espeak("the spoken-digits set")
    length = round(sample_rate * seconds)
    waves, labels = [], []
    for k, word in enumerate(DIGITS):
        for voice in voices:
            for rate in rates:
                for pitch in pitches:
                    x, sr = synthesise(word, voice, rate, pitch)
                    waves.append(condition(x, sr, sample_rate, length))
                    labels.append(k)
    return waves, labels, [str(d) for d in range(10)]


# ---------------------------------------------------------------------------------------
# Entry points
# ---------------------------------------------------------------------------------------


def _check(sample_rate: int, seconds: float) -> None:
    if not 1000 <= sample_rate <= 96000:
        raise GenforgeError(f"sample rate must be 1000..96000 Hz, got {sample_rate}")
    if not 0 < seconds <= 30:
        raise GenforgeError(f"clip length must be above 0 and at most 30 seconds, got {seconds}")


def load_audio(source: str, sample_rate: int = 16000, seconds: float = 1.0, *, seed: int = 0):
    """Load an embedded set or a folder of clips as an `AudioDataset` of (N, 1, L) waveforms.

    Raises:
        GenforgeError: bad rate/length, missing folder, no readable clip, espeak-ng missing.
    """
    _check(sample_rate, seconds)
    length = round(sample_rate * seconds)
    if source in EMBEDDED_AUDIO:
        if source == "tones":
            waves, labels, names = synth_tones(sample_rate, seconds, seed=seed)
        else:
            waves, labels, names = synth_spoken_digits(sample_rate, seconds)
        counts = Counter(labels)
        report = AudioReport(
            source, "embedded", len(waves), len(waves), sample_rate, seconds,
            {"min": seconds, "mean": seconds, "max": seconds}, {str(sample_rate): len(waves)},
            {"1": len(waves)}, {n: counts[i] for i, n in enumerate(names)},
        )  # fmt: skip
        x = torch.from_numpy(np.stack(waves)).float()[:, None, :length]
        return AudioDataset(source, x, torch.tensor(labels), names, report, sample_rate)
    waves, labels, names, report = _read_folder(source, sample_rate, seconds)
    if not waves:
        reasons = Counter(s.reason.split(":")[0] for s in report.skipped)
        why = "; ".join(f"{n} {r}" for r, n in reasons.most_common(3)) or "the folder is empty"
        raise GenforgeError(f"no readable audio clip (WAV/FLAC/OGG) in {source}: {why}")
    if names and len(names) < 2:
        raise GenforgeError(
            f"{source} has a single class folder ({names[0]}); use two or more class "
            "subfolders, or put the clips directly in the folder for unlabeled training"
        )
    x = torch.from_numpy(np.stack(waves)).float()[:, None, :]
    y = torch.tensor(labels) if labels is not None else None
    name = Path(source).expanduser().resolve().name
    return AudioDataset(name, x, y, names, report, sample_rate)


def inspect_audio(source: str) -> AudioReport:
    """Counts, durations, sample rates, channels, classes and skipped files, without decoding
    to a training length."""
    if source in EMBEDDED_AUDIO:
        return load_audio(source).report
    _, _, _, report = _read_folder(source, None, None)
    return report
