#!/usr/bin/env python3
"""NAB v1.1 scorer (Numenta Anomaly Benchmark), standard library only.

Scores a detector's per-row anomaly scores on the NAB corpus the way numenta/NAB does
(`nab/sweeper.py`, `nab/optimizer.py`, `nab/scorer.py`, `nab/runner.py` normalize), and is
calibrated against the published windowed Gaussian results (39.6 / 20.9 / 47.4).

Usage:
    python3 scripts/nab-score.py --calibrate          # score the shipped windowed Gaussian results;
                                                      # exit 1 if a profile is off by more than 0.1
    python3 scripts/nab-score.py --results DIR        # score a detector's outputs
    python3 scripts/nab-score.py --results DIR --per-file --json out.json

Options: --nab DIR (corpus; default ../shared/benchmarks/nab beside the repo root),
--per-file (raw score of each file under the chosen thresholds), --json FILE (machine-readable).

Results layout: one CSV per data file, at DIR/<category>/<file>.csv or NAB's own
DIR/<category>/<detector>_<file>.csv (a DIR holding a single detector folder is descended into),
with at least `timestamp` and `anomaly_score` columns, rows in the data file's order.
A file missing from DIR scores as detecting nothing and is listed; so is a file that is refused
(wrong row count, timestamps that differ from the data's, scores that are not finite numbers).

The rules, as NAB implements them:
- Probationary period: the first min(floor(0.15 * rows), 0.15 * 5000 = 750) rows. A detection
  there counts for nothing (neither TP nor FP), and NAB's TP/TN/FP/FN row counts leave it out.
- Windows are timestamps from labels/combined_windows.json. A window opens at the first row whose
  timestamp equals its start and closes after the row whose timestamp equals its end (both edge
  rows are inside); its right edge index is the first row with the end timestamp.
- Row i inside a window [L, R] (indices) has sweep score
      tpWeight * scaledSigmoid(-(R - i + 1) / (R - L + 1)) / scaledSigmoid(-1),
  where scaledSigmoid(x) = 2 / (1 + exp(5x)) - 1 (and -1 for x > 3), so detecting at the left
  edge earns exactly tpWeight. Only the best (= earliest) detection in a window counts; a window
  with no detection costs -fnWeight (only windows with a row after probation are scored at all).
- Row i outside every window scores fpWeight * scaledSigmoid(|i - R_prev| / (W_prev - 1)), where
  R_prev and W_prev are the right edge index and width (rows) of the preceding window, or
  -fpWeight if no window precedes it. Every such detection counts (they add up).
- One threshold for the whole corpus per profile: rows with anomaly_score >= threshold detect.
  The sweep starts at 1.1 (detect nothing) and steps down through every distinct score; the best
  total raw score wins, the highest threshold on ties.
- Normalized score = 100 * (raw - null) / (perfect - null), over the corpus sums: null is NAB's
  null detector (0.5 everywhere, thresholds swept the same way, which ends up detecting nothing:
  -fnWeight per scored window), perfect is tpWeight times the number of labelled windows.
"""

import argparse
import csv
import json
import math
import os
import sys
import tarfile
import tempfile
import time
from datetime import datetime, timezone

PROFILES = ("standard", "reward_low_FP_rate", "reward_low_FN_rate")
PUBLISHED_WINDOWED_GAUSSIAN = {"standard": 39.6, "reward_low_FP_rate": 20.9, "reward_low_FN_rate": 47.4}
CALIBRATION_TOLERANCE = 0.1
PROBATION_PERCENT = 0.15
START_THRESHOLD = 1.1  # NAB's sweep starts here: above every score in [0, 1], so nothing detects

# Row kinds (non-negative kinds are window ids)
OUTSIDE = -1       # outside every window, after probation: a detection is a false positive
PROBATIONARY = -2  # in the probationary period: a detection counts for nothing


