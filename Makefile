# churn — the targets a user and CI run. `make demo` and `make test` need only Go.
GO       ?= go
BIN      := bin/churn
DEMO_DIR ?= demo
FUZZTIME ?= 10s

VENV     ?= .venv
PYTHON   ?= python3

.PHONY: build test demo bench fuzz lint clean notebooks venv

build:
	$(GO) build -o $(BIN) ./cmd/churn

# The README's test command: vet, then every test (CLI scripts, kill test,
# exactness against CDNOW, independent computations and lifetimes), then the
# notebooks against the demo run.
test:
	$(GO) vet ./...
	@$(MAKE) --no-print-directory venv
	$(GO) test -count=1 -timeout 20m ./...
	@$(MAKE) --no-print-directory notebooks

# The virtualenv for the notebooks and the lifetimes cross-check, with the
# pinned packages of notebooks/requirements.txt and
# model/testdata/lifetimes/requirements.txt (from PyPI). Without Python it is
# skipped with a message (and the tests that need it skip), except under
# CI=true, where .ci/run has installed Python and a skip would hide a failure.
PY_REQS := notebooks/requirements.txt model/testdata/lifetimes/requirements.txt

$(VENV)/.installed: $(PY_REQS)
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --disable-pip-version-check $(addprefix -r ,$(PY_REQS))
	touch $@

venv:
	@if ! $(PYTHON) -c 'import venv, ensurepip' 2>/dev/null; then \
	  if [ "$$CI" = "true" ]; then echo "venv: $(PYTHON) with venv is required under CI"; exit 1; fi; \
	  echo "venv: skipped ($(PYTHON) with venv not found; install python3-venv for the notebooks and the lifetimes cross-check)"; exit 0; \
	fi; \
	$(MAKE) --no-print-directory $(VENV)/.installed

notebooks:
	@if [ ! -x $(VENV)/bin/python ]; then \
	  if [ "$$CI" = "true" ]; then echo "notebooks: $(VENV) is missing under CI"; exit 1; fi; \
	  echo "notebooks: skipped (no $(VENV); make venv needs python3-venv)"; exit 0; \
	fi; \
	$(MAKE) --no-print-directory demo >/dev/null && \
	cd notebooks && CHURN_RUN_DIR=../$(DEMO_DIR)/data/runs/1998-06-30 CHURN_BIN=../$(BIN) ../$(VENV)/bin/python run_notebooks.py

# The nightly job on the bundled CDNOW data, into $(DEMO_DIR)/: the master
# file and an example perk catalog are written, the file is put in an inbox,
# and `churn run` ingests it, computes features, fits, scores, backtests,
# plans perks under a budget, writes the exports and the report.
demo: build
	@rm -rf $(DEMO_DIR)
	@$(BIN) datasets cdnow --out $(DEMO_DIR)/input >/dev/null
	@mkdir -p $(DEMO_DIR)/inbox && cp $(DEMO_DIR)/input/CDNOW_master.txt $(DEMO_DIR)/inbox/
	@$(BIN) --log-level warn run --data $(DEMO_DIR)/data --config $(DEMO_DIR)/input/churn.yaml --inbox $(DEMO_DIR)/inbox \
	  --as-of 1998-06-30 --perks $(DEMO_DIR)/input/perks.csv --budget 5000

# Speed and memory budgets (figures go to BENCHMARKS.md), lifetimes side by
# side when the venv is there.
# Benchmarks; DuckDB, the reference of BenchmarkFeatures10M, goes into the
# venv here only (the tests do not need it).
bench: venv
	@if [ -x $(VENV)/bin/pip ]; then $(VENV)/bin/pip install -q --disable-pip-version-check -r pipeline/testdata/duckdb/requirements.txt; fi
	$(GO) test -run '^$$' -bench . -benchmem -timeout 60m ./...

# Short runs of every fuzz target.
fuzz:
	@for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
	    echo "fuzz $$pkg $$f"; \
	    $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	  done; \
	done

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt: $$out"; exit 1; fi
	$(GO) vet ./...

clean:
	rm -rf bin $(DEMO_DIR) $(VENV) artifacts
