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
  log length);
- audio: the audio evaluator's log-mel CNN and label classifier (evaluate/audio.py, trained
  once on the run's clips and cached) plus the clipped and silent shares and the SNR;
- table: each row's columns (numbers standardised, categories one-hot), its distance to the
  closest training row and its P(real) under a real-vs-synthetic classifier.

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
    def load_for(cls, run: Run, features: Any) -> LearnedGate:
        """The run's gate, checked to be fitted in the feature space `features` gives."""
        gate = cls.load(run)
        if gate.info.get("features") != features.name or gate.info.get("dim") != len(gate.weight):
            raise GenforgeError(
                f"the learned gate of '{run.name}' was fitted in {gate.info.get('features')}, but "
                f"this run's feature space is {features.name}; refit it: genforge gate fit "
                f"{run.name}"
            )
        return gate

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


class AudioFeatures:
    """Clips in the audio evaluator's domain space (evaluate/audio.py: its log-mel CNN and,
    for labeled data, its label classifier, trained once per data set and cached) plus the
    audio gate's signal checks."""

    def __init__(self, run: Run, space: Any = None):
        from genforge.evaluate.audio import audio_space

        self.space = space or audio_space(run)
        head = " + its class probabilities" if self.space.judge is not None else ""
        self.name = f"{self.space.label}{head} + clipping, silence, SNR"
        spec = run.read_config()["spec"]
        self.rate, self.length = int(spec["sample_rate"]), int(spec["length"])

    def of_files(self, paths: list[Path]) -> torch.Tensor:
        import soundfile as sf

        from genforge.data.audio import fit_length, resample

        waves = []
        for p in paths:
            x, rate = sf.read(str(p), dtype="float32", always_2d=True)
            x = fit_length(resample(x.mean(1), rate, self.rate), self.length)
            waves.append(torch.from_numpy(np.ascontiguousarray(x)))
        return self.of_outputs(torch.stack(waves)[:, None])

    def of_outputs(self, waves: torch.Tensor) -> torch.Tensor:
        """(B, 1, L) -> the CNN's 64 features, the class log-probabilities, top probability
        and entropy (labeled data), the clipped and silent shares and the SNR (dB)."""
        from genforge.evaluate.audio import signal_stats

        parts = [self.space.features(waves)]
        p = self.space.probs(waves)
        if p is not None:
            logp = p.clamp_min(1e-12).log()
            parts += [logp, p.max(1, keepdim=True).values, -(p * logp).sum(1, keepdim=True)]
        st = signal_stats(waves, self.rate)
        parts.append(torch.stack([st["clipped"], st["silent"], st["snr_db"]], 1).double())
        return torch.cat(parts, 1)


class TableFeatures:
    """Rows by their columns (numbers and dates standardised by the training rows, missing ones
    at the mean; categories one-hot; ID columns left out) plus their distance to the closest
    training row and the P(real) of the table gate's real-vs-synthetic classifier. An output of
    several rows (a served CSV) is described by the mean of its rows."""

    def __init__(self, run: Run, judge: Any = None):
        from genforge.evaluate.table import RowJudge, column_numbers, real_split

        self.judge = judge or RowJudge.of_run(run)
        train, _, self.spec, _ = real_split(run)
        self.name = ("per-column values (numbers standardised, categories one-hot) + distance to "
                     "the closest training row + P(real) of a real-vs-synthetic classifier")  # fmt: skip
        self.stats: dict[str, tuple[float, float]] = {}  # column -> training mean, std
        for c in self.spec.learned:
            if c["kind"] != "categorical":
                x = column_numbers(train, c)
                self.stats[c["name"]] = (float(np.nanmean(x)), float(np.nanstd(x)) or 1.0)

    def of_files(self, paths: list[Path]) -> torch.Tensor:
        import pandas as pd

        rows = [self.of_outputs(pd.read_csv(p)).mean(0) for p in paths]
        return torch.stack(rows)

    def of_outputs(self, rows: Any) -> torch.Tensor:
        """A DataFrame of n rows -> (n, d) features."""
        from genforge.data.table import category_values
        from genforge.evaluate.table import column_numbers

        parts = []
        for c in self.spec.learned:
            if c["kind"] == "categorical":
                v = np.array(category_values(rows[c["name"]]), dtype=object)
                parts += [(v == k).astype(float) for k in c["categories"]]
            else:
                mean, std = self.stats[c["name"]]
                parts.append(np.nan_to_num((column_numbers(rows, c) - mean) / std, nan=0.0))
        parts += [self.judge.dcr(rows), self.judge.p_real(rows)]
        return torch.from_numpy(np.stack(parts, 1)).double()


# The feature space of each modality's learned gate, and what each reuses when it is given
# (an evaluator, a pipeline, a domain space, a row judge the caller already built).
FEATURIZERS: dict[str, tuple[type, str]] = {
    "image": (ImageFeatures, "evaluator"),
    "text": (TextFeatures, "pipeline"),
    "audio": (AudioFeatures, "space"),
    "table": (TableFeatures, "judge"),
}
GATED = tuple(FEATURIZERS)  # modalities the learned gate covers


def featurizer(run: Run, **kw: Any) -> Any:
    """The feature space the gate of `run` works in (a FEATURIZERS entry)."""
    name = modality_of(run.read_config()).name
    if name not in FEATURIZERS:
        raise GenforgeError(
            f"run '{run.name}' is a {name} run; the learned gate covers {', '.join(GATED)} runs"
        )
    cls, reuse = FEATURIZERS[name]
    return cls(run, kw.get(reuse))


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
