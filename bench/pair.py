#!/usr/bin/env python3
"""Runs two shell commands side by side, interleaved, and reports medians and their ratio.

usage: pair.py --name NAME --runs N [--prepare CMD] [--json OUT] STRATA_CMD PEER_CMD

Each round runs --prepare (untimed), then one command, then --prepare, then the other; the
order alternates between rounds so that neither side always runs on a warmer machine.
The ratio is median(strata) / median(peer): below 1.0 means strata is faster.
"""
import argparse
import json
import statistics
import subprocess
import sys
import time


def run(cmd):
    t0 = time.monotonic()
    proc = subprocess.run(cmd, shell=True, executable="/bin/bash",
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    dt = time.monotonic() - t0
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr.decode(errors="replace"))
        raise SystemExit(f"command failed ({proc.returncode}): {cmd}")
    return dt


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--name", required=True)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--prepare", default="")
    ap.add_argument("--json")
    ap.add_argument("strata")
    ap.add_argument("peer")
    a = ap.parse_args()
    times = {"strata": [], "peer": []}
    for i in range(a.runs):
        order = ["strata", "peer"] if i % 2 == 0 else ["peer", "strata"]
        for side in order:
            if a.prepare:
                run(a.prepare)
            times[side].append(run(getattr(a, side)))
    ms = statistics.median(times["strata"])
    mp = statistics.median(times["peer"])
    result = {
        "name": a.name,
        "runs": a.runs,
        "strata_median_s": round(ms, 3),
        "peer_median_s": round(mp, 3),
        "ratio": round(ms / mp, 3),
        "strata_all_s": [round(t, 3) for t in times["strata"]],
        "peer_all_s": [round(t, 3) for t in times["peer"]],
    }
    print(f"{a.name}: strata {ms:.3f}s  peer {mp:.3f}s  ratio {ms / mp:.2f}  "
          f"(medians of {a.runs}; strata {result['strata_all_s']} peer {result['peer_all_s']})")
    if a.json:
        with open(a.json, "a") as f:
            f.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
