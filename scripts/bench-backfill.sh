#!/usr/bin/env bash
# Backfill benchmark: what replaying 13 months costs on an organisation-sized bill, offline.
#
#   bash scripts/bench-backfill.sh                        # binary: target/release, else target/debug
#   EGRESSWATCH=path/to/egresswatch bash scripts/bench-backfill.sh
#   RUNS=5 bash scripts/bench-backfill.sh                 # timed runs per case (default 3)
#
# Generates a bill of 3,000 series (50 accounts x 20 regions x 3 families: internet-out,
# get-requests, regional), 14 months of days ending yesterday (UTC), as saved GetCostAndUsage
# pages (one file per 10 days), with a weekly pattern, month-end batches, noise and a few planted
# spikes and drips. Imports them into a fresh store (timed once), then times, median of RUNS runs
# with peak memory (max RSS):
#   - `backfill --offline` over 13 months (the range the issue asks for: < 30 s in release),
#   - `backfill --offline` over the last 31 days (for comparison),
#   - `run --offline --dry-run` of yesterday (one daily run, which reads the same history).
# Offline: no AWS call (the endpoint points at a closed port, and every backfill must print
# "0 Cost Explorer request(s)"). The binary is ${EGRESSWATCH:-target/release/egresswatch}, falling
# back to target/debug/egresswatch (5-10x slower than release); only if neither exists is it built
# (cargo build --release, 10-15 min). It is copied to a temp dir first, so a rebuild running
# meanwhile cannot swap it mid-run. Everything written goes to a temp dir removed on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-3}


TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
# shellcheck source=scripts/lib/binary.sh
source scripts/lib/binary.sh
binary_under_test bench-backfill "$TMP"

# No AWS: a closed endpoint, static dummy credentials, no instance metadata.
export AWS_ENDPOINT_URL=http://127.0.0.1:9 AWS_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true \
    AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench
unset AWS_PROFILE

TO=$(date -u -d yesterday +%F)
FROM_13M=$(date -u -d "$TO -13 months +1 day" +%F)
FROM_31D=$(date -u -d "$TO -30 days" +%F)
FIRST=$(date -u -d "$FROM_13M -1 month" +%F)

mkdir -p "$TMP/bill"
python3 - "$TMP/bill" "$FIRST" "$TO" <<'PY'
import datetime as dt, json, os, random, sys
out, first, last = sys.argv[1], dt.date.fromisoformat(sys.argv[2]), dt.date.fromisoformat(sys.argv[3])
REGIONS = ["USE1", "USE2", "USW1", "USW2", "CAN1", "EU", "EUW2", "EUW3", "EUC1", "EUN1",
           "EUS1", "APE1", "APN1", "APN2", "APN3", "APS1", "APS2", "APS3", "SAE1", "MES1"]
# family -> (usage-type suffix, unit, price per unit)
FAMILIES = [("DataTransfer-Out-Bytes", "GB", 0.09), ("Requests-Tier2", "Requests", 0.0004 / 1000),
            ("DataTransfer-Regional-Bytes", "GB", 0.01)]
WEEK = [1.0, 1.05, 1.0, 0.98, 0.95, 0.45, 0.4]
ACCOUNTS = [f"{100000000000 + 7919 * a:012d}" for a in range(50)]
rng = random.Random(3000)
series = []
for acc in ACCOUNTS:
    for reg in REGIONS:
        gb = rng.lognormvariate(3.0, 1.2)  # a few GB to a few TB a day
        batch = rng.random() < 0.2          # a month-end job
        for suffix, unit, price in FAMILIES:
            base = gb * (9000 if unit == "Requests" else (0.5 if "Regional" in suffix else 1.0))
            series.append((acc, f"{reg}-{suffix}", unit, price, base, batch))
n_days = (last - first).days + 1
planted = {}
for _ in range(40):  # spikes
    planted[(rng.randrange(len(series)), rng.randrange(60, n_days))] = rng.uniform(5, 30)
for _ in range(6):   # two-week drips, +50%
    s, d0 = rng.randrange(len(series)), rng.randrange(60, n_days - 14)
    for k in range(14):
        planted[(s, d0 + k)] = 1.5