def repo_root():
    return os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def parse_ts(text):
    """Parse a timestamp (`YYYY-MM-DD HH:MM:SS[.ffffff]`, ISO 8601 too); aware ones become naive UTC."""
    t = datetime.fromisoformat(text.strip())
    if t.tzinfo is not None:
        t = t.astimezone(timezone.utc).replace(tzinfo=None)
    return t


def read_csv(path):
    """Header (stripped) and non-blank rows; CRLF or LF line ends, an optional BOM."""
    with open(path, newline="", encoding="utf-8-sig") as f:
        rows = [r for r in csv.reader(f) if r and any(c.strip() for c in r)]
    if not rows:
        raise ValueError("empty file")
    return [h.strip() for h in rows[0]], rows[1:]


def scaled_sigmoid(x):
    """NAB's scaledSigmoid: 2*sigmoid(-5x) - 1, and -1 far (x > 3) past a window."""
    if x > 3.0:
        return -1.0
    return 2.0 / (1.0 + math.exp(5.0 * x)) - 1.0


MAX_TP = scaled_sigmoid(-1.0)


# ---------------------------------------------------------------------------------------------
# Corpus


class DataFile:
    """One corpus file: its timestamps, windows, and each row's kind and unweighted sweep score."""

    def __init__(self, rel, timestamps, windows, first_window_id):
        self.rel = rel
        self.timestamps = timestamps
        self.windows = windows  # [(start, end)] as datetimes
        self.n = len(timestamps)
        self.probation = min(math.floor(PROBATION_PERCENT * self.n), PROBATION_PERCENT * 5000)
        self.kinds, self.unweighted, self.in_window = self._sweep(first_window_id)

    def _sweep(self, first_window_id):
        """NAB's Sweeper.calcSweepScore, without the profile weights (applied per profile)."""
        ts = self.timestamps
        first_index = {}
        for i, t in enumerate(ts):
            first_index.setdefault(t, i)
        for start, end in self.windows:
            for edge in (start, end):
                if edge not in first_index:
                    raise ValueError(f"{self.rel}: window edge {edge} is not a timestamp of the data")
        pending = list(self.windows)
        next_id = first_window_id
        cur = cur_id = cur_right = cur_width = None
        prev_right = prev_width = None
        kinds, unweighted, in_window = [], [], []
        for i, t in enumerate(ts):
            if pending and t == pending[0][0]:  # entering a window at its start timestamp
                cur = pending.pop(0)
                cur_id, next_id = next_id, next_id + 1
                cur_right = first_index[cur[1]]
                cur_width = float(cur_right - i + 1)
            if cur is not None:  # a detection here is a true positive: earlier is better
                u = scaled_sigmoid(-(cur_right - i + 1) / cur_width)
            elif prev_right is None:  # false positive with no window before it
                u = -1.0
            else:  # false positive, weighted by its distance past the previous window
                u = scaled_sigmoid(abs(prev_right - i) / max(prev_width - 1.0, 1.0))
            in_window.append(cur is not None)
            unweighted.append(u)
            if i < self.probation:
                kinds.append(PROBATIONARY)
            else:
                kinds.append(cur_id if cur is not None else OUTSIDE)
            if cur is not None and t == cur[1]:  # the right edge row is inside; leave after it
                prev_right, prev_width = i, cur_width
                cur = cur_id = cur_right = cur_width = None
        if pending:
            raise ValueError(f"{self.rel}: window {pending[0]} never opened (out of order?)")
        return kinds, unweighted, in_window


class Corpus:
    def __init__(self, nab_dir):
        self.dir = nab_dir
        with open(os.path.join(nab_dir, "labels", "combined_windows.json")) as f:
            labels = json.load(f)
        with open(os.path.join(nab_dir, "config", "profiles.json")) as f:
            self.profiles = {name: p["CostMatrix"] for name, p in json.load(f).items()}
        self.files = []
        self.window_names = []  # window id -> "rel|start"
        for rel in sorted(labels):
            header, rows = read_csv(os.path.join(nab_dir, "data", rel))
            col = header.index("timestamp")
            timestamps = [parse_ts(r[col]) for r in rows]
            windows = [(parse_ts(a), parse_ts(b)) for a, b in labels[rel]]
            df = DataFile(rel, timestamps, windows, len(self.window_names))
            self.window_names += [f"{rel}|{a}" for a, _ in windows]
            self.files.append(df)
        self.total_windows = sum(len(v) for v in labels.values())
        self.total_rows = sum(df.n for df in self.files)


