"""FastAPI dependencies and path types of the /v1 routers.

`Svc` hands an endpoint the app's `Services` (from `app.state`); `Who` is the caller's name,
after the API key and the rate limit were checked. Every router also lists `caller` among its
own dependencies, so an endpoint without a `Who` parameter is guarded all the same.
"""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi import Path as PathParam

from genforge.serve import schemas as S
from genforge.serve.auth import KeysFileError
from genforge.serve.services import Services

log = logging.getLogger("genforge.serve")


async def get_services(request: Request) -> Services:
    """The `Services` of the app answering `request` (no blocking work: a lookup)."""
    return request.app.state.services


async def caller(request: Request) -> str:
    """Who is asking: the key's name (or "local" without keys); enforces the rate limit, and
    the limit on wrong keys per client address (no blocking work: a stat of the keys file, a
    JSON read when it changed, one hash per key)."""
    svc: Services = request.app.state.services
    address = request.client.host if request.client else "unknown"
    try:
        auth = svc.auth_on
        who = _key_name(svc, request, address) if auth else "local"
    except KeysFileError as e:
        log.error("%s; fix or recreate it (genforge keys create)", e)
        raise HTTPException(500, "server misconfigured") from None
    wait = svc.limiter.allow(who if auth else address)
    if wait > 0:
        raise HTTPException(429, f"rate limit: retry in {wait:.1f} s",
                            headers={"Retry-After": str(max(1, round(wait)))})  # fmt: skip
    return who


def _key_name(svc: Services, request: Request, address: str) -> str:
    """The name of the request's valid key; 401 without one, 429 while `address` has sent
    too many wrong keys (then even the right key waits: guessing learns nothing)."""
    wait = svc.failed_keys.peek(address) if svc.failed_keys else 0.0
    if wait > 0:
        raise HTTPException(429, f"too many wrong API keys from {address}: retry in {wait:.0f} s",
                            headers={"Retry-After": str(max(1, round(wait)))})  # fmt: skip
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    name = svc.keys.verify(token.strip()) if scheme.lower() == "bearer" and token else None
    if name is None:
        if token and svc.failed_keys:  # a wrong key (asking without one is how a client
            svc.failed_keys.allow(address)  # learns it needs one)
        raise HTTPException(401, "missing or invalid API key (Authorization: Bearer KEY)",
                            headers={"WWW-Authenticate": "Bearer"})  # fmt: skip
    return name


Svc = Annotated[Services, Depends(get_services)]
Who = Annotated[str, Depends(caller)]
RunName = Annotated[str, PathParam(pattern=S.NAME_PATTERN)]
OutputId = Annotated[str, PathParam(pattern=r"^[0-9a-f]{8,32}$")]
