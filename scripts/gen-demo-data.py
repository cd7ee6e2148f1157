#!/usr/bin/env python3
"""Generate the bundled demo data: GetCostAndUsage responses in the exact AWS JSON shape.

120 days, 2 accounts, 3 regions, a weekly pattern with gentle growth and noise, and one planted
spike on the last day (account 111111111111, eu-west-1, internet egress about 25x normal, GET
requests about 6x). The output is deterministic (seeded), so re-running it rewrites the same files.

    python3 scripts/gen-demo-data.py [OUT_DIR]      # default: demo/cost-explorer

The request it answers: GetCostAndUsage, DAILY, Filter SERVICE = Amazon Simple Storage Service
AND OPERATION = GetObject, GroupBy LINKED_ACCOUNT and USAGE_TYPE, metrics UsageQuantity and
UnblendedCost. Split over three pages joined by NextPageToken, as Cost Explorer pages.
"""

import datetime as dt
import json
import os
import random
import sys

END = dt.date(2026, 11, 25)  # the last day; the planted spike is on it
DAYS = 120
SPIKE = ("111111111111", "eu-west-1")

ACCOUNTS = {"111111111111": "prod-data", "222222222222": "analytics-sandbox"}
# region -> usage-type prefix for each kind (us-east-1 mixes unprefixed and USE1- names, as AWS does)
REGIONS = {
    "us-east-1": {"out": "DataTransfer-Out-Bytes", "req": "Requests-Tier2", "regional": "USE1-DataTransfer-Regional-Bytes"},
    "eu-west-1": {"out": "EU-DataTransfer-Out-Bytes", "req": "EU-Requests-Tier2", "regional": "EU-DataTransfer-Regional-Bytes",
                  "inter": "EU-USE1-AWS-Out-Bytes"},
    "ap-southeast-2": {"out": "APS2-DataTransfer-Out-Bytes", "req": "APS2-Requests-Tier2", "regional": "APS2-DataTransfer-Regional-Bytes"},
}
BASE_GB = {
    ("111111111111", "us-east-1"): 120.0, ("111111111111", "eu-west-1"): 60.0, ("111111111111", "ap-southeast-2"): 25.0,
    ("222222222222", "us-east-1"): 30.0, ("222222222222", "eu-west-1"): 10.0, ("222222222222", "ap-southeast-2"): 5.0,
}
PRICE = {"out": 0.09, "regional": 0.01, "inter": 0.02, "req": 0.0004 / 1000}
WEEKDAY_FACTOR = [1.0, 1.05, 1.0, 0.98, 0.95, 0.45, 0.4]  # Monday .. Sunday
REQUESTS_PER_GB = 9000


def amount(v):
    return f"{v:.10f}".rstrip("0").rstrip(".") if v else "0"


def group(account, usage_type, qty, unit, cost):
    return {
        "Keys": [account, usage_type],
        "Metrics": {
            "UnblendedCost": {"Amount": amount(cost), "Unit": "USD"},
            "UsageQuantity": {"Amount": amount(qty), "Unit": unit},
        },
    }


def day_groups(rng, day, index):
    groups = []
    weekly = WEEKDAY_FACTOR[day.weekday()]
    growth = 1.0 + 0.001 * index
    for account in ACCOUNTS:
        for region, types in REGIONS.items():
            gb = BASE_GB[(account, region)] * weekly * growth * rng.gauss(1.0, 0.05)
            requests = gb * REQUESTS_PER_GB * rng.gauss(1.0, 0.03)
            if day == END and (account, region) == SPIKE:
                gb *= 25
                requests *= 6
            groups.append(group(account, types["out"], gb, "GB", gb * PRICE["out"]))
            groups.append(group(account, types["req"], requests, "Requests", requests * PRICE["req"]))
            regional = gb * 0.5 * rng.gauss(1.0, 0.05) if (day, account, region) != (END, *SPIKE) else BASE_GB[SPIKE] * 0.5
            groups.append(group(account, types["regional"], regional, "GB", regional * PRICE["regional"]))
            if "inter" in types and account == "111111111111":
                inter = 8.0 * weekly * rng.gauss(1.0, 0.05)
                groups.append(group(account, types["inter"], inter, "GB", inter * PRICE["inter"]))
    return groups


def main():
    out_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "demo", "cost-explorer")
    os.makedirs(out_dir, exist_ok=True)
    rng = random.Random(20261125)
    start = END - dt.timedelta(days=DAYS - 1)
    results = []
    for i in range(DAYS):
        day = start + dt.timedelta(days=i)
        results.append({
            "TimePeriod": {"Start": day.isoformat(), "End": (day + dt.timedelta(days=1)).isoformat()},
            "Total": {},
            "Groups": day_groups(rng, day, i),
            "Estimated": day >= END - dt.timedelta(days=1),
        })
    cuts = [(0, 50), (50, 100), (100, DAYS)]
    for n, (a, b) in enumerate(cuts, start=1):
        page = {
            "GroupDefinitions": [
                {"Type": "DIMENSION", "Key": "LINKED_ACCOUNT"},
                {"Type": "DIMENSION", "Key": "USAGE_TYPE"},
            ],
            "ResultsByTime": results[a:b],
            "DimensionValueAttributes": [
                {"Value": acc, "Attributes": {"description": name}} for acc, name in ACCOUNTS.items()
            ],
        }
        if n < len(cuts):
            page["NextPageToken"] = f"demo-page-{n + 1}"
        # NextPageToken first, as the CLI prints it
        if "NextPageToken" in page:
            page = {"NextPageToken": page.pop("NextPageToken"), **page}
        path = os.path.join(out_dir, f"page-{n}.json")
        with open(path, "w") as f:
            json.dump(page, f, indent=4)
            f.write("\n")
        print(f"wrote {path}: {b - a} days")


if __name__ == "__main__":
    main()
