"""The training loop on HF accelerate: the same code on CPU, one GPU, or many via
`accelerate launch`.

One `Trainer.step()` is: the family's own `training_step` (its phases labelled in its file),
LR schedulers, then the EMA update. `loop.fit()` wraps steps with logging, sample grids,
atomic checkpoints, a divergence guard and a progress bar.
"""

from __future__ import annotations

import math
import os
from typing import Any

import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel

from genforge.core.checkpoint import load_ema, load_state, load_weights, save_checkpoint
from genforge.core.errors import GenforgeError
from genforge.core.run import Run
from genforge.data import ImageDataset
from genforge.models import ImageModel
from genforge.train.batches import make_batches
from genforge.train.config import TrainConfig
from genforge.train.distributed import SyncedOptimizer


class TrainingDiverged(GenforgeError):
    """A loss became NaN or infinite; the last good checkpoint is kept."""


# ---------------------------------------------------------------------------------------
# Pieces: accelerator, optimizers, schedules
# ---------------------------------------------------------------------------------------


def wants_cpu(device: str) -> bool:
    """Whether training runs on the CPU. "auto" picks CUDA when visible, except under
    `accelerate launch --cpu` (which sets ACCELERATE_USE_CPU): there accelerate's process state
    is already the CPU's, and asking it for the GPU fails on every CUDA machine."""
    from accelerate.utils import parse_flag_from_env

    launched_cpu = parse_flag_from_env("ACCELERATE_USE_CPU")
    if device == "cuda" and launched_cpu:
        raise GenforgeError("--device cuda contradicts `accelerate launch --cpu`; drop one of them")
    return device == "cpu" or (device == "auto" and (launched_cpu or not torch.cuda.is_available()))


def wants_compile(cfg: TrainConfig, device: torch.device) -> bool:
    """Whether the networks are compiled: `compile` true or false, or "auto": on CUDA only (on
    the CPU, torch.compile measured no gain on genforge's LMs, docs/benchmarks.md)."""
    if cfg.compile == "auto":
        return device.type == "cuda"
    return bool(cfg.compile)


def resolve_precision(precision: str, device: str) -> str:
    """ "auto": bf16 when training runs on a CUDA GPU with bf16 support (autocast; faster on
    tensor cores, no loss scaling), fp32 otherwise (on CPUs bf16 autocast was slower here)."""
    if precision != "auto":
        return precision
    on_cuda = not wants_cpu(device) and device != "mps" and torch.cuda.is_available()
    return "bf16" if on_cuda and torch.cuda.is_bf16_supported() else "fp32"


def make_accelerator(cfg: TrainConfig) -> Any:
    """An Accelerator for the configured device and precision."""
    from accelerate import Accelerator
    from accelerate.state import AcceleratorState

    if cfg.device == "cuda" and not torch.cuda.is_available():
        raise GenforgeError("--device cuda was asked for but no CUDA GPU is visible")
    if cfg.device == "mps" and not torch.backends.mps.is_available():
        raise GenforgeError("--device mps was asked for but MPS is not available")
    cpu = wants_cpu(cfg.device)
    if cfg.precision == "fp16" and cpu:
        raise GenforgeError("fp16 mixed precision needs a GPU; on CPU use --precision bf16 or fp32")
    if int(os.environ.get("WORLD_SIZE", "1")) == 1:
        # A single process may train several models one after another (tests, the bench, the
        # server) with different precisions; accelerate keeps one global state, so reset it.
        AcceleratorState._reset_state()
    mp = {"fp32": "no", "bf16": "bf16", "fp16": "fp16"}[
        resolve_precision(cfg.precision, cfg.device)
    ]
    return Accelerator(mixed_precision=mp, cpu=cpu)


def make_optimizer(
    params: Any, cfg: TrainConfig, lr: float, fused: bool = False
) -> torch.optim.Optimizer:
    """`fused`: one Adam/AdamW kernel per step (CPU or CUDA) instead of a loop over tensors.

    AdamW decays only matrices (weights of linear layers and embeddings), not biases and norm
    gains, as GPT-2/nanoGPT train; Adam and RMSprop apply their L2 penalty to every parameter
    (as CTGAN's reference does).
    """
    kw = {"fused": True} if fused else {}
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, lr=lr, betas=cfg.betas, weight_decay=cfg.weight_decay, **kw)
    if cfg.optimizer == "adamw":
        params = [p for p in params if p.requires_grad]
        groups = [
            {"params": [p for p in params if p.dim() >= 2], "weight_decay": cfg.weight_decay},
            {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0},
        ]
        groups = [g for g in groups if g["params"]]
        return torch.optim.AdamW(groups, lr=lr, betas=cfg.betas, **kw)
    return torch.optim.RMSprop(params, lr=lr, weight_decay=cfg.weight_decay)


