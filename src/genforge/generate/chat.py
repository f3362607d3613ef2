"""Multi-turn chat over a text run: understanding (an optional intent classifier) -> dialogue
management (history window, canned answers) -> generation (the language model).

session = ChatSession(TextPipeline(run), intents=IntentClassifier.from_file("intents.jsonl"))
reply = session.reply("hello there")   # Reply(text, route="generate" | "intent:<name>")
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from genforge.core.errors import GenforgeError
from genforge.generate.text import DecodeOptions, TextPipeline

DEFAULT_TEMPLATE = "User: {message}\nBot:"
# How a reply is decoded unless told otherwise: sampled, short, ending at the line's end.
CHAT_DECODING = DecodeOptions(do_sample=True, temperature=0.8, top_p=0.9, max_new_tokens=60,
                              stop=("\nUser:", "\n"))  # fmt: skip


@dataclass
class Reply:
    text: str
    route: str  # "generate" or "intent:<name>"
    confidence: float | None = None


class IntentClassifier:
    """TF-IDF (word and character n-grams) + logistic regression, trained on a small file.

    File: .jsonl lines {"text": ..., "intent": ..., "answer": optional canned answer}. An intent
    with an answer is answered with it; the others (and low-confidence guesses) go to the model.
    """

    def __init__(self, texts: list[str], intents: list[str], answers: dict[str, str],
                 threshold: float = 0.5):  # fmt: skip
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline, make_union

        if len(set(intents)) < 2:
            raise GenforgeError("the intent file needs examples of at least two intents")
        features = make_union(TfidfVectorizer(ngram_range=(1, 2)),
                              TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 4)))  # fmt: skip
        self.model = make_pipeline(features, LogisticRegression(max_iter=1000, C=10.0))
        self.model.fit(texts, intents)
        self.answers, self.threshold = answers, threshold

    @classmethod
    def from_file(cls, path: str | Path, threshold: float = 0.5) -> IntentClassifier:
        p = Path(path)
        if not p.is_file():
            raise GenforgeError(f"no such intent file: {path}")
        texts, intents, answers = [], [], {}
        for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
                texts.append(rec["text"])
                intents.append(rec["intent"])
            except (json.JSONDecodeError, KeyError, TypeError):
                raise GenforgeError(
                    f"{p.name}:{n}: expected a JSON object with 'text' and 'intent'"
                ) from None
            if rec.get("answer"):
                answers[rec["intent"]] = rec["answer"]
        return cls(texts, intents, answers, threshold)

    def predict(self, text: str) -> tuple[str, float]:
        probs = self.model.predict_proba([text])[0]
        i = int(probs.argmax())
        return str(self.model.classes_[i]), float(probs[i])


@dataclass
class ChatSession:
    pipe: TextPipeline
    template: str = DEFAULT_TEMPLATE
    history_turns: int = 4  # earlier (user, bot) turns kept in the prompt
    options: DecodeOptions = field(default_factory=lambda: replace(CHAT_DECODING))
    intents: IntentClassifier | None = None
    history: list[tuple[str, str]] = field(default_factory=list)
    turn: int = 0

    def __post_init__(self) -> None:
        if "{message}" not in self.template:
            raise GenforgeError("the chat template needs a {message} placeholder")

    def prompt(self, message: str) -> str:
        past = self.history[-self.history_turns :] if self.history_turns else []
        lines = "".join(self.template.format(message=u) + " " + b + "\n" for u, b in past)
        return lines + self.template.format(message=message)

    def reply(self, message: str) -> Reply:
        route, conf = "generate", None
        if self.intents is not None:
            intent, conf = self.intents.predict(message)
            if conf >= self.intents.threshold and intent in self.intents.answers:
                text = self.intents.answers[intent]
                self.history.append((message, text))
                return Reply(text, f"intent:{intent}", conf)
        opts = replace(self.options, seed=self.options.seed + self.turn, truncate=True)
        ctx = self.pipe.context
        if ctx is not None and opts.max_new_tokens is not None:
            opts.max_new_tokens = min(opts.max_new_tokens, ctx // 2)
        self.turn += 1
        text = self.pipe.generate([self.prompt(message)], opts)[0][0].text.strip()
        self.history.append((message, text))
        return Reply(text, route, conf)

    def reset(self) -> None:
        self.history.clear()

    def save(self, path: str | Path) -> Path:
        from genforge.core.io import write_json

        write_json(path, {"run": self.pipe.run.name, "template": self.template,
                          "turns": [{"user": u, "bot": b} for u, b in self.history]})  # fmt: skip
        return Path(path)


def chat_loop(session: ChatSession, read: Any, write: Any) -> None:
    """The REPL: /reset, /save PATH, /quit; `read()` returns a line or raises EOFError."""
    write("chat: /reset clears the history, /save PATH writes it, /quit ends\n")
    while True:
        try:
            line = read().strip()
        except (EOFError, KeyboardInterrupt):
            write("\n")
            return
        if not line:
            continue
        if line in ("/quit", "/exit"):
            return
        if line == "/reset":
            session.reset()
            write("(history cleared)\n")
            continue
        if line.startswith("/save"):
            parts = line.split(maxsplit=1)
            target = parts[1] if len(parts) > 1 else "chat.json"
            write(f"(saved {len(session.history)} turns to {session.save(target)})\n")
            continue
        if line.startswith("/"):
            write(f"(unknown command {line.split()[0]}; use /reset, /save PATH or /quit)\n")
            continue
        r = session.reply(line)
        tag = f" [{r.route} {r.confidence:.2f}]" if r.route != "generate" else ""
        write(f"bot{tag}: {r.text}\n")
