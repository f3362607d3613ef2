"""The app only assembles: every /v1 endpoint lives in a router module of genforge.serve.routes
and is guarded by the API key dependency."""

from __future__ import annotations

from fastapi.routing import APIRoute

from genforge.serve import Settings, create_app
from genforge.serve.deps import caller


def _api_routes(routes):
    for route in routes:
        included = getattr(route, "original_router", None)  # FastAPI >= 0.16x keeps routers
        if included is not None:
            yield from _api_routes(included.routes)
        elif isinstance(route, APIRoute):
            yield route


def test_app_defines_no_route_itself(runs_dir):
    app = create_app(Settings(runs_dir=runs_dir, start_worker=False))
    routes = [r for r in _api_routes(app.routes) if r.include_in_schema]
    operations = [m for item in app.openapi()["paths"].values() for m in item]
    assert len(routes) == len(operations) >= 20  # the walk found every operation of the schema
    for route in routes:
        assert route.endpoint.__module__.startswith("genforge.serve.routes."), route.path
        assert any(d.dependency is caller for d in route.dependencies), route.path
