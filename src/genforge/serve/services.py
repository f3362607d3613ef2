"""What the /v1 endpoints share, built once per app and kept on `app.state.services`."""

from __future__ import annotations

from genforge.safety.feedback import FeedbackStore
from genforge.safety.provenance import ProvenanceStore
from genforge.serve.auth import KeyStore, RateLimiter
from genforge.serve.chats import ChatModels, ChatStore
from genforge.serve.datasets import DatasetStore
from genforge.serve.generation import Batcher, ModelCache
from genforge.serve.jobs import JobStore, Worker
from genforge.serve.local_models import LocalModels
from genforge.serve.settings import Settings


class Services:
    """Everything the endpoints share, built once per app."""

    def __init__(self, settings: Settings):
        self.settings = s = settings
        s.state_dir.mkdir(parents=True, exist_ok=True)
        s.runs_dir.mkdir(parents=True, exist_ok=True)
        self.keys = KeyStore(s.keys_path) if s.keys_path else None
        self._auth_on = self.keys is not None and len(self.keys) > 0
        self.limiter = RateLimiter(s.rate_limit_per_min, s.rate_burst)
        n = s.max_failed_keys_per_min  # per client address; 0: not limited
        self.failed_keys = RateLimiter(n, n) if n > 0 else None
        self.jobs = JobStore(s.db_path)
        self.datasets = DatasetStore(s.db_path, s.datasets_dir)
        self.provenance = ProvenanceStore(s.db_path)
        self.feedback = FeedbackStore(s.db_path)
        self.chats = ChatStore(s.db_path)
        self.chat_models = ChatModels(s.chat_models, s.device)
        self.local_models = LocalModels(s.model_dirs, s.device, s.precision)
        self.cache = ModelCache(s.cache_mb, s.device, s.precision)
        self.batcher = (
            Batcher(s.max_batch_requests, s.max_batch_wait_ms, s.batch_workers)
            if s.batching
            else None
        )
        self.worker = Worker(self.jobs, s.runs_dir, s.logs_dir, s.max_training_jobs, s.job_poll_s)

    @property
    def auth_on(self) -> bool:
        """Whether requests need a key: on once the keys file holds one, whether it did at
        start or a `genforge keys create` wrote it since (the file's version is checked on each
        request, a stat). It stays on: revoking the last key locks the API, it does not open
        it. Raises KeysFileError for an unreadable keys file."""
        if not self._auth_on and self.keys is not None:
            self._auth_on = len(self.keys) > 0
        return self._auth_on
