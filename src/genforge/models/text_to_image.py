"""Text-to-image diffusion: a small text encoder trained together with a cross-attention UNet.

The prompt is split into lower-case words, looked up in the model's vocabulary, and encoded by
a small transformer into hidden states (B, L, D); diffusers' `UNet2DConditionModel` attends to
them (cross-attention, as in Latent Diffusion, Rombach et al. 2022, arXiv:2112.10752, here on
pixels). Classifier-free guidance uses the empty caption as the null condition.

The model's class names are its captions (the "captioned-image" modality makes them, from a
captions.jsonl or from the class names: "a handwritten seven"; see data/captions.py); the
vocabulary is exactly the words of those captions, so a prompt with any other word is refused
with the list of known words rather than silently ignored. Everything else (noise schedule, CFG dropout, samplers,
restore) is the DDPM family's, which this class extends.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from genforge.core.errors import GenforgeError
from genforge.models.base import ImageSpec
from genforge.models.diffusion import DDPM, DDPMConfig

PAD, BOS = 0, 1  # token ids; words start at 2

# ---------------------------------------------------------------------------------------
# Captions and the word tokenizer
# ---------------------------------------------------------------------------------------


def words_of(text: str) -> list[str]:
    return re.findall(r"[a-z0-9']+", text.lower())


class WordTokenizer:
    """Words -> ids over a fixed vocabulary: [BOS, w1, w2, ..., PAD, PAD] of length `length`."""

    def __init__(self, captions: list[str]):
        vocab = sorted({w for c in captions for w in words_of(c)})
        self.ids = {w: i + 2 for i, w in enumerate(vocab)}
        self.length = 1 + max(len(words_of(c)) for c in captions)

    @property
    def vocab_size(self) -> int:
        return len(self.ids) + 2

    def __call__(self, text: str) -> torch.Tensor:
        """Token ids (L,) of `text`; an unknown word or a too-long prompt is an error."""
        words = words_of(text)
        unknown = [w for w in words if w not in self.ids]
        if unknown:
            raise GenforgeError(
                f"unknown word{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))} "
                f"in the prompt; this model learned only: {', '.join(sorted(self.ids))}"
            )
        if len(words) > self.length - 1:
            raise GenforgeError(
                f"the prompt has {len(words)} words; this model reads at most {self.length - 1}"
            )
        ids = [BOS] + [self.ids[w] for w in words]
        return torch.tensor(ids + [PAD] * (self.length - len(ids)))


# ---------------------------------------------------------------------------------------
# Networks
# ---------------------------------------------------------------------------------------


class TextEncoder(nn.Module):
    """Token ids (B, L) -> hidden states (B, L, dim): embeddings + a small transformer."""

    def __init__(self, vocab_size: int, length: int, dim: int, layers: int, heads: int):
        super().__init__()
        self.tokens = nn.Embedding(vocab_size, dim)
        self.positions = nn.Parameter(torch.zeros(1, length, dim))
        layer = nn.TransformerEncoderLayer(
            dim, heads, 4 * dim, dropout=0.0, batch_first=True, norm_first=True
        )
        self.transformer = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(dim)
        nn.init.normal_(self.positions, std=0.02)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        h = self.tokens(ids) + self.positions[:, : ids.size(1)]
        return self.norm(self.transformer(h))  # (B, L, dim)


class TextUNet(nn.Module):
    """Text encoder + UNet2DConditionModel, one module so EMA and checkpoints cover both."""

    def __init__(self, text: TextEncoder, unet: nn.Module):
        super().__init__()
        self.text, self.unet = text, unet

    def forward(self, x: torch.Tensor, t: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
        return self.unet(x, t, encoder_hidden_states=self.text(ids)).sample


def build_text_unet(spec: ImageSpec, cfg: T2IConfig, tokenizer: WordTokenizer) -> TextUNet:
    from diffusers import UNet2DConditionModel

    levels = len(cfg.block_out_channels)
    # cross-attention at every level but the first (full resolution stays convolutional)
    down = ["DownBlock2D"] + ["CrossAttnDownBlock2D"] * (levels - 1)
    up = ["CrossAttnUpBlock2D"] * (levels - 1) + ["UpBlock2D"]
    unet = UNet2DConditionModel(
        sample_size=spec.size,
        in_channels=spec.channels,
        out_channels=spec.channels,
        block_out_channels=tuple(cfg.block_out_channels),
        down_block_types=tuple(down),
        up_block_types=tuple(up),
        layers_per_block=cfg.layers_per_block,
        norm_num_groups=cfg.norm_num_groups,
        attention_head_dim=cfg.attention_head_dim,
        cross_attention_dim=cfg.text_dim,
        dropout=cfg.dropout,
    )
    text = TextEncoder(
        tokenizer.vocab_size, tokenizer.length, cfg.text_dim, cfg.text_layers, cfg.text_heads
    )
    return TextUNet(text, unet)


# ---------------------------------------------------------------------------------------
# Config and model
# ---------------------------------------------------------------------------------------


@dataclass
class T2IConfig(DDPMConfig):
    conditional: bool = True  # on the captions, which are the class names
    text_dim: int = 64
    text_layers: int = 2
    text_heads: int = 4


class TextToImage(DDPM):
    """Pixel diffusion conditioned on a prompt through a jointly trained text encoder."""

    Config = T2IConfig

    def __init__(self, config: T2IConfig, spec: ImageSpec):
        if not config.conditional:
            raise GenforgeError(
                "text-to-image is conditioned on captions (its class names); it needs "
                "conditional=true"
            )
        if spec.num_classes < 2:
            raise GenforgeError(
                "text-to-image needs captioned data (captions.jsonl or class subfolders); "
                f"this data has {spec.num_classes} captions"
            )
        self.captions = list(spec.class_names)
        self.tokenizer = WordTokenizer(self.captions)
        super().__init__(config, spec)
        if config.text_dim % config.text_heads:
            raise GenforgeError(
                f"text_heads={config.text_heads} must divide text_dim={config.text_dim}"
            )
        # (K + 1, L): each class's caption, then the empty caption (the null condition)
        rows = [self.tokenizer(c) for c in self.captions] + [self.tokenizer("")]
        self.caption_ids = torch.stack(rows)

    def build_network(
        self, spec: ImageSpec, config: Any, num_class_embeds: int | None
    ) -> nn.Module:
        return build_text_unet(spec, config, self.tokenizer)

    def tokenize(self, prompt: str) -> torch.Tensor:
        """Token ids (1, L) of a prompt."""
        return self.tokenizer(prompt)[None]

    # -- conditions: token ids (B, L) --------------------------------------------------------
    def condition(self, labels: torch.Tensor) -> torch.Tensor:
        """Class indices (B,) -> their captions' ids (B, L); token ids (B, L) pass through."""
        if labels.dim() == 2:
            return labels
        return self.caption_ids.to(labels.device)[labels]

    def null_condition(self, b: int, device: torch.device) -> torch.Tensor:
        return self.caption_ids[-1].to(device).expand(b, -1)

    def forward_net(
        self, net: nn.Module, x: torch.Tensor, t: torch.Tensor, cond: torch.Tensor | None
    ) -> torch.Tensor:
        return net(x, t, cond)

    # -- export -----------------------------------------------------------------------------
    def export(self, folder: Path, net: nn.Module) -> None:
        """The EMA UNet (diffusers UNet2DConditionModel folder), the scheduler, the text
        encoder (safetensors) and its vocabulary."""
        from diffusers import UNet2DConditionModel
        from safetensors.torch import save_file

        out = folder / "diffusers"
        unet = UNet2DConditionModel.from_config(net.unet.config)
        unet.load_state_dict(
            {k: v.detach().cpu().contiguous() for k, v in net.unet.state_dict().items()}
        )
        unet.save_pretrained(out / "unet")
        self.scheduler.save_pretrained(out / "scheduler")
        (out / "text_encoder").mkdir(parents=True, exist_ok=True)
        text = {k: v.detach().cpu().contiguous() for k, v in net.text.state_dict().items()}
        save_file(text, out / "text_encoder" / "model.safetensors")
        vocab = {"ids": self.tokenizer.ids, "length": self.tokenizer.length, "pad": PAD, "bos": BOS}
        (out / "text_encoder" / "vocab.json").write_text(json.dumps(vocab, indent=2))
