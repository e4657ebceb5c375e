#!/bin/bash
# The real side of the fidelity suite in one command:
#
#   bash oracle/run.sh           build (kernel cached) and re-record every
#                                transcript into nommu_lab/fidelity/transcripts
#   bash oracle/run.sh --check   build, record into a scratch folder and compare
#                                with the committed transcripts (what CI runs)
#
# Extra arguments go to `python -m nommu_lab.fidelity record` (e.g. -g romfs).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(dirname "$HERE")"
PY="${PYTHON:-$REPO/.venv/bin/python}"
[ -x "$PY" ] || PY=python3
T0=$(date +%s)
bash "$HERE/build.sh"
T1=$(date +%s)
cd "$REPO"
"$PY" -m nommu_lab.fidelity record "$@"
echo "[oracle] build $((T1 - T0)) s, record $(( $(date +%s) - T1 )) s, total $(( $(date +%s) - T0 )) s"
