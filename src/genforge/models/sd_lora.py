"""LoRA adapters on a local Stable Diffusion pipeline folder (`genforge train lora`).

The base folder (UNet2DConditionModel, CLIP text encoder and tokenizer, AutoencoderKL,
scheduler, model_index.json) is loaded read-only; low-rank adapters (Hu et al. 2021,
arXiv:2106.09685) are added with peft to the UNet's attention projections, and optionally to
the text encoder's, and only they are trained. The training images are encoded by the VAE once
(the latent distribution's mean and std are cached) and every step draws a latent from that
cache; the noise and the target (epsilon or v, as the folder's scheduler config says) come from
a DDPMScheduler built from the folder's own scheduler config. DreamBooth's prior preservation
(Ruiz et al. 2022, arXiv:2208.12242) adds the same loss on class images drawn from the base
pipeline.

The adapters are saved in diffusers' LoRA format, so that plain diffusers
`pipe.load_lora_weights(run_folder)` loads them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch
import torch.nn.functional as F

from genforge.core.errors import GenforgeError
from genforge.models.pipeline_folder import missing_pipeline_files, read_model_index

LORA_MODEL = "lora"  # the `model` of a LoRA run's config.yaml
DESCRIPTION = (
    "LoRA adapters of a local Stable Diffusion folder, trained on your captioned images "
    "(genforge train lora --base FOLDER --data IMAGES; not in the trained-from-scratch registry)"
)
LORA_WEIGHTS = "pytorch_lora_weights.safetensors"  # diffusers' file name, in the run folder
ADAPTER = "genforge"  # the adapter's name when genforge loads it into a pipeline

# Pipelines whose folder holds what LoRA training needs (unet, vae, text_encoder, tokenizer,
# scheduler) with a 4-channel text-conditioned UNet.
SD_PIPELINES = ("StableDiffusionPipeline", "StableDiffusionImg2ImgPipeline")
SD_COMPONENTS = {
    "unet": "UNet2DConditionModel",
    "vae": "AutoencoderKL",
    "text_encoder": "CLIPTextModel",
}


# ---------------------------------------------------------------------------------------
# Config
# ---------------------------------------------------------------------------------------


@dataclass
class SDLoraConfig:
    """Everything `genforge train lora` can set (`--set key=value` reaches each key)."""

    rank: int = 4
    alpha: float | None = None  # None: = rank (scale alpha / rank = 1)
    targets: tuple[str, ...] = ("to_q", "to_k", "to_v", "to_out.0")  # UNet attention
    train_text_encoder: bool = False
    text_targets: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "out_proj")  # CLIP attention
    steps: int = 500
    batch_size: int = 1
    lr: float = 1e-4
    max_grad_norm: float = 1.0
    image_size: int | None = None  # None: the UNet's sample_size x the VAE's scale factor
    precision: Literal["fp32", "bf16", "fp16"] = "fp32"
    optimizer: Literal["auto", "adamw", "adamw8bit"] = "auto"  # auto: 8-bit Adam on CUDA if bnb
    gradient_checkpointing: bool = False
    device: Literal["auto", "cpu", "cuda", "mps"] = "auto"
    seed: int = 0
    log_every: int = 25
    checkpoint_every: int = 100  # adapters, optimizer and RNG saved: `--resume` continues here
    # DreamBooth prior preservation: class images drawn once from the base pipeline
    class_prompt: str | None = None
    prior_images: int = 0
    prior_loss_weight: float = 1.0
    # samples before and after training: each prompt at each seed
    sample_prompts: tuple[str, ...] = ()  # empty: the first two distinct captions
    sample_seeds: tuple[int, ...] = (0, 1)
    sample_steps: int = 20
    guidance: float = 7.5

    def sections(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """(model_config, train): the keys as config.yaml groups them for every run."""
        from genforge.core.config import to_dict

        values = to_dict(self)
        train = {k: v for k, v in values.items() if k in TRAIN_KEYS}
        return {k: v for k, v in values.items() if k not in TRAIN_KEYS}, train

    def check(self) -> None:
        if self.rank < 1 or self.steps < 1 or self.batch_size < 1 or self.checkpoint_every < 1:
            raise GenforgeError("rank, steps, batch_size and checkpoint_every must be at least 1")
        if self.prior_images and not self.class_prompt:
            raise GenforgeError("--prior-images needs --class-prompt (e.g. 'a photo of a dog')")
        if self.class_prompt and self.prior_images < 1:
            raise GenforgeError("--class-prompt needs --prior-images N (class images to draw)")


# the keys config.yaml keeps under `train` (as every run does), the rest under `model_config`
TRAIN_KEYS = ("steps", "batch_size", "lr", "max_grad_norm", "image_size", "precision",
              "optimizer", "gradient_checkpointing", "device", "seed", "log_every",
              "checkpoint_every")  # fmt: skip


# ---------------------------------------------------------------------------------------
# The base folder
# ---------------------------------------------------------------------------------------


def check_base_folder(path: Path) -> dict[str, Any]:
    """One-line errors for a base that is missing, not a diffusers folder, or not a Stable
    Diffusion pipeline; returns its model_index.json."""
    if not path.exists():
        raise GenforgeError(f"no base pipeline folder {path}")
    if not path.is_dir() or not (path / "model_index.json").is_file():
        raise GenforgeError(
            f"{path} is not a diffusers pipeline folder (no model_index.json); "
            "give a Stable Diffusion folder saved with save_pretrained"
        )
    index = read_model_index(path)
    kind = index.get("_class_name", "?")
    found = {k: (index.get(k) or [None, None])[1] for k in SD_COMPONENTS}
    if kind not in SD_PIPELINES or found != SD_COMPONENTS:
        parts = ", ".join(f"{k} {v}" for k, v in found.items() if v)
        raise GenforgeError(
            f"{path} holds a {kind} ({parts or 'no unet, vae or text encoder'}); LoRA training "
            f"needs a Stable Diffusion pipeline ({', '.join(SD_PIPELINES)}: "
            + ", ".join(f"{k} {v}" for k, v in SD_COMPONENTS.items())
            + ")"
        )
    missing = missing_pipeline_files(path)
    if missing:
        raise GenforgeError(
            f"{path} is not a complete diffusers pipeline; missing: {', '.join(missing)}"
        )
    return index


def load_base(path: Path) -> Any:
    """The base StableDiffusionPipeline on the CPU, from local safetensors only."""
    from diffusers import StableDiffusionPipeline

    from genforge.core.hf import quiet_diffusers

    check_base_folder(path)
    quiet_diffusers()
    try:
        pipe = StableDiffusionPipeline.from_pretrained(
            path, local_files_only=True, use_safetensors=True, safety_checker=None,
            requires_safety_checker=False,
        )  # fmt: skip
    except (OSError, ValueError, ImportError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise GenforgeError(f"cannot load the pipeline in {path}: {first}") from None
    pipe.set_progress_bar_config(disable=True)
    return pipe


def default_image_size(pipe: Any) -> int:
    """The size the base was trained at: the UNet's latent size x the VAE's downsampling."""
    return int(pipe.unet.config.sample_size) * int(pipe.vae_scale_factor)


# ---------------------------------------------------------------------------------------
# Adapters
# ---------------------------------------------------------------------------------------


def add_adapters(pipe: Any, cfg: SDLoraConfig) -> dict[str, torch.nn.Parameter]:
    """Freeze the base, add LoRA to the UNet (and the text encoder); return the trainable
    parameters, which are the adapters' and nothing else, by checkpoint name ("unet.<peft
    name>", "text_encoder.<...>"). Their initial values come from `cfg.seed` (not the global
    RNG), so one config trains the same adapters every time."""
    from diffusers.models.attention_processor import AttnProcessor2_0

    for module in (pipe.unet, pipe.vae, pipe.text_encoder):
        module.requires_grad_(False)
    pipe.unet.set_attn_processor(AttnProcessor2_0())  # torch SDPA
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)
        _inject(pipe, cfg)
    if cfg.gradient_checkpointing:
        pipe.unet.enable_gradient_checkpointing()
        if cfg.train_text_encoder:
            pipe.text_encoder.gradient_checkpointing_enable()
    modules = {"unet": pipe.unet, **({"text_encoder": pipe.text_encoder}
                                     if cfg.train_text_encoder else {})}  # fmt: skip
    # fp32, as the base is loaded; --precision autocasts the forward pass
    return {f"{m}.{n}": p for m, module in modules.items()
            for n, p in module.named_parameters() if p.requires_grad}  # fmt: skip


def _inject(pipe: Any, cfg: SDLoraConfig) -> None:
    """peft's LoRA layers on the UNet's `targets` (and the text encoder's `text_targets`)."""
    from peft import LoraConfig, inject_adapter_in_model

    alpha = cfg.alpha if cfg.alpha is not None else cfg.rank
    try:
        pipe.unet.add_adapter(LoraConfig(r=cfg.rank, lora_alpha=alpha,
                                         init_lora_weights="gaussian",
                                         target_modules=list(cfg.targets)))  # fmt: skip
        if cfg.train_text_encoder:  # transformers' add_adapter wants peft >= 0.22: peft's own
            inject_adapter_in_model(LoraConfig(r=cfg.rank, lora_alpha=alpha,
                                               init_lora_weights="gaussian",
                                               target_modules=list(cfg.text_targets)),
                                    pipe.text_encoder, adapter_name="default")  # fmt: skip
    except ValueError as e:  # peft: no module matches the targets
        raise GenforgeError(f"LoRA cannot wrap this pipeline: {str(e).splitlines()[0]}") from None


def lora_state_dicts(pipe: Any, cfg: SDLoraConfig) -> dict[str, Any]:
    """The adapters in diffusers' key layout, with their peft configs, as keyword arguments
    of `StableDiffusionPipeline.save_lora_weights`."""
    from diffusers.utils import convert_state_dict_to_diffusers
    from peft.utils import get_peft_model_state_dict

    def layers(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        converted = convert_state_dict_to_diffusers(state)
        return {k: v.detach().cpu().contiguous() for k, v in converted.items()}

    out = {
        "unet_lora_layers": layers(get_peft_model_state_dict(pipe.unet)),
        "unet_lora_adapter_metadata": pipe.unet.peft_config["default"].to_dict(),
    }
    if cfg.train_text_encoder:  # injected by peft directly: its adapter keys, named as peft does
        te = {k.replace(".default", ""): v for k, v in pipe.text_encoder.state_dict().items()
              if "lora_" in k}  # fmt: skip
        out["text_encoder_lora_layers"] = layers(te)
        meta = pipe.unet.peft_config["default"].to_dict()
        out["text_encoder_lora_adapter_metadata"] = {
            **meta,
            "target_modules": list(cfg.text_targets),
        }
    return out


# ---------------------------------------------------------------------------------------
# Training data: latents encoded once, prompts tokenized once
# ---------------------------------------------------------------------------------------


@dataclass
class LatentCache:
    """The VAE's latent distribution of each training image, scaled: mean and std (N, 4, h, w),
    and each image's prompt token ids (N, L)."""

    mean: torch.Tensor
    std: torch.Tensor
    ids: torch.Tensor

    def __len__(self) -> int:
        return self.mean.shape[0]

    def draw(self, index: torch.Tensor, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """Latents sampled from the cached distributions of `index`, and their token ids."""
        eps = torch.randn(self.mean[index].shape, generator=g)
        return self.mean[index] + self.std[index] * eps, self.ids[index]


def tokenize(pipe: Any, prompts: list[str]) -> torch.Tensor:
    """Token ids (N, L) padded to the tokenizer's length, as the pipeline tokenizes prompts."""
    tok = pipe.tokenizer
    return tok(prompts, padding="max_length", max_length=tok.model_max_length, truncation=True,
               return_tensors="pt").input_ids  # fmt: skip


@torch.no_grad()
def encode_latents(
    pipe: Any, images: torch.Tensor, prompts: list[str], batch: int = 8
) -> LatentCache:
    """Run the VAE encoder once over `images` (N, 3, H, W) in [-1, 1]."""
    vae = pipe.vae
    scale = float(vae.config.scaling_factor)
    shift = float(getattr(vae.config, "shift_factor", None) or 0.0)
    means, stds = [], []
    for i in range(0, len(images), batch):
        dist = vae.encode(images[i : i + batch].to(vae.device, vae.dtype)).latent_dist
        means.append((dist.mean.float().cpu() - shift) * scale)
        stds.append(dist.std.float().cpu() * scale)
    return LatentCache(torch.cat(means), torch.cat(stds), tokenize(pipe, prompts))


# ---------------------------------------------------------------------------------------
# The loss
# ---------------------------------------------------------------------------------------


def diffusion_loss(
    pipe: Any, noise_scheduler: Any, latents: torch.Tensor, ids: torch.Tensor, g: torch.Generator
) -> torch.Tensor:
    """Per-example MSE (B,) between the UNet's prediction and the scheduler's target for
    latents noised at uniformly drawn timesteps."""
    device = pipe.unet.device
    noise = torch.randn(latents.shape, generator=g)
    t = torch.randint(0, noise_scheduler.config.num_train_timesteps, (len(latents),), generator=g)
    noisy = noise_scheduler.add_noise(latents, noise, t)  # x_t = sqrt(a_t) x_0 + sqrt(1-a_t) eps
    kind = noise_scheduler.config.prediction_type
    if kind == "epsilon":
        target = noise
    elif kind == "v_prediction":
        target = noise_scheduler.get_velocity(latents, noise, t)
    else:
        raise GenforgeError(f"the base scheduler predicts {kind!r}; LoRA training supports "
                            "epsilon and v_prediction")  # fmt: skip
    cond = pipe.text_encoder(ids.to(device))[0]  # (B, L, D)
    pred = pipe.unet(noisy.to(device), t.to(device), cond).sample  # (B, 4, h, w)
    return F.mse_loss(pred.float(), target.to(device).float(), reduction="none").mean(dim=(1, 2, 3))


# ---------------------------------------------------------------------------------------
# Sampling
# ---------------------------------------------------------------------------------------


@torch.no_grad()
def draw(
    pipe: Any, prompts: list[str], seeds: list[int], size: int, steps: int, guidance: float
) -> torch.Tensor:
    """Images (N, 3, size, size) in [-1, 1] from the pipeline as it is now, one per (prompt,
    seed) pair, in one batch: image i is what a call with prompt i and a CPU generator seeded
    with seed i alone would draw (the same starting noise; batched arithmetic may differ in
    the last bits)."""
    gens = [torch.Generator().manual_seed(s) for s in seeds]
    out = pipe(list(prompts), num_inference_steps=steps, guidance_scale=guidance,
               generator=gens, height=size, width=size, output_type="pt").images  # fmt: skip
    return out.float().cpu() * 2 - 1


def lora_weights_file(run_path: Path, config: dict[str, Any]) -> Path:
    """The adapter file of a LoRA run; a run of another model is a one-line error."""
    if config.get("model") != LORA_MODEL:
        raise GenforgeError(
            f"run '{run_path.name}' is a {config.get('model', '?')} run, not a LoRA run "
            "(genforge train lora --base FOLDER --data IMAGES)"
        )
    path = run_path / LORA_WEIGHTS
    if not path.is_file():
        raise GenforgeError(f"LoRA run '{run_path.name}' has no {LORA_WEIGHTS} yet; train it first")
    return path
