"""DDPM: a UNet learns to undo Gaussian noise (Ho et al. 2020, arXiv:2006.11239).

The network is diffusers' `UNet2DModel`; the noise schedule and its step math live in diffusers'
`DDPMScheduler` (no weights). Training: pick a timestep t ~ U{0..T-1}, noise the image to
x_t = sqrt(a_t) x_0 + sqrt(1 - a_t) eps, and regress the UNet output on eps ("epsilon") or on
v = sqrt(a_t) eps - sqrt(1 - a_t) x_0 ("v_prediction", Salimans & Ho 2022, arXiv:2202.00512).

Class-conditional (`conditional=True`, the `cddpm` preset): the label embedding is added to the
time embedding (`num_class_embeds` = classes + 1, the last index is the null label). With
probability `cfg_dropout` a training label is replaced by the null label, so one network learns
both p(x|y) and p(x); sampling mixes them with classifier-free guidance (Ho & Salimans 2022,
arXiv:2207.12598): out = uncond + w (cond - uncond), so w = 0 is unconditional, w = 1 plain
conditional.

Samplers (DDPM, DDIM, DPM-Solver++) and image-to-image live in `genforge.generate.diffusion`;
`generate()` here is the deterministic DDIM preview the trainer draws its grids with. Each
checkpoint also exports the EMA UNet and the scheduler as a diffusers `DDPMPipeline` folder
(`model/diffusers/`), loadable with plain `diffusers.DDPMPipeline.from_pretrained`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

import torch
from torch import nn

from genforge.core.errors import GenforgeError
from genforge.data.dataset import ImageSpec
from genforge.models.base import Batch, FeedbackBatch, ImageModel
from genforge.models.unet_lora import ATTENTION, add_lora, base_key, merged_state_dict, set_scale

Prediction = Literal["epsilon", "v_prediction"]
BetaSchedule = Literal["linear", "squaredcos_cap_v2"]  # squaredcos_cap_v2: the cosine schedule

# ---------------------------------------------------------------------------------------
# Network and noise schedule (both from diffusers)
# ---------------------------------------------------------------------------------------


def build_unet(
    spec: ImageSpec, cfg: DDPMConfig, num_class_embeds: int | None, in_channels: int | None = None
) -> nn.Module:
    """diffusers UNet2DModel: one resolution level per entry of `block_out_channels`.

    `in_channels` (default the image's) is larger when a condition image is concatenated."""
    from diffusers import UNet2DModel

    levels = len(cfg.block_out_channels)
    attn = cfg.attention == "lowest"
    down = ["DownBlock2D"] * (levels - 1) + ["AttnDownBlock2D" if attn else "DownBlock2D"]
    up = ["AttnUpBlock2D" if attn else "UpBlock2D"] + ["UpBlock2D"] * (levels - 1)
    return UNet2DModel(
        sample_size=spec.size,
        in_channels=in_channels or spec.channels,
        out_channels=spec.channels,
        block_out_channels=tuple(cfg.block_out_channels),
        down_block_types=tuple(down),
        up_block_types=tuple(up),
        layers_per_block=cfg.layers_per_block,
        norm_num_groups=cfg.norm_num_groups,
        attention_head_dim=cfg.attention_head_dim,
        add_attention=attn,  # self-attention in the middle block too
        dropout=cfg.dropout,
        class_embed_type=None,  # nn.Embedding(num_class_embeds, time_embed_dim), added to t's
        num_class_embeds=num_class_embeds,
    )


def build_scheduler(cfg: DDPMConfig) -> Any:
    """The training noise schedule; samplers are built `from_config` of it."""
    from diffusers import DDPMScheduler

    return DDPMScheduler(
        num_train_timesteps=cfg.num_train_timesteps,
        beta_schedule=cfg.beta_schedule,
        prediction_type=cfg.prediction_type,
        clip_sample=True,  # pixels live in [-1, 1]
    )


# ---------------------------------------------------------------------------------------
# Starting from a local diffusers UNet (--init)
# ---------------------------------------------------------------------------------------

# UNet config keys that must be equal for the folder's weights to fit the run's network
UNET_KEYS = ("sample_size", "in_channels", "out_channels", "block_out_channels",
             "down_block_types", "up_block_types", "layers_per_block", "norm_num_groups",
             "attention_head_dim", "add_attention", "num_class_embeds",
             "cross_attention_dim")  # fmt: skip


def unet_folder(path: str | Path, class_name: str) -> Path:
    """The UNet folder of `path`: itself (a saved `class_name`), or its `unet/` subfolder (a
    pipeline folder); with safetensors weights. A one-line error otherwise."""
    import json

    p = Path(path).expanduser()
    if not p.is_dir():
        raise GenforgeError(f"--init {path}: no such folder")
    folder = p / "unet" if (p / "unet" / "config.json").is_file() else p
    try:
        cfg = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise GenforgeError(f"--init {path}: no diffusers UNet there (config.json, or a "
                            "pipeline folder with unet/)") from None  # fmt: skip
    if cfg.get("_class_name") != class_name:
        raise GenforgeError(f"--init {path}: holds a {cfg.get('_class_name', 'model')}, this "
                            f"model starts from a {class_name}")  # fmt: skip
    if not any(folder.glob("*.safetensors")):
        raise GenforgeError(f"--init {path}: no safetensors weights in {folder} (pickled .bin "
                            "weights are never loaded)")  # fmt: skip
    return folder


def weights_sha256(folder: Path) -> str:
    """sha256 over the folder's *.safetensors files, in name order (what --init recorded)."""
    import hashlib

    h = hashlib.sha256()
    for f in sorted(folder.glob("*.safetensors")):
        with f.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()


def unet_config(folder: Path) -> dict[str, Any]:
    import json

    return json.loads((folder / "config.json").read_text(encoding="utf-8"))


def differing_keys(ours: dict[str, Any], theirs: dict[str, Any]) -> list[str]:
    """'key theirs (run: ours)' for each UNET_KEYS entry the two configs set differently."""

    def norm(v: Any) -> Any:
        return list(v) if isinstance(v, tuple | list) else v

    return [f"{k} {norm(theirs[k])} (run: {norm(ours.get(k))})" for k in UNET_KEYS
            if k in theirs and norm(theirs[k]) != norm(ours.get(k))]  # fmt: skip


# ---------------------------------------------------------------------------------------
# Config and model
# ---------------------------------------------------------------------------------------


@dataclass
class DDPMConfig:
    block_out_channels: tuple[int, ...] = (32, 64, 64)  # UNet width per resolution level
    layers_per_block: int = 1
    norm_num_groups: int = 8  # must divide every width
    attention: Literal["lowest", "none"] = "lowest"  # self-attention at the lowest resolution
    attention_head_dim: int = 8
    dropout: float = 0.0
    num_train_timesteps: int = 1000
    beta_schedule: BetaSchedule = "linear"
    prediction_type: Prediction = "epsilon"
    conditional: bool = False
    cfg_dropout: float = 0.1  # P(label -> null label) in training, for classifier-free guidance
    guidance: float = 3.0  # default guidance scale w for conditional sampling
    preview_steps: int = 25  # DDIM steps of the training previews
    # a local diffusers UNet folder (or a pipeline folder with unet/) whose weights training
    # starts from; the architecture keys not given are taken from its config
    init: str | None = None
    init_sha256: str | None = None  # of its safetensors weights, recorded when the run starts
    # with init: train all of the UNet's weights, or only LoRA adapters on it (models/unet_lora)
    finetune: Literal["full", "lora"] = "full"
    lora_r: int = 8
    lora_alpha: float | None = None  # None: = lora_r (the adapters' scale alpha / r is 1)
    lora_targets: tuple[str, ...] = ()  # layer names to adapt; empty: the family's default


class DDPM(ImageModel):
    """Denoising diffusion on pixels; class-conditional with classifier-free guidance."""

    Config = DDPMConfig
    supported_sizes = (8, 16, 32, 64, 128)
    feedback = "reward-weighted"

    def __init__(self, config: DDPMConfig, spec: ImageSpec):
        super().__init__(config, spec)
        widths = config.block_out_channels
        bad = [w for w in widths if w % config.norm_num_groups]
        if bad:
            raise GenforgeError(
                f"norm_num_groups={config.norm_num_groups} must divide every block_out_channels "
                f"width; {', '.join(map(str, bad))} do not"
            )
        if spec.size % 2 ** (len(widths) - 1):
            raise GenforgeError(
                f"{len(widths)} UNet levels halve the image {len(widths) - 1} times; "
                f"{spec.size} px is too small, use fewer block_out_channels"
            )
        if not 0.0 <= config.cfg_dropout < 1.0:
            raise GenforgeError(f"cfg_dropout must be in [0, 1), got {config.cfg_dropout}")
        # labels 0..K-1 are the classes, K is the null label ("no class": unconditional)
        self.null_label = spec.num_classes if config.conditional else None
        embeds = spec.num_classes + 1 if config.conditional else None
        self.unet = self.build_network(spec, config, embeds)
        self.scheduler = build_scheduler(config)
        if config.finetune == "lora":
            self.add_adapters()
        elif config.finetune != "full":
            raise GenforgeError(f"finetune must be 'full' or 'lora', got {config.finetune!r}")

    # -- LoRA on the --init UNet ----------------------------------------------------------
    # attention projections and the residual blocks' convolutions: small pixel UNets often
    # have attention at their lowest resolution only
    lora_default_targets: ClassVar[tuple[str, ...]] = (*ATTENTION, "conv1", "conv2")

    def add_adapters(self) -> None:
        """finetune=lora: freeze every network and add LoRA adapters to the --init UNet."""
        if self.config.init is None:
            raise GenforgeError(
                "finetune=lora trains adapters on a pretrained UNet: give --init FOLDER"
            )
        for net in self.networks().values():
            net.requires_grad_(False)
        targets = tuple(self.config.lora_targets) or self.lora_default_targets
        add_lora(self.init_network(), self.config.lora_r, self.config.lora_alpha, targets)

    @property
    def has_adapters(self) -> bool:
        return self.config.finetune == "lora"

    def set_lora_scale(self, scale: float) -> None:
        """Sampling: how strongly the LoRA adapters act (0: the --init UNet alone, 1: as
        trained); a one-line error for a run trained without them."""
        if not self.has_adapters:
            raise GenforgeError("--lora-scale needs a run trained with --set finetune=lora")
        set_scale(self.init_network(), scale)

    def plain_weights(self, net: nn.Module) -> dict[str, torch.Tensor]:
        """`net`'s weights under a plain diffusers UNet's names, adapters merged in."""
        if self.has_adapters:
            return merged_state_dict(net)
        return {k: v.detach().cpu().contiguous() for k, v in net.state_dict().items()}

    def build_network(
        self, spec: ImageSpec, config: Any, num_class_embeds: int | None
    ) -> nn.Module:
        return build_unet(spec, config, num_class_embeds)

    # -- starting from a local UNet (--init) -------------------------------------------------
    init_class: ClassVar[str] = "UNet2DModel"  # the diffusers class --init folders hold

    @classmethod
    def architecture_of(cls, unet: dict[str, Any]) -> dict[str, Any]:
        """Config keys of this family read from a diffusers UNet config."""
        attn = bool(unet.get("add_attention", True)) and any(
            "Attn" in t for t in unet.get("down_block_types", ())
        )
        arch = {"block_out_channels": tuple(unet["block_out_channels"]),
                "layers_per_block": unet.get("layers_per_block"),
                "norm_num_groups": unet.get("norm_num_groups"),
                "attention_head_dim": unet.get("attention_head_dim"),
                "attention": "lowest" if attn else "none"}  # fmt: skip
        return {k: v for k, v in arch.items() if v is not None}

    @classmethod
    def resolve_config(cls, config: Any, given: dict[str, Any]) -> Any:
        """With `init`: the architecture keys not in `given` (the options a user set) taken
        from the folder's UNet config, a given one that differs is an error, and the weights'
        hash recorded."""
        from dataclasses import replace

        if config.init is None:
            return config
        folder = unet_folder(config.init, cls.init_class)
        arch = cls.architecture_of(unet_config(folder))
        norm = {k: list(v) if isinstance(v, tuple | list) else v for k, v in arch.items()}
        bad = [f"{k} {norm[k]} (given {given[k]})" for k in arch
               if k in given and norm[k] != (list(given[k]) if isinstance(given[k], tuple | list)
                                             else given[k])]  # fmt: skip
        if bad:
            raise GenforgeError(f"--init {config.init}: its UNet differs from the options "
                                f"given: {'; '.join(bad)}")  # fmt: skip
        return replace(config, **arch, init=str(Path(config.init).expanduser().resolve()),
                       init_sha256=weights_sha256(folder))  # fmt: skip

    def init_network(self) -> nn.Module:
        """The diffusers UNet that --init weights load into."""
        return self.unet

    def check_init(self) -> Path | None:  # type: ignore[override]
        """The --init UNet folder after checking that its config fits this run's network (a
        one-line error naming the keys that differ); None without --init."""
        if self.config.init is None:
            return None
        folder = unet_folder(self.config.init, self.init_class)
        bad = differing_keys(dict(self.init_network().config), unet_config(folder))
        if bad:
            raise GenforgeError(f"--init {self.config.init}: its UNet does not fit this run: "
                                f"{'; '.join(bad)}")  # fmt: skip
        return folder

    def load_init(self) -> None:
        """Before the first step of a new run: the --init folder's weights into the UNet
        (safetensors only; an error if they changed since the run recorded their hash)."""
        import diffusers

        folder = self.check_init()
        if folder is None:
            return
        if self.config.init_sha256 and weights_sha256(folder) != self.config.init_sha256:
            raise GenforgeError(f"--init {self.config.init}: its weights changed since this "
                                "run recorded their hash")  # fmt: skip
        loaded = getattr(diffusers, self.init_class).from_pretrained(
            folder, use_safetensors=True, local_files_only=True
        )
        target = self.init_network()
        own = set(target.state_dict())
        state = {base_key(k, own): v for k, v in loaded.state_dict().items()}
        try:  # with adapters, their weights keep peft's initialisation (B = 0: no change yet)
            missing, unexpected = target.load_state_dict(state, strict=not self.has_adapters)
            if [k for k in missing if ".lora_" not in k] or unexpected:
                raise RuntimeError(f"missing {missing[:3]}, unexpected {unexpected[:3]}")
        except RuntimeError as e:
            raise GenforgeError(f"--init {self.config.init}: its weights do not fit the UNet: "
                                f"{str(e).splitlines()[0]}") from None  # fmt: skip

    @property
    def latent_dim(self) -> int:
        """The latent is the starting noise x_T, flattened: C * H * W."""
        return self.spec.channels * self.spec.size**2

    def networks(self) -> dict[str, nn.Module]:
        return {"unet": self.unet}

    def sampling_network(self) -> str:
        return "unet"

    # -- training -------------------------------------------------------------------------
    def denoising_loss(
        self, net: nn.Module, x0: torch.Tensor, cond: torch.Tensor | None
    ) -> torch.Tensor:
        """Per-item denoising loss (B,) of images x0 (B, C, H, W) under condition `cond`."""
        b = x0.size(0)
        # (1) Forward process: x_t = sqrt(a_t) x_0 + sqrt(1 - a_t) eps, t ~ U{0..T-1}
        noise = torch.randn_like(x0)
        t = torch.randint(0, self.config.num_train_timesteps, (b,), device=x0.device)
        x_t = self.scheduler.add_noise(x0, noise, t)
        target = noise
        if self.config.prediction_type == "v_prediction":
            target = self.scheduler.get_velocity(x0, noise, t)
        # (2) The UNet's output regressed on eps (or v)
        pred = self.forward_net(net, x_t, t, cond)
        return (pred.float() - target.float()).pow(2).flatten(1).mean(1)

    def training_step(
        self,
        nets: dict[str, nn.Module],
        opts: dict[str, torch.optim.Optimizer],
        next_batch: Callable[[], Batch],
        accelerator: Any,
    ) -> dict[str, torch.Tensor]:
        x0, labels = next_batch()  # (B, C, H, W) in [-1, 1]
        loss = self.denoising_loss(nets["unet"], x0, self.training_condition(x0, labels)).mean()
        opts["unet"].zero_grad(set_to_none=True)
        accelerator.backward(loss)
        opts["unet"].step()
        return {"loss": loss.detach()}

    def feedback_step(
        self,
        nets: dict[str, nn.Module],
        opts: dict[str, torch.optim.Optimizer],
        next_batch: Callable[[], Batch],
        feedback: Callable[[], FeedbackBatch],
        accelerator: Any,
    ) -> dict[str, torch.Tensor]:
        """Reward-weighted fine-tuning (Lee et al. 2023, "Aligning text-to-image models using
        human feedback", arXiv:2302.12192): the denoising loss on rated outputs, each weighted
        by its reward, plus the usual loss on real images, which keeps the model near the data."""
        x0, labels = next_batch()  # (B, C, H, W) real images
        fb = feedback()  # (K, C, H, W) rated outputs, K <= B * feedback_share
        cond = self.training_condition(x0, labels)
        fb_cond = None
        if self.conditional:  # an output of unknown class (-1) is trained unconditionally
            null = self.null_condition(len(fb.images), x0.device)
            fb_cond = torch.where(fb.labels >= 0, self.condition(fb.labels.clamp(min=0)), null)
        both = torch.cat([x0, fb.images.to(x0.dtype)])
        per_item = self.denoising_loss(
            nets["unet"], both, None if cond is None else torch.cat([cond, fb_cond])
        )
        loss_real, loss_fb = per_item[: len(x0)].mean(), per_item[len(x0) :]
        loss_fb = (fb.weights * loss_fb).sum() / fb.weights.sum().clamp(min=1e-8)
        loss = loss_real + fb.scale * loss_fb
        opts["unet"].zero_grad(set_to_none=True)
        accelerator.backward(loss)
        opts["unet"].step()
        return {"loss": loss_real.detach(), "loss_feedback": loss_fb.detach()}

    def training_condition(
        self, x0: torch.Tensor, labels: torch.Tensor | None
    ) -> torch.Tensor | None:
        """The condition of a training batch: the labels' condition, dropped to the null
        condition with probability `cfg_dropout` (classifier-free guidance); None if
        unconditional."""
        if not self.conditional:
            return None
        b = x0.size(0)
        cond = self.condition(labels)
        drop = torch.rand(b, device=x0.device) < self.config.cfg_dropout
        drop = drop.view(-1, *[1] * (cond.dim() - 1))  # (B, 1, ...) over cond's shape
        return torch.where(drop, self.null_condition(b, x0.device), cond)

    # -- prediction -----------------------------------------------------------------------
    def condition(self, labels: torch.Tensor) -> torch.Tensor:
        """What the network is conditioned on for class `labels` (B,): the labels themselves."""
        return labels

    def null_condition(self, b: int, device: torch.device) -> torch.Tensor:
        """The "no condition" input (B,): the null label."""
        return torch.full((b,), self.null_label, dtype=torch.long, device=device)

    def forward_net(
        self, net: nn.Module, x: torch.Tensor, t: torch.Tensor, cond: torch.Tensor | None
    ) -> torch.Tensor:
        return net(x, t, class_labels=cond).sample

    def predict(
        self,
        x: torch.Tensor,
        t: torch.Tensor,
        labels: torch.Tensor | None = None,
        guidance: float | None = None,
        net: nn.Module | None = None,
    ) -> torch.Tensor:
        """The network's output (eps or v) at (x_t, t), (B, C, H, W).

        Args:
            labels: classes (B,) of a conditional model (a text model also takes token ids
                (B, L)); None samples it unconditionally (the null condition).
            guidance: classifier-free guidance scale w: uncond + w (cond - uncond); default
                `config.guidance`.
        """
        net = net or self.unet
        if not self.conditional:
            if labels is not None:
                raise GenforgeError("labels need a class-conditional diffusion model")
            return self.forward_net(net, x, t, None)
        null = self.null_condition(x.size(0), x.device)
        if labels is None:
            return self.forward_net(net, x, t, null)
        cond = self.condition(labels)
        w = self.config.guidance if guidance is None else guidance
        if w == 1.0:  # plain conditional: no unconditional pass needed
            return self.forward_net(net, x, t, cond)
        both = self.forward_net(net, torch.cat([x, x]), t, torch.cat([cond, null]))
        cond_out, uncond = both.chunk(2)  # (B, C, H, W) each
        return uncond + w * (cond_out - uncond)

    # -- sampling (the training previews) ----------------------------------------------------
    @torch.no_grad()
    def generate(
        self, z: torch.Tensor, labels: torch.Tensor | None = None, net: nn.Module | None = None
    ) -> torch.Tensor:
        """Deterministic DDIM (eta = 0) from the noise z (n, C*H*W) in `preview_steps` steps.

        The other samplers, step counts and seeded stochastic sampling are in
        `genforge.generate.diffusion`.
        """
        labels = labels if self.conditional else None  # as GANs and VAEs: ignored if unconditional
        return self.ddim_preview(z, labels, net)

    def ddim_preview(
        self, z: torch.Tensor, cond: torch.Tensor | None, net: nn.Module | None
    ) -> torch.Tensor:
        from diffusers import DDIMScheduler

        # the same DDIM as genforge.generate.diffusion's "ddim" sampler
        scheduler = DDIMScheduler.from_config(self.scheduler.config, timestep_spacing="trailing")
        scheduler.set_timesteps(self.config.preview_steps)
        x = z.view(-1, self.spec.channels, self.spec.size, self.spec.size)
        labels = cond
        for t in scheduler.timesteps:
            out = self.predict(x, t.to(x.device), labels, net=net)
            x = scheduler.step(out, t, x, use_clipped_model_output=True).prev_sample
        return x.clamp(-1, 1)

    # -- export -----------------------------------------------------------------------------
    def export(self, folder: Path, net: nn.Module) -> None:
        """Write `net` (the EMA UNet) and the scheduler as a diffusers DDPMPipeline folder."""
        from diffusers import DDPMPipeline, UNet2DModel

        unet = UNet2DModel.from_config(net.config)
        unet.load_state_dict(self.plain_weights(net))
        DDPMPipeline(unet=unet, scheduler=self.scheduler).save_pretrained(folder / "diffusers")
        self.export_adapters(folder, net)

    def export_adapters(self, folder: Path, unet: nn.Module) -> None:
        """finetune=lora: the adapters alone, `diffusers/unet_lora.safetensors` (peft's names
        in the UNet), beside the merged folder: their size is what the fine-tune adds."""
        if not self.has_adapters:
            return
        from safetensors.torch import save_file

        adapters = {k: v.detach().cpu().contiguous() for k, v in unet.state_dict().items()
                    if ".lora_" in k}  # fmt: skip
        save_file(adapters, str(folder / "diffusers" / "unet_lora.safetensors"))
