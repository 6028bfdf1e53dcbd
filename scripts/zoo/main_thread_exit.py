#!/usr/bin/env python3
# Tests: a process whose main thread has exited (pthread_exit) while another thread runs. /proc/PID/stat then
# says Z, the state of the main thread, yet the process lives: it must not count as dead. A child does it; the
# leader sleeps.
import ctypes
import os
import threading
import zoolib

zoolib.note()
if os.fork() == 0:
    zoolib.note()
    threading.Thread(target=zoolib.sleep).start()
    ctypes.CDLL(None).pthread_exit(None)
zoolib.sleep()
