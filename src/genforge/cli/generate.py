"""`genforge generate image --model RUN --prompt "..."`: text-to-image from a trained run."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from genforge.cli.common import console, user_errors
from genforge.core.errors import GenforgeError

app = typer.Typer(help="Generate from a prompt.", no_args_is_help=True)


@app.command("image")
@user_errors
def image_command(
    prompt: Annotated[str, typer.Option(help='What to draw, e.g. "a handwritten seven".')],
    model: Annotated[str | None, typer.Option(help="A text-to-image run (name or path).")] = None,
    n: Annotated[int, typer.Option(help="Images to draw.")] = 8,
    seed: Annotated[int, typer.Option(help="Seed: the same seed gives the same images.")] = 0,
    guidance: Annotated[
        float | None, typer.Option(help="Classifier-free guidance scale (0 = ignore the prompt).")
    ] = None,
    sampler: Annotated[
        str | None, typer.Option(help="ddim (default), ddpm or dpm-solver++.")
    ] = None,
    steps: Annotated[int | None, typer.Option(help="Denoising steps.")] = None,
    out: Annotated[
        Path | None, typer.Option(help="Grid PNG (default in the run's samples/).")
    ] = None,
    out_dir: Annotated[
        Path | None, typer.Option(help="Write one PNG per image into this folder.")
    ] = None,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "auto",
    runs_dir: Annotated[Path | None, typer.Option(help="Where runs live (default ./runs).")] = None,
) -> None:
    """Draw images for a text prompt."""
    from genforge.core.run import resolve_run
    from genforge.generate.diffusion import DiffusionPipeline
    from genforge.generate.image import write_prompt_samples

    if model is None:
        raise GenforgeError("which model? --model RUN (a t2i run: genforge train t2i --data ...)")
    if out is not None and out.suffix.lower() != ".png":
        raise GenforgeError(f"--out must end in .png, got {out.name}")
    pipe = DiffusionPipeline(resolve_run(model, runs_dir), device, sampler=sampler or "ddim",
                             steps=steps, guidance=guidance)  # fmt: skip
    if out is None and out_dir is None:
        out = pipe.run.samples_dir / f"prompt-s{seed}.png"
    paths = write_prompt_samples(pipe, prompt, n, seed=seed, grid=out, out_dir=out_dir)
    if out is not None:
        console.print(f"grid: {paths[0]}")
    if out_dir is not None:
        console.print(f"{len(paths) - (out is not None)} images in {out_dir}")
