"""Evaluate an image Run: distribution metrics in a named feature space, label checks,
memorization audit, reconstructions (VAEs), downstream utility, and the report sections.

    ev = ImageEvaluator(run)                 # loads the run's real data and a feature space
    result = ev.evaluate(n=1000)             # EvalResult: metrics + report sections
    write_report(run, result)

The same code serves every image family: it only needs images from the run's pipeline.
"""

from __future__ import annotations

import math
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from genforge.core.errors import GenforgeError
from genforge.core.images import make_grid
from genforge.core.progress import Stages
from genforge.core.run import Run, resolve_run
from genforge.data.dataset import load_images, subset_indices, take
from genforge.evaluate import image_metrics as im
from genforge.evaluate.features import (
    MAX_REAL,
    DomainSpace,
    FeatureChoice,
    default_domain_steps,
    domain_space,
    feature_space,
    space_section,
)
from genforge.evaluate.memorization import Audit, audit
from genforge.evaluate.report import Raw, html_table, png_img
from genforge.evaluate.result import EvalResult, Metric, Section
from genforge.models import get_entry, modality_of

# ---------------------------------------------------------------------------------------
# Real data of a run
# ---------------------------------------------------------------------------------------


@dataclass
class RealImages:
    name: str
    train: torch.Tensor  # (N, C, H, W) in [-1, 1]
    train_labels: torch.Tensor | None
    val: torch.Tensor
    val_labels: torch.Tensor | None
    class_names: list[str]


def real_images(run: Run, limit: int = MAX_REAL) -> RealImages:
    """The run's own training and held-out images, split exactly as training split them (a
    seeded subset of at most `limit` of each); captioned images are labeled by caption."""
    cfg = run.read_config()
    split = modality_of(cfg).reload(run)
    seed = int(cfg["train"].get("seed", 0))
    x, y = take(split.train, subset_indices(len(split.train), limit, seed))
    vx, vy = take(split.val, subset_indices(len(split.val), limit, seed))
    name = Path(str(cfg["data"]["source"])).name
    return RealImages(name, x, y, vx, vy, list(split.dataset.class_names))


def folder_images(path: str | Path, spec: Any, limit: int = MAX_REAL) -> torch.Tensor:
    """Images of a held-out folder at the run's size and channels."""
    ds = load_images(str(Path(path).resolve()), spec.size, spec.channels, seed=0)
    return take(ds, subset_indices(len(ds), limit, 0))[0]


# ---------------------------------------------------------------------------------------
# The evaluator
# ---------------------------------------------------------------------------------------


