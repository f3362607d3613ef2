"""`genforge train MODEL --data ... [options]` and `genforge models`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from genforge.cli.common import console, given, show_progress, user_errors
from genforge.core.config import parse_overrides
from genforge.core.errors import GenforgeError

# The options of `genforge train`, each None unless given: the training config, the modality's
# data config and the model's Config hold the defaults (`--set KEY=VALUE` reaches any key).
Model = Annotated[str | None, typer.Argument(help="Model name (genforge models lists them).")]
Data = Annotated[
    str | None,
    typer.Option(
        help="Image folder or embedded set (digits, phantoms, photos); a CSV or embedded "
        "table (breast_cancer, wine, diabetes); an audio folder or tones, spoken-digits; "
        "for text models a folder of .txt/.md, a .jsonl/.csv/.txt file or pydoc."
    ),
]
Attributes = Annotated[
    Path | None,
    typer.Option(help="attrgan: CSV with a filename column and one column per attribute."),
]
DomainA = Annotated[
    Path | None,
    typer.Option(help="cyclegan/pix2pix: folder of domain A images (instead of --data)."),
]
DomainB = Annotated[
    Path | None,
    typer.Option(help="cyclegan/pix2pix: folder of domain B images (pix2pix: same names)."),
]
Name = Annotated[str | None, typer.Option(help="Run name (default <data>-<model>).")]
Resume = Annotated[str | None, typer.Option(help="Continue this run from its last checkpoint.")]
Steps = Annotated[int | None, typer.Option(help="Total optimisation steps.")]
Feedback = Annotated[
    bool,
    typer.Option(
        help="With --resume: one feedback round that learns from the run's ratings (feedback_"
        "steps more steps; diffusion: reward-weighted, GANs: rejected outputs as negatives, "
        "LMs: DPO)."
    ),
]
BatchSize = Annotated[
    int | None, typer.Option(help="Training items per step: images, text windows, rows, clips.")
]
ImageSize = Annotated[int | None, typer.Option(help="Square image size: 8, 16, 32, 64, 128.")]
Channels = Annotated[int | None, typer.Option(help="1 (grayscale) or 3 (RGB); default from data.")]
Epochs = Annotated[
    int | None,
    typer.Option(help="Tables: passes over the rows; sets steps = epochs * rows / batch size."),
]
SampleRate = Annotated[int | None, typer.Option(help="Audio: sample rate in Hz.")]
Seconds = Annotated[float | None, typer.Option(help="Audio: clip length in seconds.")]
Frames = Annotated[int | None, typer.Option(help="Video: frames per clip.")]
Fps = Annotated[
    float | None, typer.Option(help="Video: frames per second the clips are resampled to.")
]
LatentDim = Annotated[int | None, typer.Option(help="Latent (noise/code) dimension.")]
Lr = Annotated[float | None, typer.Option(help="Learning rate (generator for GANs).")]
Precision = Annotated[
    str | None,
    typer.Option(
        help="auto (default: bf16 on a CUDA GPU that has it, else fp32), fp32, bf16 or fp16 (GPU)."
    ),
]
Device = Annotated[str | None, typer.Option(help="auto, cpu, cuda or mps.")]
Seed = Annotated[int | None, typer.Option(help="Random seed (same seed, same model on CPU).")]
Augment = Annotated[str | None, typer.Option(help="Comma list: flip, rotate, crop, scale.")]
Conditional = Annotated[
    bool | None,
    typer.Option("--conditional/--unconditional", help="Condition on the class labels."),
]
Scale = Annotated[int | None, typer.Option(help="Super-resolution (sr): output size / input size.")]
CfgDropout = Annotated[
    float | None,
    typer.Option(help="Diffusion: P(drop the label) in training, for classifier-free guidance."),
]
Tokenizer = Annotated[
    str | None, typer.Option(help="Text: char, bpe, or a local tokenizer folder.")
]
Vocab = Annotated[int | None, typer.Option(help="Text: BPE vocabulary size.")]
Context = Annotated[int | None, typer.Option(help="Text: context length in tokens.")]
Field = Annotated[str | None, typer.Option(help="Text: .jsonl field holding the text.")]
Column = Annotated[str | None, typer.Option(help="Text: .csv column holding the text.")]
Size = Annotated[str | None, typer.Option(help="GPT size: tiny, small, medium.")]
Init = Annotated[
    str | None,
    typer.Option(
        help="GPT: fine-tune this local transformers model folder; ddpm, cddpm, t2i: start from "
        "this local diffusers UNet folder (or a pipeline folder with unet/)."
    ),
]
Lora = Annotated[bool, typer.Option(help="GPT with --init: train LoRA adapters only.")]
Order = Annotated[int | None, typer.Option("--n", help="n-gram order (ngram).")]
TextEncoder = Annotated[
    Path | None,
    typer.Option(help="t2i: a local transformers text encoder folder (CLIP, BERT, ...)."),
]
TrainTextEncoder = Annotated[
    bool,
    typer.Option(
        help="t2i with --text-encoder: fine-tune it (default: frozen); lora: LoRA on it too."
    ),
]
EvalEvery = Annotated[
    int | None,
    typer.Option(
        help="Evaluate every K steps (images: FD, precision, recall, accuracy; text: "
        "held-out val_loss)."
    ),
]
KeepBest = Annotated[
    str | None,
    typer.Option(
        help="Keep the best checkpoint in best/ by: fd (alias fid), precision, recall, "
        "accuracy, val_loss (text)."
    ),
]
EarlyStop = Annotated[
    int | None,
    typer.Option(help="Stop after this many evaluations without --keep-best improving."),
]
Base = Annotated[
    Path | None,
    typer.Option(help="lora: the Stable Diffusion pipeline folder to adapt (never modified)."),
]
Caption = Annotated[str | None, typer.Option(help="lora: one caption for every image.")]
InstancePrompt = Annotated[
    str | None,
    typer.Option(help='lora, DreamBooth style: the subject\'s prompt, e.g. "a photo of sks dog".'),
]
ClassPrompt = Annotated[
    str | None,
    typer.Option(help='lora: prior preservation on images of this class, e.g. "a photo of a dog".'),
]
PriorImages = Annotated[
    int | None,
    typer.Option(help="lora with --class-prompt: class images drawn once from the base."),
]
Set = Annotated[
    list[str] | None,
    typer.Option("--set", help="Any config key: --set beta=4 --set ema_decay=0.99."),
]
RunsDir = Annotated[Path | None, typer.Option(help="Where runs live (default ./runs).")]
Real = Annotated[
    str | None,
    typer.Option(help="detector: real images (a folder or an embedded set such as digits)."),
]
Fake = Annotated[
    str | None,
    typer.Option(help="detector: generated images (a folder, or a run to sample --samples from)."),
]
EvalFake = Annotated[
    str | None,
    typer.Option(help="detector: a generator family kept out of training (folder or run)."),
]
Samples = Annotated[
    int | None,
    typer.Option(help="detector: images sampled from a run given as --fake/--eval-fake."),
]
Fpr = Annotated[
    float | None,
    typer.Option(help="detector: false-positive rate on real images to calibrate to (0.05)."),
]
Use = Annotated[
    str | None,
    typer.Option(
        help="What the model is for: commercial, research, personal or internal (default "
        "unspecified); licences that forbid it are flagged."
    ),
]


@user_errors
def train_command(
    model: Model = None,
    data: Data = None,
    attributes: Attributes = None,
    domain_a: DomainA = None,
    domain_b: DomainB = None,
    name: Name = None,
    resume: Resume = None,
    feedback: Feedback = False,
    steps: Steps = None,
    batch_size: BatchSize = None,
    image_size: ImageSize = None,
    channels: Channels = None,
    epochs: Epochs = None,
    sample_rate: SampleRate = None,
    seconds: Seconds = None,
    frames: Frames = None,
    fps: Fps = None,
    latent_dim: LatentDim = None,
    lr: Lr = None,
    precision: Precision = None,
    device: Device = None,
    seed: Seed = None,
    augment: Augment = None,
    conditional: Conditional = None,
    scale: Scale = None,
    cfg_dropout: CfgDropout = None,
    tokenizer: Tokenizer = None,
    vocab: Vocab = None,
    context: Context = None,
    field: Field = None,
    column: Column = None,
    size: Size = None,
    init: Init = None,
    lora: Lora = False,
    n: Order = None,
    text_encoder: TextEncoder = None,
    train_text_encoder: TrainTextEncoder = False,
    eval_every: EvalEvery = None,
    keep_best: KeepBest = None,
    early_stop: EarlyStop = None,
    set_: Set = None,
    runs_dir: RunsDir = None,
    use: Use = None,
    real: Real = None,
    fake: Fake = None,
    eval_fake: EvalFake = None,
    samples: Samples = None,
    fpr: Fpr = None,
    base: Base = None,
    caption: Caption = None,
    instance_prompt: InstancePrompt = None,
    class_prompt: ClassPrompt = None,
    prior_images: PriorImages = None,
) -> None:
    """Train a generative model on images, a table (CSV), audio clips, video clips, a text
    corpus, or an embedded set; or a real-vs-generated detector (genforge train detector --real --fake);
    or LoRA adapters of a Stable Diffusion folder (genforge train lora --base FOLDER --data IMAGES)."""
    from genforge.api import train_run as train

    options = parse_overrides(set_ or [])  # the options given by name override --set
    lora_data = given(base=base, caption=caption, instance_prompt=instance_prompt,
                      class_prompt=class_prompt, prior_images=prior_images)  # fmt: skip
    if model == "lora" or lora_data or _is_lora_run(resume, runs_dir):
        options.update(given(steps=steps, batch_size=batch_size, image_size=image_size, lr=lr,
                             precision=precision, device=device, seed=seed))  # fmt: skip
        if train_text_encoder:
            options["train_text_encoder"] = True
        return _train_lora(model, data, resume, name, runs_dir, lora_data, options)
    data, domains = _domains(data, domain_a, domain_b)
    if text_encoder is not None:  # absolute, so the config says which folder was used
        options["text_encoder"] = str(text_encoder.expanduser().resolve())
    if train_text_encoder:
        options["train_text_encoder"] = True
    if init is not None and not _is_text_model(model):  # a UNet folder: no tokenizer in it
        options["init"], init = str(Path(init).expanduser().resolve()), None
    options.update(given(
        steps=steps, batch_size=batch_size, image_size=image_size, channels=channels,
        latent_dim=latent_dim, lr=lr, precision=precision, device=device, seed=seed,
        augment=tuple(a.strip() for a in augment.split(",") if a.strip()) if augment else None,
        conditional=conditional, cfg_dropout=cfg_dropout, scale=scale, epochs=epochs,
        sample_rate=sample_rate, seconds=seconds, frames=frames, fps=fps, eval_every=eval_every, keep_best=keep_best,
        early_stop=early_stop, attributes=str(attributes) if attributes is not None else None,
        **domains, **_text_options(tokenizer, init, vocab, context, field, column, size, lora, n),
    ))  # fmt: skip
    if feedback:
        return _feedback_round(model, data, resume, runs_dir, name, options)
    detector = given(real=real, fake=fake, eval_fake=eval_fake, samples=samples, target_fpr=fpr)
    if detector:
        return _train_detector(model, data, resume, detector, name=name, runs_dir=runs_dir,
                               use=use, progress=show_progress(), **options)  # fmt: skip
    run = train(model, data, name=name, resume=resume, runs_dir=runs_dir,
                progress=show_progress(), use=use, **options)  # fmt: skip
    _report(run)


def _train_lora(model, data, resume, name, runs_dir, lora: dict, options: dict) -> None:
    """`genforge train lora --base FOLDER --data IMAGES`: adapters of a Stable Diffusion folder."""
    from genforge.core.progress import Stages
    from genforge.train.lora import train_lora

    if resume is not None and model in (None, "lora"):
        return _resume_lora(resume, runs_dir, lora, options, data)
    if model != "lora":
        raise GenforgeError(
            f"--base, --caption, --instance-prompt, --class-prompt and --prior-images train LoRA "
            f"adapters, not {model}: genforge train lora --base FOLDER --data IMAGES"
        )
    if "base" not in lora or data is None:
        raise GenforgeError("genforge train lora needs --base SD_FOLDER and --data IMAGE_FOLDER")
    for key in ("class_prompt", "prior_images"):
        if key in lora:
            options[key] = lora.pop(key)
    with Stages.for_console(console, title="lora", live=show_progress()) as stages:
        run = train_lora(lora.pop("base"), data, name=name, runs_dir=runs_dir, stages=stages,
                         **lora, **options)  # fmt: skip
    console.print(f"[green]done[/]: LoRA run [bold]{run.name}[/] at step {run.step}")
    console.print(f"  run folder  {run.path}")
    console.print(
        f"  samples     {run.samples_dir / 'before.png'}, {run.samples_dir / 'after.png'}"
    )
    console.print(f"  model card  {run.card_path}")


def _is_lora_run(resume: str | None, runs_dir: Path | None) -> bool:
    """Whether --resume names a LoRA run (`genforge train --resume RUN` without the model)."""
    if resume is None:
        return False
    from genforge.core.run import resolve_run
    from genforge.models.sd_lora import LORA_MODEL

    try:
        return resolve_run(resume, runs_dir).read_config().get("model") == LORA_MODEL
    except GenforgeError:
        return False  # the usual path reports a missing run


def _resume_lora(resume: str, runs_dir, lora: dict, options: dict, data) -> None:
    """`genforge train lora --resume RUN [--steps N]`: continue from the last checkpoint."""
    from genforge.core.progress import Stages
    from genforge.core.run import resolve_run
    from genforge.train.lora import resume_lora

    others = sorted({*lora, *options} - {"steps"} | ({"data"} if data is not None else set()))
    if others:
        raise GenforgeError(f"--resume continues a LoRA run as it was configured; only --steps "
                            f"may change (given: {', '.join(others)})")  # fmt: skip
    run = resolve_run(resume, runs_dir)
    with Stages.for_console(console, title="lora", live=show_progress()) as stages:
        resume_lora(run, steps=options.get("steps"), stages=stages)
    console.print(f"[green]done[/]: LoRA run [bold]{run.name}[/] at step {run.step}")


def _train_detector(model, data, resume, detector: dict, **options) -> None:
    """`genforge train detector --real FOLDER --fake RUN_OR_FOLDER`: stage, train, evaluate."""
    from genforge.api import train_detector

    if model != "detector":
        raise GenforgeError(
            f"--real, --fake, --eval-fake, --samples and --fpr train a detector, not {model}: "
            "genforge train detector --real FOLDER --fake RUN_OR_FOLDER"
        )
    if data is not None or resume is not None:
        raise GenforgeError("--real/--fake stage the detector's data: drop --data and --resume")
    if "real" not in detector or "fake" not in detector:
        raise GenforgeError("a detector needs both --real and --fake")
    run, result = train_detector(**detector, **options)
    _report(run)
    for m in result.metrics:
        console.print(f"  {m.label}: {m.value:.4g}" + (f" ({m.note})" if m.note else ""))


def _domains(
    data: str | None, domain_a: Path | None, domain_b: Path | None
) -> tuple[str | None, dict[str, str]]:
    """--domain-a/--domain-b (both or neither, instead of --data) -> (data, {"domain_b": ...})."""
    if (domain_a is None) != (domain_b is None):
        given_one = "--domain-a" if domain_a is not None else "--domain-b"
        raise GenforgeError(
            f"{given_one} needs its partner: give both --domain-a and --domain-b folders"
        )
    if domain_a is None or domain_b is None:
        return data, {}
    if data is not None:
        raise GenforgeError("--data and --domain-a/--domain-b do not go together; use one")
    return str(domain_a), {"domain_b": str(domain_b.expanduser().resolve())}


def _is_text_model(model: str | None) -> bool:
    from genforge.models import get_entry

    return model is None or get_entry(model).modality in ("text", "text-pair")


def _text_options(tokenizer, init, vocab, context, field, column, size, lora, n) -> dict:
    """Text models' options under their config keys. A pretrained model (--init) brings its own
    tokenizer; tokenizer and model folders become absolute, so --resume finds them."""
    tokenizer = tokenizer or init
    if tokenizer is not None and tokenizer not in ("char", "bpe"):
        tokenizer = str(Path(tokenizer).resolve())
    return {
        "tokenizer": tokenizer, "vocab_size": vocab, "block_size": context, "field": field,
        "column": column, "size": size, "init": str(Path(init).resolve()) if init else None,
        "finetune": "lora" if lora else None, "n": n,
    }  # fmt: skip


def _feedback_round(model, data, resume, runs_dir, name, options: dict) -> None:
    """`--resume RUN --feedback`: one round, then what it learned from and what it did."""
    from genforge.api import feedback_round
    from genforge.core.run import resolve_run

    if resume is None or model is not None or data is not None or name is not None:
        raise GenforgeError("--feedback continues a trained run: genforge train --resume RUN "
                            "--feedback (no model, --data or --name)")  # fmt: skip
    force = bool(options.pop("feedback_force", False))
    r = feedback_round(resume, runs_dir=runs_dir, force=force, progress=show_progress(),
                       **options)  # fmt: skip
    a, b = r["steps"]
    console.print(
        f"[green]feedback round {r['round']}[/] of [bold]{resume}[/] ({r['kind']}, steps {a} to "
        f"{b}): {r['ratings']} ratings by {', '.join(r['raters'])} of {r['rated_outputs']} "
        f"outputs, {r['approved']} approved and {r['rejected']} rejected"
    )
    for key in r["after"]:
        if key in r["before"]:
            console.print(f"  {key:<22} {r['before'][key]:.4g} → {r['after'][key]:.4g}")
    if r["diversity_fell"]:
        console.print(f"[yellow]warning: diversity fell[/] ({'; '.join(r['diversity_fell'])}); "
                      "the next round will refuse to start unless --set feedback_force=true")  # fmt: skip
    before = resolve_run(resume, runs_dir).path / r["previous_weights"]
    console.print(f"  the weights from before: {before} (genforge sample {resume} "
                  "--checkpoint before-feedback)")  # fmt: skip


def _report(run) -> None:
    """Where the trained run is: folder, samples, model card, and its best checkpoint."""
    from accelerate import PartialState

    if not PartialState().is_main_process:  # under `accelerate launch`, report once
        return
    console.print(f"[green]done[/]: run [bold]{run.name}[/] at step {run.step}")
    best = run.best_dir / "best.json"
    if best.exists():
        import json

        info = json.loads(best.read_text())
        steps = run.read_config()["train"]["steps"]
        if run.step < steps:
            console.print(f"  stopped early: no better {info['metric']} in the last evaluations")
        console.print(
            f"  best {info['metric']} {info['value']:.4g} at step {info['step']}: "
            f"{run.best_dir} (genforge sample {run.name} --checkpoint best)"
        )
    console.print(f"  run folder  {run.path}")
    latest = next(iter(sorted(run.samples_dir.glob("latest.*"))), run.samples_dir / "latest.png")
    console.print(f"  samples     {latest}")
    console.print(f"  model card  {run.card_path}")


def models_command() -> None:
    """List the registered models."""
    import dataclasses

    from rich.table import Table

    from genforge.models import MODELS

    table = Table("model", "what it is", "conditional")
    for name, entry in MODELS.items():
        fields = {f.name for f in dataclasses.fields(entry.family.Config)}
        cond = (
            "yes"
            if entry.model.get("conditional")
            else "optional"
            if "conditional" in fields
            else "no"
        )
        table.add_row(name, entry.description, cond)
    from genforge.models.sd_lora import DESCRIPTION, LORA_MODEL

    table.add_row(LORA_MODEL, DESCRIPTION, "yes")  # on prompts; adapts a pretrained folder
    console.print(table)
