"""Issue 24, finding 2, in a real browser: a page of another origin (a second web server on
another port) tries what a web page can send to a keyless local genforge server without its
consent: no-cors fetches, form posts (text/plain, multipart with a file), a cancel of a running
job, preflighted fetches; and a DNS-rebound name (`rebind.test` resolving to 127.0.0.1). The
server's state, read through the API afterwards, must not have changed. Then the web UI itself
(same origin) still uploads a dataset and cancels the job. Screenshots land in the tmp dir."""

from __future__ import annotations

import base64
import io
import json
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import httpx
import pytest

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="needs Debian's chromium at /usr/bin/chromium (apt-get install chromium)",
)

EVIL_PAGE = """<!doctype html><meta charset=utf-8><title>attacking</title>
<h1>a page of another website</h1><ol id=log></ol>
<iframe name=sink1 style="width:300px;height:60px"></iframe>
<iframe name=sink2 style="width:300px;height:60px"></iframe>
<iframe name=sink3 style="width:300px;height:60px"></iframe>
<form id=f1 method=post enctype=text/plain target=sink1 action="TARGET/v1/datasets">
  <input name='{"name": "evil-form", "path": "FOLDER", "x": "' value='"}'></form>
<form id=f2 method=post enctype=multipart/form-data target=sink2
      action="TARGET/v1/datasets/upload">
  <input name=name value=evil-form-upload><input type=file name=file id=file></form>
<form id=f3 method=post target=sink3 action="TARGET/v1/runs/long/cancel"></form>
<script>
const T = "TARGET", log = (m) => { const li = document.createElement("li");
  li.textContent = m; document.getElementById("log").append(li); };
const zip = Uint8Array.from(atob("ZIP64"), (c) => c.charCodeAt(0));
const body = (name) => JSON.stringify({name, path: "FOLDER"});
async function attempt(label, url, opts) {
  try { const r = await fetch(url, opts); log(`${label}: sent (${r.type} ${r.status})`); }
  catch (e) { log(`${label}: blocked by the browser (${e.message})`); }
}
(async () => {
  const fd = new FormData(); fd.append("name", "evil-upload");
  fd.append("file", new Blob([zip], {type: "application/zip"}), "x.zip");
  await attempt("no-cors multipart upload", `${T}/v1/datasets/upload`,
                {method: "POST", mode: "no-cors", body: fd});
  await attempt("no-cors JSON blob, no Content-Type", `${T}/v1/datasets`,
                {method: "POST", mode: "no-cors", body: new Blob([body("evil-blob")])});
  await attempt("no-cors text/plain", `${T}/v1/datasets`, {method: "POST", mode: "no-cors",
                headers: {"Content-Type": "text/plain"}, body: body("evil-text")});
  await attempt("no-cors cancel", `${T}/v1/runs/long/cancel`, {method: "POST", mode: "no-cors"});
  await attempt("cors JSON (preflight)", `${T}/v1/datasets`, {method: "POST",
                headers: {"Content-Type": "application/json"}, body: body("evil-cors")});
  await attempt("cors upload with the CSRF header (preflight)", `${T}/v1/datasets/upload`,
                {method: "POST", headers: {"X-Genforge-CSRF": "1"}, body: fd});
  await attempt("cors DELETE (preflight)", `${T}/v1/datasets/digits`, {method: "DELETE"});
  const dt = new DataTransfer();
  dt.items.add(new File([zip], "x.zip", {type: "application/zip"}));
  document.getElementById("file").files = dt.files;
  for (const id of ["f1", "f2", "f3"]) { document.getElementById(id).submit(); log(`form ${id} posted`); }
  await new Promise((r) => setTimeout(r, 1500));
  document.title = "done";
})();
</script>"""


def one_png_zip() -> bytes:
    import numpy as np
    from PIL import Image

    img = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (16, 16), dtype=np.uint8)).save(
        img, format="PNG"
    )
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("a.png", img.getvalue())
    return buf.getvalue()


