"""`genforge bench train`: training throughput against the machine's own limits.

Measures, in one process: images/s and step time of the genforge training step (median of
several timed repeats after warm-up), the model's FLOPs per image (counted by
`torch.utils.flop_counter` on a real step: forward + backward of every network), the achieved
GFLOP/s, and the device's dense-matmul peak in fp32 and bf16. Optionally also the reference:
pytorch/examples `dcgan/main.py`'s own configuration (ImageFolder of PNG files, its transforms,
min(8, cores) DataLoader workers, pinned memory, fp32) with the same networks.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from rich.table import Table

from genforge.bench.common import Log, median, sync
from genforge.core.errors import GenforgeError
from genforge.data import load_images
from genforge.models import ImageSpec, build_model, get_entry
from genforge.train.config import TrainConfig
from genforge.train.trainer import Trainer, make_accelerator

PRECISIONS = ("fp32", "bf16", "fp16")


@dataclass
class TrainBench:
    """What `genforge bench train` measures (its options, with their defaults)."""

    model: str = "dcgan"
    image_size: int = 64
    batch_size: int = 64
    precision: str = "fp32,bf16"  # fp32, bf16, fp16, or a comma list
    steps: int = 10  # per timed repeat
    repeats: int = 5  # timed repeats (the median is reported)
    device: str = "auto"
    compile: bool = False
    baseline: bool = True  # also time the reference loop (pytorch/examples dcgan/main.py)

    def precisions(self) -> list[str]:
        out = [p.strip() for p in self.precision.split(",") if p.strip()]
        for p in out:
            if p not in PRECISIONS:
                raise GenforgeError(f"unknown precision '{p}'; known: bf16, fp16, fp32")
        return out


@dataclass
class BenchResult:
    label: str
    images_per_s: list[float]
    flops_per_image: float | None = None
    extra: dict = field(default_factory=dict)

    @property
    def median(self) -> float:
        return median(self.images_per_s)


def matmul_peak(device: torch.device, dtype: torch.dtype, n: int = 2048, repeats: int = 5) -> float:
    """Dense matmul throughput in GFLOP/s (median over `repeats`), the practical compute peak."""
    a = torch.randn(n, n, device=device).to(dtype)
    b = torch.randn(n, n, device=device).to(dtype)
    reps = 20 if device.type == "cuda" else 10
    for _ in range(2):
        a @ b
    sync(device)
    rates = []
    for _ in range(repeats):
        t = time.perf_counter()
        for _ in range(reps):
            a @ b
        sync(device)
        rates.append(2 * n**3 * reps / (time.perf_counter() - t) / 1e9)
    return median(rates)


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
    device: str,
    compile: bool,
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
    sync(dev)
    n_critic = getattr(family.config, "n_critic", 1)
    rates = []
    for _ in range(repeats):
        t = time.perf_counter()
        for _ in range(steps):
            trainer.step()
        sync(dev)
        rates.append(steps * batch_size * n_critic / (time.perf_counter() - t))
    return BenchResult(f"genforge {precision}", rates, flops, {"device": str(dev)})


def timed_rates(
    step: Callable[[], None], dev: torch.device, steps: int, repeats: int, batch_size: int
) -> list[float]:
    """Images/s of a reference loop's `step`: 3 warm-up steps, then `repeats` timed runs of
    `steps` steps, each between device syncs."""
    for _ in range(3):
        step()
    rates = []
    for _ in range(repeats):
        sync(dev)
        t = time.perf_counter()
        for _ in range(steps):
            step()
        sync(dev)
        rates.append(steps * batch_size / (time.perf_counter() - t))
    return rates


def reference_workers() -> int:
    """DataLoader workers of the reference loop: min(8, CPU cores)."""
    import os

    return min(8, os.cpu_count() or 1)


def reference_dataset(root: Path, image_size: int) -> tuple[Any, str]:
    """dcgan/main.py's dataset over an ImageFolder tree: Resize(image_size) (shorter side),
    CenterCrop, ToTensor, Normalize(0.5, 0.5). torchvision's own classes when it is installed,
    else the same steps in PIL; the second value says which ran."""
    try:
        import torchvision.datasets as dset
        import torchvision.transforms as T
    except ImportError:
        pass
    else:
        tf = T.Compose([T.Resize(image_size), T.CenterCrop(image_size), T.ToTensor(),
                        T.Normalize((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))])  # fmt: skip
        return dset.ImageFolder(root=str(root), transform=tf), "torchvision ImageFolder"
    return PILImageFolder(root, image_size), "ImageFolder steps in PIL (no torchvision)"


class PILImageFolder(torch.utils.data.Dataset):
    """ImageFolder + Resize + CenterCrop + ToTensor + Normalize(0.5, 0.5) without torchvision:
    every item decodes its PNG file, as the reference's loader does."""

    def __init__(self, root: Path, image_size: int):
        self.files = sorted(p for p in root.rglob("*.png"))
        self.size = image_size

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        import numpy as np
        from PIL import Image

        im = Image.open(self.files[i]).convert("RGB")
        w, h = im.size
        scale = self.size / min(w, h)  # Resize(int): the shorter side to `size`, bilinear
        im = im.resize((max(self.size, round(w * scale)), max(self.size, round(h * scale))),
                       Image.BILINEAR)  # fmt: skip
        left, top = (im.width - self.size) // 2, (im.height - self.size) // 2
        im = im.crop((left, top, left + self.size, top + self.size))
        x = torch.from_numpy(np.asarray(im, dtype=np.float32) / 255.0).permute(2, 0, 1)
        return (x - 0.5) / 0.5, 0


