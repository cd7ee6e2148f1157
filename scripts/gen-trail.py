#!/usr/bin/env python3
"""Generate a synthetic CloudTrail S3 trail for benchmarking `egresswatch callers`.

    python3 scripts/gen-trail.py [OUT_DIR]                       # default: target/bench-trail
    python3 scripts/gen-trail.py --high-cardinality [OUT_DIR]    # default: target/bench-trail-hc

What it writes: the layout CloudTrail delivers to its bucket,

    OUT_DIR/AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/DD/
        111122223333_CloudTrail_us-east-1_20261101T0005Z_<16 alphanumerics>.json.gz

one gzipped (level 6) `{"Records":[...]}` per 5-minute slot over 2 days: 576 files of about 2.1 MB of
JSON each, 1.2 GB uncompressed in all. Every record of a file has its eventTime inside the 5 minutes
that start at the time in the file's name, so the window 2026-11-01 .. 2026-11-03 covers the lot.

Why it looks the way it does: the benchmark measures the JSON parsing and aggregation of real
trails, so the records carry every field a real S3 data event has (userIdentity with sessionContext,
requestParameters, additionalEventData, resources, tlsDetails, ...), in CloudTrail's key order,
with the quirks of real trails:
  * bytesTransferredOut is an integer in most records and a float (`1234.0`) in about 10%;
  * userAgent is missing in about 1% of records;
  * about 3% of GetObject calls fail with errorCode AccessDenied and have no bytesTransferredOut
    (plus an anonymous scanner that is denied every time);
  * callers of every kind: IAM users, assumed roles (one from another account), an AWS service
    (`type: AWSService`, `invokedBy`, the service name as source IP) and anonymous
    (`accountId: ANONYMOUS_PRINCIPAL`, empty principalId, no arn);
  * about 80% GetObject; the rest ListObjects, HeadObject, PutObject and a few management events
    (GetBucketAcl, PutBucketPolicy) in the same files, as a trail logging both delivers them.
The default trail has few callers: about 330 (principal, source IP, user agent, bucket) groups.

--high-cardinality: a trail at organisation scale, where the callers are many. One day
(2026-11-01), two regions, one file per region per 5-minute slot (576 files):
  * eu-west-1 (288 files of 2.6-2.9 MB of JSON): fleets whose every request may come from another
    assumed-role session, another address of the fleet and another SDK: EMR/Spark workers
    (AnalyticsFleetRole, 3,000 instance sessions x 768 private IPs x 2 user agents) and EKS pods
    (eks-batch-worker, 4,000 web-identity sessions x 512 node IPs x 3 user agents); presigned-URL
    downloads (AuthenticationMethod QueryString, signed by 8 PresignApiRole sessions, fetched
    from 60,000 internet addresses with a long tail, by browsers, curl and wget); and the usual
    few callers (IAM users, SSO, a pipeline role, a partner account, S3 replication, anonymous);
    over 300,000 distinct GetObject groups in the day;
  * us-east-1 (288 files of 0.7-0.8 MB): the default trail's callers and buckets.
About 1 GB of JSON in all, some 650,000 GetObject records. Seeds, sizes and populations are in
HC_PARAMS and _hc_population().

Deterministic: every file is generated from its own seeded RNG (seed + slot number, and the region
in --high-cardinality), so the output is byte-identical whatever the number of worker processes.
Generation runs on 2 processes; each holds one file's records at a time (a few MB), and the main
process the ground truth per group.

OUT_DIR/.gen-trail.json is written last and holds the parameters and the ground truth: totals
(records, GetObject calls and bytes out, distinct GetObject groups, ...; per region too in
--high-cardinality) and the name of the per-group file, OUT_DIR/.gen-trail-groups.jsonl.gz: one
JSON array per (principal, source IP, user agent, bucket) group that made a GetObject call,
    [principal, source_ip, user_agent, bucket, requests, errors, bytes_out]
sorted, where principal is the arn, else invokedBy, else accountId (ANONYMOUS_PRINCIPAL), as
DuckDB's coalesce(arn, invokedBy, accountId) reads it, user_agent is null when the record has
none, requests counts every GetObject call (failed ones too), errors those with an errorCode, and
bytes_out sums bytesTransferredOut. When the marker is there with the same parameters, every file
is present and so is the group file, the script does nothing; otherwise it deletes OUT_DIR/AWSLogs
and generates the trail again.
"""

import argparse
import datetime as dt
import gzip
import itertools
import json
import multiprocessing
import os
import random
import shutil
import string
import sys
import time

PARAMS = {
    "version": 1,  # bump when the record format changes, so old trails are regenerated
    "seed": 20261101,
    "account": "111122223333",
    "region": "us-east-1",
    "start": "2026-11-01",
    "days": 2,
    "slot_minutes": 5,
    "file_bytes": [2_000_000, 2_200_000],  # uncompressed JSON per file, drawn uniformly
    "gzip_level": 6,
}
# --high-cardinality: one day, two regions, many callers (see the docstring and _hc_population)
HC_PARAMS = {
    "version": 1,
    "mode": "high-cardinality",
    "seed": 20261102,
    "account": "111122223333",
    "regions": ["eu-west-1", "us-east-1"],
    "start": "2026-11-01",
    "days": 1,
    "slot_minutes": 5,
    "file_bytes": {"eu-west-1": [3_300_000, 3_600_000], "us-east-1": [800_000, 900_000]},
    "gzip_level": 6,
    # eu-west-1's fleets and presigned downloads
    "fleet_spark": {"sessions": 3000, "ips": 768},
    "fleet_eks": {"sessions": 4000, "ips": 512},
    "presigned": {"sessions": 8, "ips": 60_000, "zipf": 0.6},
}
MARKER = ".gen-trail.json"
GROUPS = ".gen-trail-groups.jsonl.gz"
WORKERS = 2

