"""`genforge bench <command>`: every option is listed by --help with the library's default, an
option left out reaches the library as its dataclass's default, and bad values fail as one-line
user errors before any measuring."""

from __future__ import annotations

import dataclasses

import pytest
import typer

from genforge.bench.audio_table import AudioBench, TableBench
from genforge.bench.eval import EvalBench
from genforge.bench.sample import SampleBench
from genforge.bench.serve import ServeBench
from genforge.bench.text import TextBench
from genforge.bench.train import TrainBench
from genforge.cli.bench import app

# command: (options dataclass, the benchmark it calls, {flag: dataclass field})
COMMANDS = {
    "train": (TrainBench, "genforge.cli.bench.run_train_bench", {}),
    "sample": (SampleBench, "genforge.cli.bench.run_sample_bench", {}),
    "text": (TextBench, "genforge.cli.bench.run_text_bench",
             {"budget": "budget_s", "context": "block_size"}),
    "audio": (AudioBench, "genforge.cli.bench.run_audio_bench", {}),
    "tabular": (TableBench, "genforge.cli.bench.run_table_bench", {}),
    "serve": (ServeBench, "genforge.cli.bench.run_serve_bench", {}),
    "eval": (EvalBench, "genforge.cli.bench.run_eval_bench", {}),
}  # fmt: skip
# a value unlike the default, per option
GIVEN = {
    "train": ["--image-size", "8", "--no-baseline"],
    "sample": ["--run", "r", "--n", "2", "--eta", "0.5"],
    "text": ["--budget", "2", "--context", "16", "--clock", "cpu"],
    "audio": ["--model-size", "4", "--threads", "1"],
    "tabular": ["--rows", "10"],
    "serve": ["--requests", "2", "--precision", "bf16"],
    "eval": ["--images", "20", "--features", "inception"],
}
EXPECTED = {
    "train": {"image_size": 8, "baseline": False},
    "sample": {"run": "r", "n": 2, "eta": 0.5},
    "text": {"budget_s": 2.0, "block_size": 16, "clock": "cpu"},
    "audio": {"model_size": 4, "threads": 1},
    "tabular": {"rows": 10},
    "serve": {"requests": 2, "precision": "bf16"},
    "eval": {"images": 20, "features": "inception"},
}


def params(command: str) -> list:
    group = typer.main.get_command(app)
    return [p for p in group.commands[command].params if p.name != "help"]


@pytest.mark.parametrize("command", COMMANDS)
def test_help_lists_every_option_with_the_librarys_default(cli, command):
    bench, _, fields = COMMANDS[command]
    text = " ".join(cli.ok("bench", command, "--help").output.replace("│", " ").split())
    defaults = {f.name: f.default for f in dataclasses.fields(bench)}
    for p in params(command):
        assert p.opts[0] in text, p.opts[0]
        default = defaults[fields.get(p.name, p.name)]
        if isinstance(default, bool):
            flag = p.opts[0].removeprefix("--")
            assert f"[default: ({flag if default else 'no-' + flag})]" in text, p.name
        elif default is not None:
            assert f"[default: ({default})]" in text, p.name


@pytest.mark.parametrize("command", COMMANDS)
def test_options_left_out_take_the_librarys_defaults(cli, command, monkeypatch):
    bench, target, _ = COMMANDS[command]
    seen = []

    class Called(Exception):
        pass

    def fake(options, **_):
        seen.append(options)
        raise Called

    monkeypatch.setattr(target, fake)
    result = cli("bench", command, *GIVEN[command])
    assert isinstance(result.exception, Called), result.output
    assert seen == [bench(**EXPECTED[command])]


@pytest.mark.parametrize(
    "args, message",
    [
        (["text", "--schedule", "x"], "error: --schedule must be cosine or constant, got 'x'"),
        (["text", "--clock", "y"], "error: --clock must be wall or cpu, got 'y'"),
        (["serve", "--precision", "fp16"], "error: --precision must be fp32 or bf16, got 'fp16'"),
        (["serve", "--clients", "0"], "error: --requests, --clients and --repeats must be at least 1"),
        (["train", "--precision", "fp32,fp8"], "error: unknown precision 'fp8'; known: bf16, fp16, fp32"),
        (["sample"], "error: bench sample needs --run: a trained ddpm run (genforge train ddpm ...)"),
        (["finance-report", "--reports", "0"], "error: --reports must be at least 1, got 0"),
    ],
)  # fmt: skip
def test_bad_options_fail_before_measuring(cli, args, message):
    assert cli.fails("bench", *args) == message
