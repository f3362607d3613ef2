"""The learned gate: a small model that predicts people's verdicts from an output's features.

`genforge gate fit RUN` reads the run's ratings (safety/feedback.py), turns each rated output
into a feature vector in the run's own feature space, and fits an L2-regularised logistic
regression (scikit-learn) on "approved or not". It reports what it would do on ratings it has
not seen: stratified k-fold cross-validated AUC (with a bootstrap 95 % interval), the Brier
score and the expected calibration error of the out-of-fold probabilities. It refuses to fit
with too few ratings or ratings all on one side, and says how many it needs.

Feature spaces, by modality:
- image: the domain network's encoder (evaluate/features.py: the classifier or autoencoder
  trained once on the run's own data), the same space the automatic gate and FD use;
- text: the run's own language model (mean, spread and worst per-token NLL of the text, its
  tokens per word) plus surface statistics (distinct-1/2 words, repeated 3-gram share,
  log length).

The fit lives in the run folder: `gate/learned.safetensors` (the standardised linear model) and
`gate/learned.json` (what it was fitted on, and its measured quality).
"""

from __future__ import annotations

import datetime as dt
import json
import math
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from genforge.core.errors import GenforgeError
from genforge.core.io import write_json, write_with
from genforge.core.run import Run
from genforge.models import modality_of
from genforge.safety.feedback import FeedbackStore, approval
from genforge.safety.provenance import Record

MIN_RATINGS = 20
MIN_PER_SIDE = 5
GATE_DIR = "gate"
GATED = ("image", "text")  # modalities the learned gate covers


@dataclass
class LearnedGate:
    """A fitted gate: P(approved | features) = sigmoid(w · (x - mean) / scale + b)."""

    weight: torch.Tensor  # (d,)
    bias: float
    mean: torch.Tensor  # (d,)
    scale: torch.Tensor  # (d,)
    info: dict[str, Any]

    def prob(self, features: torch.Tensor) -> torch.Tensor:
        z = (features.double() - self.mean) / self.scale
        return torch.sigmoid(z @ self.weight + self.bias).float()

    def save(self, run: Run) -> Path:
        from safetensors.torch import save_file

        folder = run.path / GATE_DIR
        tensors = {"weight": self.weight, "mean": self.mean, "scale": self.scale,
                   "bias": torch.tensor([self.bias], dtype=torch.float64)}  # fmt: skip
        write_with(folder / "learned.safetensors", lambda p: save_file(tensors, str(p)))
        write_json(folder / "learned.json", self.info)
        return folder

    @classmethod
    def load(cls, run: Run) -> LearnedGate:
        from safetensors.torch import load_file

        folder = run.path / GATE_DIR
        if not (folder / "learned.safetensors").is_file():
            raise GenforgeError(
                f"run '{run.name}' has no learned gate; rate some outputs, then: "
                f"genforge gate fit {run.name}"
            )
        t = load_file(str(folder / "learned.safetensors"))
        info = json.loads((folder / "learned.json").read_text(encoding="utf-8"))
        return cls(t["weight"], float(t["bias"][0]), t["mean"], t["scale"], info)


# ---------------------------------------------------------------------------------------
# Features of outputs, per modality
# ---------------------------------------------------------------------------------------


class ImageFeatures:
    """Images in the run's domain feature space (the network is trained once and cached)."""

    def __init__(self, run: Run, evaluator: Any = None):
        from genforge.evaluate.image import ImageEvaluator

        self.ev = evaluator or ImageEvaluator(run, features="domain", load_pipeline=False)
        self.space = gate_space(self.ev)
        head = self.space.num_classes >= 2
        self.name = self.space.label + (" + its class probabilities" if head else "")
        spec = run.read_config()["spec"]
        self.size, self.channels = int(spec["size"]), int(spec["channels"])

    def of_files(self, paths: list[Path]) -> torch.Tensor:
        from PIL import Image

        mode = "L" if self.channels == 1 else "RGB"
        arrs = []
        for p in paths:
            with Image.open(p) as im:
                im = im.convert(mode)
                if im.size != (self.size, self.size):
                    im = im.resize((self.size, self.size), Image.Resampling.BICUBIC)
                a = np.asarray(im, dtype=np.float32).reshape(self.size, self.size, -1)
            arrs.append(torch.from_numpy(a).permute(2, 0, 1) / 127.5 - 1)
        return self.of_outputs(torch.stack(arrs))

    def of_outputs(self, images: torch.Tensor) -> torch.Tensor:
        """The encoder's features and, for a classifier, its log-probabilities, top
        probability and entropy (how legible the image is as one of the classes)."""
        feats = self.space.features(images)
        logits = self.space.logits(images)
        if logits is None:
            return feats
        logp = logits.log_softmax(1)
        p = logp.exp()
        top = p.max(1, keepdim=True).values
        entropy = -(p * logp).sum(1, keepdim=True)
        return torch.cat([feats, logp, top, entropy], 1)


