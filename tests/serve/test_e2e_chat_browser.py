"""The Chat tab in a real browser: a three-turn conversation streamed in, a reload that shows
it again, Stop midway through a reply (the partial reply stays, the server stops decoding),
and a message with HTML in it shown as text. Screenshots land in the test's tmp dir.

The server runs in this process (uvicorn on a thread) so the test can slow decoding down to
a pace at which a person could press Stop."""

from __future__ import annotations

import re
import shutil
import threading
import time
from pathlib import Path

import httpx
import pytest

from genforge.serve import Settings, create_app
from textkit import TINY_GPT, TINY_TRAIN, make_docs

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="needs Debian's chromium at /usr/bin/chromium (apt-get install chromium)",
)


def serve_in_thread(runs: Path, port: int):
    """A uvicorn server of `runs` on 127.0.0.1:`port` in a daemon thread; returns it."""
    import uvicorn

    app = create_app(Settings(runs_dir=runs, port=port, start_worker=False))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "server did not start in 30 s"
    return server


def test_chat_in_browser(tmp_path: Path, free_port, monkeypatch, chromium):
    from playwright.sync_api import expect

    from genforge.generate import chat as chat_engine
    from genforge.train.launch import train

    runs, port = tmp_path / "runs", free_port()
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n\n".join(make_docs(30)), encoding="utf-8")
    data = {"block_size": 64, "dedup": "exact"}
    train("gpt", str(corpus), name="tx", runs_dir=runs, **{**data, **TINY_TRAIN, **TINY_GPT})
    train("ngram", str(corpus), name="ng", runs_dir=runs, **data)
    shots = tmp_path / "screenshots"
    shots.mkdir()

    slow = threading.Event()  # set: each reply piece takes 150 ms (time to press Stop)
    pieces = []
    fast_piece = chat_engine.ReplyStream.__call__

    def piece(self, text):
        if slow.is_set():
            pieces.append(text)
            time.sleep(0.15)
        return fast_piece(self, text)

    monkeypatch.setattr(chat_engine.ReplyStream, "__call__", piece)
    server = serve_in_thread(runs, port)
    base = f"http://127.0.0.1:{port}"
    try:
        with chromium() as new_page:
            page, errors = new_page(1280, 860)

            # three turns with the gpt run: each reply streams in, in its own bubble
            page.goto(base + "/#chat")
            expect(page.locator("#chat-source option")).to_have_count(2)
            page.select_option("#chat-source", "run:tx")
            page.fill("#chat-max-tokens", "12")
            bots = page.locator("#chat-log .turn.bot")
            for i, message in enumerate(["hello there", "tell me about rivers", "and cats?"]):
                page.fill("#chat-message", message)
                page.press("#chat-message", "Enter")  # Enter sends
                expect(bots).to_have_count(i + 1)
                expect(bots.nth(i)).to_have_attribute("data-output", re.compile(r"^[0-9a-f]{8,}$"))
                expect(page.locator("#chat-log .streaming")).to_have_count(0)
            expect(page.locator("#chat-log .turn.user")).to_have_count(3)
            expect(page.locator("#chat-title")).to_contain_text("Conversation ")
            cid = page.evaluate("localStorage.getItem('genforge-chat')")
            conv = httpx.get(f"{base}/v1/chat/{cid}").json()
            shown = bots.evaluate_all("bs => bs.map(b => b.querySelector('.text').textContent)")
            assert shown == [t["bot"] for t in conv["turns"]]
            assert [t["user"] for t in conv["turns"]][2] == "and cats?"
            # Shift+Enter is a new line, not a send
            page.fill("#chat-message", "two")
            page.press("#chat-message", "Shift+Enter")
            page.type("#chat-message", "lines")
            assert page.input_value("#chat-message") == "two\nlines"
            expect(page.locator("#chat-log .turn.user")).to_have_count(3)
            page.fill("#chat-message", "")
            page.screenshot(path=shots / "chat.png", full_page=True)

            # a reload shows the same conversation (its id is kept in the browser)
            page.reload()
            expect(page.locator("#chat-title")).to_have_text(f"Conversation {cid}")
            expect(bots).to_have_count(3)
            assert (
                bots.evaluate_all("bs => bs.map(b => b.querySelector('.text').textContent)")
                == shown
            )

            # HTML in a message is shown as text, never run
            page.fill("#chat-message", "<script>window.pwned = 1</script><b>bold?</b>")
            page.press("#chat-message", "Enter")
            user = page.locator("#chat-log .turn.user").last
            expect(user).to_have_text("<script>window.pwned = 1</script><b>bold?</b>")
            expect(page.locator("#chat-log .streaming")).to_have_count(0)
            assert user.locator("b, script").count() == 0
            assert page.evaluate("window.pwned") is None

            # Stop: a new conversation with the n-gram run, its reply slowed down
            page.select_option("#chat-source", "run:ng")  # another source: a new conversation
            expect(page.locator("#chat-title")).to_have_text("New conversation")
            page.fill("#chat-max-tokens", "60")
            slow.set()
            page.fill("#chat-message", "the model")
            page.click("#chat-send")
            bot = page.locator("#chat-log .turn.bot").last
            expect(bot.locator(".text")).not_to_have_text("")  # the first pieces arrived
            expect(page.locator("#chat-stop")).to_be_enabled()
            page.screenshot(path=shots / "chat-streaming.png", full_page=True)
            page.click("#chat-stop")
            expect(bot.locator(".note")).to_have_text("stopped")
            expect(page.locator("#chat-send")).to_be_enabled()
            partial = bot.locator(".text").text_content()
            made = len(pieces)
            time.sleep(1.0)
            assert len(pieces) <= made + 1, "decoding went on after Stop"
            assert len(pieces) < 60 and bot.locator(".text").text_content() == partial
            slow.clear()
            ng_id = page.evaluate("localStorage.getItem('genforge-chat')")
            assert ng_id != cid
            turns = httpx.get(f"{base}/v1/chat/{ng_id}").json()["turns"]
            assert turns[0]["stopped"] and partial.startswith(turns[0]["bot"][:1])
            page.screenshot(path=shots / "chat-stopped.png", full_page=True)

            # phone width: the chat lays out without horizontal overflow
            page.set_viewport_size({"width": 390, "height": 844})
            overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 1, f"page is {overflow}px wider than a phone screen"
            page.screenshot(path=shots / "chat-phone.png", full_page=True)
            assert not errors, errors
    finally:
        server.should_exit = True
        shutil.rmtree(tmp_path / "runs" / ".serve" / "outputs", ignore_errors=True)
