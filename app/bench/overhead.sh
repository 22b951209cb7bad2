#!/usr/bin/env bash
# Trace-export overhead of reference-app: a benchmark, not a timed test.
#
#   app/bench/overhead.sh
#
# What it does
#   1. Builds reference-app and the `otlp_sink` example (app/examples/otlp_sink.rs,
#      a minimal OTLP/gRPC trace receiver) in release.
#   2. Starts the sink on 127.0.0.1 (free port) and two app instances on random
#      free ports:
#        instrumented    OTEL_TRACES_EXPORTER=otlp, exporting to the sink
#                        (batch span processor with the SDK defaults / OTEL_BSP_* env)
#        uninstrumented  OTEL_TRACES_EXPORTER=none (spans are still created for the
#                        trace ids in logs and exemplars, but never exported)
#      Both log at the same level (BENCH_RUST_LOG, default `info`, the app's
#      default) to /dev/null.
#   3. Warms each instance up, then runs wrk against GET /items/1 on each, in
#      ROUNDS rounds whose order alternates (A B, then B A, ...) to cancel drift.
#   4. Prints requests/s of each side per round and overall, the ratio
#      instrumented / uninstrumented, the target (ratio >= TARGET) and how many
#      spans the sink received against the requests the instrumented side served.
#   5. Stops everything it started (trap), also on Ctrl-C or errors.
#
# Exit status: 0 when the benchmark ran, whatever the ratio (missing the target
# prints MISSED but is not an error); 2 on setup errors (wrk missing, build
# failure, an instance that does not start, wrk failing or printing no rate).
#
# Knobs (environment): DURATION=10s THREADS=2 CONNECTIONS=32 ROUNDS=2
#   WARMUP=2s TARGET=0.85 URL_PATH=/items/1 BENCH_RUST_LOG=info SKIP_BUILD=1
#   CARGO_TARGET_DIR (where the release binaries are, else `cargo metadata`'s).
#
# Caveats
#   * wrk, both apps and the sink share one machine: on few cores the figures
#     measure CPU contention as much as the exporter (the sink's own CPU is
#     charged to the instrumented side). Compare runs on the same machine only.
#   * reference-app binds 0.0.0.0 (its bind address is not configurable); the
#     benchmark only talks to it over 127.0.0.1, and the sink binds 127.0.0.1.
#   * Under saturation the batch processor's queue (2048 spans by default) can
#     fill up and drop spans; the sink's span count below shows whether it did.

set -euo pipefail
cd "$(dirname "$0")/../.."

DURATION="${DURATION:-10s}"
THREADS="${THREADS:-2}"
CONNECTIONS="${CONNECTIONS:-32}"
ROUNDS="${ROUNDS:-2}"
WARMUP="${WARMUP:-2s}"
TARGET="${TARGET:-0.85}"
URL_PATH="${URL_PATH:-/items/1}"
BENCH_RUST_LOG="${BENCH_RUST_LOG:-info}"

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'overhead.sh: setup error: %s\n' "$*" >&2; exit 2; }

command -v wrk >/dev/null || die "wrk not found. Install it: Debian/Ubuntu \`sudo apt-get install wrk\`, macOS \`brew install wrk\`."
command -v cargo >/dev/null || die "cargo not found (https://rustup.rs)"
[[ "$ROUNDS" =~ ^[1-9][0-9]*$ ]] || die "ROUNDS must be a positive integer, got '$ROUNDS'"

# ---------------------------------------------------------------------------
# Build
if [ -z "${SKIP_BUILD:-}" ]; then
  log "building reference-app and the otlp_sink example (release)"
  cargo build --release --locked -p reference-app --bin reference-app --example otlp_sink \
    || die "cargo build failed"
fi
target_dir="${CARGO_TARGET_DIR:-$(cargo metadata --no-deps --format-version 1 \
  | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')}"
