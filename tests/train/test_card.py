"""Each modality's model card speaks its own units and suggests its own commands."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from genforge.train.launch import train


def card(run) -> str:
    return run.card_path.read_text(encoding="utf-8")


def throughput(text: str) -> str:
    return re.search(r"throughput ([\d,]+ [a-z ]+/s)", text).group(1)


def test_image_card_counts_images(tmp_path: Path):
    run = train("dcgan", "digits", runs_dir=tmp_path, image_size=8, steps=2, batch_size=8,
                ngf=8, ndf=8, latent_dim=8)  # fmt: skip
    text = card(run)
    assert throughput(text).endswith(" images/s")
    assert "- images used: " in text and "classes: 0 (" in text
    assert "![samples](samples/latest.png)" in text
    assert f"genforge sample {run.name} --interpolate 8" in text


def test_table_card_counts_rows_and_suggests_table_commands(tmp_path: Path):
    run = train("copula", "wine", runs_dir=tmp_path, steps=3, batch_size=50)
    text = card(run)
    assert throughput(text).endswith(" rows/s")
    assert "images" not in text and "walk.gif" not in text and "--grid" not in text
    assert "- rows: 178 (train 142, real holdout 36" in text
    assert "- columns: 14 (" in text and "target column for the utility test: " in text
    assert "[samples/latest.csv](samples/latest.csv)" in text
    assert f"genforge sample {run.name} --n 1000 --out synthetic.csv --seed 0" in text
    assert "latest.png" not in text


def test_text_card_counts_tokens(tmp_path: Path):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("the cat sat on the mat. " * 200, encoding="utf-8")
    run = train("gpt", str(corpus), runs_dir=tmp_path, block_size=16, steps=2, batch_size=4,
                n_layer=1, n_head=2, n_embd=16, dedup="exact", warmup_steps=0)  # fmt: skip
    text = card(run)
    assert throughput(text).endswith(" tokens/s")
    logged = [r for r in run.metrics() if "tokens_per_s" in r]
    assert logged and "images_per_s" not in logged[-1]
    assert "images" not in text and f"genforge generate text {run.name}" in text


def test_audio_card_counts_clips(tmp_path: Path):
    clips = tmp_path / "clips"
    rng = np.random.default_rng(0)
    for label in ("hum", "hiss"):
        (clips / label).mkdir(parents=True)
        for i in range(6):
            sf.write(clips / label / f"{i}.wav", rng.uniform(-0.5, 0.5, 2000), 4000)
    run = train("wavegan", str(clips), runs_dir=tmp_path, sample_rate=4000, seconds=0.25,
                steps=1, batch_size=4, model_size=4, latent_dim=8, n_critic=1)  # fmt: skip
    text = card(run)
    assert throughput(text).endswith(" clips/s")
    assert "- clips used: 12 of 12 files" in text and "classes: hiss (6), hum (6)" in text
    assert "images" not in text and f"genforge sample {run.name} --n 8 --out-dir clips" in text


@pytest.mark.parametrize("legacy", ["ctgan", "gpt"])
def test_cards_of_runs_logged_before_units_name_their_items(tmp_path: Path, legacy: str):
    """Runs written before units per modality logged `images_per_s` (training items/s)."""
    import shutil

    from genforge.core.run import Run
    from genforge.train.card import write_model_card

    fixture = Path(__file__).parents[1] / "fixtures" / "legacy_runs" / "v0" / legacy
    shutil.copytree(fixture, tmp_path / legacy)
    text = write_model_card(Run(tmp_path / legacy)).read_text(encoding="utf-8")
    unit = {"ctgan": "rows", "gpt": "token windows"}[legacy]
    assert throughput(text).endswith(f" {unit}/s")
