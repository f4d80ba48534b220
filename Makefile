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

# The job on the bundled CDNOW data, into $(DEMO_DIR)/: ingest, then the
# features and the fitted models at the end of the papers' calibration period
# (1997-09-30).
# (Scores, perk plan and report follow when `churn run` lands.)
demo: build
	@rm -rf $(DEMO_DIR)
	@$(BIN) datasets cdnow --out $(DEMO_DIR)/input >/dev/null
	@$(BIN) --log-level warn ingest --config $(DEMO_DIR)/input/churn.yaml --data $(DEMO_DIR)/data $(DEMO_DIR)/input/CDNOW_master.txt --json > $(DEMO_DIR)/ingest.json
	@$(BIN) --log-level warn features --data $(DEMO_DIR)/data --as-of 1997-09-30 --holdout-end 1998-06-30 --out $(DEMO_DIR)/features.csv
	@$(BIN) fit --data $(DEMO_DIR)/data --as-of 1997-09-30 2> $(DEMO_DIR)/fit.log
	@echo "CDNOW ingested: $$(grep -m1 '"rows_accepted"' $(DEMO_DIR)/ingest.json | tr -dc 0-9) purchases accepted, $$(grep -m1 '"rows_rejected"' $(DEMO_DIR)/ingest.json | tr -dc 0-9) rejected"
	@echo "Customers per RFM segment at 1997-09-30:"
	@sed -n '/"segments"/,/}/p' $(DEMO_DIR)/data/runs/1997-09-30/features.json | grep ':' | grep -v segments | sed 's/[",]//g; s/^ */  /'
	@echo "BG/NBD and Gamma-Gamma fitted on all 23,570 customers (weeks):"
	@grep 'fit done' $(DEMO_DIR)/fit.log | tr ' ' '\n' | grep -E '^(r|alpha|a|b|p|q|gamma|log_likelihood|patterns)=' | sed 's/^/  /' | paste -sd' ' -
	@echo "Outputs:"
	@echo "  warehouse    $(DEMO_DIR)/data/transactions/month=YYYY-MM/*.parquet"
	@echo "  manifest     $(DEMO_DIR)/data/_ingest/manifest.jsonl"
	@echo "  features     $(DEMO_DIR)/data/runs/1997-09-30/features.parquet (+ features.json: RFM cut points)"
	@echo "  features CSV $(DEMO_DIR)/features.csv"
	@echo "  models       $(DEMO_DIR)/data/runs/1997-09-30/model.json"

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
