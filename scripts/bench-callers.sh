#!/usr/bin/env bash
# Speed, memory and correctness of `egresswatch callers` on two generated CloudTrail trails, 2 cores.
#
#   bash scripts/bench-callers.sh                                  # binary: target/release, else target/debug
#   EGRESSWATCH=path/to/egresswatch BENCH_RUNS=5 bash scripts/bench-callers.sh
#
# The two trails (scripts/gen-trail.py; each generated if missing, in its own directory):
#   * low:  target/bench-trail, 2 days in us-east-1, 1.2 GB of JSON, ~330 (principal, source IP,
#     user agent, bucket) groups: few callers, many requests each;
#   * high: target/bench-trail-hc (gen-trail.py --high-cardinality), 1 day in eu-west-1 and
#     us-east-1, ~1 GB of JSON, over 300,000 groups in eu-west-1 (fleets whose sessions, addresses
#     and SDKs vary per request; presigned-URL downloads from 60,000 addresses): a trail at
#     organisation scale, where the aggregation's hash table, not parsing, may dominate.
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
#       read_json + unnest(Records) + GROUP BY, every group fetched and written out (one JSON line
#       each, as egresswatch writes its answer). Timed twice: with the record schema given (only the
#       fields the query needs; the fastest way to ask DuckDB) and with the schema auto-detected
#       (what one writes first). The target is 3x faster than DuckDB.
#   Each command runs BENCH_RUNS times (default 5), interleaved over tools and trails; the table
#   shows the median wall time and the largest peak memory (max RSS, from /usr/bin/time; for zcat
#   that of its largest process). Files are read from the page cache (one untimed read first).
#   The target for memory is < 200 MB peak.
#
# egresswatch is run with `--all` when its `callers --help` lists that flag (every group listed: on
# the high trail a JSON answer of some 260 MB), and then also without it (the top callers listed,
# the rest summed in `others`), so that the table shows the cost of listing apart from that of
# scanning; a build without `--all` is run only as it is. The table says which row is which.
#
# Correctness, per trail (the script exits 1 on any FAIL):
#   * DuckDB's groups, with their requests, errors and bytes out, equal the ground truth
#     gen-trail.py wrote (.gen-trail-groups.jsonl.gz), every one of them, and so do the totals;
#   * egresswatch's GetObject bytes out, summed over its callers plus `others`, equal the ground
#     truth's (for both runs, with and without --all); and every caller it lists has exactly the bytes out of that group in the ground truth
#     and in DuckDB (principals matched by label: `anonymous` is ANONYMOUS_PRINCIPAL, `AWS service: X`
#     is X, an empty user agent a missing one).
#   Group counts, requests and errors are compared and reported, not enforced (egresswatch may count
#   failed calls its own way). The targets are printed beside the figures and do not change the
#   exit code.
#
# Steps: the binary (scripts/lib/binary.sh: $EGRESSWATCH, else target/release, else target/debug,
# built only if none; copied to target/bench-callers/ first); python3 scripts/gen-trail.py for each
# trail (skipped when it is there); DuckDB into the repository's .venv (created if missing;
# scripts/test.sh makes it too). Outputs of the last run of each tool are kept in
# target/bench-callers/<trail>/ for inspection.
#
# Environment: EGRESSWATCH (binary), EGRESSWATCH_BENCH_TRAIL (low trail, default target/bench-trail),
# EGRESSWATCH_BENCH_TRAIL_HC (high trail, default target/bench-trail-hc), BENCH_TRAILS (which to
# run, default "low high"), EGRESSWATCH_VENV (default .venv), BENCH_RUNS (default 5).
set -euo pipefail
cd "$(dirname "$0")/.."

VENV="${EGRESSWATCH_VENV:-.venv}"
RUNS="${BENCH_RUNS:-5}"
DUCKDB_VERSION="2.0.1" # pinned, so that figures from different machines compare
OUT=target/bench-callers
declare -A TRAIL_DIR=([low]="${EGRESSWATCH_BENCH_TRAIL:-target/bench-trail}"
    [high]="${EGRESSWATCH_BENCH_TRAIL_HC:-target/bench-trail-hc}")
