"""The `genforge` command: sub-apps and commands composed in one place."""

from __future__ import annotations

import typer

from genforge.cli import bench, data, generate, keys, optout, recipe, runs, watermark
from genforge.cli.chat import chat_command
from genforge.cli.demo import demo_command
from genforge.cli.detect import detect_command
from genforge.cli.eval import compare_command, eval_command
from genforge.cli.feedback import feedback_command, gate_app, review_command
from genforge.cli.restore import restore_command, upscale_command
from genforge.cli.sample import SampleCommand, encode_command, sample_command
from genforge.cli.serve import ServeCommand, serve_command
from genforge.cli.train import models_command, train_command
from genforge.cli.translate import summarize_command, translate_command
from genforge.cli.video import interpolate_command, predict_command
from genforge.core.version import __version__

app = typer.Typer(
    name="genforge",
    help="Train generative models on your own data, sample from them, and inspect the runs.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(data.app, name="data")
app.add_typer(runs.app, name="runs")
app.add_typer(bench.app, name="bench")
app.add_typer(generate.app, name="generate")
app.add_typer(keys.app, name="keys")
app.add_typer(watermark.app, name="watermark")
app.add_typer(recipe.app, name="recipe")
app.add_typer(optout.app, name="optout")
app.add_typer(gate_app, name="gate")
app.command("train")(train_command)
app.command("sample", cls=SampleCommand)(sample_command)
app.command("encode")(encode_command)
app.command("restore")(restore_command)
app.command("upscale")(upscale_command)
app.command("translate")(translate_command)
app.command("summarize")(summarize_command)
app.command("models")(models_command)
app.command("demo")(demo_command)
app.command("chat")(chat_command)
app.command("serve", cls=ServeCommand)(serve_command)
app.command("eval")(eval_command)
app.command("compare")(compare_command)
app.command("detect")(detect_command)
app.command("feedback")(feedback_command)
app.command("review")(review_command)
app.command("predict")(predict_command)
app.command("interpolate")(interpolate_command)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"genforge {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Show the version."
    ),
) -> None:
    """genforge: a local-first workbench for generative AI."""


if __name__ == "__main__":
    app()
