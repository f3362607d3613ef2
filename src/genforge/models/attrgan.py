"""Attribute-conditional DCGAN: several categorical attributes at once (multi-label conditioning).

The `cgan` variant of dcgan.py conditions on one class label. Here every image has A
categorical attributes (hair colour, eye shape, ...; `ImageSpec.attributes`), given as codes
(B, A):

- G: each attribute has its own embedding table; the A embeddings are concatenated into one
  condition vector c (B, A*embed_dim), appended to z and mapped to every BatchNorm's scale and
  shift (conditional BatchNorm, de Vries et al. 2017, arXiv:1707.00683).
- D: spectral-norm DCGAN features, an unconditional head, plus one projection term per attribute
  (Miyato & Koyama 2018, arXiv:1802.05637): D(x, y) = psi(h) + sum_a <E_a[y_a], h>.
- An auxiliary classifier head per attribute on D's features (AC-GAN, Odena et al. 2017,
  arXiv:1610.09585): D learns the attributes on real images, G is pushed to make them
  recognisable. `aux_weight=0` turns it off (projection only).

`diffaug` (e.g. "translation") shows D only DiffAugment-ed images (models/diffaug.py), real and
generated alike, so it cannot memorise a small training set.

Hinge loss (Lim & Ye 2017). Attribute combinations never seen together in training can still be
asked for: the condition is built attribute by attribute.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from genforge.core.errors import GenforgeError
from genforge.data.dataset import ImageSpec
from genforge.models.base import Batch, ImageModel
from genforge.models.dcgan import dcgan_init, stage_channels
from genforge.models.diffaug import augmenter, parse_policy

# ---------------------------------------------------------------------------------------
# Building blocks
# ---------------------------------------------------------------------------------------


class AttributeEmbedding(nn.Module):
    """Codes (B, A) -> concatenated per-attribute embeddings (B, A * dim).

    One table holds every attribute's rows; attribute a's codes are offset by the sizes of the
    attributes before it, so attribute a's value k has its own row."""

    def __init__(self, sizes: list[int], dim: int):
        super().__init__()
        self.register_buffer("offsets", torch.tensor([0, *sizes[:-1]]).cumsum(0), persistent=False)
        self.table = nn.Embedding(sum(sizes), dim)
        self.out_dim = len(sizes) * dim

    def forward(self, codes: torch.Tensor) -> torch.Tensor:
        return self.table(codes + self.offsets).flatten(1)  # (B, A, dim) -> (B, A*dim)


class CondBatchNorm2d(nn.Module):
    """BatchNorm without affine, then scale 1 + W_g c and shift W_b c from the condition c."""

    def __init__(self, channels: int, cond_dim: int):
        super().__init__()
        self.bn = nn.BatchNorm2d(channels, affine=False)
        self.gamma = nn.Linear(cond_dim, channels)
        self.beta = nn.Linear(cond_dim, channels)
        for lin in (self.gamma, self.beta):
            nn.init.zeros_(lin.weight)
            nn.init.zeros_(lin.bias)

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        g = 1.0 + self.gamma(c)[:, :, None, None]  # (B, C, 1, 1)
        return g * self.bn(x) + self.beta(c)[:, :, None, None]


