"""Audio evaluation: a Fréchet distance in a domain feature space, conditional accuracy, and
spectrogram grids and players for listening.

There is no pretrained audio network on disk (and nothing is downloaded), so the feature space
is learned here, from the run's own real clips: a small CNN on log-mel spectrograms trained as
a classifier of the labels (labeled data) or as an autoencoder (unlabeled data). The metric is
labelled as what it is, "FD (domain CNN on log-mels)": comparable between runs on the same data
and settings, not with published FAD numbers (VGGish features). The distance between the real
training and real held-out clips is reported beside it as the floor to read it against.
"""

from __future__ import annotations

import base64
import io
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from genforge.core.audio import log_mel, spectrogram_grid, stft_magnitude
from genforge.core.errors import GenforgeError
from genforge.core.progress import Stages
from genforge.core.run import Run
from genforge.evaluate.report import html_table, png_img
from genforge.evaluate.result import EvalResult, Metric, Section

FRAMES = 32  # log-mels are pooled to 64 bands x 32 frames before the CNN

# ---------------------------------------------------------------------------------------
# Feature network
# ---------------------------------------------------------------------------------------


def features_in(waves: torch.Tensor, sample_rate: int) -> torch.Tensor:
    """(B, 1, L) -> (B, 1, 64, 32) log-mel, pooled in time, roughly in [-1, 1]."""
    n_fft = 512 if sample_rate >= 12000 else 256
    m = log_mel(waves.flatten(1).float(), sample_rate, n_fft, n_fft // 4, 64)  # (B, 64, T)
    m = F.adaptive_avg_pool1d(m, FRAMES)
    return ((m + 2.0) / 3.0).clamp(-1.5, 1.5).unsqueeze(1)


class DomainCNN(nn.Module):
    """Log-mel CNN: 64-d features; a class head (labeled) or a reconstruction head (unlabeled)."""

    def __init__(self, num_classes: int, dim: int = 64):
        super().__init__()
        layers, c = [], 1
        for w in (16, 32, 64):
            layers += [nn.Conv2d(c, w, 3, 2, 1), nn.GroupNorm(4, w), nn.ReLU()]
            c = w
        self.body = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, dim))
        self.head = nn.Linear(dim, num_classes) if num_classes else nn.Linear(dim, 64 * FRAMES)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)  # (B, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(F.relu(self.features(x)))


def train_domain_cnn(
    x: torch.Tensor, y: torch.Tensor | None, num_classes: int, steps: int, seed: int
) -> DomainCNN:
    """Fit the CNN on real log-mels x (N, 1, 64, 32): cross-entropy or reconstruction MSE."""
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    net = DomainCNN(num_classes if y is not None else 0)
    opt = torch.optim.Adam(net.parameters(), lr=2e-3)
    for _ in range(steps):
        idx = torch.randint(len(x), (min(64, len(x)),), generator=g)
        out = net(x[idx])
        loss = F.cross_entropy(out, y[idx]) if y is not None else F.mse_loss(out, x[idx].flatten(1))
        opt.zero_grad()
        loss.backward()
        opt.step()
    return net.eval()


def _level_free(x: torch.Tensor) -> torch.Tensor:
    """Log-mels relative to each clip's loudest bin (the classifier ignores level)."""
    return x - x.amax(dim=(2, 3), keepdim=True)


