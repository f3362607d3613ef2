"""`genforge sample RUN` (grids, single files, latent walks) and `genforge encode RUN`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from genforge.cli.common import (
    call_values,
    console,
    default_of,
    deferred_help,
    given,
    on_off,
    user_errors,
)
from genforge.core.errors import GenforgeError
from genforge.core.progress import Stages
from genforge.core.run import Run, resolve_run
from genforge.generate.options import SampleOptions
from genforge.generate.pipeline import ImagePipeline
from genforge.models import modality_of

S = SampleOptions  # the defaults of `genforge sample`
COUNTS = SampleOptions.COUNTS


def _gate_defaults_shown() -> dict:
    """The gates' defaults, read when `genforge sample --help` is shown (the gates import
    torch, too heavy for every start of genforge)."""
    from genforge.evaluate.audio_gate import AudioLimits
    from genforge.evaluate.gate import gated_sample

    return {"AudioLimits": AudioLimits, "best_of": default_of(gated_sample, "best_of"),
            "min_score": default_of(gated_sample, "min_score")}  # fmt: skip


SampleCommand = deferred_help(_gate_defaults_shown)

# Hard limits of the audio and table gates (genforge.evaluate.audio_gate, table_gate).
MaxClipping = Annotated[
    float | None,
    typer.Option(
        help="Audio gate: reject clips with more clipped samples than this share (default "
        "{AudioLimits.max_clipping})."
    ),
]
MaxSilence = Annotated[
    float | None,
    typer.Option(
        help="Audio gate: reject clips with more silent frames than this share (default "
        "{AudioLimits.max_silence})."
    ),
]
MinSnr = Annotated[
    float | None, typer.Option(help="Audio gate: reject clips below this SNR in dB.")
]
MinDcr = Annotated[
    float | None,
    typer.Option(
        help="Table gate: reject rows this close to a training row or closer (mean per-column "
        "distance, 0-1; default: exact copies)."
    ),
]


@user_errors
def sample_command(
    run: Annotated[str, typer.Argument(help="Run name or path.")],
    n: Annotated[
        int | None,
        typer.Option(
            help=f"Images to draw (default {COUNTS['images']}; {COUNTS['walks']} walk for "
            "--interpolate)."
        ),
    ] = None,
    seed: Annotated[
        int | None,
        typer.Option(help=f"Seed: the same seed gives the same images (default {S.seed})."),
    ] = None,
    label: Annotated[
        str | None, typer.Option(help="Class name or index (conditional models).")
    ] = None,
    truncation: Annotated[
        float | None, typer.Option(help="Resample latents beyond this |z| (e.g. 0.7).")
    ] = None,
    grid: Annotated[Path | None, typer.Option(help="Write a grid PNG here.")] = None,
    out_dir: Annotated[
        Path | None, typer.Option(help="Write one PNG per image into this folder.")
    ] = None,
    nrow: Annotated[int | None, typer.Option(help="Images per grid row.")] = None,
    interpolate: Annotated[
        int | None, typer.Option(help="Latent walk through this many keyframes.")
    ] = None,
    frames: Annotated[
        int | None, typer.Option(help=f"Frames of the latent walk (default {S.frames}).")
    ] = None,
    fps: Annotated[
        int | None, typer.Option(help=f"Frames per second of the walk (default {S.fps}).")
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="Walk output (.gif or .mp4), or a grid .png.")
    ] = None,
    sampler: Annotated[
        str | None, typer.Option(help="Diffusion runs: ddim (default), ddpm or dpm-solver++.")
    ] = None,
    steps: Annotated[
        int | None, typer.Option(help="Diffusion runs: denoising steps (1000/50/20 by sampler).")
    ] = None,
    guidance: Annotated[
        float | None,
        typer.Option(help="Conditional diffusion runs: classifier-free guidance (0 = none)."),
    ] = None,
    eta: Annotated[
        float | None,
        typer.Option(help="ddim sampler: 0 deterministic (default) to 1 (DDPM-like noise)."),
    ] = None,
    best_of: Annotated[
        int | None,
        typer.Option(
            help="Quality gate: draw up to this many candidates per kept image, clip or row "
            "(default {best_of})."
        ),
    ] = None,
    min_score: Annotated[
        float | None,
        typer.Option(
            help="Quality gate: keep candidates scoring at least this (0-1; default {min_score})."
        ),
    ] = None,
    gate: Annotated[
        str | None,
        typer.Option(
            help="Quality gate: auto (default; images: realism, confidence, manifold; audio: "
            "confidence, clipping, silence, SNR; tables: realism), learned (fitted on people's "
            "ratings: genforge gate fit), or both."
        ),
    ] = None,
    max_clipping: MaxClipping = None,
    max_silence: MaxSilence = None,
    min_snr: MinSnr = None,
    min_dcr: MinDcr = None,
    checkpoint: Annotated[
        str | None,
        typer.Option(
            help="last, best (kept by training with --keep-best) or before-feedback (the "
            f"weights before the latest feedback round; default {S.checkpoint})."
        ),
    ] = None,
    device: Annotated[
        str | None, typer.Option(help=f"auto, cpu or cuda (default {S.device}).")
    ] = None,
    ema: Annotated[
        bool | None,
        typer.Option(
            "--ema/--no-ema",
            help=f"Use the EMA weights when the run has them (default {on_off(S.ema)}).",
        ),
    ] = None,
    lora_scale: Annotated[
        float | None,
        typer.Option(
            help="Diffusion runs fine-tuned with --set finetune=lora: adapter strength, 0 "
            "(the --init model alone) to 1 (as trained, the default)."
        ),
    ] = None,
    runs_dir: Annotated[Path | None, typer.Option(help="Where runs live (default ./runs).")] = None,
) -> None:
    """Sample images, table rows, audio or video clips from a trained run (images, rows and
    clips: optionally through a quality gate; video: --out clip.mp4, .gif or a frame-strip
    .png)."""
    found = resolve_run(run, runs_dir)
    opts = SampleOptions(**given(
        n=n, seed=seed, label=label, truncation=truncation, grid=grid, out_dir=out_dir,
        nrow=nrow, interpolate=interpolate, frames=frames, fps=fps, out=out, sampler=sampler,
        steps=steps, guidance=guidance, eta=eta, best_of=best_of, min_score=min_score,
        gate=gate, max_clipping=max_clipping, max_silence=max_silence, min_snr=min_snr,
        min_dcr=min_dcr, checkpoint=checkpoint, device=device, ema=ema, lora_scale=lora_scale,
    ))  # fmt: skip
    modality = modality_of(found.read_config())
    opts.check_for(modality.name)
    modality.handler("sample")(found, opts)


# ---------------------------------------------------------------------------------------
# One writer per modality (the "sample" handler of its entry in genforge.data.modalities)
# ---------------------------------------------------------------------------------------


def sample_images(run: Run, o: SampleOptions) -> None:
    """Image runs: a grid and/or single PNGs, a latent walk (--interpolate), or gated samples."""
    from genforge.generate.image import open_pipeline, write_samples, write_walk

    pipe = open_pipeline(run, o.device, o.ema, o.sampler, o.steps, o.guidance,
                         checkpoint=o.checkpoint, eta=o.eta, lora_scale=o.lora_scale)  # fmt: skip
    if o.interpolate is not None:
        if o.out is None:
            raise GenforgeError("--interpolate needs --out walk.gif or --out walk.mp4")
        path = write_walk(pipe, o.out, o.interpolate, o.frames, fps=o.fps, seed=o.seed,
                          label=o.label, walks=o.count("walks"),
                          truncation=o.truncation)  # fmt: skip
        console.print(f"wrote {o.frames}-frame latent walk: {path}")
        return
    grid = o.grid
    if o.out is not None:
        if o.out.suffix.lower() != ".png":
            raise GenforgeError(
                f"--out without --interpolate writes a grid and must end in .png, got {o.out.name}"
            )
        grid = grid or o.out
    if grid is None and o.out_dir is None:
        suffix = f"-label{o.label}" if o.label is not None else ""
        grid = pipe.run.samples_dir / f"sample-s{o.seed}{suffix}.png"
    n = o.count("images")
    if o.best_of is not None or o.min_score is not None or o.gate is not None:
        _gated(pipe, n, o, grid)
        return
    with Stages.for_console(console, title=f"sample {run.name}") as st:
        st.stage(f"sampling {n} images", total=n)
        paths = write_samples(pipe, n, seed=o.seed, label=o.label, truncation=o.truncation,
                              grid=grid, out_dir=o.out_dir, nrow=o.nrow,
                              progress=st.callback())  # fmt: skip
    if grid is not None:
        console.print(f"grid: {paths[0]}")
    if o.out_dir is not None:
        console.print(f"{len(paths) - (grid is not None)} images in {o.out_dir}")


def sample_table(run: Run, o: SampleOptions) -> None:
    """Table runs: `--n` rows into the CSV `--out` (default samples/sample-s<seed>.csv),
    optionally through the table gate (--best-of, --min-score, --gate, --min-dcr)."""
    from genforge.core.io import write_text
    from genforge.generate.table import TablePipeline, write_table

    pipe = TablePipeline(run, device=o.device, use_ema=o.ema)
    out = o.out or run.samples_dir / f"sample-s{o.seed}.csv"
    if out.suffix.lower() != ".csv":
        raise GenforgeError(
            f"a table sample is written as CSV; --out must end in .csv, got {out.name}"
        )
    count = o.count("rows")
    if not o.gated():
        path = write_table(pipe, count, out, seed=o.seed)
        console.print(f"{count} synthetic rows: {path}")
        return
    from genforge.evaluate.table_gate import TableLimits, gated_rows

    best_of, min_score = _gate_defaults(gated_rows, o)
    with console.status("preparing the table gate (real-vs-synthetic classifier) ..."):
        kept, _, stats = gated_rows(pipe, count, best_of, min_score, seed=o.seed,
                                    gate=o.gate or "auto",
                                    limits=TableLimits(**given(min_dcr=o.min_dcr)))  # fmt: skip
    write_text(out, kept.to_csv(index=False))
    _report_gate("table", stats, "rows")
    console.print(f"{len(kept)} synthetic rows: {out}")


def sample_audio(run: Run, o: SampleOptions) -> None:
    """Audio runs: `--n` WAV files into `--out-dir` plus a spectrogram grid PNG, optionally
    through the audio gate (--best-of, --min-score, --gate, --max-clipping, --max-silence,
    --min-snr)."""
    from genforge.generate.audio import AudioPipeline, save_clips, write_clips

    pipe = AudioPipeline(run, device=o.device, use_ema=o.ema)
    if o.out is not None and o.out.suffix.lower() != ".png":
        raise GenforgeError(
            f"for audio runs --out is the spectrogram grid (.png), got {o.out.name}"
        )
    folder = o.out_dir or run.samples_dir / f"sample-s{o.seed}"
    if not o.gated():
        wavs, grid = write_clips(pipe, o.count("clips"), folder, seed=o.seed, label=o.label,
                                 grid=o.out)  # fmt: skip
    else:
        from genforge.evaluate.audio_gate import AudioLimits, gated_clips

        best_of, min_score = _gate_defaults(gated_clips, o)
        limits = AudioLimits(**given(max_clipping=o.max_clipping, max_silence=o.max_silence,
                                     min_snr_db=o.min_snr))  # fmt: skip
        with console.status("preparing the audio gate (domain networks) ..."):
            waves, labels, _, stats = gated_clips(pipe, o.count("clips"), best_of, min_score,
                                                  seed=o.seed, label=o.label,
                                                  gate=o.gate or "auto", limits=limits)  # fmt: skip
        _report_gate("audio", stats, "clips")
        params = {"run": run.name, "seed": o.seed, "kind": "sample", "n": o.count("clips"),
                  "best_of": best_of, "min_score": min_score,
                  "gate": ",".join(stats["components"])}  # fmt: skip
        if not len(waves):
            return
        wavs, grid = save_clips(pipe, waves, labels, folder, params, o.out)
    console.print(f"{len(wavs)} clips ({pipe.sample_rate} Hz, {pipe.seconds:g} s) in {folder}")
    console.print(f"spectrograms: {grid}")


def _gate_defaults(fn, o: SampleOptions) -> tuple[int, float]:
    """--best-of and --min-score, each from the gate function's default when not given."""
    values = call_values(fn, best_of=o.best_of, min_score=o.min_score)
    return values["best_of"], values["min_score"]


