"""What a data source holds: counts, sizes, class balance, and every file that was left out.

A `DataReport` is built by the image-folder scan and by the embedded sets. It is saved as JSON
next to a run (`to_dict` / `from_dict`) and shown by `genforge data inspect` (`render`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from rich.console import Console
from rich.table import Table

# How many skipped files / duplicates `render` lists before summarising the rest.
_MAX_ROWS = 20
_BAR_WIDTH = 30
# Above this max/min class ratio, `render` warns that the classes are imbalanced.
_IMBALANCE_WARNING = 3.0

_MODE_NAMES = {
    "1": "1-bit black and white",
    "L": "grayscale 8-bit",
    "LA": "grayscale + alpha",
    "I": "grayscale 32-bit integer",
    "I;16": "grayscale 16-bit",
    "I;16B": "grayscale 16-bit",
    "I;16L": "grayscale 16-bit",
    "F": "grayscale 32-bit float",
    "P": "palette",
    "PA": "palette + alpha",
    "RGB": "color",
    "RGBA": "color + alpha",
    "CMYK": "CMYK color",
    "YCbCr": "YCbCr color",
}


@dataclass
class SkippedFile:
    """A file that was looked at and left out, with the reason (e.g. "truncated image")."""

    path: str
    reason: str


@dataclass
class DataReport:
    """Summary of a data source: what was kept, what was skipped and why.

    Paths in `skipped` and `duplicates` are relative to `source` for folders.
    """

    source: str  # folder path or embedded name
    kind: str  # "image-folder" | "embedded"
    num_files: int  # files looked at
    num_images: int  # images kept (after removing duplicates)
    image_size: int | None  # output size after resize/crop; None for inspect-only
    channels: int | None  # output channels; None for inspect-only
    original_sizes: dict[str, int]  # "WxH" -> count, most common first (top 10)
    original_modes: dict[str, int]  # PIL mode -> count, most common first
    class_counts: dict[str, int]  # class name -> count, in label order; {} when unlabeled
    skipped: list[SkippedFile] = field(default_factory=list)
    duplicates: list[tuple[str, str]] = field(default_factory=list)  # (duplicate, first copy)
    # multi-label data (attributes.csv or an attributed embedded set): name -> value -> count
    attributes: dict[str, dict[str, int]] = field(default_factory=dict)
    attributes_unmatched: list[str] = field(default_factory=list)  # CSV rows naming no image
    # the exact files used: {"sha256": hash over (path, file sha256), "files": n}; {} embedded
    content: dict[str, Any] = field(default_factory=dict)

    # ---------------------------------------------------------------- serialisation

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-serialisable dict (tuples become lists)."""
        d = asdict(self)
        d["duplicates"] = [list(pair) for pair in self.duplicates]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DataReport:
        """Rebuild a report from `to_dict` output (e.g. read back from JSON)."""
        d = dict(d)
        d["skipped"] = [SkippedFile(**s) for s in d.get("skipped", [])]
        d["duplicates"] = [(dup, first) for dup, first in d.get("duplicates", [])]
        return cls(**d)

    # ---------------------------------------------------------------- statistics

    def imbalance_ratio(self) -> float | None:
        """Largest class count over smallest; None when unlabeled, inf if a class is empty."""
        if not self.class_counts:
            return None
        counts = list(self.class_counts.values())
        return float("inf") if min(counts) == 0 else max(counts) / min(counts)

    # ---------------------------------------------------------------- display

    def render(self, console: Console) -> None:
        """Print the report as rich tables: summary, sizes and modes, classes, skipped, duplicates."""
        console.print(self._summary_table())
        console.print(self._sizes_table())
        console.print(self._modes_table())
        if self.class_counts:
            console.print(self._classes_table())
            ratio = self.imbalance_ratio()
            if ratio is not None and ratio > _IMBALANCE_WARNING:
                console.print(
                    f"[yellow]Classes are imbalanced (largest/smallest = {ratio:.1f}); "
                    "rare classes will be learned less well.[/yellow]"
                )
        if self.attributes:
            console.print(self._attributes_table())
        if self.skipped:
            console.print(self._skipped_table())
        if self.duplicates:
            console.print(self._duplicates_table())

    def _summary_table(self) -> Table:
        table = Table(title=f"Data: {self.source}", show_header=False, title_justify="left")
        table.add_column("field", style="bold")
        table.add_column("value")
        table.add_row("kind", self.kind)
        table.add_row("files looked at", str(self.num_files))
        table.add_row("images kept", str(self.num_images))
        size = "original sizes (inspect only)"
        if self.image_size is not None:
            size = f"{self.image_size}x{self.image_size} (shorter side resized, center crop)"
        table.add_row("output size", size)
        channels = {None: "as found (inspect only)", 1: "1 (grayscale)", 3: "3 (RGB)"}
        table.add_row("channels", channels.get(self.channels, str(self.channels)))
        if self.class_counts:
            ratio = self.imbalance_ratio()
            table.add_row("classes", f"{len(self.class_counts)} (largest/smallest = {ratio:.2f})")
        else:
            table.add_row("classes", "none (unlabeled)")
        table.add_row("skipped files", _count_style(len(self.skipped)))
        table.add_row("exact duplicates removed", _count_style(len(self.duplicates)))
        return table

    def _sizes_table(self) -> Table:
        table = Table(title="Original sizes (W x H)", title_justify="left")
        table.add_column("size")
        table.add_column("images", justify="right")
        table.add_column("share", justify="right")
        for size, count in self.original_sizes.items():
            table.add_row(size, str(count), _percent(count, self.num_images))
        other = self.num_images - sum(self.original_sizes.values())
        if other > 0:
            table.add_row("[dim]other sizes[/dim]", str(other), _percent(other, self.num_images))
        return table

    def _modes_table(self) -> Table:
        table = Table(title="Original pixel modes", title_justify="left")
        table.add_column("mode")
        table.add_column("meaning")
        table.add_column("images", justify="right")
        for mode, count in self.original_modes.items():
            table.add_row(mode, _MODE_NAMES.get(mode, ""), str(count))
        return table

    def _classes_table(self) -> Table:
        table = Table(title="Class balance", title_justify="left")
        table.add_column("label", justify="right")
        table.add_column("class")
        table.add_column("images", justify="right")
        table.add_column("share", justify="right")
        table.add_column("")
        total = sum(self.class_counts.values())
        largest = max(self.class_counts.values()) or 1
        for label, (name, count) in enumerate(self.class_counts.items()):
            bar = "█" * round(_BAR_WIDTH * count / largest)
            table.add_row(
                str(label), name, str(count), _percent(count, total), f"[cyan]{bar}[/cyan]"
            )
        return table

    def _attributes_table(self) -> Table:
        table = Table(title=f"Attributes ({len(self.attributes)})", title_justify="left")
        table.add_column("attribute", style="bold")
        table.add_column("values (images)")
        for name, counts in self.attributes.items():
            table.add_row(name, ", ".join(f"{v} ({c})" for v, c in counts.items()))
        if self.attributes_unmatched:
            shown = ", ".join(self.attributes_unmatched[:5])
            more = len(self.attributes_unmatched) - 5
            table.add_row(
                "[yellow]CSV rows without an image[/yellow]",
                f"{len(self.attributes_unmatched)}: {shown}"
                + (f" ... and {more} more" if more > 0 else ""),
            )
        return table

    def _skipped_table(self) -> Table:
        table = Table(title=f"Skipped files ({len(self.skipped)})", title_justify="left")
        table.add_column("file")
        table.add_column("reason", style="yellow")
        for s in self.skipped[:_MAX_ROWS]:
            table.add_row(s.path, s.reason)
        if len(self.skipped) > _MAX_ROWS:
            table.add_row(f"[dim]... and {len(self.skipped) - _MAX_ROWS} more[/dim]", "")
        return table

    def _duplicates_table(self) -> Table:
        table = Table(
            title=f"Exact duplicates removed ({len(self.duplicates)})", title_justify="left"
        )
        table.add_column("duplicate (removed)")
        table.add_column("same bytes as (kept)")
        for dup, first in self.duplicates[:_MAX_ROWS]:
            table.add_row(dup, first)
        if len(self.duplicates) > _MAX_ROWS:
            table.add_row(f"[dim]... and {len(self.duplicates) - _MAX_ROWS} more[/dim]", "")
        return table


def _percent(count: int, total: int) -> str:
    return f"{100 * count / total:.1f}%" if total else "-"


def _count_style(n: int) -> str:
    return f"[yellow]{n}[/yellow]" if n else "0"
