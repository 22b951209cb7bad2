#!/usr/bin/env bash
# Soak (a report, not a test): runs the air-gapped, accelerated live check N
# times in a row (release build, as scripts/bench-check.sh) and prints, per
# run, its exit code, checks passed/failed/not run, the wall time, the
# harness's peak RSS (/usr/bin/time -f %M) and its leaks: anything Docker
# still holds with that run's owner label (obs-harness.owner=<pid>:…:
# containers, networks, volumes) and any obs-harness-<pid>-* temporary
# directory left. Then: passes, failures by check name, leaks in all, RSS of
# the first and the last run, and the build cache after each run (it must not
# grow: images are reused, not rebuilt).
#
#   scripts/soak.sh [N]        (default 20; needs Docker, Debian's
#                               prometheus + prometheus-alertmanager)
#   EXTRA="--services app,prometheus,alertmanager,loki,promtail
#          --image loki=… --image promtail=…" scripts/soak.sh [N]
#                              (with Loki and Promtail, where their images exist)
# Exit status: 0 when every run passed with no leak, else 1.
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${1:-20}"
cargo build --quiet --release -p obs-harness -p reference-app
export OBS_APP_BIN="$PWD/target/release/reference-app" OBS_HARNESS_BIN="$PWD/target/release/obs-harness"
unset OBS_STACK_STATE GITHUB_ACTIONS
out=target/soak${EXTRA:+-extra}
rm -rf "$out"; mkdir -p "$out"
tmp="${TMPDIR:-/tmp}"

leaks_of() { # pid -> one line per leftover
  local pid=$1
  for kind in container network volume; do
    case $kind in
      container) docker ps -a --format '{{.ID}} {{.Label "obs-harness.owner"}}' ;;
      network) docker network ls --format '{{.ID}} {{.Label "obs-harness.owner"}}' ;;
      volume) docker volume ls --format '{{.Name}} {{.Label "obs-harness.owner"}}' ;;
    esac | awk -v p="$pid:" -v k="$kind" 'index($2, p) == 1 { print k, $1 }'
  done
  ls -d "$tmp"/obs-harness-"$pid"-* 2>/dev/null | sed 's/^/temp dir /' || true
}

build_cache() {
  docker system df --format '{{.Type}}\t{{.Size}}' | awk -F'\t' '$1 == "Build Cache" { print $2 }'
}

printf '%-5s %-5s %-22s %9s %12s %6s %12s\n' run exit "checks (pass/fail/nr)" "wall s" "peak RSS MB" leaks "build cache" | tee "$out/summary.txt"
for i in $(seq 1 "$runs"); do
  start=$(date +%s.%N)
  code=0
  /usr/bin/time -f '%M' -o "$out/rss-$i.txt" \
    target/release/obs-harness check --images airgapped --accelerated ${EXTRA:-} --report-dir "$out/run-$i" \
    >"$out/run-$i.log" 2>&1 &
  tpid=$!
  pid=""
  for _ in $(seq 1 200); do
    pid=$(pgrep -P "$tpid" -x obs-harness || true)
    [ -n "$pid" ] && break
    sleep 0.05
  done
  wait "$tpid" || code=$?
  wall=$(echo "$(date +%s.%N) - $start" | bc)
  leaks=$( [ -n "$pid" ] && leaks_of "$pid" || echo "unknown pid")
  nleaks=$(printf '%s' "$leaks" | grep -c . || true)
  [ -n "$leaks" ] && printf '%s\n' "$leaks" >"$out/leaks-$i.txt"
  counts=$(python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))
v = [c["verdict"] for c in r["checks"]]
print("/".join(str(v.count(k)) for k in ("passed", "failed", "not_run")))
' "$out/run-$i/report.json" 2>/dev/null || echo "no report")
  rss=$(awk 'END { printf "%.1f", $1 / 1024 }' "$out/rss-$i.txt")
  printf '%-5s %-5s %-22s %9.1f %12s %6s %12s\n' "$i" "$code" "$counts" "$wall" "$rss" "$nleaks" "$(build_cache)" | tee -a "$out/summary.txt"
done
python3 - "$out" "$runs" <<'PY' | tee -a "$out/summary.txt"
import collections, json, os, sys
out, runs = sys.argv[1], int(sys.argv[2])
failures = collections.Counter()
passes, leaks, rss = 0, 0, []
for i in range(1, runs + 1):
    try:
        r = json.load(open(f"{out}/run-{i}/report.json"))
    except (OSError, ValueError):
        failures["(no report.json)"] += 1
        continue
    failed = [c["name"] for c in r["checks"] if c["verdict"] == "failed"]
    failures.update(failed)
    passes += not failed and r.get("complete", False)
    rss.append(int(open(f"{out}/rss-{i}.txt").read().split()[-1]) / 1024)
    if os.path.exists(f"{out}/leaks-{i}.txt"):
        leaks += sum(1 for l in open(f"{out}/leaks-{i}.txt") if l.strip())
print(f"\n{passes}/{runs} run(s) passed; leaks in all: {leaks}")
print("failures by check:" + ("" if failures else " none"))
for name, n in failures.most_common():
    print(f"  {n:>3} x {name}")
if rss:
    print(f"peak RSS: first run {rss[0]:.1f} MB, last run {rss[-1]:.1f} MB, max {max(rss):.1f} MB, min {min(rss):.1f} MB")
sys.exit(0 if passes == runs and leaks == 0 else 1)
PY
