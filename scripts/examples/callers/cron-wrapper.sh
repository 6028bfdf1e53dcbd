#!/bin/sh
# Runs one analysis from cron under scidex-run.
#
# cron gives a bare environment (PATH=/usr/bin:/bin, no profile) and mails whatever a job prints:
# so this script sets what scidex-run needs, runs it with --quiet (nothing of ours on a good run,
# hence no mail), and prints one line only when the run did not complete.
#
# Usage: cron-wrapper.sh ANALYSIS_ID COMMAND [ARGS...]
# Crontab line (crontab -e), every night at 02:15, see crontab.example beside this script:
#   15 2 * * * /opt/scidex/cron-wrapper.sh nightly-wordfreq python3 /opt/analyses/wordfreq.py
set -u

if [ "$#" -lt 2 ]; then
  echo "usage: $0 ANALYSIS_ID COMMAND [ARGS...]" >&2
  exit 125
fi
analysis_id=$1
shift

# Where scidex-run is installed (npm link or npm install -g put it in /usr/local/bin).
PATH=/usr/local/bin:/usr/bin:/bin
export PATH
SCIDEX_RUN=${SCIDEX_RUN:-scidex-run}
# The limits of a nightly job; each can be overridden in the crontab (VAR=value lines).
export SCIDEX_RUN_TIMEOUT="${SCIDEX_RUN_TIMEOUT:-2h}"
export SCIDEX_RUN_MEMORY_LIMIT="${SCIDEX_RUN_MEMORY_LIMIT:-4GiB}"
export SCIDEX_RUN_GRACE="${SCIDEX_RUN_GRACE:-30s}"
# Records: PostgreSQL when DATABASE_URL is set (in the crontab or here), else the journal only.
# export DATABASE_URL=postgresql://scidex@db.internal:5432/scidex
# Metrics for alerting on a job that stopped succeeding (scidex_run_last_success_timestamp_seconds):
# export SCIDEX_RUN_PUSHGATEWAY=http://pushgateway.internal:9091

"$SCIDEX_RUN" --quiet --analysis-id "$analysis_id" -- "$@"
status=$?
case $status in
  0) ;;
  124) echo "scidex-run cron: $analysis_id timed out after $SCIDEX_RUN_TIMEOUT (exit status 124)" >&2 ;;
  137) echo "scidex-run cron: $analysis_id killed for the $SCIDEX_RUN_MEMORY_LIMIT memory limit (exit status 137)" >&2 ;;
  125) echo "scidex-run cron: $analysis_id not run: scidex-run failed or bad options (exit status 125)" >&2 ;;
  *) echo "scidex-run cron: $analysis_id failed (exit status $status)" >&2 ;;
esac
exit $status