declare -A GEN_ARGS=([low]="" [high]="--high-cardinality")
read -r -a TRAILS <<<"${BENCH_TRAILS:-low high}"
for t in "${TRAILS[@]}"; do
    [ -n "${TRAIL_DIR[$t]:-}" ] || { echo "bench-callers: unknown trail '$t' in BENCH_TRAILS (low, high)" >&2; exit 2; }
done

echo "\$ ${EGRESSWATCH:+EGRESSWATCH=$EGRESSWATCH }${BENCH_RUNS:+BENCH_RUNS=$BENCH_RUNS }${BENCH_TRAILS:+BENCH_TRAILS=\"$BENCH_TRAILS\" }bash scripts/bench-callers.sh"
echo "machine: $(nproc) cores, $(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -1), load average $(cut -d' ' -f1-3 /proc/loadavg)"

# --- 1. binary and data ---------------------------------------------------------------------------
mkdir -p "$OUT"
# shellcheck source=scripts/lib/binary.sh
source scripts/lib/binary.sh
binary_under_test bench-callers "$OUT" # sets BIN and EW, prints "binary: ..."
ALL=()
if "$EW" callers --help 2>/dev/null | grep -q -- '--all\b'; then
    ALL=(--all)
    echo "egresswatch callers --all: every group listed"
else
    echo "egresswatch callers has no --all: the top callers listed, the rest summed in 'others' (totals compared)"
fi

declare -A FROM TO MARKER EW_CMD_STR
for t in "${TRAILS[@]}"; do
    trail=${TRAIL_DIR[$t]}
    # shellcheck disable=SC2086 # GEN_ARGS is one flag or none
    python3 scripts/gen-trail.py ${GEN_ARGS[$t]} "$trail"
    MARKER[$t]="$trail/.gen-trail.json"
    mkdir -p "$OUT/$t"
    # The window: every generated day, [first day 00:00Z, day after the last 00:00Z). Given as RFC
    # 3339 instants: a date alone as --to may be read as the whole of that day (inclusive), an
    # instant cannot.
    read -r from to < <(python3 - "${MARKER[$t]}" <<'PY'
import datetime as dt, json, sys
p = json.load(open(sys.argv[1]))["params"]
start = dt.date.fromisoformat(p["start"])
print(f"{start}T00:00:00Z", f"{start + dt.timedelta(days=p['days'])}T00:00:00Z")
PY
    )
    FROM[$t]=$from
    TO[$t]=$to
    EW_CMD_STR[$t]="$EW callers --source $trail --from $from --to $to --baseline-days 0 --format json${ALL[*]:+ ${ALL[*]}}"
    echo "\$ ${EW_CMD_STR[$t]} > $OUT/$t/egresswatch.json"
done

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
# Writes every group as a JSON line [principal, ip, ua, bucket, requests, errors, bytes_out] to
# GROUPS_OUT, and prints a JSON summary: total bytes, groups, requests, errors.
cat >"$OUT/duckdb_callers.py" <<'PY'
import json, sys
import duckdb

trail, start, end, mode, groups_out = sys.argv[1:6]
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
    source = f"read_json('{glob}', maximum_object_size=67108864)"
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
with open(groups_out, "w") as f:
    for r in rows:
        f.write(json.dumps(r, separators=(",", ":")) + "\n")
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
cat >"$OUT/zlib_inflate.py" <<'PY'
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
# The runs are interleaved (for each trail: zcat, zlib, DuckDB, DuckDB auto, egresswatch; then
# again), so that anything else busy on the machine slows every tool alike instead of one tool's runs.
# Keys of TIMES, KB, SECS, MIB are TRAIL/TOOL.
declare -A TIMES KB SECS MIB
# run_once KEY STDOUT_FILE CMD...: one run under /usr/bin/time; appends its wall seconds to
# TIMES[KEY] and keeps the largest peak RSS in KB[KEY]. Returns 1 (after the error) if it fails.
run_once() {
    local key=$1 out=$2 s k
    shift 2
    if ! /usr/bin/time -o "$OUT/time.txt" -f '%e %M' "$@" >"$out" 2>"$OUT/stderr.txt"; then
        echo "bench-callers: $key failed:" >&2
        tail -20 "$OUT/stderr.txt" >&2
        return 1
    fi
    read -r s k < <(tail -1 "$OUT/time.txt")
    TIMES[$key]="${TIMES[$key]:-}${TIMES[$key]:+ }$s"
    if ((k > ${KB[$key]:-0})); then KB[$key]=$k; fi
}
# summarize KEY: SECS[KEY] = median of its runs, MIB[KEY] = largest peak RSS in MiB.
summarize() {
    local key=$1 n
    [ -n "${TIMES[$key]:-}" ] || return 0
    # shellcheck disable=SC2086 # TIMES holds space-separated numbers
    n=$(printf '%s\n' ${TIMES[$key]} | wc -l)
    # shellcheck disable=SC2086
    SECS[$key]=$(printf '%s\n' ${TIMES[$key]} | sort -g | sed -n "$(((n + 1) / 2))p")
    MIB[$key]=$((KB[$key] / 1024))
    printf '  %-18s median %6s s (runs: %s), peak %s MiB\n' "$key" "${SECS[$key]}" "${TIMES[$key]}" "${MIB[$key]}" >&2
}

