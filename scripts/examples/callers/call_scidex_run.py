#!/usr/bin/env python3
"""Calls scidex-run from Python's subprocess and turns its exit status into a message.

scidex-run's exit status follows timeout(1), tini and Kubernetes, so a caller can tell why an
analysis ended without reading any log:

    0..123  the analysis exited by itself with that code (non-zero: it failed on its own)
    124     killed for the wall-clock timeout (--timeout)
    125     scidex-run itself failed or was misused (bad option): nothing was run
    126     the command exists but cannot be executed
    127     the command was not found
    137     killed for the memory limit (--memory-limit), as Kubernetes' OOMKilled
    128+S   the analysis died of signal S, or scidex-run was cancelled by signal S (130: Ctrl-C)

Usage: call_scidex_run.py ANALYSIS_ID TIMEOUT COMMAND [ARGS...]
       (scidex-run is looked up on PATH; set SCIDEX_RUN to its path to use another one)
Prints one line saying how the analysis ended and exits with scidex-run's status.
"""
import os
import signal
import subprocess
import sys


def describe(status: int) -> str:
    """The meaning of one exit status of scidex-run, as one short sentence."""
    if status == 0:
        return "completed"
    if status == 124:
        return "timed out: killed for the wall-clock limit"
    if status == 125:
        return "not run: scidex-run failed or was given bad options"
    if status == 126:
        return "not run: the command is not executable"
    if status == 127:
        return "not run: the command was not found"
    if status == 137:
        return "out of memory: killed for the memory limit"
    if status > 128:
        try:
            name = signal.Signals(status - 128).name
        except ValueError:
            name = f"signal {status - 128}"
        return f"ended by {name}"
    return f"failed with exit code {status}"


def run_analysis(analysis_id: str, timeout: str, command: list[str]) -> int:
    """Runs COMMAND under scidex-run and returns scidex-run's exit status.

    stdout and stderr are left to the child, as scidex-run leaves them to the analysis: piping them
    here would make this process the one that must drain them. No check=True: the status is the answer.
    """
    wrapper = os.environ.get("SCIDEX_RUN", "scidex-run")
    argv = [wrapper, "--analysis-id", analysis_id, "--timeout", timeout, "--", *command]
    completed = subprocess.run(argv)
    # subprocess reports a child killed by a signal as a negative code; scidex-run itself is only
    # killed that way from outside (it turns its tree's signals into 128+S), so map it the same way.
    return completed.returncode if completed.returncode >= 0 else 128 - completed.returncode


def main() -> int:
    if len(sys.argv) < 4:
        print(__doc__.split("\n\n")[-1], file=sys.stderr)
        return 2
    analysis_id, timeout, command = sys.argv[1], sys.argv[2], sys.argv[3:]
    status = run_analysis(analysis_id, timeout, command)
    print(f"analysis {analysis_id}: {describe(status)} (exit status {status})", flush=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