ACCOUNT = PARAMS["account"]
REGION = PARAMS["region"]
PARTNER_ACCOUNT = "444455556666"

# ---------------------------------------------------------------------------------------------
# The population: buckets, IPs, user agents and callers. Fixed (not drawn from the seed) so that
# the set of (principal, IP, user agent, bucket) groups is the same in every file.

BUCKETS = [
    "acme-prod-data-lake", "acme-ml-training", "acme-public-assets", "acme-backups",
    "acme-customer-exports", "acme-logs-archive", "acme-analytics-scratch", "acme-cloudtrail-logs",
]

# 40 source IPs: corporate egress, EC2 private and public addresses, partner and random internet.
IPS = (
    [f"203.0.113.{i}" for i in (10, 11, 12, 45)]
    + [f"10.0.{a}.{b}" for a, b in ((1, 23), (1, 87), (2, 14), (2, 201), (3, 9), (3, 150))]
    + [f"54.210.{a}.{b}" for a, b in ((17, 3), (88, 120), (140, 77), (201, 5))]
    + [f"52.23.{a}.{b}" for a, b in ((9, 44), (61, 200))]
    + [f"198.51.100.{i}" for i in (7, 8, 99)]
    + [f"185.220.{a}.{b}" for a, b in ((100, 240), (101, 13), (102, 77))]
    + [f"2600:1f18:4a3:6e00:{i:x}::1" for i in (1, 2)]
    + [f"91.{a}.{b}.{c}" for a, b, c in ((198, 174, 192), (132, 147, 168), (240, 118, 222), (201, 66, 9))]
    + [f"100.{a}.{b}.{c}" for a, b, c in ((24, 5, 61), (26, 111, 3), (28, 90, 14), (31, 7, 250))]
    + [f"34.{a}.{b}.{c}" for a, b, c in ((201, 4, 18), (229, 60, 7), (238, 12, 199), (120, 33, 5))]
    + [f"45.{a}.{b}.{c}" for a, b, c in ((33, 32, 156), (79, 19, 196), (155, 205, 233), (146, 164, 110))]
)
assert len(IPS) == 40, len(IPS)

USER_AGENTS = {
    "cli": "[aws-cli/2.15.30 Python/3.11.8 Linux/6.1.79-99.167.amzn2023.x86_64 exe/x86_64.amzn.2023 prompt/off command/s3.cp]",
    "cli_sync": "[aws-cli/2.13.25 Python/3.11.6 Darwin/23.1.0 exe/x86_64 prompt/off command/s3.sync]",
    "boto3": "[Boto3/1.34.69 md/Botocore#1.34.69 ua/2.0 os/linux#5.10.213-201.855.amzn2.x86_64 md/arch#x86_64 lang/python#3.12.2 md/pyimpl#CPython cfg/retry-mode#legacy Botocore/1.34.69]",
    "boto3_lambda": "[Boto3/1.34.42 md/Botocore#1.34.42 ua/2.0 os/linux#5.10.209-219.852.amzn2.x86_64 md/arch#x86_64 lang/python#3.12.2 md/pyimpl#CPython exec-env/AWS_Lambda_python3.12 cfg/retry-mode#legacy Botocore/1.34.42]",
    "rclone": "rclone/v1.66.0",
    "curl": "curl/8.5.0",
    "java": "[aws-sdk-java/2.25.11 Linux/5.10.210-201.852.amzn2.x86_64 OpenJDK_64-Bit_Server_VM/17.0.10+7-LTS Java/17.0.10 vendor/Amazon.com_Inc. io/sync http/Apache cfg/retry-mode/legacy]",
    "go": "[aws-sdk-go-v2/1.26.1 os/linux lang/go#1.22.1 md/GOOS#linux md/GOARCH#amd64 api/s3#1.53.0]",
    "spark": "[Hadoop 3.3.6, aws-sdk-java/1.12.599 Linux/5.10.210-201.852.amzn2.x86_64 OpenJDK_64-Bit_Server_VM/25.402-b08 java/1.8.0_402 scala/2.12.17 vendor/Amazon.com_Inc. cfg/retry-mode/legacy]",
    "browser": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
    "s3": "s3.amazonaws.com",
    "cloudtrail": "cloudtrail.amazonaws.com",
    # --high-cardinality only
    "safari_ios": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
    "firefox": "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
    "chrome_android": "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.6367.82 Mobile Safari/537.36",
    "wget": "Wget/1.21.4",
    "boto3_eks": "[Boto3/1.34.90 md/Botocore#1.34.90 ua/2.0 os/linux#6.1.84-99.169.amzn2023.x86_64 md/arch#x86_64 lang/python#3.11.9 md/pyimpl#CPython cfg/retry-mode#standard Botocore/1.34.90]",
}

