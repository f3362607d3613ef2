"""The benchmark tests run `genforge bench ...` in-process, on the CLI tests' tiny runs: the
CLI fixtures (the runner, the wide console, the shared trained runs) are the same ones."""

from __future__ import annotations

from cli.conftest import (  # noqa: F401  (fixtures, found by pytest by name)
    _cli_env,
    cddpm_run,
    cli,
    ddpm_run,
    runner,
    runs_home,
    session_dir,
    train_shared,
)