# ---------------------------------------------------------------------------------------------
# Detector results


def find_results_file(results_dir, rel):
    """DIR/<cat>/<file>.csv, or NAB's DIR/<cat>/<detector>_<file>.csv (shortest such name)."""
    cat, name = os.path.split(rel)
    exact = os.path.join(results_dir, cat, name)
    if os.path.isfile(exact):
        return exact
    catdir = os.path.join(results_dir, cat)
    if not os.path.isdir(catdir):
        return None
    hits = sorted((f for f in os.listdir(catdir) if f.endswith("_" + name)), key=len)
    return os.path.join(catdir, hits[0]) if hits else None


def resolve_results_dir(results_dir, corpus):
    """Descend into a single detector folder (NAB's results/<detector>/<category>/...)."""
    cats = {os.path.dirname(df.rel) for df in corpus.files}
    if any(os.path.isdir(os.path.join(results_dir, c)) for c in cats):
        return results_dir
    subs = [d for d in os.listdir(results_dir) if os.path.isdir(os.path.join(results_dir, d))]
    if len(subs) == 1 and any(os.path.isdir(os.path.join(results_dir, subs[0], c)) for c in cats):
        return os.path.join(results_dir, subs[0])
    return results_dir


def load_scores(path, df):
    """A results file's anomaly_score column, checked against the data file; ValueError if refused."""
    header, rows = read_csv(path)
    for need in ("timestamp", "anomaly_score"):
        if need not in header:
            raise ValueError(f"no `{need}` column (header: {','.join(header)})")
    if len(rows) != df.n:
        raise ValueError(f"{len(rows)} rows, the data file has {df.n}")
    tcol, scol = header.index("timestamp"), header.index("anomaly_score")
    scores = []
    for i, r in enumerate(rows):
        try:
            t = parse_ts(r[tcol])
            s = float(r[scol])
        except (ValueError, IndexError) as e:
            raise ValueError(f"row {i + 2}: {e}") from None
        if t != df.timestamps[i]:
            raise ValueError(f"row {i + 2}: timestamp {r[tcol]} where the data has {df.timestamps[i]}")
        if not math.isfinite(s):
            raise ValueError(f"row {i + 2}: anomaly_score {r[scol]!r} is not a finite number")
        scores.append(s)
    return scores


def load_results(results_dir, corpus):
    """Per data file: its scores (None for a missing or refused file, scored as detecting nothing)."""
    results_dir = resolve_results_dir(results_dir, corpus)
    scores, missing, refused = {}, [], []
    for df in corpus.files:
        path = find_results_file(results_dir, df.rel)
        if path is None:
            missing.append(df.rel)
            scores[df.rel] = None
            continue
        try:
            scores[df.rel] = load_scores(path, df)
        except (ValueError, OSError, UnicodeDecodeError) as e:
            refused.append((df.rel, str(e)))
            scores[df.rel] = None
    return scores, missing, refused


# ---------------------------------------------------------------------------------------------
# Scoring


def weighted(kind, u, cost):
    return u * cost["tpWeight"] / MAX_TP if kind >= 0 else u * cost["fpWeight"]