CIPHERS = ["TLS_AES_128_GCM_SHA256", "ECDHE-RSA-AES128-GCM-SHA256", "TLS_AES_256_GCM_SHA384"]


def _rand_id(rng, alphabet, n):
    return "".join(rng.choices(alphabet, k=n))


_UPPER_DIGITS = string.ascii_uppercase + string.digits
_ALNUM = string.ascii_letters + string.digits
_B64 = string.ascii_letters + string.digits + "+/"
_HEX = "0123456789ABCDEF"


def _iam_user(name, ak_rng):
    pid = "AIDA" + _rand_id(ak_rng, _UPPER_DIGITS, 17)
    return {
        "type": "IAMUser", "principalId": pid, "arn": f"arn:aws:iam::{ACCOUNT}:user/{name}",
        "accountId": ACCOUNT, "accessKeyId": "AKIA" + _rand_id(ak_rng, _UPPER_DIGITS, 16), "userName": name,
    }


def _assumed_role(role, session, ak_rng, account=ACCOUNT, path=""):
    role_id = "AROA" + _rand_id(ak_rng, _UPPER_DIGITS, 17)
    return {
        "type": "AssumedRole", "principalId": f"{role_id}:{session}",
        "arn": f"arn:aws:sts::{account}:assumed-role/{role}/{session}",
        "accountId": account, "accessKeyId": "ASIA" + _rand_id(ak_rng, _UPPER_DIGITS, 16),
        "sessionContext": {
            "sessionIssuer": {
                "type": "Role", "principalId": role_id, "arn": f"arn:aws:iam::{account}:role/{path}{role}",
                "accountId": account, "userName": role,
            },
            "attributes": {"creationDate": "2026-10-31T23:12:08Z", "mfaAuthenticated": "false"},
        },
    }


def _population():
    """The callers: (userIdentity, weight, ips, user-agent keys, buckets, operation mix, denied share)."""
    r = random.Random("population")  # fixed IDs and keys, independent of the trail seed
    ops_reader = {"GetObject": 85, "HeadObject": 8, "ListObjects": 6, "PutObject": 1}
    ops_writer = {"GetObject": 55, "PutObject": 25, "HeadObject": 10, "ListObjects": 10}
    ops_admin = {"GetObject": 60, "ListObjects": 20, "HeadObject": 10, "GetBucketAcl": 7, "PutBucketPolicy": 3}
    B = BUCKETS
    callers = [
        # IAM users
        (_iam_user("alice", r), 6, IPS[0:3], ["cli", "cli_sync", "browser"], B[0:3], ops_admin, 0.02),
        (_iam_user("bob", r), 4, IPS[2:5], ["cli", "rclone"], [B[0], B[4], B[6]], ops_reader, 0.05),
        (_iam_user("ci-deployer", r), 3, IPS[10:12], ["go", "cli"], [B[2], B[5]], ops_writer, 0.01),
        (_iam_user("legacy-backup", r), 3, [IPS[13], IPS[14]], ["rclone", "curl"], [B[3]], ops_writer, 0.01),
        # assumed roles (EC2 instance profiles, Lambda, SSO, a partner account)
        (_assumed_role("DataPipelineRole", "i-0a1b2c3d4e5f60718", r), 20, IPS[4:10], ["spark", "java"],
         [B[0], B[1], B[6]], ops_reader, 0.005),
        (_assumed_role("DataPipelineRole", "i-0f9e8d7c6b5a40312", r), 14, IPS[5:8], ["spark"],
         [B[0], B[1]], ops_reader, 0.005),
        (_assumed_role("MLTrainingRole", "sagemaker-training-job-8812", r), 18, IPS[8:12], ["boto3"],
         [B[1]], ops_reader, 0.002),
        (_assumed_role("ExportLambdaRole", "customer-export-fn", r), 8, IPS[12:14] + [IPS[20]], ["boto3_lambda"],
         [B[4]], ops_writer, 0.01),
        (_assumed_role("AWSReservedSSO_ReadOnly_5c1d9b8a2e3f4d60", "carol@example.com", r, path="aws-reserved/sso.amazonaws.com/"),
         3, IPS[15:18], ["cli", "browser"], B[0:8], ops_admin, 0.15),
        (_assumed_role("PartnerIngest", "partner-sync", r, account=PARTNER_ACCOUNT), 5, IPS[18:22], ["java", "rclone"],
         [B[4]], ops_reader, 0.03),
        # an AWS service: S3 itself (replication / batch operations) reading, CloudTrail writing its logs
        ({"type": "AWSService", "invokedBy": "s3.amazonaws.com"}, 4, ["s3.amazonaws.com"], ["s3"],
         [B[3], B[5]], {"GetObject": 95, "HeadObject": 5}, 0.0),
        ({"type": "AWSService", "invokedBy": "cloudtrail.amazonaws.com"}, 1, ["cloudtrail.amazonaws.com"], ["cloudtrail"],
         [B[7]], {"GetBucketAcl": 30, "PutObject": 70}, 0.0),
        # anonymous: public assets from the internet, plus a scanner denied on private buckets
        ({"type": "AWSAccount", "principalId": "", "accountId": "ANONYMOUS_PRINCIPAL"}, 10, IPS[22:36],
         ["curl", "browser", "go"], [B[2]], {"GetObject": 97, "HeadObject": 3}, 0.01),
        ({"type": "AWSAccount", "principalId": "", "accountId": "ANONYMOUS_PRINCIPAL"}, 1, IPS[36:40],
         ["curl"], [B[0], B[3], B[4]], {"GetObject": 80, "ListObjects": 20}, 1.0),
    ]
    out = []
    for ident, w, ips, uas, buckets, ops, denied in callers:
        names, weights = zip(*ops.items())
        out.append({"ident": ident, "ips": ips, "uas": uas, "buckets": buckets,
                    "ops": names, "op_weights": weights, "denied": denied, "weight": w})
    # a fixed key space per bucket: dated partitions, model shards, assets, exports
    keys = {}
    for b in BUCKETS:
        n = 3000
        prefix = {"acme-prod-data-lake": "warehouse/events/dt=2026-10-{:02d}/part-{:05d}-7c1e.snappy.parquet",
                  "acme-ml-training": "datasets/imagenet-shards/train-{:02d}-{:05d}.tar",
                  "acme-public-assets": "static/v{:02d}/img/asset-{:05d}.webp",
                  "acme-backups": "pg/prod/2026-10-{:02d}/base-{:05d}.tar.zst",
                  "acme-customer-exports": "exports/tenant-{:02d}/report-{:05d}.csv.gz",
                  "acme-logs-archive": "alb/2026/10/{:02d}/log-{:05d}.gz",
                  "acme-analytics-scratch": "tmp/notebook-{:02d}/result {:05d}.json",
                  "acme-cloudtrail-logs": "AWSLogs/o-abc/{:02d}/digest-{:05d}.json.gz"}[b]
        keys[b] = [prefix.format(1 + r.randrange(30), i) for i in range(n)]
    sizes = {  # median object size in bytes (log-normal around it)
        "acme-prod-data-lake": 48e6, "acme-ml-training": 120e6, "acme-public-assets": 90e3,
        "acme-backups": 200e6, "acme-customer-exports": 2e6, "acme-logs-archive": 600e3,
        "acme-analytics-scratch": 30e3, "acme-cloudtrail-logs": 8e3,
    }
    return out, keys, sizes


