"""CLIP (Radford et al. 2021, arXiv:2103.00020) from a local transformers folder: image and text
embeddings, the CLIP score of images against their prompts (Hessel et al. 2021,
arXiv:2104.08718) and DreamBooth's CLIP-I subject fidelity (Ruiz et al. 2022,
arXiv:2208.12242).

The folder is a `CLIPModel` saved with `save_pretrained` (config.json, safetensors weights) with
its tokenizer and image processor (preprocessor_config.json) beside it; it is never downloaded
and pickled weights are never loaded. torchmetrics' `CLIPScore` is not used: importing it pulls
torch-fidelity, which needs torchvision (avoided in genforge's stack); the score here is the
same definition, 100 * max(cosine, 0).
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F

from genforge.core.errors import GenforgeError
from genforge.core.hf import check_model_folder, quiet_transformers

PROCESSOR_FILE = "preprocessor_config.json"


def check_clip_folder(path: str | Path) -> Path:
    """The folder, after the checks that need no loading; each problem is one line."""
    p = check_model_folder(path, lambda cfg: cfg.get("model_type") == "clip",
                           "a CLIPModel (model_type clip)", not_found="no CLIP folder {path}")  # fmt: skip
    if not (p / PROCESSOR_FILE).is_file():
        raise GenforgeError(f"{path} has no image processor ({PROCESSOR_FILE})")
    return p


class ClipSpace:
    """A CLIPModel's projected embeddings, L2-normalised, so that their dot product is the
    cosine similarity CLIP was trained on.

    Args:
        folder: the CLIP folder (see the module docstring).
        device: where the model runs.
    """

    kind = "clip"

    def __init__(self, folder: str | Path, device: torch.device | str = "cpu"):
        from transformers import AutoImageProcessor, AutoTokenizer, CLIPModel

        self.path = check_clip_folder(folder)
        quiet_transformers()
        try:
            self.model = CLIPModel.from_pretrained(self.path, local_files_only=True,
                                                   use_safetensors=True)  # fmt: skip
            self.tokenizer = AutoTokenizer.from_pretrained(self.path, local_files_only=True)
            self.processor = AutoImageProcessor.from_pretrained(self.path, local_files_only=True)
        except (OSError, ValueError, KeyError, TypeError) as e:
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise GenforgeError(f"cannot load the CLIP model in {folder}: {first}") from None
        self.device = torch.device(device)
        self.model.to(self.device).eval()
        self.label = f"CLIP image embeddings, {self.path.name}"

    @torch.no_grad()
    def features(self, images: torch.Tensor, batch_size: int = 32) -> torch.Tensor:
        """Images (N, 3, H, W) in [-1, 1] -> unit embeddings (N, D), as the folder's image
        processor prepares them (resize, centre crop, normalise)."""
        out = []
        for i in range(0, len(images), batch_size):
            x = ((images[i : i + batch_size].float().clamp(-1, 1) + 1) * 127.5).round()
            arrays = list(x.to(torch.uint8).permute(0, 2, 3, 1).numpy())  # (H, W, 3) each
            pixels = self.processor(images=arrays, return_tensors="pt")["pixel_values"]
            pooled = self.model.vision_model(pixel_values=pixels.to(self.device)).pooler_output
            out.append(F.normalize(self.model.visual_projection(pooled).float(), dim=-1).cpu())
        return torch.cat(out).double()

    @torch.no_grad()
    def text_features(self, prompts: list[str], batch_size: int = 64) -> torch.Tensor:
        """Prompts -> unit embeddings (N, D), truncated to the text model's positions."""
        limit = int(self.model.config.text_config.max_position_embeddings)
        out = []
        for i in range(0, len(prompts), batch_size):
            ids = self.tokenizer(prompts[i : i + batch_size], padding=True, truncation=True,
                                 max_length=limit, return_tensors="pt")  # fmt: skip
            ids = {
                k: v.to(self.device) for k, v in ids.items() if k in ("input_ids", "attention_mask")
            }
            pooled = self.model.text_model(**ids).pooler_output
            out.append(F.normalize(self.model.text_projection(pooled).float(), dim=-1).cpu())
        return torch.cat(out).double()


def clip_score(space: ClipSpace, images: torch.Tensor, prompts: list[str]) -> float:
    """Mean CLIP score of images against their own prompts: 100 * max(cosine, 0), as
    torchmetrics' CLIPScore defines it (0 to 100, higher: the image matches its prompt)."""
    cos = (space.features(images) * space.text_features(prompts)).sum(-1)
    return float(100 * cos.clamp(min=0).mean())


def clip_i(sample_feats: torch.Tensor, instance_feats: torch.Tensor) -> float:
    """DreamBooth's CLIP-I: mean cosine similarity over every (sample, instance image) pair of
    unit embeddings (-1 to 1, higher: the samples look more like the subject)."""
    return float((sample_feats @ instance_feats.T).mean())
