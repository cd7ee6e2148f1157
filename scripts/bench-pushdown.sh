#!/usr/bin/env bash
# What pushing the CloudTrail analysis down buys: the generated Athena SQL run by DuckDB (the
# engine of tests/suite/pushdown.rs, standing in for Athena on one machine) against the in-process
# scanner (`egresswatch callers`), over the generated 1.2 GB trail, release build, 2 cores.
#
#   bash scripts/bench-pushdown.sh
#
# Prints, for one incident window over the whole trail: the median wall time of each
# (BENCH_RUNS runs, default 3, interleaved, from the page cache), the bytes each path reads
# (every gzip file of the partitions; a query engine reads them where they are, so only the
# answer crosses the network), the answer's size (rows and JSON bytes), and the ratio of bytes
# moved: trail vs answer. Also checks that the SQL answer's window GetObject requests and bytes
# equal the scanner's, else exits 1.
#
# Steps: cargo build --release; python3 scripts/gen-trail.py (skipped when the trail is there);
# the venv of scripts/test.sh (for DuckDB).
# Environment: EGRESSWATCH_BENCH_TRAIL (default target/bench-trail), BENCH_RUNS (default 3),
# EGRESSWATCH_VENV (default .venv).
set -euo pipefail
cd "$(dirname "$0")/.."
TRAIL="${EGRESSWATCH_BENCH_TRAIL:-target/bench-trail}"
RUNS="${BENCH_RUNS:-3}"
VENV="${EGRESSWATCH_VENV:-.venv}"
OUT=target/bench-pushdown
cargo build --release --quiet
python3 scripts/gen-trail.py "$TRAIL"
"$VENV/bin/python" -c "import duckdb" 2>/dev/null || { echo "run bash scripts/test.sh once (DuckDB in $VENV)" >&2; exit 2; }
BIN=target/release/egresswatch
mkdir -p "$OUT"
read -r ACCOUNT REGION DAY0 NEXT < <(python3 - "$TRAIL/.gen-trail.json" <<'PY'
import datetime as dt, json, sys
p = json.load(open(sys.argv[1]))["params"]
s = dt.date.fromisoformat(p["start"])
print(p["account"], p["region"], s, s + dt.timedelta(days=p["days"]))
PY
)
cat >"$OUT/egresswatch.toml" <<TOML
[state]
path = "$OUT/state.db"

[cloudtrail]
source = "athena"

[cloudtrail.athena]
database = "bench"
TOML
WINDOW=(--from "${DAY0}T00:00:00Z" --to "${NEXT}T00:00:00Z" --account "$ACCOUNT" --region "$REGION" --format json)
"$BIN" callers --config "$OUT/egresswatch.toml" --source athena --print-sql "${WINDOW[@]}" >"$OUT/query.sql"
find "$TRAIL" -name '*.json.gz' -print0 | xargs -0 -r cat >/dev/null # page cache, untimed

rm -f "$OUT"/*.times
for i in $(seq "$RUNS"); do
    /usr/bin/time -f "%e %M" -o "$OUT/sql.t" "$VENV/bin/python" scripts/duckdb-athena.py \
        --trail "$TRAIL" --sql "$OUT/query.sql" --database bench >"$OUT/rows.json"
    cat "$OUT/sql.t" >>"$OUT/sql.times"
    /usr/bin/time -f "%e %M" -o "$OUT/scan.t" "$BIN" callers --config "$OUT/egresswatch.toml" \
        --source "$TRAIL" "${WINDOW[@]}" >"$OUT/scan.json"
    cat "$OUT/scan.t" >>"$OUT/scan.times"
done

python3 - "$OUT" "$TRAIL" <<'PY'
import json, os, statistics, sys
out, trail = sys.argv[1], sys.argv[2]
def times(name):
    rows = [l.split() for l in open(f"{out}/{name}.times") if l.strip()]
    return statistics.median(float(r[0]) for r in rows), max(int(r[1]) for r in rows)
(sql_s, sql_kb), (scan_s, scan_kb) = times("sql"), times("scan")
rows = json.load(open(f"{out}/rows.json"))
scan = json.load(open(f"{out}/scan.json"))
trail_bytes = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(trail) for f in fs if f.endswith(".json.gz"))
answer_bytes = os.path.getsize(f"{out}/rows.json")
cols = rows["columns"]
get = [dict(zip(cols, r)) for r in rows["rows"] if r[cols.index("section")] == "get" and r[cols.index("whole")] == "1"]
sql_req = sum(int(r["n"]) for r in get)
sql_bytes = sum(int(r["bytes"]) for r in get)
scan_req = sum(c["requests"] for c in scan["callers"])
scan_bytes = sum(c["bytes_out"] for c in scan["callers"])
print(f"trail: {trail_bytes / 1e6:.1f} MB gzip in the window's partitions")
print(f"scanner (egresswatch callers):  median {scan_s:.2f} s, peak RSS {scan_kb / 1024:.0f} MiB, reads {trail_bytes / 1e6:.1f} MB")
print(f"SQL on DuckDB (2 threads):      median {sql_s:.2f} s, peak RSS {sql_kb / 1024:.0f} MiB")
print(f"answer: {len(rows['rows'])} rows, {answer_bytes / 1e3:.1f} kB of JSON: {trail_bytes / answer_bytes:,.0f}x less than the trail")
print(f"SQL / scanner time: {sql_s / scan_s:.2f}x")
print(f"window GetObject: scanner {scan_req} requests {scan_bytes} bytes; SQL {sql_req} requests {sql_bytes} bytes")
if (scan_req, scan_bytes) != (sql_req, sql_bytes):
    print("MISMATCH between the SQL answer and the scanner", file=sys.stderr)
    sys.exit(1)
PY
