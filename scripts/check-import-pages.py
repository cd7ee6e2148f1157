#!/usr/bin/env python3
"""Import an organisation bill saved page by page, and count what the store kept.

Cost Explorer splits a day's (account, usage type) groups across pages when there are many, and
`aws ce get-cost-and-usage` saves one page per call, so one day's groups sit in several files.
This writes such a bill (ACCOUNTS x USAGE_TYPES series over DAYS days, pages of PAGE groups, each
page a file), imports every file with `egresswatch import`, and compares the points stored with
the groups in the files, and the sum of usage.

    python3 scripts/check-import-pages.py [--bin target/debug/egresswatch] [--days 400] [--page 1000]

Exit 1 when a point is lost or invented.
"""
import argparse
import datetime as dt
import json
import math
import os
import random
import sqlite3
import subprocess
import sys
import tempfile

REGIONS = ["EU", "USE1", "USW2", "APN1", "EUC1", "APS2"]
KINDS = [("DataTransfer-Out-Bytes", "GB"), ("Requests-Tier2", "Requests")]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default="target/debug/egresswatch")
    ap.add_argument("--accounts", type=int, default=6)
    ap.add_argument("--days", type=int, default=400)
    ap.add_argument("--page", type=int, default=1000, help="groups per saved page")
    ap.add_argument("--seed", type=int, default=7)
    a = ap.parse_args()
    rnd = random.Random(a.seed)
    start = dt.date(2024, 1, 1)
    series = [
        (f"{100000000000 + i:012d}", f"{r}-{k}", unit)
        for i in range(a.accounts)
        for r in REGIONS
        for k, unit in KINDS
    ]
    # Every group of every day, in the order Cost Explorer pages them (by day, then group).
    groups = []
    for d in range(a.days):
        day = start + dt.timedelta(days=d)
        for acct, ut, unit in series:
            base = 50.0 if unit == "GB" else 2e6
            usage = round(base * math.exp(rnd.gauss(0, 0.3)), 6)
            groups.append((day, acct, ut, unit, usage))
    with tempfile.TemporaryDirectory() as tmp:
        files = []
        for n, i in enumerate(range(0, len(groups), a.page)):
            chunk = groups[i : i + a.page]
            by_day = {}
            for day, acct, ut, unit, usage in chunk:
                by_day.setdefault(day, []).append(
                    {
                        "Keys": [acct, ut],
                        "Metrics": {
                            "UsageQuantity": {"Amount": f"{usage}", "Unit": unit},
                            "UnblendedCost": {"Amount": f"{usage * 0.09 if unit == 'GB' else usage * 4e-7:.8f}", "Unit": "USD"},
                        },
                    }
                )
            page = {
                "GroupDefinitions": [
                    {"Type": "DIMENSION", "Key": "LINKED_ACCOUNT"},
                    {"Type": "DIMENSION", "Key": "USAGE_TYPE"},
                ],
                "ResultsByTime": [
                    {
                        "TimePeriod": {"Start": str(day), "End": str(day + dt.timedelta(days=1))},
                        "Total": {},
                        "Groups": gs,
                        "Estimated": False,
                    }
                    for day, gs in sorted(by_day.items())
                ],
            }
            if i + a.page < len(groups):
                page["NextPageToken"] = f"token-{n + 1}"
            path = os.path.join(tmp, f"page-{n + 1:04d}.json")
            with open(path, "w") as f:
                json.dump(page, f)
            files.append(path)
        db = os.path.join(tmp, "store.db")
        cfg = os.path.join(tmp, "egresswatch.toml")
        with open(cfg, "w") as f:
            f.write(f'[state]\npath = "{db}"\n')
        out = subprocess.run(
            [a.bin, "import", "--config", cfg, *files], capture_output=True, text=True
        )
        print(out.stdout.strip())
        if out.returncode != 0:
            print(out.stderr.strip(), file=sys.stderr)
        c = sqlite3.connect(db)
        stored, usage = c.execute("SELECT COUNT(*), COALESCE(SUM(usage), 0) FROM cost_points").fetchone()
        days = c.execute("SELECT COUNT(*) FROM fetched_days").fetchone()[0]
    want_usage = sum(g[4] for g in groups)
    split = sum(
        1
        for i in range(a.page, len(groups), a.page)
        if groups[i - 1][0] == groups[i][0]
    )
    print(
        f"{len(files)} saved page(s) of up to {a.page} groups, {split} day(s) split across two pages; "
        f"groups in the files: {len(groups)}; points stored: {stored}; days known: {days} of {a.days}"
    )
    print(f"usage in the files: {want_usage:.3f}; usage stored: {usage:.3f}")
    ok = stored == len(groups) and days == a.days and abs(usage - want_usage) <= 1e-6 * want_usage
    print("exact" if ok else "NOT EXACT: points lost or invented")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
