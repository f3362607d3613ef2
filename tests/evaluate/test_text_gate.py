"""The text gate: fluency under the run's own LM, repetition, and the hard limits (length,
banned words, copies of the training text); `generate text --best-of` keeps gated texts."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from genforge.cli.main import app
from genforge.core.errors import GenforgeError
from genforge.evaluate.text_gate import TextGate, TextLimits, best_texts
from genforge.generate.text import TextPipeline
from textkit import make_docs, make_folder, tiny_run


@pytest.fixture(scope="module")
def ngram(tmp_path_factory):
    root = tmp_path_factory.mktemp("tg")
    return tiny_run("ngram", make_folder(root / "corpus", n=30), root / "runs", "t")


def test_scores_and_limits(ngram):
    pipe = TextPipeline(ngram)
    corpus = "\n".join(make_docs(30))
    gate = TextGate(pipe, limits=TextLimits(min_words=5, max_words=60, banned=("Cats",),
                                            max_copy_chars=40))  # fmt: skip
    fresh = "the model writes new lines with care while we measure what it says about light"
    gibberish = "qzx vbn qwp zzk jjf xqv pqk wvz"
    loop = "the model the model the model the model the model the model"
    copied = corpus[100:180]
    v = {k: x for k, x in zip(("fresh", "gib", "loop", "copy"),
                               gate.score([fresh, gibberish, loop, copied]), strict=True)}  # fmt: skip
    assert v["fresh"].components["fluency"] > v["gib"].components["fluency"]
    assert v["loop"].components["repetition"] < 0.3 < v["fresh"].components["repetition"] == 1.0
    assert v["fresh"].rejected == [] and v["gib"].rejected == []
    assert any(r.startswith("copy of training text") for r in v["copy"].rejected)
    (short, cats) = gate.score(["too short", "we like CATS a lot today"])
    assert short.rejected == ["too short (2 words < 5)"]
    assert cats.rejected == ["banned word (Cats)"]
    picked = best_texts([v["gib"], v["fresh"], v["loop"], v["copy"]], k=2, min_score=0.0)
    assert picked[0] is v["fresh"] and picked[1] is v["loop"]  # the copy is out of the limits
    with pytest.raises(GenforgeError, match="word bounds"):
        TextLimits(min_words=5, max_words=2)


def test_generate_text_through_the_gate(ngram):
    runs = str(ngram.path.parent)
    r = CliRunner().invoke(app, ["generate", "text", "t", "--runs-dir", runs, "--do-sample",
                                 "--n", "3", "--best-of", "3", "--ban", "dogs", "--json",
                                 "--max-new-tokens", "30"])  # fmt: skip
    assert r.exit_code == 0, r.output
    recs = [json.loads(x) for x in r.stdout.splitlines()]
    assert 1 <= len(recs) <= 3 and all(0 <= x["score"] <= 1 for x in recs)
    assert all("dogs" not in x["text"].lower().split() for x in recs)
    assert "text gate (fluency + repetition): kept" in r.stderr and "from 9 candidates" in r.stderr
    bad = CliRunner().invoke(app, ["generate", "text", "t", "--runs-dir", runs, "--best-of", "2"])
    assert bad.exit_code == 1 and "add --do-sample" in bad.output
