"""`genforge generate ...`: one command per modality: text from a trained text run; speech from
pretrained providers (no training run needed)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from genforge.cli.common import console, user_errors
from genforge.core.errors import GenforgeError
from genforge.core.run import resolve_run

app = typer.Typer(
    help="Generate text from a run, or speech from pretrained providers.", no_args_is_help=True
)


@app.command("speech")
@user_errors
def speech_command(
    text: Annotated[str, typer.Option(help="What to say.")],
    out: Annotated[Path, typer.Option(help="Output WAV file.")] = Path("speech.wav"),
    voice: Annotated[
        str, typer.Option(help="espeak-ng voice (en, en-us, de, fr, en+f3, ...).")
    ] = "en",
    rate: Annotated[int, typer.Option(help="Speed in words per minute (80-450).")] = 160,
    pitch: Annotated[int, typer.Option(help="Pitch 0-99 (espeak-ng).")] = 50,
    model: Annotated[
        Path | None,
        typer.Option(
            help="Local TTS model folder (save_pretrained, e.g. VITS) instead of espeak-ng."
        ),
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed (local models sample noise).")] = 0,
) -> None:
    """Text to speech: espeak-ng (the baseline) or a local pretrained TTS model."""
    from genforge.generate.speech import speak_to_file, speech_provider

    provider = speech_provider(model, voice=voice, rate=rate, pitch=pitch, seed=seed)
    path, seconds, sr = speak_to_file(provider, text, out)
    console.print(f"{seconds:.2f} s of speech ({provider.name}, {sr} Hz): {path}")


@app.command("text")
@user_errors
def text_command(
    run: Annotated[str, typer.Argument(help="A text run (name or path).")],
    prompt: Annotated[list[str] | None, typer.Option(help="Prompt (repeatable).")] = None,
    prompt_file: Annotated[
        Path | None, typer.Option(help="One prompt per line (blank lines skipped).")
    ] = None,
    max_new_tokens: Annotated[
        int | None, typer.Option(help="New tokens (default 100, within the context).")
    ] = None,
    max_length: Annotated[
        int | None, typer.Option(help="Prompt + new tokens, as in transformers.")
    ] = None,
    min_new_tokens: Annotated[int, typer.Option(help="Do not end before this many.")] = 0,
    do_sample: Annotated[bool, typer.Option(help="Sample instead of greedy/beam search.")] = False,
    temperature: Annotated[float, typer.Option(help="Sampling temperature.")] = 1.0,
    top_k: Annotated[int | None, typer.Option(help="Sample from the k likeliest tokens.")] = None,
    top_p: Annotated[float | None, typer.Option(help="Nucleus sampling mass.")] = None,
    num_beams: Annotated[int, typer.Option(help="Beam search width (1: none).")] = 1,
    repetition_penalty: Annotated[float, typer.Option(help=">1 discourages repeats.")] = 1.0,
    no_repeat_ngram_size: Annotated[
        int, typer.Option(help="Never repeat an n-gram of this size (0: off).")
    ] = 0,
    n: Annotated[int, typer.Option("--n", help="Texts per prompt.")] = 1,
    stop: Annotated[
        list[str] | None, typer.Option(help="Stop at this string (repeatable).")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed: sample j of prompt i uses seed+1000i+j.")] = 0,
    stream: Annotated[bool, typer.Option(help="Print tokens as they come.")] = False,
    watermark: Annotated[bool, typer.Option(help="Embed a green-list watermark.")] = False,
    watermark_key: Annotated[int, typer.Option(help="Watermark hashing key.")] = 15485863,
    truncate: Annotated[
        bool, typer.Option(help="Keep the end of a prompt longer than the context.")
    ] = False,
    out: Annotated[Path | None, typer.Option(help="Also write the texts here.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON records.")] = False,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "cpu",
    runs_dir: Annotated[Path | None, typer.Option(help="Where runs live (default ./runs).")] = None,
) -> None:
    """Generate text from a text run (gpt, lstm, ngram)."""
    from genforge.core.io import write_text
    from genforge.generate.text import DecodeOptions, TextPipeline

    prompts = list(prompt or [])
    if prompt_file is not None:
        if not prompt_file.is_file():
            raise GenforgeError(f"no such prompt file: {prompt_file}")
        prompts += [p for p in prompt_file.read_text(encoding="utf-8").splitlines() if p.strip()]
    if not prompts:
        prompts = [""]  # unconditional: start from end-of-text
    opts = DecodeOptions(
        max_new_tokens=max_new_tokens, max_length=max_length, min_new_tokens=min_new_tokens,
        do_sample=do_sample, temperature=temperature, top_k=top_k, top_p=top_p,
        num_beams=num_beams, repetition_penalty=repetition_penalty,
        no_repeat_ngram_size=no_repeat_ngram_size, num_return_sequences=n,
        stop=tuple(stop or ()), seed=seed, watermark=watermark, watermark_key=watermark_key,
        truncate=truncate,
    )  # fmt: skip
    opts.check()
    if stream and num_beams > 1:
        raise GenforgeError("beam search cannot stream: the best beam is known only at the end")
    pipe = TextPipeline(resolve_run(run, runs_dir), device=device)
    write = (lambda s: typer.echo(s, nl=False)) if stream and not as_json else None
    results = []
    for i, p in enumerate(prompts):
        if write:
            typer.echo(f"--- prompt {i + 1}: {p!r}")
        results += pipe.generate([p], _shift(opts, i), stream=write)[0]
    if as_json:
        for r in results:
            typer.echo(json.dumps(r.__dict__, ensure_ascii=False))
    elif not stream:
        for r in results:
            console.print(f"[dim]--- {r.prompt!r} (seed {r.seed}):[/dim]", highlight=False)
            typer.echo(r.prompt + r.text)
    if out is not None:
        write_text(out, "\n\n".join(r.prompt + r.text for r in results) + "\n")
        console.print(f"wrote {len(results)} text(s) to {out}")


def _shift(opts, i: int):
    """Options for the i-th prompt of a file (keeps per-prompt seeds as if generated together)."""
    from dataclasses import replace

    return replace(opts, seed=opts.seed + 1000 * i)
