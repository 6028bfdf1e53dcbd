#!/usr/bin/env python3
# Tests: a wide tree. The leader forks N children (argv[1], default 500) that all sleep, then sleeps.
import sys
import zoolib

zoolib.note()
for _ in range(int(sys.argv[1]) if len(sys.argv) > 1 else 500):
    zoolib.child(zoolib.sleep)
zoolib.sleep()