def gate_space(evaluator: Any) -> Any:
    """The domain feature space of an ImageEvaluator (its own when it uses one, else its
    domain classifier, else a domain autoencoder trained on its data)."""
    from genforge.evaluate.features import DomainSpace, domain_space

    if isinstance(evaluator.space, DomainSpace):
        return evaluator.space
    if evaluator.classifier is not None:
        return evaluator.classifier
    d = evaluator.data
    return domain_space(d.train, None, d.name, device=evaluator.device)


class TextFeatures:
    """Texts described by the run's own LM (per-token NLL statistics) and their surface."""

    names = ("nll_mean", "nll_std", "nll_max", "tokens_per_word", "distinct_1", "distinct_2",
             "repeated_3gram_share", "log_words")  # fmt: skip

    def __init__(self, run: Run, pipeline: Any = None):
        from genforge.generate.text import TextPipeline

        self.pipe = pipeline or TextPipeline(run)
        self.name = f"the run's own LM ({run.read_config()['model']}) + surface statistics"

    def of_files(self, paths: list[Path]) -> torch.Tensor:
        return self.of_texts([Path(p).read_text(encoding="utf-8") for p in paths])

    def of_outputs(self, texts: list[str]) -> torch.Tensor:
        return self.of_texts(texts)

    @torch.no_grad()
    def of_texts(self, texts: list[str]) -> torch.Tensor:
        return torch.tensor([self._one(t) for t in texts], dtype=torch.float64)

    def _one(self, text: str) -> list[float]:
        words = text.split()
        nll = self.token_nll(text)
        grams = [tuple(words[i : i + 3]) for i in range(len(words) - 2)]
        bigrams = [tuple(words[i : i + 2]) for i in range(len(words) - 1)]
        return [
            float(nll.mean()) if len(nll) else 0.0,
            float(nll.std()) if len(nll) > 1 else 0.0,
            float(nll.max()) if len(nll) else 0.0,
            (len(nll) + 1) / max(1, len(words)),
            len(set(words)) / len(words) if words else 0.0,
            len(set(bigrams)) / len(bigrams) if bigrams else 0.0,
            1 - len(set(grams)) / len(grams) if grams else 0.0,
            math.log1p(len(words)),
        ]

    def token_nll(self, text: str) -> np.ndarray:
        """NLL (nats) of each token of `text` after the first, under the run's LM."""
        pipe = self.pipe
        ids = np.asarray(pipe.tokenizer.encode(text), dtype=np.int64)
        ctx = pipe.context or len(ids)
        ids = ids[-(ctx + 1) :]
        if len(ids) < 2:
            return np.zeros(0)
        model = pipe.model
        if model.count_based:
            return -model.log2probs(ids)[1:] * math.log(2)
        x = torch.as_tensor(ids, device=pipe.device)[None]
        logits = model.logits(pipe.hf, x[:, :-1]).float()
        nll = torch.nn.functional.cross_entropy(logits[0], x[0, 1:], reduction="none")
        return nll.cpu().numpy()


def featurizer(run: Run, **kw: Any) -> ImageFeatures | TextFeatures:
    """The feature space the gate of `run` works in (image or text runs)."""
    name = modality_of(run.read_config()).name
    if name == "image":
        return ImageFeatures(run, kw.get("evaluator"))
    if name == "text":
        return TextFeatures(run, kw.get("pipeline"))
    raise GenforgeError(
        f"run '{run.name}' is a {name} run; the learned gate covers {', '.join(GATED)} runs"
    )


# ---------------------------------------------------------------------------------------
# Fitting
# ---------------------------------------------------------------------------------------


def rated_outputs(run: Run, store: FeedbackStore) -> tuple[list[Record], list[bool], list[str]]:
    """The run's outputs with a verdict (majority of raters), their labels, and the ids that
    were left out (file gone or unreadable) with the reason."""
    ratings, _ = store.for_run(run.name)
    labels = approval(ratings)
    records, ys, missing = [], [], []
    for oid, y in sorted(labels.items()):
        rec = store.provenance.get(oid)
        if rec is None or not Path(rec.path).is_file():
            missing.append(f"{oid}: file gone")
            continue
        records.append(rec)
        ys.append(y)
    return records, ys, missing


