"""Image-to-image with diffusion runs: `genforge restore RUN --input IMG (--mask MASK |
--denoise S)` (RePaint inpainting or SDEdit restoration), `genforge upscale RUN --input IMG`
(super-resolution) and image translation with CycleGAN or pix2pix runs (`translate_image_file`,
which `genforge translate RUN --input IMG` calls)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from genforge.cli.common import call_values, console, default_of, given, user_errors
from genforge.core.errors import GenforgeError
from genforge.core.run import resolve_run
from genforge.generate.diffusion import DiffusionPipeline
from genforge.generate.image import translate_image
from genforge.generate.pipeline import ImagePipeline

INPAINT = DiffusionPipeline.inpaint  # RePaint: its defaults are those of --mask
DEVICE_HELP = "auto, cpu or cuda (default {})."


@user_errors
def restore_command(
    run: Annotated[str, typer.Argument(help="A diffusion run (name or path).")],
    input: Annotated[
        Path | None, typer.Option("--input", help="The image to restore (model size).")
    ] = None,
    clip: Annotated[
        Path | None,
        typer.Option("--clip", help="Video runs: the clip to restore (MP4, WebM, GIF, frames)."),
    ] = None,
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
    seed: Annotated[
        int | None,
        typer.Option(help=f"Seed of the noise (default {default_of(INPAINT, 'seed')})."),
    ] = None,
    label: Annotated[
        str | None, typer.Option(help="Class name or index (conditional runs).")
    ] = None,
    sampler: Annotated[
        str | None, typer.Option(help="--denoise: ddim (default), ddpm or dpm-solver++.")
    ] = None,
    steps: Annotated[
        int | None,
        typer.Option(help=f"Denoising steps (--mask: default {default_of(INPAINT, 'steps')})."),
    ] = None,
    jump_length: Annotated[
        int | None,
        typer.Option(
            help=f"--mask: RePaint jump length (default {default_of(INPAINT, 'jump_length')})."
        ),
    ] = None,
    resample: Annotated[
        int | None,
        typer.Option(
            help="--mask: RePaint resamplings per jump (default "
            f"{default_of(INPAINT, 'resample')})."
        ),
    ] = None,
    guidance: Annotated[
        float | None, typer.Option(help="Guidance scale with --label (conditional runs).")
    ] = None,
    device: Annotated[
        str | None,
        typer.Option(help=DEVICE_HELP.format(default_of(DiffusionPipeline, "device"))),
    ] = None,
    runs_dir: Annotated[Path | None, typer.Option(help="Where runs live (default ./runs).")] = None,
) -> None:
    """Inpaint (--mask) or restore/denoise (--denoise) an image, or a clip (--clip, video
    runs: the mask applies to every frame), with a diffusion run."""
    from genforge.generate.diffusion import read_image, read_mask
    from genforge.generate.image import write_restored

    if (mask is None) == (denoise is None):
        raise GenforgeError("give either --mask MASK.png (inpainting) or --denoise S (SDEdit)")
    if (input is None) == (clip is None):
        raise GenforgeError("give either --input IMAGE or --clip CLIP (video runs)")
    if clip is not None:
        return _restore_clip(run, runs_dir, clip, mask, denoise, out, seed, label, sampler,
                             steps, guidance, device)  # fmt: skip
    if mask is not None and sampler is not None:
        raise GenforgeError("--sampler applies to --denoise; --mask always uses RePaint")
    pipe = DiffusionPipeline(resolve_run(run, runs_dir), guidance=guidance, **given(
        device=device, sampler=sampler, steps=steps if denoise is not None else None,
    ))  # fmt: skip
    image = read_image(input, pipe.spec.channels, pipe.spec.size)
    if mask is not None:
        hole = read_mask(mask, pipe.spec.size)
        kw = call_values(pipe.inpaint, seed=seed, steps=steps or None, jump_length=jump_length,
                         resample=resample)  # fmt: skip
        result = pipe.inpaint(image, hole, label=label, **kw)
        params = {"kind": "inpaint", "sampler": "repaint", "mask": str(mask), "steps": kw["steps"],
                  "jump_length": kw["jump_length"], "resample": kw["resample"]}  # fmt: skip
    else:
        kw = call_values(pipe.sdedit, seed=seed)
        result = pipe.sdedit(image, denoise, label=label, **kw)
        params = {"kind": "sdedit", "denoise": denoise}
    out = out or input.with_name(f"{input.stem}-restored.png")
    path = write_restored(pipe, result, out, {**params, "input": str(input), "seed": kw["seed"]})
    console.print(f"restored image: {path}")


def _restore_clip(run, runs_dir, clip, mask, denoise, out, seed, label, sampler, steps,
                  guidance, device) -> None:  # fmt: skip
    from genforge.generate.video import VideoPipeline, restore_file

    pipe = VideoPipeline(resolve_run(run, runs_dir), **given(
        device=device, sampler=sampler, steps=steps, guidance=guidance))  # fmt: skip
    path = restore_file(pipe, clip, out, denoise, mask, **given(seed=seed, label=label))
    console.print(f"restored clip: {path}")


@user_errors
def upscale_command(
    run: Annotated[str, typer.Argument(help="A super-resolution run (genforge train sr).")],
    input: Annotated[Path, typer.Option("--input", help="The low-resolution image.")],
    out: Annotated[
        Path | None, typer.Option(help="Output PNG (default <input>-x<scale>.png).")
    ] = None,
    seed: Annotated[
        int | None,
        typer.Option(
            help=f"Seed of the noise (default {default_of(DiffusionPipeline.upscale, 'seed')})."
        ),
    ] = None,
    sampler: Annotated[
        str | None, typer.Option(help="ddim (default), ddpm or dpm-solver++.")
    ] = None,
    steps: Annotated[int | None, typer.Option(help="Denoising steps.")] = None,
    device: Annotated[
        str | None,
        typer.Option(help=DEVICE_HELP.format(default_of(DiffusionPipeline, "device"))),
    ] = None,
    runs_dir: Annotated[Path | None, typer.Option(help="Where runs live (default ./runs).")] = None,
) -> None:
    """Upscale an image with a super-resolution run."""
    from genforge.generate.diffusion import read_image
    from genforge.generate.image import write_restored

    pipe = DiffusionPipeline(resolve_run(run, runs_dir), steps=steps,
                             **given(device=device, sampler=sampler))  # fmt: skip
    scale = getattr(pipe.model, "scale", None)
    if scale is None:
        raise GenforgeError(
            f"upscaling needs a super-resolution run (genforge train sr ...); run "
            f"'{pipe.run.name}' is a {pipe.model_name}"
        )
    image = read_image(input, pipe.spec.channels, pipe.model.input_size)
    seed = call_values(pipe.upscale, seed=seed)["seed"]
    result = pipe.upscale(image, seed=seed)
    out = out or input.with_name(f"{input.stem}-x{scale}.png")
    path = write_restored(pipe, result, out, {"kind": "upscale", "input": str(input), "seed": seed})
    console.print(f"upscaled x{scale}: {path}")


def translate_image_file(run, input: Path, out: Path | None, direction: str | None,
                         device: str | None) -> None:  # fmt: skip
    """Translate an image to the other domain with a CycleGAN or pix2pix (a2b only) run."""
    from genforge.generate.diffusion import read_image
    from genforge.generate.image import require_translator, write_restored

    direction = call_values(translate_image, direction=direction)["direction"]
    if direction not in ("a2b", "b2a"):
        raise GenforgeError(f"--direction must be a2b or b2a, got {direction!r}")
    pipe = ImagePipeline(run, **given(device=device))
    require_translator(pipe)
    # a gray sketch may feed an RGB model: two-domain training promoted gray folders likewise
    image = read_image(input, pipe.spec.channels, pipe.spec.size, gray_to_rgb=True)
    result = translate_image(pipe, image, direction)
    out = out or input.with_name(f"{input.stem}-{direction}.png")
    names = pipe.spec.class_names
    path = write_restored(pipe, result, out, {"kind": "translate", "input": str(input),
                          "from": names[direction == "b2a"], "to": names[direction == "a2b"]})  # fmt: skip
    console.print(f"translated {names[direction == 'b2a']} -> {names[direction == 'a2b']}: {path}")
