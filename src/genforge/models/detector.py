"""A real-vs-generated image detector: a small CNN trained by the shared trainer on a folder
with two class subfolders, `generated/` and `real/` (Wang et al. 2020, "CNN-generated images
are surprisingly easy to spot... for now", arXiv:1912.11035).

What makes such a detector survive images in the wild is its training augmentation: each
training image is, at random, resized down and back, cropped, blurred and JPEG re-compressed
(Wang et al. train with blur and JPEG each at p = 0.5, sigma ~ U[0, 3], quality ~ U[30, 100]),
so the detector cannot rely on the pristine high-frequency traces that any re-encoding wipes.

The family is an `ImageModel` whose task is "detect": it classifies rather than samples.
`prob_generated(x)` gives P(generated) per image; evaluation (evaluate/detector.py) measures
AUC, accuracy and a threshold calibrated to a false-positive rate on real held-out images.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageFilter
from torch import nn

from genforge.core.errors import GenforgeError
from genforge.data.dataset import ImageSpec
from genforge.models.base import Batch, ImageModel

GENERATED, REAL = "generated", "real"  # the class subfolders a detector learns from

# ---------------------------------------------------------------------------------------
# Augmentations (Wang et al. 2020): resize, crop, blur, JPEG re-compression
# ---------------------------------------------------------------------------------------


def to_pil(x: torch.Tensor) -> Image.Image:
    """(C, H, W) in [-1, 1] -> an 8-bit PIL image (L or RGB)."""
    arr = ((x.detach().float().cpu().clamp(-1, 1) + 1) * 127.5).round().byte().numpy()
    return Image.fromarray(arr[0]) if arr.shape[0] == 1 else Image.fromarray(arr.transpose(1, 2, 0))


def from_pil(im: Image.Image, channels: int) -> torch.Tensor:
    arr = np.asarray(im.convert("L" if channels == 1 else "RGB"), np.float32) / 127.5 - 1
    return torch.from_numpy(arr[None] if channels == 1 else arr.transpose(2, 0, 1).copy())


def jpeg(im: Image.Image, quality: int) -> Image.Image:
    """The image after one JPEG encode/decode at `quality`."""
    buf = io.BytesIO()
    im.save(buf, format="JPEG", quality=int(quality))
    buf.seek(0)
    out = Image.open(buf)
    out.load()
    return out


def rescale(im: Image.Image, factor: float) -> Image.Image:
    """Resized by `factor` and back to its size (detail lost at the smaller size)."""
    w, h = im.size
    small = im.resize((max(1, round(w * factor)), max(1, round(h * factor))), Image.BILINEAR)
    return small.resize((w, h), Image.BILINEAR)


def augment_image(im: Image.Image, cfg: DetectorConfig, u: Callable[[], float]) -> Image.Image:
    """One training image through the augmentations, each applied with its probability;
    `u()` draws from U[0, 1) (the seeded torch generator)."""
    w, h = im.size
    if u() < cfg.p_flip:
        im = im.transpose(Image.FLIP_LEFT_RIGHT)
    if u() < cfg.p_crop:  # a random crop of 75-100 % of the side, back to the size
        side = round(w * (0.75 + 0.25 * u()))
        x0, y0 = int(u() * (w - side + 1)), int(u() * (h - side + 1))
        im = im.crop((x0, y0, x0 + side, y0 + side)).resize((w, h), Image.BILINEAR)
    if u() < cfg.p_resize:
        im = rescale(im, cfg.resize_min + (1 - cfg.resize_min) * u())
    if u() < cfg.p_blur:
        im = im.filter(ImageFilter.GaussianBlur(radius=cfg.blur_max * u()))
    if u() < cfg.p_jpeg:
        lo, hi = cfg.jpeg_quality
        im = jpeg(im, lo + (hi - lo) * u())
    return im


def augment_batch(x: torch.Tensor, cfg: DetectorConfig) -> torch.Tensor:
    """The augmentations applied to each image of a (B, C, H, W) batch (on the CPU, in PIL)."""
    u = lambda: float(torch.rand(()))  # noqa: E731 - the global generator, seeded by the trainer
    out = [from_pil(augment_image(to_pil(img), cfg, u), x.shape[1]) for img in x]
    return torch.stack(out).to(x.device, x.dtype)


# ---------------------------------------------------------------------------------------
# Network
# ---------------------------------------------------------------------------------------


class DetectorNet(nn.Module):
    """Conv blocks (the first at full resolution, where generator traces live), halving the
    size down to 4x4, then global average pooling and one logit: generated vs real."""

    def __init__(self, channels: int, size: int, width: int, norm: str = "group"):
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(channels, width, 3, 1, 1), nn.LeakyReLU(0.2)]
        c, s = width, size
        while s > 4:
            w = min(c * 2, width * 8)
            layers += [nn.Conv2d(c, w, 4, 2, 1), *_norm(norm, w), nn.LeakyReLU(0.2)]
            c, s = w, s // 2
        self.features = nn.Sequential(*layers)  # (B, c, 4, 4) or smaller
        self.head = nn.Linear(c, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x).mean((2, 3))).squeeze(1)  # (B,) logits


def _norm(kind: str, c: int) -> list[nn.Module]:
    # "batch" (statistics of clean images only, Detector.training_step) learned a DCGAN's
    # digits better than "group" (held-out AUC 0.80 against 0.58) but its photos worse (0.95
    # against 0.998): docs/benchmarks.md, "Detecting generated content"
    if kind == "batch":
        return [nn.BatchNorm2d(c)]
    return [nn.GroupNorm(min(8, c // 4), c)] if kind == "group" else []


def use_running_stats(net: nn.Module, on: bool) -> None:
    """BatchNorm normalises with its running statistics (on) or the batch's own (off)."""
    for m in net.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.train(not on)


