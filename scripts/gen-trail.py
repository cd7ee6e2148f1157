#!/usr/bin/env python3
"""Generate a synthetic CloudTrail S3 trail for benchmarking `egresswatch callers`.

    python3 scripts/gen-trail.py [OUT_DIR]      # default: target/bench-trail

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

Deterministic: every file is generated from its own seeded RNG (seed + slot number), so the output
is byte-identical whatever the number of worker processes. Generation runs on 2 processes.

OUT_DIR/.gen-trail.json is written last and holds the parameters and the ground truth (records,
GetObject bytes out, ...). When it is there with the same parameters and every file is present, the
script does nothing; otherwise it deletes OUT_DIR/AWSLogs and generates the trail again.
"""

import datetime as dt
import gzip
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
MARKER = ".gen-trail.json"
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
CALLER_WEIGHTS = [c["weight"] for c in POPULATION]


# ---------------------------------------------------------------------------------------------
# One record

def _object_bytes(rng, bucket):
    # log-normal object sizes; a third of large-object reads are ranged (part of the object)
    size = int(rng.lognormvariate(0, 1.2) * SIZES[bucket]) + 1
    if size > 8_000_000 and rng.random() < 0.33:
        size = rng.choice((8_388_608, 16_777_216, 5_242_880))
    return min(size, 5_000_000_000)


def _record(rng, t):
    """One CloudTrail record at time t (a datetime). Returns (record dict, GetObject bytes or None)."""
    c = rng.choices(POPULATION, CALLER_WEIGHTS)[0]
    op = rng.choices(c["ops"], c["op_weights"])[0]
    bucket = rng.choice(c["buckets"])
    ip = rng.choice(c["ips"])
    ident = c["ident"]
    anonymous = ident.get("accountId") == "ANONYMOUS_PRINCIPAL"
    service = ident["type"] == "AWSService"
    host = f"{bucket}.s3.{REGION}.amazonaws.com" if rng.random() < 0.8 else f"s3.{REGION}.amazonaws.com"
    key = rng.choice(KEYS[bucket])
    management = op in ("GetBucketAcl", "PutBucketPolicy")
    denied = op not in ("PutBucketPolicy",) and rng.random() < c["denied"]
    cipher = rng.choice(CIPHERS)

    rec = {"eventVersion": "1.10" if not management else "1.09", "userIdentity": ident,
           "eventTime": t.strftime("%Y-%m-%dT%H:%M:%SZ"), "eventSource": "s3.amazonaws.com",
           "eventName": op, "awsRegion": REGION, "sourceIPAddress": ip}
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
    bytes_in = _object_bytes(rng, bucket) if op == "PutObject" and not denied else 0
    extra["bytesTransferredIn"] = bytes_in
    if not anonymous:
        extra["AuthenticationMethod"] = "AuthHeader" if rng.random() < 0.97 else "QueryString"
    extra["x-amz-id-2"] = _rand_id(rng, _B64, 76)
    if not denied:  # failed calls carry no bytesTransferredOut
        if op == "GetObject":
            out = got = _object_bytes(rng, bucket)
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

def _slot_start(slot):
    start = dt.datetime.fromisoformat(PARAMS["start"])
    return start + dt.timedelta(minutes=PARAMS["slot_minutes"] * slot)


def _gen_file(args):
    out_dir, slot = args
    rng = random.Random(f"{PARAMS['seed']}-{slot}")
    t0 = _slot_start(slot)
    target = rng.randrange(*PARAMS["file_bytes"])
    day = t0.strftime("%Y/%m/%d")
    name = (f"{ACCOUNT}_CloudTrail_{REGION}_{t0.strftime('%Y%m%dT%H%MZ')}_"
            f"{_rand_id(rng, _ALNUM, 16)}.json.gz")
    slot_secs = PARAMS["slot_minutes"] * 60

    # generate the records, then sort them by time (roughly as CloudTrail orders a file)
    parts, size = [], len('{"Records":[]}')
    get_bytes = get_ok = get_denied = records = 0
    secs = []
    while size < target:
        s = rng.randrange(slot_secs)
        rec, got = _record(rng, t0 + dt.timedelta(seconds=s))
        if rec["eventName"] == "GetObject":
            if got is None:
                get_denied += 1
            else:
                get_ok += 1
                get_bytes += got
        text = json.dumps(rec, separators=(",", ":"))
        secs.append(s)
        parts.append(text)
        size += len(text) + 1
        records += 1
    order = sorted(range(records), key=lambda i: secs[i])
    body = ('{"Records":[' + ",".join(parts[i] for i in order) + "]}").encode()

    path = os.path.join(out_dir, "AWSLogs", ACCOUNT, "CloudTrail", REGION, day)
    os.makedirs(path, exist_ok=True)
    gz = gzip.compress(body, compresslevel=PARAMS["gzip_level"], mtime=0)
    with open(os.path.join(path, name + ".tmp"), "wb") as f:
        f.write(gz)
    os.replace(os.path.join(path, name + ".tmp"), os.path.join(path, name))
    return {"records": records, "uncompressed_bytes": len(body), "compressed_bytes": len(gz),
            "getobject_ok": get_ok, "getobject_denied": get_denied, "getobject_bytes_out": get_bytes}


def _count_files(out_dir):
    n = 0
    for _, _, files in os.walk(os.path.join(out_dir, "AWSLogs")):
        n += sum(1 for f in files if f.endswith(".json.gz"))
    return n


def main():
    out_dir = sys.argv[1] if len(sys.argv) > 1 else "target/bench-trail"
    slots = PARAMS["days"] * 24 * 60 // PARAMS["slot_minutes"]
    marker = os.path.join(out_dir, MARKER)
    try:
        with open(marker) as f:
            old = json.load(f)
        if old.get("params") == PARAMS and _count_files(out_dir) == slots:
            print(f"gen-trail: {out_dir} already holds the trail ({slots} files); nothing to do", file=sys.stderr)
            return
    except (OSError, ValueError):
        pass

    os.makedirs(out_dir, exist_ok=True)
    if os.path.exists(marker):
        os.remove(marker)
    shutil.rmtree(os.path.join(out_dir, "AWSLogs"), ignore_errors=True)
    print(f"gen-trail: writing {slots} files into {out_dir} on {WORKERS} processes ...", file=sys.stderr)
    started = time.monotonic()
    with multiprocessing.Pool(WORKERS) as pool:
        stats = pool.map(_gen_file, [(out_dir, s) for s in range(slots)], chunksize=4)
    totals = {k: sum(s[k] for s in stats) for k in stats[0]}
    totals["files"] = slots
    elapsed = time.monotonic() - started
    with open(marker + ".tmp", "w") as f:
        json.dump({"params": PARAMS, "totals": totals, "seconds": round(elapsed, 1)}, f, indent=2)
        f.write("\n")
    os.replace(marker + ".tmp", marker)
    print(f"gen-trail: {slots} files, {totals['records']:,} records, "
          f"{totals['uncompressed_bytes'] / 1e6:,.0f} MB JSON, {totals['compressed_bytes'] / 1e6:,.0f} MB gzipped, "
          f"GetObject bytes out {totals['getobject_bytes_out']:,}, in {elapsed:.1f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