APP="$target_dir/release/reference-app"
SINK="$target_dir/release/examples/otlp_sink"
[ -x "$APP" ] || die "$APP not found (build first, or unset SKIP_BUILD)"
[ -x "$SINK" ] || die "$SINK not found (build first, or unset SKIP_BUILD)"

# ---------------------------------------------------------------------------
# Processes we start, stopped on exit
work="$(mktemp -d -t overhead.XXXXXX)"
pids=()
stop() { # stop PID: SIGTERM, then SIGKILL after 5 s
  local pid="$1"
  kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
cleanup() {
  local pid
  for pid in "${pids[@]}"; do stop "$pid"; done
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------------------
# OTLP sink on 127.0.0.1, port chosen by the kernel
"$SINK" 127.0.0.1:0 >"$work/sink.out" 2>"$work/sink.err" &
SINK_PID=$!
pids+=("$SINK_PID")
sink_addr=""
for _ in $(seq 1 100); do
  sink_addr="$(sed -n 's/^listening //p' "$work/sink.out")"
  [ -n "$sink_addr" ] && break
  kill -0 "$SINK_PID" 2>/dev/null || die "otlp_sink exited: $(cat "$work/sink.err")"
  sleep 0.1
done
[ -n "$sink_addr" ] || die "otlp_sink did not report its address"

# ---------------------------------------------------------------------------
# App instances on random free ports (below Linux's ephemeral range, so no
# clash with outgoing connections; retried if the port was taken meanwhile).
port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# start_app NAME VAR=VALUE...: starts an instance, sets PORT_<NAME> and PID_<NAME>.
start_app() {
  local name="$1"; shift
  local attempt port pid
  for attempt in 1 2 3 4 5; do
    port=$(( 20000 + RANDOM % 12000 ))
    port_in_use "$port" && continue
    env PORT="$port" RUST_LOG="$BENCH_RUST_LOG" OTEL_SERVICE_NAME="bench-$name" "$@" \
      "$APP" >/dev/null 2>"$work/$name.err" &
    pid=$!
    for _ in $(seq 1 100); do
      kill -0 "$pid" 2>/dev/null || break
      if PORT="$port" "$APP" healthcheck 2>/dev/null; then
        pids+=("$pid")
        printf -v "PORT_$name" '%s' "$port"
        printf -v "PID_$name" '%s' "$pid"
        log "$name: pid $pid on port $port"
        return 0
      fi
      sleep 0.1
    done
    stop "$pid"
    grep -q 'cannot listen' "$work/$name.err" && continue # port taken meanwhile: retry
    die "$name instance did not become healthy on port $port: $(tail -n 5 "$work/$name.err")"
  done
  die "$name instance: no free port after 5 attempts"
}

start_app instrumented OTEL_TRACES_EXPORTER=otlp OTEL_EXPORTER_OTLP_ENDPOINT="http://$sink_addr"
start_app plain OTEL_TRACES_EXPORTER=none
log "otlp sink: $sink_addr (pid $SINK_PID)"

# ---------------------------------------------------------------------------
# wrk
# run_wrk NAME DURATION: prints "REQ_PER_SEC REQUESTS P99" for one run.
run_wrk() {
  local name="$1" duration="$2" port out rps reqs p99 errors
  port="PORT_$name"; port="${!port}"
  out="$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"$duration" --latency "http://127.0.0.1:$port$URL_PATH" 2>&1)" \
    || die "wrk against $name failed: $out"
  rps="$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")"
  reqs="$(awk '/requests in/ {print $1}' <<<"$out")"
  p99="$(awk '$1 == "99%" {print $2}' <<<"$out")"
  [ -n "$rps" ] && [ -n "$reqs" ] || die "no Requests/sec in wrk output for $name: $out"
  errors="$(grep -E 'Non-2xx|Socket errors' <<<"$out" || true)"
  [ -z "$errors" ] || printf '    warning (%s): %s\n' "$name" "$errors" >&2
  echo "$rps $reqs ${p99:-?}"
}

log "warm-up: ${WARMUP} per instance"
res="$(run_wrk instrumented "$WARMUP")" || exit 2
read -r _ warm_reqs _ <<<"$res"
run_wrk plain "$WARMUP" >/dev/null || exit 2

printf '\nreference-app trace-export overhead: wrk -t%s -c%s -d%s http://127.0.0.1:PORT%s, %s round(s), %s CPU(s)\n' \
  "$THREADS" "$CONNECTIONS" "$DURATION" "$URL_PATH" "$ROUNDS" "$(nproc 2>/dev/null || echo '?')"
printf '%-7s %-16s %14s %12s %10s\n' round side requests/s requests p99
declare -A sum_rps=([instrumented]=0 [plain]=0) sum_reqs=([instrumented]=0 [plain]=0)
for round in $(seq 1 "$ROUNDS"); do
  if (( round % 2 == 1 )); then order=(instrumented plain); else order=(plain instrumented); fi
  for side in "${order[@]}"; do
    res="$(run_wrk "$side" "$DURATION")" || exit 2 # die inside $(...) only leaves the subshell
    read -r rps reqs p99 <<<"$res"
    label="$side"; [ "$side" = plain ] && label="uninstrumented"
    printf '%-7s %-16s %14s %12s %10s\n' "$round" "$label" "$rps" "$reqs" "$p99"
    sum_rps[$side]="$(awk -v a="${sum_rps[$side]}" -v b="$rps" 'BEGIN {printf "%.2f", a + b}')"
    sum_reqs[$side]=$(( ${sum_reqs[$side]} + reqs ))
  done
done

mean_i="$(awk -v s="${sum_rps[instrumented]}" -v n="$ROUNDS" 'BEGIN {printf "%.2f", s / n}')"
mean_p="$(awk -v s="${sum_rps[plain]}" -v n="$ROUNDS" 'BEGIN {printf "%.2f", s / n}')"
ratio="$(awk -v i="$mean_i" -v p="$mean_p" 'BEGIN {printf "%.3f", (p > 0 ? i / p : 0)}')"
met="$(awk -v r="$ratio" -v t="$TARGET" 'BEGIN {print (r >= t ? "MET" : "MISSED")}')"

# Flush and count exported spans: stop the instrumented app (its shutdown
# flushes the batch processor), then the sink, which prints its totals.
stop "$PID_instrumented"
stop "$SINK_PID"
sink_totals="$(sed -n 's/^received //p' "$work/sink.out")"
served=$(( ${sum_reqs[instrumented]} + warm_reqs ))
# Spans named after the request route are the app's request spans; any other
# name is a span the app exported besides them.
read -r request_spans other_spans < <(awk '
  /^span / { n = $2; if ($0 ~ /"(GET|POST|PUT|DELETE|PATCH|HEAD|OPTIONS) [^"]*"$/) r += n; else o += n }
  END { printf "%d %d\n", r, o }' "$work/sink.out")

printf '\n%-30s %12s req/s\n' "instrumented (otlp), mean" "$mean_i"
printf '%-30s %12s req/s\n' "uninstrumented (none), mean" "$mean_p"
printf '%-30s %12s\n' "ratio instrumented/plain" "$ratio"
printf '%-30s %12s  -> %s\n' "target" ">= $TARGET" "$met"
printf '\n%-30s %s\n' "otlp sink received" "${sink_totals:-nothing (the sink printed no totals)}"
printf '%-30s %s (wrk completed %s requests on the instrumented side, warm-up included;\n%-30s  the spans also cover readiness probes and requests in flight when wrk stopped)\n' \
  "  request spans" "$request_spans" "$served" ""
printf '%-30s %s\n' "  other spans" "$other_spans"
if (( other_spans > 0 )); then
  echo "  most frequent span names (count, scope, name):"
  grep '^span ' "$work/sink.out" | head -n 8 | sed 's/^span /    /'
fi
if [ "$met" = MISSED ]; then
  echo "note: target missed; this is reported, not an error (exit 0)."
fi
exit 0
