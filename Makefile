# BrokerDesk: two commands set up everything on a fresh machine.
#   make run   the whole product on local services, with a seeded demo brokerage
#   make test  go vet, then the whole suite (race detector on) against real services started once for the run

GO      ?= go
BIN     := bin/brokerdesk
PKGS    ?= ./...
TESTFLAGS ?= -race -timeout 30m

.PHONY: run test build vet bench clean

build:
	$(GO) build -o $(BIN) ./cmd/brokerdesk

run: build
	./$(BIN) dev

vet:
	$(GO) vet ./...

test: build vet
	./$(BIN) services exec --fresh --dir .data/test -- $(GO) test $(TESTFLAGS) $(PKGS)

# Benchmarks whose figures the issues ask for (see docs/benchmarks.md). The HTTP throughput benchmark runs its own
# rounds of wrk and pgbench (installing wrk with apt-get when missing) and prints each round.
bench: build
	./$(BIN) services exec --fresh --dir .data/bench -- $(GO) test -run '^$$' -bench . -skip OverTCP -benchtime 2s ./tenants/ ./modules/trading/... ./modules/audit/ ./modules/identity/ ./modules/documents/ ./modules/kyc/ ./modules/clients/ ./jobs/ ./infra/auth/ ./infra/blob/ ./cmd/brokerdesk/
	./$(BIN) services exec --fresh --dir .data/bench -- $(GO) test -run '^$$' -bench OverTCP -benchtime 3x -v ./cmd/brokerdesk/

clean:
	rm -rf bin .data/test .data/bench
