"""Generation serving: an LRU cache of loaded runs and a dynamic batcher.

The batcher collects requests for up to `max_wait_ms` after the first one arrives, or until
`max_requests` are waiting, then runs one forward pass per run (the modality's `sample`
gets the whole list, and draws each request's noise from its own seeded generator, so a
batched result equals the unbatched one). Batching off: each request runs on its own.
"""

from __future__ import annotations

import queue
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from genforge.core.errors import GenforgeError
from genforge.core.run import Run
from genforge.data.modalities import get_modality
from genforge.serve.handlers import Request, ServeHandler, run_modality, serve_handler


@dataclass
class Loaded:
    run: Run | None  # None: a local model folder (`genforge serve --model-dir`)
    modality: str
    model_name: str
    handler: ServeHandler
    model: Any
    step: int
    mtime: float
    bytes: int
    precision: str = "fp32"
    device: str = "cpu"

    def sample(self, requests: list[Request]) -> list[list[Any]]:
        """One forward pass for `requests`, in this cache's precision (bf16: autocast)."""
        import torch

        kind = "cuda" if self.device.startswith("cuda") else "cpu"
        with torch.autocast(kind, torch.bfloat16, enabled=self.precision == "bf16"):
            return self.handler.sample(self.model, requests)


# Modules whose weights autocast casts to bf16 for every call (conv and linear layers).
_AUTOCAST_BF16 = ("Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d", "Linear")


def precast_bf16(net: Any) -> int:
    """Store the conv and linear weights of `net` in bf16, the type autocast would cast them
    to on every forward pass: the same arithmetic under autocast, without re-casting all the
    weights per call (for a DCGAN-64 generator that cast took longer than a batch-1 forward).
    Parametrised weights (spectral norm) are left alone. Returns the tensors cast."""
    import torch
    from torch.nn.utils import parametrize

    cast = 0
    for m in net.modules():
        if type(m).__name__ not in _AUTOCAST_BF16 or parametrize.is_parametrized(m):
            continue
        for name in ("weight", "bias"):
            t = getattr(m, name, None)
            if isinstance(t, torch.nn.Parameter) and t.dtype == torch.float32:
                setattr(m, name, torch.nn.Parameter(t.detach().to(torch.bfloat16), False))
                cast += 1
    return cast


def _model_bytes(model: Any) -> int:
    net = getattr(model, "model", model)
    try:
        return sum(p.numel() * p.element_size() for p in net.parameters())
    except AttributeError:
        return 0


class ModelCache:
    """Runs loaded once, evicted least-recently-used when their parameters exceed `max_mb`.

    A run trained further (its checkpoint file changed) is reloaded on the next request.
    """

    def __init__(self, max_mb: int = 1024, device: str = "cpu", precision: str = "fp32"):
        if precision not in ("fp32", "bf16"):
            raise GenforgeError(f"generation precision must be fp32 or bf16, got {precision!r}")
        self.max_bytes = max_mb * 2**20
        self.device = device
        self.precision = precision
        self._items: OrderedDict[str, Loaded] = OrderedDict()
        self._lock = threading.Lock()
        self.loads = 0

    def peek(self, run: Run) -> Loaded | None:
        """The loaded run if it is cached and current, else None (never loads: cheap enough
        for an event loop)."""
        mtime = _mtime(run)
        with self._lock:
            item = self._items.get(str(run.path))
            if item is not None and item.mtime == mtime:
                self._items.move_to_end(str(run.path))
                return item
        return None

    def get(self, run: Run) -> Loaded:
        mtime = _mtime(run)
        key = str(run.path)
        with self._lock:
            item = self._items.get(key)
            if item is not None and item.mtime == mtime:
                self._items.move_to_end(key)
                return item
            modality = run_modality(run)
            handler = serve_handler(modality)
            model = handler.load(run, self.device)
            if self.precision == "bf16" and get_modality(modality).unit == "images":
                # the sampling network runs only under autocast (`Loaded.sample`); the
                # discriminator (best-of scoring) also runs outside it and stays fp32
                net = model.model
                precast_bf16(net.networks()[net.sampling_network()])
            self.loads += 1
            name = run.read_config()["model"]
            item = Loaded(run, modality, name, handler, model, run.step, mtime,
                          _model_bytes(model), self.precision, self.device)  # fmt: skip
            self._items[key] = item
            self._items.move_to_end(key)
            while (
                len(self._items) > 1 and sum(i.bytes for i in self._items.values()) > self.max_bytes
            ):
                self._items.popitem(last=False)
            return item

    def drop(self, run_path: Path) -> None:
        with self._lock:
            self._items.pop(str(run_path), None)

    def __len__(self) -> int:
        return len(self._items)


