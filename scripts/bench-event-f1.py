#!/usr/bin/env python3
"""Event F1 of `egresswatch detect` on labelled NAB v1.1 metrics, against rolling-3-sigma baselines.

What it measures: how well the `anomaly` flag of `egresswatch detect` (its default settings: period
auto, direction both) finds NAB's labelled anomaly windows, counted in events rather than rows or
NAB's weighted score, beside two rolling 3-sigma detectors run on the same files. Standard library
only; everything written goes to a temp dir that is removed on exit.

    python3 scripts/bench-event-f1.py                        # binary: $EGRESSWATCH, else target/debug
    EGRESSWATCH=path/to/egresswatch python3 scripts/bench-event-f1.py
    python3 scripts/bench-event-f1.py --categories realTraffic,realAdExchange
    python3 scripts/bench-event-f1.py --nab path/to/nab --json results.json

Options: --categories A,B,... (NAB data folders; default realAWSCloudwatch, realKnownCause,
realTraffic, realAdExchange; every file in them that has an entry in the labels), --nab DIR (the
corpus; default $NAB_DIR, else ../shared/benchmarks/nab beside the repo root), --json FILE
(machine-readable: settings, every count per file, category and pooled, for each detector).

The binary is ${EGRESSWATCH:-target/debug/egresswatch}; only if that default is missing is it built
(cargo build, debug). It is copied to the temp dir first, so a rebuild running meanwhile cannot
swap it mid-run. It runs once per file, one process at a time. A file that egresswatch refuses
(non-zero exit) or answers with the wrong rows (row count or timestamps differ from the input) is
listed with its error line and scored as flagging nothing.

Prints: the binary; a table with, per category and pooled, for egresswatch and each baseline:
files, labelled windows, detected windows, predicted events, TP events, precision, recall, F1
(pooled: counts summed over the files first), false-alarm events per 1,000 scored rows; then the
per-file F1 of egresswatch vs rolling 3-sigma (W=288), the 10 files where egresswatch is most
ahead and the 10 where it is most behind; the 5 files where egresswatch raises the most false
alarms; the refused files; the wall time.

The metric, per file of n rows:
- Probation: the first min(floor(0.15 n), 750) rows (NAB's probationary period). A detector may
  learn there: flags in it are dropped before events are formed. The remaining rows are the
  "scored rows".
- Flagged rows: egresswatch's `anomaly` column is true (accepts true/false, 1/0); a baseline's
  rule below.
- Event: a maximal run of consecutive flagged (post-probation) rows; two runs separated by fewer
  than G unflagged rows are joined into one event (so are chains of such runs), where
  G = max(1, floor(0.01 n)). An event spans from its first to its last flagged row.
- Labelled window: [start, end] timestamps from labels/combined_windows.json, as the rows from the
  first row whose timestamp is `start` to the first row whose timestamp is `end`, both inside (as
  NAB does; if an edge is not a timestamp of the data, the rows whose timestamps fall in
  [start, end]). Windows are scored wherever they lie, also inside probation.
- A window is detected if any predicted event overlaps it (shares at least one row index). A
  predicted event is a true positive (TP) if it overlaps any window, otherwise a false alarm.
- Precision = TP events / predicted events; recall = detected windows / windows;
  F1 = 2PR / (P + R) (0 if P + R = 0). Undefined parts, per file: no predicted events gives no
  precision, and F1 = 0 if the file has windows; no windows gives no recall, and F1 = 0 if the
  file has predicted events; a file with neither has no F1 (n/a, left out of per-file lists).
  Per category and pooled: the counts are summed over the files, then P, R, F1 computed once.
- False alarms per 1,000 rows = 1000 * false-alarm events / scored rows (rows after probation,
  the only rows where an event can start).

Baselines (computed here, on the same rows): rolling 3-sigma. For row t, the mean and population
standard deviation (divide by the count) of the previous W rows t-W..t-1 (fewer at the start, and
no flag at all for t < 30, i.e. before 30 previous rows exist); flag if |x_t - mean| > 3 sd, and
only if sd > 0 (a window of identical values never flags). Two variants: W = 288 (a day of
5-minute points) and W = 1000. The rolling sums are kept relative to an anchor re-centred every W
rows, and a window of identical values is recognised exactly (sliding min == max), so large
values (byte counters) lose no precision.
"""

