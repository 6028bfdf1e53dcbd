#!/usr/bin/env python3
# Tests: termination while the tree is still forking. Every process ignores SIGTERM and keeps forking children
# that do the same, up to ~300 live processes. Processes other than the leader live 2-5 s and exit (their
# children re-parent), and the others fork replacements, so the storm churns forever: only a kill that closes
# the set (freeze or SIGSTOP everyone, re-scan, SIGKILL, repeat) can end it.
import multiprocessing
import os
import random
import signal
import time
import zoolib

CAP = 300
alive = multiprocessing.Value('i', 1)  # live processes of the storm, shared by all of them
signal.signal(signal.SIGTERM, signal.SIG_IGN)  # inherited by every fork
zoolib.note()
end = None  # the leader lives until killed
while end is None or time.monotonic() < end:
    try:
        while os.waitpid(-1, os.WNOHANG)[0] > 0:
            pass
    except ChildProcessError:
        pass
    with alive.get_lock():
        room = alive.value < CAP
        alive.value += room
    try:
        if room and os.fork() == 0:  # the child joins the storm with a lifetime of its own
            zoolib.note()
            random.seed()
            end = time.monotonic() + random.uniform(2, 5)
            continue
    except OSError:
        with alive.get_lock():
            alive.value -= 1
    time.sleep(random.uniform(0.2, 0.5))
with alive.get_lock():
    alive.value -= 1
os._exit(0)
