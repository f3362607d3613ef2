"""Text-to-image diffusion: a text encoder feeding a cross-attention UNet.

The prompt is split into lower-case words, looked up in the model's vocabulary, and encoded by
a small transformer into hidden states (B, L, D); diffusers' `UNet2DConditionModel` attends to
them (cross-attention, as in Latent Diffusion, Rombach et al. 2022, arXiv:2112.10752, here on
pixels). Classifier-free guidance uses the empty caption as the null condition.

Instead of the small encoder, `text_encoder=/local/folder` loads a pretrained transformers text
encoder and its tokenizer (a CLIP text model as in Stable Diffusion, or any `AutoModel` encoder
such as BERT) from a local folder, safetensors only. It is frozen unless `train_text_encoder`;
its last hidden states go through a trained linear projection when its width differs from the
UNet's `text_dim`. The encoder and tokenizer are copied into every checkpoint
(`model/diffusers/text_encoder/`), and a saved run is rebuilt from that copy (`rebuild`), so
the run samples and resumes without the original folder.

The model's class names are its captions (the "captioned-image" modality makes them, from a
captions.jsonl or from the class names: "a handwritten seven"; see data/captions.py); the
vocabulary is exactly the words of those captions, so a prompt with any other word is refused
with the list of known words rather than silently ignored. Everything else (noise schedule, CFG dropout, samplers,
restore) is the DDPM family's, which this class extends.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch
from torch import nn

from genforge.core.errors import GenforgeError
from genforge.data.dataset import ImageSpec
from genforge.models.diffusion import DDPM, DDPMConfig
from genforge.models.unet_lora import ATTENTION

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
# A pretrained text encoder from a local folder (transformers, safetensors only)
# ---------------------------------------------------------------------------------------

TOKENIZER_FILES = ("tokenizer.json", "vocab.json", "vocab.txt", "spiece.model", "tokenizer.model")
PICKLE_WEIGHTS = ("*.bin", "*.pt", "*.pth", "*.ckpt", "*.pkl")
CLIP_TYPES = ("clip", "clip_text_model")  # a full CLIP folder also holds its text model


def missing_encoder_files(path: Path) -> list[str]:
    """What a local text-encoder folder lacks: config.json, tokenizer files, safetensors weights."""
    missing = []
    if not (path / "config.json").is_file():
        missing.append("config.json")
    if not any((path / f).is_file() for f in TOKENIZER_FILES):
        missing.append(f"tokenizer files (one of {', '.join(TOKENIZER_FILES)})")
    elif not (path / "tokenizer.json").is_file() and _is_clip(path):
        missing += [f for f in ("vocab.json", "merges.txt") if not (path / f).is_file()]
    if not list(path.glob("*.safetensors")):
        missing.append("model.safetensors")
    return missing


def _is_clip(path: Path) -> bool:
    """A CLIP config (whose slow tokenizer needs vocab.json and merges.txt)."""
    try:
        return json.loads((path / "config.json").read_text()).get("model_type") in CLIP_TYPES
    except (OSError, ValueError, AttributeError):
        return False


def check_encoder_folder(path: Path) -> None:
    """One line naming everything a text-encoder folder lacks; nothing if it is complete."""
    if not path.is_dir():
        raise GenforgeError(
            f"--text-encoder {path}: no such folder; give a local transformers text encoder "
            "folder (save_pretrained of the model and its tokenizer)"
        )
    missing = missing_encoder_files(path)
    pickled = sorted(f.name for pat in PICKLE_WEIGHTS for f in path.glob(pat))
    if missing == ["model.safetensors"] and pickled:
        raise GenforgeError(
            f"--text-encoder {path} has only pickle weights ({', '.join(pickled)}); genforge "
            "loads safetensors only (unpickling can run code): re-save the model with "
            "save_pretrained(folder, safe_serialization=True)"
        )
    if missing:
        if pickled and "model.safetensors" in missing:
            i = missing.index("model.safetensors")
            missing[i] += f" (pickle {', '.join(pickled)} is never loaded)"
        raise GenforgeError(f"--text-encoder {path} is missing: {'; '.join(missing)}")


def load_text_encoder(path: str | Path) -> tuple[nn.Module, Any]:
    """(model, tokenizer) from a local folder: `CLIPTextModel` for CLIP configs, else
    `AutoModel`; never downloads, never unpickles. Problems are one-line errors."""
    from transformers import AutoConfig, AutoModel, AutoTokenizer, CLIPTextModel

    from genforge.core.hf import quiet_transformers

    quiet_transformers()
    path = Path(path)
    check_encoder_folder(path)
    try:
        config = AutoConfig.from_pretrained(str(path), local_files_only=True)
    except (OSError, ValueError, KeyError) as e:
        raise GenforgeError(f"--text-encoder {path}: bad config.json: {_first_line(e)}") from None
    if getattr(config, "is_encoder_decoder", False):
        raise GenforgeError(
            f"--text-encoder {path} holds an encoder-decoder model ({config.model_type}); "
            "give a text encoder (CLIP text model, BERT-like AutoModel)"
        )
    cls = CLIPTextModel if config.model_type in CLIP_TYPES else AutoModel
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
        model = cls.from_pretrained(str(path), local_files_only=True, use_safetensors=True)
    except (OSError, ValueError, KeyError, TypeError, ImportError) as e:  # ImportError: e.g.
        # a sentencepiece tokenizer without the sentencepiece package
        raise GenforgeError(f"cannot load a text encoder from {path}: {_first_line(e)}") from None
    return model, tokenizer


def _first_line(e: Exception) -> str:
    return (str(e).strip().splitlines() or [type(e).__name__])[0]


class PretrainedTokenizer:
    """A transformers tokenizer as a prompt -> ids (L,) function over a fixed length L.

    L is the encoder's position limit (77 for CLIP, at most 77 otherwise); prompts are padded
    to it and a longer prompt is an error, not silently truncated."""

    def __init__(self, tokenizer: Any, max_positions: int | None):
        if tokenizer.pad_token is None:
            if tokenizer.eos_token is None:
                raise GenforgeError(
                    "the text encoder's tokenizer has neither a padding nor an end token"
                )
            tokenizer.pad_token = tokenizer.eos_token  # GPT-2-like tokenizers pad with it
        self.tokenizer = tokenizer
        self.pad_id = int(tokenizer.pad_token_id)
        self.length = min(77, max_positions or 77, tokenizer.model_max_length)

    def __call__(self, text: str) -> torch.Tensor:
        ids = self.tokenizer(text)["input_ids"]
        if len(ids) > self.length:
            raise GenforgeError(
                f"the prompt has {len(ids)} tokens; this model's text encoder reads at most "
                f"{self.length}"
            )
        return torch.tensor(ids + [self.pad_id] * (self.length - len(ids)))


class PretrainedTextEncoder(nn.Module):
    """Token ids (B, L) -> the HF encoder's last hidden states, projected to (B, L, dim).

    Frozen (the default): no gradients, and kept in eval mode (no dropout) while training.
    CLIP gets no attention mask (as in Stable Diffusion); other encoders mask the padding."""

    def __init__(self, encoder: nn.Module, pad_id: int, dim: int, frozen: bool):
        super().__init__()
        self.encoder, self.pad_id, self.frozen = encoder, pad_id, frozen
        width = int(encoder.config.hidden_size)
        self.proj = nn.Linear(width, dim) if width != dim else nn.Identity()
        self.masked = encoder.config.model_type not in CLIP_TYPES
        if frozen:
            encoder.requires_grad_(False)
            encoder.eval()

    def train(self, mode: bool = True) -> PretrainedTextEncoder:
        super().train(mode)
        if self.frozen:
            self.encoder.eval()
        return self

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        # A batch holds few distinct prompts (K captions + the empty one; n copies of one prompt
        # when sampling): encode each once, then gather. (U, L) rows, inverse (B,)
        rows, inverse = torch.unique(ids, dim=0, return_inverse=True)
        mask = (rows != self.pad_id).long() if self.masked else None
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.frozen):
            h = self.encoder(input_ids=rows, attention_mask=mask).last_hidden_state  # (U, L, W)
        return self.proj(h)[inverse]  # (B, L, dim)


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

    def __init__(self, text: nn.Module, unet: nn.Module):
        super().__init__()
        self.text, self.unet = text, unet

    def forward(self, x: torch.Tensor, t: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
        return self.unet(x, t, encoder_hidden_states=self.text(ids)).sample


def build_text_unet(spec: ImageSpec, cfg: T2IConfig, text: nn.Module) -> TextUNet:
    """The UNet for `spec`, cross-attending (width `cfg.text_dim`) to `text`'s states."""
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
    return TextUNet(text, unet)


