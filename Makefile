# OmniQ. `make run` starts omniqd on the embedded default store (Pebble in
# ./omniq-data); `make test` runs every test with the race detector.
GO      ?= go
STORE   ?= pebble://./omniq-data
PKGS    ?= ./...
BENCHTIME ?= 1s

.PHONY: run build test test-short bench lint fuzz clean

run:
	$(GO) run ./cmd/omniqd serve --store $(STORE)

build:
	$(GO) build -o bin/omniqd ./cmd/omniqd

# Tests that need a server read OMNIQ_TEST_POSTGRES, OMNIQ_TEST_REDIS and
# OMNIQ_TEST_NATS and skip with a message when they are unset.
test:
	$(GO) test -race -count=1 -timeout 20m $(PKGS)

test-short:
	$(GO) test -count=1 $(PKGS)

# Append throughput per store (batch 1/100/1000), engine tasks/s per store.
bench:
	$(GO) test -run '^$$' -bench . -benchtime $(BENCHTIME) ./stores/... ./engine/ ./events/

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

# Each decoder's fuzz target for a short while (FUZZTIME each).
FUZZTIME ?= 15s
fuzz:
	$(GO) test ./events -run '^$$' -fuzz FuzzUnmarshal -fuzztime $(FUZZTIME)
	$(GO) test ./projections -run '^$$' -fuzz FuzzRestore -fuzztime $(FUZZTIME) -fuzzminimizetime 50x
	$(GO) test ./stores/file -run '^$$' -fuzz FuzzOpen -fuzztime $(FUZZTIME) -fuzzminimizetime 50x

clean:
	rm -rf bin omniq-data

.PHONY: bench-e2e bench-peers

# End-to-end benchmark through "omniqd bench" (see bench/README.md). The
# default is a burn-down of 100k tasks through the batch API on a temporary
# Pebble store; BENCH_ARGS takes any of its flags, e.g.
#   make bench-e2e BENCH_ARGS='--mode continuous --api single --duration 20s'
BENCH_ARGS ?= --mode burndown --api batch --jobs 100000
bench-e2e:
	$(GO) run ./cmd/omniqd bench $(BENCH_ARGS)

# OmniQ beside River (PostgreSQL) and asynq (Redis) on the same burn-down
# (bench/peers, a module of its own). Uses OMNIQ_TEST_POSTGRES, or
# postgres://root@127.0.0.1:5432/test, and Redis at 127.0.0.1:6379.
PEERS_ARGS ?= --jobs 100000
bench-peers:
	cd bench/peers && $(GO) run . $(PEERS_ARGS)
