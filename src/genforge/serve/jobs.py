"""The persistent job queue (SQLite) and the worker that runs training jobs as child processes.

A job is one `genforge train` child process. Its row survives the server: on start, `recover()`
turns jobs left "running" by a dead server back into queued resumes (the child got SIGTERM when
its parent died, through PR_SET_PDEATHSIG, and saved a checkpoint, as it does on Ctrl-C), so
they continue from their last checkpoint. Cancel = SIGTERM to the child: the trainer finishes
its step, saves a checkpoint and exits; the job ends "cancelled", resumable later.

    queued ──► running ──► completed | failed | cancelled
       ▲__________│ (server stopped or killed: resumes from the checkpoint)
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from genforge.core.run import Run
from genforge.safety.provenance import connect, init_schema

JobState = Literal["queued", "running", "completed", "failed", "cancelled"]
TERMINAL = ("completed", "failed", "cancelled")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    run TEXT NOT NULL,
    state TEXT NOT NULL,
    resume INTEGER NOT NULL,
    params TEXT NOT NULL,
    who TEXT NOT NULL,
    pid INTEGER,
    created TEXT NOT NULL,
    started TEXT,
    finished TEXT,
    error TEXT,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    restarts INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS jobs_run ON jobs(run);
"""


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


@dataclass
class Job:
    id: int
    run: str
    state: JobState
    resume: bool
    params: dict[str, Any]  # model, data, steps, options
    who: str
    pid: int | None
    created: str
    started: str | None
    finished: str | None
    error: str | None
    cancel_requested: bool
    restarts: int


def _job(row) -> Job:
    d = dict(row)
    d["params"] = json.loads(d["params"])
    d["resume"] = bool(d["resume"])
    d["cancel_requested"] = bool(d["cancel_requested"])
    return Job(**d)


class JobStore:
    """The `jobs` table."""

    def __init__(self, db_path: str | Path):
        self.db_path = Path(db_path)
        init_schema(self.db_path, _SCHEMA)

    def add(self, run: str, params: dict[str, Any], who: str, resume: bool = False) -> Job:
        with connect(self.db_path) as con:
            cur = con.execute(
                "INSERT INTO jobs (run, state, resume, params, who, created) VALUES (?,?,?,?,?,?)",
                (run, "queued", int(resume), json.dumps(params), who, _now()),
            )
            jid = cur.lastrowid
        return self.get(jid)  # type: ignore[return-value]

    def get(self, jid: int) -> Job | None:
        with connect(self.db_path) as con:
            row = con.execute("SELECT * FROM jobs WHERE id=?", (jid,)).fetchone()
        return _job(row) if row else None

    def latest(self, run: str) -> Job | None:
        with connect(self.db_path) as con:
            row = con.execute(
                "SELECT * FROM jobs WHERE run=? ORDER BY id DESC LIMIT 1", (run,)
            ).fetchone()
        return _job(row) if row else None

    def all(self, states: tuple[str, ...] | None = None) -> list[Job]:
        with connect(self.db_path) as con:
            if states:
                marks = ",".join("?" * len(states))
                rows = con.execute(
                    f"SELECT * FROM jobs WHERE state IN ({marks}) ORDER BY id", states
                ).fetchall()
            else:
                rows = con.execute("SELECT * FROM jobs ORDER BY id").fetchall()
        return [_job(r) for r in rows]

    def runs(self) -> set[str]:
        with connect(self.db_path) as con:
            return {r[0] for r in con.execute("SELECT DISTINCT run FROM jobs")}

    def update(self, jid: int, **fields: Any) -> None:
        cols = ", ".join(f"{k}=?" for k in fields)
        with connect(self.db_path) as con:
            con.execute(f"UPDATE jobs SET {cols} WHERE id=?", [*fields.values(), jid])

    def claim_next(self) -> Job | None:
        """Mark the oldest queued job running (atomically) and return it."""
        with connect(self.db_path) as con:
            row = con.execute(
                "SELECT * FROM jobs WHERE state='queued' AND cancel_requested=0 ORDER BY id LIMIT 1"
            ).fetchone()
            if row is None:
                return None
            con.execute(
                "UPDATE jobs SET state='running', started=?, error=NULL WHERE id=?",
                (_now(), row["id"]),
            )
        return self.get(row["id"])

    def delete_run(self, run: str) -> None:
        with connect(self.db_path) as con:
            con.execute("DELETE FROM jobs WHERE run=?", (run,))


# -- the child process ----------------------------------------------------------------------


def _die_with_parent() -> None:
    """In the child: get SIGTERM when the server dies (Linux), so it checkpoints and exits."""
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def train_command(job: Job, runs_dir: Path) -> list[str]:
    """The `genforge train` command line of a job (a fresh start or a resume)."""
    p = job.params
    cmd = [sys.executable, "-m", "genforge.cli.main", "train"]
    if job.resume:
        cmd += ["--resume", job.run]
    else:
        cmd += [p["model"], "--data", p["data"], "--name", job.run]
    cmd += ["--runs-dir", str(runs_dir), "--steps", str(p["steps"])]
    if not job.resume:
        for k, v in sorted(p.get("options", {}).items()):
            cmd += ["--set", f"{k}={json.dumps(v)}"]
    return cmd


