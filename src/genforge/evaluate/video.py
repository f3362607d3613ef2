"""Video evaluation: per-frame and clip-level Fréchet distances, temporal statistics, prediction
quality against the "repeat the last frame" baseline, conditional accuracy and a memorisation
audit, each named for what it is.

- Per-frame FD: every frame of the generated and held-out clips in the image domain feature
  space (`evaluate.features.domain_space`, trained on the run's training frames).
- Clip-level FD: features of a small 3-D CNN trained here on the run's own training clips, to
  classify their labels (labeled data) and to tell ordered clips from frame-shuffled ones (so
  its features see motion). This is NOT FVD: FVD needs the I3D network's Kinetics weights,
  which genforge does not download; numbers are comparable between runs on the same data only.
  The distance between real training and real held-out clips is reported as the floor.
- Temporal statistics: each clip's motion energy (mean |x_{t+1} - x_t|) and lag-1 frame
  correlation; the Wasserstein-1 distance between the generated and held-out distributions.
  Shuffling a clip's frames changes them (a per-frame metric cannot see it).
- Prediction (models that fill frames): held-out clips given their first half, the second half
  predicted; PSNR and SSIM against the true continuation, beside repeating the last given
  frame (the baseline a predictor has to beat). Conditional runs get no label: they infer it
  from the given frames, and how often that is right is reported.
- Conditional accuracy (labeled data): the per-frame FD's classifier reads the generated clips,
  per clip (logits averaged over its frames) and per frame (each frame on its own: a digit
  that changes mid-clip loses frames); its accuracy on real held-out clips, both ways, beside.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from genforge.core.errors import GenforgeError
from genforge.core.progress import Stages
from genforge.core.run import Run
from genforge.core.video import strip_array
from genforge.evaluate.image_metrics import frechet_distance, psnr, ssim_metric
from genforge.evaluate.memorization import audit
from genforge.evaluate.report import html_table, png_img
from genforge.evaluate.result import EvalResult, Metric, Section

# ---------------------------------------------------------------------------------------
# The clip network (its features give the clip-level FD)
# ---------------------------------------------------------------------------------------


class ClipNet(nn.Module):
    """3-D CNN over (B, C, T, H, W): 64-d features, a class head (labeled data) and an
    ordered-vs-shuffled head."""

    def __init__(self, channels: int, num_classes: int, dim: int = 64):
        super().__init__()
        layers, c = [], channels
        for w, stride in ((16, (1, 2, 2)), (32, (2, 2, 2)), (64, (1, 2, 2))):
            layers += [nn.Conv3d(c, w, 3, stride, 1), nn.GroupNorm(4, w), nn.ReLU()]
            c = w
        self.body = nn.Sequential(*layers, nn.AdaptiveAvgPool3d(1), nn.Flatten(), nn.Linear(c, dim))
        self.classes = nn.Linear(dim, num_classes) if num_classes else None
        self.order = nn.Linear(dim, 2)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)

    @torch.no_grad()
    def embed(self, clips: torch.Tensor, batch: int = 256) -> torch.Tensor:
        self.eval()
        return torch.cat(
            [self.features(clips[i : i + batch].float()) for i in range(0, len(clips), batch)]
        ).double()


def shuffle_frames(clips: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Each clip's frames in a random order other than the original (B, C, T, H, W)."""
    out = clips.clone()
    frames = clips.shape[2]
    for i in range(len(clips)):
        perm = torch.randperm(frames, generator=generator)
        while frames > 1 and torch.equal(perm, torch.arange(frames)):
            perm = torch.randperm(frames, generator=generator)
        out[i] = clips[i][:, perm]
    return out


def train_clip_net(
    clips: torch.Tensor, labels: torch.Tensor | None, num_classes: int, steps: int, seed: int
) -> ClipNet:
    """Fit ClipNet on real clips: cross-entropy on the labels (when labeled) plus on "ordered
    or frame-shuffled" (half of each batch shuffled)."""
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    net = ClipNet(clips.shape[1], num_classes if labels is not None else 0)
    opt = torch.optim.Adam(net.parameters(), lr=2e-3)
    for _ in range(steps):
        idx = torch.randint(len(clips), (min(32, len(clips)),), generator=g)
        x = clips[idx].float()
        half = len(x) // 2
        x = torch.cat([x[:half], shuffle_frames(x[half:], g)])
        is_shuffled = torch.cat([torch.zeros(half), torch.ones(len(x) - half)]).long()
        h = F.relu(net.features(x))
        loss = F.cross_entropy(net.order(h), is_shuffled)
        if net.classes is not None:
            loss = loss + F.cross_entropy(net.classes(h[:half]), labels[idx][:half])
        opt.zero_grad()
        loss.backward()
        opt.step()
    return net.eval()