POPULATION, KEYS, SIZES = _population()
CALLER_CUM_WEIGHTS = list(itertools.accumulate(c["weight"] for c in POPULATION))


# --high-cardinality: eu-west-1's population. Built once, on first use (the default trail never
# pays for it), from its own fixed RNG and HC_PARAMS.

EU_BUCKETS = {  # name: (key template, median object size in bytes)
    "acme-eu-data-lake": ("lake/clickstream/dt=2026-10-{:02d}/part-{:05d}-a41f.zstd.parquet", 64e6),
    "acme-eu-ml-features": ("features/v{:02d}/shard-{:05d}.arrow", 12e6),
    "acme-eu-media": ("media/{:02d}/video-{:05d}.mp4", 1.5e6),
    "acme-eu-customer-exports": ("exports/tenant-{:02d}/invoice-{:05d}.pdf", 3e6),
    "acme-eu-analytics-scratch": ("scratch/job-{:02d}/out {:05d}.json", 40e3),
    "acme-eu-backups": ("mysql/eu-prod/2026-10-{:02d}/chunk-{:05d}.xb.zst", 150e6),
}


def _role_sessions(role, sessions, rng, account=ACCOUNT, web_identity=None):
    """The userIdentity of each session of one role (one role id; an access key per session)."""
    role_id = "AROA" + _rand_id(rng, _UPPER_DIGITS, 17)
    issuer = {"type": "Role", "principalId": role_id, "arn": f"arn:aws:iam::{account}:role/{role}",
              "accountId": account, "userName": role}
    out = []
    for session in sessions:
        ctx = {"sessionIssuer": issuer}
        if web_identity:
            ctx["webIdFederationData"] = {"federatedProvider": web_identity, "attributes": {}}
        ctx["attributes"] = {"creationDate": "2026-10-31T23:12:08Z", "mfaAuthenticated": "false"}
        out.append({
            "type": "AssumedRole", "principalId": f"{role_id}:{session}",
            "arn": f"arn:aws:sts::{account}:assumed-role/{role}/{session}",
            "accountId": account, "accessKeyId": "ASIA" + _rand_id(rng, _UPPER_DIGITS, 16),
            "sessionContext": ctx,
        })
    return out


def _private_ips(rng, prefix, n):
    """n distinct addresses prefix.X.Y (no .0 or .255)."""
    cells = rng.sample([a * 256 + b for a in range(256) for b in range(1, 255)], n)
    return [f"{prefix}.{c >> 8}.{c & 255}" for c in cells]


def _internet_ips(rng, n):
    """n distinct public addresses, one in ten IPv6."""
    firsts = [2, 5, 31, 37, 46, 62, 77, 78, 79, 80, 81, 82, 83, 84, 85, 86, 87, 88, 89, 90, 91, 92, 93,
              94, 95, 109, 151, 176, 178, 185, 188, 193, 194, 195, 212, 213, 217]
    seen, out = set(), []
    while len(out) < n:
        if rng.random() < 0.1:
            ip = "2a02:%x:%x:%x::%x" % tuple(rng.randrange(1, 0xffff) for _ in range(4))
        else:
            ip = f"{rng.choice(firsts)}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
        if ip not in seen:
            seen.add(ip)
            out.append(ip)
    return out


