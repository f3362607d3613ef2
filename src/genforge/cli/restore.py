"""Image-to-image with diffusion runs: `genforge restore RUN --input IMG (--mask MASK |
--denoise S)` (RePaint inpainting or SDEdit restoration), `genforge upscale RUN --input IMG`
(super-resolution) and `genforge translate RUN --input IMG` (CycleGAN)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from genforge.cli.common import console, user_errors
from genforge.core.errors import GenforgeError
from genforge.core.run import resolve_run


@user_errors
def restore_command(
    run: Annotated[str, typer.Argument(help="A diffusion run (name or path).")],
    input: Annotated[Path, typer.Option("--input", help="The image to restore (model size).")],
    mask: Annotated[
        Path | None,
        typer.Option(help="Inpaint: a mask, light (>=128) where pixels are to be filled."),
    ] = None,
    denoise: Annotated[
        float | None,
        typer.Option(help="SDEdit: noise to this fraction of the chain (0-1), then denoise."),
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="Output PNG (default <input>-restored.png).")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the noise.")] = 0,
    label: Annotated[
        str | None, typer.Option(help="Class name or index (conditional runs).")
    ] = None,
    sampler: Annotated[
        str | None, typer.Option(help="--denoise: ddim (default), ddpm or dpm-solver++.")
    ] = None,
    steps: Annotated[
        int | None, typer.Option(help="Denoising steps (--mask: default 100).")
    ] = None,
    jump_length: Annotated[int, typer.Option(help="--mask: RePaint jump length.")] = 10,
    resample: Annotated[int, typer.Option(help="--mask: RePaint resamplings per jump.")] = 5,
    guidance: Annotated[
        float | None, typer.Option(help="Guidance scale with --label (conditional runs).")
    ] = None,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "auto",
    runs_dir: Annotated[Path | None, typer.Option(help="Where runs live (default ./runs).")] = None,
) -> None:
    """Inpaint (--mask) or restore/denoise (--denoise) an image with a diffusion run."""
    from genforge.generate.diffusion import DiffusionPipeline, read_image, read_mask
    from genforge.generate.image import write_restored

    if (mask is None) == (denoise is None):
        raise GenforgeError("give either --mask MASK.png (inpainting) or --denoise S (SDEdit)")
    if mask is not None and sampler is not None:
        raise GenforgeError("--sampler applies to --denoise; --mask always uses RePaint")
    pipe = DiffusionPipeline(
        resolve_run(run, runs_dir), device, sampler=sampler or "ddim",
        steps=steps if denoise is not None else None, guidance=guidance,
    )  # fmt: skip
    image = read_image(input, pipe.spec.channels, pipe.spec.size)
    if mask is not None:
        hole = read_mask(mask, pipe.spec.size)
        result = pipe.inpaint(image, hole, seed=seed, steps=steps or 100,
                              jump_length=jump_length, resample=resample, label=label)  # fmt: skip
        params = {"kind": "inpaint", "sampler": "repaint", "mask": str(mask), "steps": steps or 100,
                  "jump_length": jump_length, "resample": resample}  # fmt: skip
    else:
        result = pipe.sdedit(image, denoise, seed=seed, label=label)
        params = {"kind": "sdedit", "denoise": denoise}
    out = out or input.with_name(f"{input.stem}-restored.png")
    path = write_restored(pipe, result, out, {**params, "input": str(input), "seed": seed})
    console.print(f"restored image: {path}")


@user_errors
def upscale_command(
    run: Annotated[str, typer.Argument(help="A super-resolution run (genforge train sr).")],
    input: Annotated[Path, typer.Option("--input", help="The low-resolution image.")],
    out: Annotated[
        Path | None, typer.Option(help="Output PNG (default <input>-x<scale>.png).")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the noise.")] = 0,
    sampler: Annotated[
        str | None, typer.Option(help="ddim (default), ddpm or dpm-solver++.")
    ] = None,
    steps: Annotated[int | None, typer.Option(help="Denoising steps.")] = None,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "auto",
    runs_dir: Annotated[Path | None, typer.Option(help="Where runs live (default ./runs).")] = None,
) -> None:
    """Upscale an image with a super-resolution run."""
    from genforge.generate.diffusion import DiffusionPipeline, read_image
    from genforge.generate.image import write_restored

    pipe = DiffusionPipeline(resolve_run(run, runs_dir), device, sampler=sampler or "ddim",
                             steps=steps)  # fmt: skip
    scale = getattr(pipe.model, "scale", None)
    if scale is None:
        raise GenforgeError(
            f"upscaling needs a super-resolution run (genforge train sr ...); run "
            f"'{pipe.run.name}' is a {pipe.model_name}"
        )
    image = read_image(input, pipe.spec.channels, pipe.model.input_size)
    result = pipe.upscale(image, seed=seed)
    out = out or input.with_name(f"{input.stem}-x{scale}.png")
    path = write_restored(pipe, result, out, {"kind": "upscale", "input": str(input), "seed": seed})
    console.print(f"upscaled x{scale}: {path}")


@user_errors
def translate_command(
    run: Annotated[str, typer.Argument(help="A cyclegan run (name or path).")],
    input: Annotated[Path, typer.Option("--input", help="An image of one domain (model size).")],
    out: Annotated[
        Path | None, typer.Option(help="Output PNG (default <input>-<direction>.png).")
    ] = None,
    direction: Annotated[str, typer.Option(help="a2b (first subfolder to second) or b2a.")] = "a2b",
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "auto",
    runs_dir: Annotated[Path | None, typer.Option(help="Where runs live (default ./runs).")] = None,
) -> None:
    """Translate an image to the other domain with a CycleGAN run."""
    from genforge.generate.diffusion import read_image
    from genforge.generate.image import require_translator, translate_image, write_restored
    from genforge.generate.pipeline import ImagePipeline

    if direction not in ("a2b", "b2a"):
        raise GenforgeError(f"--direction must be a2b or b2a, got {direction!r}")
    pipe = ImagePipeline(resolve_run(run, runs_dir), device=device)
    require_translator(pipe)
    image = read_image(input, pipe.spec.channels, pipe.spec.size)
    result = translate_image(pipe, image, direction)
    out = out or input.with_name(f"{input.stem}-{direction}.png")
    names = pipe.spec.class_names
    path = write_restored(pipe, result, out, {"kind": "translate", "input": str(input),
                          "from": names[direction == "b2a"], "to": names[direction == "a2b"]})  # fmt: skip
    console.print(f"translated {names[direction == 'b2a']} -> {names[direction == 'a2b']}: {path}")
