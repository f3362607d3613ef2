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
        help="Keys file from `genforge keys create` (default <runs>/.serve/keys.json; once it "
        "holds a key, every request needs one, also when it was created while serving)."
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
    typer.Option(
        help="Only folders under this may be registered as datasets (default: the working "
        "directory on loopback, none otherwise; never the server's state folder)."
    ),
]
AllowHost = Annotated[
    list[str] | None,
    typer.Option(
        help="Another Host header a loopback server answers (NAME for any port, NAME:PORT); "
        "besides 127.0.0.1, localhost and [::1] at its port."
    ),
]
AllowOrigin = Annotated[
    list[str] | None,
    typer.Option(
        help="Another origin (scheme://host:port) whose pages may change state, e.g. a "
        "reverse proxy's https name (--cors-origin origins may too)."
    ),
]
MaxUploadMb = Annotated[
    int | None,
    typer.Option(help="Body of an upload (dataset, detection) in MiB (default {S.max_upload_mb})."),
]
MaxJsonKb = Annotated[
    int | None,
    typer.Option(help="Body of any other (JSON) request in KiB (default {S.max_json_kb})."),
]
MaxExtractedMb = Annotated[
    int | None,
    typer.Option(help="What one uploaded zip may expand to, MiB (default {S.max_extracted_mb})."),
]
MaxDatasetsMb = Annotated[
    int | None,
    typer.Option(help="All uploaded datasets together, MiB on disk (default {S.max_datasets_mb})."),
]
MaxColumns = Annotated[
    int | None, typer.Option(help="Columns of an uploaded CSV (default {S.max_columns}).")
]
MaxFailedKeys = Annotated[
    int | None,
    typer.Option(
        help="Wrong API keys per minute per client address, then 429 (default "
        "{S.max_failed_keys_per_min})."
    ),
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
ChatModel = Annotated[
    list[Path] | None,
    typer.Option(
        help="A transformers causal LM folder (save_pretrained, safetensors) to offer in "
        "/v1/chat and the Chat tab under its folder name; repeatable. Its tokenizer's chat "
        "template formats the conversation when it has one."
    ),
]
ModelDir = Annotated[
    list[Path] | None,
    typer.Option(
        help="A local model folder to list in /v1/models beside the runs' model families, "
        "under its folder name; repeatable. A transformers causal LM (safetensors) also "
        'generates text through /v1/generate ({{"model": NAME}}); a diffusers pipeline is listed.'
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
    allow_origin: AllowOrigin = None,
    allow_host: AllowHost = None,
    data_root: DataRoot = None,
    max_upload_mb: MaxUploadMb = None,
    max_json_kb: MaxJsonKb = None,
    max_extracted_mb: MaxExtractedMb = None,
    max_datasets_mb: MaxDatasetsMb = None,
    max_columns: MaxColumns = None,
    max_failed_keys: MaxFailedKeys = None,
    device: Device = None,
    precision: Precision = None,
    chat_model: ChatModel = None,
    model_dir: ModelDir = None,
    log_level: LogLevel = None,
) -> None:
    """Serve the REST API (/v1, OpenAPI at /docs) and the web UI (/)."""
    import uvicorn

    from genforge.serve import Settings, create_app
    from genforge.serve.auth import default_keys_path
    from genforge.serve.settings import is_loopback

    # the default keys file is watched even before it exists: `genforge keys create` while
    # serving turns keys on at the next request
    keys = api_keys or default_keys_path(runs_dir)
    if api_keys is not None and not api_keys.exists():
        from genforge.core.errors import GenforgeError

        raise GenforgeError(f"no keys file {api_keys}; create keys with `genforge keys create`")
    options = given(
        host=host, port=port, max_training_jobs=max_training_jobs, batching=batching,
        max_batch_requests=max_batch, max_batch_wait_ms=batch_wait_ms,
        batch_workers=batch_workers, max_n=max_n, max_rows=max_rows,
        max_new_tokens=max_new_tokens, rate_limit_per_min=rate_limit, device=device,
        precision=precision, log_level=log_level, max_upload_mb=max_upload_mb,
        max_json_kb=max_json_kb, max_extracted_mb=max_extracted_mb,
        max_datasets_mb=max_datasets_mb, max_columns=max_columns,
        max_failed_keys_per_min=max_failed_keys,
    )  # fmt: skip
    if rate_limit is not None:
        options["rate_burst"] = max(1, rate_limit // 5)
    loopback = is_loopback(options.get("host", Settings.host))
    roots = tuple(data_root) if data_root else (None if loopback else ())
    settings = Settings(runs_dir=runs_dir, db_path=db, keys_path=keys, data_roots=roots,
                        cors_origins=tuple(cors_origin or ()),
                        allowed_origins=tuple(allow_origin or ()),
                        allowed_hosts=tuple(allow_host or ()),
                        chat_models=tuple(chat_model or ()),
                        model_dirs=tuple(model_dir or ()), **options)  # fmt: skip
    app = create_app(settings)
    auth = (
        "API keys required"
        if app.state.services.auth_on
        else "no API keys (local only; `genforge keys create` turns them on)"
    )
    console.print(
        f"genforge serving http://{settings.host}:{settings.port}  ({auth}; runs in "
        f"{settings.runs_dir})"
    )
    uvicorn.run(app, host=settings.host, port=settings.port, log_level=settings.log_level)
