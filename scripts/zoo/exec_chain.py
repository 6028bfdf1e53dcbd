#!/usr/bin/env python3
# Tests: one pid that changes program three times: python execs sh, which execs python, which execs sleep
# (same pid and starttime throughout; each step writes its line). The first python and the second python
# each fork a child that sleeps along the way.
import os
import sys
import zoolib

SH = ('py=$1 code=$2; read -r s < /proc/$$/stat; set -- ${s##*") "}; '
      'echo "$$ ${20}" >> "$ZOO_PIDFILE"; exec "$py" -B -c "$code"')
STEP2 = ('import os, sys; sys.path.insert(0, %r); import zoolib; zoolib.note(); zoolib.child(zoolib.sleep); '
         'os.execvp("sleep", ["sleep", "300"])' % os.path.dirname(os.path.abspath(__file__)))

zoolib.note()
zoolib.child(zoolib.sleep)
os.execv('/bin/sh', ['sh', '-c', SH, 'sh', sys.executable, STEP2])