def bench_reference(
    image_size: int, batch_size: int, steps: int, repeats: int, device: str
) -> BenchResult:
    """The reference: pytorch/examples `dcgan/main.py`'s configuration. PNG files in an
    ImageFolder tree, its transforms, a shuffled DataLoader with min(8, cores) workers and
    pinned memory, Adam(2e-4, betas 0.5/0.999), BCE on D(real)/D(G(z)) and G's non-saturating
    step, fp32; the networks are genforge's DCGAN, which has main.py's layers."""
    import numpy as np
    from PIL import Image

    from genforge.models.dcgan import DCGANConfig

    dev = make_accelerator(TrainConfig(device=device, precision="fp32")).device
    data = load_images("photos", 128)
    workers = reference_workers()
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "photos").mkdir()
        for i, img in enumerate(data.images[:512]):
            arr = ((img.permute(1, 2, 0).numpy() + 1) * 127.5).astype(np.uint8)
            Image.fromarray(arr).save(Path(tmp) / "photos" / f"{i:04d}.png")
        dataset, kind = reference_dataset(Path(tmp), image_size)
        loader = torch.utils.data.DataLoader(
            dataset, batch_size=batch_size, shuffle=True, num_workers=workers,
            pin_memory=dev.type == "cuda", persistent_workers=workers > 0,
        )  # fmt: skip
        torch.manual_seed(0)
        model = build_model("dcgan", ImageSpec(3, image_size), {}).to(dev)
        G, D = model.generator, model.discriminator
        opt_g = torch.optim.Adam(G.parameters(), 2e-4, betas=(0.5, 0.999))
        opt_d = torch.optim.Adam(D.parameters(), 2e-4, betas=(0.5, 0.999))
        bce = torch.nn.BCEWithLogitsLoss()  # main.py: Sigmoid + BCELoss, the same loss
        nz = DCGANConfig().latent_dim

        def step(real: torch.Tensor) -> None:
            real = real.to(dev, non_blocking=True)
            b = real.size(0)
            ones, zeros = torch.full((b,), 1.0, device=dev), torch.full((b,), 0.0, device=dev)
            # (1) Update D: maximize log D(x) + log(1 - D(G(z)))
            opt_d.zero_grad()
            fake = G(torch.randn(b, nz, device=dev))
            loss_d = bce(D(real).view(-1), ones) + bce(D(fake.detach()).view(-1), zeros)
            loss_d.backward()
            opt_d.step()
            # (2) Update G: maximize log D(G(z))
            opt_g.zero_grad()
            bce(D(fake).view(-1), ones).backward()
            opt_g.step()

        def batches():
            while True:
                yield from loader

        it = batches()
        rates = timed_rates(lambda: step(next(it)[0]), dev, steps, repeats, batch_size)
    label = "reference fp32 (dcgan/main.py)"
    settings = {"device": str(dev), "loader": kind, "workers": workers,
                "pin_memory": dev.type == "cuda"}  # fmt: skip
    return BenchResult(label, rates, None, settings)


def bench_ddpm_reference(
    image_size: int, batch_size: int, precision: str, steps: int, repeats: int, device: str,
    data: str = "photos",
) -> BenchResult:  # fmt: skip
    """The reference for diffusion: the training loop of diffusers'
    `examples/unconditional_image_generation/train_unconditional.py` written out plainly, on the
    same UNet2DModel genforge's ddpm builds: DDPMScheduler (1000 steps, linear betas) adds
    noise, MSE on epsilon, AdamW(1e-4, betas 0.95/0.999, weight decay 1e-6; fused on CUDA),
    autocast at `precision`, channels-last on CUDA, the images already on the device."""
    import torch.nn.functional as F
    from diffusers import DDPMScheduler

    dataset = load_images(data, image_size)
    spec = ImageSpec(dataset.channels, dataset.image_size)
    dev = make_accelerator(TrainConfig(device=device, precision="fp32")).device
    torch.manual_seed(0)
    unet = build_model("ddpm", spec).unet.to(dev)
    if dev.type == "cuda":
        unet = unet.to(memory_format=torch.channels_last)
    scheduler = DDPMScheduler(num_train_timesteps=1000, beta_schedule="linear")
    opt = torch.optim.AdamW(unet.parameters(), lr=1e-4, betas=(0.95, 0.999), weight_decay=1e-6,
                            eps=1e-8, fused=dev.type == "cuda")  # fmt: skip
    images = dataset.images.to(dev)
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision)

    def step() -> None:
        x0 = images[torch.randint(0, len(images), (batch_size,), device=dev)]
        noise = torch.randn_like(x0)
        t = torch.randint(0, 1000, (batch_size,), device=dev)
        x_t = scheduler.add_noise(x0, noise, t)
        with torch.autocast(dev.type, dtype=dtype or torch.float32, enabled=dtype is not None):
            pred = unet(x_t, t).sample
        loss = F.mse_loss(pred.float(), noise.float())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    rates = timed_rates(step, dev, steps, repeats, batch_size)
    return BenchResult(f"reference {precision} (diffusers loop)", rates, None, {"device": str(dev)})


