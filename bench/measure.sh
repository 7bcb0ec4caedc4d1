#!/usr/bin/env bash
# Runs every measurement bench/README.md reports, one after another, and
# leaves each run's JSON (and CPU profiles) in OUT (default bench/out, not
# committed). Usage, from the repository root:
#
#   bench/measure.sh            # everything (about 15 minutes on 2 cores without the recovery step)
#   bench/measure.sh e2e peers  # some steps: e2e latency memory recovery peers nodes
#
# Server-backed runs use OMNIQ_TEST_POSTGRES (default
# postgres://root@127.0.0.1:5432/test) and Redis at 127.0.0.1:6379.
set -euo pipefail
cd "$(dirname "$0")/.."
export GOTOOLCHAIN="${GOTOOLCHAIN:-go1.27.3}" # as the Makefile (see README)
OUT=${OUT:-bench/out}
REC_DIR=${REC_DIR:-/tmp/omniq-bench-recovery-10m}
mkdir -p "$OUT"
go build -o "$OUT/omniqd" ./cmd/omniqd
B="$OUT/omniqd bench -q --json"

note() { echo "== $* (load: $(cut -d' ' -f1-3 /proc/loadavg))" >&2; }

step_e2e() {
	# Each throughput run twice: with the engine's default periodic snapshots
	# (every 1,000,000 events) and with them off, to separate their cost.
	for snap in 0 -1; do
		tag=$([ "$snap" = 0 ] && echo snap || echo nosnap)
		note "pebble burn-down, batch API ($tag)"
		$B --mode burndown --api batch --jobs 200000 --snapshot-every $snap --cpuprofile "$OUT/pebble-burndown-batch-$tag.prof" >"$OUT/pebble-burndown-batch-$tag.json"
		note "pebble continuous, batch API ($tag)"
		$B --mode continuous --api batch --duration 20s --snapshot-every $snap --no-recovery --cpuprofile "$OUT/pebble-continuous-batch-$tag.prof" >"$OUT/pebble-continuous-batch-$tag.json"
		note "pebble continuous, single API, 256 callers ($tag)"
		$B --mode continuous --api single --workers 256 --duration 20s --snapshot-every $snap --no-recovery --cpuprofile "$OUT/pebble-continuous-single-$tag.prof" >"$OUT/pebble-continuous-single-$tag.json"
		note "pebble burn-down, single API, 256 callers ($tag)"
		$B --mode burndown --api single --workers 256 --jobs 100000 --snapshot-every $snap --no-recovery >"$OUT/pebble-burndown-single-$tag.json"
		note "pebble burn-down, work API, 256 ($tag)"
		$B --mode burndown --api work --workers 256 --jobs 100000 --snapshot-every $snap --no-recovery >"$OUT/pebble-burndown-work-$tag.json"
	done
}

step_latency() {
	note "idle-worker latency probe, pebble, 64 single-API workers, 200 probe tasks/s"
	$B --mode burndown --api single --workers 64 --jobs 1000 --probe 4000 --probe-rate 200 --no-recovery >"$OUT/pebble-latency.json"
	note "idle-worker latency probe, memory store (no fsync)"
	$B --store memory:// --mode burndown --api single --workers 64 --jobs 1000 --probe 4000 --probe-rate 200 --no-recovery >"$OUT/memory-latency.json"
}

step_memory() {
	note "1M pending tasks, pebble"
	# Periodic snapshots off: this step is about the memory of pending tasks,
	# and a snapshot's buffer would count in the figures.
	$B --mode burndown --api batch --jobs 1000000 --probe -1 --snapshot-every -1 >"$OUT/pebble-1m.json"
}

step_recovery() {
	note "10M-event log on pebble in $REC_DIR (generated once, then reused)"
	# A snapshot every 1M events (the engine's default, spelled out). Generating
	# the 3.3M tasks takes about 30 s on 2 quiet cores and peaks near 3.8 GB RSS
	# (every completed task stays in memory until a restart or a compaction).
	$B --mode recovery --events 10000000 --batch 1000 --snapshot-every 1000000 --store "pebble://$REC_DIR" --keep --cpuprofile "$OUT/pebble-recovery-generate.prof" >"$OUT/pebble-recovery-10m.json"
}

step_peers() {
	note "peers: River, asynq, OmniQ on postgres, redis, pebble"
	(cd bench/peers && go run -mod=mod . --jobs 100000 --workers 2000 --json) >"$OUT/peers.json"
	go run ./bench/cmd/benchchart -in "$OUT/peers.json" -out bench/chart.svg | tee "$OUT/peers.txt"
	note "peers again, OmniQ without periodic snapshots"
	(cd bench/peers && go run -mod=mod . --jobs 100000 --workers 2000 --snapshot-every -1 --json) >"$OUT/peers-nosnap.json"
	go run ./bench/cmd/benchchart -in "$OUT/peers-nosnap.json" -out "$OUT/chart-nosnap.svg" | tee "$OUT/peers-nosnap.txt"
	# The chart: the first run, plus the second run's OmniQ rows (api "…-nosnap").
	go run ./bench/cmd/benchchart -in "$OUT/peers.json,$OUT/peers-nosnap.json" -out bench/chart.svg \
		-title "OmniQ and peers, burn-down of 100k no-op jobs, 2 shared cores" >/dev/null
}

step_nodes() {
	# One node, then three engines on one PostgreSQL log (each on a
	# connection pool of its own), continuous 20 s: the batch and single
	# APIs with the same producers and workers dealt over the nodes, then
	# 64 workers per node whose tasks each wait 20 ms (as on I/O). Three
	# rounds in turn (take the median). "Several nodes" in README.md.
	pg=${OMNIQ_TEST_POSTGRES:-postgres://root@127.0.0.1:5432/test}
	for round in 1 2 3; do
		for api in batch single io; do
			for n in 1 3; do
				case $api in
				batch) args=(--api batch) ;;
				single) args=(--api single --workers 256) ;;
				io) args=(--api single --workers $((64 * n)) --task-time 20ms) ;;
				esac
				note "postgres continuous, $api, $n node(s), round $round"
				$B --store "$pg" --mode continuous "${args[@]}" --duration 20s --probe -1 --no-recovery --nodes "$n" \
					>"$OUT/postgres-nodes$n-$api-r$round.json"
			done
		done
	done
}

steps=("$@")
[ ${#steps[@]} -eq 0 ] && steps=(e2e latency memory recovery peers)
for s in "${steps[@]}"; do "step_$s"; done
