"""Chat: history window in the prompt, /reset and /save, intent routing to canned answers."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from genforge.cli.main import app
from genforge.generate.chat import ChatSession, IntentClassifier
from genforge.generate.text import TextPipeline
from textkit import make_folder, tiny_run

INTENTS = [
    {"text": "what are your opening hours", "intent": "hours", "answer": "We open 9 to 5."},
    {"text": "when do you open", "intent": "hours", "answer": "We open 9 to 5."},
    {"text": "are you open on sunday", "intent": "hours", "answer": "We open 9 to 5."},
    {"text": "tell me a story", "intent": "chitchat"},
    {"text": "write something about rivers", "intent": "chitchat"},
    {"text": "say something nice", "intent": "chitchat"},
]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("chat")
    return tiny_run("gpt", make_folder(root / "corpus"), root / "runs", "g", block_size=128)


def test_prompt_keeps_the_history_window(run):
    s = ChatSession(TextPipeline(run), history_turns=2)
    s.history = [("a", "1"), ("b", "2"), ("c", "3")]
    p = s.prompt("d")
    assert p == "User: b\nBot: 2\nUser: c\nBot: 3\nUser: d\nBot:"
    r = s.reply("d")
    assert r.route == "generate" and "\n" not in r.text and len(s.history) == 4


def test_intent_classifier_routes(tmp_path):
    f = tmp_path / "intents.jsonl"
    f.write_text("\n".join(json.dumps(x) for x in INTENTS))
    clf = IntentClassifier.from_file(f)
    assert clf.predict("what hours are you open")[0] == "hours"
    assert clf.predict("tell me something about rivers")[0] == "chitchat"


def test_chat_cli_reset_save_and_canned_answer(run, tmp_path):
    f = tmp_path / "intents.jsonl"
    f.write_text("\n".join(json.dumps(x) for x in INTENTS))
    saved = tmp_path / "t.json"
    lines = ["tell me a story", "/reset", "when are you open", f"/save {saved}", "/nope", "/quit"]
    r = CliRunner().invoke(
        app, ["chat", str(run.path), "--intents", str(f)], input="\n".join(lines) + "\n"
    )
    assert r.exit_code == 0, r.output
    assert "(history cleared)" in r.output
    assert "bot [intent:hours" in r.output and "We open 9 to 5." in r.output
    assert "unknown command /nope" in r.output
    turns = json.loads(saved.read_text())["turns"]
    assert turns == [{"user": "when are you open", "bot": "We open 9 to 5."}]


def test_reply_stream_holds_back_what_a_stop_or_the_strip_may_cut():
    import threading

    from genforge.generate.chat import Cancelled, ReplyStream

    out: list[str] = []
    s = ReplyStream(("\nUser:",), out.append)
    for piece in [" Hi", " there ", "\nUs", "er: more", " text"]:
        s(piece)
    s.finish("Hi there")
    assert out == ["Hi", " there"]  # never " Hi", a trailing space, nor the "\nUs" of a stop
    out.clear()
    s = ReplyStream(("\nUser:",), out.append)
    for piece in ["a", "\nU", "nrelated"]:  # "\nU" began no stop after all: it is sent later
        s(piece)
    s.finish("a\nUnrelated")
    assert "".join(out) == "a\nUnrelated" and out[0] == "a"
    cancel = threading.Event()
    s = ReplyStream((), out.append, cancel)
    s("x")
    cancel.set()
    with pytest.raises(Cancelled):
        s("y")


def test_streamed_pieces_add_up_to_the_reply(run):
    s = ChatSession(TextPipeline(run))
    pieces: list[str] = []
    r = s.reply("tell me about rivers", stream=pieces.append)
    assert "".join(pieces) == r.text and r.prompt == "User: tell me about rivers\nBot:"
