"""LoRA adapters on genforge's own diffusion UNets (`--init FOLDER --set finetune=lora`).

A run that starts from a local UNet folder may train all its weights (`finetune=full`, the
default) or only low-rank adapters (Hu et al. 2021, arXiv:2106.09685) added with peft to the
UNet's layers named by `lora_targets`, the rest frozen. The adapters live inside the run's
network (peft's `base_layer` / `lora_A` / `lora_B` keys), so checkpoints, the EMA, resuming
and sampling work as for any run; the diffusers export merges them into plain weights, so the
exported folder loads without peft. At sampling, `set_scale` weakens or strengthens them
(0: the base UNet alone, 1: as trained).
"""

from __future__ import annotations

import torch
from torch import nn

from genforge.core.errors import GenforgeError

ATTENTION = ("to_q", "to_k", "to_v", "to_out.0")  # diffusers' attention projections
ADAPTER = "default"  # peft's adapter name inside the network


def add_lora(net: nn.Module, rank: int, alpha: float | None, targets: tuple[str, ...]) -> None:
    """Freeze `net` and add LoRA adapters (rank `rank`, scale alpha / rank) to its modules whose
    names end in one of `targets`; a one-line error when none matches."""
    from peft import LoraConfig, inject_adapter_in_model

    if rank < 1:
        raise GenforgeError(f"lora_r must be at least 1, got {rank}")
    net.requires_grad_(False)
    config = LoraConfig(r=rank, lora_alpha=alpha if alpha is not None else rank,
                        target_modules=list(targets), init_lora_weights=True)  # fmt: skip
    try:
        inject_adapter_in_model(config, net, adapter_name=ADAPTER)
    except ValueError as e:  # peft: no module matches the targets
        raise GenforgeError(
            f"LoRA found no layer named {', '.join(targets)} in this UNet "
            f"({str(e).splitlines()[0][:80]}); set lora_targets, e.g. [conv1,conv2]"
        ) from None


def lora_layers(net: nn.Module) -> list[nn.Module]:
    from peft.tuners.lora import LoraLayer

    return [m for m in net.modules() if isinstance(m, LoraLayer)]


def set_scale(net: nn.Module, scale: float) -> None:
    """How strongly the adapters act: 0 the base alone, 1 as trained (a one-line error for a
    network without adapters or a negative scale)."""
    layers = lora_layers(net)
    if not layers:
        raise GenforgeError("this run has no LoRA adapters (train with --set finetune=lora)")
    if not 0 <= scale <= 4:
        raise GenforgeError(f"--lora-scale must be between 0 and 4, got {scale:g}")
    for layer in layers:
        layer.set_scale(ADAPTER, scale)


def parameter_counts(net: nn.Module) -> tuple[int, int]:
    """(adapter parameters, all parameters) of `net`."""
    lora = sum(p.numel() for n, p in net.named_parameters() if ".lora_" in n)
    return lora, sum(p.numel() for p in net.parameters())


def base_key(key: str, own: set[str]) -> str:
    """A plain UNet's weight name as this network with adapters names it ("to_q.weight" ->
    "to_q.base_layer.weight" where the layer is wrapped)."""
    if key in own:
        return key
    head, _, leaf = key.rpartition(".")
    return f"{head}.base_layer.{leaf}"


@torch.no_grad()
def merged_state_dict(net: nn.Module) -> dict[str, torch.Tensor]:
    """`net`'s weights with each adapter folded into its layer (W + scale * B A), under the
    plain UNet's names: what a diffusers folder without peft loads."""
    from peft.tuners.lora import LoraLayer

    state = {k: v.detach() for k, v in net.state_dict().items() if ".lora_" not in k}
    for name, layer in net.named_modules():
        if isinstance(layer, LoraLayer):
            weight = state[f"{name}.base_layer.weight"]
            state[f"{name}.base_layer.weight"] = weight + layer.get_delta_weight(ADAPTER).to(weight)
    return {k.replace(".base_layer.", "."): v.cpu().contiguous() for k, v in state.items()}
