#!/usr/bin/env python3
"""An application that starts its own analysis subprocesses and hands them to scidex-watchdog.

Some programs start analyses themselves (an API server's workers, a notebook kernel's jobs) and
cannot be rewritten to go through scidex-run. They can still have each analysis supervised: start
it with subprocess.Popen as before, then register it with

    scidex-watchdog adopt PID --analysis-id ID --timeout D    (prints the run id on stdout)

and, when the application wants it back (to keep it running past its limits, or to stop it in its
own way), unregister it with

    scidex-watchdog release RUN                                (nothing is signalled)

From the adoption on, the process and its children have the limits, termination sequence and
records of a scidex-run run (a row with adopted = true). Only the process's owner, or root, may
adopt it. This example runs three jobs, one after the other:

    finish   a job that ends by itself in time: the run is `completed`, with its exit status
    overrun  a job (a parent and two workers) that outlives its timeout: the watchdog stops it
    keep     a job the application releases, then stops itself: no signal of the watchdog's

Usage: adopt_subprocesses.py ANALYSIS_ID
       (scidex-watchdog is looked up on PATH; set SCIDEX_WATCHDOG to its path to use another one)
Prints one line per job and exits 0 when each ended as described.
"""
import json
import os
import subprocess
import sys
import time

WATCHDOG = os.environ.get("SCIDEX_WATCHDOG", "scidex-watchdog")

# A job that forks two workers and waits for them: all three would sleep for a minute.
OVERRUN = """
import os, time
for _ in range(2):
    if os.fork() == 0:
        time.sleep(60)
        os._exit(0)
time.sleep(60)
"""


def adopt(process: subprocess.Popen, analysis_id: str, *options: str) -> str:
    """Registers a running subprocess with scidex-watchdog; returns the run id it prints."""
    result = subprocess.run(
        [WATCHDOG, "adopt", str(process.pid), "--analysis-id", analysis_id, "--quiet", *options],
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        # One line on stderr says why (exit 125: no such pid, not yours, already in a run, ...).
        raise RuntimeError(f"cannot adopt pid {process.pid}: {result.stderr.strip()}")
    return result.stdout.strip()


def release(run_id: str) -> None:
    """Ends the supervision of an adopted run; the process goes on, unsignalled."""
    result = subprocess.run([WATCHDOG, "release", run_id], capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"cannot release run {run_id}: {result.stderr.strip()}")


def final_record(run_id: str, wait_s: float = 30) -> dict:
    """The run's row once its supervisor has recorded how it ended (`scidex-watchdog show --json`)."""
    deadline = time.monotonic() + wait_s
    while True:
        shown = subprocess.run([WATCHDOG, "show", run_id, "--json"], capture_output=True, text=True)
        if shown.returncode == 0:
            run = json.loads(shown.stdout)["run"]
            if run["status"] != "running":
                return run
        if time.monotonic() > deadline:
            raise RuntimeError(f"run {run_id} has not ended after {wait_s} s")
        time.sleep(0.2)


def job_finish(analysis_id: str) -> bool:
    # The job works until the application says it is done (here at once): the example never races
    # its own adoption, which takes up to a second or two on a busy host.
    job = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.readline()"], stdin=subprocess.PIPE)
    run_id = adopt(job, analysis_id, "--timeout", "30s")
    job.communicate(b"done\n")
    run = final_record(run_id)
    print(f"job finish: run {run_id} {run['status']} (exit status {run['exit_status']})", flush=True)
    return run["status"] == "completed" and run["exit_status"] == 0


def job_overrun(analysis_id: str) -> bool:
    job = subprocess.Popen([sys.executable, "-c", OVERRUN])
    time.sleep(0.3)  # its workers are forked by now: they are adopted with it
    run_id = adopt(job, analysis_id, "--timeout", "2s", "--grace", "1s")
    returncode = job.wait()
    run = final_record(run_id)
    print(f"job overrun: run {run_id} {run['status']}: the watchdog stopped it (returncode {returncode}, {run['process_count']} processes)", flush=True)
    return run["status"] == "timeout" and returncode < 0


def job_keep(analysis_id: str, timeout_s: float = 10) -> bool:
    job = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    adopted_at = time.monotonic()
    # A timeout the release comes well before, even on a busy host (release waits for the supervisor).
    run_id = adopt(job, analysis_id, "--timeout", f"{timeout_s:g}s")
    release(run_id)
    run = final_record(run_id)
    time.sleep(max(0.0, adopted_at + timeout_s + 0.5 - time.monotonic()))  # past the timeout it had: released, it is no run's any more
    alive = job.poll() is None
    job.terminate()
    job.wait()
    print(f"job keep: run {run_id} {run['status']}; pid {job.pid} {'still ran' if alive else 'was gone'} past its timeout, stopped by the application itself", flush=True)
    return run["status"] == "released" and alive


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__.split("\n\n")[-2], file=sys.stderr)
        return 2
    analysis_id = sys.argv[1]
    results = [job_finish(analysis_id), job_overrun(analysis_id), job_keep(analysis_id)]
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
