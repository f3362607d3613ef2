"""A run's model card (README.md) as an HTML fragment the web UI can show.

CommonMark with tables and raw HTML off: any HTML in a card (run names, class names and
captions come from user data) comes out escaped, as text. Images are kept only when they point
at a file the run-file endpoint serves (`samples/latest.png` -> /v1/runs/NAME/files/...);
any other image (another folder, another site) is replaced by its alt text, so a card never
makes the browser fetch anything outside the run. Links to run files go to the same endpoint;
other links stay as markdown-it checked them (no javascript: or data: URLs).
"""

from __future__ import annotations

import posixpath
from functools import lru_cache
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

from markdown_it import MarkdownIt
from markdown_it.token import Token

from genforge.serve.files import run_file_path


@lru_cache(maxsize=1)
def _markdown() -> MarkdownIt:
    return MarkdownIt("commonmark", {"html": False}).enable("table")


def run_file_url(run_dir: Path, url: str) -> str | None:
    """The API URL of the run file `url` points at (relative to the card), or None when it
    points anywhere else (another site, an absolute path, a file the API does not serve)."""
    parts = urlsplit(url)
    if parts.scheme or parts.netloc or not parts.path or parts.path.startswith("/"):
        return None
    path = posixpath.normpath(unquote(parts.path))
    if "\x00" in path or run_file_path(run_dir, path) is None:  # a NUL: no file has it
        return None
    return f"/v1/runs/{quote(run_dir.name)}/files/{quote(path)}"


def render_card(text: str, run_dir: Path) -> str:
    """The HTML of the markdown `text`, a card of the run in `run_dir` (see the module doc)."""
    md = _markdown()
    tokens = md.parse(text)
    for block in tokens:
        for i, tok in enumerate(block.children or ()):
            if tok.type == "image":
                url = run_file_url(run_dir, tok.attrGet("src") or "")
                if url is None:
                    block.children[i] = Token("text", "", 0, content=tok.content)
                else:
                    tok.attrSet("src", url)
            elif tok.type == "link_open":
                url = run_file_url(run_dir, tok.attrGet("href") or "")
                if url is not None:
                    tok.attrSet("href", url)
    return md.renderer.render(tokens, md.options, {})
