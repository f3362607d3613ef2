"""Inference glue for a trained video Run: sample clips, continue a clip from its first frames
(prediction), fill in frames between given ones (interpolation) and write MP4/GIF/frame strips.

The loop is written out here (STYLE.md point 2): the network predicts (`VDM.predict`, guided,
given the known frames), a diffusers scheduler (`generate.diffusion.make_sampler`: ddim, ddpm,
dpm-solver++) steps, and the known frames are copied into the result unchanged. Noise is drawn
on the CPU from a seeded generator, so a seed means the same clips on every device.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from genforge.core.errors import GenforgeError
from genforge.core.run import Run
from genforge.data.video import VideoSpec
from genforge.generate.diffusion import STEP_OPTIONS, make_sampler
from genforge.generate.pipeline import load_run_model

DEFAULT_SAMPLER = "ddim"  # deterministic: a seed gives the same clips


class VideoPipeline:
    """A loaded video Run.

    Args:
        run: the Run (or its name/path).
        device: "auto", "cpu", "cuda".
        use_ema: sample with the EMA weights when present.
        sampler: diffusion runs: ddim (deterministic, the default), ddpm or dpm-solver++.
        steps: denoising steps (the sampler's default when None).
        guidance: classifier-free guidance of conditional runs (the run's default when None).
    """

    def __init__(
        self, run: Run | str | Path, device: str = "auto", use_ema: bool = True,
        sampler: str | None = None, steps: int | None = None, guidance: float | None = None,
    ):  # fmt: skip
        loaded = load_run_model(run, "video", VideoSpec, device, use_ema)
        self.run, self.model_name, self.spec = loaded.run, loaded.model_name, loaded.spec
        self.model, self.device = loaded.model, loaded.device
        if not self.model.fills_frames:
            if sampler is not None or steps is not None or guidance is not None:
                raise GenforgeError(
                    f"--sampler, --steps and --guidance apply to diffusion runs; "
                    f"'{self.run.name}' is a {self.model_name}"
                )
        else:
            make_sampler(
                sampler or DEFAULT_SAMPLER, self.model.scheduler, steps
            )  # fails now if bad
        self.sampler, self.steps, self.guidance = sampler or DEFAULT_SAMPLER, steps, guidance

    @property
    def fps(self) -> float:
        return self.spec.fps

    def labels_for(
        self, n: int, label: int | str | torch.Tensor | None, cycle: bool = True
    ) -> torch.Tensor | None:
        """Labels (n,) for `label` (a class name or index, or labels (n,) already); when None,
        the classes in turn (`cycle`, for sampling) or None: the null label. None for
        unconditional runs."""
        names = list(self.spec.class_names)
        if label is not None and not self.model.conditional:
            raise GenforgeError(
                f"--label needs a conditional model; run '{self.run.name}' is unconditional"
            )
        if isinstance(label, torch.Tensor):
            return label.long().reshape(n)
        if label is None:
            return (
                torch.arange(n) % self.spec.num_classes
                if self.model.conditional and cycle
                else None
            )
        if str(label) in names:
            return torch.full((n,), names.index(str(label)))
        if str(label).isdigit() and int(label) < len(names):
            return torch.full((n,), int(label))
        raise GenforgeError(
            f"unknown class {label!r}; run '{self.run.name}' knows {', '.join(names)}"
        )

    @torch.no_grad()
    def infer_labels(self, frames: torch.Tensor, draws: int = 10, seed: int = 0) -> torch.Tensor:
        """The class (B,) under which the run's own model best denoises the given frames
        (B, C, K, H, W): argmin_y of the conditional denoising loss, averaged over `draws`
        noise levels spread evenly over the chain. The loss is the diffusion ELBO's bound on
        -log p(frames | y), so this is the model's own classifier (Li et al. 2023, "Your
        Diffusion Model is Secretly a Zero-Shot Classifier", arXiv:2303.16203).

        The model sees T frames: beyond the K given, the last given frame is repeated (the same
        for every class) and its loss is not counted. Every class meets the same t and noise
        (a paired comparison), and the seed fixes them."""
        model, dev = self.model, self.device
        if not (self.model.fills_frames and model.conditional):
            raise GenforgeError(f"run '{self.run.name}' has no classes to infer")
        T = self.spec.frames
        k = min(frames.shape[2], T)
        given = frames[:, :, :k].float()
        x0 = torch.cat([given, given[:, :, -1:].expand(-1, -1, T - k, -1, -1)], 2).to(dev)
        counted = torch.zeros(1, 1, T, 1, 1, device=dev)
        counted[:, :, :k] = 1
        b, chain = len(x0), model.config.num_train_timesteps
        g = torch.Generator().manual_seed(seed)
        loss = torch.zeros(b, self.spec.num_classes, dtype=torch.float64)
        for i in range(draws):
            t = torch.full((b,), int((i + 0.5) * chain / draws), device=dev)
            noise = torch.randn(x0.shape, generator=g).to(dev)
            x_t = model.scheduler.add_noise(x0, noise, t)
            target = noise
            if model.config.prediction_type == "v_prediction":
                target = model.scheduler.get_velocity(x0, noise, t)
            for y in range(self.spec.num_classes):
                out = model.predict(x_t, t, torch.full((b,), y, device=dev), guidance=1.0)
                err = ((out.float() - target.float()) ** 2 * counted).mean(dim=(1, 2, 3, 4))
                loss[:, y] += err.double().cpu()
        return loss.argmin(1)

    # -- the loop ---------------------------------------------------------------------------
    @torch.no_grad()
    def denoise(
        self, z: torch.Tensor, labels: torch.Tensor | None, known: torch.Tensor | None = None,
        mask: torch.Tensor | None = None, generator: torch.Generator | None = None,
    ) -> torch.Tensor:  # fmt: skip
        """From noise z (B, C, T, H, W) to clips, given `known` frames where `mask`
        (B, 1, T, 1, 1) is 1 (kept exactly). GAN families map z through their generator."""
        model, dev = self.model, self.device
        if not model.fills_frames:
            if known is not None:
                raise GenforgeError(f"{self.model_name} runs cannot be given frames; use a vdm run")
            return (
                model.generate(z.flatten(1).to(dev), labels.to(dev) if labels is not None else None)
                .float()
                .cpu()
            )
        x = z.to(dev)
        y = labels.to(dev) if labels is not None else None
        k = known.to(dev) if known is not None else None
        m = mask.to(dev) if mask is not None else None
        scheduler = make_sampler(self.sampler, model.scheduler, self.steps)
        options = STEP_OPTIONS.get(type(scheduler).__name__, {})
        x = x * scheduler.init_noise_sigma
        for t in scheduler.timesteps:
            x_in = scheduler.scale_model_input(x, t)
            out = model.predict(x_in, t.to(dev), y, self.guidance, k, m)  # eps or v
            x = scheduler.step(out, t, x, generator=generator, **options).prev_sample
        x = x.clamp(-1, 1)
        if m is not None:
            x = m * k + (1 - m) * x  # the given frames, exactly
        return x.float().cpu()

    def noise(self, n: int, generator: torch.Generator) -> torch.Tensor:
        if self.model.fills_frames:
            s = self.spec
            return torch.randn(n, s.channels, s.frames, s.size, s.size, generator=generator)
        return self.model.latent(n, generator=generator)

    # -- tasks ------------------------------------------------------------------------------
    def sample(
        self, n: int, seed: int = 0, label: int | str | None = None, batch_size: int = 32,
        progress: Any = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:  # fmt: skip
        """(clips (n, C, T, H, W) in [-1, 1] on the CPU, their labels or None)."""
        if n < 1:
            raise GenforgeError(f"--n must be at least 1, got {n}")
        g = torch.Generator().manual_seed(seed)
        z = self.noise(n, g)
        labels = self.labels_for(n, label)
        out = []
        for i in range(0, n, batch_size):
            y = labels[i : i + batch_size] if labels is not None else None
            out.append(self.denoise(z[i : i + batch_size], y, generator=g))
            if progress:
                progress(min(i + batch_size, n), n)
        return torch.cat(out), labels

    def predict(
        self, context: torch.Tensor, frames: int | None = None, seed: int = 0,
        label: int | str | torch.Tensor | None = None,
    ) -> torch.Tensor:  # fmt: skip
        """Continue clips from their first frames.

        Args:
            context: the given frames (B, C, K, H, W), K < the model's frame count T.
            frames: frames to add (default T - K); more than T - K rolls the window forward,
                each new window given its last K frames.
            label: the class to continue as (name, index or labels (B,)); None on a
                conditional run: each clip's class inferred from its given frames
                (`infer_labels`), so the digit the frames show is the one that goes on.

        Returns:
            (B, C, K + frames, H, W): the given frames unchanged, then the predicted ones.
        """
        self._needs_filling("predict")
        T = self.spec.frames
        b, _, k = context.shape[:3]
        if not 1 <= k < T:
            raise GenforgeError(
                f"prediction needs 1 to {T - 1} given frames (the model sees {T}); got {k}"
            )
        frames = T - k if frames is None else frames
        if frames < 1:
            raise GenforgeError(f"--frames must be at least 1, got {frames}")
        g = torch.Generator().manual_seed(seed)
        labels = self.labels_for(b, label, cycle=False)
        if labels is None and self.model.conditional:
            labels = self.infer_labels(context, seed=seed)
        clip = context.float()
        while clip.shape[2] < k + frames:
            given = clip[:, :, -k:]
            window = torch.zeros(b, *context.shape[1:2], T, *context.shape[3:])
            window[:, :, :k] = given
            mask = torch.zeros(b, 1, T, 1, 1)
            mask[:, :, :k] = 1
            out = self.denoise(self.noise(b, g), labels, window, mask, generator=g)
            clip = torch.cat([clip, out[:, :, k:]], dim=2)
        return clip[:, :, : k + frames]

    def fill(
        self, clip: torch.Tensor, mask: torch.Tensor, seed: int = 0, label: int | str | None = None
    ) -> torch.Tensor:
        """Generate the frames of `clip` (B, C, T, H, W) where `mask` (T,) is 0, keeping the
        others exactly (diffusion inpainting along time)."""
        self._needs_filling("fill in frames")
        b = clip.shape[0]
        g = torch.Generator().manual_seed(seed)
        m = mask.float().view(1, 1, -1, 1, 1).expand(b, 1, -1, 1, 1)
        return self.denoise(
            self.noise(b, g), self.labels_for(b, label, cycle=False), clip.float(), m, g
        )

    @torch.no_grad()
    def restore(
        self, clip: torch.Tensor, strength: float | None = None, hole: torch.Tensor | None = None,
        seed: int = 0, label: int | str | None = None,
    ) -> torch.Tensor:  # fmt: skip
        """Restore clips (B, C, T, H, W): SDEdit (`strength`: noise to that fraction of the
        chain, then denoise; Meng et al. 2021) or spatial inpainting (`hole` (H, W), 1 where
        pixels are filled in every frame: at each step the known pixels are replaced by the
        input noised to that step; the replacement method RePaint builds on). Known pixels come
        back exactly."""
        self._needs_filling("restore clips")
        if (strength is None) == (hole is None):
            raise GenforgeError("give either a denoising strength or an inpainting mask")
        model, dev = self.model, self.device
        g = torch.Generator().manual_seed(seed)
        scheduler = make_sampler(self.sampler, model.scheduler, self.steps)
        options = STEP_OPTIONS.get(type(scheduler).__name__, {})
        timesteps = scheduler.timesteps
        x0 = clip.float().to(dev)
        b = x0.size(0)
        y = self.labels_for(b, label, cycle=False)
        y = y.to(dev) if y is not None else None
        if strength is not None:
            if not 0 < strength <= 1:
                raise GenforgeError(f"--denoise must be above 0 and at most 1, got {strength}")
            timesteps = timesteps[len(timesteps) - max(1, round(strength * len(timesteps))) :]
            noise = torch.randn(x0.shape, generator=g).to(dev)
            x = model.scheduler.add_noise(x0, noise, timesteps[:1].repeat(b).to(dev))
        else:
            x = torch.randn(x0.shape, generator=g).to(dev) * scheduler.init_noise_sigma
        keep = None if hole is None else (1 - hole.float()).view(1, 1, 1, *hole.shape[-2:]).to(dev)
        for i, t in enumerate(timesteps):
            out = model.predict(scheduler.scale_model_input(x, t), t.to(dev), y, self.guidance)
            x = scheduler.step(out, t, x, generator=g, **options).prev_sample
            if keep is not None:  # the known pixels, noised to the next step (exact at the end)
                known = x0
                if i + 1 < len(timesteps):
                    noise = torch.randn(x0.shape, generator=g).to(dev)
                    known = model.scheduler.add_noise(
                        x0, noise, timesteps[i + 1 : i + 2].repeat(b).to(dev)
                    )
                x = keep * known + (1 - keep) * x
        return x.clamp(-1, 1).float().cpu()

    def _needs_filling(self, what: str) -> None:
        if not self.model.fills_frames:
            raise GenforgeError(
                f"run '{self.run.name}' ({self.model_name}) cannot {what}: it generates whole "
                "clips only; train a vdm run"
            )


def write_clips(
    pipe: VideoPipeline, n: int, out: Path, seed: int = 0, label: int | str | None = None,
    progress: Any = None,
) -> tuple[Path, torch.Tensor]:  # fmt: skip
    """`n` clips into `out`: an MP4 or GIF (the clips tiled, frame by frame) or a frame-strip
    PNG (a row per clip), generation parameters embedded. Returns (path, clips)."""
    from genforge.core.io import write_bytes
    from genforge.core.video import CLIP_FORMATS, gif_bytes, grid_frames, mp4_bytes, write_strip

    suffix = out.suffix.lower()
    if suffix not in CLIP_FORMATS:
        raise GenforgeError(f"--out must end in .mp4, .gif or .png, got {out.name}")
    clips, labels = pipe.sample(n, seed, label, progress=progress)
    params = {"run": pipe.run.name, "seed": seed, "kind": "sample", "n": n,
              "labels": labels.tolist() if labels is not None else None}  # fmt: skip
    if suffix == ".png":
        return write_strip(out, clips, params, min_side=32), clips
    nrow = min(n, 4)
    frames = grid_frames(clips, nrow=nrow, min_side=128)
    write_bytes(out, (mp4_bytes if suffix == ".mp4" else gif_bytes)(frames, pipe.fps, params))
    return out, clips


@dataclass
class Predicted:
    """What `predict_file` wrote: the clip (given frames, then predicted ones) and, when the
    input clip went on past the given frames, its true continuation to score against."""

    path: Path
    clip: torch.Tensor  # (C, K + frames, H, W)
    given: int  # K
    truth: torch.Tensor | None  # (C, <= frames, H, W): the input's own next frames
    label: str | None = None  # the class it was continued as (conditional runs)
    inferred: bool = False  # that class was inferred from the given frames (no --label)


def predict_file(
    pipe: VideoPipeline, clip: str | Path, out: Path, context: int | None = None,
    frames: int | None = None, seed: int = 0, label: int | str | None = None,
) -> Predicted:  # fmt: skip
    """Read `clip` at the run's frame rate and size, keep its first `context` frames (default
    half the model's frames), predict `frames` more (default the rest of the model's window)
    and write given + predicted frames to `out` (.mp4, .gif or a frame-strip .png)."""
    from genforge.core.video import write_clip
    from genforge.data.video import read_clip

    T = pipe.spec.frames
    k = T // 2 if context is None else context
    if not 1 <= k < T:
        raise GenforgeError(f"--context must be 1 to {T - 1} frames (the model sees {T}), got {k}")
    n = T - k if frames is None else frames
    x = read_clip(clip, pipe.spec, max_frames=k + n)
    if x.shape[1] < k:
        raise GenforgeError(
            f"{clip} holds {x.shape[1]} frames at {pipe.fps:g} fps; --context asks for {k}"
        )
    labels = pipe.labels_for(1, label, cycle=False)
    inferred = labels is None and pipe.model.conditional
    if inferred:
        labels = pipe.infer_labels(x[None, :, :k], seed=seed)
    out_clip = pipe.predict(x[None, :, :k], n, seed, labels)[0]
    name = pipe.spec.class_names[int(labels[0])] if labels is not None else None
    params = {"run": pipe.run.name, "seed": seed, "kind": "prediction", "given": k,
              "predicted": n, "source": str(clip), "label": name,
              "label_inferred": inferred}  # fmt: skip
    write_clip(out, out_clip, pipe.fps, params)
    truth = x[:, k:] if x.shape[1] > k else None
    return Predicted(out, out_clip, k, truth, name, inferred)


def interpolate(
    pipe: VideoPipeline, clip: torch.Tensor, factor: int, seed: int = 0,
    label: int | str | None = None,
) -> torch.Tensor:  # fmt: skip
    """Insert `factor - 1` generated frames between each two frames of `clip` (C, M, H, W):
    (C, (M - 1) * factor + 1, H, W), the input frames unchanged at every `factor`-th place.

    Diffusion inpainting along time: windows of the model's T frames slide along the output,
    each given the input frames it covers (and the frames the previous window made)."""
    T = pipe.spec.frames
    if factor < 2:
        raise GenforgeError(f"--factor must be at least 2, got {factor}")
    if factor >= T:
        raise GenforgeError(f"--factor must be below the model's {T} frames, got {factor}")
    c, m = clip.shape[:2]
    if m < 2:
        raise GenforgeError("interpolation needs a clip of at least 2 frames")
    length = (m - 1) * factor + 1
    out = torch.zeros(c, length, *clip.shape[2:])
    known = torch.zeros(length, dtype=torch.bool)
    out[:, ::factor], known[::factor] = clip.float(), True
    start = 0
    while True:
        window = torch.zeros(1, c, T, *clip.shape[2:])
        mask = torch.zeros(T)
        span = min(T, length - start)
        window[0, :, :span] = out[:, start : start + span]
        mask[:span] = known[start : start + span].float()
        filled = pipe.fill(window, mask, seed + start, label)[0]
        todo = ~known[start : start + span]
        out[:, start : start + span][:, todo] = filled[:, :span][:, todo]
        known[start : start + span] = True
        if start + span >= length:
            return out
        start += span - 1  # the next window is given the last frame of this one


def interpolate_file(
    pipe: VideoPipeline, clip: str | Path, out: Path | None = None, factor: int = 2,
    max_frames: int = 32, seed: int = 0, label: int | str | None = None,
) -> tuple[Path, int, int]:  # fmt: skip
    """Read `clip` at the run's fps / `factor` (at most `max_frames` frames), interpolate it to
    the run's fps and write it to `out` (default <clip>-x<factor>.mp4).

    Returns (path, input frames, output frames)."""
    from genforge.core.video import write_clip
    from genforge.data.video import read_clip

    if factor < 2:
        raise GenforgeError(f"--factor must be at least 2, got {factor}")
    x = read_clip(clip, pipe.spec, fps=pipe.fps / factor, max_frames=max_frames)
    y = interpolate(pipe, x, factor, seed, label)
    out = out or Path(clip).with_name(f"{Path(clip).stem}-x{factor}.mp4")
    write_clip(out, y, pipe.fps, {"run": pipe.run.name, "kind": "interpolation",
                                  "factor": factor, "seed": seed, "source": str(clip)})  # fmt: skip
    return out, x.shape[1], y.shape[1]


def restore_file(
    pipe: VideoPipeline, clip: str | Path, out: Path | None = None, denoise: float | None = None,
    mask: str | Path | None = None, seed: int = 0, label: int | str | None = None,
) -> Path:  # fmt: skip
    """Read `clip` (the run's frames, fps and size), restore it (`denoise`: SDEdit strength;
    `mask`: an image, light where pixels are filled in every frame) and write it to `out`
    (default <clip>-restored.mp4)."""
    from genforge.core.video import write_clip
    from genforge.data.video import read_clip
    from genforge.generate.diffusion import read_mask

    x = read_clip(clip, pipe.spec)
    if x.shape[1] < pipe.spec.frames:
        raise GenforgeError(f"{clip} holds {x.shape[1]} frames at {pipe.fps:g} fps; restoring "
                            f"needs the model's {pipe.spec.frames}")  # fmt: skip
    hole = read_mask(mask, pipe.spec.size)[0, 0] if mask is not None else None
    y = pipe.restore(x[None], denoise, hole, seed, label)[0]
    out = out or Path(clip).with_name(f"{Path(clip).stem}-restored.mp4")
    params = {"run": pipe.run.name, "kind": "sdedit" if denoise is not None else "inpaint",
              "denoise": denoise, "mask": str(mask) if mask else None, "seed": seed,
              "source": str(clip)}  # fmt: skip
    return write_clip(out, y, pipe.fps, params)
