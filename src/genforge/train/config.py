"""The training config: a typed dataclass whose defaults run (data configs live beside their
loaders in `genforge.data`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass
class TrainConfig:
    steps: int = 2000
    batch_size: int = 64
    optimizer: Literal["adam", "adamw", "rmsprop"] = "adam"
    lr: float = 2e-4
    lr_d: float | None = None  # discriminator learning rate (TTUR); None: same as lr
    betas: tuple[float, float] = (0.5, 0.999)
    weight_decay: float = 0.0
    lr_schedule: Literal["constant", "linear", "cosine"] = "constant"
    min_lr_ratio: float = 0.0  # linear/cosine decay ends at lr * min_lr_ratio
    warmup_steps: int = 0
    ema_decay: float = 0.999  # EMA of the sampling network; 0 disables
    # auto: bf16 autocast on a CUDA GPU that supports it, fp32 elsewhere (recorded resolved)
    precision: Literal["auto", "fp32", "bf16", "fp16"] = "auto"
    device: Literal["auto", "cpu", "cuda", "mps"] = "auto"
    channels_last: bool = True
    compile: bool | Literal["auto"] = False  # torch.compile the networks; "auto": on CUDA only
    seed: int = 0
    log_every: int = 25
    sample_every: int = 500
    checkpoint_every: int = 500
    eval_every: int = 0  # evaluate every K steps (0: never); eval_* values go to metrics.jsonl
    eval_samples: int = 500  # samples per evaluation during training
    keep_best: str | None = (
        None  # keep the best checkpoint in best/ by: fd, precision, recall, accuracy
    )
    early_stop: int = 0  # stop after this many evaluations without keep_best improving (0: never)
    # a feedback round (`genforge train --resume RUN --feedback`, train/feedback.py)
    feedback_steps: int = 200  # steps a round adds when --steps is not given
    feedback_share: float = 0.25  # at most this share of a step's examples are rated outputs
    feedback_weight: float = 1.0  # the feedback term's weight against the loss on real data
    dpo_beta: float = 0.1  # DPO's temperature (text runs)
