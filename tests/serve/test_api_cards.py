"""A run's model card rendered as HTML (GET /v1/runs/{name}/card): markdown to HTML, any HTML in
the card escaped, images only from the run's own files (through the run-file endpoint)."""

from __future__ import annotations

from genforge.serve.cards import render_card

HOSTILE = """# run <script>alert(1)</script>

Class names from user data: <img src=x onerror=alert(2)> and <b onclick="x()">bold</b>

| class | count |
|-------|-------|
| <svg onload=alert(3)> | 1 |

![samples](samples/latest.png) ![away](https://example.com/pixel.png)
![up](../cg/README.md) ![weights](model/meta.json) ![abs](/etc/passwd)
[script link](javascript:alert(4)) [config](config.yaml)
"""


def test_card_renders_markdown_as_html(client):
    r = client.get("/v1/runs/dc/card")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    html = r.text
    assert "<h1>dc</h1>" in html and "<h2>Data</h2>" in html and "<h2>Config</h2>" in html
    assert "<ul>" in html and "<li>images used:" in html
    assert '<pre><code class="language-yaml">model: dcgan' in html
    assert "<strong>dcgan</strong>" in html and "<code>digits</code>" in html
    assert "## " not in html and "```" not in html
    # the card's pictures point at the run-file endpoint, which serves them
    assert '<img src="/v1/runs/dc/files/samples/latest.png" alt="samples"' in html
    assert client.get("/v1/runs/dc/files/samples/latest.png").content.startswith(b"\x89PNG")


def test_card_escapes_html_from_user_data(client, runs_dir):
    (runs_dir / "dc" / "README.md").write_text(HOSTILE)
    html = client.get("/v1/runs/dc/card").text
    for raw in ("<script", "<img src=x", "<b onclick", "<svg", 'href="javascript'):
        assert raw not in html, raw
    assert "<h1>run &lt;script&gt;alert(1)&lt;/script&gt;</h1>" in html
    assert "&lt;img src=x onerror=alert(2)&gt;" in html
    assert "<td>&lt;svg onload=alert(3)&gt;</td>" in html  # tables are on
    # images: only the run's own files; any other becomes its alt text
    assert html.count("<img ") == 1
    assert '<img src="/v1/runs/dc/files/samples/latest.png" alt="samples"' in html
    assert "example.com" not in html and "meta.json" not in html and "/etc/passwd" not in html
    assert "away\nup weights abs" in html
    assert "[script link](javascript:alert(4))" in html  # markdown-it refuses it as a link
    # a link to a run file goes through the run-file endpoint too
    assert '<a href="/v1/runs/dc/files/config.yaml">config</a>' in html


def test_missing_card_is_a_404(client, runs_dir):
    (runs_dir / "dc" / "README.md").unlink()
    r = client.get("/v1/runs/dc/card")
    assert r.status_code == 404 and r.headers["content-type"] == "application/json"
    detail = r.json()["detail"]
    assert detail == "run 'dc' has no model card (README.md)" and "\n" not in detail
    assert client.get("/v1/runs/nope/card").status_code == 404
    assert client.get("/v1/runs/.hidden/card").status_code == 422


def test_card_outside_the_run_is_not_served(client, runs_dir, tmp_path):
    """A README.md that is a link out of the run folder is not read (as the run-file endpoint)."""
    secret = tmp_path / "secret.md"
    secret.write_text("# secret")
    card = runs_dir / "dc" / "README.md"
    card.unlink()
    card.symlink_to(secret)
    assert client.get("/v1/runs/dc/card").status_code == 404
    assert client.get("/v1/runs/dc/files/README.md").status_code == 404


def test_render_card_links_and_images(tmp_path):
    run = tmp_path / "r1"
    (run / "samples").mkdir(parents=True)
    (run / "samples" / "a b.png").write_bytes(b"\x89PNG")
    (run / "report.html").write_text("<p>report</p>")
    html = render_card(
        "![grid](samples/a%20b.png) ![gone](samples/missing.png) ![dot](./samples/a%20b.png)\n"
        "[report](report.html) [site](https://example.com/) [up](../r2/report.html)\n"
        "![nul](samples/a%00b.png)\n",
        run,
    )
    assert '<img src="/v1/runs/r1/files/samples/a%20b.png" alt="grid"' in html
    assert '<img src="/v1/runs/r1/files/samples/a%20b.png" alt="dot"' in html
    assert html.count("<img ") == 2 and "gone" in html and "nul" in html
    assert '<a href="/v1/runs/r1/files/report.html">report</a>' in html
    assert '<a href="https://example.com/">site</a>' in html
    assert '<a href="../r2/report.html">up</a>' in html  # left as written: not a run file
