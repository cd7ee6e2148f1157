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




# --- The demo trail: who downloaded on the spike day -------------------------------------------
# CloudTrail for account 111111111111, eu-west-1, 2026-11-18 .. 2026-11-26 (the day after is the
# delivery margin): the usual application every day, the bucket made public two days before, and
# on the spike day a contractor's credentials pulling ~1.5 TB with rclone from an unknown address.

import gzip

TRAIL_DAYS = [END - dt.timedelta(days=k) for k in range(7, -2, -1)]  # 18th .. 26th


def trail_record(rng, t, who, ip, ua, bucket, key, size, name="GetObject", params=None):
    ident = {"type": "IAMUser", "principalId": "AIDADEMO" + who.split("/")[-1].upper()[:8], "arn": who,
             "accountId": SPIKE[0], "accessKeyId": "AKIADEMO", "userName": who.split("/")[-1]}
    rec = {
        "eventVersion": "1.09", "userIdentity": ident, "eventTime": t.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "eventSource": "s3.amazonaws.com", "eventName": name, "awsRegion": SPIKE[1],
        "sourceIPAddress": ip, "userAgent": ua,
        "requestParameters": params if params is not None else {"bucketName": bucket, "Host": f"{bucket}.s3.{SPIKE[1]}.amazonaws.com", "key": key},
        "responseElements": None, "requestID": "%016X" % rng.getrandbits(64), "eventID": "%032x" % rng.getrandbits(128),
        "readOnly": name == "GetObject", "eventType": "AwsApiCall", "recipientAccountId": SPIKE[0],
    }
    if name == "GetObject":
        rec["additionalEventData"] = {"SignatureVersion": "SigV4", "CipherSuite": "TLS_AES_128_GCM_SHA256", "bytesTransferredIn": 0,
                                      "AuthenticationMethod": "AuthHeader", "x-amz-id-2": "demo", "bytesTransferredOut": size}
        rec["managementEvent"] = False
        rec["eventCategory"] = "Data"
    else:
        rec["managementEvent"] = True
        rec["eventCategory"] = "Management"
    return rec


def write_trail(out_dir):
    rng = random.Random(424242)
    app = "arn:aws:iam::111111111111:user/reporting-app"
    thief = "arn:aws:iam::111111111111:user/contractor-jdoe"
    for day in TRAIL_DAYS:
        recs = []
        start = dt.datetime(day.year, day.month, day.day)
        if day <= END:
            weekly = WEEKDAY_FACTOR[day.weekday()]
            for i in range(120):  # the usual application: ~60 GB a weekday from the office
                t = start + dt.timedelta(minutes=rng.randrange(24 * 60))
                recs.append(trail_record(rng, t, app, "10.20.1.15", "aws-sdk-java/2.25.10 Linux/6.1", "prod-analytics",
                                         f"reports/{day.isoformat()}/part-{i:04d}.parquet", int(0.5e9 * weekly * rng.uniform(0.8, 1.2))))
        if day == END - dt.timedelta(days=2):
            policy = {"bucketName": "prod-analytics", "bucketPolicy": {"Version": "2012-10-17", "Statement": [
                {"Sid": "tmp", "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::prod-analytics/*"}]}}
            recs.append(trail_record(rng, start + dt.timedelta(hours=22, minutes=13), thief, "185.220.101.7", "aws-cli/2.15.0 command/s3api.put-bucket-policy",
                                     "prod-analytics", None, 0, name="PutBucketPolicy", params=policy))
        if day == END:
            for i in range(25):
                recs.append(trail_record(rng, start + dt.timedelta(hours=1, minutes=i), thief, "185.220.101.7", "rclone/v1.65.0",
                                         "prod-analytics", None, 0, name="GetBucketAcl", params={"bucketName": "prod-analytics", "acl": [""]}))
            for i in range(400):  # ~1.5 TB in 3-4.6 GB objects, overnight
                t = start + dt.timedelta(hours=1, minutes=30, seconds=i * 40)
                recs.append(trail_record(rng, t, thief, "185.220.101.7", "rclone/v1.65.0", "prod-analytics",
                                         f"exports/customers/{i:05d}.csv.gz", int(rng.uniform(3.0e9, 4.6e9))))
        recs.sort(key=lambda r: r["eventTime"])
        folder = os.path.join(out_dir, "AWSLogs", SPIKE[0], "CloudTrail", SPIKE[1], f"{day.year:04d}", f"{day.month:02d}", f"{day.day:02d}")
        os.makedirs(folder, exist_ok=True)
        name = f"{SPIKE[0]}_CloudTrail_{SPIKE[1]}_{day.strftime('%Y%m%d')}T2355Z_demo00000000{day.day:04d}.json.gz"
        data = json.dumps({"Records": recs}, separators=(",", ":")).encode()
        with open(os.path.join(folder, name), "wb") as f:
            f.write(gzip.compress(data, compresslevel=9, mtime=0))
        print(f"wrote {os.path.join(folder, name)}: {len(recs)} records")


def write_metrics(path):
    """Daily BytesDownloaded per bucket in eu-west-1 for the last 30 days (what CloudWatch serves
    for buckets with request metrics on): the exports bucket carries the spike."""
    rng = random.Random(7)
    series = {}
    for bucket, gb in [("prod-analytics", 45.0), ("static-assets", 12.0), ("reports-archive", 4.0)]:
        points = []
        for k in range(30, 0, -1):
            day = END - dt.timedelta(days=k - 1)
            v = gb * WEEKDAY_FACTOR[day.weekday()] * rng.gauss(1.0, 0.05)
            if day == END and bucket == "prod-analytics":
                v = 1480.0
            t = int(dt.datetime(day.year, day.month, day.day, tzinfo=dt.timezone.utc).timestamp())
            points.append([t, round(v * 1073741824)])
        series[bucket] = points
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(series, f, indent=1)
        f.write("\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
    write_metrics(os.path.join(os.path.dirname(__file__), "..", "demo", "cloudwatch", "bytes-downloaded.json"))
    write_trail(os.path.join(os.path.dirname(__file__), "..", "demo", "cloudtrail"))