def _report_gate(kind: str, stats: dict, what: str) -> None:
    """The audio and table gates' outcome in plain words, the limits' rejections, and a
    warning when fewer were kept than asked for."""
    console.print(f"{kind} gate ({' + '.join(stats['components'])}): {gate_summary(stats)}")
    if stats["rejected"]:
        why = "; ".join(f"{c} x {r}" for r, c in sorted(stats["rejected"].items()))
        console.print(f"  rejected by the limits whatever their score: {why}")
    if stats["accepted"] < stats["requested"]:
        console.print(
            f"[yellow]warning[/]: only {stats['accepted']} of {stats['requested']} {what} had a "
            f"candidate within the limits scoring at least {stats['min_score']:g} among "
            f"{stats['best_of']}; lower --min-score, relax the limits or raise --best-of"
        )


def sample_video(run: Run, o: SampleOptions) -> None:
    """Video runs: `--n` clips into `--out`: an MP4 or GIF (the clips tiled frame by frame) or a
    frame-strip PNG (a row per clip); default samples/sample-s<seed>.mp4."""
    from genforge.generate.video import VideoPipeline, write_clips

    if o.gated():
        raise GenforgeError(
            "video runs have no quality gate yet; drop --best-of/--min-score/--gate"
        )
    pipe = VideoPipeline(run, o.device, o.ema, **given(sampler=o.sampler, steps=o.steps,
                                                       guidance=o.guidance))  # fmt: skip
    out = o.out or run.samples_dir / f"sample-s{o.seed}.mp4"
    n = o.count("clips")
    with Stages.for_console(console, title=f"sample {run.name}") as st:
        st.stage(f"sampling {n} clips", total=n)
        path, _ = write_clips(pipe, n, out, seed=o.seed, label=o.label, progress=st.callback())
    s = pipe.spec
    console.print(f"{n} clips ({s.frames} frames at {s.fps:g} fps, {s.size}x{s.size}): {path}")


