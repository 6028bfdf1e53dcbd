#!/usr/bin/env python3
# Tests: children forked from non-main threads. Such a child is listed only in /proc/PID/task/<thread>/children
# of the thread that forked it, so the forking threads stay alive (sleeping). The leader forks one sleeping child
# from a thread, and from another thread a child that does the same again (a grandchild forked from a thread).
import threading
import zoolib


def fork_from_thread(body):
    zoolib.child(body)
    zoolib.sleep()


def in_thread(body):
    threading.Thread(target=fork_from_thread, args=(body,), daemon=True).start()


def child_with_thread():
    in_thread(zoolib.sleep)
    zoolib.sleep()


zoolib.note()
in_thread(zoolib.sleep)
in_thread(child_with_thread)
zoolib.sleep()
