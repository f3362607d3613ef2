"""/chat: multi-turn chat with a text run or a pretrained chat model, kept by conversation id.

POST /chat answers one user turn, as JSON or (`"stream": true`) as server-sent events: `start`
(the conversation id and the turn's index), `token` events with pieces of the reply, then
`done` with the whole reply, the conversation id and the reply's output id (its provenance
record); a failure midway is an `error` event.
Each reply is written and recorded like a /generate text output (same encoder, provenance
store, optional watermark). A client that goes away stops the decoding; the partial reply is
kept in the conversation, marked `stopped`.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import secrets
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from fastapi import Path as PathParam
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse

from genforge.core.errors import GenforgeError
from genforge.core.run import Run
from genforge.generate.chat import (
    CHAT_DECODING,
    Cancelled,
    ChatSession,
    PretrainedChatSession,
    Reply,
)
from genforge.generate.text import DecodeOptions
from genforge.serve import schemas as S
from genforge.serve.chats import Conversation
from genforge.serve.datasets import LimitError
from genforge.serve.deps import Svc, Who, caller
from genforge.serve.files import write_output
from genforge.serve.handlers import serve_handler
from genforge.serve.services import Services

router = APIRouter(dependencies=[Depends(caller)])
log = logging.getLogger("genforge.serve")

# Request fields kept with the conversation (a later turn may change them).
OPTION_FIELDS = ("max_new_tokens", "decoding", "temperature", "top_k", "top_p", "seed",
                 "watermark")  # fmt: skip
SAMPLING_ONLY = ("temperature", "top_k", "top_p")
ChatId = PathParam(pattern=r"^[0-9a-f]{16}$")


@dataclass
class Turn:
    """A checked turn, ready to decode: the conversation, its session and the lock the
    model's decoding holds."""

    conv: Conversation
    session: ChatSession
    lock: threading.Lock
    model_name: str
    step: int | None
    created: bool  # a new conversation


def decode_options(options: dict[str, Any]) -> DecodeOptions:
    """A conversation's DecodeOptions: its options over the chat defaults (sampled, short,
    ending at the line's end)."""
    d = CHAT_DECODING
    opts = replace(d, do_sample=options.get("decoding", "sampling") == "sampling",
                   max_new_tokens=options.get("max_new_tokens", d.max_new_tokens),
                   temperature=options.get("temperature", d.temperature),
                   top_p=options.get("top_p", d.top_p), top_k=options.get("top_k", d.top_k),
                   seed=options["seed"], watermark=bool(options.get("watermark")))  # fmt: skip
    opts.check()
    return opts


def merged_options(svc: Services, body: S.ChatRequest, old: dict[str, Any]) -> dict[str, Any]:
    """The conversation's options after this request (a seed is drawn for a new one)."""
    if body.max_new_tokens is not None and body.max_new_tokens > svc.settings.max_new_tokens:
        raise LimitError(f"max_new_tokens {body.max_new_tokens} is over this server's "
                         f"limit of {svc.settings.max_new_tokens}")  # fmt: skip
    given = {f: getattr(body, f) for f in OPTION_FIELDS if getattr(body, f) is not None}
    options = {**old, **given}
    if options.get("decoding") == "greedy":
        bad = [f for f in SAMPLING_ONLY if f in given]
        if bad:
            raise GenforgeError(f"{', '.join(bad)} apply to decoding 'sampling' only")
        options = {k: v for k, v in options.items() if k not in SAMPLING_ONLY}
    options.setdefault("seed", secrets.randbelow(2**31))
    return options


def conversation_of(svc: Services, body: S.ChatRequest, who: str) -> tuple[str, str, dict]:
    """(kind, source, options so far) of the request's conversation (404: none of the caller's)."""
    if body.conversation is None:
        if (body.run is None) == (body.model is None):
            raise GenforgeError("give either run (a text run) or model (a chat model)")
        return ("run", body.run, {}) if body.run else ("model", body.model, {})
    conv = svc.chats.get(body.conversation, who)
    if conv is None:
        raise HTTPException(404, f"no conversation '{body.conversation}'")
    asked = body.run if body.run is not None else body.model
    if asked is not None and asked != conv.source:
        raise GenforgeError(f"conversation '{conv.id}' is with {conv.kind} '{conv.source}'")
    return conv.kind, conv.source, conv.options


