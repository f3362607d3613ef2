"""`genforge chat RUN`: multi-turn chat with a text run."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from genforge.cli.common import user_errors
from genforge.core.run import resolve_run


@user_errors
def chat_command(
    run: Annotated[str, typer.Argument(help="A text run (name or path).")],
    template: Annotated[
        str, typer.Option(help="Prompt per turn; {message} is the user's line.")
    ] = "User: {message}\nBot:",
    history: Annotated[int, typer.Option(help="Earlier turns kept in the prompt.")] = 4,
    intents: Annotated[
        Path | None,
        typer.Option(help=".jsonl of {text, intent, answer?}: canned answers for known intents."),
    ] = None,
    max_new_tokens: Annotated[int, typer.Option(help="Longest reply in tokens.")] = 60,
    temperature: Annotated[float, typer.Option(help="Sampling temperature.")] = 0.8,
    top_p: Annotated[float, typer.Option(help="Nucleus sampling mass.")] = 0.9,
    seed: Annotated[int, typer.Option(help="Seed of the first reply (+1 per turn).")] = 0,
    runs_dir: Annotated[Path | None, typer.Option(help="Where runs live (default ./runs).")] = None,
) -> None:
    """Chat with a text run: history window, /reset, /save PATH, /quit."""
    from genforge.generate.chat import ChatSession, IntentClassifier, chat_loop
    from genforge.generate.text import DecodeOptions, TextPipeline

    template = template.replace("\\n", "\n")
    opts = DecodeOptions(do_sample=True, temperature=temperature, top_p=top_p,
                         max_new_tokens=max_new_tokens, seed=seed, stop=("\nUser:", "\n"))  # fmt: skip
    opts.check()
    session = ChatSession(
        TextPipeline(resolve_run(run, runs_dir)), template, history, opts,
        IntentClassifier.from_file(intents) if intents else None,
    )  # fmt: skip
    chat_loop(session, lambda: input("you> "), lambda s: typer.echo(s, nl=False))