@dataclass
class TrainBenchResult:
    bench: TrainBench
    peaks: dict[str, float]  # precision -> dense matmul GFLOP/s
    results: list[tuple[BenchResult, str]]  # (timings, precision); references first

    def reference(self, precision: str) -> BenchResult | None:
        """The reference loop at `precision`, else the first reference (dcgan/main.py is fp32
        only), else None."""
        refs = [(r, p) for r, p in self.results if r.label.startswith("reference")]
        return next((r for r, p in refs if p == precision), refs[0][0] if refs else None)


def run_train_bench(bench: TrainBench, log: Log = print) -> TrainBenchResult:
    """Measure the device's matmul peaks, then the reference loop (optional) and the genforge
    step at each precision; `log` gets the device line and the peaks before the timing."""
    precisions = bench.precisions()
    dev = make_accelerator(TrainConfig(device=bench.device)).device
    threads = torch.get_num_threads()
    log(f"device {dev} ({torch.cuda.get_device_name() if dev.type == 'cuda' else f'{threads} CPU threads'}), "
        f"torch {torch.__version__}, {bench.model} {bench.image_size}px, batch {bench.batch_size}, "
        f"median of {bench.repeats} x {bench.steps} steps")  # fmt: skip
    peaks = {"fp32": matmul_peak(dev, torch.float32), "bf16": matmul_peak(dev, torch.bfloat16)}
    if dev.type == "cuda":
        peaks["fp16"] = matmul_peak(dev, torch.float16)
    log("matmul peak: " + ", ".join(f"{k} {v:,.0f} GFLOP/s" for k, v in peaks.items()))
    b = bench
    results = []
    if b.baseline and b.model == "ddpm":
        log(
            "reference: the training loop of diffusers' train_unconditional.py, written out, on "
            "the same UNet2DModel (DDPMScheduler, MSE, AdamW, autocast, data on the device)"
        )
        for p in precisions:
            results.append((bench_ddpm_reference(b.image_size, b.batch_size, p, b.steps,
                                                 b.repeats, b.device), p))  # fmt: skip
    elif b.baseline and b.model == "dcgan":
        ref = bench_reference(b.image_size, b.batch_size, b.steps, b.repeats, b.device)
        x = ref.extra
        log(f"reference: pytorch/examples dcgan/main.py's configuration: {x['loader']}, "
            f"{x['workers']} DataLoader workers, pinned memory {'on' if x['pin_memory'] else 'off'}"
            ", Adam 2e-4, fp32, the same networks")  # fmt: skip
        results.append((ref, "fp32"))
    elif b.baseline:
        log(f"no reference loop for {b.model} (dcgan and ddpm have one); genforge only")
    for p in precisions:
        results.append((bench_genforge(b.model, b.image_size, b.batch_size, p, b.steps,
                                       b.repeats, b.device, b.compile), p))  # fmt: skip
    return TrainBenchResult(bench, peaks, results)


def train_table(res: TrainBenchResult) -> Table:
    """One row per loop: images/s (median and range), ms/step, FLOPs, achieved GFLOP/s, % of
    the matmul peak at its precision, and speed relative to the reference loop."""
    flops = next((r.flops_per_image for r, _ in res.results if r.flops_per_image), None)
    peaks, batch_size = res.peaks, res.bench.batch_size
    table = Table(
        "loop", "img/s", "range", "ms/step", "GFLOP/img", "GFLOP/s", "%peak", "vs reference"
    )
    for r, p in res.results:
        f = r.flops_per_image or flops  # the reference loop runs the same networks
        achieved = r.median * f / 1e9 if f else None
        table.add_row(
            r.label, f"{r.median:,.1f}", f"{min(r.images_per_s):,.1f}-{max(r.images_per_s):,.1f}",
            f"{batch_size / r.median * 1000:,.1f}", f"{f / 1e9:.3f}" if f else "-",
            f"{achieved:,.1f}" if achieved else "-",
            f"{100 * achieved / peaks.get(p, peaks['fp32']):.0f}%" if achieved else "-",
            f"{r.median / ref.median:.2f}x" if (ref := res.reference(p)) else "-",
        )  # fmt: skip
    return table
