"""The training loop: reproducibility, resume, divergence guard, interruption, write failures."""

from __future__ import annotations

import errno
import os
import signal

import pytest
import torch
from safetensors.torch import load_file

from genforge.core.checkpoint import load_state
from genforge.core.errors import GenforgeError
from genforge.generate.pipeline import ImagePipeline
from genforge.models.gan import GAN
from genforge.train.launch import train
from genforge.train.trainer import TrainingDiverged

TINY = {"image_size": 8, "batch_size": 8, "ngf": 8, "ndf": 8, "latent_dim": 8, "log_every": 1}


def weights(run):
    return load_file(run.model_dir / "model.safetensors")


def test_same_seed_same_model_and_samples(tmp_path):
    a = train("dcgan", "digits", name="a", steps=3, seed=1, **TINY)
    b = train("dcgan", "digits", name="b", steps=3, seed=1, **TINY)
    c = train("dcgan", "digits", name="c", steps=3, seed=2, **TINY)
    wa, wb, wc = weights(a), weights(b), weights(c)
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    assert any(not torch.equal(wa[k], wc[k]) for k in wa)
    sa, sb = ImagePipeline(a).sample(4, seed=0), ImagePipeline(b).sample(4, seed=0)
    assert torch.equal(sa, sb)
    assert not torch.equal(sa, ImagePipeline(a).sample(4, seed=1))


@pytest.mark.parametrize("model", ["dcgan", "vae", "cddpm"])
def test_resume_matches_an_uninterrupted_run(model):
    opts = {**TINY, "steps": 6, "checkpoint_every": 100, "augment": ("flip",)}
    if model == "vae":
        opts = {k: v for k, v in opts.items() if k not in ("ngf", "ndf")} | {"width": 8}
    if model == "cddpm":  # random timesteps, noise and label dropout must resume exactly too
        opts = {k: v for k, v in opts.items() if k not in ("ngf", "ndf", "latent_dim")}
        opts |= {"block_out_channels": (8, 16), "norm_num_groups": 4, "preview_steps": 2}
    full = train(model, "digits", name="full", **opts)
    part = train(model, "digits", name="part", stop_after=3, **opts)
    assert part.step == 3
    first_state = load_state(part)
    resumed = train(model, "digits", resume="part", steps=6)
    assert resumed.step == 6
    wf, wr = weights(full), weights(resumed)
    assert wf.keys() == wr.keys()
    for k in wf:
        assert torch.equal(wf[k], wr[k]), k
    state = load_state(resumed)
    name = next(iter(state["optimizers"]))
    steps_then = first_state["optimizers"][name]["state"][0]["step"]
    steps_now = state["optimizers"][name]["state"][0]["step"]
    assert float(steps_now) == 2 * float(steps_then)  # optimizer moments continued, not reset
    assert [m["step"] for m in resumed.metrics()] == list(range(1, 7))


def test_resume_refuses_to_change_the_model_or_finished_runs():
    train("dcgan", "digits", name="r", steps=2, **TINY)
    with pytest.raises(GenforgeError, match="is a dcgan run, not vae"):
        train("vae", resume="r", steps=4)
    with pytest.raises(GenforgeError, match="cannot change ngf"):
        train("dcgan", resume="r", steps=4, ngf=16)
    with pytest.raises(GenforgeError, match="already reached step 2"):
        train("dcgan", resume="r")
    with pytest.raises(GenforgeError, match="no run 'ghost'"):
        train("dcgan", resume="ghost")


def test_divergence_stops_and_keeps_last_good_checkpoint(monkeypatch):
    real_step = GAN.training_step

    def step(self, *args):
        logs = real_step(self, *args)
        if self._calls >= 3:
            logs["loss_d"] = torch.tensor(float("nan"))
        self._calls += 1
        return logs

    monkeypatch.setattr(GAN, "_calls", 0, raising=False)
    monkeypatch.setattr(GAN, "training_step", step)
    with pytest.raises(
        TrainingDiverged,
        match=r"diverged at step 4 \(loss_d=nan\).*step 2 is kept|diverged at step 4",
    ):
        train("dcgan", "digits", name="nan", steps=10, checkpoint_every=2, **TINY)
    from genforge.core.run import resolve_run

    run = resolve_run("nan")
    assert run.step == 2
    assert all(torch.isfinite(v).all() for v in weights(run).values())
    assert [m["step"] for m in run.metrics()] == [1, 2, 3]  # step 3 was logged, not saved
    monkeypatch.setattr(GAN, "training_step", real_step)
    train("dcgan", resume="nan", steps=5)
    assert [m["step"] for m in run.metrics()] == [1, 2, 3, 4, 5]  # redone step 3 logged once


