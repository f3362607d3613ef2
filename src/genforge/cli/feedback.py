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
    run: Annotated[str, typer.Argument(help="Run name or path (image, text, audio or table run).")],
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


@user_errors
def review_command(
    run: Annotated[str, typer.Argument(help="Run name or path (image, text, audio or table run).")],
    n: Annotated[int | None, typer.Option(help="Outputs to draw for review (default 64).")] = None,
    seed: Annotated[int | None, typer.Option(help="Seed of the batch (default 0).")] = None,
    rater: Annotated[
        str | None, typer.Option(help="Your name in the ratings (default: local).")
    ] = None,
    prompt: Annotated[str | None, typer.Option(help="Text runs: the prompt to continue.")] = None,
    draw_only: Annotated[
        bool,
        typer.Option("--draw-only", help="Draw and record the batch; rate it in the web gallery."),
    ] = False,
    device: Annotated[str | None, typer.Option(help="auto, cpu or cuda.")] = None,
    runs_dir: RunsDir = None,
    db: Db = None,
) -> None:
    """Draw a batch, least-sure-first by the current gate, and record your verdict on each:
    u/d (thumbs), 1-5 (score) or both (u4); s skips, q stops. The outputs go into the
    provenance store, so the web gallery and genforge gate fit see them."""
    import sys

    from rich.markup import escape

    from genforge.core.run import resolve_run
    from genforge.evaluate.review import draw_batch, parse_verdict
    from genforge.safety.feedback import Rating

    found = resolve_run(run, runs_dir)
    store = feedback_store(runs_dir, db)
    who, n = rater or "local", 64 if n is None else n
    with console.status(f"drawing {n} outputs and scoring them with the current gate ..."):
        items = draw_batch(found, store.provenance, n, seed or 0, who, device or "auto",
                           prompt or "")  # fmt: skip
    gate = items[0].gate if items else None
    order = f"least sure first by the {gate} gate" if gate else "in drawing order (no gate yet)"
    console.print(f"{len(items)} outputs of '{found.name}' recorded, {order}; files in "
                  f"{items[0].path.parent}")  # fmt: skip
    if draw_only:
        console.print("rate them in the web gallery (genforge serve, Gallery, search 'review')")
        return
    rated = 0
    for k, it in enumerate(items, 1):
        score = f"gate {it.score:.2f}" if it.score is not None else "no gate score"
        console.print(f"\n[bold]{k}/{len(items)}[/] {it.id} ({score}): {escape(str(it.path))}")
        if it.text is not None:
            console.print(escape(it.text), highlight=False)
        while True:
            console.print("verdict (u/d/1-5/u4, s skip, q quit): ", end="", markup=False)
            line = sys.stdin.readline()
            if not line or line.strip().lower() == "q":
                break
            try:
                verdict = parse_verdict(line)
            except GenforgeError as e:
                console.print(f"[yellow]{escape(str(e))}[/]")
                continue
            if verdict is not None:
                store.rate(it.id, who, Rating(**verdict))
                rated += 1
            break
        if not line or line.strip().lower() == "q":
            break
    console.print(f"\nrated {rated} of {len(items)}")
    print_summary(store.summary(found.name))
