#!/usr/bin/env bash
# Time-to-verdict benchmark (a report, not a test): runs the air-gapped,
# accelerated conformance check N times and prints min/median/max per phase,
# each alert's ratio to its floor (2 x scrape + evaluation + for + group_wait,
# from the alert checks' details), and the harness's peak RSS.
#
#   scripts/bench-check.sh [RUNS]      (default 3; needs Docker, Debian's
#                                       prometheus + prometheus-alertmanager)
#   BROKEN=CASE scripts/bench-check.sh [RUNS]
#       the same on a copy of the stack with one broken line; each run must
#       exit 1, and the figures are its time to the first failure and to the
#       failing verdict, with the root cause and what it blocked. CASE:
#         scrape (or 1)      `metrics_path: /metric`: the app's scrape target is down
#         alertmanager-port  Prometheus notifies alertmanager:9095 (nobody listens)
#         promtail-nothing   Promtail selects no container (needs Loki and Promtail
#                            images: pass them in EXTRA, e.g.
#                            EXTRA="--services app,prometheus,alertmanager,loki,promtail
#                                   --image loki=… --image promtail=…")
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${1:-3}"
cargo build --quiet --release -p obs-harness -p reference-app
export OBS_APP_BIN="$PWD/target/release/reference-app" OBS_HARNESS_BIN="$PWD/target/release/obs-harness"
out=target/bench-check${BROKEN:+-broken}
rm -rf "$out"; mkdir -p "$out"
stack=stack want=0
if [ -n "${BROKEN:-}" ]; then
  stack="$out/broken-stack"; want=1
  cp -r stack "$stack"
  case "$BROKEN" in
    1|scrape) sed -i 's#metrics_path: /metrics#metrics_path: /metric#' "$stack/prometheus/prometheus.yml" ;;
    alertmanager-port) sed -i 's#"alertmanager:9093"#"alertmanager:9095"#' "$stack/prometheus/prometheus.yml" ;;
    promtail-nothing) sed -i 's#values: \["logging=promtail"\]#values: ["logging=nobody"]#' "$stack/promtail/config.yaml" ;;
    *) echo "unknown BROKEN case $BROKEN (scrape, alertmanager-port, promtail-nothing)" >&2; exit 2 ;;
  esac
fi
for i in $(seq 1 "$runs"); do
  echo "run $i/$runs" >&2
  code=0
  /usr/bin/time -f '%M' -o "$out/rss-$i.txt" \
    target/release/obs-harness check --stack "$stack" --images airgapped --accelerated ${EXTRA:-} --report-dir "$out/run-$i" \
    >"$out/run-$i.log" 2>&1 || code=$?
  [ "$code" = "$want" ] || { echo "run $i exited $code (want $want); see $out/run-$i.log" >&2; tail -n 30 "$out/run-$i.log" >&2; exit 1; }
done
python3 - "$out" "$runs" <<'PY'
import json, re, statistics, sys
out, runs = sys.argv[1], int(sys.argv[2])
phases, ratios, rss, totals = {}, {}, [], []
for i in range(1, runs + 1):
    r = json.load(open(f"{out}/run-{i}/report.json"))
    for p in r["phases"]:
        phases.setdefault(p["phase"], []).append(p["ms"] / 1000)
    # Phases overlap (the ruler runs beside the alerts): the verdict is the last phase's end.
    totals.append(max(p.get("started_ms", 0) + p["ms"] for p in r["phases"]) / 1000)
    for c in r["checks"]:
        m = re.search(r"webhook (\d+)ms \(floor (\d+)ms, ratio ([0-9.]+)\)", c.get("detail", ""))
        if m:
            ratios.setdefault(c["name"], []).append(float(m.group(3)))
    rss.append(int(open(f"{out}/rss-{i}.txt").read().split()[-1]) / 1024)
print(f"time to verdict over {runs} run(s), accelerated x15, air-gapped set (seconds):")
print(f"  {'phase':<10} {'min':>7} {'median':>7} {'max':>7}")
for name, v in phases.items():
    print(f"  {name:<10} {min(v):7.1f} {statistics.median(v):7.1f} {max(v):7.1f}")
print(f"  {'total':<10} {min(totals):7.1f} {statistics.median(totals):7.1f} {max(totals):7.1f}")
print("alert path, cause to webhook, ratio to floor (target <= 1.5):")
for name, v in ratios.items():
    print(f"  {name:<24} min {min(v):.2f}  median {statistics.median(v):.2f}  max {max(v):.2f}")
print(f"harness peak RSS: max {max(rss):.0f} MiB (target < 100 MiB)")
firsts = []
for i in range(1, runs + 1):
    r = json.load(open(f"{out}/run-{i}/report.json"))
    ends = [c.get("started_ms", 0) + c["duration_ms"] for c in r["checks"] if c["verdict"] == "failed" and c.get("started_ms") is not None]
    if ends:
        firsts.append(min(ends) / 1000)
if firsts:
    print(f"time to the first failure: min {min(firsts):.1f}  median {statistics.median(firsts):.1f}  max {max(firsts):.1f} s")
for i in range(1, runs + 1):
    r = json.load(open(f"{out}/run-{i}/report.json"))
    failed = [c["name"] for c in r["checks"] if c["verdict"] == "failed"]
    blocked = [c["name"] for c in r["checks"] if c["verdict"] == "not_run" and c.get("reason", "").startswith("blocked by")]
    if failed:
        print(f"run {i}: failed {failed}; {len(blocked)} check(s) blocked by them")
PY