class ImageEvaluator:
    """Feature spaces and real reference data for one image run, reused across calls.

    Args:
        run: the Run (or its name/path).
        features: "auto" (Inception when its weights are on disk, else domain), "domain",
            "inception".
        inception_weights: path of pt_inception-2015-12-05-6726825d.pth (optional).
        real: a held-out folder to compare with instead of the run's training images.
        device: where feature networks run.
        domain_steps: training steps of the domain network (when not cached).
        pipeline: an already loaded ImagePipeline (else loaded here unless load_pipeline is
            False: evaluation during training scores the trainer's own network).
        progress: where the stages of the work are reported (`core.progress.Stages`).
    """

    def __init__(
        self,
        run: Run | str | Path,
        features: FeatureChoice = "auto",
        inception_weights: str | Path | None = None,
        real: str | Path | None = None,
        device: str = "auto",
        domain_steps: int | None = None,
        pipeline: Any = None,
        progress: Stages | None = None,
        load_pipeline: bool = True,
    ):
        from genforge.core.device import pick_device
        from genforge.generate.pipeline import ImagePipeline

        self.run = run if isinstance(run, Run) else resolve_run(run)
        cfg = self.run.read_config()
        if modality_of(cfg).unit != "images":
            raise GenforgeError(f"run '{self.run.name}' is not an image run")
        if get_entry(cfg["model"]).family.task == "translate":  # evaluate/translation.py
            raise GenforgeError(
                f"run '{self.run.name}' translates images ({cfg['model']}) rather than sampling "
                "them; sampling metrics do not apply (genforge eval measures its translations)"
            )
        self.device = pick_device(device)
        self.stages = st = progress or Stages.off()
        self.pipe = pipeline
        if self.pipe is None and load_pipeline and self.run.read_meta() is not None:
            self.pipe = ImagePipeline(self.run, device=device)
        st.stage("reading the run's training and held-out images")
        self.data = real_images(self.run)
        d = self.data
        val = (d.val, d.val_labels)
        st.stage("feature space (a domain network is trained once per data set, then cached)")
        self.space = feature_space(
            features, d.train, d.train_labels, d.name, inception_weights, self.device, val,
            domain_steps, st.callback(),
        )  # fmt: skip
        self.classifier: DomainSpace | None = None  # for label checks, when data is labeled
        if d.train_labels is not None and len(d.class_names) >= 2:
            if isinstance(self.space, DomainSpace):
                self.classifier = self.space
            else:
                steps = domain_steps or default_domain_steps()
                st.stage("domain classifier for the label checks")
                self.classifier = domain_space(
                    d.train, d.train_labels, d.name, steps, self.device, val, st.callback()
                )
        self.reference_name = "training images"
        self.reference = d.train
        if real is not None:
            spec = self.pipe.spec if self.pipe is not None else None
            if spec is None:
                raise GenforgeError(f"run '{self.run.name}' has no checkpoint yet")
            self.reference = folder_images(real, spec)
            self.reference_name = f"held-out folder {Path(real).name}"
        self._ref_feats: torch.Tensor | None = None

    # -- names --------------------------------------------------------------------------------
    @property
    def fd_key(self) -> str:
        return "fid_inception" if self.space.kind == "inception" else "fd_domain"

    @property
    def fd_label(self) -> str:
        if self.space.kind == "inception":
            return "FID (Inception)"
        return f"FD ({self.space.label})"

    def ref_features(self) -> torch.Tensor:
        if self._ref_feats is None:
            self._ref_feats = self.space.features(self.reference)
        return self._ref_feats

    # -- single numbers (used by training-time evaluation and other issues' benches) ---------
    def fd(self, images: torch.Tensor) -> float:
        return im.frechet_distance(self.ref_features(), self.space.features(images))

    def fd_real_floor(self) -> float | None:
        """FD of the run's held-out real images to the same reference: the value a perfect
        model would reach at that sample size (None with fewer than two)."""
        if len(self.data.val) < 2:
            return None
        return im.frechet_distance(self.ref_features(), self.space.features(self.data.val))

    def conditional_accuracy(self, images: torch.Tensor, labels: torch.Tensor) -> float:
        if self.classifier is None:
            raise GenforgeError("conditional accuracy needs labeled data (class subfolders)")
        pred = self.classifier.logits(images).argmax(1)
        return float((pred == labels.cpu()).double().mean())

    def quick(self, images: torch.Tensor, labels: torch.Tensor | None = None) -> dict[str, float]:
        """A few cheap numbers for evaluation during training (keys without the eval_ prefix)."""
        fake = self.space.features(images)
        out = {"fd": im.frechet_distance(self.ref_features(), fake)}
        pr = im.manifold_metrics(self.ref_features(), fake)
        out.update({"precision": pr["precision"], "recall": pr["recall"]})
        if labels is not None and self.classifier is not None:
            out["accuracy"] = self.conditional_accuracy(images, labels)
        return out

    # -- the full evaluation -----------------------------------------------------------------
    def evaluate(
        self,
        n: int = 1000,
        seed: int = 0,
        utility: bool | None = None,
        utility_seeds: int = 3,
        utility_steps: int = 300,
    ) -> EvalResult:
        """Sample `n` images and compute every metric that applies to this run."""
        if self.pipe is None:
            raise GenforgeError(f"run '{self.run.name}' has no checkpoint yet; train it first")
        if n < 10:
            raise GenforgeError(f"--n must be at least 10 for distribution metrics, got {n}")
        pipe, d, st = self.pipe, self.data, self.stages
        st.stage(f"sampling {n} images", total=n)
        images = pipe.sample(n, seed=seed, progress=st.callback())
        labels = pipe.labels_for(n)
        sections: list[Section] = []
        extra: dict[str, Any] = {
            "feature_space": {"kind": self.space.kind, "label": self.space.label},
            "samples": n,
            "reference": {"name": self.reference_name, "items": len(self.reference)},
        }
        # (1) distribution metrics in the named feature space
        st.stage(f"distribution metrics ({self.fd_label}, KD, precision/recall)")
        metrics = self._distribution_metrics(images)
        # (2) label-aware checks
        if self.classifier is not None and d.train_labels is not None:
            st.stage("label checks")
            metrics_l, section_l = self._label_checks(images, labels)
            metrics += metrics_l
            sections.append(section_l)
        # (3) memorization audit
        st.stage("memorization audit (nearest training image of every sample)")
        aud = self._audit(images)
        metrics += self._audit_metrics(aud, n)
        extra["memorization"] = aud.summary()
        sections.append(self._audit_section(images, aud))
        # (4) reconstructions (VAEs)
        if pipe.model.encodes and len(d.val):
            st.stage("reconstructions of held-out images")
            metrics_r, section_r = self._reconstructions()
            metrics += metrics_r
            sections.append(section_r)
        # (5) downstream utility (labeled data, conditional models)
        if utility if utility is not None else pipe.model.conditional:
            st.stage(f"downstream utility ({utility_seeds} seeds x 3 classifiers)")
            metrics_u, section_u, extra["utility"] = self._utility(utility_seeds, utility_steps)
            metrics += metrics_u
            sections.append(section_u)
        # (6) what the samples look like
        sections.insert(0, self._samples_section(images, labels))
        sections.append(space_section(self.space))
        return EvalResult("image", metrics, sections, extra)

    # -- the phases of `evaluate` ---------------------------------------------------------------
    def _distribution_metrics(self, images: torch.Tensor) -> list[Metric]:
        """FD (and its real-data floor), KD, IS and k-NN precision/recall/density/coverage."""
        n, d = len(images), self.data
        ref = self.ref_features()
        fake = self.space.features(images)
        space = "Inception" if self.space.kind == "inception" else self.space.label
        note = f"{n} samples vs {len(ref)} {self.reference_name}"
        metrics = [
            Metric(self.fd_key, self.fd_label, im.frechet_distance(ref, fake), "lower", note)
        ]
        floor = self.fd_real_floor()
        if floor is not None:
            metrics.append(Metric(
                "fd_real_floor", f"{self.fd_label.split(' (')[0]} of held-out real images ({space})",
                floor, "lower",
                f"{len(d.val)} real val images vs the same reference: the value a perfect "
                "model would get at this sample size",
            ))  # fmt: skip
        kid, kid_std, size = im.kernel_distance(ref, fake)
        inception = self.space.kind == "inception"
        metrics.append(Metric(
            "kid_inception" if inception else "kd_domain",
            "KID (Inception)" if inception else f"KD ({space})", kid, "lower",
            f"± {kid_std:.2g}; 100 subsets of {size}",
        ))  # fmt: skip
        logits = self.space.logits(images) if inception else None
        if logits is None and self.classifier is not None:
            logits = self.classifier.logits(images)
        if logits is not None:
            is_mean, is_std = im.inception_score(logits)
            source = "Inception" if inception else self.classifier.label
            metrics.append(Metric(
                "is_inception" if inception else "is_domain", f"IS ({source})", is_mean,
                "higher", f"± {is_std:.2g} over splits",
            ))  # fmt: skip
        pr = im.manifold_metrics(ref, fake)
        for key in ("precision", "recall", "density", "coverage"):
            metrics.append(
                Metric(key, f"{key} (k=5, {space})", pr[key], "higher", "k-NN manifold estimate")
            )
        return metrics

    def _audit_metrics(self, aud: Audit, n: int) -> list[Metric]:
        return [
            Metric(
                "memorized", "near-copies of training images", float(aud.num_flagged), "lower",
                f"of {n}; threshold {aud.pixel_threshold:.3g} RMS (pixels), calibrated on "
                f"{len(self.data.val)} held-out images",
            ),
            Metric(
                "nn_pixel_median", "median distance to nearest training image (RMS, pixels)",
                float(aud.pixel_dist.median()), None,
                f"held-out real images: {aud.calibration['val_pixel_median']:.3g}",
            ),
        ]  # fmt: skip

    def _reconstructions(self) -> tuple[list[Metric], Section]:
        """PSNR/SSIM of the VAE's reconstructions of held-out images, and a grid of pairs."""
        pipe, d = self.pipe, self.data
        x = d.val[:256]
        y = d.val_labels[:256] if d.val_labels is not None and pipe.model.conditional else None
        rec = pipe.reconstruct(x, y)
        metrics = [
            Metric("psnr_recon", "reconstruction PSNR (dB, held-out)", im.psnr(rec, x), "higher")
        ]
        if pipe.spec.size >= 11:
            metrics.append(
                Metric("ssim_recon", "reconstruction SSIM (held-out)", im.ssim(rec, x), "higher")
            )
        else:
            metrics.append(
                Metric("ssim_recon", "reconstruction SSIM (held-out)", math.nan, "higher",
                       "not defined below 11×11 pixels (Gaussian window 11)")
            )  # fmt: skip
        pairs = torch.stack([x[:16], rec[:16]], 1).flatten(0, 1)
        section = Section(
            "Reconstructions",
            "<p>Held-out images (left) and their reconstructions (right).</p>"
            + png_img(make_grid(pairs, nrow=8), "reconstructions"),
        )
        return metrics, section

    def _utility(self, seeds: int, steps: int) -> tuple[list[Metric], Section, dict[str, Any]]:
        """Classifier accuracy on held-out real images when trained on real, real + synthetic
        and synthetic images only."""
        from genforge.evaluate.utility import utility_table

        rows, util = utility_table(self, seeds=seeds, steps=steps)
        metrics = []
        for key, label in (
            ("real", "classifier accuracy, real only"),
            ("real+synthetic", "classifier accuracy, real + synthetic"),
            ("synthetic", "classifier accuracy, synthetic only (TSTR)"),
        ):
            if key in util:
                metrics.append(Metric(
                    f"utility_{key.replace('+', '_')}", label, util[key]["mean"], "higher",
                    f"± {util[key]['ci95']:.3g} (95% CI, {util[key]['n']} seeds) on "
                    f"{util['test_items']} held-out real images",
                ))  # fmt: skip
        return metrics, Section("Downstream utility", rows), util

    def _samples_section(self, images: torch.Tensor, labels: torch.Tensor | None) -> Section:
        """A grid of samples, sorted by class for conditional models (one column per class)."""
        pipe, n = self.pipe, len(images)
        nrow = min(pipe.spec.num_classes, 10) if pipe.model.conditional else 8
        show = images[:64]
        if pipe.model.conditional and labels is not None:
            order = torch.argsort(labels[: min(n, 100)], stable=True)
            show = images[: min(n, 100)][order]
        grid = make_grid(show, nrow=nrow)
        width = min(640, max(320, grid.shape[1] * 2))  # small images shown enlarged, pixelated
        return Section("Samples", png_img(grid, "samples", width=width))

    # -- pieces -------------------------------------------------------------------------------
    def _label_checks(
        self, images: torch.Tensor, labels: torch.Tensor | None
    ) -> tuple[list[Metric], Section]:
        d, clf = self.data, self.classifier
        assert clf is not None and d.train_labels is not None
        k = len(d.class_names)
        pred = clf.logits(images).argmax(1)
        hist = im.class_histogram_check(pred, d.train_labels, k)
        metrics = [
            Metric(
                "class_kl",
                f"class histogram KL(real ‖ samples) ({clf.label})",
                hist["kl"],
                "lower",
                "nats; mode collapse makes it large",
            ),
            Metric(
                "classes_covered",
                "classes covered by samples",
                float(hist["classes_covered"]),
                "higher",
                f"of {hist['num_classes']}; a class counts when it gets ≥ 1/4 of its real share",
            ),
        ]
        per_class_acc: list[float] = [math.nan] * k
        if labels is not None:
            acc = float((pred == labels).double().mean())
            metrics.insert(
                0,
                Metric(
                    "conditional_accuracy",
                    f"conditional accuracy ({clf.label})",
                    acc,
                    "higher",
                    f"share of samples the classifier assigns to the requested class; its own "
                    f"held-out accuracy on real images: {clf.info.get('val_accuracy', math.nan):.3f}",
                ),
            )
            for c in range(k):
                m = labels == c
                if m.any():
                    per_class_acc[c] = float((pred[m] == c).double().mean())
        rows = [
            [d.class_names[c], hist["real_counts"][c], hist["fake_counts"][c], per_class_acc[c]]
            for c in range(k)
        ]
        table = html_table(
            ["class", "real training images", "samples classified as", "conditional accuracy"],
            rows,
        )
        return metrics, Section("Per-class table", table)

    def _audit(self, images: torch.Tensor) -> Audit:
        d = self.data
        sf = tf = vf = None
        if isinstance(self.space, DomainSpace):  # cheap; Inception features too costly here
            sf, tf, vf = (self.space.features(x) for x in (images, d.train, d.val))
        return audit(images, d.train, d.val, sf, tf, vf)

    def _audit_section(self, images: torch.Tensor, aud: Audit) -> Section:
        d = self.data
        rows = []
        for i in aud.closest(8):
            j = int(aud.pixel_index[i])
            pair = make_grid(torch.stack([images[i], d.train[j]]), nrow=2, padding=2)
            rows.append(
                [
                    Raw(png_img(pair, "sample | nearest training image", width=128)),
                    float(aud.pixel_dist[i]),
                    "yes" if bool(aud.flagged[i]) else "no",
                ]
            )
        verdict = (
            f"<div class='verdict bad'>{aud.num_flagged} of {len(images)} samples are near-copies "
            "of training images.</div>"
            if aud.num_flagged
            else f"<div class='verdict ok'>No sample is a near-copy of a training image (closest "
            f"{float(aud.pixel_dist.min()):.3g} RMS; threshold {aud.pixel_threshold:.3g}).</div>"
        )
        return Section(
            "Memorization audit",
            verdict
            + "<p>The closest samples to any training image (sample left, nearest training image "
            "right). The threshold is half the 5th percentile of held-out real images' distance "
            "to the training set.</p>"
            + html_table(["sample | nearest training image", "RMS distance", "flagged"], rows),
        )


