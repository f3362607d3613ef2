"""FastAPI dependencies and path types of the /v1 routers.

`Svc` hands an endpoint the app's `Services` (from `app.state`); `Who` is the caller's name,
after the API key and the rate limit were checked. Every router also lists `caller` among its
own dependencies, so an endpoint without a `Who` parameter is guarded all the same.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi import Path as PathParam

from genforge.serve import schemas as S
from genforge.serve.services import Services


async def get_services(request: Request) -> Services:
    """The `Services` of the app answering `request` (no blocking work: a lookup)."""
    return request.app.state.services


async def caller(request: Request) -> str:
    """Who is asking: the key's name (or "local" without keys); enforces the rate limit."""
    svc: Services = request.app.state.services
    who = "local"
    if svc.auth_on:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        name = svc.keys.verify(token.strip()) if scheme.lower() == "bearer" and token else None
        if name is None:
            raise HTTPException(401, "missing or invalid API key (Authorization: Bearer KEY)",
                                headers={"WWW-Authenticate": "Bearer"})  # fmt: skip
        who = name
    bucket = who if svc.auth_on else (request.client.host if request.client else "local")
    wait = svc.limiter.allow(bucket)
    if wait > 0:
        raise HTTPException(429, f"rate limit: retry in {wait:.1f} s",
                            headers={"Retry-After": str(max(1, round(wait)))})  # fmt: skip
    return who


Svc = Annotated[Services, Depends(get_services)]
Who = Annotated[str, Depends(caller)]
RunName = Annotated[str, PathParam(pattern=S.NAME_PATTERN)]
OutputId = Annotated[str, PathParam(pattern=r"^[0-9a-f]{8,32}$")]