amount = lambda v: f"{v:.6f}"
pages = 0
for p0 in range(0, n_days, 10):
    results = []
    for i in range(p0, min(p0 + 10, n_days)):
        day = first + dt.timedelta(days=i)
        end_of_month = (day + dt.timedelta(days=1)).day == 1
        groups = []
        for k, (acc, ut, unit, price, base, batch) in enumerate(series):
            q = base * WEEK[day.weekday()] * rng.gauss(1.0, 0.06) * (1 + 0.0005 * i)
            if batch and end_of_month:
                q *= 3.0
            q *= planted.get((k, i), 1.0)
            q = max(q, 0.0)
            groups.append({"Keys": [acc, ut], "Metrics": {
                "UnblendedCost": {"Amount": amount(q * price), "Unit": "USD"},
                "UsageQuantity": {"Amount": amount(q), "Unit": unit}}})
        results.append({"TimePeriod": {"Start": day.isoformat(), "End": (day + dt.timedelta(days=1)).isoformat()},
                        "Total": {}, "Groups": groups, "Estimated": False})
    page = {"GroupDefinitions": [{"Type": "DIMENSION", "Key": "LINKED_ACCOUNT"},
                                 {"Type": "DIMENSION", "Key": "USAGE_TYPE"}],
            "ResultsByTime": results,
            "DimensionValueAttributes": [{"Value": a, "Attributes": {"description": f"account-{j}"}}
                                         for j, a in enumerate(ACCOUNTS)]}
    pages += 1
    with open(os.path.join(out, f"page-{pages:03d}.json"), "w") as f:
        json.dump(page, f, separators=(",", ":"))
print(f"bill: {len(series)} series, {n_days} days ({first} to {last}), "
      f"{len(series) * n_days:,} points in {pages} saved pages")
PY

printf '[state]\npath = "%s"\n' "$TMP/store.db" > "$TMP/config.toml"

# Run a command under `/usr/bin/time`: seconds and peak KB in $TMP/time.txt, its stdout in
# $TMP/out.txt; a failure ends the benchmark with its stderr.
timed() {
    /usr/bin/time -f '%e %M' -o "$TMP/time.txt" "$@" > "$TMP/out.txt" 2> "$TMP/err.txt" || {
        echo "bench-backfill: failed: $*" >&2
        cat "$TMP/err.txt" >&2
        exit 1
    }
}

timed "$EW" import --config "$TMP/config.toml" "$TMP"/bill/page-*.json
read -r secs rss < "$TMP/time.txt"
echo "import: ${secs} s, peak RSS $((rss / 1024)) MiB: $(head -1 "$TMP/out.txt")"
rm -rf "$TMP/bill"

median() { printf '%s\n' "$@" | sort -g | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }

bench() { # label, command...
    local label=$1
    shift
    local times=() rss=0 secs r
    for _ in $(seq "$RUNS"); do
        timed "$@"
        read -r secs r < "$TMP/time.txt"
        times+=("$secs")
        ((r > rss)) && rss=$r
    done
    printf '%-36s median %7s s of %s (%s), peak RSS %4d MiB\n' "$label" "$(median "${times[@]}")" \
        "$RUNS" "$(IFS=' '; echo "${times[*]}")" $((rss / 1024))
}

check_offline() {
    grep -q " 0 Cost Explorer request(s)" "$TMP/out.txt" || {
        echo "bench-backfill: the backfill was not offline:" >&2
        cat "$TMP/out.txt" >&2
        exit 1
    }
    echo "    $(head -1 "$TMP/out.txt")"
}

bench "backfill 13 months ($FROM_13M..$TO)" "$EW" backfill --offline --config "$TMP/config.toml" \
    --from "$FROM_13M" --to "$TO" --out "$TMP/report-13m"
check_offline
bench "backfill 31 days ($FROM_31D..$TO)" "$EW" backfill --offline --config "$TMP/config.toml" \
    --from "$FROM_31D" --to "$TO" --out "$TMP/report-31d"
check_offline
bench "daily run of $TO (offline, dry run)" "$EW" run --offline --dry-run --quiet \
    --config "$TMP/config.toml" --date "$(date -u +%F)"