def sample_text(run: Run, o: SampleOptions) -> None:
    """Text runs decode from a prompt, with their own options: `genforge generate text`."""
    raise GenforgeError(
        f"run '{run.name}' is a text model; generate with: genforge generate text "
        f"{run.name} --prompt TEXT --n {o.n or 4} --do-sample (all decoding options: --help)"
    )


def sample_pairs(run: Run, o: SampleOptions) -> None:
    """Text-to-text runs map a given source to its output: `genforge translate`."""
    raise GenforgeError(
        f"run '{run.name}' translates text; use: genforge translate {run.name} --text TEXT "
        "(or --file in.txt --out out.txt; summarisation runs: genforge summarize)"
    )


def _gated(pipe: ImagePipeline, n: int, o: SampleOptions, grid: Path | None) -> None:
    """--best-of/--min-score: keep the candidates the quality gate passes (its defaults fill in
    the one not given)."""
    from genforge.evaluate.gate import gated_sample
    from genforge.evaluate.image import ImageEvaluator
    from genforge.generate.image import write_images

    best_of = o.best_of or default_of(gated_sample, "best_of")
    min_score = call_values(gated_sample, min_score=o.min_score)["min_score"]
    seed, label, truncation, out_dir, nrow = o.seed, o.label, o.truncation, o.out_dir, o.nrow
    with console.status("preparing the quality scorer (feature space, real references) ..."):
        ev = ImageEvaluator(pipe.run, pipeline=pipe)
    result = gated_sample(ev, n, best_of, min_score, seed=seed, label=label, truncation=truncation,
                          gate=o.gate or "auto")  # fmt: skip
    stats = result.summary()
    params = {
        "seed": seed, "n": n, "truncation": truncation, "best_of": best_of,
        "min_score": min_score, "gate": ",".join(result.components),
    }  # fmt: skip
    paths = write_images(pipe, result.images, result.labels, params, grid, out_dir, nrow,
                         scores=result.scores)  # fmt: skip
    console.print(f"quality gate ({' + '.join(result.components)}): {gate_summary(stats)}")
    if stats["rejected_opted_out"]:
        console.print(f"  rejected {stats['rejected_opted_out']} candidates perceptually close to "
                      "a work on the opt-out list")  # fmt: skip
    if len(result.images) < n:
        console.print(
            f"[yellow]warning[/]: only {len(result.images)} of {n} images reached score "
            f"{min_score} within {n * best_of} candidates; lower --min-score or raise --best-of"
        )
    if grid is not None and len(result.images):
        console.print(f"grid: {paths[0]}")
    if out_dir is not None:
        console.print(f"{len(result.images)} images in {out_dir}")


