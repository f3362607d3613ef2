"""Translation end to end: train seq2seq (and the GRU baseline) on a pair file, evaluate it
against copying the source, translate and summarise from the CLI, load the run in plain
transformers, resume, fine-tune with LoRA from a local folder, and the one-line errors."""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

import pytest

WORDS = ["ka", "lo", "mi", "su", "te", "ra", "no", "pi"]
MEANING = dict(zip(WORDS, ["BAV", "DOR", "FEK", "GUS", "HIM", "JOL", "KUP", "LEZ"], strict=True))
MICRO = ["--set", "size=micro", "--set", "dropout=0", "--lr", "3e-3", "--set", "warmup_steps=20",
         "--vocab", "60", "--set", "dedup=exact"]  # fmt: skip


def word_pairs(n: int = 480, seed: int = 0) -> list[tuple[str, str]]:
    """A toy translation in which every word has its own meaning, order kept: copying the
    source scores nothing, and held-out sentences are new combinations of known words."""
    rng = random.Random(seed)
    pairs: set[tuple[str, str]] = set()
    while len(pairs) < n:
        s = rng.choices(WORDS, k=4)
        pairs.add((" ".join(s), " ".join(MEANING[w] for w in s)))
    return sorted(pairs)


@pytest.fixture(scope="module")
def mt(tmp_path_factory):
    """A micro transformer trained 600 steps on 480 pairs (runs/mt), with --eval-every."""
    from typer.testing import CliRunner

    from genforge.cli.main import app

    root = tmp_path_factory.mktemp("mt")
    tsv = root / "pairs.tsv"
    tsv.write_text("source\ttarget\n" + "".join(f"{s}\t{t}\n" for s, t in word_pairs()))
    runs = root / "runs"
    args = ["train", "seq2seq", "--data", str(tsv), "--steps", "600", "--batch-size", "32",
            *MICRO, "--eval-every", "300", "--keep-best", "val_loss", "--name", "mt",
            "--runs-dir", str(runs)]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output + repr(result.exception)
    return runs, tsv


def test_trained_run_beats_copying_on_held_out_pairs(cli, mt):
    runs, _ = mt
    cli.ok("eval", "mt", "--n", "100", "--runs-dir", runs)
    m = json.loads((runs / "mt" / "metrics.json").read_text())["values"]
    assert m["bleu"] > m["copy_source_bleu"] + 50 and m["chrf"] > m["copy_source_chrf"] + 50
    assert m["copied_train_targets"] <= 2
    report = (runs / "mt" / "report.html").read_text()
    assert "Held-out examples" in report and "BLEU" in report and "nrefs:1" in report
    card = (runs / "mt" / "README.md").read_text()
    assert "split by unique source sentence" in card and "genforge translate mt" in card
    assert "reference:" in (runs / "mt" / "samples" / "latest.txt").read_text()
    assert (runs / "mt" / "best" / "best.json").exists()  # --keep-best val_loss


def test_translate_text_file_and_json(cli, mt, tmp_path: Path):
    runs, _ = mt
    src = "ka lo mi su"  # may be in training; the point is the command
    out = cli.ok("translate", "mt", "--text", src, "--num-beams", "2", "--runs-dir", runs)
    assert out.stdout.strip() == "BAV DOR FEK GUS"
    f = tmp_path / "in.txt"
    f.write_text("ka ka lo lo\n\npi no te ra\n")
    cli.ok("translate", "mt", "--file", f, "--out", tmp_path / "out.txt", "--runs-dir", runs)
    assert (tmp_path / "out.txt").read_text().splitlines() == ["BAV BAV DOR DOR", "LEZ KUP HIM JOL"]
    recs = json.loads(cli.ok("translate", "mt", "--text", "su su", "--json", "--do-sample",
                             "--num-beams", "1", "--seed", "3", "--runs-dir", runs).stdout)  # fmt: skip
    assert recs[0]["source"] == "su su" and recs[0]["seed"] == 3 and recs[0]["output"]
    wm = cli.ok("translate", "mt", "--text", "ka lo", "--watermark", "--runs-dir", runs)
    assert wm.stdout.strip()
    summary = cli.ok("summarize", "mt", "--file", f, "--num-beams", "1", "--runs-dir", runs)
    assert summary.stdout.strip()  # the whole file as one document
    assert "translates text" in cli.fails("sample", "mt", "--runs-dir", runs)
    assert "give --text TEXT (repeatable) or --file" in cli.fails(
        "translate", "mt", "--runs-dir", runs
    )
    assert "not --input" in cli.fails("translate", "mt", "--input", f, "--runs-dir", runs)


def test_run_loads_in_plain_transformers_with_identical_outputs(cli, mt):
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    runs, _ = mt
    hf_dir = runs / "mt" / "model" / "hf"
    model = AutoModelForSeq2SeqLM.from_pretrained(hf_dir).eval()
    tok = AutoTokenizer.from_pretrained(hf_dir)
    texts = ["pi pi ka no", "te su ra lo"]
    enc = tok(texts, return_tensors="pt", padding=True)
    ids = model.generate(**enc, num_beams=4, max_new_tokens=128)
    plain = [t.strip() for t in tok.batch_decode(ids, skip_special_tokens=True)]
    args = ["translate", "mt", "--runs-dir", runs]
    for t in texts:
        args += ["--text", t]
    assert cli.ok(*args).stdout.split("\n")[:2] == plain


