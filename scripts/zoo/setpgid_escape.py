#!/usr/bin/env python3
# Tests: a child that leaves the run's process group with setpgid(0, 0) (same session) and forks a grandchild
# into its new group; both sleep. The leader sleeps.
import os
import zoolib


def escaper():
    os.setpgid(0, 0)
    zoolib.child(zoolib.sleep)
    zoolib.sleep()


zoolib.note()
zoolib.child(escaper)
zoolib.sleep()
