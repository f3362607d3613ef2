"""`genforge translate RUN` (text-to-text runs: --text/--file; CycleGAN/pix2pix runs: --input
IMG) and `genforge summarize RUN` (the same decoding for document -> summary runs)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from genforge.cli.common import console, given, user_errors
from genforge.cli.restore import translate_image_file
from genforge.core.errors import GenforgeError
from genforge.core.run import Run, resolve_run
from genforge.models.seq2seq import DecodeConfig

D = DecodeConfig()

Text = Annotated[list[str] | None, typer.Option("--text", help="A text to translate (repeatable).")]
File = Annotated[Path | None, typer.Option(help="Translate every line of this UTF-8 file.")]
Out = Annotated[
    Path | None,
    typer.Option(help="Write the outputs here, one per line (images: the output PNG)."),
]
NumBeams = Annotated[
    int | None, typer.Option(help=f"Beam search width (1: greedy; default {D.num_beams}).")
]
LengthPenalty = Annotated[
    float | None,
    typer.Option(help=f">1 favours longer beams, <1 shorter (default {D.length_penalty})."),
]
DoSample = Annotated[
    bool | None, typer.Option("--do-sample/--no-do-sample", help="Sample instead of beams.")
]
Temperature = Annotated[
    float | None, typer.Option(help=f"Sampling temperature (default {D.temperature}).")
]
TopP = Annotated[float | None, typer.Option(help=f"Nucleus sampling mass (default {D.top_p}).")]
MaxNew = Annotated[
    int | None, typer.Option(help=f"Most tokens per output (default {D.max_new_tokens}).")
]
BadWords = Annotated[
    list[str] | None, typer.Option("--bad-words", help="Never generate this word (repeatable).")
]
ForcedBos = Annotated[
    str | None,
    typer.Option(help="mBART-style models: force this first token (e.g. de_DE)."),
]
Watermark = Annotated[
    bool, typer.Option(help="Embed the green-list text watermark (transformer runs).")
]
Seed = Annotated[int | None, typer.Option(help=f"Sampling seed (default {D.seed}).")]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON records.")]
Device = Annotated[str | None, typer.Option(help="auto, cpu or cuda (default cpu).")]
RunsDir = Annotated[Path | None, typer.Option(help="Where runs live (default ./runs).")]


@user_errors
def translate_command(
    run: Annotated[str, typer.Argument(help="A seq2seq, gru-seq2seq, cyclegan or pix2pix run.")],
    text: Text = None,
    file: File = None,
    input: Annotated[
        Path | None, typer.Option("--input", help="cyclegan/pix2pix: an image of one domain.")
    ] = None,
    direction: Annotated[
        str | None, typer.Option(help="cyclegan/pix2pix: a2b or b2a (default a2b).")
    ] = None,
    out: Out = None,
    num_beams: NumBeams = None,
    length_penalty: LengthPenalty = None,
    do_sample: DoSample = None,
    temperature: Temperature = None,
    top_p: TopP = None,
    max_new_tokens: MaxNew = None,
    bad_words: BadWords = None,
    forced_bos_token: ForcedBos = None,
    watermark: Watermark = False,
    seed: Seed = None,
    as_json: AsJson = False,
    device: Device = None,
    runs_dir: RunsDir = None,
) -> None:
    """Translate texts with a text-to-text run, or an image with a CycleGAN or pix2pix run."""
    r = resolve_run(run, runs_dir)
    if _modality(r) != "text-pair":
        if input is None:
            raise GenforgeError(f"run '{r.name}' translates images: give --input IMAGE")
        translate_image_file(r, input, out, direction, device)
        return
    if input is not None or direction is not None:
        raise GenforgeError(f"run '{r.name}' translates text: give --text or --file, not --input")
    texts = _texts(text, file, whole_file=False)
    decode = DecodeConfig(**given(
        num_beams=num_beams, length_penalty=length_penalty, do_sample=do_sample,
        temperature=temperature, top_p=top_p, max_new_tokens=max_new_tokens,
        bad_words=list(bad_words) if bad_words else None, forced_bos_token=forced_bos_token,
        seed=seed,
    ))  # fmt: skip
    _run_text(r, texts, decode, watermark, out, as_json, device)


@user_errors
def summarize_command(
    run: Annotated[str, typer.Argument(help="A text-to-text run trained on document -> summary.")],
    text: Annotated[
        list[str] | None, typer.Option("--text", help="A document (repeatable).")
    ] = None,
    file: Annotated[Path | None, typer.Option(help="A UTF-8 file holding one document.")] = None,
    out: Out = None,
    num_beams: NumBeams = None,
    length_penalty: LengthPenalty = None,
    max_new_tokens: MaxNew = None,
    watermark: Watermark = False,
    seed: Seed = None,
    as_json: AsJson = False,
    device: Device = None,
    runs_dir: RunsDir = None,
) -> None:
    """Summarise documents with a text-to-text run (e.g. one trained on pydoc-summaries)."""
    r = resolve_run(run, runs_dir)
    if _modality(r) != "text-pair":
        raise GenforgeError(f"run '{r.name}' is not a text-to-text run (genforge train seq2seq)")
    texts = _texts(text, file, whole_file=True)
    decode = DecodeConfig(**given(num_beams=num_beams, length_penalty=length_penalty,
                                  max_new_tokens=max_new_tokens, seed=seed))  # fmt: skip
    _run_text(r, texts, decode, watermark, out, as_json, device)


def _modality(run: Run) -> str:
    from genforge.models import modality_of

    return modality_of(run.read_config()).name


def _texts(text: list[str] | None, file: Path | None, whole_file: bool) -> list[str]:
    """--text values or the --file's lines (or the whole file as one document)."""
    if (text is None) == (file is None):
        raise GenforgeError("give --text TEXT (repeatable) or --file PATH, one of the two")
    if text is not None:
        return list(text)
    if not file.is_file():
        raise GenforgeError(f"no such file: {file}")
    try:
        content = file.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise GenforgeError(f"{file} is not UTF-8 text") from None
    texts = [content.strip()] if whole_file else [ln.strip() for ln in content.splitlines()]
    texts = [t for t in texts if t]
    if not texts:
        raise GenforgeError(f"{file} holds no text")
    return texts


def _run_text(run: Run, texts: list[str], decode: DecodeConfig, watermark: bool,
              out: Path | None, as_json: bool, device: str | None) -> None:  # fmt: skip
    from genforge.core.io import write_text
    from genforge.generate.seq2seq import Seq2SeqPipeline

    pipe = Seq2SeqPipeline(run, **given(device=device))
    outputs = pipe.translate(texts, decode, watermark=watermark)
    if out is not None:
        write_text(out, "".join(o.replace("\n", " ") + "\n" for o in outputs))
    if as_json:
        records = [{"source": s, "output": o, "run": run.name, "seed": decode.seed,
                    "num_beams": decode.num_beams, "watermark": watermark}
                   for s, o in zip(texts, outputs, strict=True)]  # fmt: skip
        typer.echo(json.dumps(records, ensure_ascii=False, indent=1))
    elif out is None:
        for o in outputs:
            typer.echo(o)
    if out is not None:
        console.print(f"{len(outputs)} output{'s' if len(outputs) != 1 else ''}: {out}")
