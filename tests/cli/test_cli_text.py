"""The text commands end to end: data inspect, train (gpt, ngram, resume), generate, errors."""

from __future__ import annotations

import json
from pathlib import Path

from textkit import make_folder

TINY_GPT = ["--context", "32", "--steps", "2", "--batch-size", "4", "--set", "n_layer=1",
            "--set", "n_head=2", "--set", "n_embd=16", "--set", "dedup=exact"]  # fmt: skip


def test_data_inspect_text_and_errors(cli, tmp_path: Path):
    f = tmp_path / "tickets.jsonl"
    rows = [{"text": "reach me at a.b@example.com", "id": 1}, {"text": "hello", "id": 2},
            {"text": "hello", "id": 3}]  # fmt: skip
    f.write_text("\n".join(json.dumps(r) for r in rows))
    out = json.loads(
        cli.ok("data", "inspect", f, "--field", "text", "--tokenizer", "char", "--json").stdout
    )
    assert out["num_documents"] == 2 and out["exact_duplicates"] == 1
    assert out["pii_counts"]["email"] == 1 and out["num_tokens"] > 0
    assert "a.b@example.com" not in json.dumps(out)
    msg = cli.fails("data", "inspect", f, "--field", "body")
    assert "fields found: id, text" in msg
    c = tmp_path / "t.csv"
    c.write_text("title,body\nA,hello there\nB,general kenobi\n")
    out = json.loads(
        cli.ok("data", "inspect", c, "--column", "body", "--tokenizer", "char", "--json").stdout
    )
    assert out["num_documents"] == 2 and out["kind"] == "csv"
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "a.txt").write_text("")
    assert "corpus is empty" in cli.fails("data", "inspect", tmp_path / "empty")


def test_train_gpt_resume_and_generate(cli, tmp_path: Path):
    corpus = make_folder(tmp_path / "corpus", n=12)
    runs = tmp_path / "runs"
    cli.ok("train", "gpt", "--data", corpus, "--name", "g", "--runs-dir", runs,
           "--tokenizer", "bpe", "--vocab", "300", *TINY_GPT)  # fmt: skip
    run = runs / "g"
    assert (run / "model" / "hf" / "model.safetensors").exists()
    assert (run / "samples" / "latest.txt").exists()
    cli.ok("train", "--resume", "g", "--runs-dir", runs, "--steps", "4")
    assert json.loads((run / "model" / "meta.json").read_text())["step"] == 4
    out = cli.ok("generate", "text", "g", "--runs-dir", runs, "--prompt", "the", "--num-beams",
                 "3", "--no-repeat-ngram-size", "2", "--top-k", "50", "--max-length", "20").stdout  # fmt: skip
    assert "the" in out
    assert "context is 32" in cli.fails("generate", "text", "g", "--runs-dir", runs,
                                        "--prompt", "word " * 40)  # fmt: skip
    out = cli.ok("eval", "g", "--runs-dir", runs, "--n", "2").stdout
    assert "bits per character" in out and (run / "report.html").exists()
    assert "not apply to text runs" in cli.fails(
        "eval", "g", "--runs-dir", runs, "--features", "domain"
    )
    tok = run / "model" / "tokenizer.json"
    original = tok.read_text()
    swapped = json.loads(original)
    vocab = swapped["model"]["vocab"]
    a, b = list(vocab)[10:12]
    vocab[a], vocab[b] = vocab[b], vocab[a]  # a tokenizer that maps text to other ids
    tok.write_text(json.dumps(swapped))
    assert "tokenizer mismatch" in cli.fails("generate", "text", "g", "--runs-dir", runs)
    tok.write_text(original)
    assert "--temperature must be > 0" in cli.fails("generate", "text", "g", "--runs-dir", runs,
                                                    "--do-sample", "--temperature", "0")  # fmt: skip


def test_train_ngram_and_wrong_options(cli, tmp_path: Path):
    corpus = make_folder(tmp_path / "corpus", n=12)
    runs = tmp_path / "runs"
    cli.ok("train", "ngram", "--data", corpus, "--n", "4", "--name", "n", "--runs-dir", runs)
    out = cli.ok("generate", "text", "n", "--runs-dir", runs, "--do-sample", "--top-k", "5",
                 "--n", "2", "--json", "--max-new-tokens", "20").stdout  # fmt: skip
    assert len([json.loads(x) for x in out.splitlines()]) == 2
    assert "unknown config key 'tokenizer' for dcgan" in cli.fails(
        "train", "dcgan", "--tokenizer", "bpe", "--runs-dir", runs
    )
    assert "needs a text run" in cli.fails("generate", "text", _image_run(cli, runs))
    assert "LoRA fine-tunes a pretrained model" in cli.fails(
        "train", "gpt", "--data", corpus, "--lora", "--runs-dir", runs, *TINY_GPT
    )
    assert "no tokenizer files" in cli.fails(
        "train", "gpt", "--data", corpus, "--init", tmp_path, "--runs-dir", runs, *TINY_GPT
    )


def _image_run(cli, runs: Path) -> str:
    cli.ok("train", "gan", "--data", "digits", "--name", "img", "--runs-dir", runs,
           "--image-size", "8", "--steps", "1", "--batch-size", "8", "--set", "latent_dim=8",
           "--set", "g_hidden=[16]", "--set", "d_hidden=[16]")  # fmt: skip
    return str(runs / "img")
