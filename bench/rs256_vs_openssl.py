#!/usr/bin/env python3
"""Uncached RS256 verification vs `openssl speed rsa2048` verify time, on the same machine, alternated.

Runs `openssl speed -seconds S rsa2048` and auth_benchmark's BM_VerifyRS256 (a whole JWT verification
without the token cache: split, base64url, JSON header and claims, key selection, signature),
BM_KeyVerifyRS256 (the signature check alone) and BM_OpenSslFloorRS256 (EVP_PKEY_verify on a context
set up once: what `openssl speed` times), each pinned to --cpu, for --rounds rounds; prints medians of CPU
time and the ratio to openssl's verify time (target: BM_VerifyRS256 within 1.3x). `--callgrind` adds
instruction counts per call (stable on a busy machine). Python 3 standard library only.
"""

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_BENCH = os.path.join(os.path.dirname(HERE), "build", "release", "auth_benchmark")
CASES = ["BM_VerifyRS256/real_time/threads:1", "BM_KeyVerifyRS256", "BM_OpenSslFloorRS256"]


def pin(cpu):
    return ["taskset", "-c", cpu] if cpu and shutil.which("taskset") else []


def openssl_verify_us(cpu, seconds):
    out = subprocess.run(pin(cpu) + ["openssl", "speed", "-seconds", str(seconds), "rsa2048"],
                         capture_output=True, text=True, check=True).stdout
    m = re.search(r"^rsa 2048 bits\s+([\d.]+)s\s+([\d.]+)s", out, re.M)
    if not m:
        raise RuntimeError("cannot parse openssl speed output:\n" + out)
    return float(m.group(2)) * 1e6


def benchmark_cpu_us(bench, cpu, min_time):
    regex = "^(" + "|".join(re.escape(c) for c in CASES) + ")$"
    out = subprocess.run(pin(cpu) + [bench, f"--benchmark_filter={regex}", f"--benchmark_min_time={min_time}",
                                     "--benchmark_format=json"], capture_output=True, text=True, check=True).stdout
    result = {}
    for b in json.loads(out)["benchmarks"]:
        scale = {"ns": 1e-3, "us": 1.0, "ms": 1e3}[b["time_unit"]]
        result[b["name"]] = b["cpu_time"] * scale
    return result


def callgrind_instructions(bench):
    """Instructions per call of the verification functions, from one callgrind run."""
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "cg.out")
        subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", bench,
                        "--benchmark_filter=^(BM_VerifyRS256/real_time/threads:1|BM_OpenSslFloorRS256)$",
                        "--benchmark_min_time=0.05"], capture_output=True, check=True)
        text = subprocess.run(["callgrind_annotate", "--threshold=100", "--inclusive=yes", "--tree=caller", out],
                              capture_output=True, text=True, check=True).stdout
    # Calls into the two functions, by caller: "N ( x%)  < caller (Kx)" lines above each "*" entry.
    per_call = {}
    for fn, caller in (("JwtVerifier::verify(", "run(benchmark::State"), ("EVP_PKEY_verify ", "BM_OpenSslFloorRS256")):
        best = None
        blocks = text.split("\n\n")
        for block in blocks:
            lines = block.splitlines()
            star = [l for l in lines if "*  " in l and fn in l]
            if not star:
                continue
            for l in lines:
                m = re.match(r"^\s*([\d,]+) \([^)]*\)\s+<\s+(.*)\((\d+)x\)", l)
                if m and caller in m.group(2):
                    best = int(m.group(1).replace(",", "")) / int(m.group(3))
        per_call["BM_VerifyRS256" if caller.startswith("run(") else caller] = best
    return per_call


def main(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--bench", default=DEFAULT_BENCH, help=f"auth_benchmark binary (default {DEFAULT_BENCH})")
    p.add_argument("--cpu", default="1", help="taskset CPU for both (default 1; '' for none)")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--seconds", type=int, default=2, help="openssl speed -seconds (default 2)")
    p.add_argument("--min-time", type=float, default=1.0, help="--benchmark_min_time per case (default 1)")
    p.add_argument("--callgrind", action="store_true", help="also count instructions per call (valgrind)")
    p.add_argument("--json", metavar="FILE")
    a = p.parse_args(argv)
    ossl, bench = [], {c: [] for c in CASES}
    for rnd in range(1, a.rounds + 1):
        ossl.append(openssl_verify_us(a.cpu, a.seconds))
        for name, us in benchmark_cpu_us(a.bench, a.cpu, a.min_time).items():
            bench[name].append(us)
        print(f"[{rnd}/{a.rounds}] openssl speed verify {ossl[-1]:.1f} us; " +
              "; ".join(f"{n} {v[-1]:.1f} us" for n, v in bench.items() if v), flush=True)
    base = statistics.median(ossl)
    report = {"openssl_speed_verify_us": base, "runs": {"openssl": ossl, **bench}, "median_us": {}, "ratio": {}}
    print(f"\n{'measure':<40} {'CPU us (median)':>16} {'vs openssl speed':>17}")
    print(f"{'openssl speed rsa2048 verify':<40} {base:>16.1f} {'1.00x':>17}")
    for name, values in bench.items():
        if values:
            med = statistics.median(values)
            report["median_us"][name], report["ratio"][name] = med, med / base
            print(f"{name:<40} {med:>16.1f} {med / base:>16.2f}x")
    if a.callgrind:
        ins = callgrind_instructions(a.bench)
        report["instructions_per_call"] = ins
        print("\ninstructions per call (callgrind): " +
              ", ".join(f"{k} {v:,.0f}" for k, v in ins.items() if v))
        if ins.get("BM_VerifyRS256") and ins.get("BM_OpenSslFloorRS256"):
            print(f"whole verification / OpenSSL floor: {ins['BM_VerifyRS256'] / ins['BM_OpenSslFloorRS256']:.3f}")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(report, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
