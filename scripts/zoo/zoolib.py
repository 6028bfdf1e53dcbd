"""Shared by the zoo programs (stdlib only): the pidfile protocol and a fork helper.

Protocol: every process a zoo program creates, itself included, appends `<pid> <starttime>` to the
file named by ZOO_PIDFILE (or given explicitly, for processes that cleared their environment), in
one write on an O_APPEND descriptor. starttime is field 22 of /proc/self/stat, read after the last ')'.
"""
import os
import time
import traceback


def starttime():
    with open('/proc/self/stat', 'rb') as f:
        stat = f.read()
    return int(stat[stat.rindex(b')') + 2:].split()[19])  # field 3 is index 0, so field 22 is index 19


def note(pidfile=None):
    """Appends this process's `<pid> <starttime>` line to the pidfile."""
    fd = os.open(pidfile or os.environ['ZOO_PIDFILE'], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
    try:
        os.write(fd, b'%d %d\n' % (os.getpid(), starttime()))
    finally:
        os.close(fd)


def child(body, *args):
    """Forks. The child notes itself, runs body(*args) and exits; the parent gets the child's pid."""
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            note()
            body(*args)
        except BaseException:
            traceback.print_exc()
            code = 1
        os._exit(code)
    return pid


def sleep(seconds=300):
    time.sleep(seconds)


def to_devnull():
    """Detaches stdio as a daemon does (so a survivor never holds the test's pipes)."""
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    os.close(null)