def train_label_classifier(
    waves: torch.Tensor, labels: torch.Tensor, num_classes: int, sample_rate: int, steps: int,
    seed: int, copies: int = 3,
) -> DomainCNN:  # fmt: skip
    """The judge of conditional accuracy: a CNN on level-free log-mels of the real clips, each
    seen `copies` times with white noise at a random SNR of -5..25 dB. The noise makes it
    judge the class (pitch, word) of a generated clip rather than how clean it is; the FD's
    network is trained without it, so the FD does see the noise."""
    g = torch.Generator().manual_seed(seed)
    w, y = waves.repeat(copies, 1, 1), labels.repeat(copies)
    rms = w.pow(2).mean(-1, keepdim=True).sqrt()
    snr_db = torch.rand(len(w), 1, 1, generator=g) * 30 - 5
    noisy = w + torch.randn(w.shape, generator=g) * rms / 10 ** (snr_db / 20)
    return train_domain_cnn(
        _level_free(features_in(noisy, sample_rate)), y, num_classes, steps, seed
    )


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """||mu_a - mu_b||^2 + Tr(Ca + Cb - 2 (Ca Cb)^1/2) of two feature sets (N, D)."""
    from scipy import linalg

    mu_a, mu_b = a.mean(0), b.mean(0)
    ca, cb = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean, _ = linalg.sqrtm(ca @ cb, disp=False)
    covmean = covmean.real
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(ca + cb - 2 * covmean))


# ---------------------------------------------------------------------------------------
# Report helpers
# ---------------------------------------------------------------------------------------


def wav_player(wave: torch.Tensor, sample_rate: int, title: str) -> str:
    """An <audio> element with the clip embedded as a 16-bit WAV data URI."""
    import soundfile as sf

    buf = io.BytesIO()
    sf.write(buf, wave.flatten().clamp(-1, 1).numpy(), sample_rate, subtype="PCM_16", format="WAV")
    src = "data:audio/wav;base64," + base64.b64encode(buf.getvalue()).decode("ascii")
    return f"<div class='pair'>{title}<br><audio controls src='{src}'></audio></div>"


# ---------------------------------------------------------------------------------------
# The evaluator
# ---------------------------------------------------------------------------------------


def evaluate_run(
    run: Run,
    n: int = 256,
    seed: int = 0,
    feature_steps: int = 400,
    device: str = "auto",
    progress: Stages | None = None,
) -> EvalResult:
    """FD in a domain feature space, conditional accuracy, grids and players.

    Args:
        run: a trained audio Run.
        n: clips to generate (and at most as many real clips per set).
        seed: sampling and feature-network seed.
        feature_steps: optimisation steps of the domain CNN on the real clips.
        device: sampling device.
        progress: where the stages of the work are reported (`core.progress.Stages`).
    """
    from genforge.data.modalities import get_modality
    from genforge.generate.audio import AudioPipeline

    st = progress or Stages.off()
    st.stage("reading the run's training and held-out clips")
    cfg = run.read_config()
    if cfg.get("modality") != "audio":
        raise GenforgeError(f"run '{run.name}' is not an audio model")
    split = get_modality("audio").reload(run)
    dataset, train, val = split.dataset, split.train, split.val
    if len(val) < 2:
        raise GenforgeError("audio evaluation needs held-out clips; train with val_fraction > 0")
    rate = dataset.sample_rate
    labeled = dataset.num_classes >= 2

    st.stage(f"sampling {n} clips")
    pipe = AudioPipeline(run, device=device)
    fake, fake_labels = pipe.sample(n, seed=seed)
    x_train, x_val = features_in(train.images, rate), features_in(val.images, rate)
    st.stage(f"domain feature network on log-mels ({feature_steps} steps)")
    net = train_domain_cnn(x_train, train.labels if labeled else None, dataset.num_classes,
                           feature_steps, seed)  # fmt: skip
    with torch.no_grad():
        f_train = net.features(x_train[:n]).numpy()
        f_val = net.features(x_val[:n]).numpy()
        x_fake = features_in(fake, rate)
        f_fake = net.features(x_fake).numpy()
    space = "domain classifier" if labeled else "domain autoencoder"
    fd = frechet_distance(f_fake, f_val)
    floor = frechet_distance(f_train, f_val)
    metrics = [
        Metric("fd_domain", f"FD (64-d features of a {space} CNN on log-mels, trained on "
               f"{cfg['data']['source']})", fd, "lower",
               f"{len(f_fake)} generated vs {len(f_val)} held-out real clips; not comparable "
               "with VGGish FAD"),
        Metric("fd_domain_real_floor", "FD real training vs held-out clips (same features)",
               floor, "lower", "the distance two real samples have: read fd_domain against it"),
    ]  # fmt: skip
    extra: dict[str, Any] = {
        "clips": {"generated": len(fake), "val": len(val), "train": len(train)}
    }
    if labeled:
        st.stage(f"label classifier for conditional accuracy ({feature_steps} steps)")
        judge = train_label_classifier(train.images, train.labels, dataset.num_classes, rate,
                                       feature_steps, seed)  # fmt: skip
        with torch.no_grad():
            real_acc = float((judge(_level_free(x_val)).argmax(1) == val.labels).float().mean())
        metrics.append(Metric("classifier_val_accuracy", "label classifier accuracy, real held-out",
                              real_acc, "higher", "the judge of conditional accuracy: a log-mel "
                              "CNN trained on the real training clips with added noise"))  # fmt: skip
        if pipe.model.conditional and fake_labels is not None:
            with torch.no_grad():
                pred = judge(_level_free(x_fake)).argmax(1)
            acc = float((pred == fake_labels).float().mean())
            metrics.append(Metric("conditional_accuracy", "conditional accuracy (generated clips "
                                  "classified as their asked-for label)", acc, "higher",
                                  f"chance is {1 / dataset.num_classes:.3g}; judge accuracy on "
                                  f"real held-out clips {real_acc:.3g}"))  # fmt: skip
            extra["conditional_accuracy"] = acc
            extra["predicted_class_counts"] = torch.bincount(
                pred, minlength=dataset.num_classes
            ).tolist()

    names = list(dataset.class_names)
    titles_fake = [names[int(y)] for y in fake_labels[:8]] if fake_labels is not None else None
    titles_real = [names[int(y)] for y in val.labels[:8]] if labeled else None
    sections = [
        Section("Generated spectrograms", png_img(spectrogram_grid(fake[:8], rate, titles_fake))),
        Section("Real held-out spectrograms", png_img(spectrogram_grid(val.images[:8], rate, titles_real))),
        Section("Listen", "".join(wav_player(fake[i], rate, f"generated #{i}") for i in range(min(4, len(fake))))
                + "<br>" + "".join(wav_player(val.images[i], rate, f"real #{i}") for i in range(min(4, len(val))))),
        Section("Data", html_table(["", "clips"], [["train", len(train)], ["held out", len(val)],
                                                   ["generated", len(fake)]])),
    ]  # fmt: skip
    return EvalResult("audio", metrics, sections, extra)