def test_resume_and_lora_fine_tune_from_a_local_folder(cli, mt):
    runs, tsv = mt
    cli.ok("train", "--resume", "mt", "--steps", "610", "--runs-dir", runs)
    cfg = json.loads((runs / "mt" / "model" / "meta.json").read_text())
    assert cfg["step"] == 610
    base = runs / "mt" / "model" / "hf"
    cli.ok(
        "train",
        "seq2seq",
        "--data",
        tsv,
        "--init",
        base,
        "--lora",
        "--steps",
        "3",
        "--batch-size",
        "8",
        "--set",
        "dedup=exact",
        "--name",
        "ft",
        "--runs-dir",
        runs,
    )
    assert (runs / "ft" / "model" / "adapter" / "adapter_config.json").exists()
    out = cli.ok("translate", "ft", "--text", "ka lo", "--runs-dir", runs).stdout.strip()
    assert out  # the merged model decodes


def test_gru_baseline_trains_evaluates_and_translates(cli, mt, tmp_path: Path):
    _, tsv = mt
    runs = tmp_path / "runs"
    cli.ok("train", "gru-seq2seq", "--data", tsv, "--steps", "20", "--batch-size", "16",
           "--vocab", "60", "--set", "hidden=32", "--set", "emb_dim=16", "--set", "dedup=exact",
           "--name", "gru", "--runs-dir", runs)  # fmt: skip
    cli.ok("eval", "gru", "--n", "10", "--num-beams", "2", "--runs-dir", runs)
    assert json.loads((runs / "gru" / "metrics.json").read_text())["values"]["val_loss"] > 0
    assert cli.ok("translate", "gru", "--text", "ka", "--runs-dir", runs).exit_code == 0
    msg = cli.fails("translate", "gru", "--text", "ka", "--watermark", "--runs-dir", runs)
    assert "without watermarks" in msg


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("p.tsv", "only-one-column\n", "needs two columns"),
        ("p.jsonl", '{"source": "a"}\n', "needs 'source' and 'target'"),
        ("p.tsv", "a\t\n", "empty target"),
    ],
)
def test_bad_pair_files_are_one_line_errors(cli, tmp_path: Path, name, content, message):
    f = tmp_path / name
    f.write_text(content)
    assert message in cli.fails("train", "seq2seq", "--data", f, "--steps", "1")


def test_misaligned_line_files_are_a_one_line_error(cli, tmp_path: Path):
    (tmp_path / "a.txt").write_text("one\ntwo\n")
    (tmp_path / "b.txt").write_text("eins\n")
    msg = cli.fails("train", "seq2seq", "--data", f"{tmp_path / 'a.txt'},{tmp_path / 'b.txt'}")
    assert "must be aligned" in msg


def test_data_inspect_prints_the_pair_report(cli, tmp_path: Path):
    """`genforge data inspect` on a pair file prints the report a seq2seq run writes to
    data_report.json: kept, dropped per reason, PII scrubbed, the split by source."""
    doc = " ".join(f"w{i}" for i in range(60))  # 60 words: one more is a near duplicate
    rows = [(s, t) for s, t in word_pairs(40, seed=1)]
    rows += [rows[0], rows[1]]  # two exact duplicate pairs
    rows += [(doc, "noch einmal"), ("a short line", "x" * 200)]  # bad length ratios
    rows += [(doc, doc), (doc + " end", doc + " end")]  # a near duplicate pair
    rows += [("write to ann@example.com", "schreib ann@example.com")]  # PII, kept
    rows += [("peace", "мир")]  # not Latin, as --target-lang de wants
    tsv = tmp_path / "pairs.tsv"
    tsv.write_text("source\ttarget\n" + "".join(f"{s}\t{t}\n" for s, t in rows))
    out = cli.ok("data", "inspect", tsv, "--target-lang", "de").stdout
    text = " ".join(re.sub(r"[│┃┌┐└┘├┤┬┴┼─━]", " ", out).split())  # table rules removed
    for line in ("pairs read 48", "pairs kept 42", "dropped: exact-duplicate 2",
                 "dropped: length-ratio 2", "dropped: near-duplicate 1", "dropped: language 1",
                 "dropped: empty side 0", "PII scrubbed email 2",
                 "held-out sources in training 0 of 4"):  # fmt: skip
        assert line in text, text
    assert "ann@example.com" not in text and "noch einmal" in text  # an example of a drop
    out = json.loads(cli.ok("data", "inspect", tsv, "--target-lang", "de", "--json").stdout)
    assert out["dropped"]["exact-duplicate"] == 2 and out["train"] + out["val"] == 42
    assert out["val_sources_in_train"] == 0 and out["val"] >= out["val_sources"] == 4
    # a file that does not name its columns is a table unless --pairs says otherwise
    plain = tmp_path / "plain.tsv"
    plain.write_text("".join(f"{s}\t{t}\n" for s, t in rows))
    assert json.loads(cli.ok("data", "inspect", plain, "--pairs", "--json").stdout)["read"] == 48
    embedded = cli.ok("data", "inspect", "country-names:en-ru").stdout
    assert "Text pairs: country-names:en-ru" in embedded and "in training" in embedded
