#!/usr/bin/env bash
# What counting S3 activity costs: `egresswatch activity` (every S3 event counted per day, account,
# region, event, outcome, with its top callers) against `egresswatch callers` (GetObject callers
# only) over the same generated trail, release build, 2 cores.
#
#   bash scripts/bench-activity.sh
#
# Both commands read and parse every record of every file once; the difference is the per-record
# counting work of the activity scan (one hash-map update per S3 event). Each runs BENCH_RUNS times
# (default 5), interleaved, from the page cache; the activity runs start from an empty store (a
# day is scanned once, so a warm store would read nothing). Prints the median wall time, the
# largest peak RSS (/usr/bin/time) and the ratio activity / callers. Also checks that the activity
# GetObject success and AccessDenied counts equal the trail's ground truth (gen-trail.py), else
# exits 1.
#
# Steps: cargo build --release; python3 scripts/gen-trail.py (skipped when the trail is there).
# Environment: EGRESSWATCH_BENCH_TRAIL (default target/bench-trail), BENCH_RUNS (default 5).
set -euo pipefail
cd "$(dirname "$0")/.."
TRAIL="${EGRESSWATCH_BENCH_TRAIL:-target/bench-trail}"
RUNS="${BENCH_RUNS:-5}"
OUT=target/bench-activity
cargo build --release --quiet
python3 scripts/gen-trail.py "$TRAIL"
BIN=target/release/egresswatch
mkdir -p "$OUT"
read -r DAY0 DAY1 < <(python3 - "$TRAIL/.gen-trail.json" <<'PY'
import datetime as dt, json, sys
p = json.load(open(sys.argv[1]))["params"]
s = dt.date.fromisoformat(p["start"])
print(s, s + dt.timedelta(days=p["days"] - 1))
PY
)
NEXT=$(date -u -d "$DAY1 + 1 day" +%F)
find "$TRAIL" -name '*.json.gz' -print0 | xargs -0 -r cat >/dev/null # page cache, untimed

timed() { # name, then the command; appends "seconds maxrss_kb" to $OUT/name.times
    local name=$1; shift
    /usr/bin/time -f "%e %M" -o "$OUT/$name.t" "$@" >"$OUT/$name.json"
    cat "$OUT/$name.t" >>"$OUT/$name.times"
}
rm -f "$OUT"/*.times
for i in $(seq "$RUNS"); do
    rm -rf "$OUT/state" && mkdir -p "$OUT/state"
    printf '[state]\npath = "%s/state/egresswatch.db"\n\n[cloudtrail]\nsource = "%s"\n\n[activity]\n' \
        "$OUT" "$TRAIL" >"$OUT/state/egresswatch.toml"
    timed activity "$BIN" activity --config "$OUT/state/egresswatch.toml" --source "$TRAIL" \
        --from "$DAY0" --to "$DAY1" --format json
    timed callers "$BIN" callers --config "$OUT/state/egresswatch.toml" --source "$TRAIL" \
        --from "${DAY0}T00:00:00Z" --to "${NEXT}T00:00:00Z" --baseline-days 0 --format json
done
python3 - "$OUT" "$TRAIL/.gen-trail.json" <<'PY'
import json, statistics, sys
out, marker = sys.argv[1], sys.argv[2]
def load(name):
    rows = [l.split() for l in open(f"{out}/{name}.times") if l.strip()]
    return statistics.median(float(r[0]) for r in rows), max(int(r[1]) for r in rows) / 1024
a, c = load("activity"), load("callers")
truth = json.load(open(marker))["totals"]
print(f"trail: {truth['records']} records, {truth['uncompressed_bytes']/1e9:.2f} GB of JSON")
print(f"{'command':<22}{'median s':>10}{'peak MB':>10}")
print(f"{'egresswatch callers':<22}{c[0]:>10.2f}{c[1]:>10.0f}")
print(f"{'egresswatch activity':<22}{a[0]:>10.2f}{a[1]:>10.0f}")
print(f"ratio activity / callers: {a[0]/c[0]:.2f}x time, {a[1]/c[1]:.2f}x memory")
doc = json.load(open(f"{out}/activity.json"))
good = True
for outcome, key in [("success", "getobject_ok"), ("AccessDenied", "getobject_denied")]:
    got = sum(r["count"] for r in doc["days"] if r["event"] == "GetObject" and r["outcome"] == outcome)
    want = truth[key]
    good &= got == want
    print(f"{'ok' if got == want else 'MISMATCH'}: activity counts {got} GetObject {outcome}, the trail has {want}")
sys.exit(0 if good else 1)
PY
