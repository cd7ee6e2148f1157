#!/usr/bin/env bash
# NAB v1.1 benchmark of `egresswatch detect`: runs it on every NAB data file, scores the per-row
# `score` column as NAB's `anomaly_score` with scripts/nab-score.py, and prints the three NAB
# scores (standard / reward_low_FP_rate / reward_low_FN_rate) beside the published table.
#
#   bash scripts/bench-nab.sh                     # binary: target/release, else target/debug
#   EGRESSWATCH=path/to/egresswatch bash scripts/bench-nab.sh
#   NAB_DIR=path/to/nab bash scripts/bench-nab.sh # corpus (default ../shared/benchmarks/nab)
#
# The binary is ${EGRESSWATCH:-target/release/egresswatch}, falling back to target/debug/egresswatch;
# only if neither exists is it built (cargo build --release, 10-15 min). It is copied to a temp dir
# first, so a rebuild running meanwhile cannot swap it mid-run. Files that egresswatch refuses
# (non-zero exit) are listed with their error line and score as detecting nothing. Everything
# written goes to a temp dir that is removed on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
NAB_DIR=${NAB_DIR:-../shared/benchmarks/nab}
[ -d "$NAB_DIR/data" ] || { echo "bench-nab: no NAB corpus at $NAB_DIR (set NAB_DIR)" >&2; exit 1; }

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
# shellcheck source=scripts/lib/binary.sh
source scripts/lib/binary.sh
binary_under_test bench-nab "$TMP"

START=$(date +%s.%N)
mkdir -p "$TMP/raw" "$TMP/results"
: > "$TMP/refused.txt"
n=0
while IFS= read -r rel; do
    n=$((n + 1))
    mkdir -p "$TMP/raw/$(dirname "$rel")"
    if ! "$EW" detect --quiet --input "$NAB_DIR/data/$rel" \
            --output "$TMP/raw/$rel" 2> "$TMP/err.txt"; then
        rm -f "$TMP/raw/$rel"
        printf '%s\t%s\n' "$rel" "$(grep -v '^\s*$' "$TMP/err.txt" | tail -1)" >> "$TMP/refused.txt"
    fi
done < <(cd "$NAB_DIR/data" && find . -name '*.csv' | sed 's|^\./||' | sort)
DETECT_END=$(date +%s.%N)

# egresswatch's output (timestamp,value,expected,lower,upper,score,anomaly) -> NAB results layout
# (<category>/<file>.csv with timestamp,anomaly_score), taking `score` by its header name.
python3 - "$TMP/raw" "$TMP/results" <<'PY'
import csv, os, sys
raw, out = sys.argv[1], sys.argv[2]
for d, _, files in os.walk(raw):
    for name in files:
        src = os.path.join(d, name)
        dst = os.path.join(out, os.path.relpath(src, raw))
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        with open(src, newline="") as f, open(dst, "w", newline="") as g:
            rows = csv.reader(f)
            header = next(rows)
            t, s = header.index("timestamp"), header.index("score")
            w = csv.writer(g, lineterminator="\n")
            w.writerow(["timestamp", "anomaly_score"])
            w.writerows([r[t], r[s]] for r in rows if r)
PY

python3 scripts/nab-score.py --nab "$NAB_DIR" --results "$TMP/results" --json "$TMP/scores.json"
END=$(date +%s.%N)

echo
python3 - "$TMP/scores.json" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1]))
ours = tuple(doc["profiles"][p]["score"] for p in ("standard", "reward_low_FP_rate", "reward_low_FN_rate"))
table = [  # published NAB v1.1 scoreboard (standard / reward low FP / reward low FN)
    ("ARTime", (74.9, 65.1, 80.4)),
    ("Numenta HTM", (70.5, 62.6, 75.2)),
    ("CAD OSE", (69.9, 67.0, 73.2)),
    ("Twitter ADVec", (47.1, 33.6, 53.5)),
    ("windowed Gaussian", (39.6, 20.9, 47.4)),
    ("random", (11.0, 1.2, 19.5)),
    ("egresswatch (this run)", ours),
]
print(f"{'detector':<24} {'standard':>9} {'low FP':>8} {'low FN':>8}")
for name, s in sorted(table, key=lambda r: -r[1][0]):
    mark = "  <--" if name.startswith("egresswatch") else ""
    print(f"{name:<24} {s[0]:9.1f} {s[1]:8.1f} {s[2]:8.1f}{mark}")
PY

echo
refused=$(wc -l < "$TMP/refused.txt")
echo "files egresswatch refused: $refused of $n (scored as detecting nothing)"
while IFS=$'\t' read -r rel err; do
    echo "  $rel: $err"
done < "$TMP/refused.txt"
python3 -c "import sys; a, b, c = map(float, sys.argv[1:]); print(f'runtime: {c - a:.1f} s (detect {b - a:.1f} s, conversion and scoring {c - b:.1f} s)')" \
    "$START" "$DETECT_END" "$END"