def test_checkpoint_write_failure_keeps_previous_checkpoint(monkeypatch):
    run = train("dcgan", "digits", name="disk", steps=2, **TINY)
    before = (run.model_dir / "model.safetensors").read_bytes()

    import genforge.core.checkpoint as ckpt

    def full_disk(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(ckpt, "save_file", full_disk)
    with pytest.raises(GenforgeError, match="No space left on device; previous checkpoint kept"):
        train("dcgan", resume="disk", steps=4)
    assert (run.model_dir / "model.safetensors").read_bytes() == before
    assert run.step == 2
    assert not (run.path / ".checkpoint.tmp").exists()


def test_ctrl_c_saves_a_resumable_checkpoint(monkeypatch):
    real_step = GAN.training_step

    def step(self, *args):
        self._calls += 1
        if self._calls == 3:
            os.kill(os.getpid(), signal.SIGINT)  # as if the user pressed Ctrl-C mid-step
        return real_step(self, *args)

    monkeypatch.setattr(GAN, "_calls", 0, raising=False)
    monkeypatch.setattr(GAN, "training_step", step)
    with pytest.raises(
        GenforgeError, match=r"interrupted; checkpoint saved at step 3.*--resume int"
    ):
        train("dcgan", "digits", name="int", steps=10, checkpoint_every=100, **TINY)
    monkeypatch.setattr(GAN, "training_step", real_step)
    assert train("dcgan", resume="int", steps=5).step == 5


def test_bf16_training_on_cpu_gives_finite_losses():
    run = train("cgan", "digits", name="bf", steps=2, precision="bf16", **TINY)
    assert all(
        torch.isfinite(torch.tensor(v))
        for k, v in run.metrics()[-1].items()
        if k.startswith("loss")
    )


def test_fp16_on_cpu_is_refused():
    with pytest.raises(GenforgeError, match="fp16 mixed precision needs a GPU"):
        train("dcgan", "digits", name="h", steps=1, precision="fp16", device="cpu", **TINY)


def test_accelerate_launch_cpu_keeps_auto_training_on_the_cpu(monkeypatch):
    """`accelerate launch --cpu` on a CUDA machine: "auto" must follow the launcher (a GPU
    session found the distributed test failing there: the process state was already CPU)."""
    from genforge.train.trainer import wants_cpu

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.delenv("ACCELERATE_USE_CPU", raising=False)
    assert not wants_cpu("auto") and wants_cpu("cpu")
    monkeypatch.setenv("ACCELERATE_USE_CPU", "True")
    assert wants_cpu("auto")
    with pytest.raises(GenforgeError, match="contradicts `accelerate launch --cpu`"):
        wants_cpu("cuda")


def test_run_layout_and_model_card():
    run = train(
        "cvae", "digits", name="card", steps=2, width=8, image_size=8, latent_dim=4, batch_size=8
    )
    for rel in ("config.yaml", "model/model.safetensors", "model/ema.safetensors", "model/meta.json",
                "state/state.json", "state/tensors.safetensors", "samples/latest.png",
                "samples/losses.png", "metrics.jsonl", "README.md", "data_report.json"):  # fmt: skip
        assert (run.path / rel).exists(), rel
    assert list(run.tb_dir.glob("events.out.tfevents.*"))
    from genforge.core.images import read_png_params

    assert read_png_params(run.samples_dir / "losses.png") == {
        "run": "card",
        "kind": "loss-curves",
        "step": 2,
    }
    assert read_png_params(run.samples_dir / "latest.png")["step"] == 2
    card = run.card_path.read_text()
    assert "cvae" in card and "samples/latest.png" in card and "0 (" in card  # class counts listed
    cfg = run.read_config()
    assert cfg["model_config"]["conditional"] is True and cfg["data"]["image_size"] == 8


def test_streamed_folder_trains_like_the_in_memory_one(tmp_path):
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    folder = tmp_path / "imgs"
    for c in ("a", "b"):
        (folder / c).mkdir(parents=True)
        for i in range(10):
            Image.fromarray(rng.integers(0, 255, (12, 10, 3), dtype=np.uint8)).save(
                folder / c / f"{i}.png"
            )
    opts = {**TINY, "steps": 3, "val_fraction": 0.2}
    mem = train("cgan", str(folder), name="mem", **opts)
    streamed = train("cgan", str(folder), name="stream", memory_limit_mb=0, **opts)
    wm, ws = weights(mem), weights(streamed)
    for k in wm:
        assert torch.allclose(wm[k], ws[k], atol=1e-6), k


def test_auto_precision_is_bf16_on_a_cuda_gpu_that_has_it_and_fp32_elsewhere(monkeypatch):
    from genforge.train.trainer import resolve_precision

    assert resolve_precision("fp16", "cuda") == "fp16"  # a given precision is kept
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_precision("auto", "auto") == "fp32"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    assert resolve_precision("auto", "auto") == "bf16"
    assert resolve_precision("auto", "cpu") == "fp32"
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    assert resolve_precision("auto", "cuda") == "fp32"  # e.g. a V100: fp32, not fp16 silently


def test_a_run_records_its_resolved_precision(tmp_path):
    from genforge.train.launch import resolve

    r = resolve("dcgan", "digits", {"image_size": 8})
    assert r.train_config.precision == "fp32"  # this CPU-only machine