class Sweep:
    """NAB's threshold sweep (Sweeper.calcScoreByThreshold + optimizer) over the whole corpus.

    Rows are sorted by score once (descending); each profile then walks them, keeping per window
    its best sweep score (initially -fnWeight) and the summed false-positive sweep scores, and
    records the corpus total each time the score changes: O(rows log rows), not thresholds x rows.
    """

    def __init__(self, corpus, scores):
        self.corpus = corpus
        flat_scores, self.kinds, self.unweighted = [], [], []
        for df in corpus.files:
            s = scores.get(df.rel)
            # A missing or refused file detects nothing: -inf is below every threshold.
            flat_scores += s if s is not None else [-math.inf] * df.n
            self.kinds += df.kinds
            self.unweighted += df.unweighted
        self.scores = flat_scores
        self.order = sorted(range(len(flat_scores)), key=flat_scores.__getitem__, reverse=True)
        finite = [s for s in flat_scores if s != -math.inf]
        top = max(finite) if finite else 0.0
        # NAB starts at 1.1; for a detector whose scores reach 1.1, start above its max instead.
        self.start = START_THRESHOLD if top < START_THRESHOLD else math.inf

    def best(self, cost):
        """(threshold, raw score) maximizing the corpus total; the highest threshold on ties."""
        kinds, unweighted, scores = self.kinds, self.unweighted, self.scores
        tp_scale = cost["tpWeight"] / MAX_TP
        fp_scale = cost["fpWeight"]
        fn = cost["fnWeight"]
        # Windows with at least one row after probation are scored; they start as misses.
        win = {k: -fn for k in set(kinds) if k >= 0}
        win_total = -fn * len(win)
        fp_total = 0.0
        best_t, best_score = self.start, win_total
        i, n = 0, len(self.order)
        while i < n:
            s = scores[self.order[i]]
            if s == -math.inf:
                break
            while i < n and scores[self.order[i]] == s:
                j = self.order[i]
                k = kinds[j]
                if k == OUTSIDE:
                    fp_total += unweighted[j] * fp_scale
                elif k >= 0:
                    v = unweighted[j] * tp_scale
                    if v > win[k]:
                        win_total += v - win[k]
                        win[k] = v
                i += 1
            total = fp_total + win_total
            if total > best_score:
                best_t, best_score = s, total
        return best_t, best_score

    def at_threshold(self, cost, threshold):
        """Raw score and counts at one threshold, per file and for the corpus (NAB's scoreDataSet)."""
        files, pos = [], 0
        totals = dict(raw=0.0, windows=0, detected=0, fp_rows=0, tp_rows=0, fn_rows=0, tn_rows=0)
        for df in self.corpus.files:
            win, raw_fp = {}, 0.0
            c = dict(tp_rows=0, fp_rows=0, fn_rows=0, tn_rows=0)
            for r in range(df.n):
                k, hit = df.kinds[r], self.scores[pos + r] >= threshold
                if k == PROBATIONARY:
                    continue
                if k == OUTSIDE:
                    c["fp_rows" if hit else "tn_rows"] += 1
                    if hit:
                        raw_fp += weighted(k, df.unweighted[r], cost)
                    continue
                c["tp_rows" if hit else "fn_rows"] += 1
                best = win.setdefault(k, -cost["fnWeight"])
                if hit:
                    win[k] = max(best, weighted(k, df.unweighted[r], cost))
            pos += df.n
            raw = raw_fp + sum(win.values())
            detected = sum(1 for v in win.values() if v > -cost["fnWeight"])
            row = dict(file=df.rel, raw=raw, windows=len(win), detected=detected, **c)
            files.append(row)
            for key in totals:
                totals[key] += row[key]
        return totals, files


def score(corpus, scores):
    """Per profile: normalized score, threshold, raw/null/perfect and counts."""
    sweep = Sweep(corpus, scores)
    # NAB's null detector: 0.5 on every row, its threshold swept like any detector's.
    null_sweep = Sweep(corpus, {df.rel: [0.5] * df.n for df in corpus.files})
    out = {}
    for name in PROFILES:
        cost = corpus.profiles[name]
        threshold, raw = sweep.best(cost)
        totals, files = sweep.at_threshold(cost, threshold)
        null = null_sweep.best(cost)[1]
        perfect = corpus.total_windows * cost["tpWeight"]
        out[name] = dict(
            score=100.0 * (raw - null) / (perfect - null), threshold=threshold, raw=raw,
            null=null, perfect=perfect, totals=totals, files=files)
    return out