# ---------------------------------------------------------------------------------------
# Entry points
# ---------------------------------------------------------------------------------------


def evaluate_run(
    run: Run,
    n: int | None = None,
    seed: int = 0,
    real: str | Path | None = None,
    features: FeatureChoice = "auto",
    inception_weights: str | Path | None = None,
    device: str = "auto",
    utility: bool | None = None,
    utility_seeds: int = 3,
    utility_steps: int = 300,
    domain_steps: int | None = None,
    progress: Stages | None = None,
    restoration: bool = False,
    sampler: str | None = None,
    steps: int | None = None,
    eval_fake: str | Path | None = None,
    target_fpr: float | None = None,
) -> EvalResult:
    """Evaluate an image run (see ImageEvaluator.evaluate); super-resolution runs are measured
    on their upscaling of held-out images (evaluate/restoration.py). `restoration` adds
    inpainting and SDEdit denoising of held-out images to a ddpm/cddpm run's evaluation;
    `sampler`/`steps` apply to sr runs and to that restoration. Detector runs are measured by
    evaluate/detector.py (`eval_fake`: an unseen generator; `target_fpr`: the calibration)."""
    from genforge.evaluate import detector as dt
    from genforge.evaluate import restoration as rs

    cfg = run.read_config()
    if dt.is_detector(cfg):
        return dt.evaluate_detector(run, eval_fake=eval_fake, real=real, n=n, seed=seed,
                                    device=device, **({} if target_fpr is None else
                                                      {"target_fpr": target_fpr}))  # fmt: skip
    if eval_fake is not None or target_fpr is not None:
        raise GenforgeError("--eval-fake and --fpr apply to detector runs only")
    if restoration and not rs.can_restore(cfg):
        raise GenforgeError(
            f"--restoration needs an unconditional or class-conditional diffusion run (ddpm, "
            f"cddpm); run '{run.name}' is a {cfg['model']}"
            + (" (sr runs are scored on their upscaling without it)" if rs.is_sr_run(cfg) else "")
        )
    if (sampler is not None or steps is not None) and not (restoration or rs.is_sr_run(cfg)):
        raise GenforgeError(
            "--sampler and --steps apply to super-resolution runs and to --restoration"
        )
    if rs.is_sr_run(cfg):
        if real is not None or utility:
            raise GenforgeError(
                "--real and --utility do not apply to super-resolution runs: they are scored "
                "on their own held-out images"
            )
        return rs.evaluate_sr(run, n=n, seed=seed, device=device, sampler=sampler, steps=steps)
    n = 1000 if n is None else n
    ev = ImageEvaluator(
        run, features=features, inception_weights=inception_weights, real=real, device=device,
        domain_steps=domain_steps, progress=progress,
    )  # fmt: skip
    result = ev.evaluate(
        n=n, seed=seed, utility=utility, utility_seeds=utility_seeds, utility_steps=utility_steps
    )
    if restoration:
        result = rs.restoration_result(run, result, seed, device, sampler, steps)
    return result


