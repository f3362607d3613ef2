# Two commands set everything up: `make demo` and `make test`.
# torch: the venv keeps a torch you installed yourself (e.g. a CUDA build); otherwise it gets
# the CPU build torch==2.13.0 (a bare `torch` requirement would pull a multi-GB CUDA build).

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
TORCH  ?= torch==2.13.0

.PHONY: install system-deps chromium demo test lint format bench clean

# espeak-ng (speech baseline, spoken-digits audio set) is a system package: installed with
# apt-get when missing and we are root; otherwise a note (those features say it is absent).
system-deps:
	@command -v espeak-ng >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq espeak-ng >/dev/null 2>&1 || \
	    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq espeak-ng; } || \
	    echo "note: could not install espeak-ng; speech and spoken-digits will say it is missing"; \
	  else echo "note: espeak-ng is missing (apt-get install espeak-ng); speech and spoken-digits need it"; fi; }

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install --quiet "$(TORCH)"
	$(PY) -m pip install --quiet -e '.[dev]'
	@# torch-fidelity holds the standard InceptionV3 for FID (weights stay a local file you
	@# provide); its own dependency list would pull torchvision and a CUDA torch, and the part
	@# genforge uses needs neither (see src/genforge/core/compat.py)
	$(PY) -m pip install --quiet --no-deps "torch-fidelity==0.4.0"
	@touch $(STAMP)

# The browser test drives Debian's chromium (tests/serve/test_e2e_browser.py skips without it).
chromium:
	@command -v chromium >/dev/null || { [ "$$(id -u)" = 0 ] && apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } || \
		echo "chromium missing (not root): the browser test will be skipped"

install: system-deps $(STAMP) chromium

demo: install
	$(VENV)/bin/genforge demo

test: install lint
	$(PY) -m pytest -q -n auto

lint: install
	$(VENV)/bin/ruff check src tests scripts
	$(VENV)/bin/ruff format --check src tests scripts

format: install
	$(VENV)/bin/ruff format src tests scripts
	$(VENV)/bin/ruff check --fix src tests scripts

bench: install
	$(VENV)/bin/genforge bench train --model dcgan --image-size 64

# The documentation site: docs/ and mkdocs.yml into site/ (the CLI reference is generated from
# the code during the build); --strict turns a broken link or anchor into an error.
.PHONY: docs
docs: install
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict -d site

clean:
	rm -rf $(VENV) runs .pytest_cache .ruff_cache
