"""`genforge recipe NAME`: vertical workflows (medical augmentation, finance reports, characters).

Each command is thin: parse options, build the recipe's config from the options the user gave
(every default lives in the config dataclass, once: `--help` shows it from there), call
`genforge.recipes.<name>.run(...)`, print where the report and the Run are. One section per
recipe below, in this order.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated, Any

import typer

from genforge.cli.common import console, show_progress, user_errors
from genforge.recipes import characters, finance, medical
from genforge.recipes.characters import CharactersConfig
from genforge.recipes.finance import FinanceConfig
from genforge.recipes.medical import DEFAULT_STEPS, MedicalConfig

app = typer.Typer(
    help="Vertical recipes: one command from data to a report with a verdict and a normal Run.",
    no_args_is_help=True,
)


def option(config: type, field: str, help: str, *decls: str) -> Any:
    """A typer option that defaults to None (left out: the config dataclass's default holds),
    its --help showing that default read from the dataclass."""
    default = {f.name: f.default for f in dataclasses.fields(config)}[field]
    if default is None or default is dataclasses.MISSING or default == "":
        return typer.Option(*decls, help=help)
    if isinstance(default, bool):
        if decls:  # a lone --flag: off unless given
            return typer.Option(*decls, help=help)
        name = field.replace("_", "-")
        return typer.Option(help=help, show_default=name if default else f"no-{name}")
    return typer.Option(*decls, help=help, show_default=str(default))


def given(**options: Any) -> dict[str, Any]:
    """The options the user gave (None: left to the config's default)."""
    return {k: v for k, v in options.items() if v is not None}


def text(path: Path | None) -> str | None:
    return None if path is None else str(path)


RUNS_DIR_HELP = "Where runs live (default ./runs)."
WORDS = {"ok": "[green]PASS[/]", "warn": "[yellow]CAUTION[/]", "bad": "[red]FAIL[/]"}

# --- medical-augment ------------------------------------------------------------------------

M = MedicalConfig
STEPS_HELP = ", ".join(f"{k} {v}" for k, v in DEFAULT_STEPS.items())


@app.command("medical-augment")
@user_errors
def medical_augment(
    data: Annotated[str | None, option(M, "data", "A folder with one subfolder per class "
                                                  "(PNG/JPEG/DICOM), or 'phantoms'.")] = None,
    out: Annotated[Path | None, option(M, "out", "The augmented dataset folder (new or empty).")] = None,
    target_per_class: Annotated[int | None, option(M, "target_per_class",
                                "Images per class in the output, real + synthetic.")] = None,
    real_per_class: Annotated[int | None, option(M, "real_per_class",
                              "Use only this many real training images per class (benchmarks).")] = None,
    image_size: Annotated[int | None, option(M, "image_size", "Image side in pixels (8..128).")] = None,
    generator: Annotated[str | None, option(M, "generator", "auto (by data size), cgan or cddpm.")] = None,
    steps: Annotated[int | None, option(M, "steps",
                     f"Generator training steps (default: {STEPS_HELP}).")] = None,
    batch_size: Annotated[int | None, option(M, "batch_size", "Generator training batch size.")] = None,
    seeds: Annotated[int | None, option(M, "seeds", "Classifier seeds of the utility test.")] = None,
    classifier: Annotated[str | None, option(M, "classifier", "Utility classifier: pooled (global "
                                             "max pooling CNN) or domain.")] = None,
    classifier_steps: Annotated[int | None, option(M, "classifier_steps", "Training steps of each "
                                "utility classifier (and label filter).")] = None,
    heldout: Annotated[float | None, option(M, "heldout_fraction", "Share of each class's real "
                       "images held out for the test.")] = None,
    window: Annotated[str | None, option(M, "window", "DICOM VOI window center,width (e.g. "
                      "40,400); default: the file's.")] = None,
    quality_filter: Annotated[str | None, option(M, "quality_filter",
        "label: drop implausible samples and those that classifiers trained on the real training "
        "images do not see as their class; implausible: only drop samples farther from every "
        "training image than any held-out real image; none: keep both.")] = None,
    pdf: Annotated[bool | None, option(M, "pdf", "Also write report.pdf.", "--pdf")] = None,
    name: Annotated[str | None, option(M, "name", "Name of the generator's run.")] = None,
    run_name: Annotated[str | None, option(M, "run",
        "Sample from this existing cgan/cddpm run instead of training one; it must have trained "
        "on exactly this recipe's training images (same --data, --real-per-class, --heldout, "
        "--image-size, --seed).", "--run")] = None,
    seed: Annotated[int | None, option(M, "seed", "Seeds the split, the training and the sampling.")] = None,
    set_: Annotated[list[str] | None, option(M, "model_options",
                    "Generator config keys: --set ngf=32 --set ndf=32.", "--set")] = None,
    runs_dir: Annotated[Path | None, option(M, "runs_dir", RUNS_DIR_HELP)] = None,
) -> None:  # fmt: skip
    """Augment a small labeled medical image set with audited, marked synthetic images, and
    measure whether they help a classifier on held-out real images."""
    from genforge.core.config import parse_overrides
    from genforge.data.dicom import parse_window

    cfg = MedicalConfig(**given(
        data=data, out=text(out), target_per_class=target_per_class,
        real_per_class=real_per_class, heldout_fraction=heldout, image_size=image_size,
        generator=generator, steps=steps, batch_size=batch_size, quality_filter=quality_filter,
        seeds=seeds, classifier=classifier, classifier_steps=classifier_steps,
        window=parse_window(window), pdf=pdf, name=name, run=run_name, runs_dir=text(runs_dir),
        seed=seed, model_options=parse_overrides(set_) if set_ else None,
    ))  # fmt: skip
    say = lambda m: console.print(m, highlight=False, soft_wrap=True)  # noqa: E731
    result = medical.run(cfg, log=say, progress=show_progress())
    v = medical.verdict_of(result.summary)
    console.print(f"{WORDS[v.level]}: {v.headline}")
    for r in v.reasons[:3]:
        console.print(f"  {r}", highlight=False)
    console.print(f"dataset: {result.out}  (manifest.csv, {result.summary['files']} files)")
    console.print(f"report:  {', '.join(map(str, result.report))}")
    console.print(f"run:     {result.run.path}")


# --- finance-report -------------------------------------------------------------------------

F = FinanceConfig


@app.command("finance-report")
@user_errors
def finance_report(
    prices: Annotated[Path | None, option(F, "prices",
        "Prices CSV, long form: date,ticker,close[,open,high,low,volume] (ticker may be left out "
        "for one series).")] = None,
    fundamentals: Annotated[Path | None, option(F, "fundamentals",
        "Fundamentals CSV: ticker,period,revenue,net_income,eps,book_value,shares,debt,equity "
        "(any subset).")] = None,
    company: Annotated[str | None, option(F, "company",
        "Company name for the title (and the ticker of a file without a ticker column).")] = None,
    out: Annotated[Path | None, option(F, "out", "Report file (.html).")] = None,
    pdf: Annotated[bool | None, option(F, "pdf", "Also write the report as PDF.")] = None,
    demo: Annotated[bool | None, option(F, "demo", "Use the embedded SYNTHETIC market.")] = None,
    seed: Annotated[int | None, option(F, "seed", "Seed (demo market, writer, CTGAN).")] = None,
    lm: Annotated[str | None, option(F, "lm", "Local transformers causal LM folder to write the "
                  "prose (default: train an n-gram).")] = None,
    text_run: Annotated[str | None, option(F, "text_run",
                        "An existing genforge text run to write the prose.")] = None,
    drafts: Annotated[int | None, option(F, "drafts",
                      "Drafts per sentence; the checker keeps the best.")] = None,
    stress_steps: Annotated[int | None, option(F, "stress_steps", "CTGAN training steps.")] = None,
    stress_samples: Annotated[int | None, option(F, "stress_samples",
                              "Synthetic days to sample.")] = None,
    runs_dir: Annotated[Path | None, option(F, "runs_dir", RUNS_DIR_HELP)] = None,
) -> None:  # fmt: skip
    """Facts, plots, fact-checked prose and SYNTHETIC stress scenarios from price data."""
    cfg = FinanceConfig(**given(
        prices=text(prices), fundamentals=text(fundamentals), company=company, out=text(out),
        pdf=pdf, demo=demo, seed=seed, lm=lm, text_run=text_run, drafts=drafts,
        stress_steps=stress_steps, stress_samples=stress_samples, runs_dir=text(runs_dir),
    ))  # fmt: skip
    result = finance.run(
        cfg, say=lambda m: console.print(m, markup=False, highlight=False, soft_wrap=True)
    )
    v = result.verdict
    console.print(f"{v.word}: {v.headline}", markup=False, highlight=False)


# --- characters -----------------------------------------------------------------------------

C = CharactersConfig


@app.command("characters")
@user_errors
def characters_command(
    data: Annotated[str | None, option(C, "data",
                    "Folder of character images (with --attributes).")] = None,
    attributes: Annotated[Path | None, option(C, "attributes",
        "CSV: a filename column + one categorical column per attribute "
        "(default DATA/attributes.csv).")] = None,
    demo: Annotated[bool | None, option(C, "demo",
        "Use the embedded procedurally drawn sprites (no data needed).")] = None,
    run: Annotated[str | None, option(C, "run",
                   "Evaluate this trained attrgan run instead of training.")] = None,
    name: Annotated[str | None, option(C, "name", "Name of the new run.")] = None,
    out: Annotated[Path | None, option(C, "out",
        "Folder for the report, grids and sprite sheet (default RUN/characters).")] = None,
    pdf: Annotated[bool | None, option(C, "pdf", "Also write the report as PDF.")] = None,
    steps: Annotated[int | None, option(C, "steps", "Training steps.")] = None,
    batch_size: Annotated[int | None, option(C, "batch_size", "Images per training step.")] = None,
    width: Annotated[int | None, option(C, "width", "Generator width (ngf).")] = None,
    d_width: Annotated[int | None, option(C, "d_width", "Discriminator width (ndf).")] = None,
    diffaug: Annotated[str | None, option(C, "diffaug",
        "DiffAugment policy for the discriminator: translation, cutout, color (comma-separated; "
        "'' for none).")] = None,
    classifier_weight: Annotated[float | None, option(C, "classifier_weight",
        "Push of a separate attribute classifier (no spectral norm) on the generator; "
        "0 for none.")] = None,
    precision: Annotated[str | None, option(C, "precision",
                         "fp32, bf16 (CPU/GPU) or fp16 (GPU).")] = None,
    image_size: Annotated[int | None, option(C, "image_size", "Square image size (folders).")] = None,
    samples_per_combo: Annotated[int | None, option(C, "samples_per_combo",
        "Generated images per attribute combination in the evaluation.")] = None,
    max_combos: Annotated[int | None, option(C, "max_combos",
        "Evaluate every combination up to this many, else a random subset.")] = None,
    classifier_steps: Annotated[int | None, option(C, "classifier_steps",
        "Training steps of the attribute classifier (the judge).")] = None,
    seed: Annotated[int | None, option(C, "seed", "Seed for training, judge and samples.")] = None,
    device: Annotated[str | None, option(C, "device", "auto, cpu or cuda.")] = None,
    runs_dir: Annotated[Path | None, option(C, "runs_dir", RUNS_DIR_HELP)] = None,
) -> None:  # fmt: skip
    """Attribute-conditional characters: train, judge attributes/diversity, editing grid, sheet."""
    cfg = CharactersConfig(**given(
        data=data, attributes=attributes, demo=demo, run=run, name=name, out=out, pdf=pdf,
        steps=steps, batch_size=batch_size, width=width, d_width=d_width, diffaug=diffaug,
        classifier_weight=classifier_weight, precision=precision, image_size=image_size,
        samples_per_combo=samples_per_combo, max_combos=max_combos,
        classifier_steps=classifier_steps, seed=seed, device=device, runs_dir=runs_dir,
    ))  # fmt: skip
    result = characters.run(cfg, progress=show_progress(),
                            log=lambda m: console.print(m, highlight=False, soft_wrap=True))  # fmt: skip
    console.print(f"run: {result.run.path}")
