#!/usr/bin/env python3
# Tests: stopped processes (state T). Three children stop themselves with SIGSTOP, the first after forking a
# grandchild that stops itself too; a stopped process only sees a SIGTERM once it gets SIGCONT. The leader sleeps.
import os
import signal
import zoolib


def stop_then_sleep(with_grandchild=False):
    if with_grandchild:
        zoolib.child(stop_then_sleep)
    os.kill(os.getpid(), signal.SIGSTOP)
    zoolib.sleep()


zoolib.note()
for i in range(3):
    zoolib.child(stop_then_sleep, i == 0)
zoolib.sleep()
