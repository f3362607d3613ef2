"""The /v1 endpoints, one APIRouter per resource; `genforge.serve.app` includes them.

info (info, models), datasets, runs (lifecycle, progress), run_files (a run's files and its
rendered model card), generate, outputs (the provenance store's records and files), watermark
(detection), chat (conversations with a text run or a chat model). Each module's `router`
depends on `deps.caller` (API key, rate limit).
"""
