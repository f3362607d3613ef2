"""`genforge bench serve`: a bounded load on a local server, batching on vs. off.

A fixed number of /v1/generate requests (n=1 each) from `clients` concurrent HTTP clients
against `genforge serve` started on 127.0.0.1 in a child process; requests/s over the whole
load, p50/p99 of the per-request latency. Figures, not a test.
"""

from __future__ import annotations

import http.client
import json
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from rich.table import Table

from genforge.bench.common import Log, check_at_least_one, check_one_of, median
from genforge.core.errors import GenforgeError


@dataclass
class ServeBench:
    """What `genforge bench serve` measures (its options, with their defaults)."""

    run: str | None = None  # run to serve (None: a fresh 1-step model)
    runs_dir: Path | None = None  # where `run` lives
    model: str = "dcgan"  # model of the fresh run
    image_size: int = 64  # image size of the fresh run
    requests: int = 256  # requests per timed load
    clients: int = 16  # concurrent HTTP clients
    repeats: int = 3  # timed loads per setting (medians reported)
    batch_wait_ms: float = 10.0  # batch collection window
    precision: str = "fp32"  # the server's generation arithmetic: fp32 or bf16
    batch_workers: int = 2  # batches in flight (batching on)

    def __post_init__(self) -> None:
        check_one_of("precision", self.precision, ("fp32", "bf16"))
        check_at_least_one(requests=self.requests, clients=self.clients, repeats=self.repeats)


@dataclass
class LoadResult:
    label: str
    requests: int
    seconds: float
    latencies: list[float]

    @property
    def rps(self) -> float:
        return self.requests / self.seconds

    def pct(self, q: float) -> float:
        xs = sorted(self.latencies)
        return xs[min(len(xs) - 1, round(q * (len(xs) - 1)))]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(runs: Path, port: int, args: list[str]) -> subprocess.Popen:
    import httpx

    cmd = [sys.executable, "-m", "genforge.cli.main", "serve", "--port", str(port),
           "--runs-dir", str(runs), "--log-level", "warning", "--rate-limit", "100000000", *args]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise GenforgeError(f"server failed: {proc.stderr.read().decode()[-500:]}")
        try:
            httpx.get(f"http://127.0.0.1:{port}/v1/info", timeout=1)
            return proc
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise GenforgeError("server did not start in 90 s")


class _Client:
    """One keep-alive HTTP/1.1 connection (the standard library's: a load generator sharing
    the server's two cores should cost as little CPU as possible)."""

    def __init__(self, base: str):
        host, port = base.removeprefix("http://").split(":")
        self.conn = http.client.HTTPConnection(host, int(port), timeout=120)

    def post(self, path: str, body: dict) -> tuple[int, bytes]:
        self.conn.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
        r = self.conn.getresponse()
        return r.status, r.read()

    def close(self) -> None:
        self.conn.close()


def _load(base: str, run: str, total: int, clients: int) -> tuple[float, list[float]]:
    """`total` requests from `clients` threads, each with its own keep-alive connection
    (opened before the clock starts)."""
    latencies: list[float] = []
    lock = threading.Lock()
    left = [total]
    errors: list[str] = []
    pool = [_Client(base) for _ in range(clients)]
    for c in pool:
        c.conn.request("GET", "/v1/info")
        c.conn.getresponse().read()
    start = threading.Barrier(clients + 1)

    def client(c: _Client) -> None:
        start.wait()
        while True:
            with lock:
                if left[0] == 0:
                    return
                left[0] -= 1
                i = left[0]
            t = time.perf_counter()
            status, content = c.post("/v1/generate", {"run": run, "n": 1, "seed": i})
            dt = time.perf_counter() - t
            with lock:
                if status != 200:
                    errors.append(content[:200].decode(errors="replace"))
                latencies.append(dt)

    threads = [threading.Thread(target=client, args=(c,)) for c in pool]
    for t in threads:
        t.start()
    start.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    seconds = time.perf_counter() - t0
    for c in pool:
        c.close()
    if errors:
        raise GenforgeError(f"{len(errors)} requests failed, e.g. {errors[0]}")
    return seconds, latencies


def make_bench_run(runs: Path, model: str, image_size: int) -> str:
    """A run of `model` at `image_size` (1 training step: speed does not depend on quality)."""
    from genforge.train.launch import train

    train(model, "digits", name="bench", runs_dir=runs, steps=1, batch_size=8,
          image_size=image_size, channels=3)  # fmt: skip
    return "bench"


@dataclass
class ServeSetting:
    label: str
    loads: list[LoadResult]  # the timed loads

    @property
    def rps(self) -> float:
        return median([r.rps for r in self.loads])

    def latency_ms(self, q: float) -> float:
        """Median over the loads of the latency quantile `q`, in milliseconds."""
        return median([r.pct(q) for r in self.loads]) * 1000


@dataclass
class ServeBenchResult:
    bench: ServeBench
    settings: list[ServeSetting]  # batching off, on, and no queue


def run_serve_bench(bench: ServeBench, log: Log = print) -> ServeBenchResult:
    """Batching off (the same one-model queue, batches of 1), on, and no queue at all (each
    request's forward in its own server thread, concurrently): `repeats` loads of `requests`
    each (after a warm-up), against `genforge serve` started for each setting."""
    b = bench
    log(f"{b.requests} requests (n=1) from {b.clients} clients, median of {b.repeats} loads; "
        f"{b.run or f'fresh {b.model} {b.image_size}px'} on CPU, {b.precision}")  # fmt: skip
    settings = [
        ("batching off (queue, batch of 1)", ["--max-batch", "1", "--batch-wait-ms", "0"]),
        ("batching on",
         ["--batch-wait-ms", str(b.batch_wait_ms), "--batch-workers", str(b.batch_workers)]),
        ("no queue (a forward per request thread)", ["--no-batching"]),
    ]  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        runs = Path(b.runs_dir) if b.runs_dir else Path(tmp)
        run = b.run if b.run is not None else make_bench_run(runs, b.model, b.image_size)
        out = []
        for label, args in settings:
            port = _free_port()
            env_state = runs / ".serve"
            proc = _start(runs, port, ["--db", str(env_state / f"bench-{port}.sqlite"),
                                       "--precision", b.precision, *args])  # fmt: skip
            try:
                base = f"http://127.0.0.1:{port}"
                _load(base, run, b.clients * 2, b.clients)  # warm-up: model loaded, threads started
                loads = []
                for _ in range(b.repeats):
                    secs, lats = _load(base, run, b.requests, b.clients)
                    loads.append(LoadResult(label, b.requests, secs, lats))
                out.append(ServeSetting(label, loads))
            finally:
                proc.terminate()
                proc.wait(timeout=60)
        return ServeBenchResult(bench, out)


def serve_table(res: ServeBenchResult) -> Table:
    """One row per setting: requests/s (median and range), p50 and p99 latency, their ratio,
    and requests/s relative to batching off."""
    table = Table("setting", "req/s", "range", "p50 ms", "p99 ms", "p99/p50", "vs off")
    base = None
    for s in res.settings:
        rps, p50, p99 = s.rps, s.latency_ms(0.5), s.latency_ms(0.99)
        base = base or rps
        rates = [r.rps for r in s.loads]
        table.add_row(s.label, f"{rps:,.1f}", f"{min(rates):,.1f}-{max(rates):,.1f}",
                      f"{p50:,.1f}", f"{p99:,.1f}", f"{p99 / p50:.2f}", f"{rps / base:.2f}x")  # fmt: skip
    return table
