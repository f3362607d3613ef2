"""What an evaluation returns, for every modality: named metrics and report sections."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal


@dataclass
class Metric:
    """One number with an honest name.

    Args:
        key: stable machine key, e.g. "fd_domain", "fid_inception", "perplexity".
        label: what a reader sees, naming the feature space: "FD (domain classifier, digits)".
        value: the number (NaN when it could not be computed; `note` says why).
        better: "lower", "higher" or None when neither.
        note: how it was computed (sample counts, subset size, caveats).
    """

    key: str
    label: str
    value: float
    better: Literal["lower", "higher"] | None = None
    note: str = ""


@dataclass
class Section:
    """A block of the HTML report: a title and an HTML fragment (images embedded as data URIs)."""

    title: str
    html: str


@dataclass
class EvalResult:
    modality: str
    metrics: list[Metric] = field(default_factory=list)
    sections: list[Section] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)  # JSON-able details for metrics.json

    def value(self, key: str) -> float:
        for m in self.metrics:
            if m.key == key:
                return m.value
        raise KeyError(key)

    def to_dict(self) -> dict[str, Any]:
        return {
            "modality": self.modality,
            "metrics": [asdict(m) for m in self.metrics],
            "values": {m.key: m.value for m in self.metrics},
            **self.extra,
        }
