"""/v1/chat: conversations kept by id (across turns and server restarts), streamed replies
(server-sent events), per-key isolation, and a local pretrained chat model whose chat template
formats the prompt."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from hf_tiny import save_tiny_chat_gpt2
from textkit import TINY_GPT, TINY_TRAIN, make_docs


@pytest.fixture(scope="session")
def chat_runs(tmp_path_factory) -> Path:
    """runs/tx (gpt, 64-token context), runs/ng (n-gram), runs/dc (an image run), and a
    tiny chat model folder with a chat template (models/tiny-chat)."""
    from genforge.train.launch import train

    root = tmp_path_factory.mktemp("chat")
    corpus = root / "corpus.txt"
    corpus.write_text("\n\n".join(make_docs(30)), encoding="utf-8")
    runs = root / "runs"
    data = {"block_size": 64, "dedup": "exact"}
    train("gpt", str(corpus), name="tx", runs_dir=runs, **{**data, **TINY_TRAIN, **TINY_GPT})
    train("ngram", str(corpus), name="ng", runs_dir=runs, **data)
    train("dcgan", "digits", name="dc", runs_dir=runs, steps=1, image_size=16, batch_size=8,
          ngf=8, ndf=8, latent_dim=8)  # fmt: skip
    save_tiny_chat_gpt2(root / "models" / "tiny-chat")
    return root


@pytest.fixture
def runs_dir(tmp_path, chat_runs):
    """The runs folder (and database) of this test's servers: `make_client` from
    tests/serve/conftest.py serves it, and a second client is the same server restarted."""
    runs = tmp_path / "runs"
    shutil.copytree(chat_runs / "runs", runs)
    return runs


@pytest.fixture
def make_chat(make_client, chat_runs):
    """make_chat(**settings) -> a TestClient over a fresh app with the tiny chat folder."""

    def make(**kw) -> TestClient:
        kw.setdefault("chat_models", (chat_runs / "models" / "tiny-chat",))
        return make_client(**kw)

    return make


def chat(c, headers=None, **body):
    return c.post("/v1/chat", json=body, headers=headers or {})


def sse_events(text: str) -> list[tuple[str, dict]]:
    """(event, data) pairs of a text/event-stream body."""
    out = []
    for block in text.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        out.append((lines["event"], json.loads(lines["data"])))
    return out


def test_conversation_kept_by_id_across_turns_and_restart(make_chat):
    c = make_chat()
    first = chat(c, run="tx", message="hello there", max_new_tokens=6, seed=3)
    assert first.status_code == 200, first.text
    cid = first.json()["conversation"]
    assert first.json()["turn"] == 0
    second = chat(c, conversation=cid, message="and the rivers?")
    assert second.status_code == 200, second.text
    assert second.json()["conversation"] == cid and second.json()["turn"] == 1
    # the second prompt holds the first turn (the history the engine formats)
    prompt = second.json()["output"]["params"]["prompt"]
    assert prompt.startswith("User: hello there\nBot:")
    assert prompt.endswith("User: and the rivers?\nBot:")
    # the reply is a recorded text output, like /v1/generate's
    out = second.json()["output"]
    rec = c.get(f"/v1/outputs/{out['id']}").json()
    assert rec["run"] == "tx" and rec["modality"] == "text" and rec["params"]["chat"] == cid
    assert c.get(out["url"]).text == second.json()["reply"]

    restarted = make_chat()  # a new app on the same database file
    conv = restarted.get(f"/v1/chat/{cid}")
    assert conv.status_code == 200
    body = conv.json()
    assert body["run"] == "tx" and body["options"]["max_new_tokens"] == 6
    assert [t["user"] for t in body["turns"]] == ["hello there", "and the rivers?"]
    assert [t["bot"] for t in body["turns"]] == [first.json()["reply"], second.json()["reply"]]
    third = chat(restarted, conversation=cid, message="bye")
    assert third.status_code == 200 and third.json()["turn"] == 2
    assert restarted.delete(f"/v1/chat/{cid}").status_code == 204
    assert restarted.get(f"/v1/chat/{cid}").status_code == 404
    assert restarted.delete(f"/v1/chat/{cid}").status_code == 404


def test_same_seed_same_replies_and_ngram_runs(make_chat):
    c = make_chat()
    a = chat(c, run="tx", message="hi", seed=5, max_new_tokens=8).json()["reply"]
    b = chat(c, run="tx", message="hi", seed=5, max_new_tokens=8).json()["reply"]
    assert a == b
    ng = chat(c, run="ng", message="the model", max_new_tokens=8, seed=1)
    assert ng.status_code == 200, ng.text
    # watermarked like /v1/generate text: the green-list bias changes the sampled reply
    wm = chat(c, run="tx", message="hi", seed=5, max_new_tokens=8, watermark=True).json()
    assert wm["output"]["watermarked"] and wm["output"]["params"]["watermark"] is True
    assert c.get(f"/v1/outputs/{wm['output']['id']}").json()["watermarked"]


def test_stream_tokens_add_up_to_the_reply(make_chat):
    c = make_chat()
    r = chat(c, run="tx", message="tell me about cats", stream=True, max_new_tokens=16,
             decoding="sampling", temperature=1.5, seed=2)  # fmt: skip
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    events = sse_events(r.text)
    kinds = [k for k, _ in events]
    assert kinds[0] == "start" and kinds[-1] == "done" and set(kinds[1:-1]) == {"token"}
    assert len(kinds) >= 4
    done = events[-1][1]
    assert events[0][1] == {"conversation": done["conversation"], "turn": 0}
    assert "".join(d["text"] for k, d in events if k == "token") == done["reply"] != ""
    assert done["output"]["id"] and done["conversation"]
    turns = c.get(f"/v1/chat/{done['conversation']}").json()["turns"]
    assert turns[0]["bot"] == done["reply"] and turns[0]["output"] == done["output"]["id"]


def test_errors_unknown_foreign_and_bad_requests(make_chat, tmp_path):
    from genforge.serve.auth import KeyStore

    keys = tmp_path / "keys.json"
    store = KeyStore(keys)
    alice, bob = store.create("alice"), store.create("bob")
    c = make_chat(keys_path=keys)
    ha, hb = {"Authorization": f"Bearer {alice}"}, {"Authorization": f"Bearer {bob}"}
    assert chat(c, run="tx", message="hi").status_code == 401
    r = chat(c, ha, run="tx", message="hi", max_new_tokens=4)
    assert r.status_code == 200, r.text
    cid = r.json()["conversation"]
    assert c.get(f"/v1/chat/{cid}", headers=ha).status_code == 200
    # bob cannot see, continue or delete alice's conversation: as if it did not exist
    assert c.get(f"/v1/chat/{cid}", headers=hb).status_code == 404
    assert chat(c, hb, conversation=cid, message="hi").status_code == 404
    assert c.delete(f"/v1/chat/{cid}", headers=hb).status_code == 404
    assert c.get(f"/v1/chat/{cid}", headers=ha).json()["turns"][0]["user"] == "hi"
    assert c.get("/v1/chat/0123456789abcdef", headers=ha).status_code == 404
    assert c.get("/v1/chat/not-an-id", headers=ha).status_code == 422
    bad = {
        "no run": ({"message": "hi"}, 400),
        "both": ({"run": "tx", "model": "tiny-chat", "message": "hi"}, 400),
        "unknown run": ({"run": "nope", "message": "hi"}, 404),
        "image run": ({"run": "dc", "message": "hi"}, 400),
        "unknown model": ({"model": "nope", "message": "hi"}, 404),
        "empty message": ({"run": "tx", "message": ""}, 422),
        "greedy + temperature": (
            {"run": "tx", "message": "hi", "decoding": "greedy", "temperature": 0.5},
            400,
        ),
        "over the token limit": ({"run": "tx", "message": "hi", "max_new_tokens": 10**6}, 413),
        "other run": ({"run": "ng", "conversation": cid, "message": "hi"}, 400),
        "n-gram watermark": ({"run": "ng", "message": "hi", "watermark": True}, 400),
    }
    for name, (body, status) in bad.items():
        r = chat(c, ha, **body)
        assert r.status_code == status, (name, r.text)
        assert isinstance(r.json()["detail"], str | list), name


def test_pretrained_chat_model_uses_its_chat_template(make_chat):
    c = make_chat()
    assert c.get("/v1/chat/models").json() == {"models": ["tiny-chat"]}
    r = chat(c, model="tiny-chat", message="hello", max_new_tokens=5, seed=0)
    assert r.status_code == 200, r.text
    cid = r.json()["conversation"]
    assert r.json()["output"]["params"]["prompt"] == "<|user|>hello<|end|><|assistant|>"
    r2 = chat(c, conversation=cid, message="how are you", stream=True, max_new_tokens=5)
    events = sse_events(r2.text)
    done = events[-1][1]
    assert events[-1][0] == "done"
    assert "".join(d["text"] for k, d in events if k == "token") == done["reply"]
    first = r.json()["reply"]
    assert done["output"]["params"]["prompt"] == (
        f"<|user|>hello<|end|><|assistant|>{first}<|end|><|user|>how are you<|end|><|assistant|>"
    )
    assert c.get(f"/v1/chat/{cid}").json()["model"] == "tiny-chat"
    assert chat(c, model="tiny-chat", message="x", watermark=True).status_code == 400


def test_pretrained_chat_without_template_uses_the_plain_format(tmp_path):
    from genforge.generate.chat import PretrainedChat, PretrainedChatSession

    pipe = PretrainedChat(save_tiny_chat_gpt2(tmp_path / "plain", template=None))
    assert not pipe.has_template
    s = PretrainedChatSession(pipe)
    r = s.reply("hello")
    assert r.prompt == "User: hello\nBot:" and "\n" not in r.text


def test_client_going_away_stops_the_reply_and_keeps_the_partial_turn(make_chat):
    """The SSE generator sets the cancel event when the client goes away (Starlette closes the
    generator): the decoding stops at its next piece and the partial turn is kept, stopped."""
    import asyncio
    import threading
    import time

    from genforge.generate.chat import Cancelled, Reply
    from genforge.serve.routes.chat import Turn, sse

    c = make_chat()
    svc = c.app.state.services
    pieces_made = []

    class SlowSession:  # a reply of 200 pieces, 20 ms apart, that honours `cancel`
        def reply(self, message, stream=None, cancel=None):
            for i in range(200):
                if cancel is not None and cancel.is_set():
                    raise Cancelled
                pieces_made.append(i)
                stream(f"w{i} ")
                time.sleep(0.02)
            return Reply("never", "generate")

    conv = svc.chats.create("local", "run", "tx", {"seed": 0})
    turn = Turn(conv, SlowSession(), threading.Lock(), "gpt", 2, True)

    class Connected:  # a Request whose client is still there
        async def is_disconnected(self):
            return False

    async def first_two_then_leave():
        gen = sse(svc, "local", turn, "hello", Connected())
        got = [await gen.__anext__() for _ in range(3)]  # start, two tokens
        await gen.aclose()  # what Starlette does when the client disconnects
        return got

    got = asyncio.run(first_two_then_leave())
    assert got[0].startswith("event: start") and got[2].startswith("event: token")
    deadline = time.monotonic() + 5
    while not (svc.chats.get(conv.id, "local").turns) and time.monotonic() < deadline:
        time.sleep(0.05)
    saved = svc.chats.get(conv.id, "local").turns
    assert len(saved) == 1 and saved[0]["stopped"] and saved[0]["output"] is None
    assert saved[0]["bot"].startswith("w0 w1") and len(pieces_made) < 50


def test_cli_chats_through_a_server(tmp_path, chat_runs, free_port, start_server):
    from typer.testing import CliRunner

    from genforge.cli.main import app

    runs, port = tmp_path / "runs", free_port()
    shutil.copytree(chat_runs / "runs" / "tx", runs / "tx")
    server = start_server(runs, port)
    try:
        url = f"http://127.0.0.1:{port}"
        r = CliRunner().invoke(app, ["chat", "tx", "--server", url, "--max-new-tokens", "6",
                                     "--seed", "1"], input="hello\nand you?\n/quit\n")  # fmt: skip
        assert r.exit_code == 0, r.output
        assert r.output.count("bot: ") == 2
        import httpx

        outs = httpx.get(f"{url}/v1/outputs", params={"run": "tx"}).json()
        chats = {o["params"]["chat"] for o in outs["items"]}
        assert len(chats) == 1 and len(outs["items"]) == 2  # one conversation, two replies
        bad = CliRunner().invoke(app, ["chat", "nope", "--server", url], input="hi\n")
        assert bad.exit_code == 1 and "404 no run 'nope'" in bad.output
        down = CliRunner().invoke(app, ["chat", "tx", "--server", "http://127.0.0.1:9"],
                                  input="hi\n")  # fmt: skip
        assert down.exit_code == 1 and "cannot reach the server" in down.output
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_serve_refuses_a_chat_model_folder_that_is_not_there(tmp_path):
    from typer.testing import CliRunner

    from genforge.cli.main import app

    r = CliRunner().invoke(app, ["serve", "--runs-dir", str(tmp_path / "runs"),
                                 "--chat-model", str(tmp_path / "nope")])  # fmt: skip
    assert r.exit_code == 1 and "--chat-model" in r.output and "no such folder" in r.output


def test_a_failure_midway_is_an_error_event_and_leaves_no_conversation(make_chat, monkeypatch):
    from genforge.core.errors import GenforgeError
    from genforge.generate.chat import ChatSession

    def broken(self, message, stream=None, cancel=None):
        if stream is not None:
            stream("half a ")
        raise GenforgeError("the model ran out of context")

    monkeypatch.setattr(ChatSession, "reply", broken)
    c = make_chat()
    r = chat(c, run="tx", message="hi", stream=True)
    events = sse_events(r.text)
    assert [k for k, _ in events] == ["start", "token", "error"]
    assert events[-1][1] == {"detail": "the model ran out of context", "status": 400}
    assert c.get(f"/v1/chat/{events[0][1]['conversation']}").status_code == 404
    r = chat(c, run="tx", message="hi")
    assert r.status_code == 400 and r.json() == {"detail": "the model ran out of context"}
