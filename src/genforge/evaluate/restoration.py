"""Evaluate restoration against ground truth on the held-out split training never saw.

    result = evaluate_sr(run)                       # a super-resolution run (genforge train sr)
    metrics, sections, extra = restoration_checks(pipe)   # inpainting + SDEdit on a ddpm run

Super-resolution: each held-out image is downscaled exactly as training made its low-resolution
inputs (`super_resolution.downsample`, box averaging), upscaled by the run's model, and scored
with PSNR/SSIM against the original, next to the bicubic upsampling the model is conditioned
on (the baseline to beat) and nearest-neighbour upsampling.

Restoration on a ddpm/cddpm run (`genforge eval RUN --restoration`), on a few held-out images:

- inpainting (RePaint) of a fixed centre box of half the image side: PSNR of the box against
  the ground truth next to two baselines, the mean of the known pixels and scikit-image's
  biharmonic inpainting; and the largest change of a pixel outside the box (should be ~0).
- SDEdit at strength 0.3 of the images with Gaussian noise added (sigma 0.2 of the pixel range):
  PSNR/SSIM against the clean image next to those of the noisy input itself.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from genforge.core.errors import GenforgeError
from genforge.core.run import Run
from genforge.data.dataset import subset_indices, take
from genforge.evaluate import image_metrics as im
from genforge.evaluate.report import grid_section
from genforge.evaluate.result import EvalResult, Metric, Section
from genforge.models import get_entry, modality_of

SR_N = 256  # held-out images upscaled by default
RESTORE_N = 16  # held-out images inpainted and denoised with --restoration
NOISE_SIGMA = 0.2  # added noise, std in units of the pixel range [0, 1]
SDEDIT_STRENGTH = 0.3
REPAINT_STEPS = 50  # RePaint steps (x jump resampling); --steps overrides


def is_sr_run(cfg: dict[str, Any]) -> bool:
    """True for super-resolution runs (genforge train sr)."""
    return get_entry(cfg["model"]).family.task == "upscale"


def can_restore(cfg: dict[str, Any]) -> bool:
    """True for the diffusion runs `genforge restore` serves: unconditional or class-conditional
    DDPMs (not super-resolution, not text-to-image)."""
    from genforge.models.diffusion import DDPM

    family = get_entry(cfg["model"]).family
    return issubclass(family, DDPM) and family.task == "sample"


def held_out(run: Run, n: int, seed: int) -> tuple[torch.Tensor, int]:
    """At most `n` of the run's held-out images (N, C, H, W) in [-1, 1], split exactly as
    training split them (a seeded subset beyond `n`), and how many are held out in all."""
    split = modality_of(run.read_config()).reload(run)
    val, data_cfg = split.val, split.data_config
    if len(val) == 0:
        raise GenforgeError(
            f"run '{run.name}' holds out no images (val_fraction {data_cfg.val_fraction}); "
            "restoration is scored on held-out images: train with --set val_fraction=0.1"
        )
    x, _ = take(val, subset_indices(len(val), n, seed))
    return x, len(val)


def _both(key: str, what: str, pred: torch.Tensor, truth: torch.Tensor, note: str) -> list[Metric]:
    return [
        Metric(f"psnr_{key}", f"PSNR {what} vs ground truth (dB)", im.psnr(pred, truth),
               "higher", note),
        im.ssim_metric(f"ssim_{key}", f"SSIM {what} vs ground truth", pred, truth, note),
    ]  # fmt: skip


# ---------------------------------------------------------------------------------------
# Super-resolution
# ---------------------------------------------------------------------------------------


@torch.no_grad()
def upscale_all(pipe: Any, lr: torch.Tensor, seed: int, batch: int = 64) -> torch.Tensor:
    """Upscale low-res images (N, C, h, w) in batches; batch i draws its noise from seed + i."""
    out = [
        pipe.upscale(lr[i : i + batch], seed=seed + i // batch) for i in range(0, len(lr), batch)
    ]
    return torch.cat(out)


def evaluate_sr(
    run: Run,
    n: int | None = None,
    seed: int = 0,
    device: str = "auto",
    sampler: str | None = None,
    steps: int | None = None,
) -> EvalResult:
    """PSNR/SSIM of a super-resolution run's upscaling of held-out images (module docstring)."""
    from genforge.generate.diffusion import DiffusionPipeline
    from genforge.models.super_resolution import downsample, upsample

    n = SR_N if n is None else n
    if n < 1:
        raise GenforgeError(f"--n must be at least 1, got {n}")
    if run.read_meta() is None:
        raise GenforgeError(f"run '{run.name}' has no checkpoint yet; train it first")
    truth, total = held_out(run, n, seed)
    pipe = DiffusionPipeline(run, device, sampler=sampler or "ddim", steps=steps)
    s = pipe.model.scale
    lr = downsample(truth, s)  # as training made its inputs
    out = upscale_all(pipe, lr, seed)
    bicubic = upsample(lr, s)  # the model's own condition
    nearest = F.interpolate(lr, scale_factor=s, mode="nearest")
    k, size = len(truth), truth.shape[-1]
    sched = pipe.scheduler()
    how = f"{pipe.sampler}, {len(sched.timesteps)} steps"
    note = f"{k} held-out images, {size // s} → {size} px"
    metrics = [
        *_both("sr", f"x{s} model ({how})", out, truth, note),
        *_both("bicubic", f"x{s} bicubic", bicubic, truth, f"{note}; the baseline to beat"),
        *_both("nearest", f"x{s} nearest", nearest, truth, note),
    ]
    section, grid = grid_section(
        f"Super-resolution x{s}", ["low-res (nearest)", "bicubic", "model", "ground truth"],
        [nearest, bicubic, out, truth], run.path / "upscaled.png",
        {"run": run.name, "step": pipe.step, "kind": "eval-upscale", "seed": seed},
    )  # fmt: skip
    text = (
        f"<p>{k} of the {total} images training held out, box-downsampled x{s} as in training "
        f"and upscaled with {how}, noise seed {seed}.</p>"
    )
    section = Section(section.title, text + section.html)
    extra = {
        "task": "super-resolution",
        "scale": s,
        "sampler": pipe.sampler,
        "steps": len(sched.timesteps),
        "held_out": {"scored": k, "total": total},
        "grids": [grid],
    }
    return EvalResult("image", metrics, [section], extra)


