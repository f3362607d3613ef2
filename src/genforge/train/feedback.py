"""Feedback rounds: people's ratings of a run's outputs, turned into a training signal.

`genforge train --resume RUN --feedback` continues a run for one round (`feedback_steps`
more steps by default) in which every step is the family's usual step on real data *plus* a
term on the outputs people rated (the family's `feedback_step`):

| family kind | what the ratings become |
|---|---|
| `reward-weighted` (ddpm, cddpm) | approved outputs, their denoising loss weighted by reward (Lee et al. 2023) |
| `negatives` (gan, dcgan and their conditional presets) | rejected outputs, extra fakes for the discriminator |
| `preference` (lstm, gpt) | (approved, rejected) pairs of texts from one prompt, trained with DPO (Rafailov et al. 2023) |

An output's reward is the mean over its raters of: thumb up 1, thumb down 0, otherwise a 1-5
score as (score - 1) / 4. Above 0.5 it counts as approved, below as rejected (a 3 says nothing).

Guards against the model feeding on itself: rated outputs are at most `feedback_share` (at
most 0.5) of the examples in each step, the rest being real data; and the caller
(`genforge.api.feedback_round`) measures diversity and memorisation before and after the
round and stops further rounds when diversity fell.
"""

from __future__ import annotations

import random
import shutil
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from genforge.core.errors import GenforgeError
from genforge.core.run import Run
from genforge.models import MODELS
from genforge.models.base import FeedbackBatch
from genforge.models.text_base import PreferenceBatch
from genforge.safety.feedback import FeedbackStore, StoredRating

MAX_SHARE = 0.5
MAX_PAIRS = 4096


def reward(r: StoredRating) -> float | None:
    """One rater's verdict in [0, 1]: thumb up 1, down 0, else (score - 1) / 4; None when the
    rating holds only tags or a note."""
    if r.rating.thumb is not None:
        return 1.0 if r.rating.thumb == "up" else 0.0
    if r.rating.score is not None:
        return (r.rating.score - 1) / 4
    return None


@dataclass
class RatedOutput:
    output_id: str
    path: Path
    reward: float  # mean over its raters, in [0, 1]
    raters: int
    label: str | None  # the class it was drawn for, when the run is conditional
    prompt: str  # the prompt it continues (text)

    @property
    def approved(self) -> bool:
        return self.reward > 0.5

    @property
    def rejected(self) -> bool:
        return self.reward < 0.5


@dataclass
class FeedbackSet:
    """A run's rated outputs, as one feedback round will use them."""

    run: str
    kind: str  # the family's feedback kind
    outputs: list[RatedOutput]
    ratings: int  # ratings read (every rater's, including tags-only ones)
    raters: list[str]
    skipped: list[str] = field(default_factory=list)  # "<id>: why"
    start_step: int | None = None  # the step the round starts from (set by the round)

    def summary(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "ratings": self.ratings,
            "raters": self.raters,
            "rated_outputs": len(self.outputs),
            "approved": sum(o.approved for o in self.outputs),
            "rejected": sum(o.rejected for o in self.outputs),
            "skipped": len(self.skipped),
            "output_ids": sorted(o.output_id for o in self.outputs),
        }


def collect(run: Run, store: FeedbackStore, kind: str | None) -> FeedbackSet:
    """The rated outputs of `run` (file still on disk), with their rewards; fails with one line
    when the family cannot learn from ratings, or nothing usable was rated."""
    model = run.read_config()["model"]
    if kind is None:
        able = [n for n, e in MODELS.items() if getattr(e.family, "feedback", None)]
        raise GenforgeError(
            f"{model} runs do not learn from ratings; --feedback works for {', '.join(able)} runs"
        )
    ratings, _ = store.for_run(run.name)
    if not ratings:
        raise GenforgeError(
            f"run '{run.name}' has no ratings to learn from; rate its outputs first (genforge "
            f"review {run.name}, the web gallery, or genforge feedback {run.name} --import FILE)"
        )
    by_output: dict[str, list[float]] = defaultdict(list)
    for r in ratings:
        v = reward(r)
        if v is not None:
            by_output[r.output_id].append(v)
    outputs, skipped = [], []
    for oid, values in sorted(by_output.items()):
        rec = store.provenance.get(oid)
        if rec is None or not rec.path or not Path(rec.path).is_file():
            skipped.append(f"{oid}: file gone")
            continue
        params = rec.params or {}
        outputs.append(RatedOutput(oid, Path(rec.path), sum(values) / len(values), len(values),
                                   params.get("label"), str(params.get("prompt") or "")))  # fmt: skip
    fs = FeedbackSet(run.name, kind, outputs, len(ratings), sorted({r.rater for r in ratings}),
                     skipped)  # fmt: skip
    _check_usable(fs)
    return fs


