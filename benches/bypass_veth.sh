#!/usr/bin/env bash
# `live --bypass` on a veth pair (issue 17): a workload sent at tcpreplay's top speed, read by
# `hellowatch live` with and without --bypass. Root only; everything happens in two network
# namespaces this script creates and deletes.
#
#   benches/bypass_veth.sh HELLOWATCH_BINARY WORKLOAD.pcap [WORKLOAD.pcap...]
#
# HELLOWATCH_BINARY must be built with `--features bypass`. The workloads of docs/performance.md
# are the shared benchmark generator's (run it into a temporary directory; never copy it in):
#   python3 ../shared/bench/gen_bench_pcap.py gen --templates ../shared/bench/tls_templates.json \
#     --out bench-20k.pcap --flows 20000 --clients 1000 --servers 100 --concurrency 500 --seed 1
#   ... the same with --flows 2000 --bulk-scale 50 --out bench-bulk50.pcap
# Output: one line per run: workload, mode, packets sent, rate tcpreplay reached (pps), packets
# delivered to user space (read), kernel drops, queue drops, packets and bytes the bypass
# dropped in the kernel, connections bypassed, the sensor's CPU seconds (user + system, all
# threads, from start to the end of the burst) per million packets sent, and whether the
# census (clients and totals, packet times aside) equals `hellowatch replay` of the same file.
set -euo pipefail
HW=$(readlink -f "$1")
shift
NC=hwbyp-c NS=hwbyp-s IC=hwbypc IS=hwbyps
DIR=$(mktemp -d)
cleanup() {
  ip netns del "$NC" 2>/dev/null || true
  ip netns del "$NS" 2>/dev/null || true
  [ -n "${KEEP:-}" ] || rm -rf "$DIR"
}
trap cleanup EXIT
ip netns del "$NC" 2>/dev/null || true
ip netns del "$NS" 2>/dev/null || true
ip netns add "$NC"
ip netns add "$NS"
ip link add "$IC" netns "$NC" type veth peer name "$IS" netns "$NS"
ip -n "$NC" link set "$IC" mtu 9000 up
ip -n "$NS" link set "$IS" mtu 9000 up
ip -n "$NC" link set lo up
ip -n "$NS" link set lo up
TICK=$(getconf CLK_TCK)

wait_line() { # FILE TEXT: until the capture says it is ready (20 s at most)
  for _ in $(seq 200); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
  echo "capture did not start: $(cat "$1")" >&2; exit 1
}

cpu_ticks() { # PID: utime + stime of the whole process (all threads), in clock ticks
  awk '{print $14 + $15}' "/proc/$1/stat"
}

run() { # PCAP MODE REPLAY_JSON
  local pcap=$1 mode=$2 replay=$3 extra=()
  [ "$mode" = bypass ] && extra=(--bypass)
  ip netns exec "$NC" "$HW" live -i "$IC" -f tcp --no-listen --format json \
    --output "$DIR/r.json" --workers 1 "${extra[@]}" 2>"$DIR/hw.err" &
  local pid=$!
  wait_line "$DIR/hw.err" "capturing on"
  local t0
  t0=$(cpu_ticks "$pid")
  ip netns exec "$NS" tcpreplay --topspeed -i "$IS" "$pcap" >"$DIR/replay.out" 2>&1
  # Until the sensor has read what the kernel holds (its CPU time stops growing).
  local last=-1 now
  for _ in $(seq 100); do
    sleep 0.5
    now=$(cpu_ticks "$pid")
    [ "$now" = "$last" ] && break
    last=$now
  done
  local t1
  t1=$(cpu_ticks "$pid")
  kill -TERM "$pid"; wait "$pid" || true
  local pps sent
  pps=$(grep -o '[0-9.]* pps' "$DIR/replay.out" | head -1 | cut -d' ' -f1)
  sent=$(grep -o 'Actual: [0-9]* packets' "$DIR/replay.out" | awk '{print $2}')
  python3 - "$DIR/r.json" "$replay" "$(basename "$pcap")" "$mode" "$sent" "${pps%.*}" \
    "$(( t1 - t0 ))" "$TICK" <<'EOF'
import json, sys
r, want = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
name, mode, sent, pps, ticks, hz = sys.argv[3:9]
c, k = r["input"]["capture"], r["coverage"]
def strip(v):  # packet times differ by nature (kernel timestamps against the file's)
    if isinstance(v, dict):
        return {a: strip(b) for a, b in v.items() if not a.endswith("_seen")}
    return v
same = strip(r["clients"]) == strip(want["clients"]) and strip(r["totals"]) == strip(want["totals"])
cpu = int(ticks) / int(hz)
print(f'{name:22} {mode:7} sent={sent} reached_pps={pps} read={r["input"]["packets"]} '
      f'kernel_drops={c["dropped"]} queue_drops={k["queue_drops"]} '
      f'bypassed={k.get("bypass_packets", 0)} bypassed_bytes={k.get("bypass_bytes", 0)} '
      f'bypass_flows={k.get("bypass_flows", 0)} cpu_s={cpu:.2f} '
      f'cpu_s_per_Mpkt={cpu / int(sent) * 1e6:.2f} census_equal={same}')
EOF
}

for pcap in "$@"; do
  pcap=$(readlink -f "$pcap")
  "$HW" replay --format json --output "$DIR/replay.json" "$pcap"
  run "$pcap" plain "$DIR/replay.json"
  run "$pcap" bypass "$DIR/replay.json"
  [ -z "${KEEP:-}" ] || cp "$DIR/r.json" "$DIR/replay.json" "$KEEP/"
done
