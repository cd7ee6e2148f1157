#!/usr/bin/env python3
"""Seed the fuzz corpora from the reference trails (../shared/reference/cloudtrail by default).

    python3 fuzz/make_corpus.py [REFERENCE_DIR]

- corpus/record_json: one file per record (compact JSON) and a gzipped copy of each;
- corpus/reader: small trail files of up to 4 records, as {"Records":[...]}, a bare array and
  JSON Lines, each also gzipped; plus everything in seeds/.
Files are named by the SHA-1 of their content, as libFuzzer does. corpus/ is not in git.
"""

import glob
import gzip
import hashlib
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_REF = os.path.join(HERE, "..", "..", "shared", "reference", "cloudtrail")


def put(folder, data):
    os.makedirs(folder, exist_ok=True)
    name = hashlib.sha1(data).hexdigest()
    with open(os.path.join(folder, name), "wb") as f:
        f.write(data)


def gz(data):
    return gzip.compress(data, compresslevel=6, mtime=0)


def main():
    ref = sys.argv[1] if len(sys.argv) > 1 else DEFAULT_REF
    files = sorted(glob.glob(os.path.join(ref, "**", "*.json"), recursive=True))
    record_dir = os.path.join(HERE, "corpus", "record_json")
    reader_dir = os.path.join(HERE, "corpus", "reader")
    records = 0
    for path in files:
        with open(path, "rb") as f:
            try:
                doc = json.load(f)
            except ValueError:
                continue
        if not isinstance(doc, dict) or not isinstance(doc.get("Records"), list):
            continue  # e.g. the panther index file
        recs = doc["Records"]
        for r in recs:
            data = json.dumps(r, separators=(",", ":"), ensure_ascii=False).encode()
            put(record_dir, data)
            put(record_dir, gz(data))
            records += 1
        for i in range(0, len(recs), 4):
            chunk = recs[i : i + 4]
            compact = [json.dumps(r, separators=(",", ":"), ensure_ascii=False) for r in chunk]
            for data in (
                ('{"Records":[' + ",".join(compact) + "]}").encode(),
                ("[" + ",".join(compact) + "]").encode(),
                ("\n".join(compact) + "\n").encode(),
            ):
                put(reader_dir, data)
                put(reader_dir, gz(data))
    seeds = os.path.join(HERE, "seeds")
    for name in sorted(os.listdir(seeds)):
        with open(os.path.join(seeds, name), "rb") as f:
            data = f.read()
        put(reader_dir, data)
        put(record_dir, data)
    print(
        f"{records} records from {len(files)} files: "
        f"{len(os.listdir(record_dir))} record_json inputs, {len(os.listdir(reader_dir))} reader inputs"
    )


if __name__ == "__main__":
    main()
