"""`genforge serve`: the REST API and web UI in one process (uvicorn)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from genforge.cli.common import console, user_errors


@user_errors
def serve_command(
    host: Annotated[
        str, typer.Option(help="Bind address; non-loopback needs --api-keys.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 8000,
    runs_dir: Annotated[Path | None, typer.Option(help="Where runs live (default ./runs).")] = None,
    api_keys: Annotated[
        Path | None,
        typer.Option(
            help="Keys file from `genforge keys create` (default <runs>/.serve/keys.json when it exists)."
        ),
    ] = None,
    db: Annotated[
        Path | None, typer.Option(help="SQLite file (default <runs>/.serve/genforge.sqlite).")
    ] = None,
    max_training_jobs: Annotated[int, typer.Option(help="Training jobs running at once.")] = 1,
    batching: Annotated[
        bool, typer.Option(help="Merge concurrent generate requests into one forward pass.")
    ] = True,
    max_batch: Annotated[int, typer.Option(help="Requests per batch at most.")] = 32,
    batch_wait_ms: Annotated[
        float, typer.Option(help="How long a request waits for company.")
    ] = 10.0,
    batch_workers: Annotated[
        int, typer.Option(help="Batches in flight at once (forward passes may overlap replies).")
    ] = 2,
    max_n: Annotated[
        int, typer.Option(help="Images, texts or clips per generate request at most.")
    ] = 16,
    max_rows: Annotated[int, typer.Option(help="Table rows per generate request at most.")] = 1000,
    max_new_tokens: Annotated[
        int, typer.Option(help="New tokens per generated text at most.")
    ] = 512,
    rate_limit: Annotated[int, typer.Option(help="Requests per minute per key (or client).")] = 600,
    cors_origin: Annotated[
        list[str] | None, typer.Option(help="Allow this browser origin (CORS is off otherwise).")
    ] = None,
    data_root: Annotated[
        list[Path] | None,
        typer.Option(help="Only folders under this may be registered as datasets."),
    ] = None,
    device: Annotated[str, typer.Option(help="Device for generation: cpu or cuda.")] = "cpu",
    precision: Annotated[
        str,
        typer.Option(
            help="Generation arithmetic: fp32, or bf16 (autocast; fast on CPUs with "
            "AMX/AVX-512 BF16 and on GPUs, outputs differ slightly from fp32)."
        ),
    ] = "fp32",
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "info",
) -> None:
    """Serve the REST API (/v1, OpenAPI at /docs) and the web UI (/)."""
    import uvicorn

    from genforge.serve import Settings, create_app
    from genforge.serve.auth import default_keys_path
    from genforge.serve.settings import is_loopback

    keys = api_keys
    if keys is None and default_keys_path(runs_dir).exists():
        keys = default_keys_path(runs_dir)
    if api_keys is not None and not api_keys.exists():
        from genforge.core.errors import GenforgeError

        raise GenforgeError(f"no keys file {api_keys}; create keys with `genforge keys create`")
    roots = tuple(data_root) if data_root else (None if is_loopback(host) else ())
    settings = Settings(
        runs_dir=runs_dir, db_path=db, keys_path=keys, host=host,
        cors_origins=tuple(cors_origin or ()), data_roots=roots,
        max_training_jobs=max_training_jobs, batching=batching, max_batch_requests=max_batch,
        max_batch_wait_ms=batch_wait_ms, batch_workers=batch_workers, max_n=max_n, max_rows=max_rows, max_new_tokens=max_new_tokens,
        rate_limit_per_min=rate_limit,
        rate_burst=max(1, rate_limit // 5), device=device, precision=precision,
    )  # fmt: skip
    app = create_app(settings)
    auth = "API keys required" if app.state.services.auth_on else "no API keys (local only)"
    console.print(f"genforge serving http://{host}:{port}  ({auth}; runs in {settings.runs_dir})")
    uvicorn.run(app, host=host, port=port, log_level=log_level)
