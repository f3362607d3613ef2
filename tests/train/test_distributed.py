"""Several processes (accelerate launch on CPU, gloo): gradients are averaged, runs complete."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from genforge.train.distributed import average_gradients


def _worker(rank: int, world: int, port: str, out: dict) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=port)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    p = torch.nn.Parameter(torch.zeros(3))
    p.grad = torch.full((3,), float(rank + 1))  # rank 0: 1, rank 1: 2
    q = torch.nn.Parameter(torch.zeros(2))  # no gradient: left alone
    average_gradients([p, q], world)
    out[rank] = p.grad.tolist()
    dist.destroy_process_group()


def test_average_gradients_across_two_processes():
    with mp.Manager() as manager:
        out = manager.dict()
        mp.spawn(_worker, args=(2, "29533", out), nprocs=2, join=True)
        assert out[0] == out[1] == [1.5, 1.5, 1.5]


@pytest.mark.skipif(
    shutil.which("accelerate", path=os.path.dirname(sys.executable)) is None,
    reason="accelerate CLI",
)
def test_accelerate_launch_two_cpu_processes(tmp_path):
    """wgan-gp: a critic called three times and a double backward, under 2 processes."""
    launcher = os.path.join(os.path.dirname(sys.executable), "accelerate")
    cmd = [
        launcher, "launch", "--cpu", "--num_processes", "2", "--num_machines", "1",
        "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", "29541",
        "-m", "genforge.cli.main", "train", "wgan-gp", "--data", "digits", "--name", "ddp",
        "--runs-dir", str(tmp_path), "--steps", "3", "--image-size", "8", "--batch-size", "8",
        "--set", "ngf=8", "--set", "ndf=8", "--set", "log_every=1",
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=240, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.count("done: run ddp at step 3") == 1  # reported by the main process only
    from genforge.core.run import Run

    run = Run(tmp_path / "ddp")
    assert run.step == 3 and [m["step"] for m in run.metrics()] == [1, 2, 3]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ddp"]  # one shared run folder