# ---------------------------------------------------------------------------------------
# Config and model
# ---------------------------------------------------------------------------------------


@dataclass
class T2IConfig(DDPMConfig):
    conditional: bool = True  # on the captions, which are the class names
    text_dim: int = 64  # width of the text states the UNet attends to (cross_attention_dim)
    text_layers: int = 2  # the small encoder's depth and heads (without text_encoder)
    text_heads: int = 4
    text_encoder: str | None = None  # a local transformers text encoder folder; None: small
    train_text_encoder: bool = False  # fine-tune the pretrained encoder (default: frozen)


class TextToImage(DDPM):
    """Pixel diffusion conditioned on a prompt through a jointly trained text encoder."""

    Config = T2IConfig
    task = "prompt"
    feedback = None  # ratings of prompts and upscales are not learned from yet

    def __init__(self, config: T2IConfig, spec: ImageSpec):
        if not config.conditional:
            raise GenforgeError(
                "text-to-image is conditioned on captions (its class names); it needs "
                "conditional=true"
            )
        if config.finetune == "lora" and config.text_encoder is None:
            raise GenforgeError(
                "finetune=lora keeps the text encoder frozen: give the pretrained one the --init "
                "UNet was trained with (--text-encoder FOLDER, e.g. RUN/model/diffusers/"
                "text_encoder)"
            )
        if config.train_text_encoder and config.finetune == "lora":
            raise GenforgeError(
                "finetune=lora trains adapters on the UNet only; drop --train-text-encoder"
            )
        if config.train_text_encoder and config.text_encoder is None:
            raise GenforgeError(
                "--train-text-encoder fine-tunes a pretrained encoder: give --text-encoder PATH "
                "(the small default encoder is always trained)"
            )
        if spec.num_classes < self.min_classes(config):
            raise GenforgeError(
                "text-to-image needs captioned data (captions.jsonl or class subfolders); "
                f"this data has {spec.num_classes} captions"
            )
        if config.text_encoder is None and config.text_dim % config.text_heads:
            raise GenforgeError(
                f"text_heads={config.text_heads} must divide text_dim={config.text_dim}"
            )
        self.captions = list(spec.class_names)
        self.hf_tokenizer: Any = None  # the transformers tokenizer of a pretrained encoder
        self.tokenizer: WordTokenizer | PretrainedTokenizer
        if config.text_encoder is None:
            self.tokenizer = WordTokenizer(self.captions)
        else:
            encoder, self.hf_tokenizer = load_text_encoder(config.text_encoder)
            max_positions = getattr(encoder.config, "max_position_embeddings", None)
            self.tokenizer = PretrainedTokenizer(self.hf_tokenizer, max_positions)
            self._loaded = (encoder,)  # handed to build_network (a tuple: not a submodule yet)
        super().__init__(config, spec)
        # (K + 1, L): each class's caption, then the empty caption (the null condition)
        rows = [self.tokenizer(c) for c in self.captions] + [self.tokenizer("")]
        self.caption_ids = torch.stack(rows)

    def build_network(
        self, spec: ImageSpec, config: Any, num_class_embeds: int | None
    ) -> nn.Module:
        if config.text_encoder is None:
            tok = self.tokenizer
            text: nn.Module = TextEncoder(
                tok.vocab_size, tok.length, config.text_dim, config.text_layers, config.text_heads
            )
        else:
            frozen = not config.train_text_encoder
            (encoder,) = self.__dict__.pop("_loaded")
            text = PretrainedTextEncoder(encoder, self.tokenizer.pad_id, config.text_dim, frozen)
        return build_text_unet(spec, config, text)

    @classmethod
    def rebuild(cls, config: T2IConfig, spec: ImageSpec, model_dir: Path) -> TextToImage:
        """A saved run's model, its pretrained encoder taken from the run's own copy."""
        if config.text_encoder is None:
            return cls(config, spec)
        copy = model_dir / "diffusers" / "text_encoder"
        missing = missing_encoder_files(copy) if copy.is_dir() else [f"{copy} itself"]
        if missing:
            raise GenforgeError(
                f"this run's copy of its text encoder is incomplete, missing: "
                f"{'; '.join(missing)} (in {copy}); the checkpoint was damaged or not written"
            )
        return cls(replace(config, text_encoder=str(copy)), spec)

    # -- starting from a local UNet (--init): a UNet2DConditionModel folder -----------------
    init_class = "UNet2DConditionModel"
    lora_default_targets = ATTENTION  # self- and cross-attention, as diffusers' LoRA scripts

    @classmethod
    def min_classes(cls, config: Any) -> int:
        """Captions a run needs: one is enough to fine-tune (--init) with a pretrained encoder,
        whose vocabulary does not come from the captions; otherwise two."""
        return 1 if config.init is not None and config.text_encoder is not None else 2

    @classmethod
    def architecture_of(cls, unet: dict[str, Any]) -> dict[str, Any]:
        arch = super().architecture_of(unet)
        arch.pop("attention")  # cross-attention at every level but the first, always
        if unet.get("cross_attention_dim") is not None:
            arch["text_dim"] = int(unet["cross_attention_dim"])
        return arch

    def init_network(self) -> nn.Module:
        return self.unet.unet  # the text encoder starts as without --init

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
        """The EMA UNet (diffusers UNet2DConditionModel folder), the scheduler and the text
        encoder: the small one as safetensors + vocab.json; a pretrained one as a transformers
        folder (save_pretrained, safetensors, with its tokenizer) plus the projection."""
        from diffusers import UNet2DConditionModel
        from safetensors.torch import save_file

        out = folder / "diffusers"
        unet = UNet2DConditionModel.from_config(net.unet.config)
        unet.load_state_dict(self.plain_weights(net.unet))
        unet.save_pretrained(out / "unet")
        self.export_adapters(folder, net.unet)
        self.scheduler.save_pretrained(out / "scheduler")
        (out / "text_encoder").mkdir(parents=True, exist_ok=True)
        if isinstance(net.text, PretrainedTextEncoder):
            net.text.encoder.save_pretrained(out / "text_encoder", safe_serialization=True)
            self.hf_tokenizer.save_pretrained(out / "text_encoder")
            proj = {k: v.detach().cpu().contiguous() for k, v in net.text.proj.state_dict().items()}
            if proj:  # widths differ: the trained (B, L, W) -> (B, L, text_dim) projection
                save_file(proj, out / "text_projection.safetensors")
            return
        text = {k: v.detach().cpu().contiguous() for k, v in net.text.state_dict().items()}
        save_file(text, out / "text_encoder" / "model.safetensors")
        vocab = {"ids": self.tokenizer.ids, "length": self.tokenizer.length, "pad": PAD, "bos": BOS}
        (out / "text_encoder" / "vocab.json").write_text(json.dumps(vocab, indent=2))
