"""CTGAN: conditional tabular GAN (Xu et al. 2019, "Modeling Tabular Data using Conditional
GAN", arXiv:1907.00503), written for genforge from the paper.

- rows arrive mode-normalised (data/table.py: Bayesian GMM per number, one-hot categories);
- a conditional vector fixes one value of one discrete column per row, and training rows are
  drawn to match it ("training-by-sampling"), with values picked by log-frequency so rare
  categories are learned;
- the generator gets a cross-entropy penalty for not producing the asked-for value;
- the critic sees `pac` rows at once (PacGAN, Lin et al. 2018) and is trained with WGAN-GP.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from genforge.core.errors import GenforgeError
from genforge.data.table import TableSpec
from genforge.models.table import TableModel, activate

# ---------------------------------------------------------------------------------------
# Networks
# ---------------------------------------------------------------------------------------


class Residual(nn.Module):
    """Linear -> BN -> ReLU, concatenated with its input (CTGAN's generator block)."""

    def __init__(self, i: int, o: int):
        super().__init__()
        self.fc, self.bn = nn.Linear(i, o), nn.BatchNorm1d(o)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([F.relu(self.bn(self.fc(x))), x], dim=1)  # (B, o + i)


class Generator(nn.Module):
    def __init__(self, in_dim: int, hidden: tuple[int, ...], out_dim: int):
        super().__init__()
        layers, d = [], in_dim
        for h in hidden:
            layers.append(Residual(d, h))
            d += h
        self.body = nn.Sequential(*layers)
        self.out = nn.Linear(d, out_dim)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.out(self.body(z))  # (B, D) raw: activate() maps it to the row space


class Critic(nn.Module):
    """Scores packs of `pac` rows: (B, D) -> (B / pac,)."""

    def __init__(self, in_dim: int, hidden: tuple[int, ...], pac: int):
        super().__init__()
        layers, d = [], in_dim * pac
        for h in hidden:
            layers += [nn.Linear(d, h), nn.LeakyReLU(0.2), nn.Dropout(0.5)]
            d = h
        self.body = nn.Sequential(*layers, nn.Linear(d, 1))
        self.pac, self.in_dim = pac, in_dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x.reshape(-1, self.pac * self.in_dim)).squeeze(1)


# ---------------------------------------------------------------------------------------
# Conditional vectors and training-by-sampling
# ---------------------------------------------------------------------------------------


