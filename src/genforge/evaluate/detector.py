"""Evaluate a real-vs-generated detector run (models/detector.py) on images it never saw.

- **Same generator**: AUC and accuracy on the run's held-out split (real and generated images
  split off before training, exactly as training split them).
- **Unseen generator family** (`eval_fake`): AUC of the held-out real images against images of
  another generator (a folder, or a run sampled here), and the share of them caught at the
  calibrated threshold.
- **In the wild**: AUC after JPEG quality 75, after a 0.5x resize (down and back), and both.
- **Calibration**: the held-out real images are halved (seeded). The threshold is the
  (1 - target_fpr) quantile of P(generated) on the first half; the false-positive rate is then
  *measured* on the second half, with a Wilson 95 % interval. A threshold and its error rates
  measured on the same images would flatter the detector.

`detector.json` in the run keeps the threshold and the measured rates; `genforge detect`
reports them beside every score.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from genforge.core.errors import GenforgeError
from genforge.core.io import write_json
from genforge.core.run import Run, resolve_run
from genforge.data.dataset import ImageSpec, load_images, take
from genforge.evaluate.report import html_table
from genforge.evaluate.result import EvalResult, Metric, Section
from genforge.generate.pipeline import ImagePipeline
from genforge.models import get_entry, modality_of
from genforge.models.detector import from_pil as pil_to_tensor
from genforge.models.detector import jpeg, rescale, to_pil

CALIBRATION_FILE = "detector.json"
DEFAULT_FPR = 0.05


def is_detector(cfg: dict[str, Any]) -> bool:
    return get_entry(cfg["model"]).family.task == "detect"


# ---------------------------------------------------------------------------------------
# Statistics
# ---------------------------------------------------------------------------------------


def auc(real_scores: np.ndarray, fake_scores: np.ndarray) -> float:
    """Area under the ROC curve of "generated" (ties count half); NaN when a side is empty."""
    if len(real_scores) == 0 or len(fake_scores) == 0:
        return float("nan")
    from sklearn.metrics import roc_auc_score

    y = np.r_[np.zeros(len(real_scores)), np.ones(len(fake_scores))]
    return float(roc_auc_score(y, np.r_[real_scores, fake_scores]))


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval of a proportion k/n (95 % by default)."""
    if n == 0:
        return (0.0, 1.0)
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (max(0.0, centre - half), min(1.0, centre + half))


@dataclass
class Calibration:
    """A threshold on P(generated) and the error rates measured at it on unseen images."""

    threshold: float
    target_fpr: float
    fpr: float  # on the real test half
    fpr_ci: tuple[float, float]
    n_real_calibration: int
    n_real_test: int
    tpr: float  # generated held-out images caught at the threshold
    tpr_ci: tuple[float, float]
    n_generated: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def calibrate(
    real_scores: np.ndarray, fake_scores: np.ndarray, target_fpr: float, seed: int = 0
) -> Calibration:
    """Threshold at the (1 - target_fpr) quantile of half the real scores; rates measured on
    the other half (real) and on the generated scores."""
    if not 0 < target_fpr < 1:
        raise GenforgeError(f"the target false-positive rate must be in (0, 1), got {target_fpr}")
    if len(real_scores) < 4:
        raise GenforgeError(
            f"calibration needs at least 4 held-out real images, got {len(real_scores)}; "
            "give more real images or a larger val_fraction"
        )
    order = np.random.default_rng(seed).permutation(len(real_scores))
    half = len(order) // 2
    calib, test = real_scores[order[:half]], real_scores[order[half:]]
    threshold = float(np.quantile(calib, 1 - target_fpr, method="higher"))
    fp = int((test > threshold).sum())
    tp = int((fake_scores > threshold).sum())
    return Calibration(
        threshold, target_fpr, fp / len(test), wilson(fp, len(test)), len(calib), len(test),
        tp / max(1, len(fake_scores)), wilson(tp, len(fake_scores)), len(fake_scores),
    )  # fmt: skip


# ---------------------------------------------------------------------------------------
# Images and scores
# ---------------------------------------------------------------------------------------


