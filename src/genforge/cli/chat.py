"""`genforge chat RUN`: multi-turn chat with a text run."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any

import typer

from genforge.cli.common import default_of, given, user_errors
from genforge.core.errors import GenforgeError
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
    server: Annotated[
        str | None,
        typer.Option(
            help="Chat through a running `genforge serve` at this URL (POST /v1/chat), RUN "
            "being a run on that server; replies stream as they are decoded."
        ),
    ] = None,
    api_key: Annotated[
        str | None,
        typer.Option(envvar="GENFORGE_API_KEY", help="The server's API key (with --server)."),
    ] = None,
) -> None:
    """Chat with a text run: history window, /reset, /save PATH, /quit."""
    from genforge.generate.chat import IntentClassifier, chat_loop
    from genforge.generate.text import TextPipeline

    if server is not None:
        return remote_chat(server, run, api_key, template=template, history=history,
                           intents=intents, runs_dir=runs_dir, max_new_tokens=max_new_tokens,
                           temperature=temperature, top_p=top_p, seed=seed)  # fmt: skip
    if api_key is not None:
        raise GenforgeError("--api-key goes with --server")

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


def remote_chat(server: str, run: str, api_key: str | None, **options: Any) -> None:
    """`--server`: the REPL over a server's /v1/chat (the server keeps the conversation)."""
    from genforge.generate.chat import chat_loop
    from genforge.serve.chat_client import RemoteChatSession

    local = [f"--{k.replace('_', '-')}" for k in ("template", "history", "intents", "runs_dir")
             if options.pop(k) is not None]  # fmt: skip
    if local:
        raise GenforgeError(f"{', '.join(local)}: local chat only (not with --server)")
    session = RemoteChatSession(server, run, api_key, **given(**options))
    chat_loop(session, lambda: input("you> "), lambda s: typer.echo(s, nl=False), stream=True)
