"""`train_lora()`: LoRA fine-tuning of a local Stable Diffusion folder into a Run.

The run folder holds what every run holds (config.yaml, samples/, metrics.jsonl,
data_report.json, README.md, model/ and state/ checkpoints) plus diffusers'
`pytorch_lora_weights.safetensors` at its top, so
`StableDiffusionPipeline.from_pretrained(base).load_lora_weights(run_folder)` works without
genforge. The base folder is only read.

Every `checkpoint_every` steps, on Ctrl-C and at the end, the adapters (model/model.safetensors,
peft's names), the optimizer moments and the RNG state (state/) are saved, so `resume_lora`
(`genforge train lora --resume RUN`) continues an interrupted run exactly, or trains a finished
one to a larger `--steps`.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from genforge.core.checkpoint import load_state, load_weights, save_checkpoint
from genforge.core.config import from_dict
from genforge.core.device import pick_device
from genforge.core.errors import GenforgeError
from genforge.core.images import make_grid, save_png
from genforge.core.io import append_line, write_json
from genforge.core.progress import Stages
from genforge.core.run import Run, new_run_path
from genforge.core.version import __version__
from genforge.data.caption_folder import (
    SHARED_SOURCES,
    CaptionedImage,
    decode_rgb,
    items_of_run,
    load_captioned_folder,
)
from genforge.models import sd_lora
from genforge.models.pipeline_folder import read_model_index, weights_hash
from genforge.models.sd_lora import SDLoraConfig
from genforge.train.card import write_lora_card
from genforge.train.loop import StopRequest

CLASS_IMAGES = "class_images"  # prior-preservation images, drawn once, kept in the run
_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def train_lora(
    base: str | Path,
    data: str | Path,
    *,
    name: str | None = None,
    runs_dir: str | Path | None = None,
    caption: str | None = None,
    instance_prompt: str | None = None,
    stages: Stages | None = None,
    **options: Any,
) -> Run:
    """Train LoRA adapters of the pipeline in `base` on the captioned images in `data`.

    Args:
        base: a Stable Diffusion pipeline folder (model_index.json, safetensors weights).
        data: an image folder; captions from captions.csv, NAME.txt files, `caption` or
            `instance_prompt` (see `genforge.data.caption_folder`).
        name: run name (default "<data>-lora", made unique).
        runs_dir: where runs live (default ./runs or $GENFORGE_RUNS).
        caption: one caption for every image.
        instance_prompt: DreamBooth's subject prompt ("a photo of sks dog"), for every image.
        stages: progress reporting (default: none).
        **options: keys of `SDLoraConfig` (rank, alpha, steps, lr, class_prompt, ...).

    Returns:
        The Run.
    """
    stages = stages or Stages.off()
    cfg = from_dict(SDLoraConfig, options)
    cfg.check()
    base_path = Path(base).expanduser().resolve()
    sd_lora.check_base_folder(base_path)
    items = load_captioned_folder(data, caption, instance_prompt)
    if cfg.precision == "fp16" and pick_device(cfg.device).type != "cuda":
        raise GenforgeError("--precision fp16 needs a CUDA GPU; use bf16 or fp32 on the CPU")
    run = Run(new_run_path(name, f"{Path(data).expanduser().resolve().name}-lora", runs_dir))
    run.path.mkdir(parents=True, exist_ok=False)
    try:
        _train(run, base_path, items, cfg, stages, source=str(Path(data).expanduser().resolve()),
               caption_source=_caption_source(Path(data), caption, instance_prompt))  # fmt: skip
    except BaseException:
        if not (run.state_dir / "state.json").is_file():  # a checkpoint is kept for --resume
            shutil.rmtree(run.path, ignore_errors=True)  # nothing worth keeping, frees the --name
        raise
    return run


def resume_lora(run: Run, steps: int | None = None, stages: Stages | None = None) -> Run:
    """Continue a LoRA run from its last checkpoint: an interrupted one to its `steps`, or a
    finished one to a larger `steps` (the new total). The base folder and the images must be
    the ones it started with (checked by hash and count)."""
    stages = stages or Stages.off()
    config = run.read_config()
    cfg = from_dict(SDLoraConfig, {**config["model_config"], **config["train"]})
    cfg = replace(cfg, steps=steps) if steps is not None else cfg
    cfg.check()
    state = load_state(run)
    if state["step"] >= cfg.steps:
        raise GenforgeError(f"run '{run.name}' is already at step {state['step']} of "
                            f"{cfg.steps}; give --steps N above {state['step']} to train on")  # fmt: skip
    base = Path(config["base"]["path"])
    sd_lora.check_base_folder(base)
    stages.stage("hashing and loading the base pipeline")
    if weights_hash(base) != config["base"]["weights_sha256"]:
        raise GenforgeError(f"the weights in {base} changed since run '{run.name}' started; "
                            "its adapters belong to the old ones")  # fmt: skip
    items = items_of_run(config["data"], cfg.sample_prompts)
    pipe = sd_lora.load_base(base)
    device = pick_device(cfg.device)
    pipe.to(device)
    prior = None
    if cfg.prior_images:
        paths = sorted((run.path / CLASS_IMAGES).glob("*.png"))
        prior = [CaptionedImage(p, cfg.class_prompt or "") for p in paths]
    cache, prior_cache = _encode(pipe, cfg, items, prior, stages)
    adapters = sd_lora.add_adapters(pipe, cfg)
    saved = load_weights(run)
    with torch.no_grad():
        for key, p in adapters.items():
            p.copy_(saved[key])
    if steps is not None:
        run.write_config({**config, "train": {**config["train"], "steps": steps}})
    _fit_and_save(run, pipe, cfg, adapters, cache, prior_cache, device, stages, state)
    return run


def _caption_source(folder: Path, caption: str | None, instance_prompt: str | None) -> str:
    if instance_prompt is not None:
        return "instance_prompt"
    if caption is not None:
        return "caption"
    return "captions.csv" if (folder / "captions.csv").is_file() else "sidecar .txt files"


def _resolve(cfg: SDLoraConfig, pipe: Any, device: torch.device) -> SDLoraConfig:
    """Fill what the base and the machine decide: image size, LoRA alpha, optimizer."""
    optimizer = cfg.optimizer
    if optimizer == "auto":
        optimizer = "adamw8bit" if device.type == "cuda" and _has_bitsandbytes() else "adamw"
    elif optimizer == "adamw8bit" and (device.type != "cuda" or not _has_bitsandbytes()):
        raise GenforgeError("optimizer adamw8bit needs bitsandbytes and a CUDA GPU")
    return replace(
        cfg,
        image_size=cfg.image_size or sd_lora.default_image_size(pipe),
        alpha=cfg.alpha if cfg.alpha is not None else float(cfg.rank),
        optimizer=optimizer,
        device=device.type,  # recorded as resolved, so config.yaml says where it trained
    )


def _has_bitsandbytes() -> bool:
    try:
        import bitsandbytes  # noqa: F401
    except ImportError:
        return False
    return True


def _train(run: Run, base: Path, items: list[CaptionedImage], cfg: SDLoraConfig,
           stages: Stages, source: str, caption_source: str) -> None:  # fmt: skip
    """Load the base, cache latents, draw samples before, train, save, draw samples after."""
    stages.stage("hashing and loading the base pipeline")
    base_hash = weights_hash(base)
    pipe = sd_lora.load_base(base)
    device = pick_device(cfg.device)
    cfg = _resolve(cfg, pipe, device)
    pipe.to(device)
    prompts = list(cfg.sample_prompts) or list(dict.fromkeys(i.caption for i in items))[:2]
    cfg = replace(cfg, sample_prompts=tuple(prompts))
    run.write_config({
        "name": run.name, "model": sd_lora.LORA_MODEL,
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "genforge_version": __version__,
        "base": {"path": str(base), "pipeline": read_model_index(base).get("_class_name"),
                 "weights_sha256": base_hash},
        "data": {"source": source, "images": len(items), "captions": caption_source,
                 **({"caption": items[0].caption} if caption_source in SHARED_SOURCES else {})},
        "model_config": cfg.sections()[0],
        "train": cfg.sections()[1],
    })  # fmt: skip
    prior = _class_images(run, pipe, cfg, stages) if cfg.prior_images else None
    cache, prior_cache = _encode(pipe, cfg, items, prior, stages)
    write_json(run.data_report_path, {"images": len(items), "captions": caption_source,
               "distinct_captions": len({i.caption for i in items}),
               "class_images": len(prior or [])})  # fmt: skip
    _samples(run, pipe, cfg, "before", stages)
    adapters = sd_lora.add_adapters(pipe, cfg)
    _fit_and_save(run, pipe, cfg, adapters, cache, prior_cache, device, stages, None)


def _encode(pipe: Any, cfg: SDLoraConfig, items: list[CaptionedImage],
            prior: list[CaptionedImage] | None, stages: Stages) -> tuple[Any, Any]:  # fmt: skip
    """The latent caches of the images and of the class images (None without)."""
    stages.stage("encoding the images with the VAE", total=len(items) + len(prior or []))
    cache = sd_lora.encode_latents(
        pipe, decode_rgb(items, cfg.image_size), [i.caption for i in items]
    )
    stages.advance(len(items))
    prior_cache = None
    if prior:
        prior_cache = sd_lora.encode_latents(pipe, decode_rgb(prior, cfg.image_size),
                                             [i.caption for i in prior])  # fmt: skip
        stages.advance(len(prior))
    return cache, prior_cache


def _fit_and_save(run: Run, pipe: Any, cfg: SDLoraConfig, adapters: dict[str, Any], cache: Any,
                  prior_cache: Any, device: torch.device, stages: Stages,
                  state: dict[str, Any] | None) -> None:  # fmt: skip
    """Train (from `state`'s step when resuming), then write the diffusers LoRA file, the
    meta, the samples after training and the card."""
    seconds = _fit(run, pipe, cfg, adapters, cache, prior_cache, device, stages, state)
    pipe.save_lora_weights(run.path, **sd_lora.lora_state_dicts(pipe, cfg), safe_serialization=True)
    write_json(run.model_dir / "meta.json", {
        "step": cfg.steps, "model": sd_lora.LORA_MODEL, "train_seconds": round(seconds, 2),
        "lora_parameters": sum(p.numel() for p in adapters.values()),
        "unet_lora_parameters": sum(p.numel() for n, p in pipe.unet.named_parameters() if "lora_" in n),
        "unet_parameters": sum(p.numel() for n, p in pipe.unet.named_parameters() if "lora_" not in n),
        "genforge_version": __version__,
    })  # fmt: skip
    _samples(run, pipe, cfg, "after", stages)
    write_lora_card(run)


def _checkpoint(run: Run, step: int, adapters: dict[str, Any], opt: Any, g: torch.Generator,
                scaler: Any, seconds: float) -> None:  # fmt: skip
    """model/ (the adapters) and state/ (optimizer, RNG, loss scaler) for `step`, atomically."""
    save_checkpoint(
        run, step=step, weights={k: p.detach() for k, p in adapters.items()}, ema_weights=None,
        meta={"model": sd_lora.LORA_MODEL, "train_seconds": round(seconds, 2)},
        state={"optimizer": opt.state_dict(), "generator": g.get_state(),
               "scaler": scaler.state_dict(), "train_seconds": seconds},
    )  # fmt: skip


def _class_images(run: Run, pipe: Any, cfg: SDLoraConfig, stages: Stages) -> list[CaptionedImage]:
    """Draw `prior_images` class images from the base pipeline into run/class_images/."""
    folder = run.path / CLASS_IMAGES
    folder.mkdir()
    stages.stage("drawing class images with the base pipeline", total=cfg.prior_images)
    out = []
    for i in range(cfg.prior_images):
        image = _draw(pipe, cfg, cfg.class_prompt or "", seed=cfg.seed + 10_000 + i)[0]
        path = save_png(folder / f"{i:04d}.png", make_grid(image[None], padding=0),
                        {"kind": "class-image", "prompt": cfg.class_prompt, "seed": cfg.seed + 10_000 + i})  # fmt: skip
        out.append(CaptionedImage(path, cfg.class_prompt or ""))
        stages.advance()
    return out


def _draw(pipe: Any, cfg: SDLoraConfig, prompt: str, seed: int) -> torch.Tensor:
    """One image (1, 3, H, W) in [-1, 1] from the pipeline as it is now."""
    return sd_lora.draw(pipe, [prompt], [seed], cfg.image_size, cfg.sample_steps, cfg.guidance)


def _samples(run: Run, pipe: Any, cfg: SDLoraConfig, when: str, stages: Stages) -> Path:
    """samples/<when>.png: one row per sample prompt, one column per seed."""
    prompts = list(cfg.sample_prompts)
    stages.stage(f"samples {when} training", total=len(prompts) * len(cfg.sample_seeds))
    pipe.unet.eval()
    images = []
    for p in prompts:
        for s in cfg.sample_seeds:
            images.append(_draw(pipe, cfg, p, s)[0])
            stages.advance()
    params = {"run": run.name, "kind": f"lora-samples-{when}", "prompts": " | ".join(prompts),
              "seeds": ",".join(map(str, cfg.sample_seeds)), "steps": cfg.sample_steps,
              "guidance": cfg.guidance}  # fmt: skip
    grid = make_grid(torch.stack(images), nrow=len(cfg.sample_seeds))
    return save_png(run.samples_dir / f"{when}.png", grid, params)


def _optimizer(cfg: SDLoraConfig, params: list[torch.nn.Parameter]) -> torch.optim.Optimizer:
    if cfg.optimizer == "adamw8bit":
        import bitsandbytes as bnb

        return bnb.optim.AdamW8bit(params, lr=cfg.lr)
    return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=1e-2)


def _fit(run: Run, pipe: Any, cfg: SDLoraConfig, adapters: dict[str, torch.nn.Parameter],
         cache: sd_lora.LatentCache, prior: sd_lora.LatentCache | None, device: torch.device,
         stages: Stages, state: dict[str, Any] | None) -> float:  # fmt: skip
    """The loop: draw cached latents (+ class latents), one diffusion loss, step the adapters;
    from `state` (a checkpoint) when resuming. Checkpoints every `checkpoint_every` steps, at
    the end and on Ctrl-C. Returns the training seconds, earlier sessions included."""
    from diffusers import DDPMScheduler

    noise_scheduler = DDPMScheduler.from_config(pipe.scheduler.config)
    params = list(adapters.values())
    opt = _optimizer(cfg, params)
    scaler = torch.amp.GradScaler(device.type, enabled=cfg.precision == "fp16")
    autocast = torch.autocast(device.type, dtype=_DTYPES.get(cfg.precision, torch.float32),
                              enabled=cfg.precision != "fp32")  # fmt: skip
    g = torch.Generator().manual_seed(cfg.seed)
    start, before = 0, 0.0
    if state is not None:
        opt.load_state_dict(state["optimizer"])
        g.set_state(state["generator"])
        scaler.load_state_dict(state["scaler"])
        start, before = int(state["step"]), float(state.get("train_seconds", 0.0))
    pipe.unet.train()
    if cfg.train_text_encoder:
        pipe.text_encoder.train()
    stages.stage("training the LoRA adapters", total=cfg.steps)
    stages.advance(start)
    t0, b, step = time.perf_counter(), cfg.batch_size, start
    with StopRequest() as stop:
        for step in range(start + 1, cfg.steps + 1):
            _step(run, pipe, cfg, params, opt, scaler, autocast, noise_scheduler, cache, prior, g,
                  step, (step - start) * b / (time.perf_counter() - t0 + 1e-9))  # fmt: skip
            stages.advance()
            if step % cfg.checkpoint_every == 0 or step == cfg.steps or stop.requested:
                _checkpoint(run, step, adapters, opt, g, scaler,
                            before + time.perf_counter() - t0)  # fmt: skip
            if stop.requested:
                raise GenforgeError(f"interrupted; checkpoint saved at step {step}; continue "
                                    f"with: genforge train lora --resume {run.name}")  # fmt: skip
    pipe.unet.eval()
    pipe.text_encoder.eval()
    return before + time.perf_counter() - t0


def _step(run: Run, pipe: Any, cfg: SDLoraConfig, params: list[torch.nn.Parameter], opt: Any,
          scaler: Any, autocast: Any, noise_scheduler: Any, cache: sd_lora.LatentCache,
          prior: sd_lora.LatentCache | None, g: torch.Generator, step: int,
          rate: float) -> None:  # fmt: skip
    """One step: a batch of cached latents (+ as many class latents), the loss, the update;
    `rate` (instance images/s so far) is logged with the loss."""
    b = cfg.batch_size
    # (1) a batch from the cache: instance latents, then as many class latents
    latents, ids = cache.draw(torch.randint(0, len(cache), (b,), generator=g), g)
    if prior is not None:
        p_lat, p_ids = prior.draw(torch.randint(0, len(prior), (b,), generator=g), g)
        latents, ids = torch.cat([latents, p_lat]), torch.cat([ids, p_ids])
    # (2) the diffusion loss; the prior half weighted by prior_loss_weight
    with autocast:
        losses = sd_lora.diffusion_loss(pipe, noise_scheduler, latents, ids, g)
    loss = losses[:b].mean()
    prior_loss = losses[b:].mean() if prior is not None else None
    total = loss + cfg.prior_loss_weight * prior_loss if prior_loss is not None else loss
    # (3) update the adapters (only they have gradients)
    opt.zero_grad(set_to_none=True)
    scaler.scale(total).backward()
    scaler.unscale_(opt)
    torch.nn.utils.clip_grad_norm_(params, cfg.max_grad_norm)
    scaler.step(opt)
    scaler.update()
    if step % cfg.log_every == 0 or step == cfg.steps:
        rate *= len(latents) / b  # class images count too
        record = {"step": step, "loss": round(float(loss.detach()), 6),
                  "images_per_s": round(rate, 2)}  # fmt: skip
        if prior_loss is not None:
            record["loss_prior"] = round(float(prior_loss.detach()), 6)
        append_line(run.metrics_path, json.dumps(record))
