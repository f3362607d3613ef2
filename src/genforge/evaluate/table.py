"""Tabular evaluation: fidelity, privacy and utility of a table model, against real rows.

- fidelity: SDMetrics' QualityReport (column shapes: KS complement / TV complement per column;
  column pair trends: correlation / contingency similarity), synthetic vs the training rows;
- privacy: distance to closest record (DCR). Each synthetic row's distance to its nearest
  training row is compared with the same distance for real holdout rows (rows the model never
  saw): a model that copies training rows has synthetic DCRs far below the holdout's, and
  exact copies (DCR 0) are counted and flagged;
- utility: train on synthetic, test on real (TSTR): a scikit-learn model fitted on synthetic
  rows predicts the target column of the real holdout, next to the same model fitted on the
  real training rows (TRTR).

The real rows are the run's own split (same source, seed and val_fraction as training).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from genforge.core.errors import GenforgeError
from genforge.core.progress import Stages
from genforge.core.run import Run
from genforge.data.table import TableSpec
from genforge.evaluate.report import html_table
from genforge.evaluate.result import EvalResult, Metric, Section

MAX_DCR_ROWS = 5000  # DCR compares at most this many rows of each table (seeded subsample)
COPY_TOLERANCE = 1e-8  # DCR at or below this is an exact copy of a training row
COPY_FLAG_FRACTION = 0.01  # flag when more synthetic rows than this (and than holdout) are copies


# ---------------------------------------------------------------------------------------
# Feature space shared by DCR and utility
# ---------------------------------------------------------------------------------------


def column_numbers(df: Any, c: dict[str, Any]) -> np.ndarray:
    """A numeric or datetime column as floats (dates in seconds), NaN where missing."""
    import pandas as pd

    col = df[c["name"]]
    if c["kind"] == "datetime":
        t = pd.to_datetime(col, errors="coerce", format="mixed")
        x = t.astype("int64").to_numpy().astype(float) / 1e9
        x[t.isna().to_numpy()] = np.nan
        return x
    return pd.to_numeric(col, errors="coerce").to_numpy(dtype=float)


def _categories(df: Any, c: dict[str, Any]) -> np.ndarray:
    from genforge.data.table import category_values

    return np.array(category_values(df[c["name"]]), dtype=object)


def mixed_features(spec: TableSpec, frames: list[Any], skip: str | None = None):
    """Numbers scaled to [0, 1] by the training range (NaN -> -1) and one-hot categories, for
    each frame: a Gower-style space where every column weighs the same. ID columns are left out.
    """
    outs: list[list[np.ndarray]] = [[] for _ in frames]
    for c in spec.learned:
        if c["name"] == skip:
            continue
        if c["kind"] == "categorical":
            cats = c["categories"]
            for out, df in zip(outs, frames, strict=True):
                v = _categories(df, c)
                out.append(np.stack([(v == k) for k in cats], 1).astype(float) * 0.5)
        else:
            lo, hi = c["min"], c["max"]
            for out, df in zip(outs, frames, strict=True):
                x = (column_numbers(df, c) - lo) / (hi - lo if hi > lo else 1.0)
                out.append(np.nan_to_num(x, nan=-1.0)[:, None])
    return [np.concatenate(o, 1) for o in outs]


# ---------------------------------------------------------------------------------------
# Privacy: distance to closest record
# ---------------------------------------------------------------------------------------


def _min_distances(a: np.ndarray, b: np.ndarray, chunk: int = 1024) -> np.ndarray:
    """For each row of a, the L1 distance (per column, averaged) to its nearest row of b."""
    import torch

    bt = torch.from_numpy(b).float()
    out = []
    for i in range(0, len(a), chunk):
        d = torch.cdist(torch.from_numpy(a[i : i + chunk]).float(), bt, p=1)
        out.append(d.min(1).values.numpy())
    return np.concatenate(out) / a.shape[1]


def privacy_dcr(
    spec: TableSpec, train: Any, holdout: Any, synthetic: Any, seed: int = 0
) -> dict[str, Any]:
    """DCR of synthetic and holdout rows to the training rows.

    Returns:
        dict with median DCRs, their ratio (synthetic / holdout; below 1 means synthetic rows
        sit closer to training rows than unseen real rows do), the exact-copy fractions of both,
        the number of copied rows and `flagged` (copies beyond what the holdout shows, or more
        than 1% of the synthetic rows).
    """
    rng = np.random.default_rng(seed)

    def cap(df: Any) -> Any:
        if len(df) <= MAX_DCR_ROWS:
            return df
        return df.iloc[np.sort(rng.choice(len(df), MAX_DCR_ROWS, replace=False))]

    tr, ho, sy = mixed_features(spec, [cap(train), cap(holdout), cap(synthetic)])
    d_syn, d_hold = _min_distances(sy, tr), _min_distances(ho, tr)
    copies_syn = float(np.mean(d_syn <= COPY_TOLERANCE))
    copies_hold = float(np.mean(d_hold <= COPY_TOLERANCE))
    med_syn, med_hold = float(np.median(d_syn)), float(np.median(d_hold))
    return {
        "dcr_synthetic_median": med_syn,
        "dcr_holdout_median": med_hold,
        "dcr_ratio": med_syn / med_hold if med_hold > 0 else float("nan"),
        "copy_fraction": copies_syn,
        "holdout_copy_fraction": copies_hold,
        "copied_rows": int(np.sum(d_syn <= COPY_TOLERANCE)),
        "rows_compared": {"synthetic": len(sy), "holdout": len(ho), "train": len(tr)},
        "flagged": bool(copies_syn > max(COPY_FLAG_FRACTION, 2 * copies_hold)),
    }


# ---------------------------------------------------------------------------------------
# Per row: how real it looks, how close it sits to a training row (the table gates)
# ---------------------------------------------------------------------------------------

REF_ROWS = 2000  # real and synthetic rows the real-vs-synthetic classifier is fitted on, each
REF_SEED = 1_000_003  # seed of the model's reference batch (not a seed users sample with)


class RowJudge:
    """Judges single rows of one table against its real rows.

    - `p_real`: P(real) from a gradient-boosting classifier fitted on real training rows against
      a batch of the model's own rows (balanced): it learns what gives this model's rows away;
    - `realism`: where that P(real) falls among real held-out rows' (rows neither side of the
      fit saw): 1 for a row at least as real-looking as the median held-out row, falling to 0
      for one less real-looking than all of them (min(1, 2 x the share rated lower));
    - `dcr`: distance to the closest training row (the privacy check's space and L1).
    """

    def __init__(self, spec: TableSpec, train: Any, holdout: Any, synthetic: Any, seed: int = 0):
        from sklearn.ensemble import HistGradientBoostingClassifier

        if len(holdout) < 2:
            raise GenforgeError(
                "the table gate compares rows with real held-out rows; this run has none "
                "(train with val_fraction > 0)"
            )
        rng = np.random.default_rng(seed)
        m = min(len(train), len(synthetic), REF_ROWS)
        real = train.iloc[np.sort(rng.choice(len(train), m, replace=False))]
        fake = synthetic.iloc[np.sort(rng.choice(len(synthetic), m, replace=False))]
        self.spec = spec
        self.train_x = mixed_features(spec, [train])[0]  # every training row: copies anywhere
        xr, xf = mixed_features(spec, [real, fake])
        self.clf = HistGradientBoostingClassifier(max_iter=100, random_state=seed).fit(
            np.concatenate([xr, xf]), np.r_[np.ones(m), np.zeros(m)]
        )
        self.holdout_p = np.sort(self.p_real(holdout))

    @classmethod
    def of_run(cls, run: Run, pipe: Any = None, seed: int = 0) -> RowJudge:
        """The judge of a table run: its own split, and a reference batch drawn from `pipe`
        (default: the run's TablePipeline) on a fixed seed."""
        from genforge.generate.table import TablePipeline

        train, holdout, spec, _ = real_split(run)
        pipe = pipe or TablePipeline(run)
        return cls(spec, train, holdout, pipe.sample(min(len(train), REF_ROWS), REF_SEED), seed)

    def p_real(self, rows: Any) -> np.ndarray:
        return self.clf.predict_proba(mixed_features(self.spec, [rows])[0])[:, 1]

    def realism(self, rows: Any, p_real: np.ndarray | None = None) -> np.ndarray:
        p = self.p_real(rows) if p_real is None else p_real
        below = np.searchsorted(self.holdout_p, p, side="left") / len(self.holdout_p)
        return np.minimum(1.0, 2 * below)

    def dcr(self, rows: Any) -> np.ndarray:
        return _min_distances(mixed_features(self.spec, [rows])[0], self.train_x, chunk=256)


# ---------------------------------------------------------------------------------------
# Utility: train on synthetic, test on real
# ---------------------------------------------------------------------------------------


def utility_tstr(
    spec: TableSpec, train: Any, holdout: Any, synthetic: Any, target: str, seed: int = 0
) -> dict[str, Any]:
    """Fit the same scikit-learn model on synthetic and on real training rows, score both on the
    real holdout: accuracy and macro-F1 (categorical target) or R² (numeric target)."""
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
    from sklearn.metrics import accuracy_score, f1_score, r2_score

    col = spec.column(target)
    if col["kind"] == "id":
        raise GenforgeError(f"target column {target!r} is an ID column; pick a learned column")
    xs = mixed_features(spec, [synthetic, train, holdout], skip=target)
    if col["kind"] == "categorical":
        ys = [_categories(df, col) for df in (synthetic, train, holdout)]
        scores = {}
        for name, x, y in (("synthetic", xs[0], ys[0]), ("real", xs[1], ys[1])):
            if len(set(y)) < 2:
                scores[name] = {"accuracy": float("nan"), "f1_macro": float("nan")}
                continue
            clf = HistGradientBoostingClassifier(max_iter=100, random_state=seed).fit(x, y)
            pred = clf.predict(xs[2])
            scores[name] = {
                "accuracy": float(accuracy_score(ys[2], pred)),
                "f1_macro": float(f1_score(ys[2], pred, average="macro")),
            }
        return {"task": "classification", "target": target, **scores}
    ys = [column_numbers(df, col) for df in (synthetic, train, holdout)]
    scores = {}
    for name, x, y in (("synthetic", xs[0], ys[0]), ("real", xs[1], ys[1])):
        ok = ~np.isnan(y)
        reg = HistGradientBoostingRegressor(max_iter=100, random_state=seed).fit(x[ok], y[ok])
        ok_h = ~np.isnan(ys[2])
        scores[name] = {"r2": float(r2_score(ys[2][ok_h], reg.predict(xs[2][ok_h])))}
    return {"task": "regression", "target": target, **scores}


# ---------------------------------------------------------------------------------------
# Fidelity: SDMetrics quality report
# ---------------------------------------------------------------------------------------


def sdmetrics_quality(spec: TableSpec, real: Any, synthetic: Any) -> dict[str, Any]:
    """SDMetrics QualityReport on the learned columns: overall, per property, per column."""
    import warnings

    import pandas as pd

    with warnings.catch_warnings():  # its deprecation notice points to a multi-table API
        warnings.simplefilter("ignore", FutureWarning)
        from sdmetrics.reports.single_table import QualityReport

    sdtypes = {"numeric": "numerical", "categorical": "categorical", "datetime": "datetime"}
    cols = [c for c in spec.learned]
    metadata = {"columns": {c["name"]: {"sdtype": sdtypes[c["kind"]]} for c in cols}}
    frames = []
    for df in (real, synthetic):
        f = pd.DataFrame(index=range(len(df)))
        for c in cols:
            v = df[c["name"]].reset_index(drop=True)
            if c["kind"] == "numeric":
                f[c["name"]] = pd.to_numeric(v, errors="coerce").astype(float)
            elif c["kind"] == "datetime":
                f[c["name"]] = pd.to_datetime(v, errors="coerce", format="mixed")
            else:
                f[c["name"]] = _categories(df.reset_index(drop=True), c)
        frames.append(f)
    report = QualityReport()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        report.generate(frames[0], frames[1], metadata, verbose=False)
    props = report.get_properties()
    shapes = report.get_details("Column Shapes")
    return {
        "score": float(report.get_score()),
        "properties": {r["Property"]: float(r["Score"]) for _, r in props.iterrows()},
        "column_shapes": [
            (str(r["Column"]), str(r["Metric"]), float(r["Score"])) for _, r in shapes.iterrows()
        ],
    }


# ---------------------------------------------------------------------------------------
# The evaluator
# ---------------------------------------------------------------------------------------


def real_split(run: Run) -> tuple[Any, Any, TableSpec, dict[str, Any]]:
    """(training rows, holdout rows, spec, config) of a table run, as it was split for training."""
    from genforge.data.modalities import get_modality

    cfg = run.read_config()
    if cfg.get("modality") != "table":
        raise GenforgeError(f"run '{run.name}' is not a table model")
    split = get_modality("table").reload(run)
    return split.train.frame, split.val.frame, TableSpec.from_dict(cfg["spec"]), cfg


def evaluate_run(
    run: Run,
    n: int | None = None,
    seed: int = 0,
    target: str | None = None,
    synthetic: Any = None,
    device: str = "auto",
    progress: Stages | None = None,
) -> EvalResult:
    """Fidelity, privacy and utility of a table run.

    Args:
        run: a trained table Run.
        n: synthetic rows to draw (default: as many as the training rows).
        seed: sampling seed.
        target: column for the utility test (default: the run's data target).
        synthetic: a DataFrame to evaluate instead of sampling the model (audits, tests).
        device: sampling device.
        progress: where the stages of the work are reported (`core.progress.Stages`).
    """
    st = progress or Stages.off()
    st.stage("reading the run's training rows and real holdout")
    train, holdout, spec, cfg = real_split(run)
    target = target or cfg["data"].get("target")
    if target is not None and target not in train.columns:
        raise GenforgeError(
            f"unknown target column {target!r}; columns: {', '.join(train.columns)}"
        )
    if synthetic is None:
        from genforge.generate.table import TablePipeline

        st.stage(f"sampling {n or len(train)} rows")
        synthetic = TablePipeline(run, device=device).sample(n or len(train), seed=seed)
    missing = [c for c in train.columns if c not in synthetic.columns]
    if missing:
        raise GenforgeError(f"the synthetic table lacks columns {', '.join(missing)}")

    st.stage("SDMetrics quality (column shapes, pair trends)")
    quality = sdmetrics_quality(spec, train, synthetic)
    metrics = [
        Metric("sdmetrics_quality", "SDMetrics quality score (synthetic vs training rows)",
               quality["score"], "higher", "mean of Column Shapes and Column Pair Trends, 0..1"),
    ]  # fmt: skip
    for prop, key in (("Column Shapes", "column_shapes"), ("Column Pair Trends", "pair_trends")):
        if prop in quality["properties"]:
            metrics.append(Metric(key, f"SDMetrics {prop}", quality["properties"][prop], "higher",
                                  "KS / TV complement per column" if key == "column_shapes"
                                  else "correlation / contingency similarity per column pair"))  # fmt: skip
    sections = []
    extra: dict[str, Any] = {"quality": quality, "rows": {"train": len(train),
                             "holdout": len(holdout), "synthetic": len(synthetic)}}  # fmt: skip

    if len(holdout) >= 2:
        st.stage("privacy: distance of every synthetic row to the closest training row")
        priv = privacy_dcr(spec, train, holdout, synthetic, seed)
        extra["privacy"] = priv
        note = (f"median L1 (range-scaled numbers, one-hot categories) to the nearest training "
                f"row; synthetic {priv['dcr_synthetic_median']:.4g} vs real holdout "
                f"{priv['dcr_holdout_median']:.4g}")  # fmt: skip
        metrics += [
            Metric("dcr_ratio", "DCR ratio, synthetic / real holdout", priv["dcr_ratio"], "higher",
                   note + "; well below 1 means rows sit closer to training data than unseen "
                   "real rows do"),
            Metric("copied_rows_fraction", "synthetic rows identical to a training row",
                   priv["copy_fraction"], "lower",
                   f"{priv['copied_rows']} rows; real holdout: {priv['holdout_copy_fraction']:.3g}"
                   + ("; FLAGGED: the model reproduces training rows" if priv["flagged"] else "")),
        ]  # fmt: skip
        verdict = ("bad", "Privacy flag: synthetic rows copy training rows.") if priv["flagged"] \
            else ("ok", "No copied training rows beyond what the real holdout shows.")  # fmt: skip
        sections.append(Section("Privacy (distance to closest record)",
            f"<div class='verdict {verdict[0]}'>{verdict[1]}</div>" + html_table(
                ["", "synthetic", "real holdout"],
                [["median DCR", priv["dcr_synthetic_median"], priv["dcr_holdout_median"]],
                 ["exact copies", priv["copy_fraction"], priv["holdout_copy_fraction"]],
                 ["rows compared", priv["rows_compared"]["synthetic"],
                  priv["rows_compared"]["holdout"]]])))  # fmt: skip
    else:
        metrics.append(Metric("dcr_ratio", "DCR ratio, synthetic / real holdout", float("nan"),
                              "higher", "no real holdout (val_fraction 0): no baseline"))  # fmt: skip

    if target is not None and len(holdout) >= 2:
        st.stage(f"utility: train on synthetic, test on the real holdout ('{target}')")
        util = utility_tstr(spec, train, holdout, synthetic, target, seed)
        extra["utility"] = util
        if util["task"] == "classification":
            metrics += [
                Metric("tstr_accuracy", f"TSTR accuracy on '{target}'",
                       util["synthetic"]["accuracy"], "higher",
                       "gradient boosting fitted on synthetic rows, tested on the real holdout; "
                       f"fitted on real training rows: {util['real']['accuracy']:.4g}"),
                Metric("tstr_f1_macro", f"TSTR macro-F1 on '{target}'",
                       util["synthetic"]["f1_macro"], "higher",
                       f"fitted on real training rows: {util['real']['f1_macro']:.4g}"),
            ]  # fmt: skip
        else:
            metrics.append(Metric("tstr_r2", f"TSTR R² on '{target}'", util["synthetic"]["r2"],
                                  "higher", "gradient boosting fitted on synthetic rows, tested on "
                                  f"the real holdout; fitted on real rows: {util['real']['r2']:.4g}"))  # fmt: skip
    shapes = sorted(quality["column_shapes"], key=lambda r: r[2])
    sections.append(Section("Column shapes (worst first)", html_table(
        ["column", "metric", "score"], [list(r) for r in shapes])))  # fmt: skip
    sections.append(Section("Synthetic rows (first 10)", synthetic.head(10).to_html(index=False)))
    sections.append(Section("Training rows (first 10)", train.head(10).to_html(index=False)))
    return EvalResult("table", metrics, sections, extra)
