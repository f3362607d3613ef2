"""Helpers shared by the text tests: a small seeded corpus and tiny trained text runs."""

from __future__ import annotations

import random
from pathlib import Path

WORDS = [
    "the",
    "a",
    "model",
    "learns",
    "text",
    "from",
    "data",
    "and",
    "writes",
    "new",
    "lines",
    "with",
    "care",
    "while",
    "we",
    "measure",
    "what",
    "it",
    "says",
    "about",
    "cats",
    "dogs",
    "rivers",
    "stones",
    "light",
    "night",
    "morning",
    "code",
    "tests",
]

# Tiny settings: seconds on one CPU thread.
TINY_GPT = {"n_layer": 2, "n_head": 2, "n_embd": 32}
TINY_DATA = {"block_size": 32, "dedup": "exact"}
TINY_TRAIN = {"steps": 2, "batch_size": 4, "sample_every": 2, "warmup_steps": 0}


def make_docs(n: int = 30, seed: int = 0, words: int = 60) -> list[str]:
    rng = random.Random(seed)
    docs = []
    for i in range(n):
        body = " ".join(rng.choice(WORDS) for _ in range(words))
        docs.append(f"Document {i}. {body.capitalize()}.")
    return docs


def make_folder(root: Path, n: int = 30, seed: int = 0) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for i, d in enumerate(make_docs(n, seed)):
        (root / f"doc{i:03d}.txt").write_text(d, encoding="utf-8")
    return root


def tiny_run(model: str, data: Path | str, runs_dir: Path, name: str, **options):
    """Train `model` tiny on `data`; returns the Run."""
    from genforge.train.launch import train

    opts = {**TINY_DATA, **TINY_TRAIN}
    if model == "gpt":
        opts.update(TINY_GPT)
    if model == "lstm":
        opts.update(n_embd=32, n_layer=1)
    if model == "ngram":
        opts = {"dedup": "exact", "block_size": 32}
    opts.update(options)
    return train(model, str(data), name=name, runs_dir=runs_dir, **opts)
