"""Tables: a CSV file or an embedded scikit-learn table -> encoded rows for the table models.

`load_table(source)` reads the table, infers each column's kind, fits the CTGAN-style encoding
(Xu et al. 2019, arXiv:1907.00503) and returns a `TableDataset` whose `images` are the encoded
rows (N, D), so the one training loop trains table models like any other:

    numeric / datetime  -> mode-specific normalisation: a Bayesian GMM per column; a value is
                           (alpha in [-1, 1], one-hot of its mode); alpha = (v - mu_k) / (4 sigma_k)
    categorical         -> one-hot (missing values are a category of their own)
    missing numbers     -> filled with the column mean + a 2-way "missing" one-hot
    ID columns          -> left out of learning; `decode` writes fresh sequential IDs

Column kinds: numbers with at most `MAX_CATEGORIES_NUMERIC` distinct integer values are
categorical (labels such as 0/1), text that parses as dates is datetime, text or integers that
are unique in every row (or named *id) are IDs, other text is categorical.

The fitted encoding lives in a `TableSpec` (plain JSON in config.yaml): models are built from it
and samplers decode with it. Constraints (`range:col:lo:hi`, `positive:col`,
`fixed:colA,colB`) are part of the spec; `TableSpec.satisfied` checks them row by row.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from genforge.core.errors import GenforgeError
from genforge.data.governance import check_file_not_opted_out, content_digest

EMBEDDED_TABLES = {
    "breast_cancer": ("load_breast_cancer", "target"),
    "wine": ("load_wine", "target"),
    "diabetes": ("load_diabetes", "target"),
}
MAX_CATEGORIES_NUMERIC = 10  # integer columns with at most this many values are categorical
MIN_ROWS = 10  # fewer rows cannot fit a mixture per column, nor leave a holdout
MAX_MODES = 10  # Bayesian GMM components per numeric column (CTGAN's default)
GMM_FIT_ROWS = 5000  # mixtures are fitted on at most this many rows (seeded subsample)
MISSING = "<missing>"


# ---------------------------------------------------------------------------------------
# Reading and column kinds
# ---------------------------------------------------------------------------------------


def is_embedded_table(source: str) -> bool:
    return source in EMBEDDED_TABLES


def is_table_source(source: str) -> bool:
    """An embedded table or a path ending in .csv / .tsv."""
    return is_embedded_table(source) or Path(source).suffix.lower() in (".csv", ".tsv")


def read_table(source: str) -> tuple[Any, str, str | None]:
    """(DataFrame, name, default target column) of an embedded table or a CSV file."""
    import pandas as pd

    if is_embedded_table(source):
        import sklearn.datasets

        loader, target = EMBEDDED_TABLES[source]
        bunch = getattr(sklearn.datasets, loader)(as_frame=True)
        df = bunch.frame.copy()
        if source != "diabetes":  # class labels by name, so they read as categories
            df[target] = [str(bunch.target_names[i]) for i in df[target]]
        return df, source, target
    path = Path(source).expanduser()
    if not path.exists():
        raise GenforgeError(
            f"no such file: {source}; give a CSV file or an embedded table "
            f"({', '.join(EMBEDDED_TABLES)})"
        )
    if path.is_dir() or path.suffix.lower() not in (".csv", ".tsv", ".txt"):
        raise GenforgeError(f"{source} is not a CSV file (.csv or .tsv)")
    try:
        df = pd.read_csv(path, sep="\t" if path.suffix.lower() == ".tsv" else ",")
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as e:
        raise GenforgeError(f"cannot read {source} as CSV: {str(e).splitlines()[0]}") from None
    return df, path.stem, None


def _looks_like_id_name(name: str) -> bool:
    return bool(re.search(r"(^|[_\s-])id$", name.strip(), re.IGNORECASE)) or name.lower() == "id"


def _parse_dates(col: Any) -> Any | None:
    """The column as datetimes when (almost) every present value parses as a date, else None."""
    import pandas as pd

    present = col.dropna()
    if len(present) == 0 or not all(isinstance(v, str) for v in present.head(50)):
        return None
    if present.str.fullmatch(r"[-+]?\d+(\.\d+)?").mean() > 0.5:  # numbers stored as text
        return None
    try:
        parsed = pd.to_datetime(col, errors="coerce", format="mixed")
    except (ValueError, TypeError):
        return None
    ok = parsed.notna().sum() / max(1, len(present))
    return parsed if ok >= 0.95 else None


def infer_kind(name: str, col: Any) -> str:
    """'numeric', 'categorical', 'datetime' or 'id' for one DataFrame column."""
    import pandas as pd

    present = col.dropna()
    n, unique = len(present), present.nunique()
    if pd.api.types.is_bool_dtype(col):
        return "categorical"
    if pd.api.types.is_numeric_dtype(col):
        integer = bool(np.all(np.mod(present.to_numpy(dtype=float), 1) == 0))
        if integer and unique == n and n >= 20 and _looks_like_id_name(name):
            return "id"
        few = (integer and unique <= MAX_CATEGORIES_NUMERIC) or unique <= 2
        if few and n > 2 * unique:
            return "categorical"
        return "numeric"
    if pd.api.types.is_datetime64_any_dtype(col) or _parse_dates(col) is not None:
        return "datetime"
    if unique == n and (n >= 20 or _looks_like_id_name(name)):
        return "id"  # unique per row: an identifier or free text; nothing to learn across rows
    return "categorical"


# ---------------------------------------------------------------------------------------
# Constraints
# ---------------------------------------------------------------------------------------


def parse_constraint(text: str, columns: dict[str, dict]) -> dict[str, Any]:
    """'range:col:lo:hi' | 'positive:col' | 'fixed:colA,colB' -> a JSON-able constraint."""
    kind, _, rest = text.partition(":")
    usage = "constraints are range:COLUMN:LOW:HIGH, positive:COLUMN or fixed:COLUMN,COLUMN"

    def column(name: str, numeric: bool) -> str:
        if name not in columns:
            raise GenforgeError(
                f"constraint {text!r} names unknown column {name!r}; columns: {', '.join(columns)}"
            )
        if numeric and columns[name]["kind"] != "numeric":
            raise GenforgeError(f"constraint {text!r} needs a numeric column; {name!r} is not")
        return name

    if kind == "range":
        parts = rest.rsplit(":", 2)
        if len(parts) != 3:
            raise GenforgeError(f"bad constraint {text!r}; {usage}")
        try:
            lo, hi = float(parts[1]), float(parts[2])
        except ValueError:
            raise GenforgeError(f"bad constraint {text!r}: bounds must be numbers") from None
        if lo > hi:
            raise GenforgeError(f"bad constraint {text!r}: low {lo} is above high {hi}")
        return {"kind": "range", "column": column(parts[0], True), "low": lo, "high": hi}
    if kind == "positive":
        return {"kind": "positive", "column": column(rest, True)}
    if kind == "fixed":
        names = [c.strip() for c in rest.split(",") if c.strip()]
        if len(names) < 2:
            raise GenforgeError(f"bad constraint {text!r}: fixed needs two or more columns")
        for c in names:
            column(c, False)
        return {"kind": "fixed", "columns": names}
    raise GenforgeError(f"bad constraint {text!r}; {usage}")


# ---------------------------------------------------------------------------------------
# The spec: column kinds + fitted encoding, JSON-able
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Span:
    """A slice of the encoded row: 'tanh' (one alpha) or 'softmax' (a one-hot block)."""

    kind: str  # "tanh" | "softmax"
    start: int
    size: int
    column: str
    role: str  # "alpha" | "mode" | "category" | "missing"

    @property
    def discrete(self) -> bool:
        """Spans the conditional vector draws from (categories and missing flags, not modes)."""
        return self.role in ("category", "missing")


@dataclass
class TableSpec:
    """Columns (in CSV order) with kind and fitted encoding; constraints; the encoded layout."""

    columns: list[dict[str, Any]]
    constraints: list[dict[str, Any]] = field(default_factory=list)
    spans: list[Span] = field(init=False)

    def __post_init__(self) -> None:
        spans, pos = [], 0
        for c in self.columns:
            if c["kind"] in ("numeric", "datetime"):
                k = len(c["means"])
                spans += [Span("tanh", pos, 1, c["name"], "alpha")]
                spans += [Span("softmax", pos + 1, k, c["name"], "mode")]
                pos += 1 + k
                if c["has_missing"]:
                    spans.append(Span("softmax", pos, 2, c["name"], "missing"))
                    pos += 2
            elif c["kind"] == "categorical":
                spans.append(Span("softmax", pos, len(c["categories"]), c["name"], "category"))
                pos += len(c["categories"])
        self.spans = spans

    @property
    def dim(self) -> int:
        """Width D of an encoded row."""
        return sum(s.size for s in self.spans)

    @property
    def discrete_spans(self) -> list[Span]:
        return [s for s in self.spans if s.discrete]

    @property
    def learned(self) -> list[dict[str, Any]]:
        return [c for c in self.columns if c["kind"] != "id"]

    def column(self, name: str) -> dict[str, Any]:
        for c in self.columns:
            if c["name"] == name:
                return c
        raise GenforgeError(
            f"unknown column {name!r}; columns: {', '.join(c['name'] for c in self.columns)}"
        )

    def discrete_freqs(self, span: Span) -> list[float]:
        """Training frequencies of the values of a discrete span."""
        c = self.column(span.column)
        return list(c["freqs"] if span.role == "category" else c["missing_freqs"])

    def to_dict(self) -> dict[str, Any]:
        return {"columns": self.columns, "constraints": self.constraints}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TableSpec:
        return cls(list(d["columns"]), list(d.get("constraints", [])))

    # -- constraints ------------------------------------------------------------------------
    def satisfied(self, df: Any) -> np.ndarray:
        """Bool (n,): which rows of a decoded table meet every constraint (a missing number
        meets range and positive constraints: they bound the values that are present)."""
        ok = np.ones(len(df), dtype=bool)
        for c in self.constraints:
            if c["kind"] == "range":
                v = df[c["column"]].to_numpy(dtype=float, na_value=np.nan)
                ok &= np.isnan(v) | ((v >= c["low"]) & (v <= c["high"]))
            elif c["kind"] == "positive":
                v = df[c["column"]].to_numpy(dtype=float, na_value=np.nan)
                ok &= np.isnan(v) | (v > 0)
            elif c["kind"] == "fixed":
                allowed = {tuple(combo) for combo in c["combinations"]}
                rows = zip(*(category_values(df[col]) for col in c["columns"]), strict=True)
                ok &= np.array([tuple(r) in allowed for r in rows], dtype=bool)
        return ok


# ---------------------------------------------------------------------------------------
# Fitting the encoding
# ---------------------------------------------------------------------------------------


def _decimals(values: np.ndarray) -> int:
    """Fewest decimals (0..6) that represent every value; 6 when none does."""
    for d in range(7):
        if np.allclose(np.round(values, d), values, rtol=0, atol=1e-9):
            return d
    return 6


def _fit_modes(values: np.ndarray, seed: int) -> tuple[list[float], list[float], list[float]]:
    """Bayesian GMM modes (means, stds, weights) of one column; modes with weight < 0.005 dropped."""
    from sklearn.mixture import BayesianGaussianMixture

    rng = np.random.default_rng(seed)
    x = values if len(values) <= GMM_FIT_ROWS else rng.choice(values, GMM_FIT_ROWS, replace=False)
    unique = np.unique(x)
    if len(unique) == 1:
        return [float(unique[0])], [1.0], [1.0]
    gmm = BayesianGaussianMixture(
        n_components=min(MAX_MODES, len(unique)),
        weight_concentration_prior_type="dirichlet_process",
        weight_concentration_prior=0.001,
        max_iter=100,
        n_init=1,
        random_state=seed,
    )
    import warnings

    from sklearn.exceptions import ConvergenceWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        gmm.fit(x.reshape(-1, 1))
    keep = gmm.weights_ > 0.005
    means = gmm.means_[keep, 0]
    stds = np.sqrt(gmm.covariances_[keep, 0, 0])
    stds = np.maximum(stds, 1e-3 * (x.max() - x.min()) + 1e-12)
    weights = gmm.weights_[keep] / gmm.weights_[keep].sum()
    return means.tolist(), stds.tolist(), weights.tolist()


def _to_number(col: Any, kind: str) -> np.ndarray:
    """Numeric or datetime column -> float64 (datetimes as seconds since 1970); NaN kept."""
    import pandas as pd

    if kind == "datetime":
        parsed = pd.to_datetime(col, errors="coerce", format="mixed")
        seconds = parsed.astype("int64").to_numpy().astype(float) / 1e9
        seconds[parsed.isna().to_numpy()] = np.nan
        return seconds
    return pd.to_numeric(col, errors="coerce").to_numpy(dtype=float)


def fit_spec(df: Any, constraints: tuple[str, ...] = (), seed: int = 0) -> TableSpec:
    """Infer column kinds and fit the encoding of a whole table.

    Raises:
        GenforgeError: too few rows, an all-missing column, nothing left to learn, a bad
            constraint or training rows that break a constraint.
    """
    import pandas as pd

    if len(df) < MIN_ROWS:
        raise GenforgeError(
            f"the table has {len(df)} row{'s' if len(df) != 1 else ''}; "
            f"at least {MIN_ROWS} are needed to learn from it"
        )
    empty = [str(c) for c in df.columns if df[c].isna().all()]
    if empty:
        raise GenforgeError(
            f"column{'s' if len(empty) > 1 else ''} {', '.join(map(repr, empty))} "
            "has no values (all missing); drop it from the CSV"
        )
    columns: list[dict[str, Any]] = []
    for i, name in enumerate(df.columns):
        col = df[name]
        kind = infer_kind(str(name), col)
        info: dict[str, Any] = {"name": str(name), "kind": kind}
        missing = int(col.isna().sum())
        info["has_missing"] = missing > 0
        if kind == "id":
            numeric = bool(np.issubdtype(col.dtype, np.number))
            info["id_type"] = "int" if numeric else "str"
            info["id_start"] = int(col.max()) + 1 if numeric else 0
        elif kind == "categorical":
            values = pd.Series(category_values(col))
            counts = values.value_counts(sort=False)
            cats = sorted(counts.index, key=str)
            info["categories"] = [str(c) for c in cats]
            info["freqs"] = [float(counts[c] / len(values)) for c in cats]
            info["dtype"] = _dtype_name(col)
        else:
            x = _to_number(col, kind)
            present = x[~np.isnan(x)]
            means, stds, weights = _fit_modes(present, seed + i)
            info |= {"means": means, "stds": stds, "weights": weights}
            info["min"], info["max"] = float(present.min()), float(present.max())
            info["fill"] = float(present.mean())
            info["integer"] = bool(kind == "numeric" and np.all(np.mod(present, 1) == 0))
            info["decimals"] = 0 if kind == "datetime" else _decimals(present)
            info["quantiles"] = np.quantile(present, np.linspace(0, 1, 101)).tolist()
            info["missing_freqs"] = [1 - missing / len(col), missing / len(col)]
            if kind == "datetime":
                dt = _to_number(col, kind)
                info["date_only"] = bool(np.all(np.mod(dt[~np.isnan(dt)], 86400) == 0))
        columns.append(info)
    if not any(c["kind"] != "id" for c in columns):
        raise GenforgeError("every column looks like an ID (unique per row); nothing to learn")
    by_name = {c["name"]: c for c in columns}
    parsed = [parse_constraint(t, by_name) for t in constraints]
    for c in parsed:
        if c["kind"] == "fixed":
            combos = zip(*(category_values(df[col]) for col in c["columns"]), strict=True)
            c["combinations"] = [list(t) for t in sorted(set(combos))]
    spec = TableSpec(columns, parsed)
    bad = int((~spec.satisfied(df)).sum())
    if bad:
        raise GenforgeError(
            f"{bad} training row{'s' if bad > 1 else ''} already break the constraints "
            f"{', '.join(constraints)}; fix the data or the constraints"
        )
    return spec


def _cat_str(v: Any) -> str:
    """Category value as text; 3.0 -> '3' so integer labels read back as integers."""
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def category_values(col: Any) -> list[str]:
    """A column's values as category text, missing values as MISSING."""
    return [MISSING if v is None or v != v else _cat_str(v) for v in col.astype(object)]


