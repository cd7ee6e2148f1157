#!/usr/bin/env bash
# Speed, memory and correctness of `egresswatch callers` on a 1.2 GB CloudTrail trail (release build).
#
#   bash scripts/bench-callers.sh
#
# What it measures, and why:
#   `egresswatch callers` reads gzipped CloudTrail files and sums GetObject bytesTransferredOut per
#   (principal, source IP, user agent, bucket). Its cost is inflate + JSON parsing + a hash
#   aggregation, so it is timed against these references on the same files, on 2 cores:
#     * zcat, two processes in parallel: decompression alone, with no parsing at all. The floor
#       that any reader of .json.gz pays; the target is to stay within 1.5x of it.
#     * zlib, two Python processes inflating every file in memory (C zlib, no pipe, no output):
#       the same floor with a faster inflate than GNU gzip's, shown for reference (no target),
#       since a reader built on zlib or zlib-rs can beat zcat.
#     * DuckDB (2 threads), the tool one would reach for to answer the same question in SQL:
#       read_json + unnest(Records) + GROUP BY. Timed twice: with the record schema given (only the
#       fields the query needs; the fastest way to ask DuckDB) and with the schema auto-detected
#       (what one writes first). The target is 3x faster than DuckDB.
#   Each command runs 3 times, interleaved; the table shows the median wall time and the largest
#   peak memory (max RSS, from /usr/bin/time; for zcat that of its largest process). Files are read
#   from the page cache (one untimed read first). The target for memory is < 200 MB peak.
#
# Correctness: the GetObject bytes out summed over egresswatch's callers must equal DuckDB's sum
# exactly, and DuckDB's must equal the ground truth gen-trail.py recorded while writing the trail;
# otherwise the script exits 1. Groups, requests and errors are compared and reported, not enforced
# (egresswatch may label anonymous or service callers, or count failed calls, its own way).
# The targets are printed beside the figures and do not change the exit code.
#
# Steps: cargo build --release; python3 scripts/gen-trail.py (skipped when the trail is there);
# DuckDB into the repository's .venv (created if missing; scripts/test.sh makes it too).
# Outputs of the last run of each tool are kept in target/bench-callers/ for inspection.
#
# Environment: EGRESSWATCH_BENCH_TRAIL (trail directory, default target/bench-trail),
# EGRESSWATCH_VENV (default .venv), BENCH_RUNS (default 3).
set -euo pipefail
cd "$(dirname "$0")/.."

TRAIL="${EGRESSWATCH_BENCH_TRAIL:-target/bench-trail}"
VENV="${EGRESSWATCH_VENV:-.venv}"
RUNS="${BENCH_RUNS:-3}"
DUCKDB_VERSION="2.0.1" # pinned, so that figures from different machines compare
BIN=target/release/egresswatch
OUT=target/bench-callers
MARKER="$TRAIL/.gen-trail.json"

echo "\$ bash scripts/bench-callers.sh"
echo "machine: $(nproc) cores, $(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -1)"

# --- 1. build and data ----------------------------------------------------------------------------
cargo build --release --quiet
python3 scripts/gen-trail.py "$TRAIL"
mkdir -p "$OUT"

# The window: every generated day, [first day 00:00Z, day after the last 00:00Z). Given as RFC 3339
# instants: a date alone as --to may be read as the whole of that day (inclusive), an instant cannot.
read -r FROM TO < <(python3 - "$MARKER" <<'PY'
import datetime as dt, json, sys
p = json.load(open(sys.argv[1]))["params"]
start = dt.date.fromisoformat(p["start"])
print(f"{start}T00:00:00Z", f"{start + dt.timedelta(days=p['days'])}T00:00:00Z")
PY
)
EW_CMD=("$BIN" callers --source "$TRAIL" --from "$FROM" --to "$TO" --baseline-days 0 --format json)
echo "\$ ${EW_CMD[*]} > $OUT/egresswatch.json"