def perturb(x: torch.Tensor, how: str) -> torch.Tensor:
    """Images (B, C, H, W) after "jpeg75", "resize0.5" (down and back) or "resize0.5+jpeg75"."""
    out = []
    for img in x:
        im = to_pil(img)
        if "resize0.5" in how:
            im = rescale(im, 0.5)
        if "jpeg75" in how:
            im = jpeg(im, 75)
        out.append(pil_to_tensor(im, x.shape[1]))
    return torch.stack(out)


def fit_to(x: torch.Tensor, spec: ImageSpec) -> torch.Tensor:
    """Images of another size or colour at the detector's size and channels."""
    if x.shape[1] != spec.channels:
        x = x.mean(1, keepdim=True) if spec.channels == 1 else x.expand(-1, 3, -1, -1)
    if x.shape[-1] != spec.size or x.shape[-2] != spec.size:
        x = torch.nn.functional.interpolate(
            x, size=(spec.size, spec.size), mode="bilinear", antialias=True, align_corners=False
        )
    return x.clamp(-1, 1)


def images_of(ref: str | Path, spec: ImageSpec, n: int, seed: int = 0) -> torch.Tensor:
    """Images from a folder, or `n` samples of a genforge run, at the detector's size."""
    p = Path(ref)
    if p.is_dir() and not (p / "config.yaml").exists():
        ds = load_images(str(p.resolve()), spec.size, spec.channels, seed=seed)
        return take(ds, torch.arange(len(ds)))[0]
    from genforge.generate.image import open_pipeline

    pipe = open_pipeline(resolve_run(ref))
    return fit_to(pipe.sample(n, seed=seed).float().cpu(), spec)


class DetectorScorer:
    """A loaded detector run: P(generated) of images, and its calibration (when evaluated)."""

    def __init__(self, run: Run | str | Path, device: str = "auto"):
        self.run = run if isinstance(run, Run) else resolve_run(run)
        if not is_detector(self.run.read_config()):
            raise GenforgeError(
                f"run '{self.run.name}' is not a detector (genforge train detector --real "
                "FOLDER --fake RUN_OR_FOLDER makes one)"
            )
        self.pipe = ImagePipeline(self.run, device=device)
        self.spec = self.pipe.spec

    def scores(self, x: torch.Tensor, batch: int = 256) -> np.ndarray:
        model, dev = self.pipe.model, self.pipe.device
        return np.concatenate([
            model.prob_generated(fit_to(x[i : i + batch], self.spec).to(dev)).cpu().numpy()
            for i in range(0, len(x), batch)
        ]) if len(x) else np.zeros(0)  # fmt: skip

    def calibration(self) -> dict[str, Any] | None:
        """What the last evaluation measured (detector.json), or None before one."""
        import json

        path = self.run.path / CALIBRATION_FILE
        return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


# ---------------------------------------------------------------------------------------
# The evaluation
# ---------------------------------------------------------------------------------------


