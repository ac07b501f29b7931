# BrokerDesk: two commands set up everything on a fresh machine.
#   make run   the whole product on local services, with a seeded demo brokerage
#   make test  go vet, then the whole suite (race detector on) against real services started once for the run

GO      ?= go
BIN     := bin/brokerdesk
TOOLS   := bin/brokerdesk-tools
DEV_FLAGS ?=
PKGS    ?= ./...
# RACE builds make test's binaries with the race detector: the services binary, go vet and go test all compile with
# the same flags, so on an empty build cache every package compiles once (a plain build first would compile the whole
# dependency tree a second time). RACE= turns it off.
RACE    ?= -race
TESTBIN := bin/brokerdesk-test
# -s -w: test binaries without DWARF (debuggers only; panics and race reports keep file:line), a shorter link
# for each of the suite's test binaries. -parallel 4: four parallel tests of a package at once instead of GOMAXPROCS
# (two here): most of a server test's time is spent waiting (a worker's poll, a batch's grace period, Postgres), so
# two cores stay busy only with more of them in flight (docs/benchmarks.md, make test). -vet=off: `make test` has
# just run the whole of `go vet`, of which go test's own vet pass is a subset (type-checking every package again).
TESTFLAGS ?= $(RACE) -vet=off -ldflags='-s -w' -timeout 30m -parallel 4

.PHONY: run test build vet bench screenshots clean

build:
	$(GO) build -o $(BIN) ./cmd/brokerdesk

# run: bin/brokerdesk-tools (standard library only, so it builds in seconds even on an empty build cache) installs
# what the local services need (redis-server, Mailpit; see infra/localsvc/tools) in the background while the
# product compiles; `brokerdesk dev` starts once both are done. A failed install stops here with its error; a failed
# build stops the installer. DEV_FLAGS go to `brokerdesk dev`, e.g. make run DEV_FLAGS='--addr 127.0.0.1:8081'.
run:
	$(GO) build -o $(TOOLS) ./cmd/brokerdesk-tools
	@echo "./$(TOOLS) &  (installs what is missing, in the background)"; \
	./$(TOOLS) & tools=$$!; \
	echo "$(GO) build -o $(BIN) ./cmd/brokerdesk  (minutes the first time, seconds after)"; \
	if ! $(GO) build -o $(BIN) ./cmd/brokerdesk; then kill $$tools 2>/dev/null; wait $$tools; exit 1; fi; \
	if ! wait $$tools; then echo "make run: installing the local services' programs failed; see above" >&2; exit 1; fi; \
	echo "./$(BIN) dev $(DEV_FLAGS)"; \
	exec ./$(BIN) dev $(DEV_FLAGS)

vet:
	$(GO) vet ./...

# test: the services' programs (Postgres is the machine's; Redis, MinIO, Mailpit, stripe-mock: brokerdesk-tools -all)
# install in the background while the services binary compiles and go vet runs, as make run does: on a fresh machine
# their downloads and compiles overlap the suite's instead of coming after them. A failed install or build stops here.
test:
	$(GO) build -o $(TOOLS) ./cmd/brokerdesk-tools
	@./$(TOOLS) -all & tools=$$!; \
	echo "$(GO) build $(RACE) -o $(TESTBIN) ./cmd/brokerdesk && $(GO) vet $(RACE) ./...  (the services' programs install meanwhile)"; \
	if ! { $(GO) build $(RACE) -o $(TESTBIN) ./cmd/brokerdesk && $(GO) vet $(RACE) ./...; }; then kill $$tools 2>/dev/null; wait $$tools; exit 1; fi; \
	if ! wait $$tools; then echo "make test: installing the local services' programs failed; see above" >&2; exit 1; fi
	./$(TESTBIN) services exec --fresh --dir .data/test -- env BD_SCREENSHOTS_DIR=$(CURDIR)/.data/screenshots $(GO) test $(TESTFLAGS) $(PKGS)

# Benchmarks whose figures the issues ask for (see docs/benchmarks.md). The HTTP throughput benchmark runs its own
# rounds of wrk and pgbench (installing wrk with apt-get when missing) and prints each round; the flood benchmark
# runs `brokerdesk serve` as its own process and prints its RSS before, at the peak of and after the flood; the
# account-opening benchmark opens 200 demo accounts from the portal one after another (median and p99).
bench: build
	./$(BIN) services exec --fresh --dir .data/bench -- $(GO) test -run '^$$' -bench . -skip 'OverTCP|FloodRSS|DepositPipeline|AccountOpeningEndToEnd' -benchtime 2s ./tenants/ ./modules/trading/... ./modules/audit/ ./modules/ledger/ ./modules/payments/ ./modules/identity/ ./modules/documents/ ./modules/kyc/ ./modules/clients/ ./modules/partners/ ./jobs/ ./infra/auth/ ./infra/blob/ ./cmd/brokerdesk/
	./$(BIN) services exec --fresh --dir .data/bench -- $(GO) test -run '^$$' -bench OverTCP -benchtime 3x -v ./cmd/brokerdesk/
	./$(BIN) services exec --fresh --dir .data/bench -- $(GO) test -run '^$$' -bench FloodRSS -benchtime 1x -v ./cmd/brokerdesk/
	./$(BIN) services exec --fresh --dir .data/bench -- $(GO) test -run '^$$' -bench DepositPipeline -benchtime 3x -v ./cmd/brokerdesk/
	./$(BIN) services exec --fresh --dir .data/bench -- $(GO) test -run '^$$' -bench AccountOpeningEndToEnd -benchtime 200x ./cmd/brokerdesk/

# screenshots: the browser test that pictures the main pages on a phone and a laptop, saving them in docs/screenshots,
# the copies kept in the repository (make test takes and checks the same pictures into .data/screenshots).
screenshots: build
	./$(BIN) services exec --fresh --dir .data/test -- env BD_SCREENSHOTS_DIR=$(CURDIR)/docs/screenshots $(GO) test -run TestBrowserScreenshots -count 1 ./cmd/brokerdesk/

clean:
	rm -rf bin .data/test .data/bench