def test_other_origins_cannot_act_on_a_keyless_server(tmp_path: Path, free_port, start_server,
                                                        trained_runs, tiny, chromium):  # fmt: skip
    import shutil

    from playwright.sync_api import expect

    runs, port, evil_port = tmp_path / "runs", free_port(), free_port()
    shots = tmp_path / "screenshots"
    shots.mkdir()
    shutil.copytree(trained_runs / "dc", runs / "dc")
    folder = tmp_path / "victim"  # a folder the server would register, were the request its own
    folder.mkdir()
    with zipfile.ZipFile(io.BytesIO(one_png_zip())) as zf:
        (folder / "a.png").write_bytes(zf.read("a.png"))
    server = start_server(runs, port, "--data-root", str(tmp_path))
    base = f"http://127.0.0.1:{port}"
    api = httpx.Client(base_url=base, headers={"Content-Type": "application/json"}, timeout=30)
    site = tmp_path / "evil-site"
    site.mkdir()
    page_text = (EVIL_PAGE.replace("TARGET", base).replace("FOLDER", str(folder))
                 .replace("ZIP64", base64.b64encode(one_png_zip()).decode()))  # fmt: skip
    (site / "index.html").write_text(page_text)
    evil = subprocess.Popen([sys.executable, "-m", "http.server", str(evil_port), "--bind",
                             "127.0.0.1", "--directory", str(site)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        # a long training job, started the way a script would (JSON, no Origin)
        opts = {**tiny, "log_every": 1, "sample_every": 10**6, "checkpoint_every": 10**6}
        r = api.post("/v1/runs", content=json.dumps({"model": "dcgan", "data": "digits",
                     "name": "long", "steps": 100_000, "options": opts}))  # fmt: skip
        assert r.status_code == 201, r.text
        deadline = time.monotonic() + 120
        while api.get("/v1/runs/long").json()["state"] != "running":
            assert time.monotonic() < deadline, api.get("/v1/runs/long").json()
            time.sleep(0.2)
        before = {d["name"] for d in api.get("/v1/datasets").json()}
        for _ in range(50):  # the attacker's server is up
            try:
                httpx.get(f"http://127.0.0.1:{evil_port}/", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.1)

        with chromium("--host-resolver-rules=MAP rebind.test 127.0.0.1") as new_page:
            page, _ = new_page(1000, 700)  # the attacker's page: its own errors are its own
            page.goto(f"http://127.0.0.1:{evil_port}/")
            page.wait_for_function("document.title === 'done'")
            log = page.locator("#log li").all_inner_texts()
            page.screenshot(path=shots / "evil-page.png", full_page=True)
            assert len(log) == 10, log
            made = {d["name"] for d in api.get("/v1/datasets").json()} - before
            assert not made, f"another website created datasets {made}"
            assert api.get("/v1/runs/long").json()["state"] == "running", "it cancelled the job"

            # DNS rebinding: the attacker's name now resolves to 127.0.0.1, the page is
            # same-origin with what answers there and needs no preflight at all
            reply = page.goto(f"http://rebind.test:{port}/")
            assert reply is not None and reply.status == 400, reply and reply.status
            status = page.evaluate(
                """async (folder) => (await fetch("/v1/datasets", {method: "POST",
                     headers: {"Content-Type": "application/json", "X-Genforge-CSRF": "1"},
                     body: JSON.stringify({name: "evil-rebind", path: folder})})).status""",
                str(folder),
            )
            assert status == 400, status
            info = page.evaluate("async () => (await fetch('/v1/info')).status")
            assert info == 400, info
            page.screenshot(path=shots / "rebind.png", full_page=True)

            # nothing changed
            after = {d["name"] for d in api.get("/v1/datasets").json()}
            assert after == before, after - before
            assert api.get("/v1/runs/long").json()["state"] == "running"

            # the UI itself (same origin) still uploads a dataset and cancels the job
            ui, errors = new_page(1280, 860)
            ui.goto(base + "/")
            (tmp_path / "mine.zip").write_bytes(one_png_zip())
            ui.locator("details:has(#upload-form) summary").click()
            ui.fill("#upload-form [name=name]", "mine")
            ui.set_input_files("#upload-form [name=file]", str(tmp_path / "mine.zip"))
            ui.click("#upload-form button[type=submit]")
            expect(ui.locator("#dataset-list li[data-name=mine]")).to_have_count(1)
            expect(ui.locator("#dataset-report")).to_contain_text("images kept")
            ui.locator("details:has(#register-form) summary").click()
            ui.fill("#register-form [name=name]", "victim")
            ui.fill("#register-form [name=path]", str(folder))
            ui.click("#register-form button[type=submit]")
            expect(ui.locator("#dataset-list li[data-name=victim]")).to_have_count(1)
            ui.screenshot(path=shots / "ui-upload.png", full_page=True)
            # a wide CSV: its report shows the first columns and counts the rest
            cols = 5000
            wide = ",".join(f"c{i}" for i in range(cols)) + "\n" + ",".join(["1"] * cols) + "\n"
            (tmp_path / "wide.csv").write_text(wide)
            ui.fill("#upload-form [name=name]", "wide")
            ui.set_input_files("#upload-form [name=file]", str(tmp_path / "wide.csv"))
            ui.click("#upload-form button[type=submit]")
            expect(ui.locator("#dataset-report")).to_contain_text("5000 (the first 50 shown")
            expect(ui.locator("#dataset-report th")).to_have_count(2 + 50)
            ui.screenshot(path=shots / "ui-wide-csv.png", full_page=True)
            ui.locator("#tabs button[data-tab=train]").click()
            ui.locator("#run-list li[data-name=long]").click()
            expect(ui.locator("#watch-badge")).to_have_text("running")
            ui.click("#btn-cancel")
            expect(ui.locator("#watch-badge")).to_have_text("cancelled", timeout=60_000)
            ui.screenshot(path=shots / "ui-cancel.png", full_page=True)
            assert not errors, errors
        assert api.get("/v1/runs/long").json()["state"] == "cancelled"
        assert {"mine", "victim"} <= {d["name"] for d in api.get("/v1/datasets").json()}
    finally:
        evil.terminate()
        evil.wait(timeout=30)
        api.close()
        server.terminate()
        server.wait(timeout=60)
    print(f"screenshots in {shots}")