def gate_summary(stats: dict) -> str:
    """The gate's outcome in plain words: how many were kept, how many were drawn to find
    them, and how many of those cleared the bar (more can clear it than are kept)."""
    drawn, kept, bar = stats["candidates"], stats["accepted"], stats["min_score"]
    passed = round(stats["acceptance_rate"] * drawn)
    return (
        f"kept {kept} of {stats['requested']} requested; drew {drawn} candidates to find them, "
        f"and {passed} of the {drawn} ({stats['acceptance_rate']:.1%}) scored at least {bar:g}; "
        f"candidate scores p10 {stats['score_p10']:.3f} / p50 {stats['score_p50']:.3f} / "
        f"p90 {stats['score_p90']:.3f}"
    )


@user_errors
def encode_command(
    run: Annotated[str, typer.Argument(help="A VAE run (name or path).")],
    data: Annotated[str, typer.Option(help="Image folder or embedded set to encode.")],
    out: Annotated[
        Path, typer.Option(help="Output .npz (mu, logvar, labels, class_names, files).")
    ],
    recon_grid: Annotated[
        Path | None, typer.Option(help="Also write originals/reconstructions PNG.")
    ] = None,
    device: Annotated[
        str | None,
        typer.Option(help=f"auto, cpu or cuda (default {default_of(ImagePipeline, 'device')})."),
    ] = None,
    runs_dir: Annotated[Path | None, typer.Option(help="Where runs live (default ./runs).")] = None,
) -> None:
    """Encode images to VAE latents (dimensionality reduction)."""
    from genforge.generate.image import encode_images

    pipe = ImagePipeline(resolve_run(run, runs_dir), **given(device=device))
    path, count = encode_images(pipe, data, out, recon_grid=recon_grid)
    console.print(f"encoded {count} images to {pipe.model.latent_dim}-d latents: {path}")
    if recon_grid is not None:
        console.print(f"reconstructions: {recon_grid}")
