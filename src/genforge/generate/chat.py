"""Multi-turn chat over a text run: understanding (an optional intent classifier) -> dialogue
management (history window, canned answers) -> generation (the language model).

session = ChatSession(TextPipeline(run), intents=IntentClassifier.from_file("intents.jsonl"))
reply = session.reply("hello there")   # Reply(text, route="generate" | "intent:<name>")
reply = session.reply("and then?", stream=print)   # pieces of the reply as they are decoded

A local pretrained chat model (a transformers causal LM folder) chats the same way:
PretrainedChatSession(PretrainedChat("models/tiny-chat")): its tokenizer's chat template
formats the conversation when it has one.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from genforge.core.errors import GenforgeError
from genforge.generate.text import (
    DecodeOptions,
    Generated,
    TextPipeline,
    cut_at_stop,
    watermark_config,
)

DEFAULT_TEMPLATE = "User: {message}\nBot:"
# How a reply is decoded unless told otherwise: sampled, short, ending at the line's end.
CHAT_DECODING = DecodeOptions(do_sample=True, temperature=0.8, top_p=0.9, max_new_tokens=60,
                              stop=("\nUser:", "\n"))  # fmt: skip


@dataclass
class Reply:
    text: str
    route: str  # "generate" or "intent:<name>"
    confidence: float | None = None
    generated: Generated | None = None  # the decoded sample (seed, new tokens) when generated
    prompt: str | None = None  # what the model was given


class Cancelled(Exception):
    """Raised inside decoding when the caller asked to stop (a chat client went away)."""


class ReplyStream:
    """Turns the raw pieces a decoder streams into pieces of the reply as `reply()` returns it
    (cut at the first stop string, stripped): a tail that may still be cut or stripped is held
    back, so the pieces written always add up to the final reply.

    Args:
        stops: the stop strings of the decoding.
        write: called with each new piece of the reply.
        cancel: when set, the next piece raises `Cancelled` (stops the decoding loop).
    """

    def __init__(self, stops: tuple[str, ...], write: Callable[[str], None] | None,
                 cancel: threading.Event | None = None):  # fmt: skip
        self.stops, self.cancel = stops, cancel
        self.write = write if write is not None else (lambda piece: None)
        self.raw, self.sent = "", ""

    def __call__(self, piece: str) -> None:
        if self.cancel is not None and self.cancel.is_set():
            raise Cancelled
        self.raw += piece
        text = cut_at_stop(self.raw, self.stops)
        if len(text) == len(self.raw):  # no stop yet: hold back the start of one
            text = text[: len(text) - self._stop_prefix(text)]
        self._send(text.strip())

    def _stop_prefix(self, text: str) -> int:
        """Length of the longest tail of `text` that begins a stop string."""
        return max((k for s in self.stops for k in range(1, len(s)) if text.endswith(s[:k])),
                   default=0)  # fmt: skip

    def _send(self, safe: str) -> None:
        if safe.startswith(self.sent) and len(safe) > len(self.sent):
            self.write(safe[len(self.sent) :])
            self.sent = safe

    def finish(self, reply: str) -> None:
        """Write what is left of the final `reply` (the held-back tail, a canned answer)."""
        self._send(reply)


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

    def prompt(self, message: str, window: int | None = None) -> str:
        """The prompt of the next reply: the last `window` turns (default `history_turns`)."""
        window = self.history_turns if window is None else window
        past = self.history[-window:] if window else []
        lines = "".join(self.template.format(message=u) + " " + b + "\n" for u, b in past)
        return lines + self.template.format(message=message)

    def reply(
        self,
        message: str,
        stream: Callable[[str], None] | None = None,
        cancel: threading.Event | None = None,
    ) -> Reply:
        """The next turn's reply, added to the history.

        Args:
            stream: called with pieces of the reply as they are decoded; they add up to
                `Reply.text`.
            cancel: set it (from another thread) to stop decoding: `Cancelled` is raised and
                the history is left unchanged.
        """
        route, conf = "generate", None
        if self.intents is not None:
            intent, conf = self.intents.predict(message)
            if conf >= self.intents.threshold and intent in self.intents.answers:
                text = self.intents.answers[intent]
                if stream is not None:
                    stream(text)
                self.history.append((message, text))
                return Reply(text, f"intent:{intent}", conf)
        opts = self.turn_options()
        prompt = self.fit_prompt(message, opts)
        pieces = ReplyStream(opts.stop, stream, cancel) if stream or cancel else None
        gen = self.decode(prompt, opts, pieces)
        text = gen.text.strip()
        if pieces is not None and stream is not None:
            pieces.finish(text)
        self.turn += 1
        self.history.append((message, text))
        return Reply(text, route, conf, gen, prompt)

    def turn_options(self) -> DecodeOptions:
        """This turn's decoding: the session's options, seed + turn, at most half the context."""
        opts = replace(self.options, seed=self.options.seed + self.turn, truncate=True)
        ctx = self.pipe.context
        if ctx is not None and opts.max_new_tokens is not None:
            opts.max_new_tokens = min(opts.max_new_tokens, ctx // 2)
        return opts

    def fit_prompt(self, message: str, opts: DecodeOptions) -> str:
        """The prompt with as many of the last turns as leave room in the model's context for
        the reply (`opts.max_new_tokens`, lowered when even the message alone leaves less)."""
        ctx = self.pipe.context
        if ctx is None:
            return self.prompt(message)
        m = opts.max_new_tokens or 1
        for window in range(min(self.history_turns, len(self.history)), -1, -1):
            prompt = self.prompt(message, window)
            n = self.count_tokens(prompt)
            if n + m <= ctx:
                return prompt
        if n < ctx:  # a long message: a shorter reply (at least one token)
            opts.max_new_tokens = max(1, ctx - n)
        return prompt  # longer than the context: decoding keeps its end (opts.truncate)

    def count_tokens(self, text: str) -> int:
        return len(self.pipe.tokenizer.encode(text))

    def decode(self, prompt: str, opts: DecodeOptions, stream: Any = None) -> Generated:
        return self.pipe.generate([prompt], opts, stream=stream)[0][0]

    def reset(self) -> None:
        self.history.clear()

    def save(self, path: str | Path) -> Path:
        from genforge.core.io import write_json

        write_json(path, {"run": self.pipe.run.name, "template": self.template,
                          "turns": [{"user": u, "bot": b} for u, b in self.history]})  # fmt: skip
        return Path(path)


# ---------------------------------------------------------------------------------------
# A local pretrained chat model (transformers causal LM folder)
# ---------------------------------------------------------------------------------------

# Plain-format replies end at the line's end; a chat template's model ends with its EOS token.
PLAIN_STOPS = CHAT_DECODING.stop


class PretrainedChat:
    """A transformers causal LM saved with `save_pretrained` (config.json, safetensors weights,
    tokenizer files): loaded from disk only, never downloaded, never from pickle
    (`genforge.core.hf.load_causal_lm`, as `generate text --model` loads it).

    Args:
        path: the folder.
        device: "cpu", "cuda" or "auto".
    """

    def __init__(self, path: str | Path, device: str = "cpu"):
        from genforge.core.device import pick_device
        from genforge.core.hf import load_causal_lm

        self.path = Path(path)
        self.name = self.path.name
        self.model, self.tokenizer = load_causal_lm(self.path)
        self.device = pick_device(device)
        self.model.to(self.device).eval()

    @property
    def has_template(self) -> bool:
        return bool(getattr(self.tokenizer, "chat_template", None))

    @property
    def context(self) -> int | None:
        cfg = self.model.config
        return getattr(cfg, "max_position_embeddings", None) or getattr(cfg, "n_positions", None)

    def chat_prompt(self, turns: list[tuple[str, str]], message: str) -> str:
        """The conversation through the tokenizer's chat template, ready for the reply."""
        messages = []
        for user, bot in turns:
            messages += [{"role": "user", "content": user}, {"role": "assistant", "content": bot}]
        messages.append({"role": "user", "content": message})
        return self.tokenizer.apply_chat_template(messages, tokenize=False,
                                                  add_generation_prompt=True)  # fmt: skip

    def generate(
        self, prompts: list[str], opts: DecodeOptions, stream: Callable[[str], None] | None = None
    ) -> list[list[Generated]]:
        """One continuation of the one prompt (TextPipeline's interface), decoded on another
        thread and streamed through transformers' TextIteratorStreamer."""
        import torch
        from transformers import TextIteratorStreamer

        opts.check()
        ids = self.tokenizer(prompts[0], add_special_tokens=not self.has_template)["input_ids"]
        m = opts.max_new_tokens or 100
        ctx = self.context
        if ctx is not None:
            m = min(m, ctx // 2)
            ids = ids[-(ctx - m) :]
        x = torch.tensor([ids], device=self.device)
        streamer = TextIteratorStreamer(self.tokenizer, skip_prompt=True, skip_special_tokens=True)
        stop = threading.Event()
        kwargs = self._generate_kwargs(x, m, opts, stop)
        if opts.do_sample:
            torch.manual_seed(opts.seed)
        result: dict[str, Any] = {}
        worker = threading.Thread(target=self._run, args=(x, kwargs, streamer, result))
        worker.start()
        try:
            for piece in streamer:
                if stream is not None:
                    stream(piece)
        except BaseException:
            stop.set()  # the decoding thread ends at its next token
            raise
        finally:
            worker.join()
        if "error" in result:
            raise result["error"]
        new = result["seq"][len(ids) :].tolist()
        text = cut_at_stop(self.tokenizer.decode(new, skip_special_tokens=True), opts.stop)
        return [[Generated(prompts[0], text, len(new), opts.seed if opts.do_sample else None)]]

    def _generate_kwargs(self, x: Any, m: int, opts: DecodeOptions, stop: threading.Event) -> dict:
        import torch
        from transformers import StoppingCriteria, StoppingCriteriaList

        tokenizer, n_prompt = self.tokenizer, x.shape[1]

        class _Stop(StoppingCriteria):  # the caller went away, or a stop string was written
            def __call__(self, input_ids: torch.Tensor, scores: Any, **kw: Any) -> torch.Tensor:
                text = tokenizer.decode(input_ids[0, n_prompt:]) if opts.stop else ""
                hit = stop.is_set() or any(s in text for s in opts.stop)
                return torch.full((input_ids.shape[0],), hit, dtype=torch.bool,
                                  device=input_ids.device)  # fmt: skip

        eos = self.tokenizer.eos_token_id
        kwargs: dict[str, Any] = dict(
            max_new_tokens=m, do_sample=opts.do_sample, attention_mask=torch.ones_like(x),
            pad_token_id=self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None
            else eos, stopping_criteria=StoppingCriteriaList([_Stop()]),
        )  # fmt: skip
        if opts.do_sample:
            kwargs.update(temperature=opts.temperature, top_k=opts.top_k or 0,
                          top_p=opts.top_p if opts.top_p is not None else 1.0)  # fmt: skip
        if opts.watermark:
            kwargs["watermarking_config"] = watermark_config(opts.watermark_key)
        return kwargs

    def _run(self, x: Any, kwargs: dict, streamer: Any, result: dict) -> None:
        import torch

        try:
            with torch.no_grad():
                result["seq"] = self.model.generate(x, streamer=streamer, **kwargs)[0]
        except BaseException as e:  # handed to the caller's thread
            result["error"] = e
            streamer.end()


@dataclass
class PretrainedChatSession(ChatSession):
    """A ChatSession over a PretrainedChat: the chat template formats the prompt when the
    tokenizer has one (the reply then ends at the model's end-of-turn token), else the plain
    `template` format, as for text runs."""

    pipe: PretrainedChat = None  # type: ignore[assignment]

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.pipe.has_template:
            self.options = replace(self.options, stop=())

    def prompt(self, message: str, window: int | None = None) -> str:
        if not self.pipe.has_template:
            return super().prompt(message, window)
        window = self.history_turns if window is None else window
        return self.pipe.chat_prompt(self.history[-window:] if window else [], message)

    def count_tokens(self, text: str) -> int:
        return len(self.pipe.tokenizer(text, add_special_tokens=False)["input_ids"])


def chat_loop(session: Any, read: Any, write: Any, stream: bool = False) -> None:
    """The REPL: /reset, /save PATH, /quit; `read()` returns a line or raises EOFError.

    Args:
        session: a ChatSession, or any object with its reply/reset/save/history.
        stream: write each reply piece by piece as it is decoded.
    """
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
        if stream:
            write("bot: ")
            session.reply(line, stream=write)
            write("\n")
            continue
        r = session.reply(line)
        tag = f" [{r.route} {r.confidence:.2f}]" if r.route != "generate" else ""
        write(f"bot{tag}: {r.text}\n")