def evaluate_detector(
    run: Run,
    eval_fake: str | Path | None = None,
    real: str | Path | None = None,
    target_fpr: float = DEFAULT_FPR,
    n: int | None = None,
    seed: int = 0,
    device: str = "auto",
    **_: Any,
) -> EvalResult:
    """Measure a detector run (see the module docstring); writes detector.json into the run.

    Args:
        eval_fake: images of a generator family the detector never saw: a folder or a run
            (sampled `n` times, default as many as the held-out generated images).
        real: more real images never seen (a folder): their false-positive rate is reported.
        target_fpr: the false-positive rate on real images the threshold is calibrated to.
    """
    scorer = DetectorScorer(run, device)
    split = modality_of(run.read_config()).reload(run)
    x, y = take(split.val, torch.arange(len(split.val)))
    is_fake = (y == scorer.pipe.model.generated_index).numpy()
    s = scorer.scores(x)
    real_s, fake_s = s[~is_fake], s[is_fake]
    cal = calibrate(real_s, fake_s, target_fpr, seed)
    rows = [["same generator (held-out)", len(real_s), len(fake_s), auc(real_s, fake_s),
             _accuracy(real_s, fake_s, 0.5), _accuracy(real_s, fake_s, cal.threshold)]]  # fmt: skip
    values: dict[str, Any] = {"auc": rows[0][3], "accuracy": rows[0][4]}
    for how in ("jpeg75", "resize0.5", "resize0.5+jpeg75"):
        ps = scorer.scores(perturb(x, how))
        pr, pf = ps[~is_fake], ps[is_fake]
        rows.append([f"after {how}", len(pr), len(pf), auc(pr, pf), _accuracy(pr, pf, 0.5),
                     _accuracy(pr, pf, cal.threshold)])  # fmt: skip
        values[f"auc_{how}"] = rows[-1][3]
    if eval_fake is not None:
        other = scorer.scores(images_of(eval_fake, scorer.spec, n or max(1, len(fake_s)), seed))
        rows.append([f"unseen generator: {Path(str(eval_fake)).name}", len(real_s), len(other),
                     auc(real_s, other), _accuracy(real_s, other, 0.5),
                     _accuracy(real_s, other, cal.threshold)])  # fmt: skip
        values["auc_unseen"] = rows[-1][3]
        values["tpr_unseen"] = float((other > cal.threshold).mean())
    if real is not None:
        extra = scorer.scores(images_of(real, scorer.spec, 0, seed))
        fp = int((extra > cal.threshold).sum())
        values["fpr_extra_real"] = fp / max(1, len(extra))
        values["fpr_extra_real_ci"] = wilson(fp, len(extra))
    record = {
        "run": run.name,
        "step": run.step,
        "calibration": cal.to_dict(),
        **values,
        "eval_fake": None if eval_fake is None else str(eval_fake),
    }
    write_json(run.path / CALIBRATION_FILE, record)
    from genforge.train.card import write_model_card

    write_model_card(run)  # with the measured rates
    return _result(cal, rows, values, record)


def _accuracy(real_s: np.ndarray, fake_s: np.ndarray, threshold: float) -> float:
    right = int((real_s <= threshold).sum() + (fake_s > threshold).sum())
    return right / max(1, len(real_s) + len(fake_s))


def _result(
    cal: Calibration, rows: list[list[Any]], values: dict[str, Any], record: dict
) -> EvalResult:
    fpr_note = (
        f"measured on {cal.n_real_test} held-out real images not used to set the threshold; "
        f"95 % Wilson CI {cal.fpr_ci[0]:.3f}-{cal.fpr_ci[1]:.3f}"
    )
    metrics = [
        Metric("auc", "AUC, same generator (held-out)", values["auc"], "higher",
               f"{rows[0][1]} real + {rows[0][2]} generated held-out images"),
        Metric("accuracy", "accuracy at P = 0.5, same generator", values["accuracy"], "higher"),
        Metric("threshold", f"threshold for {cal.target_fpr:.0%} FPR", cal.threshold, None,
               f"the {1 - cal.target_fpr:.0%} quantile of P(generated) on "
               f"{cal.n_real_calibration} held-out real images"),
        Metric("fpr", "false-positive rate at the threshold", cal.fpr, "lower", fpr_note),
        Metric("tpr", "generated images caught at the threshold", cal.tpr, "higher",
               f"95 % Wilson CI {cal.tpr_ci[0]:.3f}-{cal.tpr_ci[1]:.3f}"),
        *[Metric(f"auc_{h}", f"AUC after {h}", values[f"auc_{h}"], "higher")
          for h in ("jpeg75", "resize0.5", "resize0.5+jpeg75")],
    ]  # fmt: skip
    if "auc_unseen" in values:
        metrics.append(Metric("auc_unseen", "AUC, unseen generator family", values["auc_unseen"],
                              "higher", str(record["eval_fake"])))  # fmt: skip
    table = html_table(
        ["test", "real", "generated", "AUC", "accuracy at 0.5",
         f"accuracy at the {cal.target_fpr:.0%}-FPR threshold"], rows,
    )  # fmt: skip
    return EvalResult("image", metrics, [Section("Detection", table)], {"detector": record})
