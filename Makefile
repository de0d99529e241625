# A newcomer's two commands: `make demo` and `make test`. Both build .venv from nothing.
# `make check` is the quick lane while working: lint, types and the tests not marked slow or
# devserver, property tests with fewer examples. `make test` (and CI) runs everything.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# Reinstall whenever pyproject.toml changes.
STAMP  := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)
# Test processes (pytest-xdist). The suite waits on servers as much as it computes: two
# workers nearly halve its time on two cores. WORKERS=0 runs it in this one process.
WORKERS ?= 2
PYTEST := $(BIN)/pytest -n $(WORKERS) --dist worksteal

.PHONY: demo test check lint bench clean screenshots

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@# The distribution was called "lethe" before it became "lethe-erasure": drop the old one
	@# (and its egg-info), or Python finds two distributions of the same packages.
	@$(BIN)/python -m pip uninstall --quiet --yes lethe 2>/dev/null || true
	@rm -rf lethe.egg-info
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test,lint]'
	@rm -f $(VENV)/.installed-*
	@touch $@

demo: $(STAMP)
	$(BIN)/lethe demo

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(PYTEST)

check: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	LETHE_KIT_EXAMPLES=3 $(PYTEST) -m "not slow and not devserver" --hypothesis-profile=check

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python -m tests.bench

# A PNG of each page `lethe serve` shows (docs/screenshots/), taken by the browser test in
# headless Chromium (/usr/bin/chromium: apt-get install -y chromium).
screenshots: $(STAMP)
	LETHE_SCREENSHOTS=docs/screenshots LETHE_REQUIRE_SERVICES=1 $(BIN)/pytest -q \
		-p no:cacheprovider tests/lethe/test_web_pages.py

clean:
	rm -rf $(VENV) .lethe .pytest_cache .mypy_cache .ruff_cache