def _check_usable(fs: FeedbackSet) -> None:
    s = fs.summary()
    need = {
        "reward-weighted": (s["approved"], "approved outputs to fine-tune on"),
        "negatives": (s["rejected"], "rejected outputs to show the discriminator"),
        "preference": (len(preference_pairs(fs.outputs)), "pairs of an approved and a rejected "
                       "text from the same prompt"),
    }  # fmt: skip
    have, what = need[fs.kind]
    if not have:
        raise GenforgeError(
            f"run '{fs.run}' has {s['rated_outputs']} rated outputs ({s['approved']} approved, "
            f"{s['rejected']} rejected) but a {fs.kind} round needs {what}; rate more"
        )


def preference_pairs(outputs: list[RatedOutput]) -> list[tuple[RatedOutput, RatedOutput]]:
    """(approved, rejected) pairs of texts continuing the same prompt (at most MAX_PAIRS)."""
    by_prompt: dict[str, list[RatedOutput]] = defaultdict(list)
    for o in outputs:
        by_prompt[o.prompt].append(o)
    pairs = [
        (w, lose)
        for group in by_prompt.values()
        for w in group
        if w.approved
        for lose in group
        if lose.rejected
    ]
    if len(pairs) > MAX_PAIRS:
        pairs = random.Random(0).sample(pairs, MAX_PAIRS)
    return pairs


# ---------------------------------------------------------------------------------------
# Batch sources: () -> a batch of rated outputs for one step
# ---------------------------------------------------------------------------------------


def per_step(cfg: Any) -> int:
    """Rated items per step: feedback_share of the batch, at least one."""
    if not 0 < cfg.feedback_share <= MAX_SHARE:
        raise GenforgeError(
            f"feedback_share must be in (0, {MAX_SHARE}]: rated outputs may be at most half of "
            f"each step's examples, the rest real data (got {cfg.feedback_share})"
        )
    return max(1, int(cfg.batch_size * cfg.feedback_share))


def image_source(fs: FeedbackSet, trainer: Any) -> Callable[[], FeedbackBatch]:
    """Rated images of the round's kind (approved for reward-weighted, rejected for negatives),
    drawn uniformly with replacement; weights: reward, or 1 - reward for negatives."""
    model, cfg, device = trainer.model, trainer.cfg, trainer.accelerator.device
    spec = model.spec
    keep = [o for o in fs.outputs if (o.approved if fs.kind == "reward-weighted" else o.rejected)]
    labels = [spec.class_names.index(o.label) if o.label in (spec.class_names or []) else -1
              for o in keep]  # fmt: skip
    if model.conditional and fs.kind == "negatives":  # D judges an image *for* a class
        known = [(o, y) for o, y in zip(keep, labels, strict=True) if y >= 0]
        if not known:
            raise GenforgeError(f"run '{fs.run}' is conditional, and none of its rejected "
                                "outputs says which class it was drawn for")  # fmt: skip
        keep, labels = [o for o, _ in known], [y for _, y in known]
    images = torch.stack([read_image(o.path, spec.size, spec.channels) for o in keep])
    images = images.to(device, memory_format=torch.channels_last if cfg.channels_last
                       else torch.contiguous_format)  # fmt: skip
    ys = torch.tensor(labels, dtype=torch.long, device=device)
    rewards = torch.tensor([o.reward for o in keep], device=device)
    weights = rewards if fs.kind == "reward-weighted" else 1 - rewards
    k = per_step(cfg)
    g = torch.Generator().manual_seed(cfg.seed + 4099)

    def draw() -> FeedbackBatch:
        idx = torch.randint(len(keep), (k,), generator=g).to(device)
        return FeedbackBatch(images[idx], ys[idx] if model.conditional else None, weights[idx],
                             cfg.feedback_weight)  # fmt: skip

    return draw


def read_image(path: Path, size: int, channels: int) -> torch.Tensor:
    """An image file as (C, size, size) in [-1, 1]."""
    import numpy as np
    from PIL import Image

    try:
        with Image.open(path) as im:
            im = im.convert("L" if channels == 1 else "RGB")
            if im.size != (size, size):
                im = im.resize((size, size), Image.Resampling.BICUBIC)
            a = np.asarray(im, dtype=np.float32).reshape(size, size, -1)
    except OSError as e:
        raise GenforgeError(f"cannot read the rated output {path}: {e}") from None
    return torch.from_numpy(a).permute(2, 0, 1) / 127.5 - 1


