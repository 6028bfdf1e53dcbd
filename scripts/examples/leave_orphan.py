"""Starts a background helper in a session of its own and exits at once, leaving it behind.

The helper escapes the process group and session of the run (start_new_session calls setsid) and
is re-parented to init when this script exits: only its inherited SCIDEX_RUN_ID cookie ties it to the run.
Usage: python3 leave_orphan.py [SECONDS]
"""
import subprocess
import sys

seconds = sys.argv[1] if len(sys.argv) > 1 else "3600"
helper = subprocess.Popen(["sleep", seconds], start_new_session=True)
print(f"left helper {helper.pid} behind", flush=True)
