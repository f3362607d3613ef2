"""medical-augment on `phantoms` with generator training sized to a wall-clock budget, several
variants side by side on one GPU (a lent machine's 15 minutes go to one call of this script).

    python scripts/gpu_medical.py OUT --budget 420 \\
        --variant A:32:32,64,64:1 --variant B:32:64,128,128:2 --variant C:64:32,64,128,128:1

A variant is NAME:IMAGE_SIZE:WIDTHS:LAYERS_PER_BLOCK of a `cddpm`. Each variant runs in its own
process: a 20-step warm-up training (CUDA and cuDNN start-up, so it is not mistaken for training
time), two probe trainings (100 and 400 steps) whose difference gives steps/s with the other
variants running, then the recipe with as many steps as fit before `--budget` seconds, less a
reserve for sampling, the utility test and the report (more at 64 px). Everything lands in
OUT/NAME/ (the recipe's folder `aug/`, its runs in `runs/`, `log.txt`); OUT/NAME.tgz packs it
without weights or optimizer state. On a machine without diffusers, install its wheel first (`device`
README: `pip download diffusers importlib_metadata` into an ignored folder that the call carries).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tarfile
import time
from pathlib import Path

RESERVE_S = {32: 120.0, 64: 260.0}  # after training: sampling, utility (CPU), report


def one(
    out: Path, name: str, size: int, widths: list[int], layers: int, deadline: float,
    probes: tuple[int, int, int] = (20, 100, 400),
) -> None:  # fmt: skip
    import torch

    from genforge.recipes import medical as M
    from genforge.train.launch import train

    torch.backends.cuda.matmul.allow_tf32 = True
    opts = {"block_out_channels": widths, "layers_per_block": layers}
    cfg = M.MedicalConfig(
        data="phantoms", out=str(out / "aug"), real_per_class=50, target_per_class=250,
        image_size=size, generator="cddpm", batch_size=64, seeds=5, runs_dir=str(out / "runs"),
        model_options=dict(opts), name=f"med-{name}",
    )  # fmt: skip
    original = M.generate.train_generator

    def sized(cfg: M.MedicalConfig, staged: M.Staged, model: str, progress: bool):
        def probe(steps: int) -> float:
            t = time.perf_counter()
            train(model, str(staged.real_dir.resolve()), name=f"probe-{steps}",
                  runs_dir=str(out / "probe"), image_size=size, channels=1,
                  val_fraction=staged.val_fraction, steps=steps, batch_size=cfg.batch_size,
                  sample_every=10**9, checkpoint_every=10**9, **opts)  # fmt: skip
            return time.perf_counter() - t

        probe(probes[0])  # warm-up: CUDA context, cuDNN autotuning, kernel caches
        t1, t2 = probe(probes[1]), probe(probes[2])
        rate = (probes[2] - probes[1]) / max(t2 - t1, 1e-3)
        left = deadline - time.time() - RESERVE_S.get(size, 260.0) - t1
        cfg.steps = max(500, int(rate * left * 0.9) // 100 * 100)
        print(f"[{name}] {rate:.1f} steps/s -> {cfg.steps} steps in {left:.0f} s", flush=True)
        return original(cfg, staged, model, progress)

    M.generate.train_generator = sized
    result = M.run(cfg, log=lambda m: print(f"[{name}] {m}", flush=True))
    print(f"[{name}] UTILITY " + json.dumps(result.summary["utility"]["gain"]), flush=True)


def _small(member: tarfile.TarInfo) -> tarfile.TarInfo | None:
    """What comes back from the machine: images, reports, logs; no weights or optimizer state
    (a device call returns files of 16 MiB at most)."""
    skip = ("/state", "/probe", "/diffusers", "/tb")
    return (
        None
        if member.name.endswith(".safetensors") or any(s in member.name for s in skip)
        else member
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("out", type=Path)
    p.add_argument("--budget", type=float, default=420.0, help="seconds for the whole call")
    p.add_argument("--variant", action="append", required=True, help="NAME:SIZE:WIDTHS:LAYERS")
    p.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--deadline", type=float, help=argparse.SUPPRESS)
    p.add_argument("--probe", default="20,100,400", help=argparse.SUPPRESS)  # warm-up, probes
    a = p.parse_args()
    if a.one:
        name, size, widths, layers = a.variant[0].split(":")
        probes = tuple(int(n) for n in a.probe.split(","))
        one(a.out, name, int(size), [int(w) for w in widths.split(",")], int(layers), a.deadline,
            probes)  # fmt: skip
        return
    deadline = time.time() + a.budget
    procs = {}
    for v in a.variant:
        name = v.split(":")[0]
        (a.out / name).mkdir(parents=True, exist_ok=True)
        log = open(a.out / name / "log.txt", "w")  # noqa: SIM115 (open while the child runs)
        cmd = [sys.executable, __file__, str(a.out / name), "--one", "--variant", v,
               "--deadline", str(deadline), "--probe", a.probe]  # fmt: skip
        procs[name] = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=os.environ)
    for name, proc in procs.items():
        proc.wait()
        with tarfile.open(a.out / f"{name}.tgz", "w:gz") as tar:
            tar.add(a.out / name, arcname=name, filter=_small)
        print(f"{name}: exit {proc.returncode}, {a.out / name / 'log.txt'}", flush=True)


if __name__ == "__main__":
    main()
