"""`genforge recipe NAME`: vertical workflows (medical augmentation, finance reports, characters).

Each command is thin: parse options, call `genforge.recipes.<name>.run(...)`, print where the
report and the Run are. One section per recipe below, in this order.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from genforge.cli.common import console, user_errors

app = typer.Typer(
    help="Vertical recipes: one command from data to a report with a verdict and a normal Run.",
    no_args_is_help=True,
)

# --- medical-augment ------------------------------------------------------------------------


@app.command("medical-augment")
@user_errors
def medical_augment(
    data: Annotated[
        str,
        typer.Option(help="A folder with one subfolder per class (PNG/JPEG/DICOM), or 'phantoms'."),
    ] = "phantoms",
    out: Annotated[Path, typer.Option(help="The augmented dataset folder (new or empty).")] = Path(
        "augmented"
    ),
    target_per_class: Annotated[
        int, typer.Option(help="Images per class in the output, real + synthetic.")
    ] = 1000,
    real_per_class: Annotated[
        int | None,
        typer.Option(help="Use only this many real training images per class (benchmarks)."),
    ] = None,
    image_size: Annotated[int, typer.Option(help="Image side in pixels (8..128).")] = 64,
    generator: Annotated[str, typer.Option(help="auto (by data size), cgan or cddpm.")] = "auto",
    steps: Annotated[
        int | None, typer.Option(help="Generator training steps (default: cgan 3000, cddpm 4000).")
    ] = None,
    batch_size: Annotated[int, typer.Option(help="Generator training batch size.")] = 64,
    seeds: Annotated[int, typer.Option(help="Classifier seeds of the utility test.")] = 5,
    classifier: Annotated[
        str, typer.Option(help="Utility classifier: pooled (global max pooling CNN) or domain.")
    ] = "pooled",
    classifier_steps: Annotated[
        int, typer.Option(help="Training steps of each utility classifier (and label filter).")
    ] = 1000,
    heldout: Annotated[
        float, typer.Option(help="Share of each class's real images held out for the test.")
    ] = 0.25,
    window: Annotated[
        str | None,
        typer.Option(help="DICOM VOI window center,width (e.g. 40,400); default: the file's."),
    ] = None,
    quality_filter: Annotated[
        str,
        typer.Option(
            help="label: drop implausible samples and those that classifiers trained on the "
            "real training images do not see as their class; implausible: only drop samples "
            "farther from every training image than any held-out real image; none: keep both."
        ),
    ] = "label",
    pdf: Annotated[bool, typer.Option("--pdf", help="Also write report.pdf.")] = False,
    name: Annotated[str | None, typer.Option(help="Name of the generator's run.")] = None,
    run_name: Annotated[
        str | None,
        typer.Option(
            "--run",
            help="Sample from this existing cgan/cddpm run instead of training one; it must have "
            "trained on exactly this recipe's training images (same --data, --real-per-class, "
            "--heldout, --image-size, --seed).",
        ),
    ] = None,
    seed: Annotated[int, typer.Option(help="Seeds the split, the training and the sampling.")] = 0,
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", help="Generator config keys: --set ngf=32 --set ndf=32."),
    ] = None,
    runs_dir: Annotated[Path | None, typer.Option(help="Where runs live (default ./runs).")] = None,
) -> None:
    """Augment a small labeled medical image set with audited, marked synthetic images, and
    measure whether they help a classifier on held-out real images."""
    from genforge.cli.common import show_progress
    from genforge.core.config import parse_overrides
    from genforge.data.dicom import parse_window
    from genforge.recipes.medical import MedicalConfig, run

    cfg = MedicalConfig(
        data=data, out=str(out), target_per_class=target_per_class, real_per_class=real_per_class,
        heldout_fraction=heldout, image_size=image_size, generator=generator, steps=steps,
        batch_size=batch_size, quality_filter=quality_filter, seeds=seeds, classifier=classifier,
        classifier_steps=classifier_steps, window=parse_window(window), pdf=pdf,
        name=name, run=run_name, runs_dir=str(runs_dir) if runs_dir else None, seed=seed,
        model_options=parse_overrides(set_ or []),
    )  # fmt: skip
    result = run(cfg, log=lambda m: console.print(m, highlight=False), progress=show_progress())
    word = {"ok": "[green]PASS[/]", "warn": "[yellow]CAUTION[/]", "bad": "[red]FAIL[/]"}
    from genforge.recipes.medical import verdict_of

    v = verdict_of(result.summary)
    console.print(f"{word[v.level]}: {v.headline}")
    for r in v.reasons[:3]:
        console.print(f"  {r}", highlight=False)
    console.print(f"dataset: {result.out}  (manifest.csv, {result.summary['files']} files)")
    console.print(f"report:  {', '.join(map(str, result.report))}")
    console.print(f"run:     {result.run.path}")


# --- finance-report -------------------------------------------------------------------------


@app.command("finance-report")
@user_errors
def finance_report(
    prices: Annotated[
        Path | None,
        typer.Option(
            help="Prices CSV, long form: date,ticker,close[,open,high,low,volume] "
            "(ticker may be left out for one series)."
        ),
    ] = None,
    fundamentals: Annotated[
        Path | None,
        typer.Option(
            help="Fundamentals CSV: ticker,period,revenue,net_income,eps,book_value,"
            "shares,debt,equity (any subset)."
        ),
    ] = None,
    company: Annotated[
        str,
        typer.Option(
            help="Company name for the title (and the ticker of a file without a ticker column)."
        ),
    ] = "",
    out: Annotated[Path, typer.Option(help="Report file (.html).")] = Path("finance-report.html"),
    pdf: Annotated[bool, typer.Option(help="Also write the report as PDF.")] = False,
    demo: Annotated[bool, typer.Option(help="Use the embedded SYNTHETIC market.")] = False,
    seed: Annotated[int, typer.Option(help="Seed (demo market, writer, CTGAN).")] = 0,
    lm: Annotated[
        str | None,
        typer.Option(
            help="Local transformers causal LM folder to "
            "write the prose (default: train an n-gram)."
        ),
    ] = None,
    text_run: Annotated[
        str | None, typer.Option(help="An existing genforge text run to write the prose.")
    ] = None,
    drafts: Annotated[
        int, typer.Option(help="Drafts per sentence; the checker keeps the best.")
    ] = 3,
    stress_steps: Annotated[int, typer.Option(help="CTGAN training steps.")] = 300,
    stress_samples: Annotated[int, typer.Option(help="Synthetic days to sample.")] = 5000,
    runs_dir: Annotated[Path | None, typer.Option(help="Where runs live (default ./runs).")] = None,
) -> None:
    """Facts, plots, fact-checked prose and SYNTHETIC stress scenarios from price data."""
    from genforge.recipes.finance import FinanceConfig, run

    cfg = FinanceConfig(
        prices=str(prices) if prices else None,
        fundamentals=str(fundamentals) if fundamentals else None,
        company=company, out=str(out), pdf=pdf, demo=demo, seed=seed, lm=lm, text_run=text_run,
        drafts=drafts, stress_steps=stress_steps, stress_samples=stress_samples,
        runs_dir=str(runs_dir) if runs_dir else None,
    )  # fmt: skip
    result = run(cfg, say=lambda m: console.print(m, markup=False, highlight=False))
    v = result.verdict
    word = {"ok": "PASS", "warn": "CAUTION", "bad": "FAIL"}[v.level]
    console.print(f"{word}: {v.headline}", markup=False, highlight=False)


# --- characters -----------------------------------------------------------------------------


@app.command("characters")
@user_errors
def characters_command(
    data: Annotated[
        str | None, typer.Option(help="Folder of character images (with --attributes).")
    ] = None,
    attributes: Annotated[
        Path | None,
        typer.Option(
            help="CSV: a filename column + one categorical column per attribute "
            "(default DATA/attributes.csv)."
        ),
    ] = None,
    demo: Annotated[
        bool, typer.Option(help="Use the embedded procedurally drawn sprites (no data needed).")
    ] = False,
    run: Annotated[
        str | None, typer.Option(help="Evaluate this trained attrgan run instead of training.")
    ] = None,
    name: Annotated[str | None, typer.Option(help="Name of the new run.")] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            help="Folder for the report, grids and sprite sheet (default RUN/characters)."
        ),
    ] = None,
    pdf: Annotated[bool, typer.Option(help="Also write the report as PDF.")] = False,
    steps: Annotated[int, typer.Option(help="Training steps.")] = 9000,
    batch_size: Annotated[int, typer.Option(help="Images per training step.")] = 32,
    width: Annotated[int, typer.Option(help="Generator width (ngf).")] = 32,
    d_width: Annotated[int, typer.Option(help="Discriminator width (ndf).")] = 32,
    diffaug: Annotated[
        str,
        typer.Option(
            help="DiffAugment policy for the discriminator: translation, cutout, color "
            "(comma-separated; '' for none)."
        ),
    ] = "translation",
    classifier_weight: Annotated[
        float,
        typer.Option(
            help="Push of a separate attribute classifier (no spectral norm) on the generator; "
            "0 for none."
        ),
    ] = 0.0,
    precision: Annotated[str, typer.Option(help="fp32, bf16 (CPU/GPU) or fp16 (GPU).")] = "bf16",
    image_size: Annotated[int, typer.Option(help="Square image size (folders).")] = 64,
    samples_per_combo: Annotated[
        int, typer.Option(help="Generated images per attribute combination in the evaluation.")
    ] = 4,
    max_combos: Annotated[
        int, typer.Option(help="Evaluate every combination up to this many, else a random subset.")
    ] = 512,
    classifier_steps: Annotated[
        int, typer.Option(help="Training steps of the attribute classifier (the judge).")
    ] = 600,
    seed: Annotated[int, typer.Option(help="Seed for training, judge and samples.")] = 0,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "auto",
    runs_dir: Annotated[Path | None, typer.Option(help="Where runs live (default ./runs).")] = None,
) -> None:
    """Attribute-conditional characters: train, judge attributes/diversity, editing grid, sheet."""
    from genforge.cli.common import show_progress
    from genforge.recipes.characters import run_characters

    result = run_characters(
        data, attributes, demo=demo, run=run, name=name, out=out, pdf=pdf, steps=steps,
        batch_size=batch_size, width=width, d_width=d_width, diffaug=diffaug,
        classifier_weight=classifier_weight,
        precision=precision,
        image_size=image_size,
        samples_per_combo=samples_per_combo, max_combos=max_combos,
        classifier_steps=classifier_steps, seed=seed, device=device, runs_dir=runs_dir,
        progress=show_progress(), log=lambda m: console.print(m, highlight=False),
    )  # fmt: skip
    console.print(f"run: {result.run.path}")
