#!/bin/bash
# bench/run.sh - `make bench`: steerdns side by side with Knot DNS, NSD and gdnsd on loopback,
# built on ../shared/bench/ (gen_zone.py, run-peers.sh, summarize.py; see its README.md).
# Not a test: it measures and reports, and every figure in one report comes from one run.
#
# Steps (STEPS, default all, in this order):
#   micro   Google Benchmark micro-benchmarks (build/bench/bench_query) on the 10k bench zone
#   peers   run-peers.sh: dnsperf UDP sweep, TCP, CPU per query at a fixed rate, latency
#           percentiles, RSS and ready time, for $PEERS and steerdns in one invocation
#   load    LOADONLY run with a $BIG_HOSTS-host zone: ready time and RSS vs $LOAD_PEERS
#   steer   10,000 failover record sets vs the same names as plain records, both steerdns, in
#           one run-peers.sh invocation (UDP sweep + CPU per query at a fixed rate): the cost
#           of steering on the query path (issue 4: within 5 % of the static zone)
#   reload  dnsperf against steerdns for $RELOAD_SECONDS s while the zone file changes and a
#           SIGHUP is sent every second; dnsperf must lose no query
#   control bench/control/control_bench.py (issue 5): 1,000-record change batches to INSYNC
#           (< 1 s), and 200 small batches/s through the API vs query latency (< 5 % slower);
#           its own report in $OUT/control/report.md. Knobs: CONTROL_ARGS (e.g. "--duration 10")
#   fleet   bench/fleet/fleet_bench.py (issue 7): 3-member etcd + 3 nodes; change propagation to
#           every node (p99 <= 1 s), health-consensus spread (<= 1 s), and one fleet node's QPS
#           vs a single node's on the bench zone (ratio ~1); $OUT/fleet/report.md.
#           Knobs: FLEET_ARGS (e.g. "--changes 500 --rounds 5")
# Then bench/report.py writes $OUT/report.md (targets of issue 2 with ratios) next to the raw
# output and summarize.py's tables.
#
# Knobs (environment): STEPS PEERS LOAD_PEERS BIG_HOSTS RELOAD_SECONDS RELOAD_CFG PORT BUILD
# STEERDNS PEERS_DIR RESULTS OUT RUNROOT, and run-peers.sh's own (DURATION SWEEP MODES TCP
# TCP_CFG EFF_QPS LAT_QPS LAT_DURATION THREADS_PINNED THREADS_UNPINNED ...), passed through.
# Quick check of the whole harness (a few minutes):
#   DURATION=5 SWEEP=10x100 LAT_DURATION=5 MODES=pinned BIG_HOSTS=200000 RELOAD_SECONDS=10 \
#     bench/run.sh
# All output goes to bench/results/<timestamp>/ (git-ignored) and runtime dirs to $RUNROOT.
set -u
REPO=$(cd "$(dirname "$0")/.." && pwd)
PY=/usr/bin/python3
PEERS_DIR=${PEERS_DIR:-$(cd "$REPO/../shared/bench" 2>/dev/null && pwd)}
BUILD=${BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$REPO/$BUILD ;; esac
RESULTS=${RESULTS:-$REPO/bench/results}
OUT=${OUT:-$RESULTS/$(date +%Y%m%d-%H%M%S)}
RUNROOT=${RUNROOT:-/tmp/steerdns-bench}
STEPS=${STEPS:-"micro peers load steer reload control fleet"}
PEERS=${PEERS:-"knot nsd gdnsd"}
LOAD_PEERS=${LOAD_PEERS:-"knot"}
BIG_HOSTS=${BIG_HOSTS:-1000000}
RELOAD_SECONDS=${RELOAD_SECONDS:-20}
RELOAD_CFG=${RELOAD_CFG:-10x100}  # dnsperf -c x -q during the reload check
PORT=${PORT:-5310}

die() { echo "bench/run.sh: $*" >&2; exit 1; }
log() { echo "[$(date +%H:%M:%S)] $*" | tee -a "$OUT/run.log" >&2; }

[ -n "$PEERS_DIR" ] && [ -x "$PEERS_DIR/run-peers.sh" ] ||
  die "peer harness not found: set PEERS_DIR to ../shared/bench (gen_zone.py, run-peers.sh)"
if [ -z "${STEERDNS:-}" ]; then
  for c in "$BUILD/steerdns" "$BUILD/src/daemon/steerdns"; do
    [ -x "$c" ] && STEERDNS=$c && break
  done
fi
[ -n "${STEERDNS:-}" ] && [ -x "$STEERDNS" ] || die "steerdns not built in $BUILD (make build)"
for t in dnsperf taskset dig; do
  command -v $t >/dev/null || die "$t missing (make bench installs it)"
done

mkdir -p "$OUT" "$RUNROOT"
DATA=$RESULTS/data
BIG=$RESULTS/data-big-$BIG_HOSTS
SERVE="$STEERDNS serve --listen 127.0.0.1:{PORT} --zone bench.test={ZONEFILE} --threads {THREADS}"
{
  echo "# bench/run.sh $(date -Is) on $(uname -r), $(nproc) CPUs"
  echo "# steerdns: $STEERDNS ($("$STEERDNS" --version 2>&1 | head -1));" \
    "git $(git -C "$REPO" describe --always --dirty 2>/dev/null)"
  echo "# STEPS='$STEPS' PEERS='$PEERS' LOAD_PEERS='$LOAD_PEERS' BIG_HOSTS=$BIG_HOSTS" \
    "RELOAD_SECONDS=$RELOAD_SECONDS RELOAD_CFG=$RELOAD_CFG"
  echo "# run-peers knobs: DURATION=${DURATION:-15} SWEEP='${SWEEP:-default}'" \
    "MODES='${MODES:-pinned unpinned}' EFF_QPS=${EFF_QPS:-100000} LAT_QPS=${LAT_QPS:-20000}"
} > "$OUT/settings.txt"
log "results in $OUT"

# The generated inputs are deterministic, so they are made once and reused.
if [ ! -s "$DATA/zone/bench.test.zone" ] || [ ! -s "$DATA/queries.txt" ]; then
  log "generating the 10k bench zone in $DATA"
  $PY "$PEERS_DIR/gen_zone.py" --out "$DATA" >> "$OUT/run.log" || die "gen_zone.py failed"
fi
need_big() {
  if [ ! -s "$BIG/zone/bench.test.zone" ]; then
    log "generating the $BIG_HOSTS-host zone in $BIG"
    $PY "$PEERS_DIR/gen_zone.py" --hosts "$BIG_HOSTS" --queries 1000 --out "$BIG" \
      >> "$OUT/run.log" ||
      die "gen_zone.py --hosts failed"
  fi
}

step_micro() {
  local b=$BUILD/bench/bench_query extra=()
  [ -x "$b" ] || { log "micro: $b not built (cmake -DSTEERDNS_BENCH=ON), skipped"; return; }
  if [ "${BIG_MICRO:-0}" = 1 ]; then need_big; extra=(--big_zone="$BIG/zone/bench.test.zone"); fi
  log "micro: $b"
  taskset -c 0 "$b" --zone="$DATA/zone/bench.test.zone" --queries="$DATA/queries.txt" \
    "${extra[@]}" \
    --benchmark_out="$OUT/micro.json" --benchmark_out_format=json > "$OUT/micro.txt" 2>&1 ||
    log "micro: bench_query failed (see micro.txt)"
}

step_peers() {
  log "peers: $PEERS + steerdns (run-peers.sh; ~4-5 min per server with the default knobs)"
  OUT="$OUT/peers" ZONEDIR="$DATA/zone" QUERIES="$DATA/queries.txt" RUNROOT="$RUNROOT/peers" \
    "$PEERS_DIR/run-peers.sh" $PEERS "custom:steerdns:$PORT:$SERVE" 2>> "$OUT/run.log"
  $PY "$PEERS_DIR/summarize.py" "$OUT/peers" > "$OUT/peers.md"
}

step_load() {
  need_big
  log "load: $BIG_HOSTS-host zone, $LOAD_PEERS + steerdns (LOADONLY)"
  LOADONLY=1 MODES=pinned READY_TIMEOUT=${READY_TIMEOUT:-300} OUT="$OUT/load" ZONEDIR="$BIG/zone" \
    QUERIES="$BIG/queries.txt" RUNROOT="$RUNROOT/load" \
    "$PEERS_DIR/run-peers.sh" $LOAD_PEERS "custom:steerdns:$PORT:$SERVE" 2>> "$OUT/run.log"
  $PY "$PEERS_DIR/summarize.py" "$OUT/load" > "$OUT/load.md"
}

step_steer() {
  local S=$RESULTS/data-steer port2=$((PORT + 1))
  $PY "$REPO/bench/steer/gen_steer.py" --out "$S" --bench-zone "$DATA/zone/bench.test.zone" \
    >> "$OUT/run.log" || die "gen_steer.py failed"
  log "steer: static vs steered (10,000 failover sets) steerdns, run-peers.sh"
  OUT="$OUT/steer" ZONEDIR="$DATA/zone" QUERIES="$S/queries.txt" RUNROOT="$RUNROOT/steer" \
    TCP=${STEER_TCP:-0} "$PEERS_DIR/run-peers.sh" \
    "custom:static:$PORT:$STEERDNS serve --config $S/static.yaml --listen 127.0.0.1:{PORT} --threads {THREADS}" \
    "custom:steered:$port2:$STEERDNS serve --config $S/steered.yaml --listen 127.0.0.1:{PORT} --threads {THREADS}" \
    2>> "$OUT/run.log"
  $PY "$PEERS_DIR/summarize.py" "$OUT/steer" > "$OUT/steer.md"
}

# Reload under load: steerdns pinned to core 0, dnsperf to core 1 (as run-peers.sh pins), the
# zone file rewritten with serial+1 (atomic rename) and SIGHUP sent every second.
step_reload() {
  local R=$RUNROOT/reload zf pid dp i n serial base_serial last="" lost c q f=$OUT/reload.txt
  rm -rf "$R"; mkdir -p "$R"
  zf=$R/bench.test.zone
  cp "$DATA/zone/bench.test.zone" "$zf"
  base_serial=$(grep -m1 -o 'SOA .*( *[0-9]*' "$zf" | grep -o '[0-9]*$')
  [ -n "$base_serial" ] || { log "reload: no SOA serial found in $zf"; return; }
  if ss -Hlnu "sport = :$PORT" | grep -q .; then log "reload: port $PORT busy, skipped"; return; fi
  taskset -c 0 "$STEERDNS" serve --listen "127.0.0.1:$PORT" --zone "bench.test=$zf" --threads 1 \
    > "$R/stdout" 2>&1 &
  pid=$!
  if [ "$($PY "$PEERS_DIR/benchutil.py" ready 127.0.0.1 "$PORT" h6999.bench.test A 30)" = timeout ]
  then
    log "reload: steerdns not ready; see $R/stdout"
    kill -TERM "$pid" 2>/dev/null; wait "$pid"; return
  fi
  c=${RELOAD_CFG%x*}; q=${RELOAD_CFG#*x}
  log "reload: dnsperf -c $c -q $q for ${RELOAD_SECONDS}s, SIGHUP every second (pid $pid)"
  timeout $((RELOAD_SECONDS + 30)) taskset -c 1 dnsperf -s 127.0.0.1 -p "$PORT" \
    -d "$DATA/queries.txt" \
    -l "$RELOAD_SECONDS" -c "$c" -q "$q" -t 2 > "$OUT/reload.dnsperf.txt" 2>&1 &
  dp=$!
  sleep 1
  i=0
  while kill -0 "$dp" 2>/dev/null && [ $i -lt $((RELOAD_SECONDS + 30)) ]; do
    i=$((i + 1))
    serial=$((base_serial + i))
    sed "0,/$base_serial/s//$serial/" "$DATA/zone/bench.test.zone" > "$zf.new" && mv "$zf.new" "$zf"
    kill -HUP "$pid" 2>/dev/null || break
    last=$serial
    sleep 1
  done
  wait "$dp"
  sleep 1  # let the last reload finish before asking for the serial
  local served alive=yes reloads
  # The serial served at the end shows that the reloads took effect (dig: dnsutils).
  served=$(dig +short +time=2 +tries=2 @127.0.0.1 -p "$PORT" bench.test SOA 2>&1 | awk '{print $3}')
  kill -0 "$pid" 2>/dev/null || alive=no
  kill -TERM "$pid" 2>/dev/null
  for n in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  cp "$R/stdout" "$OUT/reload.server-stdout.txt"
  reloads=$(grep -c 'reloaded' "$R/stdout")
  lost=$($PY "$PEERS_DIR/benchutil.py" dnsperf "$OUT/reload.dnsperf.txt" | sed -n 's/^lost=//p')
  {
    echo "sighups=$i reloads_logged=$reloads last_serial=$last served_soa='$served'" \
      "alive_after=$alive"
    $PY "$PEERS_DIR/benchutil.py" dnsperf "$OUT/reload.dnsperf.txt" | tr '\n' ' '; echo
    if [ "${lost:-x}" = 0 ] && [ "$alive" = yes ] && [ "$reloads" -ge $((i - 1)) ] &&
       [ "$served" = "$last" ]; then
      echo "RESULT=PASS"
    else
      echo "RESULT=FAIL (lost=${lost:-?}, reloads $reloads of $i, serial served: $served)"
    fi
  } > "$f"
  log "reload: $(tail -1 "$f"); $(head -1 "$f")"
}

# Control plane (issue 5): the script starts its own steerdns with a SQLite store on disk, pinned
# like the other steps (server core 0, dnsperf and the API clients core 1).
step_control() {
  log "control: change batches and API writes vs queries (bench/control/control_bench.py)"
  # shellcheck disable=SC2086  # CONTROL_ARGS is a list of flags
  $PY "$REPO/bench/control/control_bench.py" --steerdns "$STEERDNS" --out "$OUT/control" \
    --port "$PORT" ${CONTROL_ARGS:-} > "$OUT/control.txt" 2>> "$OUT/run.log" ||
    log "control: control_bench.py failed (see run.log)"
  log "control: report in $OUT/control/report.md"
}

# Fleet mode (issue 7): etcd members and nodes are started by the script; the measured node
# and the single node on core 0, dnsperf on core 1.
step_fleet() {
  log "fleet: propagation, consensus and per-node QPS (bench/fleet/fleet_bench.py)"
  # shellcheck disable=SC2086  # FLEET_ARGS is a list of flags
  $PY "$REPO/bench/fleet/fleet_bench.py" --steerdns "$STEERDNS" --out "$OUT/fleet" \
    --zone "$DATA/zone/bench.test.zone" --queries "$DATA/queries.txt" ${FLEET_ARGS:-} \
    > "$OUT/fleet.txt" 2>> "$OUT/run.log" || log "fleet: fleet_bench.py failed (see run.log)"
  log "fleet: report in $OUT/fleet/report.md"
}

for s in $STEPS; do
  declare -F "step_$s" >/dev/null ||
    die "unknown step '$s' (micro peers load steer reload control fleet)"
  "step_$s"
done
$PY "$REPO/bench/report.py" "$OUT" > "$OUT/report.md"
log "report: $OUT/report.md"
cat "$OUT/report.md"
