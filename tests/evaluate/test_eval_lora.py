"""`evaluate_run` on a LoRA run: samples drawn with the adapters off (the base alone) and on,
closeness to the instance images in a named space, CLIP score and CLIP-I with a local CLIP
folder, and a memorization audit that flags a LoRA reproducing its training photos."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from genforge.core.images import make_grid
from genforge.evaluate import evaluate_run
from genforge.evaluate.report import write_report
from genforge.train.lora import train_lora
from hf_tiny import save_tiny_clip_model, save_tiny_sd_pipeline

PROMPT = "a photo of sks dog"
FAST = {"n": 6, "steps": 2, "device": "cpu"}


@pytest.fixture(scope="module")
def lora_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("lora-eval")
    base = save_tiny_sd_pipeline(root)
    rng = np.random.default_rng(0)
    (root / "dog").mkdir()
    for i in range(4):
        Image.fromarray(rng.integers(0, 256, (12, 10, 3), dtype=np.uint8)).save(
            root / "dog" / f"{i}.png"
        )
    run = train_lora(base, root / "dog", runs_dir=root / "runs", name="dog", instance_prompt=PROMPT,
                     steps=4, sample_steps=2, lr=1e-2, log_every=2)  # fmt: skip
    return run


@pytest.fixture(scope="module")
def clip_folder(tmp_path_factory) -> Path:
    # seed 3: a random tiny CLIP whose image-prompt cosines are positive, so scores are not
    # all clamped to 0
    return save_tiny_clip_model(tmp_path_factory.mktemp("clip"), seed=3)


def png(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB")).astype(int)


def test_eval_reports_closeness_before_and_after_in_a_named_space(lora_run):
    from genforge.models import sd_lora

    result = evaluate_run(lora_run, **FAST)
    v = result.to_dict()["values"]
    assert result.modality == "lora"
    assert result.extra["feature_space"] == {"kind": "vae", "label": "base VAE latents"}
    assert any("base VAE latents" in m.label for m in result.metrics if m.key == "nn_vae_after")
    for key in ("nn_vae_before", "nn_vae_after", "nn_vae_instances"):
        assert np.isfinite(v[key]) and v[key] > 0, key
    assert v["memorized"] == 0 and not result.extra["memorization"]["flagged_run"]
    assert result.extra["memorization"]["calibration"] == "leave-one-out"
    assert "clip_score_after" not in v  # no --clip: no prompt adherence
    # "before" is the base alone: the same prompt and seeds drawn without any adapter
    pipe = sd_lora.load_base(Path(lora_run.read_config()["base"]["path"]))
    base = sd_lora.draw(pipe, [PROMPT] * 6, list(range(6)), 8, 2, 7.5)
    before = png(lora_run.samples_dir / "eval-before.png")
    assert np.abs(before - make_grid(base, nrow=6).astype(int)).max() <= 1
    assert np.abs(before - png(lora_run.samples_dir / "eval-after.png")).mean() > 1  # LoRA acts
    page = write_report(lora_run, result)
    saved = json.loads(page.with_name("metrics.json").read_text())
    assert saved["modality"] == "lora" and saved["values"]["nn_vae_after"] == v["nn_vae_after"]
    html = page.read_text()
    assert "What the LoRA changed" in html and "Samples before and after the LoRA" in html
    assert "Memorization audit" in html and html.count("data:image/png;base64") >= 3


def test_clip_gives_a_clip_score_and_clip_i_in_range(lora_run, clip_folder):
    result = evaluate_run(lora_run, clip=clip_folder, **FAST)
    v = result.to_dict()["values"]
    assert result.extra["feature_space"]["kind"] == "clip"  # auto picks CLIP when given
    for side in ("before", "after", "instances"):
        assert 0 < v[f"clip_score_{side}"] < 100, side
    for side in ("before", "after"):
        assert -1 <= v[f"clip_i_{side}"] <= 1 and np.isfinite(v[f"nn_clip_{side}"]), side
    # --features vae keeps the VAE space for distances and still scores prompts with CLIP
    vae = evaluate_run(lora_run, clip=clip_folder, features="vae", **FAST).to_dict()["values"]
    assert "nn_vae_after" in vae and vae["clip_score_after"] == pytest.approx(v["clip_score_after"])


def test_clip_score_is_clip_models_own_cosine_of_image_and_prompt(clip_folder, tmp_path):
    from transformers import AutoImageProcessor, AutoTokenizer, CLIPModel

    from genforge.evaluate.clip import ClipSpace, clip_score

    space = ClipSpace(clip_folder)
    images = torch.rand(3, 3, 8, 8, generator=torch.Generator().manual_seed(0)) * 2 - 1
    prompts = [PROMPT, "a cat wearing a hat", "one"]
    # transformers' own forward pass gives the reference embeddings
    model = CLIPModel.from_pretrained(clip_folder)
    pixels = AutoImageProcessor.from_pretrained(clip_folder)(
        images=list(((images + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()),
        return_tensors="pt",
    )["pixel_values"]
    ids = AutoTokenizer.from_pretrained(clip_folder)(prompts, padding=True, return_tensors="pt")
    with torch.no_grad():
        out = model(input_ids=ids["input_ids"], attention_mask=ids["attention_mask"],
                    pixel_values=pixels)  # fmt: skip
    cos = torch.nn.functional.cosine_similarity(out.image_embeds, out.text_embeds).double()
    assert (cos > 0).all()  # no clamping at 0 here: the score is 100 x the plain mean cosine
    assert torch.allclose(space.features(images).norm(dim=-1), torch.ones(3, dtype=torch.float64))
    assert clip_score(space, images, prompts) == pytest.approx(float(100 * cos.mean()), rel=1e-4)
    # a CLIP whose cosines here are all negative scores 0, as torchmetrics' CLIPScore clamps
    other = ClipSpace(save_tiny_clip_model(tmp_path / "other", seed=0))
    assert ((other.features(images) * other.text_features(prompts)).sum(-1) < 0).all()
    assert clip_score(other, images, prompts) == 0


def test_a_lora_that_reproduces_its_training_photos_is_flagged(lora_run, monkeypatch):
    import genforge.evaluate.lora as lora_eval

    real_draw = lora_eval.draw_samples
    instances = lora_eval.instance_images(lora_run).images

    def copies_after(provider, prompts, seeds, scale, *args, **kwargs):
        if scale == 0:
            return real_draw(provider, prompts, seeds, scale, *args, **kwargs)
        noise = 0.01 * torch.randn(len(seeds), *instances.shape[1:])  # near-copies, not exact
        return (instances[[i % len(instances) for i in range(len(seeds))]] + noise).clamp(-1, 1)

    monkeypatch.setattr(lora_eval, "draw_samples", copies_after)
    result = evaluate_run(lora_run, **FAST)
    v = result.to_dict()["values"]
    assert v["memorized"] == 6 and v["memorized_rate"] == 1.0 and v["memorized_before"] == 0
    assert result.extra["memorization"]["flagged_run"]
    assert "reproduces its training photos" in result.sections[0].html