_HC = None


def _hc_population():
    """eu-west-1's callers, keys and sizes (cached). Fleets draw a session and an address per
    request, so (principal, IP, user agent, bucket) groups number in the hundreds of thousands."""
    global _HC
    if _HC is not None:
        return _HC
    r = random.Random("population-hc")
    P = HC_PARAMS
    ops_fleet = {"GetObject": 92, "HeadObject": 5, "ListObjects": 3}
    ops_reader = {"GetObject": 85, "HeadObject": 8, "ListObjects": 6, "PutObject": 1}
    ops_writer = {"GetObject": 55, "PutObject": 25, "HeadObject": 10, "ListObjects": 10}
    ops_admin = {"GetObject": 60, "ListObjects": 20, "HeadObject": 10, "GetBucketAcl": 7, "PutBucketPolicy": 3}
    lake, ml, media, exports, scratch, backups = EU_BUCKETS
    eu_ips = _private_ips(r, "10.0", 8) + ["203.0.113.80", "203.0.113.81", "198.51.100.40"]

    spark_sessions = sorted({"i-0" + _rand_id(r, "0123456789abcdef", 16)
                             for _ in range(P["fleet_spark"]["sessions"])})
    eks_sessions = [f"botocore-session-{t}" for t in
                    sorted(r.sample(range(1_761_955_200, 1_762_041_600), P["fleet_eks"]["sessions"]))]
    oidc = f"arn:aws:iam::{ACCOUNT}:oidc-provider/oidc.eks.eu-west-1.amazonaws.com/id/" + _rand_id(r, _HEX, 32)
    presign_ips = _internet_ips(r, P["presigned"]["ips"])
    z = P["presigned"]["zipf"]
    presign_cum = list(itertools.accumulate(1.0 / (i + 1) ** z for i in range(len(presign_ips))))
    anon_ips = _internet_ips(r, 300)

    callers = [
        # fleets: a session, an address and an SDK drawn per request
        ({"idents": _role_sessions("AnalyticsFleetRole", spark_sessions, r),
          "ips": _private_ips(r, "10.64", P["fleet_spark"]["ips"])}, 30,
         ["spark", "java"], [lake, scratch], ops_fleet, 0.005),
        ({"idents": _role_sessions("eks-batch-worker", eks_sessions, r, web_identity=oidc),
          "ips": _private_ips(r, "10.72", P["fleet_eks"]["ips"])}, 22,
         ["boto3_eks", "go", "java"], [ml, lake, exports], ops_fleet, 0.01),
        # presigned URLs: signed by an API's Lambda sessions, fetched by anyone with the link
        ({"idents": _role_sessions("PresignApiRole", [f"presign-api-{i}" for i in range(P["presigned"]["sessions"])], r),
          "ips": presign_ips, "ip_cum": presign_cum, "auth": "QueryString"}, 16,
         ["browser", "safari_ios", "chrome_android", "firefox", "curl", "wget"], [media, exports],
         {"GetObject": 97, "HeadObject": 3}, 0.02),
        # the usual few
        ({"ident": _role_sessions("DataPipelineRole", ["i-0c4d2e8f1a3b5c7d9"], r)[0], "ips": eu_ips[0:4]}, 10,
         ["spark", "java"], [lake, ml], ops_reader, 0.005),
        ({"ident": _iam_user("dana", r), "ips": eu_ips[8:11]}, 4,
         ["cli", "cli_sync", "browser"], list(EU_BUCKETS), ops_admin, 0.03),
        ({"ident": _iam_user("eu-etl-legacy", r), "ips": eu_ips[4:6]}, 3,
         ["rclone", "curl"], [backups, exports], ops_writer, 0.01),
        ({"ident": _assumed_role("AWSReservedSSO_ReadOnly_5c1d9b8a2e3f4d60", "erik@example.com", r,
                                 path="aws-reserved/sso.amazonaws.com/"), "ips": eu_ips[8:11]}, 2,
         ["cli", "browser"], list(EU_BUCKETS), ops_admin, 0.15),
        ({"ident": _assumed_role("PartnerIngest", "partner-sync-eu", r, account=PARTNER_ACCOUNT),
          "ips": IPS[18:22]}, 4, ["java", "rclone"], [exports], ops_reader, 0.03),
        ({"ident": {"type": "AWSService", "invokedBy": "s3.amazonaws.com"}, "ips": ["s3.amazonaws.com"]}, 4,
         ["s3"], [backups], {"GetObject": 95, "HeadObject": 5}, 0.0),
        ({"ident": {"type": "AWSAccount", "principalId": "", "accountId": "ANONYMOUS_PRINCIPAL"},
          "ips": anon_ips}, 4, ["curl", "browser", "safari_ios"], [media], {"GetObject": 97, "HeadObject": 3}, 0.01),
        ({"ident": {"type": "AWSAccount", "principalId": "", "accountId": "ANONYMOUS_PRINCIPAL"},
          "ips": IPS[36:40]}, 1, ["curl"], [lake, backups], {"GetObject": 80, "ListObjects": 20}, 1.0),
    ]
    population = []
    for who, w, uas, buckets, ops, denied in callers:
        names, weights = zip(*ops.items())
        population.append({**who, "uas": uas, "buckets": buckets, "ops": names, "op_weights": weights,
                           "denied": denied, "weight": w})
    keys = {b: [t.format(1 + r.randrange(30), i) for i in range(3000)] for b, (t, _) in EU_BUCKETS.items()}
    sizes = {b: size for b, (_, size) in EU_BUCKETS.items()}
    cum = list(itertools.accumulate(c["weight"] for c in population))
    _HC = {"population": population, "cum_weights": cum, "keys": keys, "sizes": sizes}
    return _HC


