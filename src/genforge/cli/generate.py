"""`genforge generate ...`: one command per modality: images from a prompt (a trained t2i run, a
local diffusers pipeline folder, or an OpenAI-compatible images endpoint); text from a trained
text run; speech from pretrained providers (no training run needed)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from genforge.cli.common import call_values, console, default_of, given, on_off, user_errors
from genforge.core.errors import GenforgeError
from genforge.core.run import resolve_run
from genforge.generate.options import PromptOptions
from genforge.generate.pipeline import ImagePipeline
from genforge.generate.providers import LocalPipeline, OpenAICompatible
from genforge.generate.speech import speak_to_file, speech_provider
from genforge.generate.text import DEFAULT_NEW_TOKENS, DecodeOptions, TextPipeline
from genforge.recipes.characters import generate_characters, open_character_run

# `genforge generate character`: the defaults of generate_characters
CHARACTERS = {k: default_of(generate_characters, k) for k in ("n", "seed")}

app = typer.Typer(
    help="Generate images from a prompt, text from a run, or speech from pretrained providers.",
    no_args_is_help=True,
)


P = PromptOptions  # the defaults of `genforge generate image`


@app.command("image")
@user_errors
def image_command(
    prompt: Annotated[str, typer.Option(help='What to draw, e.g. "a handwritten seven".')],
    model: Annotated[
        str | None,
        typer.Option(help="A t2i run, a local diffusers pipeline folder, or a remote model name."),
    ] = None,
    provider: Annotated[
        str | None,
        typer.Option(help="run, local or openai-compatible (default: from --model)."),
    ] = None,
    n: Annotated[int | None, typer.Option(help=f"Images to draw (default {P.n}).")] = None,
    seed: Annotated[
        int | None,
        typer.Option(help=f"Seed: the same seed gives the same images (default {P.seed})."),
    ] = None,
    guidance: Annotated[
        float | None, typer.Option(help="Classifier-free guidance scale (0 = ignore the prompt).")
    ] = None,
    sampler: Annotated[
        str | None, typer.Option(help="t2i runs: ddim (default), ddpm or dpm-solver++.")
    ] = None,
    steps: Annotated[int | None, typer.Option(help="Denoising steps.")] = None,
    input: Annotated[
        Path | None, typer.Option("--input", help="Local pipelines: image-to-image from this.")
    ] = None,
    mask: Annotated[
        Path | None, typer.Option(help="Local pipelines with --input: inpaint the light area.")
    ] = None,
    strength: Annotated[
        float | None,
        typer.Option(help=f"Image-to-image: how much to change (default {P.strength})."),
    ] = None,
    size: Annotated[
        str | None,
        typer.Option(
            help="openai-compatible: WIDTHxHEIGHT "
            f"(default {default_of(OpenAICompatible, 'size')})."
        ),
    ] = None,
    lora: Annotated[
        str | None,
        typer.Option(help="Local pipelines: load this LoRA run's adapters (name or path)."),
    ] = None,
    lora_scale: Annotated[
        float | None,
        typer.Option(
            help="With --lora, or a t2i run fine-tuned with LoRA: adapter strength, 0 = base alone "
            f"(default {default_of(LocalPipeline, 'lora_scale')})."
        ),
    ] = None,
    out: Annotated[Path | None, typer.Option(help="Grid PNG.")] = None,
    out_dir: Annotated[
        Path | None, typer.Option(help="Write one PNG per image into this folder.")
    ] = None,
    device: Annotated[
        str | None,
        typer.Option(help=f"auto, cpu or cuda (default {default_of(ImagePipeline, 'device')})."),
    ] = None,
    runs_dir: Annotated[Path | None, typer.Option(help="Where runs live (default ./runs).")] = None,
) -> None:
    """Draw images for a text prompt."""
    from genforge.generate.providers import is_pipeline_folder

    opts = PromptOptions(**given(n=n, seed=seed, guidance=guidance, steps=steps,
                                 strength=strength))  # fmt: skip
    if out is not None and out.suffix.lower() != ".png":
        raise GenforgeError(f"--out must end in .png, got {out.name}")
    if opts.n < 1:
        raise GenforgeError(f"--n must be at least 1, got {opts.n}")
    if provider is None:
        if model is None:
            raise GenforgeError(
                "which model? --model RUN (genforge train t2i ...), --model PIPELINE_FOLDER, "
                "or --provider openai-compatible"
            )
        provider = "local" if is_pipeline_folder(model) else "run"
    if provider != "local" and (input is not None or mask is not None):
        raise GenforgeError("--input/--mask need a local diffusers pipeline (--provider local)")
    if mask is not None and input is None:
        raise GenforgeError("--mask needs --input (the image to inpaint)")
    if provider != "local" and lora is not None:
        raise GenforgeError("--lora needs a local diffusers pipeline (--model FOLDER)")
    if lora_scale is not None and lora is None and provider != "run":
        raise GenforgeError("--lora-scale needs --lora RUN (or a t2i run fine-tuned with LoRA)")
    adapters = {} if lora is None else {"lora": resolve_run(lora, runs_dir).path,
                                        **given(lora_scale=lora_scale)}  # fmt: skip
    if provider == "run":
        paths = _from_run(model, prompt, opts, sampler, out, out_dir, device, runs_dir,
                          lora_scale)  # fmt: skip
    else:
        if sampler is not None:
            raise GenforgeError("--sampler applies to genforge runs only")
        paths = _from_provider(provider, model, prompt, opts, input, mask, size, out, out_dir,
                               device, adapters)  # fmt: skip
    paths, grid = paths
    if grid is not None:
        console.print(f"grid: {paths[0]}")
    if out_dir is not None:
        console.print(f"{len(paths) - (grid is not None)} images in {out_dir}")


def _from_run(model, prompt, opts: PromptOptions, sampler, out, out_dir, device, runs_dir,
              lora_scale):  # fmt: skip
    from genforge.generate.diffusion import DiffusionPipeline
    from genforge.generate.image import write_prompt_samples

    if model is None:
        raise GenforgeError("--provider run needs --model RUN")
    pipe = DiffusionPipeline(
        resolve_run(model, runs_dir), steps=opts.steps, guidance=opts.guidance,
        **given(device=device, sampler=sampler, lora_scale=lora_scale),
    )  # fmt: skip
    if out is None and out_dir is None:
        out = pipe.run.samples_dir / f"prompt-s{opts.seed}.png"
    return write_prompt_samples(pipe, prompt, opts.n, seed=opts.seed, grid=out,
                                out_dir=out_dir), out  # fmt: skip


def _from_provider(name, model, prompt, opts: PromptOptions, input, mask, size, out, out_dir,
                   device, adapters: dict):  # fmt: skip
    from genforge.generate.image import write_pil_images
    from genforge.generate.providers import get_provider

    if name == "local":
        if model is None:
            raise GenforgeError("--provider local needs --model PIPELINE_FOLDER")
        prov = get_provider("local", path=model, **given(device=device), **adapters)
    else:
        prov = get_provider(name, model=model, **given(size=size))
    n, seed, guidance, steps = opts.n, opts.seed, opts.guidance, opts.steps
    if input is not None:
        image = _open(input)
        if mask is not None:
            images = prov.inpaint(image, _open(mask).convert("L"), prompt, n=n, seed=seed,
                                  guidance=guidance, steps=steps)  # fmt: skip
        else:
            images = prov.img2img(image, prompt, strength=opts.strength, n=n, seed=seed,
                                  guidance=guidance, steps=steps)  # fmt: skip
    else:
        images = prov.txt2img(prompt, n=n, seed=seed, guidance=guidance, steps=steps)
    params = {"provider": name, "model": model, "prompt": prompt, "seed": seed,
              "guidance": guidance, "steps": steps, "lora": adapters.get("lora"),
              "lora_scale": adapters.get("lora_scale")}  # fmt: skip
    params = {k: v for k, v in params.items() if v is not None}
    if out is None and out_dir is None:
        out = Path(f"{name}-s{seed}.png")
    return write_pil_images(images, params, grid=out, out_dir=out_dir), out


def _open(path: Path):
    from PIL import Image, UnidentifiedImageError

    if not path.is_file():
        raise GenforgeError(f"no image file {path}")
    try:
        with Image.open(path) as im:
            return im.convert("RGB") if im.mode not in ("RGB", "L") else im.copy()
    except (UnidentifiedImageError, OSError) as e:
        raise GenforgeError(f"cannot read {path} as an image: {e}") from None


@app.command("speech")
@user_errors
def speech_command(
    text: Annotated[str, typer.Option(help="What to say.")],
    out: Annotated[
        Path | None,
        typer.Option(help=f"Output WAV file (default {default_of(speak_to_file, 'out')})."),
    ] = None,
    voice: Annotated[
        str | None,
        typer.Option(
            help="espeak-ng voice (en, en-us, de, fr, en+f3, ...; default "
            f"{default_of(speech_provider, 'voice')})."
        ),
    ] = None,
    rate: Annotated[
        int | None,
        typer.Option(
            help="Speed in words per minute (80-450; default "
            f"{default_of(speech_provider, 'rate')})."
        ),
    ] = None,
    pitch: Annotated[
        int | None,
        typer.Option(
            help=f"Pitch 0-99 (espeak-ng; default {default_of(speech_provider, 'pitch')})."
        ),
    ] = None,
    model: Annotated[
        Path | None,
        typer.Option(
            help="Local TTS model folder (save_pretrained, e.g. VITS) instead of espeak-ng."
        ),
    ] = None,
    seed: Annotated[
        int | None,
        typer.Option(
            help=f"Seed (local models sample noise; default {default_of(speech_provider, 'seed')})."
        ),
    ] = None,
) -> None:
    """Text to speech: espeak-ng (the baseline) or a local pretrained TTS model."""
    provider = speech_provider(model, **given(voice=voice, rate=rate, pitch=pitch, seed=seed))
    path, seconds, sr = speak_to_file(provider, text, **given(out=out))
    console.print(f"{seconds:.2f} s of speech ({provider.name}, {sr} Hz): {path}")


D = DecodeOptions  # the defaults of `genforge generate text`


# Options of the text quality gate (genforge.evaluate.text_gate), shared as types.
BestOf = Annotated[
    int | None, typer.Option(help="Text gate: sample this many per text, keep the best-scored.")
]
MinScore = Annotated[
    float | None, typer.Option(help="Text gate: keep texts scoring at least this (0-1; default 0).")
]
Gate = Annotated[
    str | None,
    typer.Option(
        help="Text gate: auto (fluency + repetition), learned (genforge gate fit) or both."
    ),
]
Ban = Annotated[
    list[str] | None, typer.Option(help="Text gate: reject texts with this word (repeatable).")
]
MinWords = Annotated[int | None, typer.Option(help="Text gate: reject texts shorter than this.")]
MaxWords = Annotated[int | None, typer.Option(help="Text gate: reject texts longer than this.")]

TextRun = Annotated[str | None, typer.Argument(help="A text run (name or path); or give --model.")]
CausalLMFolder = Annotated[
    Path | None,
    typer.Option(
        help="A local transformers causal LM folder (save_pretrained: config.json, safetensors, "
        "tokenizer) instead of a run; never downloaded."
    ),
]


@app.command("text")
@user_errors
def text_command(
    run: TextRun = None,
    model: CausalLMFolder = None,
    prompt: Annotated[list[str] | None, typer.Option(help="Prompt (repeatable).")] = None,
    prompt_file: Annotated[
        Path | None, typer.Option(help="One prompt per line (blank lines skipped).")
    ] = None,
    max_new_tokens: Annotated[
        int | None,
        typer.Option(help=f"New tokens (default {DEFAULT_NEW_TOKENS}, within the context)."),
    ] = None,
    max_length: Annotated[
        int | None, typer.Option(help="Prompt + new tokens, as in transformers.")
    ] = None,
    min_new_tokens: Annotated[
        int | None, typer.Option(help=f"Do not end before this many (default {D.min_new_tokens}).")
    ] = None,
    do_sample: Annotated[
        bool | None,
        typer.Option(
            "--do-sample/--no-do-sample",
            help=f"Sample instead of greedy/beam search (default {on_off(D.do_sample)}).",
        ),
    ] = None,
    temperature: Annotated[
        float | None, typer.Option(help=f"Sampling temperature (default {D.temperature}).")
    ] = None,
    top_k: Annotated[int | None, typer.Option(help="Sample from the k likeliest tokens.")] = None,
    top_p: Annotated[float | None, typer.Option(help="Nucleus sampling mass.")] = None,
    num_beams: Annotated[
        int | None, typer.Option(help=f"Beam search width (1: none; default {D.num_beams}).")
    ] = None,
    repetition_penalty: Annotated[
        float | None,
        typer.Option(help=f">1 discourages repeats (default {D.repetition_penalty})."),
    ] = None,
    no_repeat_ngram_size: Annotated[
        int | None,
        typer.Option(
            help=f"Never repeat an n-gram of this size (0: off; default {D.no_repeat_ngram_size})."
        ),
    ] = None,
    n: Annotated[
        int | None,
        typer.Option("--n", help=f"Texts per prompt (default {D.num_return_sequences})."),
    ] = None,
    stop: Annotated[
        list[str] | None, typer.Option(help="Stop at this string (repeatable).")
    ] = None,
    seed: Annotated[
        int | None,
        typer.Option(help=f"Seed: sample j of prompt i uses seed+1000i+j (default {D.seed})."),
    ] = None,
    stream: Annotated[bool, typer.Option(help="Print tokens as they come.")] = False,
    watermark: Annotated[
        bool | None,
        typer.Option(
            "--watermark/--no-watermark",
            help=f"Embed a green-list watermark (default {on_off(D.watermark)}).",
        ),
    ] = None,
    watermark_key: Annotated[
        int | None, typer.Option(help=f"Watermark hashing key (default {D.watermark_key}).")
    ] = None,
    truncate: Annotated[
        bool | None,
        typer.Option(
            "--truncate/--no-truncate",
            help="Keep the end of a prompt longer than the context (default "
            f"{on_off(D.truncate)}).",
        ),
    ] = None,
    out: Annotated[Path | None, typer.Option(help="Also write the texts here.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON records.")] = False,
    device: Annotated[
        str | None,
        typer.Option(help=f"auto, cpu or cuda (default {default_of(TextPipeline, 'device')})."),
    ] = None,
    best_of: BestOf = None,
    min_score: MinScore = None,
    gate: Gate = None,
    ban: Ban = None,
    min_words: MinWords = None,
    max_words: MaxWords = None,
    runs_dir: Annotated[Path | None, typer.Option(help="Where runs live (default ./runs).")] = None,
) -> None:
    """Generate text from a text run (gpt, lstm, ngram) or a local causal LM folder (--model),
    optionally through the text gate (runs only)."""
    prompts = _prompts(prompt, prompt_file)
    opts = DecodeOptions(**given(
        max_new_tokens=max_new_tokens, max_length=max_length, min_new_tokens=min_new_tokens,
        do_sample=do_sample, temperature=temperature, top_k=top_k, top_p=top_p,
        num_beams=num_beams, repetition_penalty=repetition_penalty,
        no_repeat_ngram_size=no_repeat_ngram_size, num_return_sequences=n,
        stop=tuple(stop) if stop else None, seed=seed, watermark=watermark,
        watermark_key=watermark_key, truncate=truncate,
    ))  # fmt: skip
    opts.check()
    if stream and opts.num_beams > 1:
        raise GenforgeError("beam search cannot stream: the best beam is known only at the end")
    gated = any(x is not None for x in (best_of, min_score, gate, ban, min_words, max_words))
    pipe = _text_pipeline(run, model, runs_dir, device)
    if gated:
        from genforge.evaluate.text_gate import TextLimits

        if stream:
            raise GenforgeError("the text gate picks among finished texts; drop --stream")
        limits = TextLimits(**given(min_words=min_words, max_words=max_words,
                                    banned=tuple(ban) if ban else None))  # fmt: skip
        results = gated_texts(pipe, prompts, opts, best_of or 4, min_score or 0.0,
                              gate or "auto", limits)  # fmt: skip
        _print_texts(results, as_json, stream, out)
        return
    write = (lambda s: typer.echo(s, nl=False)) if stream and not as_json else None
    results = []
    for i, p in enumerate(prompts):
        if write:
            typer.echo(f"--- prompt {i + 1}: {p!r}")
        results += pipe.generate([p], _shift(opts, i), stream=write)[0]
    _print_texts(results, as_json, stream, out)


def _text_pipeline(run: str | None, model: Path | None, runs_dir: Path | None,
                   device: str | None):  # fmt: skip
    """The run's TextPipeline, or the --model folder's CausalLMPipeline."""
    from genforge.generate.causal_lm import CausalLMPipeline

    if (run is None) == (model is None):
        raise GenforgeError(
            "give a text run (RUN) or a causal LM folder (--model PATH), one of them"
        )
    if model is None:
        return TextPipeline(resolve_run(run, runs_dir), **given(device=device))
    return CausalLMPipeline(model, **given(device=device))


def gated_texts(pipe, prompts: list[str], opts, k: int, min_score: float, gate: str,
                limits) -> list:  # fmt: skip
    """Sample `k` texts per requested text and keep the best the text gate passes; says on
    stderr how many were kept and why candidates were rejected."""
    from collections import Counter
    from dataclasses import replace

    from genforge.evaluate.text_gate import FolderTextGate, TextGate, best_texts
    from genforge.generate.causal_lm import CausalLMPipeline

    if not opts.do_sample:
        raise GenforgeError("the text gate picks among sampled texts; add --do-sample")
    if k < 1 or not 0.0 <= min_score <= 1.0:
        raise GenforgeError(
            f"--best-of must be >= 1 and --min-score in [0, 1], got {k}, {min_score}"
        )
    gate_type = FolderTextGate if isinstance(pipe, CausalLMPipeline) else TextGate
    with console.status("preparing the text gate (held-out reference, training text) ..."):
        tg = gate_type(pipe, gate, limits)
    kept, reasons, drawn = [], Counter(), 0
    n = opts.num_return_sequences
    for i, p in enumerate(prompts):
        gens = pipe.generate([p], _shift(replace(opts, num_return_sequences=n * k), i))[0]
        verdicts = tg.score([g.text for g in gens])
        drawn += len(gens)
        reasons.update(r.split(" (")[0] for v in verdicts for r in v.rejected)
        by_text = {id(v): g for v, g in zip(verdicts, gens, strict=True)}
        for v in best_texts(verdicts, k, min_score):
            if v is not None:
                kept.append(replace(by_text[id(v)], score=round(v.score, 4)))
    why = "; ".join(f"{c} x {r}" for r, c in reasons.most_common(5))
    typer.echo(f"text gate ({' + '.join(tg.components)}): kept {len(kept)} of "
               f"{n * len(prompts)} requested from {drawn} candidates (best of {k}, score >= "
               f"{min_score:g}){'; rejected: ' + why if why else ''}", err=True)  # fmt: skip
    return kept


def _prompts(prompt: list[str] | None, prompt_file: Path | None) -> list[str]:
    """--prompt (repeatable) then the lines of --prompt-file; none: one empty prompt."""
    prompts = list(prompt or [])
    if prompt_file is not None:
        if not prompt_file.is_file():
            raise GenforgeError(f"no such prompt file: {prompt_file}")
        prompts += [p for p in prompt_file.read_text(encoding="utf-8").splitlines() if p.strip()]
    return prompts or [""]  # unconditional: start from end-of-text


def _print_texts(results: list, as_json: bool, stream: bool, out: Path | None) -> None:
    """JSON records, or each text under its prompt and seed (streamed ones are out already);
    --out: the texts into a file too."""
    from genforge.core.io import write_text

    if as_json:
        for r in results:
            rec = {k: v for k, v in r.__dict__.items() if k != "score" or v is not None}
            typer.echo(json.dumps(rec, ensure_ascii=False))
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


@app.command(
    "character",
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
)
@user_errors
def character_command(
    ctx: typer.Context,
    model: Annotated[
        str | None, typer.Option(help="An attrgan run (default: the newest one in the runs dir).")
    ] = None,
    n: Annotated[
        int | None, typer.Option(help=f"Characters to draw (default {CHARACTERS['n']}).")
    ] = None,
    seed: Annotated[
        int | None,
        typer.Option(
            help="Seed: fixes the noise and every attribute not given (default "
            f"{CHARACTERS['seed']})."
        ),
    ] = None,
    attr: Annotated[
        list[str] | None,
        typer.Option("--attr", help="NAME=VALUE for any attribute of the run (repeatable)."),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(help="Output folder (default RUN/samples/characters-s<seed>)."),
    ] = None,
    device: Annotated[
        str | None,
        typer.Option(
            help=f"auto, cpu or cuda (default {default_of(open_character_run, 'device')})."
        ),
    ] = None,
    runs_dir: Annotated[Path | None, typer.Option(help="Where runs live (default ./runs).")] = None,
) -> None:
    """Draw characters with chosen attributes: --hair red --eyes round --smile yes (any attribute
    of the run as --NAME VALUE; unspecified ones random, fixed by --seed)."""
    pipe = open_character_run(model, runs_dir, **given(device=device))
    wanted = _attribute_args(list(ctx.args), attr or [], pipe.spec.attribute_values)
    kw = call_values(generate_characters, n=n, seed=seed, out_dir=out)
    paths, _ = generate_characters(pipe, wanted, **kw)
    folder = paths[0].parent  # --out, else the run's samples/characters-s<seed>
    asked = ", ".join(f"{k}={v}" for k, v in wanted.items()) or "all attributes random"
    console.print(f"{kw['n']} characters from run '{pipe.run.name}' ({asked}) in {folder}")
    console.print(f"sprite sheet: {folder / 'sheet.png'} (index sheet.json, sheet.csv)")


def _attribute_args(
    args: list[str], pairs: list[str], values: dict[str, list[str]]
) -> dict[str, str]:
    """`--hair red --eyes=round` (extra CLI args) and `--attr hair=red` -> {name: value}."""
    valid = ", ".join(f"--{k} {{{','.join(v)}}}" for k, v in values.items())
    wanted: dict[str, str] = {}
    i = 0
    while i < len(args):
        tok = args[i]
        if not tok.startswith("--") or len(tok) <= 2:
            raise GenforgeError(f"unexpected argument {tok!r}; attributes of this run: {valid}")
        key, eq, val = tok[2:].partition("=")
        if not eq:
            if i + 1 >= len(args) or args[i + 1].startswith("--"):
                raise GenforgeError(f"--{key} needs a value; attributes of this run: {valid}")
            val, i = args[i + 1], i + 1
        if key not in values:
            raise GenforgeError(
                f"unknown option or attribute --{key}; attributes of this run: {valid}"
            )
        wanted[key] = val
        i += 1
    for p in pairs:
        key, eq, val = p.partition("=")
        if not eq or not key:
            raise GenforgeError(f"--attr takes NAME=VALUE, got {p!r}; attributes: {valid}")
        wanted[key.strip()] = val.strip()
    return wanted
