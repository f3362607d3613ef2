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
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from genforge.core.audio import log_mel, spectrogram_grid
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