# ---------------------------------------------------------------------------------------------
# One record

def _object_bytes(rng, bucket, sizes):
    # log-normal object sizes; a third of large-object reads are ranged (part of the object)
    size = int(rng.lognormvariate(0, 1.2) * sizes[bucket]) + 1
    if size > 8_000_000 and rng.random() < 0.33:
        size = rng.choice((8_388_608, 16_777_216, 5_242_880))
    return min(size, 5_000_000_000)


def _record(rng, t, population=None, cum_weights=None, region=REGION, keys=None, sizes=None):
    """One CloudTrail record at time t (a datetime). Returns (record dict, GetObject bytes or None).

    The defaults draw from the default trail's population in us-east-1; --high-cardinality passes
    its own (callers with `idents` draw a session per record, with `ip_cum` a weighted address,
    with `auth` always sign that way). What the default draws is unchanged, so is its output."""
    if population is None:
        population, cum_weights = POPULATION, CALLER_CUM_WEIGHTS
    keys = KEYS if keys is None else keys
    sizes = SIZES if sizes is None else sizes
    c = rng.choices(population, cum_weights=cum_weights)[0]
    op = rng.choices(c["ops"], c["op_weights"])[0]
    bucket = rng.choice(c["buckets"])
    if "ip_cum" in c:
        ip = rng.choices(c["ips"], cum_weights=c["ip_cum"])[0]
    else:
        ip = rng.choice(c["ips"])
    ident = rng.choice(c["idents"]) if "idents" in c else c["ident"]
    anonymous = ident.get("accountId") == "ANONYMOUS_PRINCIPAL"
    service = ident["type"] == "AWSService"
    host = f"{bucket}.s3.{region}.amazonaws.com" if rng.random() < 0.8 else f"s3.{region}.amazonaws.com"
    key = rng.choice(keys[bucket])
    management = op in ("GetBucketAcl", "PutBucketPolicy")
    denied = op not in ("PutBucketPolicy",) and rng.random() < c["denied"]
    cipher = rng.choice(CIPHERS)

    rec = {"eventVersion": "1.10" if not management else "1.09", "userIdentity": ident,
           "eventTime": t.strftime("%Y-%m-%dT%H:%M:%SZ"), "eventSource": "s3.amazonaws.com",
           "eventName": op, "awsRegion": region, "sourceIPAddress": ip}
    if rng.random() >= 0.01:  # userAgent is missing in ~1% of records
        rec["userAgent"] = USER_AGENTS[rng.choice(c["uas"])]
    if denied:
        rec["errorCode"] = "AccessDenied"
        rec["errorMessage"] = "Access Denied"

    if op in ("GetObject", "HeadObject", "PutObject"):
        params = {"bucketName": bucket, "Host": host, "key": key}
        if op == "PutObject" and not service:
            params["x-amz-server-side-encryption"] = "aws:kms"
    elif op == "ListObjects":
        params = {"list-type": "2", "bucketName": bucket, "encoding-type": "url", "max-keys": "1000",
                  "prefix": key.rsplit("/", 1)[0] + "/", "delimiter": "/", "Host": host}
    elif op == "GetBucketAcl":
        params = {"bucketName": bucket, "Host": host, "acl": ""}
    else:  # PutBucketPolicy
        params = {"bucketPolicy": {"Version": "2012-10-17", "Statement": [{
            "Sid": "DenyInsecureTransport", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
            "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]},
            "bucketName": bucket, "Host": host, "policy": ""}
    rec["requestParameters"] = params
    rec["responseElements"] = None

    got = None
    extra = {}
    if not anonymous:
        extra["SignatureVersion"] = "SigV4"
    extra["CipherSuite"] = cipher
    bytes_in = _object_bytes(rng, bucket, sizes) if op == "PutObject" and not denied else 0
    extra["bytesTransferredIn"] = bytes_in
    if not anonymous:
        extra["AuthenticationMethod"] = "AuthHeader" if rng.random() < 0.97 else "QueryString"
        extra["AuthenticationMethod"] = c.get("auth", extra["AuthenticationMethod"])
    extra["x-amz-id-2"] = _rand_id(rng, _B64, 76)
    if not denied:  # failed calls carry no bytesTransferredOut
        if op == "GetObject":
            out = got = _object_bytes(rng, bucket, sizes)
        elif op == "ListObjects":
            out = rng.randrange(400, 90_000)
        else:
            out = 0
        # ~10% of records write the count as a float, as real trails do
        extra["bytesTransferredOut"] = float(out) if rng.random() < 0.10 else out
    rec["additionalEventData"] = extra
    rec["requestID"] = _rand_id(rng, _HEX, 16)
    h = "%032x" % rng.getrandbits(128)
    rec["eventID"] = f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[int(h[16], 16) & 3]}{h[17:20]}-{h[20:]}"
    rec["readOnly"] = op in ("GetObject", "HeadObject", "ListObjects", "GetBucketAcl")
    bucket_res = {"accountId": ACCOUNT, "type": "AWS::S3::Bucket", "ARN": f"arn:aws:s3:::{bucket}"}
    if op in ("GetObject", "HeadObject", "PutObject"):
        rec["resources"] = [{"type": "AWS::S3::Object", "ARN": f"arn:aws:s3:::{bucket}/{key}"}, bucket_res]
    else:
        rec["resources"] = [bucket_res]
    rec["eventType"] = "AwsApiCall"
    rec["managementEvent"] = management
    rec["recipientAccountId"] = ACCOUNT
    if ident.get("accountId") not in (ACCOUNT, "ANONYMOUS_PRINCIPAL") and not service:
        rec["sharedEventID"] = rec["eventID"]
    rec["eventCategory"] = "Management" if management else "Data"
    rec["tlsDetails"] = {"tlsVersion": "TLSv1.3" if cipher.startswith("TLS_") else "TLSv1.2",
                         "cipherSuite": cipher, "clientProvidedHostHeader": host}
    return rec, (got if op == "GetObject" else None)


# ---------------------------------------------------------------------------------------------
# One file (one 5-minute slot); runs in a worker process

def _slot_start(params, slot):
    start = dt.datetime.fromisoformat(params["start"])
    return start + dt.timedelta(minutes=params["slot_minutes"] * slot)


def _gen_file(args):
    """One file: region None is the default trail (us-east-1), else --high-cardinality's region.
    Returns the file's totals and its GetObject groups {(principal, ip, ua, bucket): [requests,
    errors, bytes_out]}."""
    out_dir, task_region, slot = args
    region = task_region
    if region is None:
        params, region = PARAMS, REGION
        rng = random.Random(f"{PARAMS['seed']}-{slot}")
        file_bytes = PARAMS["file_bytes"]
        draw = {}
    else:
        params = HC_PARAMS
        rng = random.Random(f"{HC_PARAMS['seed']}-{region}-{slot}")
        file_bytes = HC_PARAMS["file_bytes"][region]
        if region == "eu-west-1":
            hc = _hc_population()
            draw = {"population": hc["population"], "cum_weights": hc["cum_weights"],
                    "keys": hc["keys"], "sizes": hc["sizes"]}
        else:
            draw = {}
        draw["region"] = region
    account = params["account"]
    t0 = _slot_start(params, slot)
    target = rng.randrange(*file_bytes)
    day = t0.strftime("%Y/%m/%d")
    name = (f"{account}_CloudTrail_{region}_{t0.strftime('%Y%m%dT%H%MZ')}_"
            f"{_rand_id(rng, _ALNUM, 16)}.json.gz")
    slot_secs = params["slot_minutes"] * 60

    # generate the records, then sort them by time (roughly as CloudTrail orders a file)
    parts, size = [], len('{"Records":[]}')
    get_bytes = get_ok = get_denied = records = 0
    secs = []
    groups = {}
    while size < target:
        s = rng.randrange(slot_secs)
        rec, got = _record(rng, t0 + dt.timedelta(seconds=s), **draw)
        if rec["eventName"] == "GetObject":
            if got is None:
                get_denied += 1
            else:
                get_ok += 1
                get_bytes += got
            u = rec["userIdentity"]
            principal = next((u[f] for f in ("arn", "invokedBy", "accountId") if u.get(f) is not None), None)
            key = (principal, rec["sourceIPAddress"], rec.get("userAgent"), rec["requestParameters"]["bucketName"])
            g = groups.get(key)
            if g is None:
                g = groups[key] = [0, 0, 0]
            g[0] += 1
            g[1] += "errorCode" in rec
            g[2] += got or 0
        text = json.dumps(rec, separators=(",", ":"))
        secs.append(s)
        parts.append(text)
        size += len(text) + 1
        records += 1
    order = sorted(range(records), key=lambda i: secs[i])
    body = ('{"Records":[' + ",".join(parts[i] for i in order) + "]}").encode()
    del parts

    path = os.path.join(out_dir, "AWSLogs", account, "CloudTrail", region, day)
    os.makedirs(path, exist_ok=True)
    gz = gzip.compress(body, compresslevel=params["gzip_level"], mtime=0)
    with open(os.path.join(path, name + ".tmp"), "wb") as f:
        f.write(gz)
    os.replace(os.path.join(path, name + ".tmp"), os.path.join(path, name))
    stats = {"records": records, "uncompressed_bytes": len(body), "compressed_bytes": len(gz),
             "getobject_ok": get_ok, "getobject_denied": get_denied, "getobject_bytes_out": get_bytes}
    return task_region, stats, groups


def _count_files(out_dir):
    n = 0
    for _, _, files in os.walk(os.path.join(out_dir, "AWSLogs")):
        n += sum(1 for f in files if f.endswith(".json.gz"))
    return n


def _max_rss_mib():
    """Peak memory of this process and of its finished children (the workers), in MiB."""
    try:
        import resource
        self_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        child_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        return self_kb // 1024, child_kb // 1024
    except (ImportError, OSError):
        return None, None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out_dir", nargs="?", help="default: target/bench-trail, or target/bench-trail-hc "
                    "with --high-cardinality")
    ap.add_argument("--high-cardinality", action="store_true",
                    help="one day in two regions with over 300,000 GetObject groups in eu-west-1")
    args = ap.parse_args()
    hc = args.high_cardinality
    params = HC_PARAMS if hc else PARAMS
    out_dir = args.out_dir or ("target/bench-trail-hc" if hc else "target/bench-trail")
    per_region = params["days"] * 24 * 60 // params["slot_minutes"]
    regions = params["regions"] if hc else [None]
    slots = per_region * len(regions)
    marker = os.path.join(out_dir, MARKER)
    try:
        with open(marker) as f:
            old = json.load(f)
        if (old.get("params") == params and old.get("groups_file") == GROUPS
                and os.path.exists(os.path.join(out_dir, GROUPS)) and _count_files(out_dir) == slots):
            print(f"gen-trail: {out_dir} already holds the trail ({slots} files); nothing to do", file=sys.stderr)
            return
    except (OSError, ValueError):
        pass

    os.makedirs(out_dir, exist_ok=True)
    for f in (marker, os.path.join(out_dir, GROUPS)):
        if os.path.exists(f):
            os.remove(f)
    shutil.rmtree(os.path.join(out_dir, "AWSLogs"), ignore_errors=True)
    what = "high-cardinality " if hc else ""
    print(f"gen-trail: writing {slots} files of a {what}trail into {out_dir} on {WORKERS} processes ...",
          file=sys.stderr)
    started = time.monotonic()
    if hc:
        _hc_population()  # built once here, inherited by forked workers
    tasks = [(out_dir, region, s) for region in regions for s in range(per_region)]
    keys = ("records", "uncompressed_bytes", "compressed_bytes", "getobject_ok", "getobject_denied",
            "getobject_bytes_out")
    by_region = {r: dict.fromkeys(keys, 0) for r in regions}
    region_groups = {r: 0 for r in regions}
    groups = {}
    intern = sys.intern
    with multiprocessing.Pool(WORKERS) as pool:
        # merged as they come, so that only the ground truth per group stays in memory
        for region, stats, file_groups in pool.imap_unordered(_gen_file, tasks, chunksize=4):
            for k in keys:
                by_region[region][k] += stats[k]
            for (p, ip, ua, b), (n, e, by) in file_groups.items():
                key = (intern(p), intern(ip), ua if ua is None else intern(ua), intern(b))
                g = groups.get(key)
                if g is None:
                    groups[key] = [n, e, by]
                    region_groups[region] += 1
                else:
                    g[0] += n
                    g[1] += e
                    g[2] += by
    totals = {k: sum(r[k] for r in by_region.values()) for k in keys}
    totals["files"] = slots
    totals["getobject_groups"] = len(groups)
    totals["getobject_requests"] = totals["getobject_ok"] + totals["getobject_denied"]
    assert totals["getobject_requests"] == sum(g[0] for g in groups.values())
    assert totals["getobject_bytes_out"] == sum(g[2] for g in groups.values())
    if hc:
        totals["regions"] = {r: {**by_region[r], "files": per_region, "getobject_groups": region_groups[r]}
                             for r in regions}

    # the ground truth per group, sorted (a missing user agent sorts first)
    with open(os.path.join(out_dir, GROUPS + ".tmp"), "wb") as raw:
        with gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=6, mtime=0) as f:
            for key in sorted(groups, key=lambda k: (k[0], k[1], k[2] or "", k[3])):
                f.write((json.dumps([*key, *groups[key]], separators=(",", ":")) + "\n").encode())
    os.replace(os.path.join(out_dir, GROUPS + ".tmp"), os.path.join(out_dir, GROUPS))
    elapsed = time.monotonic() - started
    main_mib, worker_mib = _max_rss_mib()
    with open(marker + ".tmp", "w") as f:
        json.dump({"params": params, "totals": totals, "groups_file": GROUPS, "seconds": round(elapsed, 1),
                   "peak_rss_mib": {"main": main_mib, "worker": worker_mib}}, f, indent=2)
        f.write("\n")
    os.replace(marker + ".tmp", marker)
    print(f"gen-trail: {slots} files, {totals['records']:,} records, "
          f"{totals['uncompressed_bytes'] / 1e6:,.0f} MB JSON, {totals['compressed_bytes'] / 1e6:,.0f} MB gzipped, "
          f"{totals['getobject_requests']:,} GetObject calls in {len(groups):,} groups, "
          f"GetObject bytes out {totals['getobject_bytes_out']:,}, in {elapsed:.1f} s "
          f"(peak memory: main {main_mib} MiB, largest worker {worker_mib} MiB)", file=sys.stderr)
    if hc:
        for r in regions:
            t = totals["regions"][r]
            print(f"gen-trail:   {r}: {t['files']} files, {t['records']:,} records, "
                  f"{t['uncompressed_bytes'] / 1e6:,.0f} MB JSON, {t['compressed_bytes'] / 1e6:,.0f} MB gzipped, "
                  f"{t['getobject_ok'] + t['getobject_denied']:,} GetObject calls in {t['getobject_groups']:,} groups",
                  file=sys.stderr)


if __name__ == "__main__":
    main()
