# OmniQ. `make run` builds omniqd (bin/omniqd) and starts it on the embedded
# default store (Pebble in ./omniq-data); `make test` runs every test with the
# race detector and ends with a count of the tests skipped, and why.
GO      ?= go
# The Go toolchain every target builds with, fetched through the module proxy
# on first use: go1.26.8 and older ship standard-library vulnerabilities that
# govulncheck (make lint) finds reachable from omniqd. GOTOOLCHAIN=local uses
# the machine's own Go instead.
GOTOOLCHAIN ?= go1.27.3
export GOTOOLCHAIN
STORE   ?= pebble://./omniq-data
PKGS    ?= ./...
BENCHTIME ?= 1s

.PHONY: run build test test-short bench lint fuzz clean

# The first build downloads the toolchain and the modules and compiles the
# standard library: it says so, and -v names each package as it is compiled
# (a cached build prints nothing).
run:
	@[ -x bin/omniqd ] || echo "building omniqd (the first build downloads the Go toolchain and modules; this can take a few minutes)..."
	@$(GO) build -v -o bin/omniqd ./cmd/omniqd
	bin/omniqd serve --store $(STORE)

build:
	$(GO) build -o bin/omniqd ./cmd/omniqd

# Tests that need a server read OMNIQ_TEST_POSTGRES, OMNIQ_TEST_REDIS and
# OMNIQ_TEST_NATS and skip with a message when they are unset. go test's
# JSON stream goes through tools/testsum, which prints go test's usual output
# and ends it with the failed tests and a line counting the skipped ones by
# skip message; its exit status is go test's. The nested module otelomniq
# (OpenTelemetry tracing, a module of its own so that the core links none
# of it) is tested after the root module, with a summary of its own.
test:
	@$(GO) build -o bin/testsum ./tools/testsum
	bin/testsum -name 'make test' $(GO) test -race -count=1 -timeout 20m -json $(PKGS)
	cd otelomniq && ../bin/testsum -name 'make test: otelomniq' $(GO) test -race -count=1 -timeout 10m -json ./...
	$(MAKE) test-python

# The Python client (clients/python): its unittest suite against the omniqd
# built here (OMNIQ_BIN), on every store whose server is configured, as for
# the Go tests (OMNIQ_TEST_POSTGRES, OMNIQ_TEST_REDIS, OMNIQ_TEST_NATS).
# The tests build their Go helper with $(GO). Needs Python 3.11 or newer.
PYTHON ?= python3
.PHONY: test-python
test-python:
	$(GO) build -o bin/omniqd ./cmd/omniqd
	PYTHONDONTWRITEBYTECODE=1 OMNIQ_BIN=$(CURDIR)/bin/omniqd GO="$(GO)" PYTHONPATH=$(CURDIR)/clients/python $(PYTHON) -m unittest discover -s clients/python/tests -v

test-short:
	$(GO) test -count=1 $(PKGS)

# Append throughput per store (batch 1/100/1000), engine tasks/s per store.
bench:
	$(GO) test -run '^$$' -bench . -benchtime $(BENCHTIME) ./stores/... ./engine/ ./events/

# govulncheck, pinned, checks the module against the Go vulnerability
# database. When its host (GOVULNDB) is not reachable, as from CI, the
# database is built from the golang.org/x/vulndb module through the module
# proxy (.ci/vulndb, cached per version; VULNDB_VERSION pins one) and the
# check runs on that copy. Only when neither can be had is it skipped, with
# a message, as it is when the tool itself cannot be fetched. Findings fail.
# GOVULNDB=off skips the check. go vet and govulncheck run on each module
# of MODULES: the root and the nested otelomniq.
MODULES        ?= . otelomniq
GOVULNCHECK    ?= golang.org/x/vuln/cmd/govulncheck@v1.1.4
GOVULNDB       ?= https://vuln.go.dev
VULNDB_VERSION ?= latest
# VULNCHECK runs govulncheck on every module; its status is the first failure's.
VULNCHECK = for m in $(MODULES); do $(GO) run $(GOVULNCHECK) -db $$db -C $$m ./... 2>&1 || exit $$?; done
lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	@set -e; for m in $(MODULES); do echo "$(GO) vet ./... (in $$m)"; (cd $$m && $(GO) vet ./...); done
	@if [ "$(GOVULNDB)" = off ]; then echo "govulncheck skipped: GOVULNDB=off"; exit 0; fi; \
	db=$(GOVULNDB); out=$$($(VULNCHECK)); rc=$$?; \
	if [ $$rc -ne 0 ] && echo "$$out" | grep -q 'fetching vulnerabilities'; then \
		echo "govulncheck: $$db unreachable; using golang.org/x/vulndb@$(VULNDB_VERSION) from the module proxy"; \
		if db=$$(.ci/vulndb $(VULNDB_VERSION)); then out=$$($(VULNCHECK)); rc=$$?; \
		else echo "govulncheck skipped: vulnerability database unreachable ($(GOVULNDB)) and not buildable from the module proxy"; exit 0; fi; \
	fi; \
	if [ $$rc -eq 0 ]; then echo "govulncheck ($$db): no known vulnerability reaches this code"; \
	elif echo "$$out" | grep -q 'fetching vulnerabilities'; then \
		echo "govulncheck skipped: vulnerability database unreachable ($$db)"; \
	elif echo "$$out" | grep -q '^go: .*golang.org/x/vuln'; then \
		echo "govulncheck skipped: could not fetch $(GOVULNCHECK) from the module proxy"; \
	else echo "$$out"; exit $$rc; fi