def check_enough(ys: list[bool]) -> None:
    up = sum(ys)
    down = len(ys) - up
    if len(ys) < MIN_RATINGS or min(up, down) < MIN_PER_SIDE:
        raise GenforgeError(
            f"the learned gate needs at least {MIN_RATINGS} rated outputs with at least "
            f"{MIN_PER_SIDE} approved and {MIN_PER_SIDE} rejected; this run has {len(ys)} "
            f"({up} approved, {down} rejected). Rate more (web gallery, PUT "
            "/v1/outputs/{id}/rating, or genforge feedback --import)"
        )


def fit_gate(run: Run, store: FeedbackStore, seed: int = 0, **kw: Any) -> LearnedGate:
    """Fit, cross-validate and save the learned gate of `run` from its ratings."""
    records, ys, missing = rated_outputs(run, store)
    check_enough(ys)
    feats = featurizer(run, **kw)
    x = feats.of_files([Path(r.path) for r in records]).numpy()
    y = np.asarray(ys, dtype=np.int64)
    mean = x.mean(0)
    scale = x.std(0)
    scale[scale < 1e-8] = 1.0
    with quiet_sklearn():
        quality = cross_validate(x, y, seed)
        clf = logistic(seed).fit((x - mean) / scale, y)
    info = {
        "fitted": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "run": run.name,
        "modality": modality_of(run.read_config()).name,
        "features": feats.name,
        "dim": int(x.shape[1]),
        "ratings": len(y),
        "approved": int(y.sum()),
        "rejected": int(len(y) - y.sum()),
        "left_out": missing,
        "model": "logistic regression (L2, strength by inner CV) on standardised features",
        "C": float(np.atleast_1d(clf.C_)[0]),
        **quality,
    }
    gate = LearnedGate(torch.from_numpy(clf.coef_[0]).double(), float(clf.intercept_[0]),
                       torch.from_numpy(mean).double(), torch.from_numpy(scale).double(), info)  # fmt: skip
    gate.save(run)
    return gate


@contextmanager
def quiet_sklearn() -> Iterator[None]:
    """scikit-learn's FutureWarnings about LogisticRegressionCV's coming defaults (1.10) say
    nothing about this fit."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        yield


def logistic(seed: int) -> Any:
    """L2 logistic regression whose strength is picked by an inner 3-fold CV on AUC (a few
    hundred ratings in 100+ dimensions overfit at a fixed C=1)."""
    from sklearn.linear_model import LogisticRegressionCV

    return LogisticRegressionCV(Cs=np.logspace(-4, 2, 13).tolist(), cv=3, scoring="roc_auc",
                                max_iter=3000, random_state=seed)  # fmt: skip


def cross_validate(x: np.ndarray, y: np.ndarray, seed: int = 0) -> dict[str, Any]:
    """Out-of-fold probabilities by stratified k-fold (k = 5, fewer when a side is small):
    AUC with a bootstrap 95 % interval, Brier score, expected calibration error (10 bins)."""
    from sklearn.metrics import brier_score_loss, roc_auc_score
    from sklearn.model_selection import StratifiedKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    k = int(min(5, y.sum(), len(y) - y.sum()))
    folds = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
    p = np.zeros(len(y))
    for tr, te in folds.split(x, y):
        model = make_pipeline(StandardScaler(), logistic(seed)).fit(x[tr], y[tr])
        p[te] = model.predict_proba(x[te])[:, 1]
    rng = np.random.default_rng(seed)
    boot = []
    for _ in range(1000):
        i = rng.integers(0, len(y), len(y))
        if 0 < y[i].sum() < len(i):
            boot.append(roc_auc_score(y[i], p[i]))
    lo, hi = np.percentile(boot, [2.5, 97.5])
    return {
        "cv_folds": k,
        "cv_auc": float(roc_auc_score(y, p)),
        "cv_auc_ci95": [float(lo), float(hi)],
        "cv_brier": float(brier_score_loss(y, p)),
        "cv_ece": expected_calibration_error(y, p),
        "base_rate": float(y.mean()),
    }


def expected_calibration_error(y: np.ndarray, p: np.ndarray, bins: int = 10) -> float:
    """Mean |observed rate - predicted probability| over equal-width probability bins,
    weighted by how many outputs fall in each."""
    edges = np.linspace(0, 1, bins + 1)
    idx = np.clip(np.digitize(p, edges[1:-1]), 0, bins - 1)
    err = 0.0
    for b in range(bins):
        m = idx == b
        if m.any():
            err += m.sum() / len(y) * abs(float(y[m].mean()) - float(p[m].mean()))
    return err
