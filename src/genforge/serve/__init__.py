"""The genforge service: REST API, job queue and worker, batched generation, web UI."""

from genforge.serve.app import create_app
from genforge.serve.settings import Settings

__all__ = ["Settings", "create_app"]
