# churn — the targets a user and CI run. `make demo` and `make test` need only Go.
GO       ?= go
BIN      := bin/churn
DEMO_DIR ?= demo
FUZZTIME ?= 10s

.PHONY: build test demo bench fuzz lint clean

build:
	$(GO) build -o $(BIN) ./cmd/churn

# The README's test command: vet, then every test (CLI scripts, kill test,
# exactness against CDNOW and independent computations).
test:
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 20m ./...

# The nightly job on the bundled CDNOW data, into $(DEMO_DIR)/.
demo: build
	@rm -rf $(DEMO_DIR)
	@$(BIN) datasets cdnow --out $(DEMO_DIR)/input >/dev/null
	@$(BIN) --log-level warn ingest --config $(DEMO_DIR)/input/churn.yaml --data $(DEMO_DIR)/data $(DEMO_DIR)/input/CDNOW_master.txt --json > $(DEMO_DIR)/ingest.json
	@echo "CDNOW ingested into $(DEMO_DIR)/data:"
	@grep -E '"(rows_read|rows_accepted|rows_rejected)"' $(DEMO_DIR)/ingest.json | head -3
	@echo "  warehouse: $(DEMO_DIR)/data/transactions/month=YYYY-MM/*.parquet"
	@echo "  manifest:  $(DEMO_DIR)/data/_ingest/manifest.jsonl"

# Speed and memory budgets (figures go to BENCHMARKS.md).
bench:
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
	rm -rf bin $(DEMO_DIR)
