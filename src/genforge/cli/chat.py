"""`genforge chat RUN`: multi-turn chat with a text run."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Annotated

import typer

from genforge.cli.common import default_of, given, user_errors
from genforge.core.run import resolve_run
from genforge.generate.chat import CHAT_DECODING, DEFAULT_TEMPLATE, ChatSession

D = CHAT_DECODING  # how replies are decoded unless told otherwise


@user_errors
def chat_command(
    run: Annotated[str, typer.Argument(help="A text run (name or path).")],
    template: Annotated[
        str | None,
        typer.Option(
            help="Prompt per turn; {message} is the user's line, \\n a line break (default "
            + DEFAULT_TEMPLATE.replace("\n", "\\n")
            + ")."
        ),
    ] = None,
    history: Annotated[
        int | None,
        typer.Option(
            help="Earlier turns kept in the prompt "
            f"(default {default_of(ChatSession, 'history_turns')})."
        ),
    ] = None,
    intents: Annotated[
        Path | None,
        typer.Option(help=".jsonl of {text, intent, answer?}: canned answers for known intents."),
    ] = None,
    max_new_tokens: Annotated[
        int | None, typer.Option(help=f"Longest reply in tokens (default {D.max_new_tokens}).")
    ] = None,
    temperature: Annotated[
        float | None, typer.Option(help=f"Sampling temperature (default {D.temperature}).")
    ] = None,
    top_p: Annotated[
        float | None, typer.Option(help=f"Nucleus sampling mass (default {D.top_p}).")
    ] = None,
    seed: Annotated[
        int | None, typer.Option(help=f"Seed of the first reply, +1 per turn (default {D.seed}).")
    ] = None,
    runs_dir: Annotated[Path | None, typer.Option(help="Where runs live (default ./runs).")] = None,
) -> None:
    """Chat with a text run: history window, /reset, /save PATH, /quit."""
    from genforge.generate.chat import IntentClassifier, chat_loop
    from genforge.generate.text import TextPipeline

    if template is not None:
        template = template.replace("\\n", "\n")
    opts = replace(CHAT_DECODING, **given(max_new_tokens=max_new_tokens, temperature=temperature,
                                          top_p=top_p, seed=seed))  # fmt: skip
    opts.check()
    session = ChatSession(
        TextPipeline(resolve_run(run, runs_dir)), options=opts,
        intents=IntentClassifier.from_file(intents) if intents else None,
        **given(template=template, history_turns=history),
    )  # fmt: skip
    chat_loop(session, lambda: input("you> "), lambda s: typer.echo(s, nl=False))