# --- 2. DuckDB in the project venv ----------------------------------------------------------------
if ! "$VENV/bin/python" -c "import duckdb, sys; sys.exit(duckdb.__version__ != '$DUCKDB_VERSION')" 2>/dev/null; then
    echo "bench-callers: installing duckdb==$DUCKDB_VERSION into $VENV" >&2
    [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check "duckdb==$DUCKDB_VERSION"
fi

# The DuckDB side. `schema` gives read_json the record type with only the fields the query reads:
# bytesTransferredOut as DOUBLE takes both 1234 and 1234.0 (cast back to BIGINT per record, exact
# below 2^53), a missing userAgent is NULL. `auto` lets read_json infer everything. The principal is
# the arn, or for callers that have none the service name (AWSService) or ANONYMOUS_PRINCIPAL.
# Prints a JSON summary: total bytes, groups, requests, errors.
cat > "$OUT/duckdb_callers.py" <<'PY'
import json, sys
import duckdb

trail, start, end, mode = sys.argv[1:5]
glob = (trail.rstrip("/") + "/**/*.json.gz").replace("'", "''")
if mode == "schema":
    record = """STRUCT(
        eventTime VARCHAR, eventName VARCHAR, errorCode VARCHAR,
        userIdentity STRUCT("type" VARCHAR, arn VARCHAR, accountId VARCHAR, invokedBy VARCHAR),
        sourceIPAddress VARCHAR, userAgent VARCHAR,
        requestParameters STRUCT(bucketName VARCHAR),
        additionalEventData STRUCT(bytesTransferredOut DOUBLE))[]"""
    source = (f"read_json('{glob}', format='unstructured', records=true, "
              f"columns={{Records: '{record}'}}, maximum_object_size=67108864)")
    # eventTime is always YYYY-MM-DDTHH:MM:SSZ, so string order is time order
    window = f"r.eventTime >= '{start}' AND r.eventTime < '{end}'"
else:  # auto: eventTime is detected as TIMESTAMP WITH TIME ZONE
    source = f"read_json('{glob}')"
    window = f"r.eventTime >= TIMESTAMPTZ '{start}' AND r.eventTime < TIMESTAMPTZ '{end}'"
query = f"""
    WITH ev AS (SELECT unnest(Records) AS r FROM {source})
    SELECT coalesce(r.userIdentity.arn, r.userIdentity.invokedBy, r.userIdentity.accountId) AS principal,
           r.sourceIPAddress AS source_ip, r.userAgent AS user_agent,
           r.requestParameters.bucketName AS bucket,
           count(*) AS requests, count(r.errorCode) AS errors,
           coalesce(sum(CAST(r.additionalEventData.bytesTransferredOut AS BIGINT)), 0) AS bytes_out
    FROM ev
    WHERE r.eventName = 'GetObject' AND {window}
    GROUP BY ALL"""
con = duckdb.connect()
con.execute("SET threads=2")
rows = con.execute(query).fetchall()
print(json.dumps({
    "query": " ".join(query.split()),
    "total_bytes": int(sum(r[6] for r in rows)),
    "groups": len(rows),
    "groups_with_bytes": sum(1 for r in rows if r[4] > r[5]),
    "requests": sum(r[4] for r in rows),
    "errors": sum(r[5] for r in rows),
}))
PY

# Decompression alone with C zlib: every file inflated in memory (CRC checked) on 2 processes.
cat > "$OUT/zlib_inflate.py" <<'PY'
import glob, sys, zlib
from multiprocessing import Pool

def inflate(path):
    with open(path, "rb") as f:
        return len(zlib.decompressobj(31).decompress(f.read()))

if __name__ == "__main__":
    files = glob.glob(sys.argv[1].rstrip("/") + "/**/*.json.gz", recursive=True)
    with Pool(2) as pool:
        print(sum(pool.map(inflate, files, chunksize=8)))
PY

# --- 3. timing ------------------------------------------------------------------------------------
# The runs are interleaved (zcat, zlib, DuckDB, DuckDB auto, egresswatch; then again), so that anything
# else busy on the machine slows every tool alike instead of one tool's runs.
declare -A TIMES KB SECS MIB
# run_once NAME STDOUT_FILE CMD...: one run under /usr/bin/time; appends its wall seconds to
# TIMES[NAME] and keeps the largest peak RSS in KB[NAME]. Returns 1 (after the error) if it fails.
run_once() {
    local name=$1 out=$2 s k
    shift 2
    if ! /usr/bin/time -o "$OUT/time.txt" -f '%e %M' "$@" >"$out" 2>"$OUT/stderr.txt"; then
        echo "bench-callers: $name failed:" >&2
        tail -20 "$OUT/stderr.txt" >&2
        return 1
    fi
    read -r s k < <(tail -1 "$OUT/time.txt")
    TIMES[$name]="${TIMES[$name]:-}${TIMES[$name]:+ }$s"
    if ((k > ${KB[$name]:-0})); then KB[$name]=$k; fi
}
# summarize NAME: SECS[NAME] = median of its runs, MIB[NAME] = largest peak RSS in MiB.
summarize() {
    local name=$1
    # shellcheck disable=SC2086 # TIMES holds space-separated numbers
    SECS[$name]=$(printf '%s\n' ${TIMES[$name]} | sort -g | sed -n "$(((RUNS + 1) / 2))p")
    MIB[$name]=$((KB[$name] / 1024))
    printf '  %-12s median %5s s (runs: %s), peak %s MiB\n' "$name" "${SECS[$name]}" "${TIMES[$name]}" "${MIB[$name]}" >&2
}

AUTO_OK=1
EW_OK=1
if ! "$BIN" callers --help >/dev/null 2>&1; then
    echo "bench-callers: '$BIN callers' is not available in this build" >&2
    EW_OK=0
fi
find "$TRAIL" -name '*.json.gz' -print0 | xargs -0 -r cat >/dev/null # into the page cache, untimed

echo "timing, $RUNS runs each ..." >&2
for ((i = 1; i <= RUNS; i++)); do
    # shellcheck disable=SC2016 # $1 is expanded by the inner bash
    run_once zcat /dev/null bash -c \
        'find "$1" -name "*.json.gz" -print0 | xargs -0 -r -P2 -n 50 zcat' _ "$TRAIL"
    run_once zlib "$OUT/zlib.txt" python3 "$OUT/zlib_inflate.py" "$TRAIL"
    run_once duckdb "$OUT/duckdb.json" "$VENV/bin/python" "$OUT/duckdb_callers.py" "$TRAIL" "$FROM" "$TO" schema
    if ((AUTO_OK)); then
        run_once duckdb-auto "$OUT/duckdb-auto.json" \
            "$VENV/bin/python" "$OUT/duckdb_callers.py" "$TRAIL" "$FROM" "$TO" auto || AUTO_OK=0
    fi
    if ((EW_OK)); then
        run_once egresswatch "$OUT/egresswatch.json" "${EW_CMD[@]}" || EW_OK=0
    fi
done
summarize zcat
summarize zlib
summarize duckdb
if ((AUTO_OK)); then summarize duckdb-auto; fi
if ((EW_OK)); then summarize egresswatch; fi

# --- 4. correctness -------------------------------------------------------------------------------
# Prints lines "ok|FAIL|note <text>"; FAIL lines make the script exit 1.
CHECKS=$(python3 - "$MARKER" "$OUT/duckdb.json" "$OUT/egresswatch.json" "$EW_OK" "$FROM" "$TO" <<'PY'
import json, sys
truth = json.load(open(sys.argv[1]))["totals"]
duck = json.load(open(sys.argv[2]))
gen = truth["getobject_bytes_out"]
same = duck["total_bytes"] == gen
print(f"{'ok' if same else 'FAIL'} DuckDB GetObject bytes out {duck['total_bytes']:,} "
      f"{'==' if same else '!='} gen-trail ground truth {gen:,}")
if sys.argv[4] != "1":
    sys.exit()
ew = json.load(open(sys.argv[3]))
window = ew.get("window", {})
same = (window.get("from"), window.get("to")) == (sys.argv[5], sys.argv[6])
print(f"{'ok' if same else 'note'} egresswatch window {window.get('from')} .. {window.get('to')}"
      f"{'' if same else f'; asked for {sys.argv[5]} .. {sys.argv[6]}'}")
callers = ew.get("callers", [])
total, floats = 0, 0
for c in callers:
    b = c.get("bytes_out", 0)
    if isinstance(b, float):
        floats += 1
        b = int(b) if b.is_integer() else b
    total += b
if floats:
    print(f"note egresswatch printed {floats} bytes_out values as floats, not integers")
same = isinstance(total, int) and total == duck["total_bytes"]
print(f"{'ok' if same else 'FAIL'} egresswatch GetObject bytes out {total:,} "
      f"{'==' if same else '!='} DuckDB {duck['total_bytes']:,}")
n = len(callers)
if n == duck["groups"]:
    print(f"ok egresswatch callers {n} == DuckDB (principal, ip, ua, bucket) groups {duck['groups']}")
elif n == duck["groups_with_bytes"]:
    print(f"ok egresswatch callers {n} == DuckDB groups with a successful GetObject {n} "
          f"({duck['groups'] - n} groups only failed)")
else:
    print(f"note egresswatch callers {n} != DuckDB groups {duck['groups']} "
          f"({duck['groups_with_bytes']} with a successful GetObject): principal labels may differ")
req = sum(c.get("requests", 0) for c in callers)
err = sum(c.get("errors", 0) for c in callers)
ok_req = duck["requests"] - duck["errors"]
if req == duck["requests"] or req == ok_req:
    print(f"ok egresswatch requests {req:,} == DuckDB GetObject "
          f"{'calls' if req == duck['requests'] else 'successful calls'} {req:,}")
else:
    print(f"note egresswatch requests {req:,}; DuckDB GetObject calls {duck['requests']:,}, of which failed {duck['errors']:,}")
print(f"{'ok' if err == duck['errors'] else 'note'} egresswatch errors {err:,}; DuckDB failed GetObject {duck['errors']:,}")
dq = ew.get("data_quality", {})
if dq:
    good = dq.get("files") == truth["files"] and dq.get("records") == truth["records"] \
        and not dq.get("bad_files") and not dq.get("bad_records")
    print(f"{'ok' if good else 'note'} egresswatch data_quality {json.dumps(dq)}; "
          f"trail has {truth['files']} files, {truth['records']:,} records")
PY
)

# --- 5. report ------------------------------------------------------------------------------------
read -r NFILES GZ_MB JSON_MB < <(python3 - "$MARKER" <<'PY'
import json, sys
t = json.load(open(sys.argv[1]))["totals"]
gz, js = t["compressed_bytes"], t["uncompressed_bytes"]
print(t["files"], f"{gz / 1e6:.0f}MB({gz / 2**20:.0f}MiB)", f"{js / 1e6:.0f}MB({js / 2**20:.0f}MiB)")
PY
)
echo
echo "data: $NFILES files, ${GZ_MB/(/ (} gzipped, ${JSON_MB/(/ (} of JSON, in $TRAIL"
echo "window: --from $FROM --to $TO, --baseline-days 0; $RUNS runs each, median wall time, largest peak RSS"
echo
printf '%-42s %12s %12s\n' tool "median (s)" "peak (MiB)"
row() { printf '%-42s %12s %12s\n' "$1" "${SECS[$2]:-n/a}" "${MIB[$2]:-n/a}"; }
row "zcat, 2 processes (decompression alone)" zcat
row "zlib, 2 processes (decompression alone)" zlib
row "DuckDB $DUCKDB_VERSION, 2 threads, schema given" duckdb
if ((AUTO_OK)); then row "DuckDB $DUCKDB_VERSION, 2 threads, auto-detected" duckdb-auto; fi
if ((EW_OK)); then row "egresswatch callers" egresswatch; fi
echo

if ((EW_OK)); then
    python3 - "${SECS[zcat]}" "${SECS[duckdb]}" "${SECS[duckdb-auto]:-0}" "${SECS[egresswatch]}" "${MIB[egresswatch]}" \
        "${SECS[zlib]}" <<'PY'
import sys
zcat, duck, auto, ew, mib, zlib = (float(x) for x in sys.argv[1:7])
ew = max(ew, 0.01)
def line(label, value, target, met):
    print(f"{label:<42} {value:>12}   target {target:<8} {'met' if met else 'NOT met'}")
line("x faster than DuckDB (schema given)", f"{duck / ew:.2f}x", ">= 3x", duck / ew >= 3)
if auto:
    line("x faster than DuckDB (auto-detected)", f"{auto / ew:.2f}x", ">= 3x", auto / ew >= 3)
line("x decompression alone (zcat)", f"{ew / zcat:.2f}x", "<= 1.5x", ew / zcat <= 1.5)
print(f"{'x decompression alone (zlib, reference)':<42} {f'{ew / zlib:.2f}x':>12}")
line("peak memory", f"{mib:.0f} MiB", "< 200 MB", mib * 1.048576 < 200)
PY
    echo
fi

echo "checks:"
while IFS= read -r line; do echo "  $line"; done <<<"$CHECKS"
if grep -q '^FAIL' <<<"$CHECKS"; then
    echo "bench-callers: totals differ" >&2
    exit 1
fi
if ((!EW_OK)); then
    echo "bench-callers: egresswatch callers was not measured" >&2
    exit 1
fi
