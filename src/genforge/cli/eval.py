"""`genforge eval RUN` (metrics + report.html) and `genforge compare RUN RUN ...`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from genforge.cli.common import console, default_of, given, user_errors
from genforge.core.progress import Stages
from genforge.core.run import resolve_run
from genforge.evaluate.compare import compare_runs


def _print_metrics(result) -> None:
    from rich.table import Table

    from genforge.evaluate.report import fmt

    table = Table("metric", "value", "better", "how", show_lines=False)
    for m in result.metrics:
        table.add_row(m.label, fmt(m.value), m.better or "", m.note)
    console.print(table)


@user_errors
def eval_command(
    run: Annotated[str, typer.Argument(help="Run name or path.")],
    real: Annotated[
        Path | None, typer.Option(help="Held-out folder to compare with (default: training data).")
    ] = None,
    n: Annotated[
        int | None,
        typer.Option(
            help="Samples to generate (default 1000); cyclegan/pix2pix: held-out images "
            "translated per domain, at most; sr: held-out images upscaled (default 256); "
            "text-to-text: held-out pairs decoded (default 500); lora: samples before and "
            "after the adapters (default 64 each)."
        ),
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Sampling seed (default 0).")] = None,
    features: Annotated[
        str | None,
        typer.Option(
            help="Image feature space: auto, domain or inception (default auto); lora runs: "
            "auto, clip, inception or vae."
        ),
    ] = None,
    inception_weights: Annotated[
        Path | None, typer.Option(help="pt_inception-2015-12-05-6726825d.pth (never downloaded).")
    ] = None,
    utility: Annotated[
        bool | None,
        typer.Option(
            "--utility/--no-utility",
            help="Downstream classifier utility (default: on for conditional image models).",
        ),
    ] = None,
    domain_steps: Annotated[
        int | None,
        typer.Option(help="Training steps of the domain feature network (default 800; cached)."),
    ] = None,
    restoration: Annotated[
        bool,
        typer.Option(
            "--restoration",
            help="ddpm/cddpm runs: also inpaint (RePaint) and denoise (SDEdit) 16 held-out "
            "images, scored against them.",
        ),
    ] = False,
    sampler: Annotated[
        str | None,
        typer.Option(
            help="sr runs and --restoration's SDEdit: ddim (default), ddpm, dpm-solver++."
        ),
    ] = None,
    steps: Annotated[
        int | None,
        typer.Option(
            help="sr runs: denoising steps (sampler default); --restoration: RePaint "
            "steps (default 50); lora: denoising steps (default: the run's sample_steps)."
        ),
    ] = None,
    num_beams: Annotated[
        int | None, typer.Option(help="Text-to-text runs: beam width when decoding (default 4).")
    ] = None,
    clip: Annotated[
        Path | None,
        typer.Option(
            "--clip",
            help="lora runs: a local CLIPModel folder (safetensors, tokenizer, processor) for "
            "the CLIP score and CLIP-I; never downloaded.",
        ),
    ] = None,
    device: Annotated[str | None, typer.Option(help="auto, cpu or cuda.")] = None,
    out: Annotated[Path | None, typer.Option(help="Report path (default RUN/report.html).")] = None,
    runs_dir: Annotated[Path | None, typer.Option(help="Where runs live (default ./runs).")] = None,
    eval_fake: Annotated[
        str | None,
        typer.Option(help="Detector runs: images of an unseen generator (folder or run)."),
    ] = None,
    fpr: Annotated[
        float | None,
        typer.Option(help="Detector runs: false-positive rate to calibrate to (default 0.05)."),
    ] = None,
) -> None:
    """Evaluate a run: metrics with their feature space named, audit, report.html."""
    from genforge.evaluate import evaluate_run
    from genforge.evaluate.report import write_report

    r = resolve_run(run, runs_dir)
    options = given(
        real=real, n=n, seed=seed, features=features, inception_weights=inception_weights,
        utility=utility, device=device, domain_steps=domain_steps,
        restoration=restoration or None, sampler=sampler, steps=steps, num_beams=num_beams,
        eval_fake=eval_fake, target_fpr=fpr, clip=clip,
    )  # fmt: skip
    with Stages.for_console(console, title=f"eval {r.name}") as stages:
        result = evaluate_run(r, progress=stages, **options)
    path = write_report(r, result, out)
    _print_metrics(result)
    console.print(f"report: {path}")
    console.print(f"metrics: {path.with_name('metrics.json')}")


@user_errors
def compare_command(
    runs: Annotated[list[str], typer.Argument(help="Two or more runs (names or paths).")],
    out: Annotated[
        Path | None,
        typer.Option(help=f"Output HTML page (default {default_of(compare_runs, 'out')})."),
    ] = None,
    evaluate: Annotated[
        bool, typer.Option(help="Evaluate runs that have no metrics.json yet.")
    ] = True,
    runs_dir: Annotated[Path | None, typer.Option(help="Where runs live (default ./runs).")] = None,
) -> None:
    """Compare runs side by side: metrics table, training curves, samples."""
    from rich.table import Table

    from genforge.core.errors import GenforgeError
    from genforge.evaluate import evaluate_run
    from genforge.evaluate.report import fmt, read_eval, write_report

    if len(runs) < 2:
        raise GenforgeError("compare needs at least two runs")
    resolved = [resolve_run(r, runs_dir) for r in runs]
    evaluations = {}
    for r in resolved:
        ev = read_eval(r)
        if ev is None and evaluate and r.read_meta() is not None:
            with Stages.for_console(console, title=f"eval {r.name} (no metrics.json yet)") as st:
                write_report(r, evaluate_run(r, progress=st))
            ev = read_eval(r)
        evaluations[r.name] = ev or {}
    path = compare_runs(resolved, evaluations, **given(out=out))
    table = Table("metric", *[r.name for r in resolved])
    keys: dict[str, str] = {}
    for ev in evaluations.values():
        for m in ev.get("metrics", []):
            keys.setdefault(m["key"], m["label"])
    for key, label in keys.items():
        vals = [evaluations[r.name].get("values", {}).get(key) for r in resolved]
        table.add_row(label, *["—" if v is None else fmt(v) for v in vals])
    console.print(table)
    console.print(f"comparison: {path}")
