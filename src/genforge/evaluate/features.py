"""Feature spaces for distribution metrics, each named for what it is.

- `InceptionSpace`: the standard InceptionV3 (torch-fidelity's `pt_inception-2015-12-05`
  port, through torchmetrics), only when its weights file is on disk. Numbers computed in it
  are "FID (Inception)", comparable with published FIDs.
- `DomainSpace`: a small network genforge trains on the real training data: a classifier when
  the data is labeled, an autoencoder otherwise. Numbers computed in it are "FD (domain
  classifier, digits)": useful to compare runs on the same data, never to be called FID.
  Trained once per dataset fingerprint and cached (`$GENFORGE_CACHE`, default
  ~/.cache/genforge/features).

Both map images (N, C, H, W) in [-1, 1] to features (N, D) in batches.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn

from genforge.core.errors import GenforgeError
from genforge.core.io import atomic_path, write_json
from genforge.evaluate.result import Section

MAX_REAL = 10_000  # real images used as the reference set (a random subset beyond that)

INCEPTION_FILE = "pt_inception-2015-12-05-6726825d.pth"
DOMAIN_VERSION = 1  # bump when the domain network or its training changes (invalidates caches)


def default_domain_steps() -> int:
    """Training steps of the domain network: $GENFORGE_DOMAIN_STEPS or 800."""
    return int(os.environ.get("GENFORGE_DOMAIN_STEPS") or 800)


def cache_root() -> Path:
    return Path(os.environ.get("GENFORGE_CACHE") or Path.home() / ".cache" / "genforge")


def inception_weights_path(path: str | Path | None = None) -> Path | None:
    """Where the Inception weights are: `path`, $GENFORGE_INCEPTION_WEIGHTS, or the cache
    folder (~/.cache/genforge/pt_inception-2015-12-05-6726825d.pth); None when absent."""
    candidates = [path, os.environ.get("GENFORGE_INCEPTION_WEIGHTS"), cache_root() / INCEPTION_FILE]
    for c in candidates:
        if c and Path(c).is_file():
            return Path(c)
    if path:
        raise GenforgeError(f"Inception weights file not found: {path}")
    return None


def to_uint8_rgb(images: torch.Tensor) -> torch.Tensor:
    """[-1, 1] float (N, C, H, W) -> uint8 (N, 3, H, W), gray repeated to 3 channels."""
    x = ((images.float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    return x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x


# ---------------------------------------------------------------------------------------
# Inception (standard, when the weights are present)
# ---------------------------------------------------------------------------------------


class InceptionSpace:
    """InceptionV3 pool features (2048) and logits, from torch-fidelity's weights file."""

    kind = "inception"
    label = "Inception"

    def __init__(self, weights: str | Path, device: torch.device | str = "cpu"):
        try:
            from torchmetrics.image.fid import NoTrainInceptionV3
        except (ImportError, ModuleNotFoundError) as e:  # torch-fidelity missing
            raise GenforgeError(
                "Inception features need torch-fidelity: pip install --no-deps torch-fidelity "
                f"({e})"
            ) from None
        try:  # never unpickle a user file freely: tensors only
            state = torch.load(weights, map_location="cpu", weights_only=True)
        except Exception as e:
            raise GenforgeError(f"cannot read Inception weights {weights}: {e}") from None
        if not isinstance(state, dict) or not all(torch.is_tensor(v) for v in state.values()):
            raise GenforgeError(f"{weights} is not an InceptionV3 state dict")
        # torch-fidelity reloads the path with weights_only=False; hand it our own re-saved copy
        # of the verified tensors, never the user's file.
        with tempfile.TemporaryDirectory() as tmp:
            trusted = Path(tmp) / "inception.pth"
            torch.save(state, trusted)
            try:
                self.net = NoTrainInceptionV3(
                    name="inception-v3-compat",
                    features_list=["2048", "logits_unbiased"],
                    feature_extractor_weights_path=str(trusted),
                )
            except RuntimeError as e:
                raise GenforgeError(f"{weights} does not match InceptionV3: {e}") from None
        self.device = torch.device(device)
        self.net.to(self.device)
        self.num_classes = 1008

    @torch.no_grad()
    def _forward(self, images: torch.Tensor, batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
        feats, logits = [], []
        for i in range(0, len(images), batch_size):
            x = to_uint8_rgb(images[i : i + batch_size]).to(self.device)
            f, lg = self.net._torch_fidelity_forward(x)
            feats.append(f.reshape(len(x), -1).double().cpu())
            logits.append(lg.reshape(len(x), -1).double().cpu())
        return torch.cat(feats), torch.cat(logits)

    def features(self, images: torch.Tensor, batch_size: int = 64) -> torch.Tensor:
        return self._forward(images, batch_size)[0]

    def logits(self, images: torch.Tensor, batch_size: int = 64) -> torch.Tensor:
        return self._forward(images, batch_size)[1]


# ---------------------------------------------------------------------------------------
# Domain networks (trained by genforge on the real data)
# ---------------------------------------------------------------------------------------


class DomainEncoder(nn.Module):
    """Conv stack halving the size down to 4x4, then a linear map to `dim` features."""

    def __init__(self, channels: int, size: int, width: int = 32, dim: int = 128):
        super().__init__()
        layers: list[nn.Module] = []
        c, w, s = channels, width, size
        while s > 4:
            layers += [
                nn.Conv2d(c, w, 3, 1, 1),
                nn.LeakyReLU(0.2),
                nn.Conv2d(w, w, 4, 2, 1),  # (B, w, s/2, s/2)
                nn.LeakyReLU(0.2),
            ]
            c, w, s = w, min(w * 2, 256), s // 2
        self.conv = nn.Sequential(*layers)
        self.out_channels, self.out_size = c, s
        self.fc = nn.Linear(c * s * s, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.conv(x).flatten(1))  # (B, dim)


class DomainDecoder(nn.Module):
    def __init__(self, encoder: DomainEncoder, channels: int, size: int, dim: int = 128):
        super().__init__()
        c, s = encoder.out_channels, encoder.out_size
        self.fc = nn.Linear(dim, c * s * s)
        self.shape = (c, s, s)
        layers: list[nn.Module] = []
        while s < size:
            nc = max(c // 2, 32)
            layers += [nn.LeakyReLU(0.2), nn.ConvTranspose2d(c, nc, 4, 2, 1)]
            c, s = nc, s * 2
        layers += [nn.LeakyReLU(0.2), nn.Conv2d(c, channels, 3, 1, 1), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(self.fc(z).view(-1, *self.shape))


class DomainNet(nn.Module):
    """Encoder plus a classifier head (labeled data) or a decoder (unlabeled data)."""

    def __init__(self, channels: int, size: int, num_classes: int, dim: int = 128):
        super().__init__()
        self.encoder = DomainEncoder(channels, size, dim=dim)
        self.num_classes = num_classes
        if num_classes >= 2:
            self.head: nn.Module = nn.Sequential(nn.LeakyReLU(0.2), nn.Linear(dim, num_classes))
        else:
            self.head = DomainDecoder(self.encoder, channels, size, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(x))


@dataclass
class DomainSpace:
    """A trained domain network used as a feature extractor."""

    net: DomainNet
    data_name: str
    info: dict[str, Any]
    device: torch.device

    @property
    def kind(self) -> str:
        return "domain-classifier" if self.net.num_classes >= 2 else "domain-autoencoder"

    @property
    def label(self) -> str:
        what = "classifier" if self.net.num_classes >= 2 else "autoencoder"
        return f"domain {what}, {self.data_name}"

    @property
    def num_classes(self) -> int:
        return self.net.num_classes if self.net.num_classes >= 2 else 0

    @torch.no_grad()
    def features(self, images: torch.Tensor, batch_size: int = 512) -> torch.Tensor:
        self.net.eval()
        out = [
            self.net.encoder(images[i : i + batch_size].to(self.device).float()).double().cpu()
            for i in range(0, len(images), batch_size)
        ]
        return torch.cat(out) if out else torch.zeros(0, 128, dtype=torch.float64)

    @torch.no_grad()
    def logits(self, images: torch.Tensor, batch_size: int = 512) -> torch.Tensor | None:
        if self.net.num_classes < 2:
            return None
        self.net.eval()
        out = [
            self.net(images[i : i + batch_size].to(self.device).float()).double().cpu()
            for i in range(0, len(images), batch_size)
        ]
        return torch.cat(out)


def fingerprint(images: torch.Tensor, labels: torch.Tensor | None, steps: int) -> str:
    """Hash of the exact training data (as uint8 pixels) and the training recipe."""
    h = hashlib.sha256()
    h.update(f"v{DOMAIN_VERSION}:{steps}:{tuple(images.shape)}".encode())
    h.update(((images.float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).numpy().tobytes())
    if labels is not None:
        h.update(labels.to(torch.int64).numpy().tobytes())
    return h.hexdigest()[:24]


def train_domain_net(
    images: torch.Tensor,
    labels: torch.Tensor | None,
    steps: int = 800,
    batch_size: int = 64,
    seed: int = 0,
    device: torch.device | str = "cpu",
    progress: Any = None,
) -> DomainNet:
    """Train the domain classifier (labels given) or autoencoder on `images` in [-1, 1]."""
    from genforge.data.transforms import augment

    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    n, c, s = images.shape[0], images.shape[1], images.shape[-1]
    num_classes = int(labels.max()) + 1 if labels is not None and len(labels) else 0
    net = DomainNet(c, s, num_classes if num_classes >= 2 else 0).to(device)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=2e-3, total_steps=steps)
    batch_size = min(batch_size, n)
    net.train()
    for step in range(steps):
        idx = torch.randint(0, n, (batch_size,), generator=g)
        x = images[idx].to(device)
        if labels is not None and num_classes >= 2:
            x = augment(x, ("crop",), generator=g)  # small shifts: robust to generator jitter
            loss = F.cross_entropy(net(x), labels[idx].to(device))
        else:
            loss = F.mse_loss(net(x), x)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        if progress is not None:
            progress(step + 1, steps)
    net.eval()
    return net


def domain_space(
    images: torch.Tensor,
    labels: torch.Tensor | None,
    data_name: str,
    steps: int = 800,
    device: torch.device | str = "cpu",
    val: tuple[torch.Tensor, torch.Tensor | None] | None = None,
    progress: Any = None,
) -> DomainSpace:
    """The domain feature space for this training data, from the cache or trained now.

    Args:
        images: real training images (N, C, H, W) in [-1, 1].
        labels: their labels (N,) or None (then an autoencoder is trained).
        data_name: shown in metric labels ("FD (domain classifier, digits)").
        steps: optimisation steps when training.
        val: held-out (images, labels) to record the classifier's accuracy in the cache info.
    """
    from safetensors.torch import load_file, save_file

    key = fingerprint(images, labels, steps)
    folder = cache_root() / "features" / key
    weights, info_path = folder / "weights.safetensors", folder / "info.json"
    c, s = images.shape[1], images.shape[-1]
    num_classes = int(labels.max()) + 1 if labels is not None and len(labels) else 0
    device = torch.device(device)
    if weights.exists() and info_path.exists():
        import json

        info = json.loads(info_path.read_text())
        net = DomainNet(c, s, num_classes if num_classes >= 2 else 0)
        net.load_state_dict(load_file(str(weights)))
        return DomainSpace(net.to(device).eval(), data_name, {**info, "cached": True}, device)
    t0 = time.perf_counter()
    net = train_domain_net(images, labels, steps=steps, device=device, progress=progress)
    info: dict[str, Any] = {
        "kind": "classifier" if num_classes >= 2 else "autoencoder",
        "data": data_name,
        "train_items": int(images.shape[0]),
        "steps": steps,
        "train_seconds": round(time.perf_counter() - t0, 2),
        "version": DOMAIN_VERSION,
    }
    space = DomainSpace(net, data_name, info, device)
    if val is not None and len(val[0]):
        if num_classes >= 2 and val[1] is not None:
            pred = space.logits(val[0]).argmax(1)
            info["val_accuracy"] = float((pred == val[1]).double().mean())
        elif num_classes < 2:
            with torch.no_grad():
                rec = net(val[0].to(device)).cpu()
            info["val_mse"] = float(F.mse_loss(rec, val[0]))
    folder.mkdir(parents=True, exist_ok=True)
    with atomic_path(weights) as tmp:
        save_file({k: v.detach().cpu().contiguous() for k, v in net.state_dict().items()}, str(tmp))
    write_json(info_path, info)
    space.info = {**info, "cached": False}
    return space


FeatureChoice = Literal["auto", "domain", "inception"]


def feature_space(
    choice: FeatureChoice,
    images: torch.Tensor,
    labels: torch.Tensor | None,
    data_name: str,
    inception_weights: str | Path | None = None,
    device: torch.device | str = "cpu",
    val: tuple[torch.Tensor, torch.Tensor | None] | None = None,
    domain_steps: int | None = None,
    progress: Any = None,
) -> InceptionSpace | DomainSpace:
    """Inception when asked for (or "auto" and its weights are on disk), else the domain net."""
    if choice not in ("auto", "domain", "inception"):
        raise GenforgeError(f"unknown feature space '{choice}'; choose auto, domain or inception")
    if choice in ("auto", "inception"):
        path = inception_weights_path(inception_weights)
        if path is not None:
            return InceptionSpace(path, device)
        if choice == "inception":
            raise GenforgeError(
                f"Inception weights not found; put {INCEPTION_FILE} in {cache_root()} or set "
                "GENFORGE_INCEPTION_WEIGHTS (genforge never downloads them)"
            )
    return domain_space(
        images, labels, data_name, steps=domain_steps or default_domain_steps(), device=device,
        val=val, progress=progress,
    )  # fmt: skip


def space_section(space: Any) -> Section:
    """What the feature space is, for the report (image and translation evaluators)."""
    s = space
    if s.kind == "inception":
        text = (
            "<p>Features: InceptionV3 pool3 (2048-d), torch-fidelity weights "
            "pt_inception-2015-12-05, via torchmetrics. FID/KID numbers are comparable "
            "with published ones (at equal sample counts).</p>"
        )
    else:
        info = s.info
        acc = info.get("val_accuracy")
        text = (
            f"<p>Features: a {info.get('kind')} genforge trained on the real training data "
            f"({info.get('train_items')} images, {info.get('steps')} steps"
            + (f", held-out accuracy {acc:.3f}" if acc is not None else "")
            + f"), {'loaded from the cache' if info.get('cached') else 'trained now and cached'}."
            " Its Fréchet distance is labelled FD, not FID: compare it only between runs on "
            "the same data. For standard FID put pt_inception-2015-12-05-6726825d.pth in "
            "~/.cache/genforge/ (or set GENFORGE_INCEPTION_WEIGHTS).</p>"
        )
    return Section("Feature space", text)