# ---------------------------------------------------------------------------------------------
# Output


def fmt_threshold(t):
    if t == math.inf:
        return ">max (none)"
    return "1.1 (none)" if t == START_THRESHOLD else f"{t:.6g}"


def print_scores(res, published=None):
    head = f"{'profile':<20} {'score':>7}"
    if published:
        head += f" {'published':>9} {'diff':>6}"
    head += f" {'threshold':>10} {'TP win':>7} {'FN win':>7} {'FP rows':>8}   {'NAB rows TP/TN/FP/FN':<24} raw / null / perfect"
    print(head)
    for name in PROFILES:
        r, t = res[name], res[name]["totals"]
        line = f"{name:<20} {r['score']:7.2f}"
        if published:
            line += f" {published[name]:9.1f} {r['score'] - published[name]:+6.2f}"
        rows = f"{t['tp_rows']}/{t['tn_rows']}/{t['fp_rows']}/{t['fn_rows']}"
        line += (f" {fmt_threshold(r['threshold']):>10} {t['detected']:>7} {t['windows'] - t['detected']:>7}"
                 f" {t['fp_rows']:>8}   {rows:<24} {r['raw']:.4f} / {r['null']:.1f} / {r['perfect']:.1f}")
        print(line)
    print("TP win / FN win: labelled windows detected / missed (windows with a row after probation);"
          " FP rows: detections outside every window after probation.")


def print_per_file(res):
    print(f"\nraw score per file at each profile's threshold ({', '.join(PROFILES)}):")
    for i, df_row in enumerate(res[PROFILES[0]]["files"]):
        vals = " ".join(f"{res[p]['files'][i]['raw']:9.3f}" for p in PROFILES)
        print(f"  {df_row['file']:<62} {vals}   windows {df_row['detected']}/{df_row['windows']}")


def json_out(res, missing, refused, path):
    doc = {
        "profiles": {
            name: {k: (None if v == math.inf else v) if k == "threshold" else v
                   for k, v in r.items() if k != "files"}
            for name, r in res.items()
        },
        "per_file": {name: r["files"] for name, r in res.items()},
        "missing": missing,
        "refused": [{"file": f, "reason": why} for f, why in refused],
    }
    with open(path, "w") as f:
        json.dump(doc, f, indent=1)


# ---------------------------------------------------------------------------------------------
# Modes


def check_shipped_per_file(corpus, scores, results_dir):
    """Compare our per-file raw scores and NAB row counts with the shipped <profile>_scores.csv."""
    ok = True
    for name in PROFILES:
        path = os.path.join(results_dir, f"windowedGaussian_{name}_scores.csv")
        if not os.path.isfile(path):
            print(f"  (no shipped {os.path.basename(path)} to compare per file)")
            continue
        header, rows = read_csv(path)
        col = {h: i for i, h in enumerate(header)}
        shipped = {r[col["File"]]: r for r in rows if r[col["File"]]}
        thresholds = {float(r[col["Threshold"]]) for r in shipped.values()}
        if len(thresholds) != 1:
            print(f"  {name}: shipped per-file thresholds differ: {sorted(thresholds)}")
            continue
        totals, files = Sweep(corpus, scores).at_threshold(corpus.profiles[name], thresholds.pop())
        bad = []
        for f in files:
            r = shipped.get(f["file"])
            if r is None:
                bad.append(f"{f['file']}: not in the shipped file")
                continue
            theirs = (float(r[col["Score"]]), *(int(r[col[c]]) for c in ("TP", "TN", "FP", "FN")))
            ours = (f["raw"], f["tp_rows"], f["tn_rows"], f["fp_rows"], f["fn_rows"])
            if abs(theirs[0] - ours[0]) > 1e-6 or theirs[1:] != ours[1:]:
                bad.append(f"{f['file']}: ours {ours}, shipped {theirs}")
        status = "all match" if not bad else f"{len(bad)} differ"
        print(f"  {name}: {len(files)} files, raw score and TP/TN/FP/FN rows vs shipped: {status}")
        for b in bad[:10]:
            print(f"    {b}")
        ok = ok and not bad
    return ok


