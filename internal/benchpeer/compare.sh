#!/usr/bin/env bash
# compare.sh runs `troupe bench` against `troupe serve` and against franz-go's
# kfake (benchpeer) in the same run, with the same client settings (acks=all,
# idempotent, 6 partitions), interleaving the two brokers round by round, and
# prints the medians. Run it from the repository root:
#
#   internal/benchpeer/compare.sh [ROUNDS]        # default 3 measured rounds
#
# Environment:
#   SIZES        "size:records ..." (default "1024:500000 100:2000000")
#   TROUPE_ADDR  troupe serve address (default 127.0.0.1:9092)
#   PEER_ADDR    benchpeer address (default 127.0.0.1:19092)
#   PEER_ONLY=1  measure kfake only (no troupe serve)
#   KEEP=1       keep the JSON results and logs (their directory is printed)
#
# Each round: for each size, for each broker: bench produce into a fresh topic,
# bench consume all of it, delete the topic (so memory and disk use stay
# bounded). A warm-up run per broker at the first size comes first and is
# discarded: kfake's first run into a fresh heap was measured at half speed.
# Broker CPU per record comes from /proc/PID/stat of the broker process.
set -euo pipefail
ROUNDS=${1:-3}
SIZES=${SIZES:-"1024:500000 100:2000000"}
TROUPE_ADDR=${TROUPE_ADDR:-127.0.0.1:9092}
PEER_ADDR=${PEER_ADDR:-127.0.0.1:19092}

go build -o bin/troupe ./cmd/troupe
go build -o bin/benchpeer ./internal/benchpeer
OUT=$(mktemp -d)
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
	if [ -n "${KEEP:-}" ]; then echo "results kept in $OUT"; else rm -rf "$OUT"; fi
}
trap cleanup EXIT

declare -A ADDR PID
bin/benchpeer --listen "$PEER_ADDR" 2>"$OUT/peer.log" &
PID[kfake]=$!; ADDR[kfake]=$PEER_ADDR; PIDS+=("${PID[kfake]}")
TARGETS=(kfake)
if [ -z "${PEER_ONLY:-}" ]; then
	bin/troupe serve --listen "$TROUPE_ADDR" --data-dir "$OUT/data" --log-level warn 2>"$OUT/serve.log" &
	PID[troupe]=$!; ADDR[troupe]=$TROUPE_ADDR; PIDS+=("${PID[troupe]}")
	TARGETS=(troupe kfake)
fi
for t in "${TARGETS[@]}"; do
	for _ in $(seq 100); do
		bin/troupe topic list --brokers "${ADDR[$t]}" --timeout 1s >/dev/null 2>&1 && continue 2
		sleep 0.2
	done
	echo "$t did not come up on ${ADDR[$t]}" >&2; exit 1
done

# one <target> <size> <records> <topic> <label>: produce, consume, delete.
one() {
	local t=$1 size=$2 n=$3 topic=$4 label=$5 common=(--brokers "${ADDR[$1]}" --log-level warn)
	bin/troupe bench produce "${common[@]}" --topic "$topic" --records "$n" --size "$size" \
		--acks all --idempotent --partitions 6 --broker-pid "${PID[$t]}" --json 2>>"$OUT/progress.log" >>"$OUT/$label-produce-$size.jsonl"
	bin/troupe bench consume "${common[@]}" --topic "$topic" --records "$n" \
		--broker-pid "${PID[$t]}" --json 2>>"$OUT/progress.log" >>"$OUT/$label-consume-$size.jsonl"
	bin/troupe topic delete "${common[@]}" "$topic" >/dev/null
}

first=${SIZES%% *}
for t in "${TARGETS[@]}"; do one "$t" "${first%%:*}" "${first##*:}" "warmup-$t" "warmup-$t"; done
for r in $(seq "$ROUNDS"); do
	order=("${TARGETS[@]}")
	if (( r % 2 == 0 )); then order=($(printf '%s\n' "${TARGETS[@]}" | tac)); fi
	for spec in $SIZES; do
		for t in "${order[@]}"; do one "$t" "${spec%%:*}" "${spec##*:}" "bench-${spec%%:*}-r$r" "$t"; done
	done
done

median() { sort -g | awk '{v[NR]=$1} END {if (NR) print v[int((NR+1)/2)]; else print "-"}'; }
printf '%-7s %-8s %6s %12s %9s %9s %9s %9s %12s %12s\n' broker mode size rec/s MiB/s p50_ms p99_ms p999_ms broker_us/rec client_us/rec
for spec in $SIZES; do
	size=${spec%%:*}
	for mode in produce consume; do
		for t in "${TARGETS[@]}"; do
			f="$OUT/$t-$mode-$size.jsonl"
			m() { jq -r ".$1 // empty" "$f" | median; }
			printf '%-7s %-8s %6s %12.0f %9.1f %9.2f %9.2f %9.2f %12.2f %12.2f\n' "$t" "$mode" "$size" \
				"$(m records_per_sec)" "$(m mib_per_sec)" "$(m p50_ms)" "$(m p99_ms)" "$(m p999_ms)" \
				"$(m broker_cpu_us_per_record)" "$(m client_cpu_us_per_record)"
		done
		if [ -z "${PEER_ONLY:-}" ]; then
			a=$(jq -r .records_per_sec "$OUT/troupe-$mode-$size.jsonl" | median)
			b=$(jq -r .records_per_sec "$OUT/kfake-$mode-$size.jsonl" | median)
			awk -v a="$a" -v b="$b" -v m="$mode" -v s="$size" 'BEGIN {printf "troupe/kfake %s %s: %.2fx\n", m, s, a/b}'
		fi
	done
done
