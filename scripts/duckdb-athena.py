#!/usr/bin/env python3
"""Run egresswatch's Athena SQL on DuckDB, over a local trail in the CloudTrail delivery layout.

    duckdb-athena.py --trail DIR --sql FILE [--database default] [--table cloudtrail_logs]

The trail is exposed as "AwsDataCatalog"."<database>"."<table>", a view with the column names
and types of the table AWS documents for CloudTrail in Athena (lower-case names, userIdentity a
struct, requestParameters and additionalEventData JSON text), plus the partition columns
taken from each file's folder: `region` and `timestamp` (yyyy/MM/dd, partition projection), and
`year`, `month`, `day` (AWS's manual-partitioning layout). Two Trino
functions DuckDB spells differently are defined as macros (json_extract_scalar, is_finite);
the query text itself is run unchanged.

Prints the answer as JSON: {"columns": [...], "rows": [[text or null, ...], ...]}, every value
as text, as Athena's GetQueryResults returns it. Used by tests/suite/pushdown.rs.
"""

import argparse
import json
import sys

import duckdb

IDENTITY = (
    "STRUCT(type VARCHAR, principalId VARCHAR, arn VARCHAR, accountId VARCHAR, "
    "invokedBy VARCHAR, accessKeyId VARCHAR, userName VARCHAR, "
    "sessionContext STRUCT(sessionIssuer STRUCT(type VARCHAR, principalId VARCHAR, "
    "arn VARCHAR, accountId VARCHAR, userName VARCHAR)))"
)
RECORD = (
    "STRUCT(eventVersion VARCHAR, userIdentity " + IDENTITY + ", eventTime VARCHAR, "
    "eventSource VARCHAR, eventName VARCHAR, awsRegion VARCHAR, sourceIPAddress VARCHAR, "
    "userAgent VARCHAR, errorCode VARCHAR, errorMessage VARCHAR, requestParameters JSON, "
    "responseElements JSON, additionalEventData JSON, requestID VARCHAR, eventID VARCHAR, "
    "readOnly JSON, eventType VARCHAR, recipientAccountId VARCHAR, "
    "sharedEventID VARCHAR, vpcEndpointId VARCHAR, eventCategory VARCHAR)"
)


def text(v):
    if v is None:
        return None
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--trail", required=True)
    ap.add_argument("--sql", required=True)
    ap.add_argument("--database", default="default")
    ap.add_argument("--table", default="cloudtrail_logs")
    a = ap.parse_args()
    sql = open(a.sql, encoding="utf-8").read()

    con = duckdb.connect()
    con.execute("SET threads = 2")
    con.execute("ATTACH ':memory:' AS \"AwsDataCatalog\"")
    con.execute(f'CREATE SCHEMA "AwsDataCatalog"."{a.database}"')
    # Trino: NULL for a missing key, a JSON null, an object or an array.
    con.execute(
        "CREATE MACRO json_extract_scalar(j, p) AS "
        "CASE WHEN json_type(j, p) IN ('OBJECT', 'ARRAY', 'NULL') THEN NULL "
        "ELSE json_extract_string(j, p) END"
    )
    con.execute("CREATE MACRO is_finite(x) AS isfinite(x)")
    files = f"{a.trail.rstrip('/')}/**/CloudTrail/*/*/*/*/*.json.gz"
    con.execute(
        f'''CREATE VIEW "AwsDataCatalog"."{a.database}"."{a.table}" AS
        SELECT r.eventVersion AS eventversion, r.userIdentity AS useridentity,
          r.eventTime AS eventtime, r.eventSource AS eventsource, r.eventName AS eventname,
          r.awsRegion AS awsregion, r.sourceIPAddress AS sourceipaddress,
          r.userAgent AS useragent, r.errorCode AS errorcode, r.errorMessage AS errormessage,
          CAST(r.requestParameters AS VARCHAR) AS requestparameters,
          CAST(r.responseElements AS VARCHAR) AS responseelements,
          CAST(r.additionalEventData AS VARCHAR) AS additionaleventdata,
          r.requestID AS requestid, r.eventID AS eventid, r.eventType AS eventtype,
          r.recipientAccountId AS recipientaccountid, r.sharedEventID AS sharedeventid,
          r.vpcEndpointId AS vpcendpointid, r.eventCategory AS eventcategory,
          regexp_extract(filename, '/CloudTrail/([^/]+)/', 1) AS region,
          regexp_extract(filename, '/CloudTrail/[^/]+/([0-9]{{4}}/[0-9]{{2}}/[0-9]{{2}})/', 1)
            AS "timestamp",
          regexp_extract(filename, '/CloudTrail/[^/]+/([0-9]{{4}})/', 1) AS "year",
          regexp_extract(filename, '/CloudTrail/[^/]+/[0-9]{{4}}/([0-9]{{2}})/', 1) AS "month",
          regexp_extract(filename, '/CloudTrail/[^/]+/[0-9]{{4}}/[0-9]{{2}}/([0-9]{{2}})/', 1) AS "day"
        FROM (
          SELECT unnest(Records) AS r, filename
          FROM read_json('{files}', columns = {{'Records': '{RECORD}[]'}},
                         format = 'auto', filename = true, maximum_object_size = 1073741824)
        )'''
    )
    cur = con.execute(sql)
    columns = [d[0] for d in cur.description]
    rows = [[text(v) for v in row] for row in cur.fetchall()]
    json.dump({"columns": columns, "rows": rows}, sys.stdout)


if __name__ == "__main__":
    main()
