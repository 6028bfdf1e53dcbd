"""An analysis that will not finish in time: a parent and two workers that sleep past any sane timeout.

Usage: python3 outlive_timeout.py [SECONDS]
"""
import subprocess
import sys
import time

seconds = sys.argv[1] if len(sys.argv) > 1 else "3600"
workers = [subprocess.Popen([sys.executable, "-c", f"import time; time.sleep({seconds})"]) for _ in range(2)]
print(f"started workers {[w.pid for w in workers]}", flush=True)
time.sleep(float(seconds))