def session_for(svc: Services, kind: str, source: str) -> tuple[Any, threading.Lock, str, Any]:
    """(session class's pipe, its lock, model name, step) of a text run or a chat model."""
    if kind == "model":
        if source not in svc.chat_models.folders:
            raise HTTPException(404, f"no chat model '{source}' (GET /v1/chat/models)")
        return svc.chat_models.get(source), svc.chat_models.lock, source, None
    run = Run(svc.settings.runs_dir / source)
    if not run.config_path.exists():
        raise HTTPException(404, f"no run '{source}'")
    if not (run.model_dir / "meta.json").exists():
        raise HTTPException(409, f"run '{source}' has no checkpoint yet")
    loaded = svc.cache.get(run)
    if loaded.modality != "text":
        raise GenforgeError(f"run '{source}' is a {loaded.modality} run; chat needs a text run")
    return loaded.model.pipe, loaded.model.lock, loaded.model_name, loaded.step


def prepare(svc: Services, body: S.ChatRequest, who: str) -> Turn:
    """Every check, then the turn's session with the conversation's history (blocking: a
    database read, maybe a model load; called in a worker thread)."""
    if len(body.message) > svc.settings.max_prompt_chars:
        raise LimitError(f"message is over {svc.settings.max_prompt_chars} characters")
    kind, source, old = conversation_of(svc, body, who)
    options = merged_options(svc, body, old)
    opts = decode_options(options)
    if kind == "model" and opts.watermark:
        raise GenforgeError("watermark applies to text runs (their detector needs the run)")
    pipe, lock, model_name, step = session_for(svc, kind, source)
    if kind == "run" and pipe.model.count_based and opts.watermark:
        raise GenforgeError("n-gram runs decode greedily or by sampling, without watermarks")
    if body.conversation is None:
        conv, created = svc.chats.create(who, kind, source, options), True
    else:
        conv, created = svc.chats.get(body.conversation, who), False
        if conv is None:  # deleted meanwhile
            raise HTTPException(404, f"no conversation '{body.conversation}'")
        conv.options = options
    cls = PretrainedChatSession if kind == "model" else ChatSession
    session = cls(pipe, options=opts, history=conv.history(), turn=len(conv.turns))
    return Turn(conv, session, lock, model_name, step, created)


def record_reply(svc: Services, who: str, turn: Turn, message: str, reply: Reply
                 ) -> S.OutputInfo:  # fmt: skip
    """The reply as a text output: file, provenance record (the /generate text encoder)."""
    conv, gen = turn.conv, reply.generated
    oid = svc.provenance.new_id()
    params = {"run": conv.source, "step": turn.step, "model": turn.model_name,
              "seed": conv.options["seed"], "index": 0, "n": 1, "prompt": reply.prompt,
              "decoding": conv.options.get("decoding", "sampling"), "chat": conv.id,
              "turn": len(conv.turns), "message": message}  # fmt: skip
    if conv.options.get("watermark"):
        params["watermark"] = True
    enc = serve_handler("text").encode(gen, params, oid)
    path = svc.settings.outputs_dir / f"{oid}.{enc.ext}"
    write_output(path, enc.content)
    svc.provenance.add_many([svc.provenance.record(
        oid, who=who, run=conv.source, modality="text", params=params, content=enc.content,
        phash_hex=None, watermarked=enc.watermarked, path=str(path),
    )])  # fmt: skip
    return S.OutputInfo(id=oid, url=f"/v1/outputs/{oid}/content", media_type=enc.media_type,
                        params=params, watermarked=enc.watermarked, text=reply.text)  # fmt: skip


def add_turn(svc: Services, turn: Turn, message: str, bot: str, output: str | None,
             stopped: bool = False) -> int:  # fmt: skip
    """Append a turn to the conversation and save it; returns the turn's index."""
    now = dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")
    turn.conv.turns.append({"user": message, "bot": bot, "output": output, "created": now,
                            "stopped": stopped})  # fmt: skip
    svc.chats.save(turn.conv)
    return len(turn.conv.turns) - 1


