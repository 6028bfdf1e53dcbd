#!/usr/bin/env python3
# Tests: zombies (state Z) count as dead. The leader forks 5 children that exit at once and never reaps them,
# plus one live child that sleeps; then it sleeps. When the leader dies, its zombies re-parent to init or the
# subreaper (which must reap them).
import zoolib

zoolib.note()
for _ in range(5):
    zoolib.child(lambda: None)
zoolib.child(zoolib.sleep)
zoolib.sleep()