def calibrate(corpus, nab_dir):
    tar_path = os.path.join(nab_dir, "results-windowedGaussian.tar.gz")
    with tempfile.TemporaryDirectory(prefix="nab-calibrate-") as tmp:
        with tarfile.open(tar_path) as tar:
            if hasattr(tarfile, "data_filter"):
                tar.extractall(tmp, filter="data")
            else:
                tar.extractall(tmp)
        results_dir = resolve_results_dir(tmp, corpus)
        scores, missing, refused = load_results(results_dir, corpus)
        res = score(corpus, scores)
        print(f"NAB calibration: windowed Gaussian ({os.path.basename(tar_path)}), "
              f"{len(corpus.files)} files, {corpus.total_rows} rows, {corpus.total_windows} windows")
        print_scores(res, PUBLISHED_WINDOWED_GAUSSIAN)
        report_missing(missing, refused)
        print("per-file check against the shipped scores files (diagnostic):")
        check_shipped_per_file(corpus, scores, results_dir)
    off = [n for n in PROFILES
           if abs(res[n]["score"] - PUBLISHED_WINDOWED_GAUSSIAN[n]) > CALIBRATION_TOLERANCE]
    if off or missing or refused:
        print(f"CALIBRATION FAILED: off by more than {CALIBRATION_TOLERANCE}: {', '.join(off) or 'none'}")
        return 1
    print(f"CALIBRATION OK: all three profiles within {CALIBRATION_TOLERANCE} of the published scores")
    return 0


def report_missing(missing, refused):
    print(f"missing files (scored as detecting nothing): {len(missing)}")
    for rel in missing:
        print(f"  {rel}")
    print(f"refused files (scored as detecting nothing): {len(refused)}")
    for rel, why in refused:
        print(f"  {rel}: {why}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    mode = ap.add_mutually_exclusive_group(required=True)
    mode.add_argument("--calibrate", action="store_true",
                      help="score the shipped windowed Gaussian results against the published scores")
    mode.add_argument("--results", metavar="DIR", help="a detector's NAB-style results directory")
    ap.add_argument("--nab", metavar="DIR", default=os.path.join(repo_root(), "..", "shared", "benchmarks", "nab"),
                    help="the NAB corpus (default: ../shared/benchmarks/nab from the repo root)")
    ap.add_argument("--per-file", action="store_true", help="print each file's raw score too")
    ap.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    args = ap.parse_args()

    started = time.monotonic()
    nab_dir = os.path.normpath(args.nab)
    if not os.path.isdir(nab_dir):
        sys.exit(f"nab-score: no NAB corpus at {nab_dir} (use --nab DIR)")
    corpus = Corpus(nab_dir)
    if args.calibrate:
        rc = calibrate(corpus, nab_dir)
    else:
        if not os.path.isdir(args.results):
            sys.exit(f"nab-score: no results directory {args.results}")
        scores, missing, refused = load_results(args.results, corpus)
        res = score(corpus, scores)
        print(f"NAB scores for {args.results}: {len(corpus.files) - len(missing) - len(refused)}"
              f"/{len(corpus.files)} files scored, {corpus.total_windows} windows")
        print_scores(res)
        report_missing(missing, refused)
        if args.per_file:
            print_per_file(res)
        if args.json:
            json_out(res, missing, refused, args.json)
        rc = 0
    print(f"({time.monotonic() - started:.1f} s)")
    return rc


if __name__ == "__main__":
    sys.exit(main())
