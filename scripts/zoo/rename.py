#!/usr/bin/env python3
# Tests: processes that rename themselves. One child writes a hostile comm to /proc/self/comm (a parser that
# splits /proc/PID/stat at the first ')' would read a zombie child of init), another takes the name of a
# kernel thread with prctl(PR_SET_NAME). Both sleep; so does the leader.
import ctypes
import zoolib

PR_SET_NAME = 15


def by_proc(name):
    with open('/proc/self/comm', 'w') as f:
        f.write(name)


def by_prctl(name):
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_NAME, ctypes.c_char_p(name.encode()), 0, 0, 0)


def renamed(how, name):
    how(name)
    zoolib.sleep()


zoolib.note()
zoolib.child(renamed, by_proc, 'x) Z 1 1 1 0')
zoolib.child(renamed, by_prctl, 'kthreadd')
zoolib.sleep()
