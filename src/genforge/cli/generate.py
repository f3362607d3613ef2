"""`genforge generate ...`: content from pretrained providers (no training run needed)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from genforge.cli.common import console, user_errors

app = typer.Typer(help="Generate from pretrained providers.", no_args_is_help=True)


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
