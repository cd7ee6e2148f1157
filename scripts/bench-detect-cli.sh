#!/usr/bin/env bash
# Speed and memory of `egresswatch detect` on generated CSV series (release build).
#
#   bash scripts/bench-detect-cli.sh            # 20,000 and 1,000,000 rows, 5 runs each
#
# Prints, for each size: median wall time of 5 runs, rows per second, and peak memory (max RSS).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
BIN=target/release/egresswatch
DIR=$(mktemp -d)
trap 'rm -rf "$DIR"' EXIT

gen() { # rows file: 5-minute points with a daily cycle, noise and a few spikes
    python3 - "$1" "$2" <<'PY'
import sys, math, random, datetime as dt
n, path = int(sys.argv[1]), sys.argv[2]
r = random.Random(7)
t0 = dt.datetime(2014, 4, 1)
with open(path, "w") as f:
    f.write("timestamp,value\n")
    for i in range(n):
        v = 100 + 40 * math.sin(i * 2 * math.pi / 288) + r.gauss(0, 3)
        if i % 5000 == 4999:
            v += 80
        f.write(f"{(t0 + dt.timedelta(minutes=5 * i)).strftime('%Y-%m-%d %H:%M:%S')},{v:.3f}\n")
PY
}

printf '%-10s %14s %16s %14s\n' rows "median (s)" "rows/s" "peak RSS (MiB)"
for n in 20000 1000000; do
    gen "$n" "$DIR/in.csv"
    times=()
    rss=0
    for _ in 1 2 3 4 5; do
        out=$( { /usr/bin/time -f '%e %M' "$BIN" detect --input "$DIR/in.csv" --output "$DIR/out.csv"; } 2>&1 )
        times+=("$(echo "$out" | tail -1 | cut -d' ' -f1)")
        r=$(echo "$out" | tail -1 | cut -d' ' -f2)
        (( r > rss )) && rss=$r
    done
    median=$(printf '%s\n' "${times[@]}" | sort -g | sed -n 3p)
    lines=$(($(wc -l < "$DIR/out.csv") - 1))
    [ "$lines" -eq "$n" ] || { echo "expected $n output rows, got $lines" >&2; exit 1; }
    rate=$(python3 -c "print(f'{$n / max($median, 0.001):,.0f}')")
    printf '%-10s %14s %16s %14s\n' "$n" "$median" "$rate" "$((rss / 1024))"
done