# ---------------------------------------------------------------------------------------
# Inpainting and SDEdit on a ddpm run
# ---------------------------------------------------------------------------------------


def centre_box(size: int) -> torch.Tensor:
    """(1, 1, size, size) mask, 1 on the centre square of half the side (a quarter of the area)."""
    mask = torch.zeros(1, 1, size, size)
    lo = size // 4
    mask[..., lo : lo + size // 2, lo : lo + size // 2] = 1
    return mask


def mean_fill(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Fill the hole with each image's mean of its known pixels, per channel."""
    keep = 1 - mask
    mean = (x * keep).sum((2, 3), keepdim=True) / keep.sum((2, 3), keepdim=True)
    return x * keep + mean * mask


def biharmonic_fill(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """scikit-image's biharmonic inpainting of each image (the classical baseline)."""
    from skimage.restoration import inpaint_biharmonic

    hole = mask[0, 0].numpy().astype(bool)
    out = [
        torch.from_numpy(inpaint_biharmonic(img.permute(1, 2, 0).double().numpy(), hole,
                                            channel_axis=-1)).permute(2, 0, 1)
        for img in x
    ]  # fmt: skip
    return torch.stack(out).float().clamp(-1, 1)


def add_noise(x: torch.Tensor, sigma: float, seed: int) -> torch.Tensor:
    """Gaussian noise of std `sigma` in pixel-range units ([-1, 1] spans 2), clipped."""
    g = torch.Generator().manual_seed(seed)
    return (x + 2 * sigma * torch.randn(x.shape, generator=g)).clamp(-1, 1)


def restoration_checks(
    pipe: Any, images: torch.Tensor, seed: int = 0, steps: int | None = None
) -> tuple[list[Metric], list[Section], dict[str, Any]]:
    """Inpainting and SDEdit denoising of held-out `images` with a ddpm pipeline."""
    k, size = len(images), images.shape[-1]
    mask = centre_box(size)
    hole = mask.expand(k, 1, size, size).bool()
    repaint_steps = steps or REPAINT_STEPS
    filled = pipe.inpaint(images, mask, seed=seed, steps=repaint_steps)
    means, biharm = mean_fill(images, mask), biharmonic_fill(images, mask)

    def in_box(x: torch.Tensor) -> torch.Tensor:
        return x.masked_select(hole.expand_as(x))

    box = f"{k} held-out images, centre box {size // 2}×{size // 2} of {size}×{size}"
    kept = float(((filled - images).abs() * (1 - mask)).max())
    metrics = [
        Metric("psnr_inpaint_box", f"inpainting PSNR in the box, RePaint {repaint_steps} steps "
               "(dB)", im.psnr(in_box(filled), in_box(images)), "higher", box),
        Metric("psnr_inpaint_box_biharmonic", "inpainting PSNR in the box, biharmonic baseline "
               "(dB)", im.psnr(in_box(biharm), in_box(images)), "higher",
               "scikit-image inpaint_biharmonic, same images and box"),
        Metric("psnr_inpaint_box_mean", "inpainting PSNR in the box, mean-fill baseline (dB)",
               im.psnr(in_box(means), in_box(images)), "higher",
               "the box filled with the mean of each image's known pixels"),
        im.ssim_metric("ssim_inpaint", "inpainting SSIM, whole image (RePaint)", filled, images,
                    f"{box}; the known pixels count too, so compare with the baselines"),
        im.ssim_metric("ssim_inpaint_biharmonic", "inpainting SSIM, whole image (biharmonic)",
                    biharm, images, "same images and box"),
        Metric("inpaint_kept_max_abs", "largest change of a pixel outside the box", kept,
               "lower", "RePaint keeps the known pixels; [-1, 1] scale, should be ~0"),
    ]  # fmt: skip
    noisy = add_noise(images, NOISE_SIGMA, seed)
    denoised = pipe.sdedit(noisy, SDEDIT_STRENGTH, seed=seed)
    sched = pipe.scheduler()
    run_steps = max(1, round(len(sched.timesteps) * SDEDIT_STRENGTH))
    noise = f"{k} held-out images + Gaussian noise (sigma {NOISE_SIGMA} of the pixel range)"
    metrics += [
        *_both("sdedit", f"SDEdit {SDEDIT_STRENGTH} ({pipe.sampler}, {run_steps} steps)",
               denoised, images, noise),
        *_both("noisy", "noisy input", noisy, images, "the do-nothing restorer, same noise"),
    ]  # fmt: skip
    params = {"run": pipe.run.name, "step": pipe.step, "seed": seed}
    holed = images * (1 - mask) + mask  # the hole shown white
    s1, g1 = grid_section(
        "Inpainting (RePaint)", ["input with hole", "mean fill", "biharmonic", "RePaint",
                                 "ground truth"],
        [holed, means, biharm, filled, images], pipe.run.path / "inpainted.png",
        {**params, "kind": "eval-inpaint"},
    )  # fmt: skip
    s2, g2 = grid_section(
        f"Denoising (SDEdit {SDEDIT_STRENGTH})", ["noisy", "SDEdit", "ground truth"],
        [noisy, denoised, images], pipe.run.path / "denoised.png",
        {**params, "kind": "eval-sdedit"},
    )  # fmt: skip
    extra = {
        "restoration": {
            "images": k, "box": size // 2, "repaint_steps": repaint_steps,
            "noise_sigma": NOISE_SIGMA, "sdedit_strength": SDEDIT_STRENGTH,
            "sdedit_sampler": pipe.sampler, "sdedit_steps": run_steps, "grids": [g1, g2],
        }
    }  # fmt: skip
    return metrics, [s1, s2], extra


def restoration_result(
    run: Run,
    result: EvalResult,
    seed: int = 0,
    device: str = "auto",
    sampler: str | None = None,
    steps: int | None = None,
    n: int = RESTORE_N,
) -> EvalResult:
    """`result` (a ddpm run's sampling evaluation) with the restoration metrics added."""
    from genforge.generate.diffusion import DiffusionPipeline

    images, _ = held_out(run, n, seed)
    # --steps sets RePaint's steps; SDEdit runs strength x the sampler's default steps
    pipe = DiffusionPipeline(run, device, sampler=sampler or "ddim")
    metrics, sections, extra = restoration_checks(pipe, images, seed, steps)
    return EvalResult(
        result.modality,
        [*result.metrics, *metrics],
        [*result.sections, *sections],
        {**result.extra, **extra},
    )


__all__ = ["can_restore", "evaluate_sr", "is_sr_run", "restoration_checks", "restoration_result"]