class AttrGenerator(nn.Module):
    def __init__(self, latent_dim: int, out_channels: int, size: int, ngf: int,
                 sizes: list[int], embed_dim: int):  # fmt: skip
        super().__init__()
        n = int(math.log2(size)) - 2  # 2x upsamplings after the 4x4 stage
        widths = stage_channels(ngf, n)
        self.latent_dim = latent_dim
        self.embed = AttributeEmbedding(sizes, embed_dim)
        c = self.embed.out_dim
        self.stem = nn.ConvTranspose2d(latent_dim + c, widths[0], 4, 1, 0, bias=False)  # 4x4
        self.norms = nn.ModuleList([CondBatchNorm2d(w, c) for w in widths])
        self.ups = nn.ModuleList(
            nn.ConvTranspose2d(a, b, 4, 2, 1, bias=False) for a, b in pairwise(widths)
        )
        self.to_image = nn.ConvTranspose2d(widths[-1], out_channels, 4, 2, 1)

    def forward(self, z: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
        c = self.embed(codes)  # (B, A*embed_dim)
        h = self.stem(torch.cat([z, c], dim=1)[:, :, None, None])
        h = torch.relu(self.norms[0](h, c))
        for up, norm in zip(self.ups, self.norms[1:], strict=True):
            h = torch.relu(norm(up(h), c))  # spatial size doubles each block
        return torch.tanh(self.to_image(h))  # (B, C, size, size)


class AttrDiscriminator(nn.Module):
    """Returns (adversarial score (B,), auxiliary attribute logits (B, sum of value counts))."""

    def __init__(self, in_channels: int, size: int, ndf: int, sizes: list[int],
                 minibatch_std: bool = False):  # fmt: skip
        super().__init__()
        self.minibatch_std = minibatch_std
        n = int(math.log2(size)) - 2
        widths = list(reversed(stage_channels(ndf, n)))  # ndf, 2ndf, ... at 4x4
        layers: list[nn.Module] = [nn.Conv2d(in_channels, widths[0], 4, 2, 1), nn.LeakyReLU(0.2)]
        for a, b in pairwise(widths):
            layers += [nn.Conv2d(a, b, 4, 2, 1), nn.LeakyReLU(0.2)]
        self.features = nn.Sequential(*layers)  # (B, w_last, 4, 4)
        self.head = nn.Linear(widths[-1] + int(minibatch_std), 1)
        self.project = AttributeEmbedding(sizes, widths[-1])  # E_a[y_a], one row per value
        self.aux = nn.Linear(widths[-1], sum(sizes))
        self.sizes = sizes
        for m in self.modules():
            if isinstance(m, nn.Conv2d | nn.Linear | nn.Embedding):
                nn.utils.parametrizations.spectral_norm(m)

    def forward(self, x: torch.Tensor, codes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        fmap = self.features(x)  # (B, w, 4, 4)
        h = fmap.sum(dim=(2, 3))  # (B, w) sum-pooled
        e = self.project(codes).view(len(x), len(self.sizes), -1)  # (B, A, w)
        hs = h
        if self.minibatch_std:  # ProGAN's batch feature spread (arXiv:1710.10196): a collapsed
            s = fmap.float().std(dim=0, unbiased=False).mean() if len(x) > 1 else fmap.new_zeros(())
            hs = torch.cat([h, s.to(h.dtype).expand(len(x), 1)], dim=1)  # batch gets caught
        out = self.head(hs).squeeze(1) + (e * h[:, None, :]).sum(dim=(1, 2))
        return out, self.aux(h)


class AttrClassifier(nn.Module):
    """A separate attribute classifier C for G's training signal: plain conv blocks (no spectral
    norm, no BatchNorm) down to 8x8, mean- and max-pooled, one linear layer of logits per value.

    D's spectral norm bounds how strongly it can respond to a small, low-contrast part (a dark
    mouth on dark skin: D's auxiliary head stayed at chance there); C is not bounded. It learns
    the attributes on real images only; G is pushed to make them recognisable to C."""

    def __init__(self, in_channels: int, size: int, width: int, sizes: list[int]):
        super().__init__()
        layers: list[nn.Module] = []
        c, w = in_channels, width
        for _ in range(max(1, int(math.log2(size)) - 3)):  # down to 8x8
            layers += [nn.Conv2d(c, w, 3, 1, 1), nn.LeakyReLU(0.2),
                       nn.Conv2d(w, w, 4, 2, 1), nn.LeakyReLU(0.2)]  # fmt: skip
            c, w = w, min(2 * w, 4 * width)
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(2 * c, sum(sizes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.features(x)
        return self.head(torch.cat([h.mean(dim=(2, 3)), h.amax(dim=(2, 3))], dim=1))


def attribute_ce(logits: torch.Tensor, codes: torch.Tensor, sizes: list[int]) -> torch.Tensor:
    """Mean over attributes of the cross-entropy of each attribute's slice of `logits`."""
    parts = torch.split(logits, sizes, dim=1)
    return torch.stack([F.cross_entropy(p, codes[:, a]) for a, p in enumerate(parts)]).mean()


# ---------------------------------------------------------------------------------------
# Config and model
# ---------------------------------------------------------------------------------------


@dataclass
class AttrGANConfig:
    latent_dim: int = 64
    embed_dim: int = 16  # per attribute; G's condition vector is A * embed_dim long
    ngf: int = 32  # generator width at the output stage
    ndf: int = 32  # discriminator width at the input stage
    aux_weight: float = 1.0  # auxiliary attribute-classifier loss in D and G (0: projection only)
    g_aux_weight: float | None = None  # G's share of it (None: aux_weight); lower trades
    # attribute fidelity for diversity (AC-GAN pushes G towards the easiest-to-classify look)
    minibatch_std: bool = False  # D sees the batch's feature spread (against mode collapse)
    n_critic: int = 1  # D updates per G update
    diffaug: str = ""  # DiffAugment policy for everything D sees, e.g. "translation" (diffaug.py):
    # against D memorising a small training set
    classifier_weight: float = 0.0  # > 0: a separate attribute classifier C (AttrClassifier),
    # trained on real images, pushes G with this weight (beside D's auxiliary head)
    classifier_width: int = 32


class AttrGAN(ImageModel):
    """GAN conditioned on several categorical attributes (codes (B, A), see module docstring)."""

    Config = AttrGANConfig
    task = "attributes"
    supported_sizes = (16, 32, 64, 128)

    def __init__(self, config: AttrGANConfig, spec: ImageSpec):
        super().__init__(config, spec)
        if not spec.attributes:
            raise GenforgeError(
                "attrgan needs per-image attributes: --data FOLDER --attributes attributes.csv "
                "(a filename column and one column per attribute), or --data sprites"
            )
        self.sizes = [len(v) for _, v in spec.attributes]
        self.policy = parse_policy(config.diffaug)
        self.generator = AttrGenerator(config.latent_dim, spec.channels, spec.size, config.ngf,
                                       self.sizes, config.embed_dim)  # fmt: skip
        self.discriminator = AttrDiscriminator(spec.channels, spec.size, config.ndf, self.sizes,
                                               config.minibatch_std)  # fmt: skip
        self.classifier = (
            AttrClassifier(spec.channels, spec.size, config.classifier_width, self.sizes)
            if config.classifier_weight > 0
            else None
        )
        self.apply(dcgan_init)

    @property
    def attribute_values(self) -> dict[str, list[str]]:
        return self.spec.attribute_values

    def networks(self) -> dict[str, nn.Module]:
        nets = {"generator": self.generator, "discriminator": self.discriminator}
        if self.classifier is not None:
            nets["classifier"] = self.classifier
        return nets

    def sampling_network(self) -> str:
        return "generator"

    # -- conditions ---------------------------------------------------------------------
    def random_codes(self, z: torch.Tensor) -> torch.Tensor:
        """Uniformly random attribute codes (B, A) that are a function of each latent row, so
        a seed fixes them whatever the batch: value k of attribute a comes from the fine digits
        of |z[:, a]| (frac(|z| * 9973) is close to uniform and unrelated to the image noise)."""
        cols = torch.arange(len(self.sizes), device=z.device) % z.size(1)
        u = torch.frac(z[:, cols].abs().double() * 9973.0)  # (B, A) in [0, 1)
        k = torch.tensor(self.sizes, device=z.device)
        return torch.minimum((u * k).long(), k - 1)

    def check_codes(self, codes: torch.Tensor) -> None:
        if codes.dim() != 2 or codes.size(1) != len(self.sizes):
            raise GenforgeError(
                f"attrgan conditions on {len(self.sizes)} attributes "
                f"({', '.join(self.attribute_values)}); give codes of shape (n, {len(self.sizes)}), "
                f"got {tuple(codes.shape)}"
            )

    # -- sampling -----------------------------------------------------------------------
    def generate(
        self, z: torch.Tensor, labels: torch.Tensor | None = None, net: nn.Module | None = None
    ) -> torch.Tensor:
        """Latents (n, latent_dim) and attribute codes (n, A) -> images (n, C, H, W); without
        codes every image gets random attribute values fixed by its latent."""
        codes = self.random_codes(z) if labels is None else labels
        self.check_codes(codes)
        return (net or self.generator)(z, codes)

    # -- training -----------------------------------------------------------------------
    def training_step(
        self,
        nets: dict[str, nn.Module],
        opts: dict[str, torch.optim.Optimizer],
        next_batch: Callable[[], Batch],
        accelerator: Any,
    ) -> dict[str, torch.Tensor]:
        G, D = nets["generator"], nets["discriminator"]
        opt_g, opt_d = opts["generator"], opts["discriminator"]
        cfg = self.config
        aug = augmenter(self.policy)

        # (1) Update D: hinge loss on real/fake with the real attributes, plus learning to
        #     classify the attributes of real images (auxiliary heads)
        for _ in range(cfg.n_critic):
            real, codes = next_batch()
            z = torch.randn(real.size(0), cfg.latent_dim, device=real.device)
            with torch.no_grad():
                fake = G(z, codes)
            d_real, aux_real = D(aug(real), codes)
            d_fake, _ = D(aug(fake), codes)
            loss_adv = F.relu(1.0 - d_real.float()).mean() + F.relu(1.0 + d_fake.float()).mean()
            loss_aux = attribute_ce(aux_real.float(), codes, self.sizes)
            loss_d = loss_adv + cfg.aux_weight * loss_aux
            opt_d.zero_grad(set_to_none=True)
            accelerator.backward(loss_d)
            opt_d.step()

        # (2) Update G: fool D, and make the asked attributes recognisable to D's classifier
        #     (and to C, the separate classifier, when there is one)
        z = torch.randn(real.size(0), cfg.latent_dim, device=real.device)
        gen = aug(G(z, codes))
        d_gen, aux_gen = D(gen, codes)
        loss_g_adv = -d_gen.float().mean()
        loss_g_aux = attribute_ce(aux_gen.float(), codes, self.sizes)
        g_aux = cfg.aux_weight if cfg.g_aux_weight is None else cfg.g_aux_weight
        loss_g = loss_g_adv + g_aux * loss_g_aux
        C = nets.get("classifier")
        if C is not None:
            loss_g_cls = attribute_ce(C(gen).float(), codes, self.sizes)
            loss_g = loss_g + cfg.classifier_weight * loss_g_cls
        opt_g.zero_grad(set_to_none=True)
        accelerator.backward(loss_g)
        opt_g.step()

        # (3) Update C on the last real batch (its gradients from G's loss are discarded)
        logs = {}
        if C is not None:
            loss_c = attribute_ce(C(aug(real)).float(), codes, self.sizes)
            opts["classifier"].zero_grad(set_to_none=True)
            accelerator.backward(loss_c)
            opts["classifier"].step()
            logs = {"cls_real_ce": loss_c.detach(), "cls_fake_ce": loss_g_cls.detach()}

        return {
            "loss_d": loss_d.detach(),
            "loss_g": loss_g.detach(),
            "d_real": d_real.detach().float().mean(),
            "d_fake": d_fake.detach().float().mean(),
            "aux_real_ce": loss_aux.detach(),
            "aux_fake_ce": loss_g_aux.detach(),
            **logs,
        }
