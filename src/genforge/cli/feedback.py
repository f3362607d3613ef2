"""`genforge feedback RUN` (ratings: summary, --export, --import) and `genforge gate fit RUN`
(the learned gate, fitted on those ratings)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from genforge.cli.common import console, user_errors
from genforge.core.errors import GenforgeError

RunsDir = Annotated[Path | None, typer.Option(help="Where runs live (default ./runs).")]
Db = Annotated[
    Path | None, typer.Option(help="SQLite file of the server (default <runs>/.serve/...).")
]


def feedback_store(runs_dir: Path | None, db: Path | None):
    """The ratings beside the provenance records of the server that serves `runs_dir`."""
    from genforge.safety.feedback import FeedbackStore
    from genforge.serve.settings import Settings

    return FeedbackStore(Settings(runs_dir=runs_dir, db_path=db).db_path)


def run_name(run: str, runs_dir: Path | None) -> str:
    """A run's name as ratings record it: the folder's name when it resolves, else as given
    (ratings can be imported for a run that lives on another machine)."""
    from genforge.core.run import resolve_run

    try:
        return resolve_run(run, runs_dir).name
    except GenforgeError:
        return Path(run).name


@user_errors
def feedback_command(
    run: Annotated[str, typer.Argument(help="Run name or path.")],
    export: Annotated[
        Path | None, typer.Option("--export", help="Write the run's ratings to this JSONL file.")
    ] = None,
    import_: Annotated[
        Path | None,
        typer.Option("--import", help="Bring in ratings from a JSONL file (from --export)."),
    ] = None,
    runs_dir: RunsDir = None,
    db: Db = None,
) -> None:
    """People's ratings of a run's outputs: counts and agreement, or export/import as JSONL
    (one rating per line, with who rated and the output's provenance)."""
    from genforge.core.io import write_text

    store = feedback_store(runs_dir, db)
    name = run_name(run, runs_dir)
    if import_ is not None:
        rows = read_jsonl(import_)
        got = store.import_rows(rows)
        console.print(f"imported {got['imported']} of {len(rows)} ratings into {store.db_path} "
                      f"({got['added_outputs']} outputs added from their provenance records)")  # fmt: skip
        for why in got["skipped"][:20]:
            console.print(f"  [yellow]skipped[/] {why}", markup=True, highlight=False)
        if len(got["skipped"]) > 20:
            console.print(f"  ... and {len(got['skipped']) - 20} more skipped")
    if export is not None:
        rows = store.export(name)
        write_text(export, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
        console.print(f"{len(rows)} ratings of run '{name}' written to {export}")
    if export is None and import_ is None:
        print_summary(store.summary(name))


def read_jsonl(path: Path) -> list[dict]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError:
        raise GenforgeError(f"{path} is not UTF-8 text (expected JSONL from --export)") from None
    rows = []
    for i, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise GenforgeError(f"{path}:{i}: not JSON ({e.msg})") from None
        if not isinstance(row, dict):
            raise GenforgeError(f"{path}:{i}: expected a JSON object per line")
        rows.append(row)
    return rows


def print_summary(s: dict) -> None:
    from rich.markup import escape

    if not s["ratings"]:
        console.print(f"run '{escape(s['run'])}' has no ratings yet (rate outputs in the web "
                      "gallery, over PUT /v1/outputs/{id}/rating, or --import a file)")  # fmt: skip
        return
    mean = f", mean score {s['mean_score']:.2f}" if s["mean_score"] is not None else ""
    console.print(
        f"run '{escape(s['run'])}': {s['ratings']} ratings of {s['outputs']} outputs by "
        f"{len(s['raters'])} rater(s) ({escape(', '.join(s['raters']))}): {s['up']} up, "
        f"{s['down']} down{mean}; verdicts: {s['approved']} approved, {s['rejected']} rejected"
    )
    a = s["agreement"]
    if a:
        console.print(f"agreement over {a['outputs']} outputs rated by several: "
                      f"{a['pairs_agreeing']:.0%} of rater pairs agree, Fleiss' kappa "
                      f"{a['fleiss_kappa']:.2f}")  # fmt: skip


gate_app = typer.Typer(help="The learned quality gate, fitted on people's ratings.",
                       no_args_is_help=True)  # fmt: skip


@gate_app.command("fit")
@user_errors
def gate_fit_command(
    run: Annotated[str, typer.Argument(help="Run name or path (image or text run).")],
    seed: Annotated[int | None, typer.Option(help="Seed of the cross-validation folds.")] = None,
    runs_dir: RunsDir = None,
    db: Db = None,
) -> None:
    """Fit a model that predicts a rating from the output's features, report its
    cross-validated AUC and calibration, and save it into the run (gate/learned.*)."""
    from genforge.core.run import resolve_run
    from genforge.evaluate.learned_gate import fit_gate

    found = resolve_run(run, runs_dir)
    store = feedback_store(runs_dir, db)
    with console.status("features of the rated outputs, cross-validation ..."):
        gate = fit_gate(found, store, seed=seed or 0)
    i = gate.info
    lo, hi = i["cv_auc_ci95"]
    console.print(
        f"learned gate of '{found.name}' fitted on {i['ratings']} rated outputs "
        f"({i['approved']} approved, {i['rejected']} rejected) in {i['features']} ({i['dim']} "
        f"features)"
    )
    console.print(f"  {i['cv_folds']}-fold cross-validated AUC {i['cv_auc']:.3f} (95% CI "
                  f"{lo:.3f}-{hi:.3f}); Brier {i['cv_brier']:.3f}; calibration error "
                  f"{i['cv_ece']:.3f}")  # fmt: skip
    if i["left_out"]:
        console.print(f"  left out {len(i['left_out'])} rated outputs whose files are gone")
    console.print(f"  saved: {found.path / 'gate'}; use it: genforge sample {found.name} "
                  "--gate learned")  # fmt: skip
