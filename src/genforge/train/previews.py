"""What the trainer writes every `sample_every` steps, per modality (the "preview" handler of
each entry in `genforge.data.modalities.MODALITIES`): a fixed-seed look at the current model
under `samples/` (`step-NNNNNNN.*` and `latest.*`), and into TensorBoard when it is on."""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING

import torch

from genforge.core.audio import save_spectrogram_grid, write_wav
from genforge.core.images import make_grid, save_png
from genforge.core.io import write_text
from genforge.data.dataset import take
from genforge.data.table import decode

if TYPE_CHECKING:
    from genforge.core.run import Run
    from genforge.train.loop import MetricsLogger
    from genforge.train.trainer import Trainer


def image_preview(trainer: Trainer, run: Run, step: int, logger: MetricsLogger | None) -> None:
    """A grid of the fixed preview latents (one row per class for conditional models)."""
    if trainer.model.task == "detect":  # a detector samples nothing: show what it scores
        return detector_preview(trainer, run, step, logger)
    images, nrow = trainer.preview()
    grid = make_grid(images, nrow=nrow)
    params = {"run": run.name, "step": step, "seed": trainer.preview_seed, "kind": "preview"}
    save_png(run.samples_dir / f"step-{step:07d}.png", grid, params)
    save_png(run.samples_dir / "latest.png", grid, params)
    if logger:
        logger.image(step, grid)


def detector_preview(trainer: Trainer, run: Run, step: int, logger: MetricsLogger | None) -> None:
    """A grid of 8 training images per class (row 1: generated, row 2: real) and their
    P(generated) under the current network, in samples/latest.txt."""
    model, data = trainer.model, trainer.batches.dataset
    labels = data.labels.cpu()  # streamed datasets keep their labels in memory too
    rows = [torch.nonzero(labels == k).flatten()[:8] for k in (model.generated_index,
                                                               1 - model.generated_index)]  # fmt: skip
    x = take(data, torch.cat(rows))[0].float()
    net = trainer.sampling_net()
    was_training = net.training
    net.eval()
    p = model.prob_generated(x.to(trainer.accelerator.device), net).cpu()
    net.train(was_training)
    grid = make_grid(x.cpu(), nrow=8)
    params = {"run": run.name, "step": step, "kind": "preview"}
    save_png(run.samples_dir / f"step-{step:07d}.png", grid, params)
    save_png(run.samples_dir / "latest.png", grid, params)
    n = len(rows[0])
    text = (f"# {run.name} step {step}: P(generated) of the training images in latest.png\n"
            f"generated (row 1): {' '.join(f'{v:.2f}' for v in p[:n])}\n"
            f"real (row 2):      {' '.join(f'{v:.2f}' for v in p[n:])}\n")  # fmt: skip
    write_text(run.samples_dir / "latest.txt", text)
    if logger:
        logger.image(step, grid)


def text_preview(trainer: Trainer, run: Run, step: int, logger: MetricsLogger | None) -> None:
    """A continuation sampled at temperature 1 from the fixed preview seed, as a text file."""
    text = trainer.model.preview_text(trainer.sampling_net(), trainer.batches.dataset.tokenizer,
                                      seed=trainer.preview_seed)  # fmt: skip
    header = f"# {run.name} step {step}, seed {trainer.preview_seed}, sampled at temperature 1\n\n"
    write_text(run.samples_dir / f"step-{step:07d}.txt", header + text)
    write_text(run.samples_dir / "latest.txt", header + text)
    if logger and logger.tb is not None:
        logger.tb.add_text("samples", text, step)


def table_preview(trainer: Trainer, run: Run, step: int, logger: MetricsLogger | None) -> None:
    """20 decoded rows as a CSV file."""
    model = trainer.model
    g = torch.Generator().manual_seed(trainer.preview_seed)
    rows = model.sample(20, generator=g, net=trainer.sampling_net())
    text = decode(model.spec, rows.numpy()).to_csv(index=False)
    write_text(run.samples_dir / f"step-{step:07d}.csv", text)
    write_text(run.samples_dir / "latest.csv", text)


def audio_preview(trainer: Trainer, run: Run, step: int, logger: MetricsLogger | None) -> None:
    """A spectrogram grid (samples/latest.png) and the clips as WAVs (samples/latest-*.wav)."""
    spec = trainer.model.spec
    waves, _ = trainer.preview(n=8)
    names = list(spec.class_names)
    k = min(spec.num_classes, 10) if trainer.model.conditional else 0
    per = max(1, 8 // k) if k else 0
    titles = [names[i // per] if k else f"#{i}" for i in range(len(waves))]
    params = {"run": run.name, "step": step, "seed": trainer.preview_seed, "kind": "preview"}
    for path in (run.samples_dir / f"step-{step:07d}.png", run.samples_dir / "latest.png"):
        save_spectrogram_grid(path, waves, spec.sample_rate, titles, params)
    for i, w in enumerate(waves[:8]):
        write_wav(run.samples_dir / f"latest-{i}.wav", w, spec.sample_rate)


def video_preview(trainer: Trainer, run: Run, step: int, logger: MetricsLogger | None) -> None:
    """A frame strip of 8 clips (samples/latest.png, one row per clip; one per class, up to
    10, when conditional) and the same clips tiled into one MP4 (samples/latest.mp4)."""
    from genforge.core.io import write_bytes
    from genforge.core.video import grid_frames, mp4_bytes, write_strip

    spec = trainer.model.spec
    clips, _ = trainer.preview(n=10 if trainer.model.conditional else 8)
    params = {"run": run.name, "step": step, "seed": trainer.preview_seed, "kind": "preview"}
    for path in (run.samples_dir / f"step-{step:07d}.png", run.samples_dir / "latest.png"):
        write_strip(path, clips, params, min_side=32)
    write_bytes(run.samples_dir / "latest.mp4",
                mp4_bytes(grid_frames(clips, nrow=4, min_side=128), spec.fps, params))  # fmt: skip
    if logger:
        from genforge.core.video import strip_array

        logger.image(step, strip_array(clips))


# trainer -> the held-out pairs its previews translate (dropped with the trainer)
_PREVIEW_PAIRS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def pair_preview(trainer: Trainer, run: Run, step: int, logger: MetricsLogger | None) -> None:
    """Greedy outputs for the first 8 held-out sources (training sources when nothing is held
    out), next to their references, as a text file."""
    from genforge.data.modalities import get_modality
    from genforge.models.seq2seq import DecodeConfig

    model = trainer.model
    pairs = _PREVIEW_PAIRS.get(trainer)
    if pairs is None:
        split = get_modality("text-pair").reload(run, tokenizer=model.tokenizer)
        where = "held-out" if split.val.pairs else "training"
        pairs = (where, (split.val.pairs or split.train.pairs)[:8])
        _PREVIEW_PAIRS[trainer] = pairs
    where, shown = pairs
    outs = model.translate([s for s, _ in shown], DecodeConfig(num_beams=1, max_new_tokens=64),
                           net=trainer.sampling_net())  # fmt: skip
    lines = [f"# {run.name} step {step}: greedy outputs for {where} sources\n"]
    for (src, ref), out in zip(shown, outs, strict=True):
        lines += [
            f"source:    {src[:300]}",
            f"reference: {ref[:300]}",
            f"output:    {out[:300]}",
            "",
        ]
    text = "\n".join(lines)
    write_text(run.samples_dir / f"step-{step:07d}.txt", text)
    write_text(run.samples_dir / "latest.txt", text)
    if logger and logger.tb is not None:
        logger.tb.add_text("samples", text, step)