def preference_source(fs: FeedbackSet, trainer: Any) -> Callable[[], PreferenceBatch]:
    """(approved, rejected) text pairs as token ids, with their log-probabilities under the
    weights the round starts from (the DPO reference, computed once here)."""
    model, cfg, device = trainer.model, trainer.cfg, trainer.accelerator.device
    tokenizer = model.spec.tokenizer_obj or trainer.batches.dataset.tokenizer
    pairs = preference_pairs(fs.outputs)
    limit = (model.context or 1024) + 1  # the model reads at most `context` tokens

    def encode(o: RatedOutput) -> tuple[list[int], int]:
        prompt = tokenizer.encode(o.prompt) if o.prompt else []
        prompt = prompt or [tokenizer.eos_id]
        text = tokenizer.encode(o.path.read_text(encoding="utf-8"))
        return (prompt + text)[:limit], len(prompt)

    encoded = {o.output_id: encode(o) for pair in pairs for o in pair}
    net = trainer.nets[model.sampling_network()]
    ref = {}
    with torch.no_grad():
        was = net.training
        net.eval()
        for oid, (ids, start) in encoded.items():
            x, m = padded([(ids, start)], device)
            ref[oid] = float(model.sequence_logprob(net, x, m)[0])
        net.train(was)
    k = per_step(cfg)
    rng = random.Random(cfg.seed + 4099)

    def draw() -> PreferenceBatch:
        chosen = [rng.choice(pairs) for _ in range(k)]
        w = [encoded[a.output_id] for a, _ in chosen]
        lose = [encoded[b.output_id] for _, b in chosen]
        return PreferenceBatch(*padded(w, device), *padded(lose, device),
                               torch.tensor([ref[a.output_id] for a, _ in chosen], device=device),
                               torch.tensor([ref[b.output_id] for _, b in chosen], device=device),
                               cfg.dpo_beta, cfg.feedback_weight)  # fmt: skip

    return draw


def padded(seqs: list[tuple[list[int], int]], device: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-padded ids (K, L) and the mask (K, L) of the tokens after each prompt."""
    width = max(len(ids) for ids, _ in seqs)
    x = torch.zeros(len(seqs), width, dtype=torch.long)
    m = torch.zeros(len(seqs), width)
    for i, (ids, start) in enumerate(seqs):
        x[i, : len(ids)] = torch.tensor(ids)
        m[i, start : len(ids)] = 1.0
    return x.to(device), m.to(device)


SOURCES: dict[str, Callable[[FeedbackSet, Any], Callable[[], Any]]] = {
    "reward-weighted": image_source,
    "negatives": image_source,
    "preference": preference_source,
}


def attach(trainer: Any, fs: FeedbackSet | None) -> None:
    """Make every step of `trainer` a feedback step over `fs` (None: plain steps). At the
    round's first step the trainer continues from the model that was rated (its EMA); a round
    resumed after an interruption goes on from its own checkpoint."""
    if fs is None:
        trainer.feedback = None
        return
    if fs.start_step is not None and trainer.step_count == fs.start_step:
        trainer.restart_from_sampled()
    trainer.feedback = SOURCES[fs.kind](fs, trainer)


# ---------------------------------------------------------------------------------------
# The run's record of its rounds
# ---------------------------------------------------------------------------------------


def keep_before(run: Run, n: int) -> Path:
    """Copy the weights as they are before round `n` to feedback/round-n/model (loadable as
    `--checkpoint before-feedback`); returns that folder. A round that was interrupted and is
    run again keeps the copy from its first attempt: those are the weights from before it."""
    dst = run.feedback_dir / f"round-{n}" / "model"
    if (dst / "model.safetensors").is_file():
        return dst
    tmp = dst.with_name("model.tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.parent.mkdir(parents=True, exist_ok=True)
    shutil.copytree(run.model_dir, tmp)
    tmp.rename(dst)
    return dst


def record_round(run: Run, entry: dict[str, Any]) -> None:
    """Append one round's record to config.yaml's `feedback` list (the model card shows it)."""
    cfg = run.read_config()
    cfg["feedback"] = [*(cfg.get("feedback") or []), entry]
    run.write_config(cfg)