def run_turn(
    svc: Services,
    who: str,
    turn: Turn,
    message: str,
    stream: Callable[[str], None] | None = None,
    cancel: threading.Event | None = None,
) -> S.ChatReply:
    """Decode the reply (holding the model's lock), record it, save the turn."""
    with turn.lock:
        reply = turn.session.reply(message, stream=stream, cancel=cancel)
    output = record_reply(svc, who, turn, message, reply)
    index = add_turn(svc, turn, message, reply.text, output.id)
    return S.ChatReply(conversation=turn.conv.id, turn=index, reply=reply.text, output=output)


def forget_failed_start(svc: Services, turn: Turn, who: str) -> None:
    """A new conversation whose first reply failed leaves nothing behind."""
    if turn.created and not turn.conv.turns:
        svc.chats.delete(turn.conv.id, who)


def event(kind: str, data: Any) -> str:
    return f"event: {kind}\ndata: {json.dumps(data)}\n\n"


async def sse(svc: Services, who: str, turn: Turn, message: str, request: Request
              ) -> AsyncIterator[str]:  # fmt: skip
    """The reply as server-sent events, decoded on a worker thread; a client that goes away
    sets `cancel`, which stops the decoding at its next token."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
    cancel, sent = threading.Event(), []

    def put(kind: str, data: Any) -> None:
        loop.call_soon_threadsafe(queue.put_nowait, (kind, data))

    def write(piece: str) -> None:
        sent.append(piece)
        put("token", {"text": piece})

    def work() -> None:
        try:
            put("done", run_turn(svc, who, turn, message, write, cancel).model_dump(mode="json"))
            return
        except Cancelled:
            add_turn(svc, turn, message, "".join(sent), None, stopped=True)
            put("end", None)
            return
        except GenforgeError as e:
            error = {"detail": str(e), "status": 400}
        except Exception:
            log.exception("chat reply failed")
            error = {"detail": "the reply failed (see the server's log)", "status": 500}
        forget_failed_start(svc, turn, who)  # before the event: a client that reads the error
        put("error", error)  # and looks the conversation up must find it gone

    loop.run_in_executor(None, work)
    try:
        yield event("start", {"conversation": turn.conv.id, "turn": len(turn.conv.turns)})
        while True:
            try:
                kind, data = await asyncio.wait_for(queue.get(), timeout=0.25)
            except TimeoutError:
                if await request.is_disconnected():
                    return
                continue
            if kind == "end":
                return
            yield event(kind, data)
            if kind != "token":
                return
    finally:
        cancel.set()  # the client went away (or the reply is over: then it changes nothing)


@router.post("/chat", tags=["chat"], response_model=S.ChatReply,
             responses={200: {"content": {"text/event-stream": {}}}})  # fmt: skip
async def chat(svc: Svc, body: S.ChatRequest, who: Who, request: Request) -> Response:
    turn = await run_in_threadpool(prepare, svc, body, who)  # errors: plain JSON replies
    if body.stream:
        return StreamingResponse(sse(svc, who, turn, body.message, request),
                                 media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache"})  # fmt: skip
    try:
        out = await run_in_threadpool(run_turn, svc, who, turn, body.message)
    except GenforgeError:
        await run_in_threadpool(forget_failed_start, svc, turn, who)
        raise
    return Response(out.model_dump_json(), media_type="application/json")


@router.get("/chat/models", tags=["chat"])
def chat_models(svc: Svc) -> dict[str, list[str]]:
    """The pretrained chat models this server was given (`genforge serve --chat-model DIR`)."""
    return {"models": svc.chat_models.names()}


@router.get("/chat/{cid}", response_model=S.ChatInfo, tags=["chat"])
def get_chat(svc: Svc, who: Who, cid: str = ChatId) -> S.ChatInfo:
    conv = svc.chats.get(cid, who)
    if conv is None:
        raise HTTPException(404, f"no conversation '{cid}'")
    return S.ChatInfo(**conv.to_dict())


@router.delete("/chat/{cid}", status_code=204, tags=["chat"])
def delete_chat(svc: Svc, who: Who, cid: str = ChatId) -> Response:
    if not svc.chats.delete(cid, who):
        raise HTTPException(404, f"no conversation '{cid}'")
    return Response(status_code=204)
