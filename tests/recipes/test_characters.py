"""The characters recipe end to end at tiny sizes: demo and folder + attributes.csv."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from genforge.core.errors import GenforgeError
from genforge.core.images import read_png_params
from genforge.core.run import resolve_run
from genforge.data.sprites import write_sprite_folder
from genforge.recipes.characters import (
    combinations,
    mean_pairwise_distance,
    run_characters,
    verdict_of,
    worst_slices,
)

TINY = {"steps": 2, "batch_size": 8, "width": 4, "d_width": 4, "image_size": 16, "classifier_steps": 3,
        "samples_per_combo": 2, "max_combos": 6, "sheet_size": 5, "device": "cpu"}  # fmt: skip


def test_demo_end_to_end_leaves_a_run_a_report_a_grid_and_an_indexed_sheet(tmp_path):
    lines: list[str] = []
    res = run_characters(demo=True, runs_dir=tmp_path / "runs", pdf=True, log=lines.append, **TINY)
    run = resolve_run(res.run.name, tmp_path / "runs")
    assert run.read_config()["model"] == "attrgan" and run.step == 2
    said = next(i for i, line in enumerate(lines) if line.startswith("expected duration"))
    assert said < next(i for i, line in enumerate(lines) if line.startswith("training attrgan"))
    assert "attrgan training (2 steps) ~" in lines[said] and "judge (3 steps) ~" in lines[said]
    assert "generating 12 judged images ~" in lines[said]
    assert run.read_config()["model_config"]["diffaug"] == "translation"  # the recipe's default
    html = res.report[0].read_text()
    assert res.report[1].suffix == ".pdf" and res.report[1].stat().st_size > 0
    for text in ("Verdict", "Attribute accuracy", "FD (judge features, not FID)",
                 "Single-attribute editing", "Sprite sheet"):  # fmt: skip
        assert text in html
    m = json.loads((res.out_dir / "metrics.json").read_text())
    assert set(m["attribute_accuracy_generated"]) == {"hair", "eyes", "smile", "skin", "accessory"}
    assert m["combinations"] == 6 and not m["all_combinations"] and m["generated"] == 12
    assert m["diffaug"] == "translation" and m["widths"] == {"generator": 4, "discriminator": 4}
    assert "DiffAugment translation" in html and any("DiffAugment translation" in x for x in lines)
    assert all(0 <= v <= 1 for v in m["attribute_accuracy_generated"].values())
    assert set(m["worst_slice"]) == set(m["attributes"]) and "worst subgroup" in html
    assert res.verdict_level in ("ok", "warn", "bad")
    # sprite sheet: cells edge to edge, the index names every cell's place and attributes
    sheet = Image.open(res.out_dir / "sprite-sheet.png")
    index = json.loads((res.out_dir / "sprite-sheet.json").read_text())
    assert sheet.size == (5 * 16, 16) and len(index["cells"]) == 5
    assert index["cells"][3]["x"] == 48 and set(index["cells"][3]["attributes"]) == set(
        m["attributes"]
    )
    assert (res.out_dir / "sprite-sheet.csv").read_text().count("\n") == 6
    grid = read_png_params(res.out_dir / "editing-grid.png")
    assert (
        grid["kind"] == "editing-grid"
        and json.loads(grid["base"])["hair"] in m["attributes"]["hair"]
    )
    assert any("verdict" in line for line in lines)


def test_folder_with_attributes_csv(tmp_path):
    csv_path = write_sprite_folder(tmp_path / "sprites", num_images=30, seed=1)
    (tmp_path / "sprites" / "notes.txt").write_text("not an image")
    res = run_characters(str(tmp_path / "sprites"), csv_path, runs_dir=tmp_path / "runs",
                         diffaug="", log=lambda _: None, **TINY)  # fmt: skip
    cfg = res.run.read_config()
    assert cfg["data"]["attributes"] == str(csv_path.resolve())
    assert cfg["model_config"]["diffaug"] == ""  # DiffAugment off
    assert "DiffAugment off" in res.report[0].read_text()
    assert cfg["spec"]["attributes"]["hair"] == sorted(["black", "brown", "blonde", "red", "blue"])


def test_bad_requests_are_one_line_errors(tmp_path):
    with pytest.raises(GenforgeError, match="--demo uses the embedded sprites"):
        run_characters("x", demo=True)
    with pytest.raises(GenforgeError, match="which characters"):
        run_characters()
    (tmp_path / "imgs").mkdir()
    with pytest.raises(GenforgeError, match="no attributes file"):
        run_characters(str(tmp_path / "imgs"))


def test_combinations_and_diversity_helpers():
    codes, complete = combinations([2, 3], cap=10)
    assert complete and codes.tolist() == [[0, 0], [0, 1], [0, 2], [1, 0], [1, 1], [1, 2]]
    some, complete = combinations([5, 5, 5], cap=7, seed=1)
    assert not complete and len({tuple(r) for r in some.tolist()}) == 7
    import torch

    feats = torch.tensor([[0.0, 0.0], [3.0, 4.0], [1.0, 1.0], [1.0, 1.0], [9.0, 9.0]])
    groups = torch.tensor([0, 0, 1, 1, 2])  # group 2 has one member: ignored
    assert mean_pairwise_distance(feats, groups) == pytest.approx((5.0 + 0.0) / 2)
    assert np.isnan(mean_pairwise_distance(feats, torch.arange(5)))


def test_worst_slice_finds_a_subgroup_an_average_hides():
    import torch

    values = {"smile": ["yes", "no"], "skin": ["light", "medium", "dark"]}
    codes = torch.tensor([[s, k] for s in range(2) for k in range(3) for _ in range(10)])
    hits = torch.ones_like(codes, dtype=torch.bool)
    dark = codes[:, 1] == 2
    hits[dark.nonzero()[:10, 0], 0] = False  # smile wrong on half of the dark-skinned images
    out = worst_slices(hits, codes, values)
    assert float(hits[:, 0].float().mean()) == pytest.approx(50 / 60)  # 83 % overall
    assert out["smile"] == {"when": "skin=dark", "accuracy": 0.5, "images": 20}
    assert out["skin"]["accuracy"] == 1.0
    assert worst_slices(hits[:, :1], codes[:, :1], {"smile": ["yes", "no"]}) == {}


def test_verdict_warns_when_a_subgroup_fails_though_every_attribute_passes():
    m = {"attribute_accuracy_generated": {"smile": 0.92, "skin": 1.0}, "all_attributes_right": 0.9,
         "generated": 60, "judge_accuracy_real_heldout": {"smile": 1.0, "skin": 1.0},
         "diversity_generated": 1.0, "diversity_real": 1.0, "diversity_ratio": 1.0,
         "fd_judge_features": 1.0, "fd_judge_features_real_vs_real": 1.0,
         "worst_slice": {"smile": {"when": "skin=dark", "accuracy": 0.76, "images": 20},
                         "skin": {"when": "smile=yes", "accuracy": 1.0, "images": 30}}}  # fmt: skip
    assert verdict_of(m).level == "ok"
    m["worst_slice"]["smile"]["accuracy"] = 0.6
    v = verdict_of(m)
    assert v.level == "warn" and "only 60.0% when skin=dark" in v.headline
