#!/usr/bin/env python3
# Tests: an escape without the cookie. A child execs a fresh interpreter with an EMPTY environment (no
# SCIDEX_RUN_ID, no test tag; the pidfile path goes in argv), which double-forks with setsid: the daemon
# re-parents to init and sleeps. The leader exits 0 as soon as the daemon is up, so the daemon is an orphan
# that only the cgroup and subreaper backends can find (the documented limit of pgroup).
import os
import sys
import time
import zoolib

if sys.argv[1:2] == ['--daemon']:
    pidfile = sys.argv[2]
    zoolib.note(pidfile)
    if os.fork() == 0:
        zoolib.note(pidfile)
        os.setsid()
        if os.fork() == 0:  # the daemon: its parent exits right away, leaving it to init
            zoolib.to_devnull()
            zoolib.note(pidfile)
            zoolib.sleep()
            os._exit(0)
        os._exit(0)
    os.wait()
    sys.exit(0)

pidfile = os.environ['ZOO_PIDFILE']
zoolib.note()
mine = b'%d %d' % (os.getpid(), zoolib.starttime())
pid = os.fork()
if pid == 0:
    os.execve(sys.executable, [sys.executable, '-B', os.path.abspath(__file__), '--daemon', pidfile], {})
os.waitpid(pid, 0)
deadline = time.monotonic() + 20
while time.monotonic() < deadline:  # up = three lines after ours: the exec'd child, the middle, the daemon
    with open(pidfile, 'rb') as f:
        lines = f.read().splitlines()
    if len(lines) - lines.index(mine) - 1 >= 3:
        sys.exit(0)
    time.sleep(0.01)
sys.exit('clearenv_daemon: the daemon never came up')