def _mtime(run: Run) -> float:
    meta = run.model_dir / "meta.json"
    try:
        return meta.stat().st_mtime
    except FileNotFoundError:
        return 0.0


@dataclass
class _Pending:
    loaded: Loaded
    request: Request
    future: Future
    finish: Callable[[list[Any]], Any] | None = None


class Batcher:
    """Collect up to `max_requests` requests or `max_wait_ms`, then one forward pass per run."""

    def __init__(self, max_requests: int = 32, max_wait_ms: float = 10.0, workers: int = 2):
        if max_requests < 1 or workers < 1 or max_wait_ms < 0:
            raise GenforgeError("--max-batch and --batch-workers must be at least 1, "
                                "--batch-wait-ms at least 0")  # fmt: skip
        self.max_requests = max_requests
        self.max_wait = max_wait_ms / 1000
        self._q: queue.Queue[_Pending | None] = queue.Queue()
        self.batches: list[int] = []  # sizes of the batches run (for tests and the bench)
        # Two workers: one batch's forward pass overlaps the previous batch's encoding (each
        # request's `finish`, run by the worker that sampled it) instead of waiting for it.
        self._threads = [
            threading.Thread(target=self._loop, name=f"genforge-batcher-{i}", daemon=True)
            for i in range(workers)
        ]
        for t in self._threads:
            t.start()

    def submit(
        self,
        loaded: Loaded,
        request: Request,
        finish: Callable[[list[Any]], Any] | None = None,
    ) -> Future:
        """Queue `request`; the future gets its outputs, or `finish(outputs)` when given (the
        request's post-processing, run on the worker thread after the batch's forward pass).
        A future cancelled before its batch starts is skipped."""
        fut: Future = Future()
        self._q.put(_Pending(loaded, request, fut, finish))
        return fut

    def close(self) -> None:
        self._q.put(None)  # each worker puts it back for the next one
        for t in self._threads:
            t.join(timeout=5)

    def _loop(self) -> None:
        while True:
            first = self._q.get()
            if first is None:
                self._q.put(None)
                return
            batch = [first]
            deadline = time.monotonic() + self.max_wait
            while len(batch) < self.max_requests:
                remaining = deadline - time.monotonic()
                try:
                    item = (
                        self._q.get(timeout=max(remaining, 0))
                        if remaining > 0
                        else self._q.get_nowait()
                    )
                except queue.Empty:
                    break
                if item is None:
                    self._q.put(None)
                    break
                batch.append(item)
            self._run(batch)

    def _run(self, batch: list[_Pending]) -> None:
        groups: dict[int, list[_Pending]] = {}
        for p in batch:
            if p.future.set_running_or_notify_cancel():  # False: its caller gave up
                groups.setdefault(id(p.loaded.model), []).append(p)
        for items in groups.values():
            self.batches.append(len(items))
            loaded = items[0].loaded
            try:
                results = loaded.sample([p.request for p in items])
            except BaseException as e:  # one bad request fails its batch; retry them one by one
                if len(items) == 1:
                    items[0].future.set_exception(e)
                    continue
                for p in items:
                    self._run_one(p)
                continue
            for p, r in zip(items, results, strict=True):
                self._finish(p, r)

    def _run_one(self, p: _Pending) -> None:
        self.batches.append(1)
        try:
            result = p.loaded.sample([p.request])[0]
        except BaseException as e:
            p.future.set_exception(e)
            return
        self._finish(p, result)

    @staticmethod
    def _finish(p: _Pending, result: list[Any]) -> None:
        try:
            p.future.set_result(p.finish(result) if p.finish is not None else result)
        except BaseException as e:
            p.future.set_exception(e)


def sample_direct(loaded: Loaded, request: Request) -> list[Any]:
    """Batching off: this request alone."""
    return loaded.sample([request])[0]
