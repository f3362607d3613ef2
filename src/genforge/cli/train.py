"""`genforge train MODEL --data ... [options]` and `genforge models`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from genforge.cli.common import console, show_progress, user_errors
from genforge.core.config import parse_overrides
from genforge.core.errors import GenforgeError


@user_errors
def train_command(
    model: Annotated[
        str | None, typer.Argument(help="Model name (genforge models lists them).")
    ] = None,
    data: Annotated[
        str | None,
        typer.Option(
            help="Image folder or embedded set (digits, phantoms, photos); a CSV or embedded "
            "table (breast_cancer, wine, diabetes); an audio folder or tones, spoken-digits; "
            "for text models a folder of .txt/.md, a .jsonl/.csv/.txt file or pydoc."
        ),
    ] = None,
    attributes: Annotated[
        Path | None,
        typer.Option(help="attrgan: CSV with a filename column and one column per attribute."),
    ] = None,
    domain_a: Annotated[
        Path | None,
        typer.Option(help="cyclegan/pix2pix: folder of domain A images (instead of --data)."),
    ] = None,
    domain_b: Annotated[
        Path | None,
        typer.Option(help="cyclegan/pix2pix: folder of domain B images (pix2pix: same names)."),
    ] = None,
    name: Annotated[str | None, typer.Option(help="Run name (default <data>-<model>).")] = None,
    resume: Annotated[
        str | None, typer.Option(help="Continue this run from its last checkpoint.")
    ] = None,
    steps: Annotated[int | None, typer.Option(help="Total optimisation steps.")] = None,
    batch_size: Annotated[int | None, typer.Option(help="Images per step.")] = None,
    image_size: Annotated[
        int | None, typer.Option(help="Square image size: 8, 16, 32, 64, 128.")
    ] = None,
    channels: Annotated[
        int | None, typer.Option(help="1 (grayscale) or 3 (RGB); default from data.")
    ] = None,
    epochs: Annotated[
        int | None,
        typer.Option(help="Tables: passes over the rows; sets steps = epochs * rows / batch size."),
    ] = None,
    sample_rate: Annotated[int | None, typer.Option(help="Audio: sample rate in Hz.")] = None,
    seconds: Annotated[float | None, typer.Option(help="Audio: clip length in seconds.")] = None,
    latent_dim: Annotated[int | None, typer.Option(help="Latent (noise/code) dimension.")] = None,
    lr: Annotated[float | None, typer.Option(help="Learning rate (generator for GANs).")] = None,
    precision: Annotated[
        str | None, typer.Option(help="fp32, bf16 (CPU/GPU) or fp16 (GPU).")
    ] = None,
    device: Annotated[str | None, typer.Option(help="auto, cpu, cuda or mps.")] = None,
    seed: Annotated[
        int | None, typer.Option(help="Random seed (same seed, same model on CPU).")
    ] = None,
    augment: Annotated[
        str | None, typer.Option(help="Comma list: flip, rotate, crop, scale.")
    ] = None,
    conditional: Annotated[
        bool | None,
        typer.Option("--conditional/--unconditional", help="Condition on the class labels."),
    ] = None,
    scale: Annotated[
        int | None, typer.Option(help="Super-resolution (sr): output size / input size.")
    ] = None,
    cfg_dropout: Annotated[
        float | None,
        typer.Option(
            help="Diffusion: P(drop the label) in training, for classifier-free guidance."
        ),
    ] = None,
    tokenizer: Annotated[
        str | None, typer.Option(help="Text: char, bpe, or a local tokenizer folder.")
    ] = None,
    vocab: Annotated[int | None, typer.Option(help="Text: BPE vocabulary size.")] = None,
    context: Annotated[int | None, typer.Option(help="Text: context length in tokens.")] = None,
    field: Annotated[str | None, typer.Option(help="Text: .jsonl field holding the text.")] = None,
    column: Annotated[str | None, typer.Option(help="Text: .csv column holding the text.")] = None,
    size: Annotated[str | None, typer.Option(help="GPT size: tiny, small, medium.")] = None,
    init: Annotated[
        str | None, typer.Option(help="GPT: fine-tune this local transformers model folder.")
    ] = None,
    lora: Annotated[bool, typer.Option(help="GPT with --init: train LoRA adapters only.")] = False,
    n: Annotated[int | None, typer.Option("--n", help="n-gram order (ngram).")] = None,
    text_encoder: Annotated[
        Path | None,
        typer.Option(help="t2i: a local transformers text encoder folder (CLIP, BERT, ...)."),
    ] = None,
    train_text_encoder: Annotated[
        bool, typer.Option(help="t2i with --text-encoder: fine-tune it (default: frozen).")
    ] = False,
    eval_every: Annotated[
        int | None, typer.Option(help="Evaluate every K steps (FD, precision, recall, accuracy).")
    ] = None,
    keep_best: Annotated[
        str | None,
        typer.Option(
            help="Keep the best checkpoint in best/ by: fd (alias fid), precision, recall, accuracy."
        ),
    ] = None,
    early_stop: Annotated[
        int | None,
        typer.Option(help="Stop after this many evaluations without --keep-best improving."),
    ] = None,
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", help="Any config key: --set beta=4 --set ema_decay=0.99."),
    ] = None,
    runs_dir: Annotated[Path | None, typer.Option(help="Where runs live (default ./runs).")] = None,
) -> None:
    """Train a generative model on images, a table (CSV), audio clips, a text corpus, or an
    embedded set."""
    from genforge.api import train_run as train

    options = parse_overrides(set_ or [])
    given = {
        "steps": steps, "batch_size": batch_size, "image_size": image_size, "channels": channels,
        "latent_dim": latent_dim, "lr": lr, "precision": precision, "device": device, "seed": seed,
        "augment": tuple(a.strip() for a in augment.split(",") if a.strip()) if augment else None,
        "conditional": conditional, "cfg_dropout": cfg_dropout, "scale": scale,
        "epochs": epochs, "sample_rate": sample_rate, "seconds": seconds,
        "eval_every": eval_every, "keep_best": keep_best, "early_stop": early_stop,
        "attributes": str(attributes) if attributes is not None else None,
    }  # fmt: skip
    if (domain_a is None) != (domain_b is None):
        given_one = "--domain-a" if domain_a is not None else "--domain-b"
        raise GenforgeError(
            f"{given_one} needs its partner: give both --domain-a and --domain-b folders"
        )
    if domain_a is not None:
        if data is not None:
            raise GenforgeError("--data and --domain-a/--domain-b do not go together; use one")
        data = str(domain_a)
        given["domain_b"] = str(domain_b.expanduser().resolve())
    tokenizer = tokenizer or init
    if tokenizer is not None and tokenizer not in ("char", "bpe"):
        tokenizer = str(Path(tokenizer).resolve())  # a folder: absolute, so --resume finds it
    init = str(Path(init).resolve()) if init else None
    text = {
        "tokenizer": tokenizer,
        "vocab_size": vocab,
        "block_size": context,
        "field": field,
        "column": column,
        "size": size,
        "init": init,
        "finetune": "lora" if lora else None,
        "n": n,
    }  # fmt: skip  (a pretrained model brings its own tokenizer)
    if text_encoder is not None:  # absolute, so the config says which folder was used
        options["text_encoder"] = str(text_encoder.expanduser().resolve())
    if train_text_encoder:
        options["train_text_encoder"] = True
    options.update({k: v for k, v in {**given, **text}.items() if v is not None})
    run = train(
        model,
        data,
        name=name,
        resume=resume,
        runs_dir=runs_dir,
        progress=show_progress(),
        **options,
    )
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
    console.print(table)
