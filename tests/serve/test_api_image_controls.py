"""Per-run playground controls of image runs: diffusion samplers, steps and guidance,
text-to-image prompts, best-of by the quality gate's score; their limits and refusals."""

from __future__ import annotations

import base64
import io
import shutil

import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient
from PIL import Image

from genforge.core.run import Run
from genforge.serve import Settings, create_app


@pytest.fixture
def mixed(tmp_path, trained_runs, diffusion_runs):
    """make(**settings) -> a TestClient over dc, cg (GANs) and dd, cd, ti (diffusion)."""
    runs = tmp_path / "runs"
    shutil.copytree(trained_runs, runs)
    for name in ("dd", "cd", "ti"):
        shutil.copytree(diffusion_runs / name, runs / name)
    clients = []

    def make(**kw) -> TestClient:
        c = TestClient(create_app(Settings(runs_dir=runs, start_worker=False, **kw)))
        c.__enter__()
        clients.append(c)
        return c

    make.runs = runs
    yield make
    for c in clients:
        c.__exit__(None, None, None)


def gen(c, run, **body):
    return c.post("/v1/generate", json={"run": run, "response": "base64", **body})


def pixels(out) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(out["data_base64"]))))


def as_u8(images: torch.Tensor) -> np.ndarray:
    """(n, C, H, W) in [-1, 1] -> what the PNGs hold: uint8 (n, H, W) for 1 channel."""
    u8 = ((images.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1)
    return u8.numpy()[..., 0] if u8.shape[-1] == 1 else u8.numpy()


def close(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and np.abs(a.astype(int) - b.astype(int)).max() <= 1


def test_each_run_lists_the_controls_it_takes(mixed):
    c = mixed()
    runs = {r["name"]: r["controls"] for r in c.get("/v1/runs").json()}
    assert runs["dc"] == ["n", "seed", "truncation", "best_of", "gate"]
    assert runs["cg"] == ["n", "seed", "label", "truncation", "best_of", "gate"]
    assert runs["dd"] == ["n", "seed", "sampler", "steps", "eta", "truncation", "best_of", "gate"]
    assert runs["cd"] == ["n", "seed", "label", "sampler", "steps", "eta", "guidance",
                          "truncation", "best_of", "gate"]  # fmt: skip
    assert runs["ti"] == ["n", "seed", "prompt", "label", "sampler", "steps", "eta", "guidance"]
    cd = c.get("/v1/runs/cd/controls").json()
    assert cd["samplers"] == ["ddpm", "ddim", "dpm-solver++"] and cd["default_sampler"] == "ddim"
    assert cd["default_steps"] == {"ddpm": 50, "ddim": 50, "dpm-solver++": 20}  # 50 timesteps
    assert cd["max_sampling_steps"] == 50 and cd["default_guidance"] == 3.0
    dc = c.get("/v1/runs/dc/controls").json()
    assert dc["samplers"] == [] and dc["default_guidance"] is None and dc["max_best_of"] == 8
    assert c.get("/v1/runs/nope/controls").status_code == 404


def test_diffusion_sampler_steps_guidance_match_the_cli_pipeline(mixed):
    from genforge.generate.diffusion import DiffusionPipeline

    c = mixed()
    for sampler in ("ddim", "ddpm", "dpm-solver++"):
        r = gen(c, "dd", n=2, seed=4, sampler=sampler, steps=3)
        assert r.status_code == 200, r.text
        outs = r.json()["outputs"]
        assert outs[0]["params"] | {"sampler": sampler, "steps": 3} == outs[0]["params"]
        want = DiffusionPipeline(Run(mixed.runs / "dd"), "cpu", sampler=sampler, steps=3)
        want_u8 = as_u8(want.sample(2, seed=4))
        assert all(close(pixels(o), w) for o, w in zip(outs, want_u8, strict=True)), sampler
    # defaults are resolved and recorded (re-running the params gives the same images)
    d = gen(c, "dd", n=1, seed=4, sampler="dpm-solver++").json()["outputs"][0]["params"]
    assert (d["sampler"], d["steps"]) == ("dpm-solver++", 20)
    r = gen(c, "cd", n=2, seed=5, label="3", guidance=0.5, steps=3)
    assert r.status_code == 200, r.text
    o = r.json()["outputs"][0]
    assert (o["params"]["guidance"], o["params"]["label"], o["params"]["sampler"]) == (0.5, "3",
                                                                                     "ddim")  # fmt: skip
    want = DiffusionPipeline(Run(mixed.runs / "cd"), "cpu", steps=3, guidance=0.5)
    assert close(pixels(o), as_u8(want.sample(2, seed=5, label="3"))[0])
    plain = gen(c, "cd", n=1, seed=5, label="3", steps=3).json()["outputs"][0]
    assert plain["params"]["guidance"] == 3.0  # the run's default scale, recorded
    assert not np.array_equal(pixels(plain), pixels(o))


def test_text_to_image_prompt_matches_sample_prompt(mixed):
    from genforge.generate.diffusion import DiffusionPipeline

    c = mixed()
    r = gen(c, "ti", n=2, seed=6, prompt="a handwritten seven", steps=3)
    assert r.status_code == 200, r.text
    outs = r.json()["outputs"]
    assert outs[0]["params"]["prompt"] == "a handwritten seven"
    pipe = DiffusionPipeline(Run(mixed.runs / "ti"), "cpu", steps=3)
    want = as_u8(pipe.sample_prompt("a handwritten seven", 2, seed=6))
    assert all(close(pixels(o), w) for o, w in zip(outs, want, strict=True))
    other = gen(c, "ti", n=1, seed=6, prompt="a handwritten two", steps=3).json()["outputs"][0]
    assert not np.array_equal(pixels(other), pixels(outs[0]))
    bad = gen(c, "ti", prompt="a cat")
    assert bad.status_code == 400 and "unknown word 'cat'" in bad.json()["detail"]
    both = gen(c, "ti", prompt="a handwritten two", label=2)
    assert both.status_code == 400 and both.json()["detail"] == "give a prompt or a label, not both"


def test_fields_are_refused_where_they_do_not_apply_and_limited(mixed):
    c = mixed(max_steps=60, max_best_of=4)

    def refused(status, run, fragment, **body):
        r = gen(c, run, **body)
        assert r.status_code == status, (body, r.text)
        detail = r.json()["detail"]
        if status == 400:
            assert "\n" not in detail and fragment in detail, detail
        return detail

    refused(400, "dc", "sampler does not apply to run 'dc' (dcgan)", sampler="ddim")
    refused(400, "dc", "steps does not apply", steps=5)
    refused(400, "cg", "guidance does not apply", guidance=2)
    refused(400, "dd", "guidance does not apply to run 'dd' (ddpm)", guidance=2)  # unconditional
    refused(400, "ti", "best_of does not apply", best_of=2)
    refused(400, "dd", "steps must be between 1 and 50 for this model", steps=55)
    refused(400, "dc", "prompt does not apply", prompt="a seven")
    refused(413, "dd", "", steps=61)  # over the server's max_steps
    refused(413, "dc", "", best_of=5)  # over max_best_of
    for body in ({"best_of": 0}, {"sampler": "euler"}, {"guidance": -1}, {"steps": 0}):
        refused(422, "dd", "", **body)


def test_best_of_keeps_the_best_scored_candidate(mixed):
    from genforge.evaluate.gate import QualityScorer
    from genforge.evaluate.image import ImageEvaluator
    from genforge.generate.pipeline import ImagePipeline

    c = mixed()
    r = gen(c, "dc", n=2, seed=8, best_of=3)
    assert r.status_code == 200, r.text
    outs = r.json()["outputs"]
    assert len(outs) == 2 and outs[0]["params"]["best_of"] == 3
    # the candidates are exactly what a plain request for n * best_of draws from the seed
    pipe = ImagePipeline(Run(mixed.runs / "dc"), device="cpu")
    candidates = pipe.sample(6, seed=8)
    scores = QualityScorer(ImageEvaluator(pipe.run, device="cpu", pipeline=pipe)).score(
        candidates, None
    )["score"]
    best = scores.view(2, 3).argmax(1)
    want = as_u8(candidates)
    for j, o in enumerate(outs):
        assert close(pixels(o), want[3 * j + int(best[j])])
        assert o["params"]["score"] == pytest.approx(float(scores[3 * j + int(best[j])]), abs=1e-4)
        assert o["params"]["gate"] == "realism,confidence,manifold"
    one = gen(c, "dc", n=2, seed=8, best_of=1).json()["outputs"]
    plain = gen(c, "dc", n=2, seed=8).json()["outputs"]
    assert all(np.array_equal(pixels(a), pixels(b)) for a, b in zip(one, plain, strict=True))


def test_ddim_eta_matches_the_cli_and_is_checked(mixed):
    """eta > 0 makes DDIM draw seeded noise per step: the served images are the CLI's, a
    request with eta runs alone in its batch, and eta with another sampler is refused."""
    from genforge.generate.diffusion import DiffusionPipeline

    c = mixed()
    r = gen(c, "dd", n=2, seed=4, steps=3, eta=0.5)
    assert r.status_code == 200, r.text
    outs = r.json()["outputs"]
    assert outs[0]["params"]["eta"] == 0.5
    want = DiffusionPipeline(Run(mixed.runs / "dd"), "cpu", steps=3, eta=0.5).sample(2, seed=4)
    assert all(close(pixels(o), w) for o, w in zip(outs, as_u8(want), strict=True))
    plain = gen(c, "dd", n=2, seed=4, steps=3).json()["outputs"]
    assert "eta" not in plain[0]["params"]
    assert not np.array_equal(pixels(plain[0]), pixels(outs[0]))
    bad = gen(c, "dd", sampler="ddpm", eta=0.5)
    assert bad.status_code == 400 and bad.json()["detail"] == (
        "eta applies to the ddim sampler, not ddpm"
    )
    assert gen(c, "dd", eta=1.5).status_code == 422
    assert gen(c, "dc", eta=0.5).status_code == 400  # a GAN takes no eta
