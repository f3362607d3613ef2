"""Batches for the training loop, resumable to the exact sample.

Small datasets live on the training device as one tensor and a batch is one gather (no
per-image Python work in the hot loop). Large folders stream through a DataLoader. Both walk a
seeded permutation per epoch, so (epoch, position) pins down the next batch on --resume.

Text trains on windows that start at random tokens (`WindowBatches`): the token stream lives
on the device and a batch is one gather of B random starts, drawn from a generator seeded by
the call count, so --resume continues with the exact windows.
"""

from __future__ import annotations

import os
from typing import Any

import torch

from genforge.core.errors import GenforgeError
from genforge.data import ImageDataset
from genforge.data.text import TextDataset
from genforge.data.transforms import augment


class Batches:
    """Callable returning the next (images, labels) batch on `device`."""

    def __init__(
        self,
        dataset: ImageDataset,
        batch_size: int,
        seed: int,
        device: torch.device,
        augmentations: tuple[str, ...] = (),
        channels_last: bool = False,
        num_workers: int | None = None,  # streamed folders; None: min(8, cores) on CUDA, else 2
        rank: int = 0,
        world_size: int = 1,
    ):
        n = len(dataset)
        if batch_size * world_size > n:
            raise GenforgeError(
                f"batch size {batch_size} x {world_size} process(es) is larger than the training "
                f"set ({n} images); use --batch-size {n // world_size} or less"
            )
        # Every process walks the same permutation; process r takes the r-th slice of each
        # global batch of batch_size * world_size images.
        self.rank, self.stride, self.offset = rank, batch_size * world_size, rank * batch_size
        self.n, self.batch_size, self.seed, self.device = n, batch_size, seed, device
        self.augmentations = augmentations
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        self.dataset = dataset
        if num_workers is None:
            num_workers = min(8, os.cpu_count() or 1) if device.type == "cuda" else 2
        self.num_workers = num_workers
        self.epoch, self.pos, self.calls = 0, 0, 0
        self._iter: Any = None
        if dataset.in_memory and dataset.images.dim() != 4:  # token windows, waveforms, rows
            self.memory_format = torch.contiguous_format  # channels-last exists for images only
        # multi-label data trains on its (N, A) attribute codes instead of class labels
        self.attributes = getattr(dataset, "attributes", None) is not None
        if dataset.in_memory:
            self.images = dataset.images.to(device).contiguous(memory_format=self.memory_format)
            labels = dataset.attributes if self.attributes else dataset.labels
            self.labels = labels.to(device) if labels is not None else None
        self._perm = self._permutation()

    def _permutation(self) -> torch.Tensor:
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        return torch.randperm(self.n, generator=g)

    def _next_epoch(self) -> None:
        self.epoch, self.pos, self._iter = self.epoch + 1, 0, None
        self._perm = self._permutation()

    def __call__(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        if self.pos + self.stride > self.n:  # drop the ragged tail of each epoch
            self._next_epoch()
        start = self.pos + self.offset
        if self.dataset.in_memory:
            idx = self._perm[start : start + self.batch_size].to(self.device)
            x = self.images[idx]  # (B, C, H, W), one gather on the device
            y = self.labels[idx] if self.labels is not None else None
        else:
            x, y = self._next_streamed()
        self.pos += self.stride
        self.calls += 1
        if self.augmentations:
            g = torch.Generator().manual_seed((self.seed * 7_919 + self.calls) * 131 + self.rank)
            x = augment(x, self.augmentations, generator=g)
        return x, y

    def _next_streamed(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        if self._iter is None:
            starts = range(
                self.pos + self.offset, self.n - self.stride + 1 + self.offset, self.stride
            )
            batches = [self._perm[s : s + self.batch_size].tolist() for s in starts]
            loader = torch.utils.data.DataLoader(
                self.dataset.stream,
                batch_sampler=batches,
                num_workers=self.num_workers,
                pin_memory=self.device.type == "cuda",
                # its own generator: seeding workers must not draw from the global RNG that
                # the training step samples noise from
                generator=torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch),
                persistent_workers=False,
            )
            self._iter = iter(loader)
        x, y = next(self._iter)
        x = x.to(self.device, non_blocking=True).contiguous(memory_format=self.memory_format)
        y = y.to(self.device) if self.dataset.num_classes or self.attributes else None
        return x, y

    def state_dict(self) -> dict[str, int]:
        return {"epoch": self.epoch, "pos": self.pos, "calls": self.calls}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.epoch, self.pos, self.calls = state["epoch"], state["pos"], state["calls"]
        self._perm, self._iter = self._permutation(), None


class WindowBatches:
    """Callable returning (B, block_size + 1) token windows, each starting at a token drawn
    uniformly from every position where a whole window fits (nanoGPT's sampling). Windows run
    across document boundaries, which the EOS token between documents marks."""

    def __init__(
        self, dataset: TextDataset, batch_size: int, seed: int, device: torch.device,
        rank: int = 0, world_size: int = 1,
    ):  # fmt: skip
        dataset.check_window()  # a corpus shorter than one window is a clear error
        self.dataset = dataset
        self.stream = torch.from_numpy(dataset.stream_ids.astype("int64")).to(device)
        self.window = dataset.block_size + 1
        self.num_starts = len(self.stream) - self.window + 1
        self.offsets = torch.arange(self.window, device=device)
        self.batch_size, self.seed, self.device = batch_size, seed, device
        self.rank, self.world_size = rank, world_size
        self.calls = 0

    def starts(self, call: int) -> torch.Tensor:
        """The window starts of batch number `call` on this process (B,), int64, on the CPU."""
        g = torch.Generator().manual_seed(
            (self.seed * 1_000_003 + call) * 1_009 + self.rank  # every process its own windows
        )
        return torch.randint(self.num_starts, (self.batch_size,), generator=g)

    def __call__(self) -> tuple[torch.Tensor, None]:
        idx = self.starts(self.calls).to(self.device, non_blocking=True)
        self.calls += 1
        return self.stream[idx[:, None] + self.offsets], None  # one gather on the device

    def state_dict(self) -> dict[str, int]:
        return {"epoch": 0, "pos": 0, "calls": self.calls}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.calls = state["calls"]


def make_batches(
    dataset: Any, batch_size: int, seed: int, device: torch.device, **options: Any
) -> Batches | WindowBatches:
    """The batch source for `dataset`: random token windows for text that samples them,
    otherwise a seeded permutation of the dataset's items."""
    if isinstance(dataset, TextDataset) and dataset.sampling == "random":
        return WindowBatches(dataset, batch_size, seed, device, options.get("rank", 0),
                             options.get("world_size", 1))  # fmt: skip
    return Batches(dataset, batch_size, seed, device, **options)
