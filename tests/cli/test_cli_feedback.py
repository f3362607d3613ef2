"""`genforge feedback` (summary, export, import) and `genforge gate fit` / `sample --gate`:
the learned gate refuses too few or one-sided ratings and recovers a planted rating rule."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
from PIL import Image
from sklearn.datasets import load_digits

from genforge.safety.feedback import FeedbackStore, Rating
from textkit import make_docs, make_folder


def _record(store: FeedbackStore, run: str, path: Path, modality: str) -> str:
    oid = store.provenance.new_id()
    store.provenance.add(oid, who="local", run=run, modality=modality, params={"file": path.name},
                         content=path.read_bytes(), phash_hex=None, watermarked=False,
                         path=str(path))  # fmt: skip
    return oid


def _digit_outputs(store, run: str, folder: Path, per_class: int = 14) -> dict[str, int]:
    """Real 8x8 digits of classes 0 and 1 recorded as outputs of `run`: id -> class."""
    digits = load_digits()
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for c in (0, 1):
        for j, i in enumerate(np.flatnonzero(digits.target == c)[:per_class]):
            path = folder / f"c{c}-{j}.png"
            Image.fromarray((digits.images[i] * 255 / 16).astype(np.uint8), "L").save(path)
            out[_record(store, run, path, "image")] = c
    return out


def test_image_gate_refuses_then_learns_a_planted_rule(cli, dcgan_run, tmp_path):
    runs = tmp_path / "runs"
    shutil.copytree(dcgan_run, runs / "g")
    db = runs / ".serve" / "genforge.sqlite"
    store = FeedbackStore(db)
    outputs = _digit_outputs(store, "g", tmp_path / "outs")
    ids = list(outputs)
    # the planted rule: the reviewer approves zeros and rejects ones
    for oid in ids[:10]:
        store.rate(oid, "ann", Rating(thumb="up" if outputs[oid] == 0 else "down"))
    assert "no ratings yet" not in cli.ok("feedback", "g", "--runs-dir", runs).output
    msg = cli.fails("gate", "fit", "g", "--runs-dir", runs)
    assert "needs at least 20 rated outputs" in msg and "has 10 (10 approved, 0 rejected)" in msg
    for oid in ids[10:]:
        store.rate(oid, "ann", Rating(score=5 if outputs[oid] == 0 else 1, tags=["planted"]))
    store.rate(ids[-1], "bob", Rating(thumb="down"))  # agrees with ann (a one, rated 1)
    out = cli.ok("feedback", "g", "--runs-dir", runs).output
    assert "28 outputs by 2 rater(s)" in out and "14 approved, 14 rejected" in out
    assert "100% of rater pairs agree" in out
    out = cli.ok("gate", "fit", "g", "--runs-dir", runs).output
    info = json.loads((runs / "g" / "gate" / "learned.json").read_text())
    assert info["ratings"] == 28 and info["cv_auc"] > 0.9, info
    assert info["features"].startswith("domain classifier") and "AUC" in out
    # sampling through the learned gate, alone and with the automatic one
    for gate in ("learned", "both"):
        out = cli.ok("sample", "g", "--runs-dir", runs, "--n", "4", "--best-of", "2",
                     "--min-score", "0", "--gate", gate, "--out-dir", tmp_path / gate).output  # fmt: skip
        assert "learned" in out and len(list((tmp_path / gate).glob("*.png"))) == 4
    assert "--gate is one of" in cli.fails("sample", "g", "--runs-dir", runs, "--gate", "x")

    # export -> import into another store: the same ratings, with their outputs' provenance
    cli.ok("feedback", "g", "--runs-dir", runs, "--export", tmp_path / "fb.jsonl")
    rows = [json.loads(x) for x in (tmp_path / "fb.jsonl").read_text().splitlines()]
    assert len(rows) == 29 and {r["rater"] for r in rows} == {"ann", "bob"}
    assert all(r["output"]["run"] == "g" for r in rows)
    other = tmp_path / "other.sqlite"
    out = cli.ok("feedback", "g", "--runs-dir", runs, "--db", other, "--import",
                 tmp_path / "fb.jsonl").output  # fmt: skip
    assert "imported 29 of 29" in out and "28 outputs added" in out
    back, total = FeedbackStore(other).for_run("g")
    assert total == 29
    assert {(s.output_id, s.rater, s.rating.thumb, s.rating.score) for s in back} == {
        (r["output_id"], r["rater"], r["thumb"], r["score"]) for r in rows
    }
    (tmp_path / "bad.jsonl").write_text('{"output_id": "ffffffff", "rater": "x", "thumb": "up"}\n'
                                        "not json\n")  # fmt: skip
    assert "bad.jsonl:2: not JSON" in cli.fails("feedback", "g", "--runs-dir", runs, "--import",
                                                tmp_path / "bad.jsonl")  # fmt: skip


def test_text_gate_learns_to_reject_repetition(cli, tmp_path):
    from textkit import tiny_run

    runs = tmp_path / "runs"
    tiny_run("ngram", make_folder(tmp_path / "corpus", n=12), runs, "t")
    store = FeedbackStore(runs / ".serve" / "genforge.sqlite")
    folder = tmp_path / "texts"
    folder.mkdir()
    docs = make_docs(15, seed=7, words=30)
    rng = np.random.default_rng(0)
    for i, doc in enumerate(docs):
        good = folder / f"good{i}.txt"
        good.write_text(doc, encoding="utf-8")
        words = doc.split()[:4]
        bad = folder / f"bad{i}.txt"  # a short loop repeated: the reviewer's pet hate
        bad.write_text(" ".join(words * int(rng.integers(5, 9))), encoding="utf-8")
        store.rate(_record(store, "t", good, "text"), "local", Rating(thumb="up"))
        store.rate(_record(store, "t", bad, "text"), "local", Rating(thumb="down"))
    cli.ok("gate", "fit", "t", "--runs-dir", runs)
    info = json.loads((runs / "t" / "gate" / "learned.json").read_text())
    assert info["cv_auc"] > 0.9 and "the run's own LM" in info["features"], info
    r = cli.ok("generate", "text", "t", "--runs-dir", runs, "--do-sample", "--best-of", "2",
               "--gate", "both", "--max-new-tokens", "20")  # fmt: skip
    assert "text gate (fluency + repetition + learned): kept 1 of 1" in r.stderr
    assert "no run 'nope'" in cli.fails("gate", "fit", "nope", "--runs-dir", runs)


def test_review_draws_least_sure_first_and_records_verdicts(cli, runner, dcgan_run, tmp_path):
    from genforge.cli.main import app

    runs = tmp_path / "runs"
    shutil.copytree(dcgan_run, runs / "g")
    args = ["review", "g", "--n", "6", "--seed", "4", "--rater", "ann", "--runs-dir", str(runs)]
    r = runner.invoke(app, args, input="u\nd4\nx\n3\ns\nq\n")
    assert r.exit_code == 0, r.output
    assert "least sure first by the auto gate" in r.output and "not a verdict: 'x'" in r.output
    assert "rated 3 of 6" in r.output
    store = FeedbackStore(runs / ".serve" / "genforge.sqlite")
    recs, total = store.provenance.search(run="g", limit=10)
    assert total == 6 and all(Path(x.path).is_file() for x in recs)
    by_id = {x.id: x for x in recs}
    # the order shown is by doubt: |score - 0.5| never decreases along the queue
    shown = [line.split()[1] for line in r.output.splitlines() if "/6 " in line]
    doubts = [abs(by_id[i].params["score"] - 0.5) for i in shown]
    assert doubts == sorted(doubts) and len(shown) == 5  # q at the 6th prompt stopped it
    ratings, _ = store.for_run("g")
    got = {s.output_id: (s.rating.thumb, s.rating.score) for s in ratings}
    assert got == {shown[0]: ("up", None), shown[1]: ("down", 4), shown[2]: (None, 3)}
    assert all(s.rater == "ann" for s in ratings)


def test_review_of_a_text_run_and_unsupported_runs(cli, runner, tmp_path):
    from genforge.cli.main import app
    from textkit import tiny_run

    runs = tmp_path / "runs"
    tiny_run("ngram", make_folder(tmp_path / "corpus", n=12), runs, "t")
    r = runner.invoke(app, ["review", "t", "--n", "3", "--runs-dir", str(runs)], input="u\n")
    assert r.exit_code == 0, r.output
    assert "in drawing order (no gate yet)" in r.output and "rated 1 of 3" in r.output
    texts = sorted((runs / "t" / "samples" / "review-s0").glob("*.txt"))
    assert len(texts) == 3 and all(t.read_text() for t in texts)
    assert "--n must be between 1 and 512" in cli.fails("review", "t", "--n", "0",
                                                        "--runs-dir", runs)  # fmt: skip


def test_audio_gate_learns_a_planted_rule(cli, tmp_path):
    """The reviewer approves clean tones and rejects the same tones under loud noise."""
    import soundfile as sf
    import torch

    from genforge.data.audio import load_audio

    runs = tmp_path / "runs"
    cli.ok("train", "wavegan", "--data", "tones", "--name", "a", "--runs-dir", runs,
           "--sample-rate", "4000", "--seconds", "0.25", "--steps", "1", "--batch-size", "4",
           "--set", "model_size=4", "--set", "latent_dim=8", "--set", "n_critic=1")  # fmt: skip
    out = cli.ok("review", "a", "--n", "3", "--draw-only", "--runs-dir", runs).output
    assert "3 outputs of 'a' recorded, least sure first by the auto gate" in out
    assert len(list((runs / "a" / "samples" / "review-s0").glob("*.wav"))) == 3
    store = FeedbackStore(runs / ".serve" / "genforge.sqlite")
    waves = load_audio("tones", 4000, 0.25, seed=5).images[::20][:15]  # (15, 1, 1000)
    g = torch.Generator().manual_seed(0)
    folder = tmp_path / "clips"
    folder.mkdir()
    for i, w in enumerate(waves):
        noisy = w + torch.randn(w.shape, generator=g) * w.pow(2).mean().sqrt() * 0.7
        for tag, x, thumb in (("clean", w, "up"), ("noisy", noisy.clamp(-1, 1), "down")):
            path = folder / f"{tag}{i}.wav"
            sf.write(path, x.flatten().numpy(), 4000, subtype="PCM_16")
            store.rate(_record(store, "a", path, "audio"), "local", Rating(thumb=thumb))
    cli.ok("gate", "fit", "a", "--runs-dir", runs)
    info = json.loads((runs / "a" / "gate" / "learned.json").read_text())
    assert info["cv_auc"] > 0.9 and info["features"].startswith("domain CNN on log-mels"), info
    out = cli.ok("sample", "a", "--runs-dir", runs, "--n", "2", "--best-of", "2", "--gate",
                 "both", "--min-score", "0", "--out-dir", tmp_path / "both").output  # fmt: skip
    assert "audio gate (confidence + clipping + silence + snr + learned)" in out


def test_table_gate_learns_a_planted_rule(cli, tmp_path):
    """The reviewer approves rows of city A and rejects the others; each output is one row."""
    import pandas as pd

    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"age": rng.integers(18, 90, 120), "city": rng.choice(["A", "B", "C"], 120),
                          "income": np.round(rng.lognormal(10, 0.5, 120), 2)})  # fmt: skip
    frame.to_csv(tmp_path / "people.csv", index=False)
    runs = tmp_path / "runs"
    cli.ok("train", "copula", "--data", tmp_path / "people.csv", "--name", "p", "--runs-dir",
           runs, "--steps", "20", "--batch-size", "50")  # fmt: skip
    store = FeedbackStore(runs / ".serve" / "genforge.sqlite")
    folder = tmp_path / "rows"
    folder.mkdir()
    rows = pd.DataFrame({"age": rng.integers(18, 90, 30), "city": ["A", "B", "C"] * 10,
                         "income": np.round(rng.lognormal(10, 0.5, 30), 2)})  # fmt: skip
    for i in range(len(rows)):
        path = folder / f"row{i}.csv"
        rows.iloc[[i]].to_csv(path, index=False)
        thumb = "up" if rows["city"].iloc[i] == "A" else "down"
        store.rate(_record(store, "p", path, "table"), "local", Rating(thumb=thumb))
    msg = cli.fails("sample", "p", "--runs-dir", runs, "--gate", "learned")
    assert "has no learned gate" in msg and "genforge gate fit p" in msg
    cli.ok("gate", "fit", "p", "--runs-dir", runs)
    info = json.loads((runs / "p" / "gate" / "learned.json").read_text())
    assert info["cv_auc"] > 0.9 and info["features"].startswith("per-column values"), info
    assert info["dim"] == 2 + 3 + 2  # age, income; city one-hot; DCR and P(real)
    out = cli.ok("sample", "p", "--runs-dir", runs, "--n", "6", "--best-of", "4", "--gate",
                 "learned", "--min-score", "0", "--out", tmp_path / "kept.csv").output  # fmt: skip
    assert "table gate (learned): kept 6 of 6 requested" in out
    kept = pd.read_csv(tmp_path / "kept.csv")
    assert (kept["city"] == "A").mean() > 0.5  # the learned gate prefers what was approved
    out = cli.ok("review", "p", "--n", "4", "--draw-only", "--runs-dir", runs).output
    assert "4 outputs of 'p' recorded, least sure first by the learned gate" in out
    drawn = sorted((runs / "p" / "samples" / "review-s0").glob("*.csv"))
    assert len(drawn) == 4 and all(len(pd.read_csv(f)) == 1 for f in drawn)