# Each decoder's fuzz target for a short while (FUZZTIME each): event
# records (msgpack, the fast payload decoder against the reflective one, JSON
# Lines), snapshots, file-store segments, store URLs, cron specs and HTTP
# request bodies (wire decoding, its hand-written decoder against
# encoding/json, and the server's handler), and the value
# normalizer against the codec. go test -fuzz
# takes one target per run, so each name is anchored. -fuzzminimizetime 50x:
# with go test's default (60s of minimizing each new input) a run reports
# "0/sec" for long stretches while it minimizes, and finds far fewer inputs.
FUZZTIME ?= 15s
FUZZ_TARGETS = ./events:FuzzUnmarshal ./events:FuzzFastDecode ./events/eventjson:FuzzUnmarshal \
	./projections:FuzzRestore ./projections:FuzzRestoreRich ./stores/file:FuzzOpen \
	./stores/redis:FuzzParseURL ./engine:FuzzEnqueueCron ./wire:FuzzDecodeTask ./wire:FuzzDecodeTaskForms \
	./server:FuzzAPIRequestBodies ./values:FuzzNormalize
fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; name=$${t##*:}; \
		echo "$(GO) test $$pkg -run '^$$' -fuzz '^$$name\$$' -fuzztime $(FUZZTIME)"; \
		$(GO) test $$pkg -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 50x; \
	done

clean:
	rm -rf bin omniq-data

# Regenerate the test-only client of server/openapi.json (oapi-codegen,
# fetched through the module proxy); TestGeneratedClientIsCurrent fails until
# it is regenerated after the document changes.
.PHONY: genclient
genclient:
	$(GO) generate ./cmd/omniqd/internal/genclient

# Regenerate the dashboard's screenshots in docs/img (docs/dashboard.md):
# TestDashboardScreenshots builds an hour of activity on the memory store and
# photographs the pages in headless Chromium (needs chromium on PATH).
.PHONY: screenshots
screenshots:
	@mkdir -p docs/img
	OMNIQ_TEST_BROWSER=1 OMNIQ_DOC_SCREENSHOTS=$(CURDIR)/docs/img $(GO) test -count=1 -run '^TestDashboardScreenshots$$' -v ./server/

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
	cd bench/peers && $(GO) run -mod=mod . $(PEERS_ARGS)

.PHONY: soak

# Soak: memory and throughput must stay flat under hours of load. A
# continuous run of the work-batch API (producers EnqueueBatch 500 tasks a
# call, at most 20,000 outstanding; the engine's Work pool, 64 workers) for
# SOAK_DURATION, with retention SOAK_RETENTION, sampled every SOAK_INTERVAL
# (a line each on stderr; 60 s, so that each interval spans the same number
# of compactions, which retention runs every quarter of SOAK_RETENTION). It
# fails unless the last minute drains >= 90% of the second and RSS after
# warm-up stays within +-15% of its level then (bench.CheckPlateau: warm-up
# is 2 minutes, or the retention age and a quarter and two passes when that
# is longer, since memory grows until retention first acts).
# SOAK_RATE: the steady load, tasks enqueued a second (--rate, paced; 0: as
# fast as the backlog lets the producers, which measures the ceiling: the
# kept state then follows the machine's throughput, since retention keeps a
# time window of ended tasks).
# SOAK_STORE: pebble (a temporary directory), postgres (OMNIQ_TEST_POSTGRES or
# postgres://root@127.0.0.1:5432/test, in a log of its own) or a store URL.
# Leaves the report and the curves in SOAK_OUT (soak.json, soak.svg) and
# prints the curve. SOAK_ARGS takes more "omniqd bench" flags.
SOAK_DURATION  ?= 30m
SOAK_RETENTION ?= 2m
SOAK_INTERVAL  ?= 60s
SOAK_RATE      ?= 10000
SOAK_STORE     ?= pebble
SOAK_OUT       ?= bench/out
SOAK_ARGS      ?=
soak:
	@mkdir -p $(SOAK_OUT)
	$(GO) build -o $(SOAK_OUT)/ ./cmd/omniqd ./bench/cmd/benchchart
	@case '$(SOAK_STORE)' in pebble) store=pebble:// ;; postgres) store="$${OMNIQ_TEST_POSTGRES:-postgres://root@127.0.0.1:5432/test}" ;; *) store='$(SOAK_STORE)' ;; esac; \
	$(SOAK_OUT)/omniqd bench --store "$$store" --mode continuous --api work-batch --batch 500 --workers 64 \
		--rate $(SOAK_RATE) --duration $(SOAK_DURATION) --retention $(SOAK_RETENTION) --interval $(SOAK_INTERVAL) \
		--probe -1 --no-recovery --check-plateau --json $(SOAK_ARGS) >$(SOAK_OUT)/soak.json; rc=$$?; \
	[ -s $(SOAK_OUT)/soak.json ] && $(SOAK_OUT)/benchchart -curves $(SOAK_OUT)/soak.json -out $(SOAK_OUT)/soak.svg; \
	exit $$rc

