"""Grows its memory until something stops it: a run that exceeds its memory limit.

Every step adds STEP_MIB of written (so resident) memory, up to MAX_MIB, then sleeps. Each line
gives what it holds, its own RSS (from /proc/self/statm) and the time.
Usage: python3 balloon.py [STEP_MIB] [MAX_MIB]
"""
import os
import sys
import time


def rss_mib():
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") >> 20


step_mib = int(sys.argv[1]) if len(sys.argv) > 1 else 64
max_mib = int(sys.argv[2]) if len(sys.argv) > 2 else 8192
held = []
while len(held) * step_mib < max_mib:
    held.append(b"\x01" * (step_mib << 20))
    print(f"holding {len(held) * step_mib} MiB, rss {rss_mib()} MiB at {time.time():.3f}", flush=True)
    time.sleep(0.05)
time.sleep(3600)
