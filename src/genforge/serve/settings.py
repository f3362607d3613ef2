"""Server settings: one typed dataclass whose defaults run on a laptop (127.0.0.1, no keys)."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from pathlib import Path

from genforge.core.errors import GenforgeError
from genforge.core.run import runs_root
from genforge.safety.provenance import default_db_path, default_state_dir


@dataclass
class Settings:
    """What `create_app` needs; `genforge serve` fills it from its options.

    Paths default under the runs dir: `<runs>/.serve/` holds the SQLite state (jobs, datasets,
    provenance), uploaded datasets and generated outputs.
    """

    runs_dir: Path | None = None
    state_dir: Path | None = None  # default <runs>/.serve
    db_path: Path | None = None  # default <state>/genforge.sqlite
    keys_path: Path | None = None  # API keys file (hashed); None or empty file: no auth
    host: str = "127.0.0.1"
    port: int = 8000  # where `genforge serve` listens (uvicorn)
    log_level: str = "info"  # uvicorn's log level
    cors_origins: tuple[str, ...] = ()  # CORS off unless origins are given
    # Origins (scheme://host:port) besides the server's own that may change state (POST, PUT,
    # PATCH, DELETE), e.g. the https:// name of a reverse proxy; cors_origins may too.
    allowed_origins: tuple[str, ...] = ()
    # Host headers a loopback server answers besides 127.0.0.1, localhost and [::1] at its port
    # ("name" for any port, "name:port" for one): a DNS-rebound name is refused.
    allowed_hosts: tuple[str, ...] = ()
    # Folders whose subfolders may be registered as datasets; None: the working directory. The
    # state folder never may.
    data_roots: tuple[Path, ...] | None = None
    # -- jobs
    max_training_jobs: int = 1  # training jobs running at once
    job_poll_s: float = 0.5
    start_worker: bool = True
    # -- generation
    batching: bool = True
    max_batch_requests: int = 32  # requests merged into one forward pass
    max_batch_wait_ms: float = 10.0  # how long the first request waits for company
    batch_workers: int = 2  # batches in flight at once (one's forward overlaps another's replies)
    cache_mb: int = 1024  # LRU of loaded models, by parameter memory
    device: str = "cpu"
    precision: str = "fp32"  # generation arithmetic: fp32 or bf16 (autocast)
    # transformers causal LM folders /v1/chat offers by folder name (`--chat-model DIR`)
    chat_models: tuple[Path, ...] = ()
    # local model folders listed in /v1/models beside the model families, by folder name
    # (`--model-dir DIR`): transformers causal LMs (served by /v1/generate as text) and
    # diffusers pipelines
    model_dirs: tuple[Path, ...] = ()
    # -- limits
    max_n: int = 16  # images, texts or clips per generate request
    max_rows: int = 1000  # table rows per generate request
    max_new_tokens: int = 512  # text tokens per generated text
    max_detect_chars: int = 100_000  # text sent to the watermark detector
    max_detect_runs: int = 5  # text runs tried by a detection without a run
    max_steps: int = 100_000  # training steps per job (and sampling steps per request)
    max_best_of: int = 8  # candidates per output of a best-of request
    max_prompt_chars: int = 2000
    max_upload_mb: int = 64  # the body of an upload (dataset, watermark detection)
    max_json_kb: int = 1024  # the body of any other request (JSON)
    max_files: int = 10_000  # files in one uploaded zip
    max_extracted_mb: int = 512  # uncompressed bytes of one zip
    max_datasets_mb: int = 4096  # all uploaded datasets together, on disk
    max_columns: int = 10_000  # columns of an uploaded CSV
    max_pixels: int = 16_000_000  # pixels of one uploaded image
    max_ratio: int = 200  # uncompressed/compressed ratio of a zip member (zip bombs)
    rate_limit_per_min: int = 600  # requests per key (or per client without keys)
    rate_burst: int = 120
    max_failed_keys_per_min: int = 10  # wrong API keys per client address, then 429; 0: any
    sse_poll_s: float = 0.5
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.runs_dir = runs_root(self.runs_dir).resolve()
        self.state_dir = Path(self.state_dir or default_state_dir(self.runs_dir)).resolve()
        self.db_path = Path(self.db_path or default_db_path(state_dir=self.state_dir))
        roots = (Path.cwd(),) if self.data_roots is None else self.data_roots
        self.data_roots = tuple(Path(r).expanduser().resolve() for r in roots)

    @property
    def outputs_dir(self) -> Path:
        return self.state_dir / "outputs"

    @property
    def datasets_dir(self) -> Path:
        return self.state_dir / "datasets"

    @property
    def logs_dir(self) -> Path:
        return self.state_dir / "logs"


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_bind(host: str, has_keys: bool) -> None:
    """Refuse a non-loopback bind without API keys (anyone on the network could train/generate)."""
    if not is_loopback(host) and not has_keys:
        raise GenforgeError(
            f"refusing to serve on {host} without API keys; create one with "
            "`genforge keys create --name NAME` and pass --api-keys FILE, or bind 127.0.0.1"
        )