def ema_with_warmup(decay: float):
    """EMA update for AveragedModel whose decay ramps up as min(decay, (1 + n) / (10 + n)).

    A fixed 0.999 would average in the first, untrained weights for thousands of steps; the
    warmup (as in diffusers' EMAModel) makes short runs sample from recent weights. The decay is
    computed on the device from the step count tensor, so an update never waits for the GPU.
    """

    @torch.no_grad()
    def update(ema_params: list[torch.Tensor], params: list[torch.Tensor], n: torch.Tensor) -> None:
        if not ema_params[0].is_floating_point():  # integer buffers (BatchNorm step counts)
            torch._foreach_copy_(ema_params, params)
            return
        n = n.to(ema_params[0].device, torch.float64)
        weight = 1 - torch.clamp((1 + n) / (10 + n), max=decay)  # 1 - d, no host sync
        torch._foreach_lerp_(ema_params, params, weight.to(ema_params[0].dtype))

    return update


def lr_lambda(cfg: TrainConfig):
    """Multiplier of the base LR at a step: linear warmup, then constant/linear/cosine decay
    from 1 down to `cfg.min_lr_ratio`."""
    floor = cfg.min_lr_ratio

    def f(step: int) -> float:
        if step < cfg.warmup_steps:
            return (step + 1) / cfg.warmup_steps
        t = (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps)
        if cfg.lr_schedule == "linear":
            return floor + (1 - floor) * max(0.0, 1.0 - t)
        if cfg.lr_schedule == "cosine":
            return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * min(t, 1.0)))
        return 1.0

    return f


# ---------------------------------------------------------------------------------------
# Trainer
# ---------------------------------------------------------------------------------------


