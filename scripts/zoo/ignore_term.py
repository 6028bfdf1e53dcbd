#!/usr/bin/env python3
# Tests: SIGKILL after the grace period. Three levels (the leader, 3 children, 2 grandchildren each: 10
# processes), every one of them ignoring SIGTERM and sleeping.
import signal
import zoolib

WIDTH = {1: 3, 2: 2}


def level(depth):
    for _ in range(WIDTH.get(depth, 0)):
        zoolib.child(level, depth + 1)
    zoolib.sleep()


# Before the first note, and inherited by every fork: a process in the pidfile already ignores
# SIGTERM, so a stop that comes once all 10 are noted finds none that has yet to ignore it.
signal.signal(signal.SIGTERM, signal.SIG_IGN)
zoolib.note()
level(1)
