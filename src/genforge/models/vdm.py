"""VDM: video diffusion with a factorised space-time UNet (Ho et al. 2022, "Video Diffusion
Models", arXiv:2204.03458).

The network sees a clip as a batch of frames: each block is a ResNet block applied to every
frame (diffusers `ResnetBlock2D`, conditioned on the timestep), spatial self-attention inside
each frame at the lowest resolution (diffusers `Attention`), then temporal self-attention
across the frames at every pixel (diffusers `TransformerTemporalModel`, sinusoidal frame
positions). Space and time mix only through the attention along time, as in the paper's
factorised UNet; the noise schedule and step math are diffusers' `DDPMScheduler`.

Conditioning:
- class-conditional (`conditional=True`, the `cvdm` preset): a label embedding added to the
  time embedding; dropped to the null label with probability `cfg_dropout`, so sampling can mix
  conditional and unconditional predictions (classifier-free guidance, Ho & Salimans 2022).
- given frames (prediction, interpolation, inpainting along time): the network's input is the
  noisy clip, the known frames (zero elsewhere) and the frame mask, concatenated on channels
  (2C + 1). In training, with probability `context`, a clip shows some of its frames clean:
  the first k (prediction), every other frame (interpolation) or a random subset; the loss
  counts only the frames left to generate. Sampling then continues a clip from its first k
  frames or fills the frames between; the given frames are copied into the output unchanged.

The samplers of `genforge sample/predict` are in `genforge.generate.video`; `generate()` here is
the deterministic DDIM preview the trainer draws its strips with.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn

from genforge.core.errors import GenforgeError
from genforge.data.video import VideoSpec
from genforge.models.base import Batch
from genforge.models.video import VideoModel

Prediction = Literal["epsilon", "v_prediction"]
BetaSchedule = Literal["linear", "squaredcos_cap_v2"]

# ---------------------------------------------------------------------------------------
# Network: a factorised space-time UNet from diffusers blocks
# ---------------------------------------------------------------------------------------


class SpaceTimeBlock(nn.Module):
    """ResNet block per frame -> [spatial attention per frame] -> temporal attention per pixel.

    Works on frames folded into the batch: (B*T, C, H, W)."""

    def __init__(self, cin: int, cout: int, temb: int, groups: int, head_dim: int, frames: int,
                 spatial: bool):  # fmt: skip
        super().__init__()
        from diffusers.models.attention_processor import Attention
        from diffusers.models.resnet import ResnetBlock2D
        from diffusers.models.transformers.transformer_temporal import TransformerTemporalModel

        heads = max(1, cout // head_dim)
        self.resnet = ResnetBlock2D(in_channels=cin, out_channels=cout, temb_channels=temb,
                                    groups=groups, eps=1e-6)  # fmt: skip
        self.spatial = None
        if spatial:
            self.spatial = Attention(
                cout, heads=heads, dim_head=head_dim, norm_num_groups=groups,
                residual_connection=True, bias=True, upcast_softmax=True, eps=1e-6,
                _from_deprecated_attn_block=True,
            )  # fmt: skip
        self.temporal = TransformerTemporalModel(
            num_attention_heads=heads, attention_head_dim=head_dim, in_channels=cout,
            norm_num_groups=groups, positional_embeddings="sinusoidal",
            num_positional_embeddings=frames,
        )  # fmt: skip

    def forward(self, h: torch.Tensor, temb: torch.Tensor, frames: int) -> torch.Tensor:
        h = self.resnet(h, temb)  # (B*T, C, H, W)
        if self.spatial is not None:
            h = self.spatial(h)  # attention over the H*W positions of each frame
        return self.temporal(h, num_frames=frames).sample  # over the T frames of each pixel


class SpaceTimeUNet(nn.Module):
    """UNet over clips (B, C_in, T, H, W) -> (B, C_out, T, H, W): space is down- and upsampled,
    time is kept (T frames at every level)."""

    def __init__(
        self, in_channels: int, out_channels: int, frames: int, widths: tuple[int, ...],
        layers: int, groups: int, head_dim: int, spatial_attention: str,
        num_class_embeds: int | None,
    ):  # fmt: skip
        super().__init__()
        from diffusers.models.embeddings import TimestepEmbedding, Timesteps
        from diffusers.models.resnet import Downsample2D, Upsample2D

        w0, temb = widths[0], 4 * widths[0]
        self.time_proj = Timesteps(w0, flip_sin_to_cos=True, downscale_freq_shift=0)
        self.time_embed = TimestepEmbedding(w0, temb)
        self.class_embed = nn.Embedding(num_class_embeds, temb) if num_class_embeds else None
        self.conv_in = nn.Conv2d(in_channels, w0, 3, padding=1)
        last = len(widths) - 1

        def block(cin: int, cout: int, level: int) -> SpaceTimeBlock:
            spatial = spatial_attention == "lowest" and level == last
            return SpaceTimeBlock(cin, cout, temb, groups, head_dim, frames, spatial)

        self.down, self.downsample = nn.ModuleList(), nn.ModuleList()
        c = w0
        for i, w in enumerate(widths):
            self.down.append(
                nn.ModuleList([block(c if j == 0 else w, w, i) for j in range(layers)])
            )
            self.downsample.append(
                Downsample2D(w, use_conv=True, padding=1, name="op") if i < last else nn.Identity()
            )
            c = w
        self.mid = block(c, c, last)
        self.up, self.upsample = nn.ModuleList(), nn.ModuleList()
        for i in reversed(range(len(widths))):
            w = widths[i]
            self.upsample.append(Upsample2D(c, use_conv=True) if i < last else nn.Identity())
            self.up.append(
                nn.ModuleList([block(c + w if j == 0 else w, w, i) for j in range(layers)])
            )
            c = w
        self.norm_out = nn.GroupNorm(groups, c, eps=1e-6)
        self.conv_out = nn.Conv2d(c, out_channels, 3, padding=1)

    def forward(
        self, x: torch.Tensor, t: torch.Tensor, class_labels: torch.Tensor | None = None
    ) -> torch.Tensor:
        b, _, frames, height, width = x.shape
        h = x.transpose(1, 2).reshape(b * frames, -1, height, width)  # (B*T, C, H, W)
        temb = self.time_embed(self.time_proj(t.reshape(-1).expand(b)).to(x.dtype))  # (B, E)
        if self.class_embed is not None:
            temb = temb + self.class_embed(class_labels)
        temb = temb.repeat_interleave(frames, 0)  # (B*T, E): every frame of a clip shares t
        h = self.conv_in(h)
        skips = []
        for blocks, down in zip(self.down, self.downsample, strict=True):
            for blk in blocks:
                h = blk(h, temb, frames)
            skips.append(h)
            h = down(h)
        h = self.mid(h, temb, frames)
        for blocks, up in zip(self.up, self.upsample, strict=True):
            h = torch.cat([up(h), skips.pop()], dim=1)
            for blk in blocks:
                h = blk(h, temb, frames)
        h = self.conv_out(F.silu(self.norm_out(h)))  # (B*T, C_out, H, W)
        return h.reshape(b, frames, -1, height, width).transpose(1, 2)


# ---------------------------------------------------------------------------------------
# Config and model
# ---------------------------------------------------------------------------------------


@dataclass
class VDMConfig:
    block_out_channels: tuple[int, ...] = (16, 32, 64)  # width per spatial resolution level
    layers_per_block: int = 1
    norm_num_groups: int = 4  # must divide every width
    attention_head_dim: int = 8  # channels per attention head (spatial and temporal)
    spatial_attention: Literal["lowest", "none"] = "lowest"
    num_train_timesteps: int = 1000
    beta_schedule: BetaSchedule = "squaredcos_cap_v2"  # the cosine schedule
    # v = sqrt(a) eps - sqrt(1 - a) x0, as Ho et al. 2022 train: at the cosine schedule's last
    # steps (a ~ 1e-9) an eps model's x0 = (x - sqrt(1 - a) eps) / sqrt(a) blows up, and DDIM or
    # DPM-Solver from t = T gave noise (moving-digits, 2144 steps: only 1000-step DDPM was clean)
    prediction_type: Prediction = "v_prediction"
    conditional: bool = False
    cfg_dropout: float = 0.1  # P(label -> null label) in training (classifier-free guidance)
    guidance: float = 2.0  # default guidance scale w for conditional sampling
    context: float = 0.5  # P(a training clip shows some frames clean) (prediction, filling)
    preview_steps: int = 25  # DDIM steps of the training previews


MaskKind = Literal["prefix", "alternate", "random"]
MASK_KINDS: tuple[MaskKind, ...] = ("prefix", "alternate", "random")


def frame_mask(
    kind: MaskKind, frames: int, generator: torch.Generator | None = None
) -> torch.Tensor:
    """(T,) float mask, 1 for the frames given: the first k (k in 1..T-1), every other frame
    (from frame 0), or a random nonempty, incomplete subset."""
    m = torch.zeros(frames)
    if kind == "prefix":
        m[: int(torch.randint(1, frames, (1,), generator=generator))] = 1
    elif kind == "alternate":
        m[::2] = 1
    else:
        while m.sum() in (0, frames):
            m = (torch.rand(frames, generator=generator) < 0.5).float()
    return m


class VDM(VideoModel):
    """Video diffusion: unconditional, class-conditional (CFG), and given any frames."""

    Config = VDMConfig
    fills_frames = True
    # 256 px frames carry the invisible watermark per frame when served; at that size use
    # spatial_attention="none" or enough levels that the lowest resolution stays small
    supported_sizes = (8, 16, 32, 64, 128, 256)

    def __init__(self, config: VDMConfig, spec: VideoSpec):
        super().__init__(config, spec)
        widths = config.block_out_channels
        bad = [w for w in widths if w % config.norm_num_groups or w % config.attention_head_dim]
        if bad:
            raise GenforgeError(
                f"norm_num_groups={config.norm_num_groups} and attention_head_dim="
                f"{config.attention_head_dim} must divide every block_out_channels width; "
                f"{', '.join(map(str, bad))} do not"
            )
        if spec.size % 2 ** (len(widths) - 1):
            raise GenforgeError(
                f"{len(widths)} UNet levels halve the frames {len(widths) - 1} times; "
                f"{spec.size} px is too small, use fewer block_out_channels"
            )
        for name, p in (("cfg_dropout", config.cfg_dropout), ("context", config.context)):
            if not 0.0 <= p < 1.0:
                raise GenforgeError(f"{name} must be in [0, 1), got {p}")
        self.null_label = spec.num_classes if config.conditional else None
        embeds = spec.num_classes + 1 if config.conditional else None
        c = spec.channels
        self.unet = SpaceTimeUNet(2 * c + 1, c, spec.frames, tuple(widths), config.layers_per_block,
                                  config.norm_num_groups, config.attention_head_dim,
                                  config.spatial_attention, embeds)  # fmt: skip
        from diffusers import DDPMScheduler

        self.scheduler = DDPMScheduler(
            num_train_timesteps=config.num_train_timesteps, beta_schedule=config.beta_schedule,
            prediction_type=config.prediction_type, clip_sample=True,
        )  # fmt: skip

    @property
    def latent_dim(self) -> int:
        """The latent is the starting noise x_T, flattened: C * T * H * W."""
        s = self.spec
        return s.channels * s.frames * s.size**2

    def clip_shape(self, n: int) -> tuple[int, ...]:
        s = self.spec
        return (n, s.channels, s.frames, s.size, s.size)

    def networks(self) -> dict[str, nn.Module]:
        return {"unet": self.unet}

    def sampling_network(self) -> str:
        return "unet"

    # -- training -------------------------------------------------------------------------
    def training_masks(self, b: int, device: torch.device) -> torch.Tensor:
        """(B, 1, T, 1, 1): which frames each training clip shows clean (none with
        probability 1 - context; else a prefix, alternate frames or a random subset)."""
        frames = self.spec.frames
        masks = torch.zeros(b, frames)
        for i in torch.nonzero(torch.rand(b) < self.config.context).flatten().tolist():
            masks[i] = frame_mask(MASK_KINDS[int(torch.randint(len(MASK_KINDS), (1,)))], frames)
        return masks.view(b, 1, frames, 1, 1).to(device)

    def training_step(
        self,
        nets: dict[str, nn.Module],
        opts: dict[str, torch.optim.Optimizer],
        next_batch: Callable[[], Batch],
        accelerator: Any,
    ) -> dict[str, torch.Tensor]:
        x0, labels = next_batch()  # (B, C, T, H, W) in [-1, 1]
        b = x0.size(0)
        mask = self.training_masks(b, x0.device)
        cond = None
        if self.conditional:  # classifier-free guidance: drop labels to the null label
            drop = torch.rand(b, device=x0.device) < self.config.cfg_dropout
            cond = torch.where(drop, self.null_labels(b, x0.device), labels)
        # (1) Forward process on the whole clip: x_t = sqrt(a_t) x_0 + sqrt(1 - a_t) eps
        noise = torch.randn_like(x0)
        t = torch.randint(0, self.config.num_train_timesteps, (b,), device=x0.device)
        x_t = self.scheduler.add_noise(x0, noise, t)
        target = noise
        if self.config.prediction_type == "v_prediction":
            target = self.scheduler.get_velocity(x0, noise, t)
        # (2) Update the UNet on the frames to generate (the given ones are its input)
        pred = nets["unet"](self.net_input(x_t, x0, mask), t, cond)
        todo = (1 - mask).expand_as(x0)
        loss = ((pred.float() - target.float()) ** 2 * todo).sum() / todo.sum().clamp(min=1)
        opts["unet"].zero_grad(set_to_none=True)
        accelerator.backward(loss)
        opts["unet"].step()
        return {"loss": loss.detach()}

    # -- prediction -----------------------------------------------------------------------
    @staticmethod
    def net_input(
        x: torch.Tensor, known: torch.Tensor | None, mask: torch.Tensor | None
    ) -> torch.Tensor:
        """(B, 2C + 1, T, H, W): the noisy clip, the given frames (zero elsewhere), the mask."""
        b, _, frames, h, w = x.shape
        if mask is None:
            mask = x.new_zeros(b, 1, frames, 1, 1)
        given = known * mask if known is not None else torch.zeros_like(x)
        return torch.cat([x, given, mask.expand(b, 1, frames, h, w)], dim=1)

    def null_labels(self, b: int, device: torch.device) -> torch.Tensor:
        return torch.full((b,), self.null_label, dtype=torch.long, device=device)

    def predict(
        self,
        x: torch.Tensor,
        t: torch.Tensor,
        labels: torch.Tensor | None = None,
        guidance: float | None = None,
        known: torch.Tensor | None = None,
        mask: torch.Tensor | None = None,
        net: nn.Module | None = None,
    ) -> torch.Tensor:
        """The network's output (eps or v) at (x_t, t), (B, C, T, H, W).

        Args:
            labels: classes (B,) of a conditional model; None: the null label.
            guidance: classifier-free guidance w: uncond + w (cond - uncond); default config's.
            known: clips (B, C, T, H, W) whose frames where `mask` (B, 1, T, 1, 1) is 1 are given.
        """
        net = net or self.unet
        inp = self.net_input(x, known, mask)
        if not self.conditional:
            if labels is not None:
                raise GenforgeError("labels need a class-conditional video model")
            return net(inp, t, None)
        null = self.null_labels(x.size(0), x.device)
        if labels is None:
            return net(inp, t, null)
        w = self.config.guidance if guidance is None else guidance
        if w == 1.0:
            return net(inp, t, labels)
        cond, uncond = net(torch.cat([inp, inp]), t, torch.cat([labels, null])).chunk(2)
        return uncond + w * (cond - uncond)

    # -- sampling (the training previews) ----------------------------------------------------
    @torch.no_grad()
    def generate(
        self, z: torch.Tensor, labels: torch.Tensor | None = None, net: nn.Module | None = None
    ) -> torch.Tensor:
        """Deterministic DDIM (eta = 0) from the noise z (n, C*T*H*W), no frames given."""
        return self.generate_given(z, labels if self.conditional else None, None, None, net=net)

    @torch.no_grad()
    def generate_given(
        self, z: torch.Tensor, labels: torch.Tensor | None, known: torch.Tensor | None,
        mask: torch.Tensor | None, steps: int | None = None, guidance: float | None = None,
        net: nn.Module | None = None,
    ) -> torch.Tensor:  # fmt: skip
        """DDIM from z given the frames of `known` where `mask` is 1 (copied into the output
        unchanged): (n, C, T, H, W) in [-1, 1]."""
        from diffusers import DDIMScheduler

        scheduler = DDIMScheduler.from_config(self.scheduler.config, timestep_spacing="trailing")
        scheduler.set_timesteps(steps or self.config.preview_steps)
        x = z.view(self.clip_shape(z.size(0)))
        for t in scheduler.timesteps:
            out = self.predict(x, t.to(x.device), labels, guidance, known, mask, net=net)
            x = scheduler.step(out, t, x, use_clipped_model_output=True).prev_sample
        x = x.clamp(-1, 1)
        return x if mask is None else mask * known + (1 - mask) * x
