"""`genforge bench train`: training throughput against the machine's own limits.

Measures, in one process: images/s and step time of the genforge training step (median of
several timed repeats after warm-up), the model's FLOPs per image (counted by
`torch.utils.flop_counter` on a real step: forward + backward of every network), the achieved
GFLOP/s, and the device's dense-matmul peak in fp32 and bf16. Optionally also the classic
PyTorch-examples DCGAN loop (a DataLoader decoding image files every step) on the same data.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from genforge.data import load_images
from genforge.models import ImageSpec, build_model, get_entry
from genforge.train.config import TrainConfig
from genforge.train.trainer import Trainer, make_accelerator


@dataclass
class BenchResult:
    label: str
    images_per_s: list[float]
    flops_per_image: float | None = None
    extra: dict = field(default_factory=dict)

    @property
    def median(self) -> float:
        return statistics.median(self.images_per_s)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def matmul_peak(device: torch.device, dtype: torch.dtype, n: int = 2048, repeats: int = 5) -> float:
    """Dense matmul throughput in GFLOP/s (median over `repeats`), the practical compute peak."""
    a = torch.randn(n, n, device=device).to(dtype)
    b = torch.randn(n, n, device=device).to(dtype)
    reps = 20 if device.type == "cuda" else 10
    for _ in range(2):
        a @ b
    _sync(device)
    rates = []
    for _ in range(repeats):
        t = time.perf_counter()
        for _ in range(reps):
            a @ b
        _sync(device)
        rates.append(2 * n**3 * reps / (time.perf_counter() - t) / 1e9)
    return statistics.median(rates)


def count_flops(trainer: Trainer) -> float:
    """FLOPs of one full training step (all phases, forward and backward), per image."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        trainer.step()
    n_critic = getattr(trainer.model.config, "n_critic", 1)
    return counter.get_total_flops() / (trainer.cfg.batch_size * n_critic)


def bench_genforge(
    model: str,
    image_size: int,
    batch_size: int,
    precision: str,
    steps: int,
    repeats: int,
    device: str = "auto",
    compile: bool = False,
    data: str = "photos",
) -> BenchResult:
    """Time the genforge training step (on-device data, channels_last, optional bf16)."""
    dataset = load_images(data, image_size)
    spec = ImageSpec(
        dataset.channels, dataset.image_size, dataset.num_classes, tuple(dataset.class_names)
    )
    torch.manual_seed(0)
    family = build_model(model, spec)
    entry = get_entry(model)
    overrides = {"batch_size": batch_size, "precision": precision, "device": device}
    cfg = TrainConfig(**{**entry.train, **overrides, "compile": compile, "steps": 10**9})
    trainer = Trainer(family, dataset, cfg)
    dev = trainer.accelerator.device
    flops = count_flops(trainer)
    for _ in range(3 if not compile else 10):  # warm-up (and compilation)
        trainer.step()
    _sync(dev)
    n_critic = getattr(family.config, "n_critic", 1)
    rates = []
    for _ in range(repeats):
        t = time.perf_counter()
        for _ in range(steps):
            trainer.step()
        _sync(dev)
        rates.append(steps * batch_size * n_critic / (time.perf_counter() - t))
    return BenchResult(f"genforge {precision}", rates, flops, {"device": str(dev)})


def bench_classic(
    image_size: int, batch_size: int, steps: int, repeats: int, device: str = "auto"
) -> BenchResult:
    """The pytorch/examples DCGAN loop: PNG files -> DataLoader(2 workers) -> fp32 step."""
    import numpy as np
    from PIL import Image

    from genforge.models.dcgan import DCGANConfig

    dev = make_accelerator(TrainConfig(device=device)).device
    data = load_images("photos", 128)
    with tempfile.TemporaryDirectory() as tmp:
        for i, img in enumerate(data.images[:512]):
            arr = ((img.permute(1, 2, 0).numpy() + 1) * 127.5).astype(np.uint8)
            Image.fromarray(arr).save(Path(tmp) / f"{i:04d}.png")
        files = sorted(Path(tmp).glob("*.png"))

        class Files(torch.utils.data.Dataset):
            def __len__(self):
                return len(files)

            def __getitem__(self, i):  # Resize + CenterCrop + ToTensor + Normalize, per image
                im = (
                    Image.open(files[i])
                    .convert("RGB")
                    .resize((image_size, image_size), Image.BILINEAR)
                )
                x = torch.from_numpy(np.asarray(im, dtype=np.float32) / 127.5 - 1).permute(2, 0, 1)
                return x, 0

        loader = torch.utils.data.DataLoader(
            Files(), batch_size=batch_size, shuffle=True, num_workers=2, drop_last=True
        )
        torch.manual_seed(0)
        model = build_model("dcgan", ImageSpec(3, image_size), {}).to(dev)
        G, D = model.generator, model.discriminator
        opt_g = torch.optim.Adam(G.parameters(), 2e-4, betas=(0.5, 0.999))
        opt_d = torch.optim.Adam(D.parameters(), 2e-4, betas=(0.5, 0.999))
        bce = torch.nn.BCEWithLogitsLoss()
        nz = DCGANConfig().latent_dim

        def step(real: torch.Tensor) -> None:
            real = real.to(dev)
            b = real.size(0)
            ones, zeros = torch.ones(b, device=dev), torch.zeros(b, device=dev)
            # (1) Update D: maximize log D(x) + log(1 - D(G(z)))
            opt_d.zero_grad()
            fake = G(torch.randn(b, nz, device=dev))
            loss_d = bce(D(real), ones) + bce(D(fake.detach()), zeros)
            loss_d.backward()
            opt_d.step()
            # (2) Update G: maximize log D(G(z))
            opt_g.zero_grad()
            bce(D(fake), ones).backward()
            opt_g.step()

        def batches():
            while True:
                yield from loader

        it = batches()
        for _ in range(3):
            step(next(it)[0])
        rates = []
        for _ in range(repeats):
            _sync(dev)
            t = time.perf_counter()
            for _ in range(steps):
                step(next(it)[0])
            _sync(dev)
            rates.append(steps * batch_size / (time.perf_counter() - t))
    return BenchResult("classic fp32", rates, None, {"device": str(dev)})