.PHONY: faults

# Fault harness (cmd/omniqd/faults; figures in docs/reliability.md): the real
# omniqd on every durable store, driven by clients and workers while it is
# SIGKILLed, its store's server crashes, its disk fills up (file-full: a
# tmpfs, root only) and a worker stalls past its lease, while it compacts
# every 2 s; then the history is checked against what the clients were told. KILLS is the
# total of SIGKILLs, spread over STORES; DURATION the load per store. SEED=0
# draws a fresh seed; every run prints its seed and the command replaying it.
# FAULTS_ARGS takes more flags, e.g. -restart-postgres (restarts the shared
# server: full runs only).
SEED          ?= 0
DURATION      ?= 2m
KILLS         ?= 60
STORES        ?= pebble,file,sqlite,postgres,redis,nats,file-full
SERVER_FAULTS ?= 3
FAULTS_ARGS   ?=
faults:
	OMNIQ_TEST_POSTGRES="$${OMNIQ_TEST_POSTGRES:-postgres://root@127.0.0.1:5432/test}" \
	$(GO) test -race=false -count=1 -timeout 60m -v ./cmd/omniqd/faults -run TestFaults -args \
		-seed=$(SEED) -duration=$(DURATION) -kills=$(KILLS) -stores=$(STORES) -server-faults=$(SERVER_FAULTS) $(FAULTS_ARGS)

.PHONY: faults-cluster

# The cluster schedule of the fault harness (-cluster; cmd/omniqd/faults,
# docs/cluster.md): CLUSTER_NODES omniqd nodes on one log per store of
# CLUSTER_STORES (postgres, redis, nats; sqlite too, one host), one archive
# directory, producers and workers spread over the nodes (each client moves
# to another node on no answer or a 503), while nodes are SIGKILLed and
# restarted (CLUSTER_KILLS in total), SIGSTOPped past the lease timeout and
# continued (CLUSTER_PAUSES in total), and the store's server fails
# (SERVER_FAULTS per store). Every check of `make faults`, and one outcome
# per task, each schedule slot fired once, each lease expired once and never
# before its deadline, the same state on every node after the drain, the
# other nodes answering while one is down, `omniqd verify --strict`; prints
# the failover times. SEED, DURATION and FAULTS_ARGS as for `make faults`.
CLUSTER_STORES ?= postgres,redis,nats
CLUSTER_NODES  ?= 3
CLUSTER_KILLS  ?= 30
CLUSTER_PAUSES ?= 30
faults-cluster:
	OMNIQ_TEST_POSTGRES="$${OMNIQ_TEST_POSTGRES:-postgres://root@127.0.0.1:5432/test}" \
	$(GO) test -race=false -count=1 -timeout 60m -v ./cmd/omniqd/faults -run TestFaults -args \
		-cluster -nodes=$(CLUSTER_NODES) -seed=$(SEED) -duration=$(DURATION) -kills=$(CLUSTER_KILLS) -pauses=$(CLUSTER_PAUSES) \
		-stores=$(CLUSTER_STORES) -server-faults=$(SERVER_FAULTS) $(FAULTS_ARGS)
