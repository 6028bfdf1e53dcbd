#!/usr/bin/env python3
# Tests: the classic daemon. A child calls setsid and forks the daemon, then exits at once, so the daemon
# re-parents to init (or the subreaper) in a session and group of its own, keeping its environment (the
# cookie); it detaches stdio and sleeps. The leader keeps running (sleeps).
import os
import zoolib


def daemon():
    os.chdir('/')
    zoolib.to_devnull()
    zoolib.sleep()


def middle():
    os.setsid()
    zoolib.child(daemon)


zoolib.note()
os.waitpid(zoolib.child(middle), 0)
zoolib.sleep()
