"""Video runs given a clip: `genforge predict RUN --clip in.mp4` (continue it) and `genforge
interpolate RUN --clip in.mp4 --factor 2` (fill in frames between its frames)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from genforge.cli.common import console, default_of, given, user_errors
from genforge.core.run import resolve_run
from genforge.generate.video import VideoPipeline, interpolate_file, predict_file

Clip = Annotated[Path, typer.Option("--clip", help="Input clip: MP4, WebM, GIF or a frame folder.")]
Seed = Annotated[
    int | None,
    typer.Option(help=f"Seed of the noise (default {default_of(predict_file, 'seed')})."),
]
Label = Annotated[
    str | None,
    typer.Option(
        help="Class name or index (conditional runs; predict: default the class the run's "
        "model reads in the given frames)."
    ),
]
Sampler = Annotated[str | None, typer.Option(help="ddim (default), ddpm or dpm-solver++.")]
Steps = Annotated[int | None, typer.Option(help="Denoising steps (the sampler's default).")]
Guidance = Annotated[
    float | None, typer.Option(help="Conditional runs: classifier-free guidance (0 = none).")
]
Device = Annotated[str | None, typer.Option(help="auto, cpu or cuda (default auto).")]
RunsDir = Annotated[Path | None, typer.Option(help="Where runs live (default ./runs).")]


def _pipeline(run, runs_dir, device, sampler, steps, guidance) -> VideoPipeline:
    return VideoPipeline(resolve_run(run, runs_dir), **given(device=device, sampler=sampler,
                                                             steps=steps, guidance=guidance))  # fmt: skip


@user_errors
def predict_command(
    run: Annotated[str, typer.Argument(help="A vdm run (name or path).")],
    clip: Clip,
    context: Annotated[
        int | None, typer.Option(help="Frames of the clip given (default half the model's).")
    ] = None,
    frames: Annotated[
        int | None,
        typer.Option(
            help="Frames to predict (default the rest of the model's window; more "
            "roll the window forward)."
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(help="Output .mp4, .gif or .png strip (default <clip>-predicted.mp4)."),
    ] = None,
    seed: Seed = None,
    label: Label = None,
    sampler: Sampler = None,
    steps: Steps = None,
    guidance: Guidance = None,
    device: Device = None,
    runs_dir: RunsDir = None,
) -> None:
    """Continue a clip: its first frames given, the next ones predicted (given frames kept
    exactly); scored against the clip's own continuation when it has one."""
    from genforge.evaluate.video import prediction_metrics

    pipe = _pipeline(run, runs_dir, device, sampler, steps, guidance)
    out = out or clip.with_name(f"{clip.stem}-predicted.mp4")
    done = predict_file(pipe, clip, out, **given(context=context, frames=frames, seed=seed,
                                                 label=label))  # fmt: skip
    k = done.given
    console.print(f"{k} frames given + {done.clip.shape[1] - k} predicted "
                  f"({pipe.fps:g} fps): {done.path}")  # fmt: skip
    if done.inferred:
        console.print(f"  class {done.label}: inferred from the given frames (--label to choose)")
    if done.truth is not None:
        n = done.truth.shape[1]
        pred = done.clip[None, :, k : k + n]
        for m in prediction_metrics(pred, done.truth[None], done.clip[None, :, :k]):
            console.print(f"  {m.label}: {m.value:.4g} ({n} frames of the clip's own continuation)")


@user_errors
def interpolate_command(
    run: Annotated[str, typer.Argument(help="A vdm run (name or path).")],
    clip: Clip,
    factor: Annotated[
        int | None,
        typer.Option(
            help="Output frames per input frame (default "
            f"{default_of(interpolate_file, 'factor')}: one new frame between each two)."
        ),
    ] = None,
    max_frames: Annotated[
        int | None,
        typer.Option(
            help=f"Input frames read at most (default "
            f"{default_of(interpolate_file, 'max_frames')})."
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(help="Output .mp4, .gif or .png strip (default <clip>-x<factor>.mp4)."),
    ] = None,
    seed: Seed = None,
    label: Label = None,
    sampler: Sampler = None,
    steps: Steps = None,
    guidance: Guidance = None,
    device: Device = None,
    runs_dir: RunsDir = None,
) -> None:
    """Raise a clip's frame rate by diffusion inpainting along time: the input frames are
    read at the run's fps / factor and kept exactly; the frames between are generated."""
    pipe = _pipeline(run, runs_dir, device, sampler, steps, guidance)
    path, m, n = interpolate_file(pipe, clip, out, **given(factor=factor, max_frames=max_frames,
                                                           seed=seed, label=label))  # fmt: skip
    console.print(f"{m} frames -> {n} frames at {pipe.fps:g} fps: {path}")
