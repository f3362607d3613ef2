"""kill -9 the server mid-training: on restart the job resumes from its checkpoint and completes,
and every provenance record written before the crash is still there."""

from __future__ import annotations

import os
import signal
import sqlite3
import time

import httpx


def wait_for(base, name, pred, timeout=180):
    deadline, info = time.monotonic() + timeout, None
    while time.monotonic() < deadline:
        info = httpx.get(f"{base}/v1/runs/{name}", timeout=10).json()
        if pred(info):
            return info
        time.sleep(0.3)
    raise AssertionError(f"timed out; last: {info}")


# long enough that the poll sees it mid-training on a fast machine, short enough for a slow one
STEPS = 300


def test_kill_9_mid_training_then_resume(runs_dir, free_port, start_server, tiny):
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = start_server(runs_dir, port)
    try:
        gen = httpx.post(f"{base}/v1/generate", json={"run": "dc", "n": 3, "seed": 1}, timeout=60)
        ids = sorted(o["id"] for o in gen.json()["outputs"])
        opts = {
            **tiny,
            "image_size": 8,
            "checkpoint_every": 5,
            "log_every": 5,
            "sample_every": 10**6,
        }
        r = httpx.post(f"{base}/v1/runs", json={"model": "dcgan", "data": "digits", "name": "crash",
                                                "steps": STEPS, "options": opts}, timeout=30)  # fmt: skip
        assert r.status_code == 201, r.text
        wait_for(
            base,
            "crash",
            lambda i: i["state"] == "running" and 5 <= i["checkpoint_step"] < STEPS // 2,
        )
        db = runs_dir / ".serve" / "genforge.sqlite"
        child = sqlite3.connect(db).execute("SELECT pid FROM jobs WHERE run='crash'").fetchone()[0]
        server.send_signal(signal.SIGKILL)
        server.wait(timeout=30)
        # the orphaned trainer got SIGTERM (PR_SET_PDEATHSIG), checkpoints and exits
        deadline = time.monotonic() + 60
        while os.path.exists(f"/proc/{child}") and time.monotonic() < deadline:
            time.sleep(0.2)
        server = start_server(runs_dir, port)
        info = wait_for(base, "crash", lambda i: i["state"] not in ("queued", "running"))
        assert info["state"] == "completed" and info["step"] == STEPS, info
        restarts = (
            sqlite3.connect(db)
            .execute("SELECT restarts, resume FROM jobs WHERE run='crash'")
            .fetchone()
        )
        assert restarts == (1, 1)
        steps = [m["step"] for m in httpx.get(f"{base}/v1/runs/crash/metrics").json()]
        assert steps == sorted(set(steps)) and steps[-1] == STEPS  # no step logged twice
        outputs = httpx.get(f"{base}/v1/outputs").json()
        assert sorted(o["id"] for o in outputs["items"]) == ids
    finally:
        server.terminate()
        server.wait(timeout=60)
