"""Every command the README shows, run as written but at smoke size.

The commands are read from README.md itself (its ```bash and ```python blocks), never copied
here. Each block is one test, run in its own sandbox folder in README order:

- `genforge ...` lines run in-process through typer's CliRunner, rewritten to tiny sizes by
  the rules in smoke.py (steps, sample counts, image sizes, network widths). The inputs a line
  names (`./my_images`, `transactions.csv`, a local transformers model, ...) are built first.
  A line that reads a run made in another block (`genforge sample cats` after the tour's
  `genforge train ... --name cats`) first runs the README line that makes that run.
- `genforge serve` runs with uvicorn's server loop stubbed: the command builds the app
  (settings, keys, the bind check) and hands it over; tests/serve covers the server itself.
- `accelerate launch -m genforge.cli.main ARGS` runs ARGS in-process (one process; the
  multi-process launch is covered by tests/train).
- `curl` lines are checked against the app's OpenAPI routes (method and path) and their JSON
  bodies parsed; tests/serve covers what the endpoints do.
- `make TARGET` lines are checked against the Makefile's targets.
- Python blocks run with `genforge.train` given the same tiny sizes.
- NOT_RUN lists the lines that cannot run offline, each with the reason and the check made
  instead.
"""

from __future__ import annotations

import json
import re
import shutil
import traceback
from pathlib import Path

import pytest
from typer.testing import CliRunner

from .markdown import README, REPO, Block, Command, blocks, parse
from .smoke import make_inputs, python_train_options, run_name, run_written, runs_read, smoke

BLOCKS = [b for b in blocks(README) if b.lang in {"bash", "python"}]

# Lines (as their tokens joined by spaces) not run, why, and what is checked instead.
NOT_RUN = {
    "genforge generate image --provider openai-compatible --prompt a cat wearing a hat": (
        "needs a remote OpenAI-compatible endpoint (tests/generate/test_providers.py talks to a "
        "local stand-in); checked: without $OPENAI_BASE_URL it is a one-line error naming it"
    ),
}
ESPEAK = "generate speech without --model needs the espeak-ng system package"


def genforge_args(cmd: Command) -> list[str] | None:
    """The genforge arguments of a line (`genforge X` or `accelerate launch -m ... X`)."""
    t = list(cmd.tokens)
    if t[0] == "genforge":
        return t[1:]
    if t[:2] == ["accelerate", "launch"] and "genforge.cli.main" in t:
        return t[t.index("genforge.cli.main") + 1 :]
    return None


# ---------------------------------------------------------------------------------------
# Which README line makes which run
# ---------------------------------------------------------------------------------------


def _producers() -> dict[str, Command]:
    made: dict[str, Command] = {}
    for block in BLOCKS:
        for cmd in block.commands:
            args = genforge_args(cmd)
            if args and (name := run_written(parse(args))):
                made.setdefault(name, cmd)
    return made


PRODUCERS = _producers()


def plan(commands: list[Command], reads_of_python: list[str] = ()) -> list[Command]:
    """`commands` preceded by the README lines that make the runs they read and do not make."""
    have: set[str] = set()
    out: list[Command] = []

    def need(name: str, reader: str) -> None:
        if name in have:
            return
        producer = PRODUCERS.get(name)
        assert producer is not None, f"README line {reader!r} reads run {name!r}, no line makes it"
        visit(producer)

    def visit(cmd: Command) -> None:
        args = genforge_args(cmd)
        if args is not None:
            inv = parse(args)
            for name in runs_read(inv):
                need(name, cmd.text)
            if written := run_written(inv):
                have.add(written)
        out.append(cmd)

    for name in reads_of_python:
        need(name, "python block")
    for cmd in commands:
        visit(cmd)
    return out


# ---------------------------------------------------------------------------------------
# Running one line
# ---------------------------------------------------------------------------------------


class Sandbox:
    def __init__(self, root: Path, monkeypatch: pytest.MonkeyPatch):
        self.root = root
        self.runner = CliRunner()
        self.not_run: list[str] = []
        self.served: list[dict] = []
        import uvicorn

        def serve_stub(app, host, port, **_):  # the command's last step: hand over the app
            self.served.append({"app": app, "host": host, "port": port})
            batcher = app.state.services.batcher
            if batcher is not None:
                batcher.close()

        monkeypatch.setattr(uvicorn, "run", serve_stub)

    def genforge(self, args: list[str], stdin: str | None = None):
        from genforge.cli.main import app

        make_inputs(self.root, args)
        result = self.runner.invoke(app, args, input=stdin)
        if result.exit_code != 0:
            tb = "".join(traceback.format_exception(*result.exc_info)) if result.exc_info else ""
            pytest.fail(
                f"genforge {' '.join(args)} exited {result.exit_code}:\n{result.output}\n{tb}"
            )
        return result

    def run(self, cmd: Command) -> None:
        if cmd.text in NOT_RUN:
            CHECK_INSTEAD[cmd.text](self)
            return
        args = genforge_args(cmd)
        if args is not None:
            inv = parse(args)
            espeak = inv.name == "generate speech" and not inv.params["model"]
            if espeak and shutil.which("espeak-ng") is None:
                self.not_run.append(f"{cmd.text}: {ESPEAK}, which is not installed")
                return
            stdin = {"chat": "hello there\nwhere is my order\n/quit\n",
                     "review": "u\nd\n" * 12}.get(inv.name)  # fmt: skip
            served = len(self.served)
            self.genforge(smoke(["genforge", *args]), stdin)
            if inv.name == "serve":
                assert len(self.served) == served + 1, "genforge serve did not start the server"
                host = self.served[-1]["host"]
                if inv.params["host"]:
                    assert host == inv.params["host"]
                else:  # the default binds loopback only
                    assert host in {"127.0.0.1", "localhost", "::1"}, host
            return
        kind = cmd.tokens[0]
        if kind == "make":
            check_make(cmd)
        elif kind == "curl":
            check_curl(cmd, self)
        else:
            pytest.fail(f"README line {cmd.lineno}: no rule to run {cmd.text!r}; add one here")