# one evaluator per training (real data and feature space are built once, cached on disk)
_BY_TRAINER: weakref.WeakKeyDictionary[Any, ImageEvaluator] = weakref.WeakKeyDictionary()


def training_metrics(trainer: Any, run: Run, n: int) -> dict[str, float]:
    """The `--eval-every` hook of image runs: FD, precision, recall (and conditional accuracy)
    of `n` samples of the trainer's current sampling network, drawn from the same latents every
    time (keys without the eval_ prefix)."""
    ev = _BY_TRAINER.get(trainer)
    if ev is None:
        ev = ImageEvaluator(run, features="auto", load_pipeline=False)
        _BY_TRAINER[trainer] = ev
    model, device = trainer.model, trainer.accelerator.device
    g = torch.Generator().manual_seed(trainer.cfg.seed + 777)  # same latents every time
    labels = torch.arange(n) % model.spec.num_classes if model.conditional else None
    z = model.latent(n, generator=g)
    net = trainer.sampling_net()
    was_training = net.training
    net.eval()
    with torch.no_grad():
        images = torch.cat([
            model.generate(z[i : i + 256].to(device),
                           labels[i : i + 256].to(device) if labels is not None else None,
                           net=net).float().cpu()
            for i in range(0, n, 256)
        ])  # fmt: skip
    net.train(was_training)
    return ev.quick(images, labels)


def conditional_accuracy(
    run: Run | str | Path, images: torch.Tensor, labels: torch.Tensor
) -> float:
    """Share of `images` the run's domain classifier assigns to `labels`."""
    ev = ImageEvaluator(run, features="domain")
    return ev.conditional_accuracy(images, labels)