def _pid_alive(pid: int | None, run: str) -> bool:
    """Is `pid` a live genforge training child of `run` (not a recycled pid)?"""
    if not pid:
        return False
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return b"genforge.cli.main" in cmdline and run.encode() in cmdline


def _last_error(log: Path) -> str:
    try:
        lines = [ln.strip() for ln in log.read_text(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return "training process failed (no log)"
    errors = [ln for ln in lines if ln.startswith("error:")]
    return (errors or lines or ["training process failed"])[-1][:500]


class Worker:
    """Starts queued jobs (up to `max_jobs` at once) and records how they end."""

    def __init__(
        self,
        store: JobStore,
        runs_dir: Path,
        logs_dir: Path,
        max_jobs: int = 1,
        poll_s: float = 0.5,
    ):
        self.store, self.runs_dir, self.logs_dir = store, runs_dir, logs_dir
        self.max_jobs, self.poll_s = max_jobs, poll_s
        self.procs: dict[int, subprocess.Popen] = {}
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    # -- lifecycle --------------------------------------------------------------------------
    def recover(self) -> None:
        """Jobs a dead server left "running" go back to the queue, resuming their checkpoint."""
        for job in self.store.all(("running",)):
            if job.id in self.procs:
                continue
            if _pid_alive(job.pid, job.run):  # orphan still alive: let it checkpoint and stop
                with contextlib.suppress(ProcessLookupError):
                    os.kill(job.pid, signal.SIGTERM)  # type: ignore[arg-type]
                deadline = time.monotonic() + 120
                while _pid_alive(job.pid, job.run) and time.monotonic() < deadline:
                    time.sleep(0.1)
            self._requeue(job)

    def _requeue(self, job: Job) -> None:
        if job.cancel_requested:
            self.store.update(job.id, state="cancelled", finished=_now(), pid=None)
            return
        run = Run(self.runs_dir / job.run)
        meta = run.read_meta() if run.config_path.exists() else None
        if meta is not None and run.step >= job.params["steps"]:
            self.store.update(job.id, state="completed", finished=_now(), pid=None)
            return
        resume = meta is not None
        if not resume and run.path.exists() and not job.resume:
            shutil.rmtree(run.path)  # a start that died before its first checkpoint
        self.store.update(
            job.id, state="queued", resume=int(resume or job.resume), pid=None,
            restarts=job.restarts + 1,
        )  # fmt: skip

    def start(self) -> None:
        self.recover()
        self._thread = threading.Thread(target=self._loop, name="genforge-jobs", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 120) -> None:
        """Stop the loop; running children get SIGTERM (they checkpoint) and are requeued."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        with self._lock:
            for proc in self.procs.values():
                with contextlib.suppress(ProcessLookupError):
                    proc.send_signal(signal.SIGTERM)
            for jid, proc in list(self.procs.items()):
                try:
                    proc.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
                job = self.store.get(jid)
                if job is not None:
                    self._requeue(job)
            self.procs.clear()

    def wake(self) -> None:
        """Look at the queue now (children are only started from the worker's own thread:
        PR_SET_PDEATHSIG fires when the *thread* that forked them ends)."""
        self._wake.set()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.tick()
            except Exception as e:  # keep serving; the next tick retries
                print(f"genforge jobs: {e}", file=sys.stderr)
            self._wake.wait(self.poll_s)
            self._wake.clear()

    # -- one pass ---------------------------------------------------------------------------
    def tick(self) -> None:
        with self._lock:
            for jid, proc in list(self.procs.items()):
                if proc.poll() is not None:
                    del self.procs[jid]
                    self._finish(jid, proc.returncode)
            while len(self.procs) < self.max_jobs and not self._stop.is_set():
                job = self.store.claim_next()
                if job is None:
                    break
                self._launch(job)

    def _launch(self, job: Job) -> None:
        self.logs_dir.mkdir(parents=True, exist_ok=True)
        log = self.logs_dir / f"job-{job.id}.log"
        env = {**os.environ, "CI": "1", "PYTHONUNBUFFERED": "1"}
        with open(log, "ab") as out:
            proc = subprocess.Popen(
                train_command(job, self.runs_dir),
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                start_new_session=True,  # Ctrl-C on the server's terminal is the server's
                preexec_fn=_die_with_parent,
            )
        self.procs[job.id] = proc
        self.store.update(job.id, pid=proc.pid)

    def _finish(self, jid: int, code: int) -> None:
        job = self.store.get(jid)
        if job is None:
            return
        if job.cancel_requested:
            state, error = "cancelled", None
        elif code == 0:
            state, error = "completed", None
        else:
            state, error = "failed", _last_error(self.logs_dir / f"job-{jid}.log")
        self.store.update(jid, state=state, error=error, finished=_now(), pid=None)

    def cancel(self, job: Job) -> None:
        """Queued: cancelled at once. Running: SIGTERM; `tick` records "cancelled" on exit."""
        self.store.update(job.id, cancel_requested=1)
        if job.state == "queued":
            self.store.update(job.id, state="cancelled", finished=_now())
            return
        with self._lock:
            proc = self.procs.get(job.id)
            if proc is not None:
                with contextlib.suppress(ProcessLookupError):
                    proc.send_signal(signal.SIGTERM)
            elif _pid_alive(job.pid, job.run):
                os.kill(job.pid, signal.SIGTERM)  # type: ignore[arg-type]