class Trainer:
    """Owns the prepared networks, optimizers, EMA and batch source for one model.

    Args:
        model: the family instance (freshly built, seeded).
        dataset: training items (images, or another modality's tensors; see modalities.py).
        cfg: training config.
        data_cfg: data config (image augmentations); any modality's data config.
        run: where to write; None for a dry trainer (the benchmark).
    """

    def __init__(
        self,
        model: ImageModel,
        dataset: ImageDataset,
        cfg: TrainConfig,
        data_cfg: Any = None,
        run: Run | None = None,
    ):
        self.model, self.cfg, self.run = model, cfg, run
        self.accelerator = make_accelerator(cfg)
        device = self.accelerator.device
        raw = model.networks()
        fmt = torch.channels_last if cfg.channels_last else torch.contiguous_format
        for net in raw.values():
            net.to(device=device, memory_format=fmt)
        # fused Adam kernels: always on CUDA (one kernel per step instead of one per tensor, the
        # per-step overhead that dominates small GAN steps); on the CPU where a family asks
        # (text LMs: ~5% faster steps there)
        fused = device.type == "cuda" or (getattr(model, "fused_optimizer", False)
                                          and device.type == "cpu")  # fmt: skip
        raw_opts = {
            name: make_optimizer(
                [p for p in net.parameters() if p.requires_grad],  # LoRA: the adapters only
                cfg,
                cfg.lr_d if name == "discriminator" and cfg.lr_d else cfg.lr,
                fused=fused,
            )
            for name, net in raw.items()
        }
        self.schedulers = {
            k: torch.optim.lr_scheduler.LambdaLR(o, lr_lambda(cfg)) for k, o in raw_opts.items()
        }
        # Networks are not wrapped in DDP (see distributed.py): optimizers are prepared (gradient
        # scaling for fp16) and average gradients across processes before each step.
        prepared = self.accelerator.prepare(*raw_opts.values())
        prepared = prepared if isinstance(prepared, tuple) else (prepared,)
        world = self.accelerator.num_processes
        self.opts = {k: SyncedOptimizer(o, world) for k, o in zip(raw_opts, prepared, strict=True)}
        self.nets: dict[str, nn.Module] = dict(raw)
        if wants_compile(cfg, device):
            self.nets = {k: torch.compile(v) for k, v in self.nets.items()}
        self.sampling_name = model.sampling_network()
        self.sampling_raw = raw[self.sampling_name]  # the network the EMA follows
        self.ema: AveragedModel | None = None
        if cfg.ema_decay > 0:
            self.ema = AveragedModel(
                self.sampling_raw,
                multi_avg_fn=ema_with_warmup(cfg.ema_decay),
                use_buffers=True,
            )
        self.batches = make_batches(
            dataset,
            cfg.batch_size,
            cfg.seed,
            device,
            augmentations=getattr(data_cfg, "augment", ()),
            channels_last=cfg.channels_last,
            rank=self.accelerator.process_index,
            world_size=self.accelerator.num_processes,
        )
        self.step_count = 0
        # a feedback round (`--feedback`): () -> a batch of rated outputs (train/feedback.py)
        self.feedback: Any = None

    # -- one step ---------------------------------------------------------------------------
    def step(self) -> dict[str, torch.Tensor]:
        """One optimisation step: the family's phases, LR schedule, EMA."""
        self.model.train()
        with self.accelerator.autocast():  # mixed precision (a no-op in fp32)
            if self.feedback is None:
                logs = self.model.training_step(
                    self.nets, self.opts, self.batches, self.accelerator
                )
            else:  # a feedback round: the family's step on real data plus rated outputs
                logs = self.model.feedback_step(
                    self.nets, self.opts, self.batches, self.feedback, self.accelerator
                )
        for sched in self.schedulers.values():
            sched.step()
        if self.ema is not None:
            self.ema.update_parameters(self.sampling_raw)
        self.step_count += 1
        return logs

    # -- state ------------------------------------------------------------------------------
    def sampling_net(self) -> nn.Module:
        return self.ema.module if self.ema is not None else self.sampling_raw

    def weights(self) -> dict[str, torch.Tensor]:
        """All networks' weights, keyed "<network>.<param>" (the family's own state_dict)."""
        return self.model.state_dict()

    def ema_weights(self) -> dict[str, torch.Tensor] | None:
        if self.ema is None:
            return None
        return {f"{self.sampling_name}.{k}": v for k, v in self.ema.module.state_dict().items()}

    @torch.no_grad()
    def restart_from_sampled(self) -> None:
        """Continue from the weights that samples are drawn from (the EMA) with a fresh EMA.

        A feedback round starts here: its ratings judged samples of the EMA, so the round tunes
        that model, and a restarted EMA (warmup, see `ema_with_warmup`) follows the round's own
        steps; a 0.999 EMA carried over would keep three quarters of the old model after 300."""
        if self.ema is None:
            return
        torch._foreach_copy_(
            list(self.sampling_raw.state_dict().values()),
            list(self.ema.module.state_dict().values()),
        )
        self.ema.n_averaged.zero_()

    def state(self) -> dict[str, Any]:
        state: dict[str, Any] = {
            "optimizers": {k: o.state_dict() for k, o in self.opts.items()},
            "schedulers": {k: s.state_dict() for k, s in self.schedulers.items()},
            "batches": self.batches.state_dict(),
            "rng": {"torch": torch.get_rng_state()},
        }
        if torch.cuda.is_available():
            state["rng"]["cuda"] = torch.cuda.get_rng_state_all()
        if self.ema is not None:
            state["ema_n_averaged"] = self.ema.n_averaged.detach().cpu()
        return state

    def restore(self, run: Run) -> None:
        """Load weights, EMA, optimizer, scheduler, data position and RNG from `run`."""
        state = load_state(run)
        weights = load_weights(run)
        self.model.load_state_dict(weights)
        ema = load_ema(run)
        if self.ema is not None and ema is not None:
            prefix = f"{self.sampling_name}."
            self.ema.module.load_state_dict({k[len(prefix) :]: v for k, v in ema.items()})
            self.ema.n_averaged.copy_(state["ema_n_averaged"])
        for k, opt in self.opts.items():
            opt.load_state_dict(state["optimizers"][k])
        for k, sched in self.schedulers.items():
            sched.load_state_dict(state["schedulers"][k])
        self.batches.load_state_dict(state["batches"])
        torch.set_rng_state(state["rng"]["torch"])
        if "cuda" in state["rng"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["rng"]["cuda"])
        self.step_count = int(state["step"])
        if self.accelerator.is_main_process:
            run.truncate_metrics(self.step_count)  # steps after the checkpoint will be redone

    def save(self, meta: dict[str, Any]) -> None:
        assert self.run is not None
        if not self.accelerator.is_main_process:
            return
        save_extra = getattr(self.model, "save_extra", None)  # e.g. a tokenizer, HF files
        old = self.run.model_dir if self.run.model_dir.exists() else None
        export = getattr(self.model, "export", None)  # e.g. a diffusers pipeline of the EMA net

        def extra(folder):
            if save_extra:
                save_extra(folder, old)
            if export:
                export(folder, self.sampling_net())

        save_checkpoint(
            self.run,
            step=self.step_count,
            weights=self.weights(),
            ema_weights=self.ema_weights(),
            meta=meta,
            state=self.state(),
            extra=extra if (save_extra or export) else None,
        )

    # -- samples ----------------------------------------------------------------------------
    @property
    def preview_seed(self) -> int:
        return self.cfg.seed + 12345

    @torch.no_grad()
    def preview(self, n: int = 64) -> tuple[torch.Tensor, int | None]:
        """Images from a fixed latent and the grid row length (one row per class when
        conditional, for up to 10 classes)."""
        model, device = self.model, self.accelerator.device
        g = torch.Generator().manual_seed(self.preview_seed)
        labels, nrow = None, None
        if model.conditional:
            k = min(model.spec.num_classes, 10)
            nrow = max(1, n // k)
            labels = torch.arange(k).repeat_interleave(nrow).to(device)
            n = labels.numel()
        z = model.latent(n, generator=g).to(device)
        net = self.sampling_net()
        was_training = net.training
        net.eval()
        images = model.generate(z, labels, net=net).float()
        net.train(was_training)
        return images, nrow


def check_finite(step: int, logs: dict[str, float], run: Run | None) -> None:
    bad = {k: v for k, v in logs.items() if not math.isfinite(v)}
    if bad:
        where = ""
        if run is not None and run.read_meta() is not None:
            where = f"; the last good checkpoint (step {run.step}) is kept in {run.path}"
        raise TrainingDiverged(
            f"training diverged at step {step} ({', '.join(f'{k}={v}' for k, v in bad.items())})"
            f"{where}; lower the learning rate or use --precision fp32"
        )