# ---------------------------------------------------------------------------------------
# Per-clip signal checks and the cached domain networks (the audio gates' feature space)
# ---------------------------------------------------------------------------------------

CLIP_LEVEL = 0.999  # a sample at |x| >= this is clipped
SILENCE_DB = -50.0  # a frame whose RMS is below this (dBFS) is silent
FRAME_SECONDS = 0.02  # frames of the silence check


def signal_stats(
    waves: torch.Tensor, sample_rate: int, silence_db: float = SILENCE_DB
) -> dict[str, torch.Tensor]:
    """Per clip of (B, 1, L) or (B, L): `clipped` (share of samples at |x| >= 0.999),
    `silent` (share of 20 ms frames with RMS below `silence_db` dBFS) and `snr_db`.

    The SNR is estimated from the clip alone: in each STFT frame the noise is taken to be
    broadband, so its power per bin is the median bin power / ln 2 (the median of an
    exponential variable is its mean times ln 2); the signal is what lies above it. Sparse
    spectra (tones, voices) read high, white noise reads about 0 dB and below, and a silent
    clip has nothing above its floor: 0 dB.
    """
    x = waves.reshape(len(waves), -1).float()
    clipped = (x.abs() >= CLIP_LEVEL).float().mean(1)
    frame = max(1, int(sample_rate * FRAME_SECONDS))
    usable = x[:, : x.shape[1] // frame * frame] if x.shape[1] >= frame else x
    frames = usable.reshape(len(x), -1, min(frame, usable.shape[1]))  # (B, T, frame)
    rms_db = 10 * torch.log10(frames.pow(2).mean(2).clamp_min(1e-20))
    silent = (rms_db < silence_db).float().mean(1)
    n_fft = 512 if sample_rate >= 12000 else 256
    power = stft_magnitude(x, n_fft, n_fft // 4).pow(2)  # (B, F, T)
    if power.shape[2] > 4:  # the two frames at each end reach into the reflected padding
        power = power[:, :, 2:-2]
    noise = power.median(1).values / math.log(2) * power.shape[1]  # (B, T)
    signal = (power.sum(1) - noise).clamp_min(0)
    eps = 1e-10
    snr_db = 10 * torch.log10((signal.sum(1) + eps) / (noise.sum(1) + eps))
    return {"clipped": clipped, "silent": silent, "snr_db": snr_db}


@dataclass
class AudioSpace:
    """The audio evaluator's two networks for one run's data, trained once and cached:
    `net`, the FD's log-mel CNN (a classifier of the labels, or an autoencoder without them),
    and `judge`, the noise-robust label classifier of conditional accuracy (labeled data)."""

    net: DomainCNN
    judge: DomainCNN | None
    sample_rate: int
    label: str  # what the features are, for the learned gate's record

    @torch.no_grad()
    def features(self, waves: torch.Tensor) -> torch.Tensor:
        """(B, 64) features of the FD network (float64)."""
        x = features_in(waves, self.sample_rate)
        out = [self.net.features(x[i : i + 256]) for i in range(0, len(x), 256)]
        return torch.cat(out).double()

    @torch.no_grad()
    def probs(self, waves: torch.Tensor) -> torch.Tensor | None:
        """(B, K) class probabilities of the judge; None for unlabeled data."""
        if self.judge is None:
            return None
        x = _level_free(features_in(waves, self.sample_rate))
        out = [self.judge(x[i : i + 256]).softmax(1) for i in range(0, len(x), 256)]
        return torch.cat(out).double()


def audio_space(run: Run, steps: int | None = None) -> AudioSpace:
    """The domain networks of `run`'s training clips, from the cache (`$GENFORGE_CACHE`/features,
    keyed by the exact clips, labels and steps) or trained now (`steps`, default
    $GENFORGE_DOMAIN_STEPS or 800)."""
    from safetensors.torch import load_file, save_file

    from genforge.core.io import atomic_path, write_json
    from genforge.data.modalities import get_modality
    from genforge.evaluate.features import cache_root, default_domain_steps, fingerprint

    split = get_modality("audio").reload(run)
    ds, train = split.dataset, split.train
    rate, k = ds.sample_rate, ds.num_classes
    labels = train.labels if k >= 2 else None
    steps = steps or default_domain_steps()
    folder = cache_root() / "features" / f"audio-{rate}-{fingerprint(train.images, labels, steps)}"
    label = (f"domain CNN on log-mels ({'classifier' if labels is not None else 'autoencoder'}, "
             f"{run.read_config()['data']['source']})")  # fmt: skip
    net = DomainCNN(k if labels is not None else 0)
    judge = DomainCNN(k) if labels is not None else None
    if (folder / "info.json").is_file():  # written last: the networks are complete
        net.load_state_dict(load_file(str(folder / "net.safetensors")))
        if judge is not None:
            judge.load_state_dict(load_file(str(folder / "judge.safetensors")))
        return AudioSpace(net.eval(), judge.eval() if judge else None, rate, label)
    net = train_domain_cnn(features_in(train.images, rate), labels, k, steps, seed=0)
    nets = {"net": net}
    if labels is not None:
        judge = nets["judge"] = train_label_classifier(train.images, labels, k, rate, steps, 0)
    folder.mkdir(parents=True, exist_ok=True)
    for name, m in nets.items():
        with atomic_path(folder / f"{name}.safetensors") as tmp:
            save_file({n: v.detach().contiguous() for n, v in m.state_dict().items()}, str(tmp))
    write_json(folder / "info.json", {"data": label, "steps": steps, "clips": len(train)})
    return AudioSpace(net, judge, rate, label)
