# OmniQ. `make run` starts omniqd on the embedded default store (Pebble in
# ./omniq-data); `make test` runs every test with the race detector.
GO      ?= go
STORE   ?= pebble://./omniq-data
PKGS    ?= ./...
BENCHTIME ?= 1s

.PHONY: run build test test-short bench lint fuzz clean

run:
	$(GO) run ./cmd/omniqd demo --store $(STORE)

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