declare -A AUTO_OK EW_OK TOP_OK
for t in "${TRAILS[@]}"; do
    AUTO_OK[$t]=1
    EW_OK[$t]=1
    TOP_OK[$t]=$((${#ALL[@]} > 0)) # with --all, the default output (top + others) is timed too
    find "${TRAIL_DIR[$t]}" -name '*.json.gz' -print0 | xargs -0 -r cat >/dev/null # page cache, untimed
done
if ! "$EW" callers --help >/dev/null 2>&1; then
    echo "bench-callers: '$BIN callers' is not available in this build" >&2
    for t in "${TRAILS[@]}"; do EW_OK[$t]=0 TOP_OK[$t]=0; done
fi

echo "timing, $RUNS runs each, trails: ${TRAILS[*]} ..." >&2
for ((i = 1; i <= RUNS; i++)); do
    for t in "${TRAILS[@]}"; do
        trail=${TRAIL_DIR[$t]}
        # shellcheck disable=SC2016 # $1 is expanded by the inner bash
        run_once "$t/zcat" /dev/null bash -c \
            'find "$1" -name "*.json.gz" -print0 | xargs -0 -r -P2 -n 50 zcat' _ "$trail"
        run_once "$t/zlib" "$OUT/$t/zlib.txt" python3 "$OUT/zlib_inflate.py" "$trail"
        run_once "$t/duckdb" "$OUT/$t/duckdb.json" "$VENV/bin/python" "$OUT/duckdb_callers.py" \
            "$trail" "${FROM[$t]}" "${TO[$t]}" schema "$OUT/$t/duckdb-groups.jsonl"
        if ((AUTO_OK[$t])); then
            run_once "$t/duckdb-auto" "$OUT/$t/duckdb-auto.json" "$VENV/bin/python" "$OUT/duckdb_callers.py" \
                "$trail" "${FROM[$t]}" "${TO[$t]}" auto "$OUT/$t/duckdb-auto-groups.jsonl" || AUTO_OK[$t]=0
        fi
        if ((EW_OK[$t])); then
            run_once "$t/egresswatch" "$OUT/$t/egresswatch.json" "$EW" callers --source "$trail" \
                --from "${FROM[$t]}" --to "${TO[$t]}" --baseline-days 0 --format json "${ALL[@]}" || EW_OK[$t]=0
        fi
        if ((TOP_OK[$t])); then
            run_once "$t/egresswatch-top" "$OUT/$t/egresswatch-top.json" "$EW" callers --source "$trail" \
                --from "${FROM[$t]}" --to "${TO[$t]}" --baseline-days 0 --format json || TOP_OK[$t]=0
        fi
    done
    echo "  run $i of $RUNS done" >&2
done
for t in "${TRAILS[@]}"; do
    for tool in zcat zlib duckdb duckdb-auto egresswatch egresswatch-top; do summarize "$t/$tool"; done
done

# --- 4. correctness -------------------------------------------------------------------------------
# check TRAIL: prints lines "ok|FAIL|note <text>"; FAIL lines make the script exit 1.
check() {
    local t=$1
    python3 - "${MARKER[$t]}" "$OUT/$t" "${EW_OK[$t]}" "${FROM[$t]}" "${TO[$t]}" "${AUTO_OK[$t]}" "${TOP_OK[$t]:-0}" <<'PY'
import gzip, json, os, sys
marker_path, out, ew_ok, start, end, auto_ok, top_ok = sys.argv[1:8]
marker = json.load(open(marker_path))
truth_totals = marker["totals"]

def load_groups(path, opener=open):
    with opener(path, "rt") as f:
        return {tuple(g[:4]): tuple(g[4:7]) for g in map(json.loads, f)}

truth = load_groups(os.path.join(os.path.dirname(marker_path), marker["groups_file"]), gzip.open)
gen_bytes = truth_totals["getobject_bytes_out"]
assert gen_bytes == sum(v[2] for v in truth.values())

def versus_truth(label, groups):
    """DuckDB's groups against the ground truth: every group, requests, errors and bytes."""
    total = sum(v[2] for v in groups.values())
    same = total == gen_bytes
    print(f"{'ok' if same else 'FAIL'} {label} GetObject bytes out {total:,} "
          f"{'==' if same else '!='} ground truth {gen_bytes:,}")
    missing = truth.keys() - groups.keys()
    extra = groups.keys() - truth.keys()
    differ = [k for k in truth.keys() & groups.keys() if truth[k] != groups[k]]
    if not missing and not extra and not differ:
        print(f"ok {label} groups == ground truth: all {len(truth):,} (principal, ip, ua, bucket) groups, "
              f"with their requests, errors and bytes out")
    else:
        print(f"FAIL {label} groups != ground truth: {len(missing):,} missing, {len(extra):,} extra, "
              f"{len(differ):,} with other requests, errors or bytes (of {len(truth):,})")
        for k in (list(missing)[:2] + list(extra)[:2] + differ[:2]):
            print(f"note   e.g. {list(k)}: truth {truth.get(k)}, {label} {groups.get(k)}")

duck = load_groups(os.path.join(out, "duckdb-groups.jsonl"))
versus_truth("DuckDB", duck)
if auto_ok == "1":
    versus_truth("DuckDB auto", load_groups(os.path.join(out, "duckdb-auto-groups.jsonl")))
floats = 0

def as_int(b):
    global floats
    if isinstance(b, float):
        floats += 1
        return int(b) if b.is_integer() else b
    return b

def key(c):
    p = c.get("principal", "")
    if p == "anonymous":
        p = "ANONYMOUS_PRINCIPAL"
    elif p.startswith("AWS service: "):
        p = p[len("AWS service: "):]
    return (p, c.get("source_ip"), c.get("user_agent") or None, c.get("bucket"))

def versus(label, path, full):
    """One egresswatch output against the ground truth and DuckDB (`full`: its data quality too)."""
    global floats
    floats = 0
    ew = json.load(open(path))
    window = ew.get("window", {})
    same = (window.get("from"), window.get("to")) == (start, end)
    print(f"{'ok' if same else 'note'} {label} window {window.get('from')} .. {window.get('to')}"
                f"{'' if same else f'; asked for {start} .. {end}'}")
    callers = ew.get("callers", [])
    others = ew.get("others") or {}
    listed = sum(as_int(c.get("bytes_out", 0)) for c in callers)
    rest = as_int(others.get("bytes_out", 0))
    total = listed + rest
    if floats:
            print(f"note {label} printed {floats} bytes_out values as floats, not integers")
    how = f"{len(callers):,} callers listed" + (f" + others ({others.get('groups', 0):,} groups)" if others else "")
    same = isinstance(total, int) and total == gen_bytes
    print(f"{'ok' if same else 'FAIL'} {label} GetObject bytes out {total:,} ({how}) "
                f"{'==' if same else '!='} ground truth {gen_bytes:,}")
    if "bytes_out" in ew:
            same = ew["bytes_out"] == gen_bytes
            print(f"{'ok' if same else 'FAIL'} {label} window total bytes_out {ew['bytes_out']:,} "
                        f"{'==' if same else '!='} ground truth {gen_bytes:,}")

    # every listed caller against its group in the ground truth and in DuckDB
    unmatched, wrong = [], []
    for c in callers:
            k = key(c)
            if k not in truth:
                    unmatched.append(k)
            elif as_int(c.get("bytes_out", 0)) != truth[k][2] or duck.get(k, (0, 0, None))[2] != truth[k][2]:
                    wrong.append((k, c.get("bytes_out"), truth[k][2], duck.get(k)))
    if not unmatched and not wrong:
            print(f"ok {label} bytes out of each of the {len(callers):,} listed callers == its group's "
                        f"in the ground truth and DuckDB")
    else:
            print(f"FAIL {label} listed callers: {len(unmatched):,} not in the ground truth, {len(wrong):,} with "
                        f"other bytes out (of {len(callers):,})")
            for k in unmatched[:3]:
                    print(f"note   e.g. not in the ground truth: {list(k)}")
            for k, b, tb, d in wrong[:3]:
                    print(f"note   e.g. {list(k)}: {label} {b}, truth {tb}, DuckDB {d}")

    n = len(callers) + others.get("groups", 0)
    with_bytes = sum(1 for v in truth.values() if v[0] > v[1])
    if n == len(truth):
            print(f"ok {label} groups {n:,} ({how}) == ground truth groups {len(truth):,}")
    elif n == with_bytes:
            print(f"ok {label} groups {n:,} ({how}) == ground truth groups with a successful GetObject {n:,} "
                        f"({len(truth) - n:,} groups only failed)")
    else:
            print(f"note {label} groups {n:,} ({how}) != ground truth groups {len(truth):,} "
                        f"({with_bytes:,} with a successful GetObject)")
    req = sum(c.get("requests", 0) for c in callers) + others.get("requests", 0)
    err = sum(c.get("errors", 0) for c in callers) + others.get("errors", 0)
    calls = sum(v[0] for v in truth.values())
    failed = sum(v[1] for v in truth.values())
    if req in (calls, calls - failed):
            print(f"ok {label} requests {req:,} == ground truth GetObject "
                        f"{'calls' if req == calls else 'successful calls'} {req:,}")
    else:
            print(f"note {label} requests {req:,}; ground truth GetObject calls {calls:,}, of which failed {failed:,}")
    print(f"{'ok' if err == failed else 'note'} {label} errors {err:,}; ground truth failed GetObject {failed:,}")
    dq = ew.get("data_quality", {})
    if dq and full:
            good = dq.get("files") == truth_totals["files"] and dq.get("records") == truth_totals["records"] \
                    and not dq.get("bad_files") and not dq.get("bad_records")
            print(f"{'ok' if good else 'note'} {label} data_quality files {dq.get('files')}, records "
                        f"{dq.get('records'):,}, bad files {dq.get('bad_files')}, bad records {dq.get('bad_records')}; "
                        f"trail has {truth_totals['files']} files, {truth_totals['records']:,} records")

if ew_ok == "1":
    versus("egresswatch", os.path.join(out, "egresswatch.json"), True)
if top_ok == "1":
    versus("egresswatch (top + others)", os.path.join(out, "egresswatch-top.json"), False)
PY
}
declare -A CHECKS
for t in "${TRAILS[@]}"; do CHECKS[$t]=$(check "$t"); done

# --- 5. report ------------------------------------------------------------------------------------
echo
echo "data (gen-trail.py ground truth):"
declare -A LABEL
for t in "${TRAILS[@]}"; do
    IFS=$'\t' read -r label desc < <(python3 - "$t" "${MARKER[$t]}" "${TRAIL_DIR[$t]}" <<'PY'
import json, sys
t, path, trail = sys.argv[1:4]
m = json.load(open(path))
p, tot = m["params"], m["totals"]
gz, js, g = tot["compressed_bytes"], tot["uncompressed_bytes"], tot["getobject_groups"]
regions = p.get("regions") or [p["region"]]
label = f"{t} ({g / 1000:.0f}k groups)" if g >= 10_000 else f"{t} ({g} groups)"
desc = (f"{trail}: {tot['files']} files, {gz / 1e6:.0f} MB ({gz / 2**20:.0f} MiB) gzipped, "
        f"{js / 1e6:.0f} MB ({js / 2**20:.0f} MiB) of JSON, {tot['records']:,} records, "
        f"{tot['getobject_ok'] + tot['getobject_denied']:,} GetObject calls in {g:,} groups; "
        f"{p['days']} day(s) from {p['start']}, {', '.join(regions)}")
for r, rt in (tot.get("regions") or {}).items():
    desc += f"; {r}: {rt['getobject_groups']:,} groups"
print(f"{label}\t{desc}")
PY
    )
    LABEL[$t]=$label
    echo "  $t: $desc"
done
echo "window: each trail's days (--from/--to as RFC 3339 instants), --baseline-days 0"
if ((${#ALL[@]})); then
    echo "egresswatch: $BIN, callers --all (every group listed)"
else
    echo "egresswatch: $BIN, callers without --all (not in this build): top callers listed + others"
fi
echo "$RUNS runs each, interleaved; median wall time, largest peak RSS"
echo
printf '%-20s %-44s %12s %12s\n' trail tool "median (s)" "peak (MiB)"
row() { printf '%-20s %-44s %12s %12s\n' "$1" "$2" "${SECS[$3]:-n/a}" "${MIB[$3]:-n/a}"; }
for t in "${TRAILS[@]}"; do
    row "${LABEL[$t]}" "zcat, 2 processes (decompression alone)" "$t/zcat"
    row "${LABEL[$t]}" "zlib, 2 processes (decompression alone)" "$t/zlib"
    row "${LABEL[$t]}" "DuckDB $DUCKDB_VERSION, 2 threads, schema given" "$t/duckdb"
    if ((AUTO_OK[$t])); then
        row "${LABEL[$t]}" "DuckDB $DUCKDB_VERSION, 2 threads, auto-detected" "$t/duckdb-auto"
    else
        row "${LABEL[$t]}" "DuckDB $DUCKDB_VERSION, auto-detected: failed" "$t/none"
    fi
    if ((EW_OK[$t])); then row "${LABEL[$t]}" "egresswatch callers${ALL[*]:+ ${ALL[*]}}" "$t/egresswatch"; fi
    if ((TOP_OK[$t])); then row "${LABEL[$t]}" "egresswatch callers (top + others)" "$t/egresswatch-top"; fi
done
echo

for t in "${TRAILS[@]}"; do
    ((EW_OK[$t])) || continue
    echo "targets, ${LABEL[$t]}:"
    python3 - "${SECS[$t/zcat]}" "${SECS[$t/duckdb]}" "${SECS[$t/duckdb-auto]:-0}" "${SECS[$t/egresswatch]}" \
        "${MIB[$t/egresswatch]}" "${SECS[$t/zlib]}" "${SECS[$t/egresswatch-top]:-0}" "${MIB[$t/egresswatch-top]:-0}" \
        "${ALL[*]:+ ${ALL[*]}}" <<'PY'
import sys
zcat, duck, auto, ew, mib, zlib, top, top_mib = (float(x) for x in sys.argv[1:9])
flag = sys.argv[9]
def line(label, value, target, met):
    print(f"  {label:<50} {value:>12}   target {target:<8} {'met' if met else 'NOT met'}")
for name, t, m in ((f"egresswatch callers{flag}", ew, mib), ("egresswatch callers (top + others)", top, top_mib)):
    if not t:
        continue
    t = max(t, 0.01)
    print(f"  {name}:")
    line("x faster than DuckDB (schema given)", f"{duck / t:.2f}x", ">= 3x", duck / t >= 3)
    if auto:
        line("x faster than DuckDB (auto-detected)", f"{auto / t:.2f}x", ">= 3x", auto / t >= 3)
    line("x decompression alone (zcat)", f"{t / zcat:.2f}x", "<= 1.5x", t / zcat <= 1.5)
    print(f"  {'x decompression alone (zlib, reference)':<50} {f'{t / zlib:.2f}x':>12}")
    line("peak memory", f"{m:.0f} MiB", "< 200 MB", m * 1.048576 < 200)
PY
done
echo

FAILED=0
for t in "${TRAILS[@]}"; do
    echo "checks, ${LABEL[$t]}:"
    while IFS= read -r line; do echo "  $line"; done <<<"${CHECKS[$t]}"
    if grep -q '^FAIL' <<<"${CHECKS[$t]}"; then FAILED=1; fi
done
if ((FAILED)); then
    echo "bench-callers: totals differ" >&2
    exit 1
fi
for t in "${TRAILS[@]}"; do
    if ((!EW_OK[$t])); then
        echo "bench-callers: egresswatch callers was not measured on the $t trail" >&2
        exit 1
    fi
done