class CondSampler:
    """Draws conditional vectors and the training rows that match them.

    The conditional vector concatenates one one-hot block per discrete span (categorical
    columns and missing flags); exactly one value of one span is set per row.
    """

    def __init__(self, spec: TableSpec, rows: torch.Tensor | None, log_frequency: bool):
        self.spans = spec.discrete_spans
        self.dim = sum(s.size for s in self.spans)
        self.offsets = torch.tensor([0, *[s.size for s in self.spans]]).cumsum(0)[:-1]
        # value frequencies: of the training rows when given, else of the spec (sampling)
        probs, self.row_index = [], []
        for s in self.spans:
            if rows is not None:
                block = rows[:, s.start : s.start + s.size].argmax(1).cpu()
                counts = torch.bincount(block, minlength=s.size).double()
                self.row_index.append([torch.nonzero(block == v).squeeze(1) for v in range(s.size)])
            else:
                counts = torch.tensor(spec.discrete_freqs(s), dtype=torch.float64)
            p = torch.log1p(counts) if log_frequency else counts
            probs.append(p / p.sum())
        self.probs = probs

    def draw(self, n: int, generator: torch.Generator | None = None):
        """(cond (n, dim), span index (n,), value index (n,))."""
        span = torch.randint(len(self.spans), (n,), generator=generator)
        value = torch.zeros(n, dtype=torch.long)
        for j in range(len(self.spans)):
            m = span == j
            if m.any():
                value[m] = torch.multinomial(self.probs[j], int(m.sum()), True, generator=generator)
        cond = torch.zeros(n, self.dim)
        cond[torch.arange(n), self.offsets[span] + value] = 1
        return cond, span, value

    def matching_rows(self, span: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
        """One random training row index per (span, value) pair."""
        out = torch.empty(len(span), dtype=torch.long)
        for i, (j, v) in enumerate(zip(span.tolist(), value.tolist(), strict=True)):
            idx = self.row_index[j][v]
            out[i] = idx[torch.randint(len(idx), (1,))]
        return out


# ---------------------------------------------------------------------------------------
# Config and model
# ---------------------------------------------------------------------------------------


@dataclass
class CTGANConfig:
    latent_dim: int = 128  # CTGAN's embedding_dim
    generator_dim: tuple[int, ...] = (256, 256)
    critic_dim: tuple[int, ...] = (256, 256)
    pac: int = 10  # rows per critic input (PacGAN); the batch size must be a multiple
    n_critic: int = 1  # critic steps per generator step
    gp_weight: float = 10.0
    tau: float = 0.2  # Gumbel-softmax temperature
    log_frequency: bool = True  # draw conditions by log-frequency (rare values more often)


class CTGAN(TableModel):
    Config = CTGANConfig

    def __init__(self, config: CTGANConfig, spec: TableSpec):
        super().__init__(config, spec)
        self.cond_dim = sum(s.size for s in spec.discrete_spans)
        self.generator = Generator(
            config.latent_dim + self.cond_dim, config.generator_dim, spec.dim
        )
        self.discriminator = Critic(spec.dim + self.cond_dim, config.critic_dim, config.pac)
        self._train_sampler: CondSampler | None = None

    def networks(self) -> dict[str, nn.Module]:
        return {"generator": self.generator, "discriminator": self.discriminator}

    def sampling_network(self) -> str:
        return "generator"

    def _cond_loss(
        self, raw: torch.Tensor, span: torch.Tensor, value: torch.Tensor
    ) -> torch.Tensor:
        """Cross-entropy of the generator's logits for the conditioned span against the value."""
        spans = self.spec.discrete_spans
        loss = raw.new_zeros(())
        for j, s in enumerate(spans):
            m = span == j
            if m.any():
                logits = raw[m.to(raw.device), s.start : s.start + s.size]
                loss = loss + F.cross_entropy(logits, value[m].to(raw.device), reduction="sum")
        return loss / raw.size(0)

    def _gradient_penalty(self, critic: nn.Module, real: torch.Tensor, fake: torch.Tensor):
        """WGAN-GP (Gulrajani et al. 2017) on packs: one mixing weight per pack."""
        pac = self.config.pac
        eps = torch.rand(real.size(0) // pac, 1, 1, device=real.device)
        eps = eps.expand(-1, pac, 1).reshape(-1, 1)
        mixed = (eps * real + (1 - eps) * fake).requires_grad_(True)
        grad = torch.autograd.grad(critic(mixed).sum(), mixed, create_graph=True)[0]
        grad = grad.reshape(-1, pac * real.size(1))
        return ((grad.norm(2, dim=1) - 1) ** 2).mean()

    def training_step(
        self,
        nets: dict[str, nn.Module],
        opts: dict[str, torch.optim.Optimizer],
        next_batch: Callable[[], tuple[torch.Tensor, Any]],
        accelerator: Any,
    ) -> dict[str, torch.Tensor]:
        G, D, cfg = nets["generator"], nets["discriminator"], self.config
        rows = getattr(next_batch, "images", None)  # training-by-sampling indexes all rows
        if rows is None:
            raise GenforgeError("CTGAN needs the table in memory")
        B = next_batch.batch_size
        if B % cfg.pac:
            raise GenforgeError(
                f"CTGAN's batch size ({B}) must be a multiple of pac ({cfg.pac}); "
                f"use --batch-size {max(cfg.pac, B - B % cfg.pac)}"
            )
        if self._train_sampler is None:
            self._train_sampler = CondSampler(self.spec, rows, cfg.log_frequency)
        sampler, device = self._train_sampler, rows.device

        def noise_and_cond():
            z = torch.randn(B, cfg.latent_dim, device=device)
            if not self.cond_dim:
                return z, None, None, None
            cond, span, value = sampler.draw(B)
            return torch.cat([z, cond.to(device)], 1), cond.to(device), span, value

        # (1) Update the critic: maximise D(real) - D(fake), with gradient penalty
        for _ in range(cfg.n_critic):
            zc, cond, span, value = noise_and_cond()
            fake = activate(self.spec, G(zc), cfg.tau).detach()
            if cond is None:
                real = rows[torch.randint(len(rows), (B,))]
                real_in, fake_in = real, fake
            else:
                perm = torch.randperm(B)  # real rows match a shuffled copy of the conditions
                real = rows[sampler.matching_rows(span[perm], value[perm]).to(device)]
                real_in = torch.cat([real, cond[perm.to(device)]], 1)
                fake_in = torch.cat([fake, cond], 1)
            gp = self._gradient_penalty(D, real_in, fake_in)
            loss_d = D(fake_in).mean() - D(real_in).mean()
            opts["discriminator"].zero_grad(set_to_none=True)
            accelerator.backward(loss_d + cfg.gp_weight * gp)
            opts["discriminator"].step()

        # (2) Update the generator: maximise D(fake) and produce the conditioned values
        zc, cond, span, value = noise_and_cond()
        raw = G(zc)
        fake = activate(self.spec, raw, cfg.tau)
        fake_in = fake if cond is None else torch.cat([fake, cond], 1)
        cond_loss = self._cond_loss(raw, span, value) if cond is not None else raw.new_zeros(())
        loss_g = -D(fake_in).mean() + cond_loss
        opts["generator"].zero_grad(set_to_none=True)
        accelerator.backward(loss_g)
        opts["generator"].step()
        return {
            "loss_d": loss_d.detach(),
            "loss_g": loss_g.detach(),
            "gp": gp.detach(),
            "cond_ce": cond_loss.detach(),
        }

    @torch.no_grad()
    def sample(
        self,
        n: int,
        generator: torch.Generator | None = None,
        net: nn.Module | None = None,
        batch_size: int = 10_000,
    ) -> torch.Tensor:
        """Conditions are drawn with the training frequencies (not log), as CTGAN samples;
        one-hot blocks are drawn from their softmax (the Gumbel-softmax's hard limit)."""
        G = net or self.generator
        was_training = G.training
        G.eval()
        device = next(G.parameters()).device
        sampler = CondSampler(self.spec, None, log_frequency=False) if self.cond_dim else None
        out = []
        for i in range(0, n, batch_size):
            b = min(batch_size, n - i)
            z = torch.randn(b, self.config.latent_dim, generator=generator)
            if sampler is not None:
                z = torch.cat([z, sampler.draw(b, generator)[0]], 1)
            raw = G(z.to(device)).float().cpu()
            out.append(activate(self.spec, raw, hard="sample", generator=generator))
        G.train(was_training)
        return torch.cat(out)