def _dtype_name(col: Any) -> str:
    import pandas as pd

    if pd.api.types.is_bool_dtype(col):
        return "bool"
    if pd.api.types.is_numeric_dtype(col):
        return "int" if np.all(np.mod(col.dropna().to_numpy(dtype=float), 1) == 0) else "float"
    return "str"


# ---------------------------------------------------------------------------------------
# Encode / decode
# ---------------------------------------------------------------------------------------


def encode(spec: TableSpec, df: Any, seed: int = 0) -> np.ndarray:
    """Rows of `df` -> encoded float32 (N, D). A value's mode is drawn from its GMM posterior."""
    rng = np.random.default_rng(seed)
    n = len(df)
    out = np.zeros((n, spec.dim), dtype=np.float32)
    by_col: dict[str, list[Span]] = {}
    for s in spec.spans:
        by_col.setdefault(s.column, []).append(s)
    for c in spec.learned:
        spans = {s.role: s for s in by_col[c["name"]]}
        col = df[c["name"]]
        if c["kind"] == "categorical":
            values = category_values(col)
            index = {v: j for j, v in enumerate(c["categories"])}
            unknown = sorted({v for v in values if v not in index})
            if unknown:
                raise GenforgeError(
                    f"column {c['name']!r} has values the model never saw: {', '.join(unknown[:5])}"
                )
            idx = np.array([index[v] for v in values])
            out[np.arange(n), spans["category"].start + idx] = 1
            continue
        x = _to_number(col, c["kind"])
        miss = np.isnan(x)
        x = np.where(miss, c["fill"], x)
        means, stds, w = (np.array(c[k]) for k in ("means", "stds", "weights"))
        # posterior p(k | x) ∝ w_k N(x; mu_k, sigma_k), sampled per row (CTGAN)
        logp = np.log(w + 1e-12) - np.log(stds) - 0.5 * ((x[:, None] - means) / stds) ** 2
        p = np.exp(logp - logp.max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
        k = (p.cumsum(1) > rng.random((n, 1))).argmax(1)
        alpha = np.clip((x - means[k]) / (4 * stds[k]), -0.99, 0.99)
        out[:, spans["alpha"].start] = alpha
        out[np.arange(n), spans["mode"].start + k] = 1
        if "missing" in spans:
            out[np.arange(n), spans["missing"].start + miss.astype(int)] = 1
    return out


def decode(spec: TableSpec, rows: np.ndarray, id_offset: int = 0) -> Any:
    """Encoded rows (N, D) (alphas in [-1, 1], one-hot or scores per softmax span) -> DataFrame
    with the CSV's columns. Numbers are clipped to the training range and rounded to its
    precision; ID columns get fresh sequential IDs starting at `id_offset`."""
    import pandas as pd

    n = rows.shape[0]
    by_col: dict[str, dict[str, Span]] = {}
    for s in spec.spans:
        by_col.setdefault(s.column, {})[s.role] = s
    data: dict[str, Any] = {}
    for c in spec.columns:
        name = c["name"]
        if c["kind"] == "id":
            data[name] = fresh_ids(c, n, id_offset)
            continue
        spans = by_col[name]
        if c["kind"] == "categorical":
            s = spans["category"]
            idx = rows[:, s.start : s.start + s.size].argmax(1)
            values = np.array(c["categories"], dtype=object)[idx]
            values[values == MISSING] = None
            data[name] = _cast_category(values, c["dtype"])
            continue
        a, m = spans["alpha"], spans["mode"]
        k = rows[:, m.start : m.start + m.size].argmax(1)
        alpha = np.clip(rows[:, a.start], -1, 1)
        x = alpha * 4 * np.array(c["stds"])[k] + np.array(c["means"])[k]
        x = np.clip(x, c["min"], c["max"])
        x = np.round(x, c["decimals"])
        if "missing" in spans:
            s = spans["missing"]
            miss = rows[:, s.start : s.start + s.size].argmax(1) == 1
            x = np.where(miss, np.nan, x)
        if c["kind"] == "datetime":
            stamps = pd.to_datetime(pd.Series(x, dtype=float) * 1e9, errors="coerce")
            fmt = "%Y-%m-%d" if c.get("date_only") else "%Y-%m-%d %H:%M:%S"
            data[name] = stamps.dt.strftime(fmt)
        elif c["integer"]:
            data[name] = pd.array([None if _isnan(v) else int(v) for v in x], dtype="Int64")
        else:
            data[name] = x.astype(float)
    return pd.DataFrame(data, columns=[c["name"] for c in spec.columns])


def fresh_ids(column: dict[str, Any], n: int, offset: int = 0) -> Any:
    """Sequential IDs for a synthetic ID column: integers after the real maximum, or 'syn-0000001'."""
    ids = np.arange(offset, offset + n)
    if column["id_type"] == "int":
        return ids + column["id_start"]
    return np.array([f"syn-{i:07d}" for i in ids], dtype=object)


def _isnan(v: Any) -> bool:
    return isinstance(v, float) and math.isnan(v)


def _cast_category(values: np.ndarray, dtype: str) -> Any:
    import pandas as pd

    if dtype == "int":
        return pd.array([None if v is None else int(v) for v in values], dtype="Int64")
    if dtype == "float":
        return np.array([np.nan if v is None else float(v) for v in values])
    if dtype == "bool":
        return pd.array([None if v is None else v == "True" for v in values], dtype="boolean")
    return values


# ---------------------------------------------------------------------------------------
# The dataset
# ---------------------------------------------------------------------------------------


@dataclass
class TableReport:
    """What was read: rows, column kinds, missing values."""

    source: str
    num_rows: int
    columns: dict[str, str]  # name -> kind
    missing: dict[str, int]  # name -> missing count (columns with any)
    target: str | None = None
    kind: str = "table"
    content: dict[str, Any] = field(default_factory=dict)  # the CSV's hash; {} embedded

    def to_dict(self) -> dict[str, Any]:
        return {
            "content": self.content,
            "kind": self.kind,
            "source": self.source,
            "num_rows": self.num_rows,
            "num_images": self.num_rows,  # the model card's generic item count
            "columns": self.columns,
            "missing": self.missing,
            "target": self.target,
        }

    def render(self, console: Any) -> None:
        from rich.table import Table

        console.print(f"[bold]{self.source}[/]: table, {self.num_rows} rows, "
                      f"{len(self.columns)} columns")  # fmt: skip
        t = Table("column", "kind", "missing")
        for name, kind in self.columns.items():
            t.add_row(name, kind + (" (excluded from learning)" if kind == "id" else ""),
                      str(self.missing.get(name, 0)))  # fmt: skip
        console.print(t)


@dataclass
class TableDataConfig:
    """The data section of a table run's config.yaml."""

    source: str = "breast_cancer"  # embedded table (breast_cancer, wine, diabetes) or CSV path
    val_fraction: float = 0.2  # real holdout, kept for the privacy and utility evaluation
    constraints: tuple[str, ...] = ()  # range:COL:LO:HI, positive:COL, fixed:COL,COL
    target: str | None = None  # column for the utility evaluation (default: the set's target)
    epochs: int | None = None  # passes over the training rows; sets steps (Table.resolve_train)


@dataclass
class TableDataset:
    """Encoded rows for training (`images`, (N, D) float32) plus the raw rows they came from."""

    name: str
    images: torch.Tensor  # (N, D) encoded rows
    frame: Any  # pandas DataFrame, the same N rows, raw
    spec: TableSpec
    report: TableReport
    labels: torch.Tensor | None = None
    class_names: list[str] = field(default_factory=list)
    stream: Any = None
    in_memory: bool = True

    @property
    def num_classes(self) -> int:
        return 0

    def __len__(self) -> int:
        return len(self.images)

    def split(self, val_fraction: float, seed: int) -> tuple[TableDataset, TableDataset]:
        """Seeded random (train, holdout) split of the rows."""
        if not 0.0 <= val_fraction < 1.0:
            raise GenforgeError(
                f"validation fraction must be at least 0 and below 1, got {val_fraction}"
            )
        n = len(self)
        perm = np.random.default_rng(seed).permutation(n)
        n_val = round(n * val_fraction)
        return self._subset(np.sort(perm[n_val:])), self._subset(np.sort(perm[:n_val]))

    def _subset(self, index: np.ndarray) -> TableDataset:
        frame = self.frame.iloc[index].reset_index(drop=True)
        report = TableReport(
            self.report.source, len(index), self.report.columns, self.report.missing,
            self.report.target, content=self.report.content,
        )  # fmt: skip
        return TableDataset(
            self.name, self.images[torch.from_numpy(index).long()], frame, self.spec, report
        )


def load_table(
    source: str,
    constraints: tuple[str, ...] = (),
    target: str | None = None,
    seed: int = 0,
) -> TableDataset:
    """Read, type and encode a table.

    Args:
        source: an embedded table (breast_cancer, wine, diabetes) or a CSV path.
        constraints: 'range:col:lo:hi', 'positive:col', 'fixed:colA,colB'.
        target: column used by the utility evaluation (default: the embedded set's target).
        seed: seeds the GMM fits and the mode draws.
    """
    df, name, default_target = read_table(source)
    target = target or default_target
    if target is not None and target not in df.columns:
        raise GenforgeError(
            f"unknown target column {target!r}; columns: {', '.join(map(str, df.columns))}"
        )
    spec = fit_spec(df, constraints, seed)
    rows = torch.from_numpy(encode(spec, df, seed))
    kinds = {c["name"]: c["kind"] for c in spec.columns}
    missing = {str(c): int(v) for c, v in df.isna().sum().items() if v}
    report = TableReport(source, len(df), kinds, missing, target, content=_content(source))
    df.columns = [str(c) for c in df.columns]
    return TableDataset(name, rows, df, spec, report)


def _content(source: str) -> dict[str, Any]:
    """The content hash of a CSV (an opted-out file is an error); {} for embedded tables."""
    if is_embedded_table(source):
        return {}
    path = Path(source).expanduser()
    return content_digest([(path.name, check_file_not_opted_out(path))])


def inspect_table(source: str) -> TableReport:
    """Column kinds and missing values of a table, without fitting the encoding."""
    df, _, target = read_table(source)
    if len(df) == 0:
        raise GenforgeError(f"{source} has no rows")
    kinds = {str(c): infer_kind(str(c), df[c]) for c in df.columns}
    missing = {str(c): int(v) for c, v in df.isna().sum().items() if v}
    return TableReport(source, len(df), kinds, missing, target)