def check_openai_without_endpoint(box: Sandbox) -> None:
    from genforge.cli.main import app

    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("OPENAI_BASE_URL", raising=False)
        mp.delenv("OPENAI_API_KEY", raising=False)
        args = ["generate", "image", "--provider", "openai-compatible", "--prompt", "a cat"]
        result = box.runner.invoke(app, args)
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "OPENAI_BASE_URL" in lines[0], result.stderr


CHECK_INSTEAD = {
    "genforge generate image --provider openai-compatible --prompt a cat wearing a hat": (
        check_openai_without_endpoint
    ),
}


def check_make(cmd: Command) -> None:
    makefile = (REPO / "Makefile").read_text()
    for target in cmd.tokens[1:]:
        assert re.search(rf"^{re.escape(target)}:", makefile, re.M), f"no make target {target}"


def check_curl(cmd: Command, box: Sandbox) -> None:
    """The line's method and path are a route of the API, and its JSON body parses."""
    t = list(cmd.tokens)
    method, body, url = "GET", None, None
    i = 1
    while i < len(t):
        if t[i] in {"-X", "--request"}:
            method = t[i + 1]
        elif t[i] in {"-d", "--data"}:
            body = t[i + 1]
            method = "POST" if method == "GET" else method
        elif t[i] in {"-H", "--header"}:
            pass
        else:
            url = t[i]
            i += 1
            continue
        i += 2
    assert url is not None, cmd.text
    if body is not None:
        json.loads(body)
    path = re.sub(r"^(?:https?://)?[^/]*", "", url).split("?")[0]
    routes = api_routes(box)
    assert any(re.fullmatch(p, path) and method.lower() in ms for p, ms in routes.items()), (
        f"{method} {path} is not a route of the API"
    )


def api_routes(box: Sandbox) -> dict[str, set[str]]:
    from genforge.serve import Settings, create_app

    app = create_app(Settings(runs_dir=box.root / "api-runs", start_worker=False))
    if app.state.services.batcher is not None:
        app.state.services.batcher.close()
    out = {}
    for template, ops in app.openapi()["paths"].items():
        out[re.sub(r"\{[^}]+\}", "[^/]+", template)] = set(ops)
    return out


# ---------------------------------------------------------------------------------------
# The tests
# ---------------------------------------------------------------------------------------


@pytest.fixture
def sandbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Sandbox:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GENFORGE_RUNS", str(tmp_path / "runs"))
    return Sandbox(tmp_path, monkeypatch)


@pytest.mark.parametrize("block", [b for b in BLOCKS if b.lang == "bash"], ids=lambda b: b.id)
def test_shell_block(block: Block, sandbox: Sandbox):
    for cmd in plan(list(block.commands)):
        sandbox.run(cmd)
    if sandbox.not_run:
        pytest.skip("ran the rest; not run: " + "; ".join(sandbox.not_run))


PY_LOAD = re.compile(r"genforge\.load\(\s*[\"']([^\"']+)[\"']")
PY_TRAIN = re.compile(r"genforge\.train\(\s*[\"']([\w-]+)[\"']\s*,\s*data=[\"']([^\"']+)[\"']")


@pytest.mark.parametrize("block", [b for b in BLOCKS if b.lang == "python"], ids=lambda b: b.id)
def test_python_block(block: Block, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch):
    import genforge

    made = {f"{Path(data).stem}-{model}" for model, data in PY_TRAIN.findall(block.body)}
    reads = [n for v in PY_LOAD.findall(block.body) if (n := run_name(v)) and n not in made]
    for cmd in plan([], reads):
        sandbox.run(cmd)
    train = genforge.train

    def tiny_train(model: str, data=None, **options):
        return train(model, data, **{**options, **python_train_options(model), "steps": 2})

    monkeypatch.setattr(genforge, "train", tiny_train)
    exec(compile(block.body, f"README.md:{block.lineno}", "exec"), {"__name__": "readme"})


def test_every_line_has_a_rule():
    """NOT_RUN names only lines the README still shows, and each has its check."""
    shown = {cmd.text for b in BLOCKS for cmd in b.commands}
    assert set(NOT_RUN) <= shown, set(NOT_RUN) - shown
    assert set(CHECK_INSTEAD) == set(NOT_RUN)
