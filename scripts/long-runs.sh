#!/usr/bin/env bash
# The long runs behind the regime study (notebook 06, results/experiments/), one at a time in
# priority order: the first seed of every required cell, then the other seeds, then the runs
# the compute may allow, the longest first (it needs most of a session to itself).
# `bireal experiment` resumes an unfinished run from its last epoch checkpoint in runs/ and
# reuses finished ones, so this script can be stopped and started again at any time, and
# across sessions where runs/ is kept. Each finished run is recorded in results/experiments/.
#
#   nohup bash scripts/long-runs.sh > runs/long-runs.log 2>&1 &
#
# BIREAL overrides the command (e.g. a built copy of the checkout, so that rebuilding this one
# while the runs go on cannot change the code they load).
set -euo pipefail
cd "$(dirname "$0")/.."
read -r -a BIREAL <<< "${BIREAL:-node dist/src/cli/main.js}"
# OpenMP threads sleep instead of spinning when they wait: the same speed on an idle machine,
# far less slowdown when another job shares the cores.
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
GAPS=bi-real,clipped-ste,plain-resnet
experiment() {
  echo "== $(date -u +%FT%TZ) bireal experiment $*"
  "${BIREAL[@]}" experiment "$@"
}
experiment regime-map-64 --seeds 0
experiment imagenette-128 --seeds 0 --variants "$GAPS"
experiment lr-sensitivity --seeds 0
experiment imagenette-128 --seeds 1 --variants "$GAPS"
experiment regime-map-64 --seeds 1,2
experiment headline-224
experiment imagenette-128 --variants real-relu
experiment init-64
echo "== $(date -u +%FT%TZ) all long runs finished"
