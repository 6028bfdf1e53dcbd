"""A parent holding a large table and forked workers that only read it.

The workers share the parent's pages: the sum of RSS over the tree counts the table once per
process, the sum of PSS counts it once. A memory limit on RSS would kill this healthy analysis.
Usage: python3 shared_workers.py [TABLE_MIB] [WORKERS] [SECONDS]
"""
import os
import sys
import time

table_mib = int(sys.argv[1]) if len(sys.argv) > 1 else 400
workers = int(sys.argv[2]) if len(sys.argv) > 2 else 6
seconds = float(sys.argv[3]) if len(sys.argv) > 3 else 3
table = b"\x01" * (table_mib << 20)
children = []
for _ in range(workers):
    pid = os.fork()
    if pid == 0:
        checksum = table[:: 1 << 20].count(1)  # reads one byte per MiB: no copy
        time.sleep(seconds)
        os._exit(0 if checksum == table_mib else 1)
    children.append(pid)
status = max(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) for pid in children)
print(f"{workers} workers shared a {table_mib} MiB table; worst status {status}")
sys.exit(status)
