"""`genforge serve`: the REST API and web UI in one process (uvicorn)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from genforge.cli.common import console, deferred_help, given, on_off, user_errors


def _defaults() -> dict[str, Any]:
    """What the help texts name: genforge.serve.settings.Settings holds the defaults (imported
    when the help is shown: it pulls in the web app)."""
    from genforge.serve.settings import Settings

    return {"S": Settings, "batching": on_off(Settings.batching)}


ServeCommand = deferred_help(_defaults)


# The options of `genforge serve`, each None unless given: genforge.serve.settings.Settings
# holds the defaults, which the help texts name ({S.field}; see ServeCommand).
Host = Annotated[
    str | None,
    typer.Option(help="Bind address; non-loopback needs --api-keys (default {S.host})."),
]
Port = Annotated[int | None, typer.Option(help="Port (default {S.port}).")]
RunsDir = Annotated[Path | None, typer.Option(help="Where runs live (default ./runs).")]
ApiKeys = Annotated[
    Path | None,
    typer.Option(
        help="Keys file from `genforge keys create` (default <runs>/.serve/keys.json when it "
        "exists)."
    ),
]
Db = Annotated[
    Path | None, typer.Option(help="SQLite file (default <runs>/.serve/genforge.sqlite).")
]
MaxTrainingJobs = Annotated[
    int | None,
    typer.Option(help="Training jobs running at once (default {S.max_training_jobs})."),
]
Batching = Annotated[
    bool | None,
    typer.Option(
        "--batching/--no-batching",
        help="Merge concurrent generate requests into one forward pass (default {batching}).",
    ),
]
MaxBatch = Annotated[
    int | None, typer.Option(help="Requests per batch at most (default {S.max_batch_requests}).")
]
BatchWaitMs = Annotated[
    float | None,
    typer.Option(help="How long a request waits for company (default {S.max_batch_wait_ms})."),
]
BatchWorkers = Annotated[
    int | None,
    typer.Option(
        help="Batches in flight at once (forward passes may overlap replies; default "
        "{S.batch_workers})."
    ),
]
MaxN = Annotated[
    int | None,
    typer.Option(help="Images, texts or clips per generate request at most (default {S.max_n})."),
]
MaxRows = Annotated[
    int | None, typer.Option(help="Table rows per generate request at most (default {S.max_rows}).")
]
MaxNewTokens = Annotated[
    int | None,
    typer.Option(help="New tokens per generated text at most (default {S.max_new_tokens})."),
]
RateLimit = Annotated[
    int | None,
    typer.Option(
        help="Requests per minute per key, or per client without keys (default "
        "{S.rate_limit_per_min})."
    ),
]
CorsOrigin = Annotated[
    list[str] | None, typer.Option(help="Allow this browser origin (CORS is off otherwise).")
]
DataRoot = Annotated[
    list[Path] | None,
    typer.Option(help="Only folders under this may be registered as datasets."),
]
Device = Annotated[
    str | None, typer.Option(help="Device for generation: cpu or cuda (default {S.device}).")
]
Precision = Annotated[
    str | None,
    typer.Option(
        help="Generation arithmetic: fp32, or bf16 (autocast; fast on CPUs with AMX/AVX-512 "
        "BF16 and on GPUs, outputs differ slightly from fp32; default {S.precision})."
    ),
]
LogLevel = Annotated[str | None, typer.Option(help="uvicorn log level (default {S.log_level}).")]


@user_errors
def serve_command(
    host: Host = None,
    port: Port = None,
    runs_dir: RunsDir = None,
    api_keys: ApiKeys = None,
    db: Db = None,
    max_training_jobs: MaxTrainingJobs = None,
    batching: Batching = None,
    max_batch: MaxBatch = None,
    batch_wait_ms: BatchWaitMs = None,
    batch_workers: BatchWorkers = None,
    max_n: MaxN = None,
    max_rows: MaxRows = None,
    max_new_tokens: MaxNewTokens = None,
    rate_limit: RateLimit = None,
    cors_origin: CorsOrigin = None,
    data_root: DataRoot = None,
    device: Device = None,
    precision: Precision = None,
    log_level: LogLevel = None,
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
    options = given(
        host=host, port=port, max_training_jobs=max_training_jobs, batching=batching,
        max_batch_requests=max_batch, max_batch_wait_ms=batch_wait_ms,
        batch_workers=batch_workers, max_n=max_n, max_rows=max_rows,
        max_new_tokens=max_new_tokens, rate_limit_per_min=rate_limit, device=device,
        precision=precision, log_level=log_level,
    )  # fmt: skip
    if rate_limit is not None:
        options["rate_burst"] = max(1, rate_limit // 5)
    loopback = is_loopback(options.get("host", Settings.host))
    roots = tuple(data_root) if data_root else (None if loopback else ())
    settings = Settings(runs_dir=runs_dir, db_path=db, keys_path=keys, data_roots=roots,
                        cors_origins=tuple(cors_origin or ()), **options)  # fmt: skip
    app = create_app(settings)
    auth = "API keys required" if app.state.services.auth_on else "no API keys (local only)"
    console.print(
        f"genforge serving http://{settings.host}:{settings.port}  ({auth}; runs in "
        f"{settings.runs_dir})"
    )
    uvicorn.run(app, host=settings.host, port=settings.port, log_level=settings.log_level)
