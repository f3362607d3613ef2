"""Gaussian copula for tables: each column keeps its own (empirical) marginal distribution,
their dependence is a multivariate normal over normal scores (Sklar's theorem; the classic
baseline of synthetic-data tools).

    fit:    value -> u = F(value) (empirical CDF from the spec's quantiles; a category draws u
            uniformly inside its slice of the CDF) -> z = Phi^-1(u); correlation R by maximum
            likelihood of z ~ N(0, R), with the optimiser (R = normalised L L^T).
    sample: z ~ N(0, R) -> u = Phi(z) -> value = F^-1(u) -> encoded row.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from genforge.data.table import TableSpec
from genforge.models.table import TableModel

_NORMAL = torch.distributions.Normal(0.0, 1.0)
_EPS = 1e-4  # u is kept in [eps, 1 - eps] so normal scores stay finite


def _interp(x: torch.Tensor, xp: torch.Tensor, fp: torch.Tensor) -> torch.Tensor:
    """np.interp for 1-D increasing `xp` (ties allowed)."""
    i = torch.searchsorted(xp, x.contiguous(), right=True).clamp(1, len(xp) - 1)
    x0, x1, y0, y1 = xp[i - 1], xp[i], fp[i - 1], fp[i]
    w = torch.where(x1 > x0, (x - x0) / (x1 - x0).clamp_min(1e-12), torch.full_like(x, 0.5))
    return (y0 + w.clamp(0, 1) * (y1 - y0)).clamp(fp[0], fp[-1])


class Correlation(nn.Module):
    """A correlation matrix R (d, d) parametrised by an unconstrained lower-triangular L."""

    def __init__(self, d: int):
        super().__init__()
        self.L = nn.Parameter(torch.eye(d))

    def matrix(self) -> torch.Tensor:
        L = torch.tril(self.L)
        S = L @ L.T + 1e-5 * torch.eye(len(L), device=L.device)
        s = S.diagonal().rsqrt()
        return S * s[:, None] * s[None, :]


@dataclass
class CopulaConfig:
    jitter: bool = True  # categories draw u inside their CDF slice (else its midpoint)


class GaussianCopula(TableModel):
    Config = CopulaConfig

    def __init__(self, config: CopulaConfig, spec: TableSpec):
        super().__init__(config, spec)
        # one copula dimension per number and per discrete span (category, missing flag)
        self.dims: list[tuple[str, Any]] = []
        by_col = {}
        for s in spec.spans:
            by_col.setdefault(s.column, {})[s.role] = s
        for c in spec.learned:
            spans = by_col[c["name"]]
            if "alpha" in spans:
                self.dims.append(("number", (c, spans["alpha"], spans["mode"])))
            for role in ("category", "missing"):
                if role in spans:
                    freqs = torch.tensor(spec.discrete_freqs(spans[role]), dtype=torch.float32)
                    cdf = torch.cat([torch.zeros(1), freqs.cumsum(0)])
                    self.dims.append(("discrete", (spans[role], cdf / cdf[-1])))
        self.copula = Correlation(len(self.dims))
        self._probs = torch.linspace(0, 1, 101)

    def networks(self) -> dict[str, nn.Module]:
        return {"copula": self.copula}

    def sampling_network(self) -> str:
        return "copula"

    def normal_scores(self, x: torch.Tensor) -> torch.Tensor:
        """Encoded rows (B, D) -> normal scores (B, d)."""
        cols = []
        for kind, info in self.dims:
            if kind == "number":
                c, a, m = info
                k = x[:, m.start : m.start + m.size].argmax(1)
                means = torch.tensor(c["means"], device=x.device)[k]
                stds = torch.tensor(c["stds"], device=x.device)[k]
                v = x[:, a.start] * 4 * stds + means
                q = torch.tensor(c["quantiles"], device=x.device, dtype=v.dtype)
                u = _interp(v, q, self._probs.to(x.device, v.dtype))
            else:
                s, cdf = info
                cdf = cdf.to(x.device)
                j = x[:, s.start : s.start + s.size].argmax(1)
                w = torch.rand(len(x), device=x.device) if self.config.jitter else 0.5
                u = cdf[j] + w * (cdf[j + 1] - cdf[j])
            cols.append(_NORMAL.icdf(u.clamp(_EPS, 1 - _EPS)))
        return torch.stack(cols, 1)

    def training_step(
        self,
        nets: dict[str, nn.Module],
        opts: dict[str, torch.optim.Optimizer],
        next_batch: Callable[[], tuple[torch.Tensor, Any]],
        accelerator: Any,
    ) -> dict[str, torch.Tensor]:
        x, _ = next_batch()
        z = self.normal_scores(x.float())
        # (1) Maximise the log-likelihood of the normal scores under N(0, R)
        R = nets["copula"].matrix()
        nll = -torch.distributions.MultivariateNormal(torch.zeros_like(R[0]), R).log_prob(z).mean()
        opts["copula"].zero_grad(set_to_none=True)
        accelerator.backward(nll)
        opts["copula"].step()
        return {"loss": nll.detach()}

    @torch.no_grad()
    def sample(
        self, n: int, generator: torch.Generator | None = None, net: nn.Module | None = None
    ) -> torch.Tensor:
        R = (net or self.copula).matrix().float().cpu()
        chol = torch.linalg.cholesky(R)
        z = torch.randn(n, len(R), generator=generator) @ chol.T  # (n, d) ~ N(0, R)
        u = _NORMAL.cdf(z)
        rows = torch.zeros(n, self.spec.dim)
        for i, (kind, info) in enumerate(self.dims):
            if kind == "number":
                c, a, m = info
                v = _interp(u[:, i], self._probs, torch.tensor(c["quantiles"], dtype=torch.float32))
                means, stds = torch.tensor(c["means"]), torch.tensor(c["stds"])
                w = torch.tensor(c["weights"])
                # the mode whose Gaussian explains v best, and v's alpha within it
                logp = w.log() - stds.log() - 0.5 * ((v[:, None] - means) / stds) ** 2
                k = logp.argmax(1)
                rows[:, a.start] = ((v - means[k]) / (4 * stds[k])).clamp(-1, 1)
                rows[torch.arange(n), m.start + k] = 1
            else:
                s, cdf = info
                j = (torch.searchsorted(cdf, u[:, i].contiguous(), right=True) - 1).clamp(
                    0, s.size - 1
                )
                rows[torch.arange(n), s.start + j] = 1
        return rows
