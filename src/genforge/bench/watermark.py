"""`genforge bench watermark`: does a watermarked output stay identifiable after JPEG q75, a
0.5x resize and a 10% crop? (The measurement is genforge.safety.survival's, on the bundled
photos; this module lays out its table.)"""

from __future__ import annotations

from rich.table import Table

NOTE = "detector = what `genforge watermark detect` uses (fixed dwtDct, then pHash lookup)"


def run_watermark_bench() -> list[dict]:
    """Rows: method, edit, n, watermark id decoded (of n), detector right (of n, or None),
    the evidence the detector used, and the mean PSNR of the watermarked images."""
    from genforge.safety.survival import survival

    return survival()


def watermark_table(rows: list[dict]) -> Table:
    table = Table("method", "PSNR dB", "edit", "id decoded", "detector right", "evidence used")
    for r in rows:
        det = "-" if r["detector"] is None else f"{r['detector']}/{r['n']}"
        ev = ", ".join(f"{k} {v}" for k, v in sorted(r["evidence"].items())) or "-"
        table.add_row(
            r["method"], f"{r['psnr']:.1f}", r["edit"], f"{r['watermark']}/{r['n']}", det, ev
        )
    return table