# ---------------------------------------------------------------------------------------
# Temporal statistics and prediction scores
# ---------------------------------------------------------------------------------------


def temporal_stats(clips: torch.Tensor) -> dict[str, torch.Tensor]:
    """Per clip (N,): motion energy, mean |x_{t+1} - x_t| in [0, 2] units, and the lag-1
    correlation of consecutive frames (pixels as samples)."""
    x = clips.double().flatten(3)  # (N, C, T, HW)
    diff = (x[:, :, 1:] - x[:, :, :-1]).abs().mean(dim=(1, 3))  # (N, T-1)
    a, b = x[:, :, :-1], x[:, :, 1:]
    a, b = a - a.mean(-1, keepdim=True), b - b.mean(-1, keepdim=True)
    corr = (a * b).sum(-1) / (a.norm(dim=-1) * b.norm(dim=-1)).clamp_min(1e-8)  # (N, C, T-1)
    return {"motion": diff.mean(1), "frame_corr": corr.mean(dim=(1, 2))}


def temporal_metrics(real: torch.Tensor, fake: torch.Tensor) -> list[Metric]:
    """Motion energy and lag-1 frame correlation of generated vs held-out real clips, and the
    Wasserstein-1 distance between their per-clip distributions."""
    from scipy.stats import wasserstein_distance

    r, f = temporal_stats(real), temporal_stats(fake)
    out = []
    for key, what in (("motion", "motion energy (mean |frame t+1 - frame t|)"),
                      ("frame_corr", "lag-1 frame correlation")):  # fmt: skip
        w1 = wasserstein_distance(r[key].numpy(), f[key].numpy())
        out += [
            Metric(f"{key}_w1", f"W1 distance of per-clip {what}, generated vs held-out", w1,
                   "lower", f"generated mean {float(f[key].mean()):.4g}, real "
                   f"{float(r[key].mean()):.4g}"),
            Metric(f"{key}_generated", f"{what}, generated clips (mean)", float(f[key].mean()),
                   None, f"held-out real clips: {float(r[key].mean()):.4g}"),
        ]  # fmt: skip
    return out


def repeat_last(context: torch.Tensor, frames: int) -> torch.Tensor:
    """The baseline prediction: the last given frame, repeated (B, C, frames, H, W)."""
    return context[:, :, -1:].expand(-1, -1, frames, -1, -1)


def frame_logits(space: Any, clips: torch.Tensor) -> torch.Tensor:
    """A frame classifier's logits for every frame: (N, T, classes)."""
    n, frames = clips.shape[0], clips.shape[2]
    return space.logits(frames_of(clips)).view(n, frames, -1)


def clip_classes(space: Any, clips: torch.Tensor) -> torch.Tensor:
    """The class of each clip (N,) by a frame classifier: its logits averaged over the frames."""
    return frame_logits(space, clips).mean(1).argmax(1)


def frame_classes(space: Any, clips: torch.Tensor) -> torch.Tensor:
    """The class of every frame (N, T) by a frame classifier, each frame read on its own."""
    return frame_logits(space, clips).argmax(2)


def conditional_metrics(
    space: Any, real: torch.Tensor, real_labels: torch.Tensor, fake: torch.Tensor,
    fake_labels: torch.Tensor | None, num_classes: int,
) -> list[Metric]:  # fmt: skip
    """Conditional accuracy read two ways by the frame classifier (the judge): per clip (its
    logits averaged over the clip's frames) and per frame (the share of all frames read as the
    clip's label; a digit that changes halfway through a clip costs frames here, not clips).
    The judge's own accuracy on real held-out clips, read the same two ways, comes first.

    Args:
        space: a classifier feature space (`logits`), trained on the run's training frames.
        real, real_labels: held-out clips (N, C, T, H, W) and their labels (N,).
        fake, fake_labels: generated clips and the labels they were asked for (None: none).
    """
    chance = f"chance {1 / num_classes:.3g}"
    real_clip = float((clip_classes(space, real) == real_labels).double().mean())
    real_frame = float((frame_classes(space, real) == real_labels[:, None]).double().mean())
    out = [
        Metric("classifier_val_accuracy", f"frame classifier ({space.label}) accuracy on real "
               "held-out clips (mean logits over frames)", real_clip, "higher",
               "the judge of conditional_accuracy"),
        Metric("classifier_val_accuracy_frames", f"frame classifier ({space.label}) accuracy "
               "on the frames of real held-out clips, each frame on its own", real_frame,
               "higher", "the judge of conditional_accuracy_frames"),
    ]  # fmt: skip
    if fake_labels is None:
        return out
    per_clip = float((clip_classes(space, fake) == fake_labels).double().mean())
    per_frame = float((frame_classes(space, fake) == fake_labels[:, None]).double().mean())
    frames = fake.shape[0] * fake.shape[2]
    return [
        *out,
        Metric("conditional_accuracy", "conditional accuracy per clip (generated clips whose "
               "frames' mean logits read the asked-for label)", per_clip, "higher",
               f"{chance}; judge on real held-out clips {real_clip:.3g}"),
        Metric("conditional_accuracy_frames", "conditional accuracy per frame (generated "
               "frames read, each on its own, as their clip's asked-for label)", per_frame,
               "higher", f"{frames} frames; {chance}; judge on real held-out frames "
               f"{real_frame:.3g}"),
    ]  # fmt: skip


