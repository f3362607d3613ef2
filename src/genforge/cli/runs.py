"""`genforge runs list` and `genforge runs show RUN`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Column, Table

from genforge.cli.common import console, user_errors

app = typer.Typer(help="List and inspect training runs.", no_args_is_help=True)


@app.command("list")
@user_errors
def list_command(
    runs_dir: Annotated[Path | None, typer.Option(help="Where runs live (default ./runs).")] = None,
) -> None:
    """List runs with model, data, progress and last losses."""
    from genforge.core.run import list_runs, runs_root

    runs = list_runs(runs_dir)
    if not runs:
        console.print(f"no runs in {runs_root(runs_dir)}")
        return
    table = Table("model", "data", "step", "last losses", "created")
    table.columns.insert(0, Column("run", no_wrap=True, min_width=max(len(r.name) for r in runs)))
    for run in runs:
        cfg = run.read_config()
        metrics = run.metrics()
        last = metrics[-1] if metrics else {}
        losses = ", ".join(f"{k} {v:.3g}" for k, v in last.items() if k.startswith("loss"))
        table.add_row(
            run.name, cfg["model"], Path(cfg["data"]["source"]).name,
            f"{run.step}/{cfg['train']['steps']}", losses, cfg.get("created", ""),
        )  # fmt: skip
    console.print(table)


@app.command("show")
@user_errors
def show_command(
    run: Annotated[str, typer.Argument(help="Run name or path.")],
    runs_dir: Annotated[Path | None, typer.Option(help="Where runs live (default ./runs).")] = None,
) -> None:
    """Show a run's config, data, progress and files."""
    import yaml

    from genforge.core.run import resolve_run

    r = resolve_run(run, runs_dir)
    cfg = r.read_config()
    metrics = r.metrics()
    console.print(f"[bold]{r.name}[/]  {cfg['model']} on {cfg['data']['source']}  ({r.path})")
    console.print(f"step {r.step} of {cfg['train']['steps']}")
    if metrics:
        last = metrics[-1]
        console.print(
            "last log: " + ", ".join(f"{k} {v:.4g}" for k, v in last.items() if k != "step")
        )
    console.print(
        yaml.safe_dump({k: cfg[k] for k in ("data", "model_config", "train")}, sort_keys=False)
    )
    _show_provenance(cfg.get("provenance"))
    files = [
        r.card_path,
        r.samples_dir / "latest.png",
        r.samples_dir / "losses.png",
        r.metrics_path,
        r.tb_dir,
    ]
    for f in files:
        if f.exists():
            console.print(f"  {f}")


def _show_provenance(provenance: dict | None) -> None:
    """The run's declared use, each source's licence, and the licences that forbid the use."""
    from rich.markup import escape

    from genforge.data.governance import run_conflicts

    if not provenance:
        console.print("training data: no datasheets recorded (a run made before genforge 0.2)")
        return
    console.print(f"[bold]training data[/] (declared use: {provenance.get('use')})")
    for s in provenance.get("sources", []):
        sheet = s.get("datasheet")
        licence = sheet["license"] if sheet else "unknown (no datasheet.yaml)"
        content = s.get("content") or {}
        files = f", {content['files']} files, sha256 {content['sha256'][:16]}…" if content else ""
        console.print(f"  {escape(s['source'])}: licence {escape(licence)}{files}")
    for source, why in run_conflicts(provenance):
        tag = (
            "[yellow]warning[/]"
            if why.startswith("no datasheet")
            else "[bold red]licence conflict[/]"
        )
        console.print(f"  {tag} {escape(source)}: {escape(why)}")
