#!/usr/bin/env bash
# Live capture rate on a veth pair (issue 16): the highest tcpreplay rate at which nothing is
# dropped, for `hellowatch live` with 1 and 2 capture threads and for tcpdump, and the drops of
# a half-second stall (SIGSTOP) of the capture process at top speed. Root only; everything
# happens in two network namespaces this script creates and deletes.
#
#   benches/live_veth.sh HELLOWATCH_BINARY WORKLOAD.pcap [RATES...]
#
# RATES are tcpreplay packet rates (`--pps`) or `top` (`--topspeed`); default: 100000 150000
# 200000 250000 300000 top. The workload used in docs/live.md is the shared benchmark
# generator's 20,000-handshake capture (577,036 packets, 340 MB of frames):
#   python3 ../shared/bench/gen_bench_pcap.py gen --templates ../shared/bench/tls_templates.json \
#     --out bench-20k.pcap --flows 20000 --clients 1000 --servers 100 --concurrency 500 --seed 1
# Output: one line per run: tool, capture threads, rate asked, rate tcpreplay reached (pps),
# packets sent, packets the capture read, kernel drops, hellowatch queue drops.
set -euo pipefail
HW=$(readlink -f "$1")
PCAP=$(readlink -f "$2")
shift 2
RATES=("$@")
[ ${#RATES[@]} -gt 0 ] || RATES=(100000 150000 200000 250000 300000 top)
NC=hwbench-c NS=hwbench-s IC=hwbc IS=hwbs
DIR=$(mktemp -d)
cleanup() {
  ip netns del "$NC" 2>/dev/null || true
  ip netns del "$NS" 2>/dev/null || true
  rm -rf "$DIR"
}
trap cleanup EXIT
cleanup; DIR=$(mktemp -d)
ip netns add "$NC"
ip netns add "$NS"
ip link add "$IC" netns "$NC" type veth peer name "$IS" netns "$NS"
ip -n "$NC" link set "$IC" up
ip -n "$NS" link set "$IS" up
ip -n "$NC" link set lo up
ip -n "$NS" link set lo up

wait_line() { # FILE TEXT: until the capture says it is ready (20 s at most)
  for _ in $(seq 200); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
  echo "capture did not start: $(cat "$1")" >&2; exit 1
}

# send RATE [stall PID]: tcpreplay from the server's end; prints "reached_pps sent".
send() {
  local rate=$1 stall=${2:-}
  local how=(--topspeed)
  [ "$rate" = top ] || how=(--pps "$rate")
  ip netns exec "$NS" tcpreplay "${how[@]}" -i "$IS" "$PCAP" >"$DIR/replay.out" 2>&1 &
  local tr=$!
  if [ -n "$stall" ]; then
    sleep 0.5; kill -STOP "$stall"; sleep 0.5; kill -CONT "$stall"
  fi
  wait "$tr"
  local pps sent
  pps=$(grep -o '[0-9.]* pps' "$DIR/replay.out" | head -1 | cut -d' ' -f1)
  sent=$(grep -o 'Actual: [0-9]* packets' "$DIR/replay.out" | awk '{print $2}')
  echo "${pps%.*} $sent"
}

run_hw() { # THREADS RATE [stall]
  local threads=$1 rate=$2 stall=${3:-}
  ip netns exec "$NC" "$HW" live -i "$IC" -f tcp --no-listen --format json \
    --output "$DIR/r.json" --capture-threads "$threads" 2>"$DIR/hw.err" &
  local pid=$!
  wait_line "$DIR/hw.err" "capturing on"
  local s
  s=$(send "$rate" "${stall:+$pid}")
  sleep 1
  kill -TERM "$pid"; wait "$pid" || true
  python3 - "$DIR/r.json" "hellowatch" "$threads" "$rate${stall:+ +stall}" "$s" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
pps, sent = sys.argv[5].split()
c = r["input"]["capture"]
print(f'{sys.argv[2]:10} threads={sys.argv[3]} rate={sys.argv[4]:12} reached={pps:>7} sent={sent} '
      f'read={r["input"]["packets"]} kernel_drops={c["dropped"]} queue_drops={r["coverage"]["queue_drops"]} '
      f'hellos={r["totals"].get("hellos", r["totals"])}')
EOF
}

run_tcpdump() { # RATE [stall]
  local rate=$1 stall=${2:-}
  ip netns exec "$NC" tcpdump -i "$IC" -B 131072 -w /dev/null 2>"$DIR/td.err" &
  local pid=$!
  wait_line "$DIR/td.err" "listening on"
  local s
  s=$(send "$rate" "${stall:+$pid}")
  sleep 1
  kill -INT "$pid"; wait "$pid" || true
  local got drops
  got=$(grep -o '^[0-9]* packets captured' "$DIR/td.err" | awk '{print $1}')
  drops=$(grep -o '^[0-9]* packets dropped by kernel' "$DIR/td.err" | awk '{print $1}')
  set -- $s
  printf '%-10s threads=1 rate=%-12s reached=%7s sent=%s read=%s kernel_drops=%s\n' \
    tcpdump "$rate${stall:+ +stall}" "$1" "$2" "$got" "$drops"
}

for rate in "${RATES[@]}"; do
  run_hw 1 "$rate"
  run_hw 2 "$rate"
  run_tcpdump "$rate"
done
# The stall: the capture process stopped for 0.5 s, 0.5 s into a top-speed replay.
run_hw 1 top stall
run_hw 2 top stall
run_tcpdump top stall
