#!/usr/bin/env bash
# How much a SQL source (Athena, CloudTrail Lake) pages back to egresswatch, on the
# high-cardinality trail: the rows and bytes of the answer to the query `callers` sends, with the
# engine ranking and summing (the top `--limit` callers, default cloudtrail.max_callers_kept =
# 100, the rest summed on the first kept row) and with every caller listed (`--all`), and whether the totals the
# answer carries equal the trail's ground truth.
#
#   bash scripts/bench-sql-answer.sh
#   EGRESSWATCH=path/to/egresswatch EGRESSWATCH_BENCH_TRAIL_HC=dir bash scripts/bench-sql-answer.sh
#
# The query is the one `egresswatch callers --source athena --print-sql` prints (the trail read
# once: ranked with window functions), run unchanged on
# DuckDB over the trail files (scripts/duckdb-athena.py, as tests/suite/pushdown.rs runs it; the
# test checks the folded answer against the scanner's, caller by caller). Athena returns every
# row of an answer through GetQueryResults, 1,000 rows a page, so the rows are what a run waits
# for and holds. Times here are DuckDB's, not Athena's, and are printed for reference only.
#
# Checks (exit 1 on a FAIL): GetObject requests and bytes out of the window, summed over the kept
# callers' rows and the rest they carry (`o_n`, `o_bytes`, `o_groups` on the first), equal the generator's ground truth for the region; and the
# answer with ranking has as many callers in all (kept + others' groups) as the one without and
# as the ground truth.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV="${EGRESSWATCH_VENV:-.venv}"
TRAIL="${EGRESSWATCH_BENCH_TRAIL_HC:-target/bench-trail-hc}"
REGION=eu-west-1
OUT=target/bench-sql-answer
mkdir -p "$OUT"
# shellcheck source=scripts/lib/binary.sh
source scripts/lib/binary.sh
binary_under_test bench-sql-answer "$OUT"
python3 scripts/gen-trail.py --high-cardinality "$TRAIL"
[ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c 'import duckdb' 2>/dev/null || {
    echo "bench-sql-answer: needs DuckDB in $VENV (bash scripts/test.sh or scripts/bench-callers.sh installs it)" >&2
    exit 2
}
DAY=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["params"]["start"])' "$TRAIL/.gen-trail.json")
cat >"$OUT/config.toml" <<'EOF'
[cloudtrail]
source = "athena"

[cloudtrail.athena]
database = "trails"
table = "cloudtrail_logs"
workgroup = "primary"
output_location = "s3://athena-results/egresswatch/"
region = "us-east-1"
EOF

for mode in top all; do
    flag=()
    [ "$mode" = all ] && flag=(--all)
    "$EW" callers --config "$OUT/config.toml" --source athena --from "$DAY" --to "$DAY" \
        --region "$REGION" --format json --print-sql "${flag[@]}" >"$OUT/$mode.sql"
    /usr/bin/time -f "%e %M" -o "$OUT/$mode.time" "$VENV/bin/python" scripts/duckdb-athena.py \
        --trail "$TRAIL" --sql "$OUT/$mode.sql" --database trails >"$OUT/$mode.json"
done

python3 - "$OUT" "$TRAIL" "$REGION" <<'PY'
import collections, json, os, sys
out, trail, region = sys.argv[1:4]
t = json.load(open(os.path.join(trail, ".gen-trail.json")))["totals"]["regions"][region]
truth_req = t["getobject_ok"] + t["getobject_denied"]
truth_bytes = t["getobject_bytes_out"]
truth_groups = t["getobject_groups"]
failed = False
callers = {}
print(f"{'answer':<34} {'rows':>9} {'JSON (MB)':>10} {'callers':>9} {'DuckDB (s)':>11}")
for mode, label in (("top", "ranked: top 100 + others"), ("all", "--all: every caller a row")):
    d = json.load(open(os.path.join(out, f"{mode}.json")))
    i = {c: k for k, c in enumerate(d["columns"])}
    secs = open(os.path.join(out, f"{mode}.time")).read().split()[0]
    req = byt = groups = 0
    sections = collections.Counter(r[0] for r in d["rows"])
    for r in d["rows"]:
        if r[0] == "get" and r[i["whole"]] == "1":
            req += int(r[i["n"]])
            byt += int(float(r[i["bytes"]] or 0))
            groups += 1
            # The first kept caller carries every other caller, summed.
            if r[i["o_groups"]] is not None:
                req += int(r[i["o_n"]])
                byt += int(float(r[i["o_bytes"]]))
                groups += int(r[i["o_groups"]])
    callers[mode] = groups
    size = os.path.getsize(os.path.join(out, f"{mode}.json")) / 1e6
    print(f"{label:<34} {len(d['rows']):>9,} {size:>10.1f} {groups:>9,} {secs:>11}   {dict(sections)}")
    ok = req == truth_req and byt == truth_bytes
    failed |= not ok
    print(f"  {'ok' if ok else 'FAIL'}: requests {req:,} (truth {truth_req:,}), bytes out {byt:,} (truth {truth_bytes:,})")
ok = callers["top"] == callers["all"] == truth_groups
failed |= not ok
print(f"{'ok' if ok else 'FAIL'}: callers in all, ranked {callers['top']:,} = listed {callers['all']:,} = truth {truth_groups:,}")
sys.exit(1 if failed else 0)
PY