import argparse
import csv
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import deque
from datetime import datetime, timezone

DEFAULT_CATEGORIES = ("realAWSCloudwatch", "realKnownCause", "realTraffic", "realAdExchange")
PROBATION_PERCENT = 0.15
PROBATION_MAX = 750
GAP_PERCENT = 0.01
MIN_HISTORY = 30
SIGMAS = 3.0
BASELINES = (("rolling 3sd W=288", 288), ("rolling 3sd W=1000", 1000))
EW_NAME = "egresswatch"
REF_BASELINE = BASELINES[0][0]
TOP_N = 10


def _nab_score():
    """scripts/nab-score.py (the calibrated NAB scorer) as a module: its corpus readers are ours."""
    import importlib.util

    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "nab-score.py")
    spec = importlib.util.spec_from_file_location("nab_score", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_NAB = _nab_score()
repo_root = _NAB.repo_root
parse_ts = _NAB.parse_ts


def read_csv(path):
    """Header (stripped) and non-blank rows (nab-score.py's reader), the file named in errors."""
    try:
        return _NAB.read_csv(path)
    except ValueError as e:
        raise ValueError(f"{path}: {e}") from None


# ---------------------------------------------------------------------------------------------
# Corpus


class DataFile:
    def __init__(self, nab_dir, rel, windows):
        self.rel = rel
        self.category = rel.split("/")[0]
        self.path = os.path.join(nab_dir, "data", rel)
        header, rows = read_csv(self.path)
        t, v = header.index("timestamp"), header.index("value")
        self.timestamps = [parse_ts(r[t]) for r in rows]
        self.values = [float(r[v]) for r in rows]
        self.n = len(rows)
        self.probation = min(math.floor(PROBATION_PERCENT * self.n), PROBATION_MAX)
        self.gap = max(1, math.floor(GAP_PERCENT * self.n))
        self.windows = [self._window_rows(parse_ts(a), parse_ts(b)) for a, b in windows]

    def _window_rows(self, start, end):
        """(first, last) row index of a labelled window, both inside."""
        ts = self.timestamps
        first_index = {}
        for i, t in enumerate(ts):
            first_index.setdefault(t, i)
        if start in first_index and end in first_index:
            lo = first_index[start]
            hi = first_index[end]
            if hi < lo:  # the end timestamp occurs earlier too (duplicates): the first at/after lo
                hi = next(i for i in range(lo, self.n) if ts[i] == end)
            return lo, hi
        inside = [i for i, t in enumerate(ts) if start <= t <= end]
        if not inside:
            raise ValueError(f"{self.rel}: window [{start}, {end}] holds no row")
        return inside[0], inside[-1]


def load_corpus(nab_dir, categories):
    with open(os.path.join(nab_dir, "labels", "combined_windows.json")) as f:
        labels = json.load(f)
    files = []
    for cat in categories:
        catdir = os.path.join(nab_dir, "data", cat)
        if not os.path.isdir(catdir):
            sys.exit(f"bench-event-f1: no category {cat} in {nab_dir}/data")
        for name in sorted(os.listdir(catdir)):
            if not name.endswith(".csv"):
                continue
            rel = f"{cat}/{name}"
            if rel not in labels:
                print(f"bench-event-f1: {rel} has no labels entry; skipped", file=sys.stderr)
                continue
            files.append(DataFile(nab_dir, rel, labels[rel]))
    if not files:
        sys.exit("bench-event-f1: no labelled files in the chosen categories")
    return files


# ---------------------------------------------------------------------------------------------
# Detectors


def binary_under_test(tmp):
    """$EGRESSWATCH, else target/debug/egresswatch (built if missing), copied into tmp."""
    root = repo_root()
    env = os.environ.get("EGRESSWATCH")
    src = env or os.path.join(root, "target", "debug", "egresswatch")
    if not (os.path.isfile(src) and os.access(src, os.X_OK)):
        if env:
            sys.exit(f"bench-event-f1: EGRESSWATCH={env} is not an executable")
        print("bench-event-f1: no egresswatch binary; building it (cargo build)", file=sys.stderr)
        subprocess.run(["cargo", "build", "--quiet"], cwd=root, check=True)
    dst = os.path.join(tmp, "egresswatch")
    shutil.copy2(src, dst)
    version = subprocess.run([dst, "--version"], capture_output=True, text=True).stdout.strip()
    built = datetime.fromtimestamp(os.path.getmtime(src)).strftime("%Y-%m-%d %H:%M")
    shown = os.path.relpath(src, root) if not env else src
    print(f"binary: {shown} ({version}, built {built})")
    return dst, shown, version


def parse_flag(text):
    s = text.strip().lower()
    if s in ("true", "1"):
        return True
    if s in ("false", "0", ""):
        return False
    raise ValueError(f"anomaly value {text!r} is not true/false/1/0")


def egresswatch_flags(ew, df, tmp):
    """Per-row anomaly flags, or (None, reason) if egresswatch refuses the file."""
    out = os.path.join(tmp, "out.csv")
    proc = subprocess.run([ew, "detect", "--quiet", "--input", df.path, "--output", out],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
        return None, f"exit {proc.returncode}: {lines[-1] if lines else '(no message)'}"
    try:
        header, rows = read_csv(out)
        t, a = header.index("timestamp"), header.index("anomaly")
        if len(rows) != df.n:
            return None, f"wrote {len(rows)} rows for {df.n} input rows"
        for i, r in enumerate(rows):
            if parse_ts(r[t]) != df.timestamps[i]:
                return None, f"row {i + 1}: timestamp {r[t]} differs from the input's"
        return [parse_flag(r[a]) for r in rows], None
    except (ValueError, IndexError) as e:
        return None, f"unreadable output: {e}"
    finally:
        if os.path.exists(out):
            os.remove(out)


def rolling_sigma_flags(values, w):
    """Flag x_t if |x_t - mean| > 3 sd over the previous min(t, w) rows (t >= 30, sd > 0)."""
    n = len(values)
    flags = [False] * n
    anchor = values[0] if n else 0.0
    s = ss = 0.0  # sums of (x - anchor) and (x - anchor)^2 over the window
    lo = 0  # the window is values[lo:t]
    maxq, minq = deque(), deque()  # sliding max / min (indices)
    for t in range(n):
        cnt = t - lo
        if t % w == 0 and cnt > 0:  # re-centre on the current window's mean, recompute exactly
            anchor = math.fsum(values[lo:t]) / cnt
            d = [x - anchor for x in values[lo:t]]
            s, ss = math.fsum(d), math.fsum(x * x for x in d)
        if cnt >= MIN_HISTORY and values[maxq[0]] != values[minq[0]]:
            mean_d = s / cnt
            var = max(ss / cnt - mean_d * mean_d, 0.0)
            sd = math.sqrt(var)
            if sd > 0 and abs(values[t] - anchor - mean_d) > SIGMAS * sd:
                flags[t] = True
        # slide: add row t, drop row t - w
        x = values[t]
        d = x - anchor
        s += d
        ss += d * d
        while maxq and values[maxq[-1]] <= x:
            maxq.pop()
        maxq.append(t)
        while minq and values[minq[-1]] >= x:
            minq.pop()
        minq.append(t)
        if t + 1 - lo > w:
            d = values[lo] - anchor
            s -= d
            ss -= d * d
            lo += 1
            if maxq[0] < lo:
                maxq.popleft()
            if minq[0] < lo:
                minq.popleft()
    return flags


# ---------------------------------------------------------------------------------------------
# Scoring


def events(flags, probation, gap):
    """[(first, last)] row runs of post-probation flags, runs fewer than `gap` rows apart joined."""
    out = []
    for i in range(probation, len(flags)):
        if not flags[i]:
            continue
        if out and i - out[-1][1] - 1 < gap:
            out[-1][1] = i
        else:
            out.append([i, i])
    return [tuple(e) for e in out]


def overlaps(a, b):
    return a[0] <= b[1] and b[0] <= a[1]


def score_file(df, flags):
    evs = events(flags, df.probation, df.gap) if flags is not None else []
    tp = sum(1 for e in evs if any(overlaps(e, w) for w in df.windows))
    detected = sum(1 for w in df.windows if any(overlaps(e, w) for e in evs))
    c = {
        "windows": len(df.windows),
        "detected": detected,
        "events": len(evs),
        "tp_events": tp,
        "false_alarms": len(evs) - tp,
        "rows": df.n,
        "scored_rows": df.n - df.probation,
        "flagged_rows": sum(flags[df.probation:]) if flags is not None else 0,
    }
    c.update(rates(c))
    c["event_rows"] = [list(e) for e in evs]
    return c


def rates(c):
    p = c["tp_events"] / c["events"] if c["events"] else None
    r = c["detected"] / c["windows"] if c["windows"] else None
    if p is None and r is None:
        f1 = None
    elif p is None or r is None or p + r == 0:
        f1 = 0.0
    else:
        f1 = 2 * p * r / (p + r)
    fa = 1000.0 * c["false_alarms"] / c["scored_rows"] if c["scored_rows"] else None
    return {"precision": p, "recall": r, "f1": f1, "false_alarms_per_1000_rows": fa}


SUM_KEYS = ("windows", "detected", "events", "tp_events", "false_alarms", "rows", "scored_rows",
            "flagged_rows")


def pool(per_file):
    c = {k: sum(f[k] for f in per_file) for k in SUM_KEYS}
    c["files"] = len(per_file)
    c.update(rates(c))
    return c


# ---------------------------------------------------------------------------------------------
# Output


def fmt(x, spec=".3f"):
    return "n/a" if x is None else format(x, spec)


def print_table(summary, scopes, detectors):
    cols = ("scope", "detector", "files", "windows", "detected", "events", "TP ev", "precision",
            "recall", "F1", "FA/1k rows")
    print(f"{cols[0]:<18} {cols[1]:<19} {cols[2]:>5} {cols[3]:>7} {cols[4]:>8} {cols[5]:>6} "
          f"{cols[6]:>5} {cols[7]:>9} {cols[8]:>6} {cols[9]:>6} {cols[10]:>10}")
    for scope in scopes:
        for i, det in enumerate(detectors):
            c = summary[scope][det]
            print(f"{scope if i == 0 else '':<18} {det:<19} {c['files']:>5} {c['windows']:>7} "
                  f"{c['detected']:>8} {c['events']:>6} {c['tp_events']:>5} "
                  f"{fmt(c['precision']):>9} {fmt(c['recall']):>6} {fmt(c['f1']):>6} "
                  f"{fmt(c['false_alarms_per_1000_rows'], '.2f'):>10}")


def print_file_rows(title, rows):
    print(title)
    if not rows:
        print("  (none)")
        return
    print(f"  {'file':<56} {'win':>3} {'ew det/ev/TP':>12} {'ew F1':>6} {'3sd det/ev/TP':>13} "
          f"{'3sd F1':>6} {'diff':>6}")
    for rel, windows, e, b, diff in rows:
        ew = f"{e['detected']}/{e['events']}/{e['tp_events']}"
        bs = f"{b['detected']}/{b['events']}/{b['tp_events']}"
        print(f"  {rel:<56} {windows:>3} {ew:>12} {fmt(e['f1']):>6} {bs:>13} {fmt(b['f1']):>6} "
              f"{diff:>+6.3f}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--categories", default=",".join(DEFAULT_CATEGORIES),
                    help="comma-separated NAB data folders (default: %(default)s)")
    ap.add_argument("--nab", default=os.environ.get("NAB_DIR")
                    or os.path.join(os.path.dirname(repo_root()), "shared", "benchmarks", "nab"),
                    help="NAB corpus directory (default: $NAB_DIR, else ../shared/benchmarks/nab)")
    ap.add_argument("--json", metavar="FILE", help="write machine-readable results here")
    args = ap.parse_args()
    if not os.path.isdir(os.path.join(args.nab, "data")):
        sys.exit(f"bench-event-f1: no NAB corpus at {args.nab} (use --nab)")
    categories = [c.strip() for c in args.categories.split(",") if c.strip()]

    start = time.monotonic()
    tmp = tempfile.mkdtemp(prefix="bench-event-f1.")
    try:
        ew, ew_src, ew_version = binary_under_test(tmp)
        files = load_corpus(args.nab, categories)
        load_end = time.monotonic()

        detectors = [EW_NAME] + [name for name, _ in BASELINES]
        per_file = {d: {} for d in detectors}
        refused = []
        for df in files:
            flags, why = egresswatch_flags(ew, df, tmp)
            if flags is None:
                refused.append((df.rel, why))
            per_file[EW_NAME][df.rel] = score_file(df, flags)
        detect_end = time.monotonic()
        for name, w in BASELINES:
            for df in files:
                per_file[name][df.rel] = score_file(df, rolling_sigma_flags(df.values, w))
        end = time.monotonic()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    scopes = [c for c in categories if any(df.category == c for df in files)] + ["pooled"]
    summary = {}
    for scope in scopes:
        summary[scope] = {}
        for d in detectors:
            rows = [per_file[d][df.rel] for df in files if scope == "pooled" or df.category == scope]
            summary[scope][d] = pool(rows)

    print()
    print(f"event F1 on NAB v1.1 ({len(files)} files; event gap G = 1% of a file's rows; "
          f"probation skipped for predicted events)")
    print_table(summary, scopes, detectors)

    comparable = []
    for df in files:
        e, b = per_file[EW_NAME][df.rel], per_file[REF_BASELINE][df.rel]
        if e["f1"] is None or b["f1"] is None:
            continue
        comparable.append((df.rel, len(df.windows), e, b, e["f1"] - b["f1"]))
    ahead = sorted((r for r in comparable if r[4] > 0), key=lambda r: (-r[4], r[0]))[:TOP_N]
    behind = sorted((r for r in comparable if r[4] < 0), key=lambda r: (r[4], r[0]))[:TOP_N]
    ties = sum(1 for r in comparable if r[4] == 0)
    print()
    print(f"per-file F1, {EW_NAME} vs {REF_BASELINE}: {EW_NAME} ahead on "
          f"{sum(1 for r in comparable if r[4] > 0)}, behind on "
          f"{sum(1 for r in comparable if r[4] < 0)}, equal on {ties} of {len(comparable)} files "
          f"(det/ev/TP = detected windows / predicted events / TP events)")
    print_file_rows(f"{EW_NAME} most ahead (top {TOP_N}):", ahead)
    print_file_rows(f"{EW_NAME} most behind (top {TOP_N}):", behind)
    no_f1 = [df.rel for df in files if per_file[EW_NAME][df.rel]["f1"] is None
             or per_file[REF_BASELINE][df.rel]["f1"] is None]
    if no_f1:
        print(f"  no F1 (no windows and no events) for one or both: {', '.join(no_f1)}")

    print()
    busiest = sorted(files, key=lambda df: (-per_file[EW_NAME][df.rel]["false_alarms"],
                                            -per_file[EW_NAME][df.rel]["flagged_rows"], df.rel))[:5]
    print(f"{EW_NAME}'s most false alarms (flagged scored rows, their share; events; false alarms):")
    for df in busiest:
        c = per_file[EW_NAME][df.rel]
        print(f"  {df.rel:<56} {c['flagged_rows']:>5} rows = "
              f"{100.0 * c['flagged_rows'] / max(1, c['scored_rows']):5.1f}%  "
              f"{c['events']:>3} events  {c['false_alarms']:>3} false alarms")

    print()
    print(f"files {EW_NAME} refused: {len(refused)} of {len(files)} (scored as flagging nothing)")
    for rel, why in refused:
        print(f"  {rel}: {why}")
    print(f"wall time: {end - start:.1f} s (loading {load_end - start:.1f} s, {EW_NAME} "
          f"{detect_end - load_end:.1f} s, baselines and scoring {end - detect_end:.1f} s)")

    if args.json:
        doc = {
            "benchmark": "event F1 on NAB v1.1",
            "nab": os.path.abspath(args.nab),
            "categories": categories,
            "binary": {"path": ew_src, "version": ew_version},
            "settings": {
                "probation": f"min(floor({PROBATION_PERCENT} * rows), {PROBATION_MAX})",
                "event_gap": f"max(1, floor({GAP_PERCENT} * rows))",
                "baselines": {name: {"window": w, "sigmas": SIGMAS, "min_history": MIN_HISTORY}
                              for name, w in BASELINES},
            },
            "summary": summary,
            "files": {d: per_file[d] for d in detectors},
            "refused": [{"file": rel, "error": why} for rel, why in refused],
            "wall_time_s": round(end - start, 3),
        }
        with open(args.json, "w") as f:
            json.dump(doc, f, indent=1)
            f.write("\n")


if __name__ == "__main__":
    main()
