"""Text decoding: beams never repeat a banned n-gram, seeds reproduce, streaming matches,
stop strings cut, bad combinations fail in one line, watermarks are detected."""

from __future__ import annotations

import itertools

import pytest
from typer.testing import CliRunner

from genforge.cli.main import app
from genforge.core.errors import GenforgeError
from genforge.generate.text import DecodeOptions, TextPipeline, detect_watermark
from textkit import make_docs, make_folder, tiny_run


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("textgen")
    corpus = make_folder(root / "corpus")
    gpt = tiny_run("gpt", corpus, root / "runs", "g", block_size=128)
    ngram = tiny_run("ngram", corpus, root / "runs", "n", n=3)
    return {"gpt": gpt, "ngram": ngram, "root": root}


@pytest.fixture(scope="module")
def gpt(runs):
    return TextPipeline(runs["gpt"])


def _bigrams(ids):
    return list(itertools.pairwise(ids))


def test_beam_search_no_repeat_ngram_never_repeats_a_bigram(gpt):
    prompt = "the model"
    opts = DecodeOptions(num_beams=4, no_repeat_ngram_size=2, min_new_tokens=60,
                         max_new_tokens=60, num_return_sequences=3)  # fmt: skip
    outs = gpt.generate([prompt], opts)[0]
    assert len(outs) == 3
    for g in outs:
        ids = gpt.tokenizer.encode(prompt + g.text)  # char tokenizer: text <-> ids exactly
        assert len(ids) >= 60
        assert len(set(_bigrams(ids))) == len(_bigrams(ids))
    # without the constraint this model does repeat bigrams (so the test can fail)
    plain = gpt.generate([prompt], DecodeOptions(num_beams=4, min_new_tokens=60, max_new_tokens=60))
    ids = gpt.tokenizer.encode(prompt + plain[0][0].text)
    assert len(set(_bigrams(ids))) < len(_bigrams(ids))


def test_seeds_reproduce_and_streaming_matches(gpt):
    opts = DecodeOptions(do_sample=True, temperature=0.8, top_p=0.9, top_k=20,
                         max_new_tokens=30, num_return_sequences=2, seed=7)  # fmt: skip
    a = gpt.generate(["the"], opts)[0]
    b = gpt.generate(["the"], opts)[0]
    assert [x.text for x in a] == [x.text for x in b]
    assert a[0].text != a[1].text
    pieces: list[str] = []
    c = gpt.generate(["the"], opts, stream=pieces.append)[0]
    assert [x.text for x in c] == [x.text for x in a]
    assert "".join(pieces).replace("\n", "") == "".join(x.text for x in a).replace("\n", "")


def test_stop_strings_and_lengths(gpt):
    out = gpt.generate(["x"], DecodeOptions(do_sample=True, max_new_tokens=100, stop=("e",)))[0][0]
    assert "e" not in out.text
    out = gpt.generate(["x"], DecodeOptions(do_sample=True, max_length=11, min_new_tokens=10))[0][0]
    assert out.new_tokens == 10


def test_bad_input_is_one_clear_line(gpt, runs):
    long_prompt = "word " * 40  # 200 chars > context 128
    with pytest.raises(GenforgeError, match="context is 128") as e:
        gpt.generate([long_prompt], DecodeOptions())
    assert "\n" not in str(e.value)
    out = gpt.generate([long_prompt], DecodeOptions(truncate=True, max_new_tokens=5))
    assert out[0][0].new_tokens <= 5
    with pytest.raises(GenforgeError, match="exceed the model's context"):
        gpt.generate(["hi"], DecodeOptions(max_new_tokens=500))
    with pytest.raises(GenforgeError, match="cannot stream"):
        gpt.generate(["hi"], DecodeOptions(num_beams=2), stream=print)
    with pytest.raises(GenforgeError, match="greedy decoding gives one text"):
        gpt.generate(["hi"], DecodeOptions(num_return_sequences=2))
    ngram = TextPipeline(runs["ngram"])
    with pytest.raises(GenforgeError, match="--num-beams"):
        ngram.generate(["hi"], DecodeOptions(num_beams=2))


def test_ngram_samples_with_temperature_and_top_k(runs):
    ngram = TextPipeline(runs["ngram"])
    opts = DecodeOptions(do_sample=True, temperature=0.7, top_k=5, max_new_tokens=40, seed=1)
    a = ngram.generate(["the "], opts)[0][0]
    assert a.text == ngram.generate(["the "], opts)[0][0].text and len(a.text) > 0
    greedy = ngram.generate(["the "], DecodeOptions(max_new_tokens=10))[0][0]
    assert greedy.new_tokens > 0


def test_watermark_separates_watermarked_from_plain_and_human_text(gpt):
    marked = DecodeOptions(do_sample=True, max_new_tokens=120, min_new_tokens=120, watermark=True)
    plain = DecodeOptions(do_sample=True, max_new_tokens=120, min_new_tokens=120)
    wm = [g.text for g in gpt.generate(["", "the"], marked) for g in g]
    un = [g.text for g in gpt.generate(["", "the"], plain) for g in g]
    human = make_docs(3, seed=99)
    z_wm = [detect_watermark(gpt, t)["z_score"] for t in wm]
    z_other = [detect_watermark(gpt, t)["z_score"] for t in un + human]
    assert min(z_wm) > 4.0
    assert max(z_other) < 4.0
    assert detect_watermark(gpt, "the model", key=1)["z_score"] < 4.0


def test_cli_generate_stream_watermark_detect(runs, tmp_path):
    cli = CliRunner()
    run = str(runs["gpt"].path)
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("the\n\nmodel\n")
    r = cli.invoke(app, ["generate", "text", run, "--prompt-file", str(prompts), "--do-sample",
                         "--temperature", "0.8", "--top-p", "0.9", "--n", "2", "--stream",
                         "--max-new-tokens", "10"])  # fmt: skip
    assert r.exit_code == 0, r.output
    assert r.output.count("--- prompt") == 2
    r = cli.invoke(
        app, ["generate", "text", run, "--prompt", "the", "--num-beams", "2", "--stream"]
    )
    assert r.exit_code == 1 and r.stderr.strip().startswith("error: beam search cannot stream")
    out = tmp_path / "out.txt"
    r = cli.invoke(app, ["generate", "text", run, "--do-sample", "--watermark", "--min-new-tokens",
                         "120", "--max-new-tokens", "120", "--out", str(out)])  # fmt: skip
    assert r.exit_code == 0, r.output
    r = cli.invoke(app, ["watermark", "detect-text", str(out), "--model", run])
    assert r.exit_code == 0 and "watermarked: z =" in r.output
    r = cli.invoke(app, ["watermark", "detect-text", str(prompts), "--model", run])
    assert r.exit_code == 0 and "no watermark found" in r.output


def test_python_api_loads_a_text_run(runs):
    import genforge

    pipe = genforge.load(runs["gpt"].path)
    assert isinstance(pipe, TextPipeline)
    assert len(pipe.complete("the", max_new_tokens=5, min_new_tokens=5)) > 0