def frames_of(clips: torch.Tensor) -> torch.Tensor:
    """(N, C, T, H, W) -> (N*T, C, H, W)."""
    return clips.transpose(1, 2).flatten(0, 1)


def prediction_metrics(
    pred: torch.Tensor, truth: torch.Tensor, context: torch.Tensor
) -> list[Metric]:
    """PSNR/SSIM of predicted frames against the true continuation, and of repeating the last
    given frame (the baseline)."""
    k, n = context.shape[2], truth.shape[2]
    base = repeat_last(context, n)
    note = f"{len(truth)} held-out clips, {k} frames given, {n} predicted"
    p, t, b = frames_of(pred), frames_of(truth), frames_of(base)
    return [
        Metric("prediction_psnr", "prediction PSNR (dB) vs the true continuation", psnr(p, t),
               "higher", note),
        Metric("prediction_psnr_repeat_last", "PSNR (dB) of repeating the last given frame "
               "(baseline)", psnr(b, t), "higher", note),
        ssim_metric("prediction_ssim", "prediction SSIM vs the true continuation", p, t, note),
        ssim_metric("prediction_ssim_repeat_last", "SSIM of repeating the last given frame "
                    "(baseline)", b, t, note),
    ]  # fmt: skip


# ---------------------------------------------------------------------------------------
# The evaluator
# ---------------------------------------------------------------------------------------


def evaluate_run(
    run: Run,
    n: int = 128,
    seed: int = 0,
    domain_steps: int = 400,
    sampler: str | None = None,
    steps: int | None = None,
    device: str = "auto",
    progress: Stages | None = None,
) -> EvalResult:
    """Per-frame FD, clip-level FD, temporal statistics, prediction, conditional accuracy and
    a memorisation audit of a video run.

    Args:
        run: a trained video Run.
        n: clips to generate (and at most as many real clips per set).
        seed: sampling and feature-network seed.
        domain_steps: optimisation steps of the frame and clip feature networks.
        sampler, steps: diffusion sampler and its steps (the pipeline's defaults when None).
        device: sampling device.
        progress: where the stages of the work are reported (`core.progress.Stages`).
    """
    from genforge.data.modalities import get_modality
    from genforge.evaluate.features import domain_space
    from genforge.generate.video import VideoPipeline

    st = progress or Stages.off()
    st.stage("reading the run's training and held-out clips")
    if run.read_config().get("modality") != "video":
        raise GenforgeError(f"run '{run.name}' is not a video model")
    split = get_modality("video").reload(run)
    dataset, train, val = split.dataset, split.train, split.val
    if len(val) < 2:
        raise GenforgeError("video evaluation needs held-out clips; train with val_fraction > 0")
    labeled = dataset.num_classes >= 2
    options = {k: v for k, v in (("sampler", sampler), ("steps", steps)) if v is not None}
    pipe = VideoPipeline(run, device=device, **options)
    st.stage(f"sampling {n} clips", total=n)
    fake, fake_labels = pipe.sample(n, seed=seed, progress=st.callback())
    # seeded random subsets: the clips of a split are stored class by class, so a prefix would
    # hold a few classes only (and the real-vs-real floor would compare different digits)
    g = torch.Generator().manual_seed(seed)
    pick_val = torch.randperm(len(val), generator=g)[:n]
    real, real_labels = val.images[pick_val], val.labels[pick_val] if labeled else None
    some_train = train.images[torch.randperm(len(train), generator=g)[: len(real)]]

    st.stage(f"frame feature network ({domain_steps} steps) and per-frame FD")
    train_frames = frames_of(train.images)
    train_frame_labels = train.labels.repeat_interleave(dataset.frames) if labeled else None
    space = domain_space(train_frames, train_frame_labels, f"{dataset.name} frames", domain_steps)
    f_fake, f_real = space.features(frames_of(fake)), space.features(frames_of(real))
    f_train = space.features(frames_of(some_train))
    metrics = [
        Metric("fd_frames", f"per-frame FD ({space.label})", frechet_distance(f_real, f_fake),
               "lower", f"{len(f_fake)} generated vs {len(f_real)} held-out frames"),
        Metric("fd_frames_real_floor", "per-frame FD, real training vs held-out frames",
               frechet_distance(f_real, f_train), "lower", "read fd_frames against it"),
    ]  # fmt: skip

    st.stage(f"clip network on the run's clips ({domain_steps} steps) and clip-level FD")
    net = train_clip_net(train.images, train.labels if labeled else None, dataset.num_classes,
                         domain_steps, seed)  # fmt: skip
    c_fake, c_real, c_train = net.embed(fake), net.embed(real), net.embed(some_train)
    what = "labels and frame order" if labeled else "frame order"
    metrics += [
        Metric("fd_clips", f"clip-level FD (3-D CNN trained on this run's clips: {what}; "
               "not FVD)", frechet_distance(c_real, c_fake), "lower",
               "FVD needs I3D (Kinetics) weights, which are not available offline; comparable "
               "between runs on the same data only"),
        Metric("fd_clips_real_floor", "clip-level FD, real training vs held-out clips",
               frechet_distance(c_real, c_train), "lower", "read fd_clips against it"),
        *temporal_metrics(real, fake),
    ]  # fmt: skip
    extra: dict[str, Any] = {
        "clips": {"generated": len(fake), "val": len(val), "train": len(train)}
    }
    if labeled:  # the judge: the frame classifier, per clip and per frame
        metrics += conditional_metrics(space, real, real_labels, fake, fake_labels,
                                       dataset.num_classes)  # fmt: skip
    sections = [
        Section("Generated clips (a row per clip)", png_img(strip_array(fake[:8], min_side=32))),
        Section("Real held-out clips", png_img(strip_array(real[:8], min_side=32))),
    ]
    if pipe.model.fills_frames:
        st.stage("predicting held-out continuations")
        metrics_p, section = _prediction(pipe, real[:64], real_labels, seed,
                                         space if labeled else None)  # fmt: skip
        metrics += metrics_p
        sections.append(section)

    st.stage("memorisation audit (nearest training clip)")
    found = audit(fake, train.images, val.images, c_fake, net.embed(train.images),
                  net.embed(val.images))  # fmt: skip
    metrics.append(Metric("memorised_clips", "generated clips flagged as near-copies of a "
                          "training clip", float(found.num_flagged), "lower",
                          "closer than half the 5th percentile of held-out clips' distances, in "
                          "pixels or clip features"))  # fmt: skip
    extra["memorisation"] = found.summary()
    sections.append(Section("Data", html_table(["", "clips"], [["train", len(train)],
                            ["held out", len(val)], ["generated", len(fake)]])))  # fmt: skip
    return EvalResult("video", metrics, sections, extra)