# ---------------------------------------------------------------------------------------
# Config and family
# ---------------------------------------------------------------------------------------


@dataclass
class DetectorConfig:
    width: int = 32
    norm: Literal["group", "batch", "none"] = "group"  # "batch": see Detector.training_step
    p_flip: float = 0.5
    p_crop: float = 0.5
    p_resize: float = 0.5
    resize_min: float = 0.5  # resized to 50-100 % of its size and back
    p_blur: float = 0.5  # Wang et al.: blur at p = 0.5, sigma ~ U[0, 3]
    blur_max: float = 3.0
    p_jpeg: float = 0.5  # Wang et al.: JPEG at p = 0.5, quality ~ U[30, 100]
    jpeg_quality: tuple[int, int] = (30, 100)


class Detector(ImageModel):
    """Real-vs-generated classifier over the two classes `generated` and `real`."""

    Config = DetectorConfig
    task = "detect"
    supported_sizes = (8, 16, 32, 64, 128, 256)

    def __init__(self, config: DetectorConfig, spec: ImageSpec):
        super().__init__(config, spec)
        names = list(spec.class_names)
        if sorted(names) != [GENERATED, REAL]:
            raise GenforgeError(
                "a detector learns from a folder with two class subfolders, generated/ and "
                f"real/ (genforge train detector --real FOLDER --fake RUN_OR_FOLDER); got "
                f"classes {names or 'none'}"
            )
        self.generated_index = names.index(GENERATED)
        self.net = DetectorNet(spec.channels, spec.size, config.width, config.norm)

    def networks(self) -> dict[str, nn.Module]:
        return {"net": self.net}

    def sampling_network(self) -> str:
        return "net"

    def training_step(
        self,
        nets: dict[str, nn.Module],
        opts: dict[str, torch.optim.Optimizer],
        next_batch: Callable[[], Batch],
        accelerator: Any,
    ) -> dict[str, torch.Tensor]:
        clean, labels = next_batch()
        target = (labels == self.generated_index).float()
        net = nets["net"]
        # (1) Augment as the wild will: resize, crop, blur, JPEG (Wang et al. 2020)
        x = augment_batch(clean, self.config)
        # (2) BatchNorm's running statistics from the clean images, and the augmented ones
        # normalised with them: training then fits the very function that evaluation runs
        # (statistics of augmented batches shifted every clean image's logit at evaluation)
        if self.config.norm == "batch":
            with torch.no_grad():
                net(clean)  # (B,) logits unused; updates the running statistics
        use_running_stats(net, True)
        logits = net(x)  # (B,)
        use_running_stats(net, False)
        # (3) Minimise the binary cross-entropy of "generated"
        loss = F.binary_cross_entropy_with_logits(logits.float(), target)
        opts["net"].zero_grad(set_to_none=True)
        accelerator.backward(loss)
        opts["net"].step()
        acc = ((logits.detach() > 0).float() == target).float().mean()
        return {"loss": loss.detach(), "accuracy": acc}

    @torch.no_grad()
    def prob_generated(self, x: torch.Tensor, net: nn.Module | None = None) -> torch.Tensor:
        """P(generated) of each image of a (B, C, H, W) batch in [-1, 1], as (B,)."""
        return torch.sigmoid((net or self.net)(x).float())

    # -- a detector does not sample ----------------------------------------------------------
    def latent(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        raise GenforgeError(
            "a detector run classifies images rather than sampling them: genforge detect "
            "FILE --detector RUN"
        )