def _prediction(
    pipe: Any, real: torch.Tensor, real_labels: torch.Tensor | None, seed: int, space: Any = None
) -> tuple[list[Metric], Section]:
    """Held-out clips given their first half; the second half predicted and scored. A
    conditional run is given no label: it continues each clip as the class its own model reads
    in the given frames (`VideoPipeline.infer_labels`), scored against the true labels. With
    labeled data, the frame classifier (`space`) reads the predicted frames: is the clip's
    class kept (PSNR barely sees a digit that changes at 16 px: position dominates it)?"""
    k = pipe.spec.frames // 2
    context, truth = real[:, :, :k], real[:, :, k:]
    metrics, labels = [], None
    if pipe.model.conditional:
        labels = pipe.infer_labels(context, seed=seed)
        if real_labels is not None:
            acc = float((labels == real_labels[: len(real)]).double().mean())
            metrics.append(Metric("prediction_label_accuracy", "classes the run's model infers "
                                  f"from the {k} given frames (its denoising loss per class)",
                                  acc, "higher", f"{len(real)} held-out clips, chance "
                                  f"{1 / pipe.spec.num_classes:.3g}"))  # fmt: skip
    pred = pipe.predict(context, frames=truth.shape[2], seed=seed, label=labels)[:, :, k:]
    if space is not None and real_labels is not None:
        y = real_labels[: len(real), None]
        kept = float((frame_classes(space, pred) == y).double().mean())
        floor = float((frame_classes(space, truth) == y).double().mean())
        metrics.append(Metric("prediction_class_kept", "predicted frames the frame classifier "
                              "reads as the held-out clip's class", kept, "higher",
                              f"on the true continuations: {floor:.3g}"))  # fmt: skip
    rows = torch.stack([torch.cat([context, truth], 2), torch.cat([context, pred], 2)], 1)
    strip = strip_array(rows[:4].flatten(0, 1), min_side=32)
    return prediction_metrics(pred, truth, context) + metrics, Section(
        f"Prediction: {k} frames given (pairs of rows: truth, then predicted)", png_img(strip)
    )


def shuffled_copy(clips: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """`clips` with each clip's frames shuffled (what temporal metrics must tell apart)."""
    return shuffle_frames(clips, torch.Generator().manual_seed(seed))
