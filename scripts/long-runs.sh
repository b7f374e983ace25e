#!/usr/bin/env bash
# The long runs behind the regime study (notebook 06, results/experiments/), one at a time in
# priority order: the first seed of every required cell, then the other seeds, then the runs
# the compute may allow, the longest first (it needs most of a session to itself).
# `bireal experiment` resumes an unfinished run from its last epoch checkpoint in runs/ and
# reuses finished ones, recorded in results/experiments/, so this script can be stopped and
# started again at any time; an unfinished run survives only as long as its run folder does.
#
#   RUNS=~/bireal-runs nohup bash scripts/long-runs.sh > ~/bireal-runs/long-runs.log 2>&1 &
#
# RUNS is the parent of the run folders (default runs/experiments, inside the checkout; a folder
# outside it keeps unfinished runs when the checkout is laid anew). BIREAL overrides the command
# (e.g. a built copy of the checkout, so that rebuilding this one while the runs go on cannot
# change the code they load).
set -euo pipefail
cd "$(dirname "$0")/.."
read -r -a BIREAL <<< "${BIREAL:-node dist/src/cli/main.js}"
RUNS=${RUNS:-runs/experiments}
# OpenMP threads sleep instead of spinning when they wait: the same speed on an idle machine,
# far less slowdown when another job shares the cores.
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
GAPS=bi-real,clipped-ste,plain-resnet
experiment() {
  echo "== $(date -u +%FT%TZ) bireal experiment $*"
  "${BIREAL[@]}" experiment "$@" --runs "$RUNS"
}
# The deploy file of a run trained here (results/models/NAME-VARIANT-sSEED.bireal) and its
# evaluation on the packed engine, written once, while the run folder (and its checkpoint) exists.
deploy() {
  local run=$RUNS/$1 model=results/models/${1//\//-}.bireal
  [[ -e $run/summary.json && ! -e $model ]] || return 0
  echo "== $(date -u +%FT%TZ) bireal export, eval $model"
  "${BIREAL[@]}" export --run "$run" --out "$model"
  "${BIREAL[@]}" eval --model "$model" --json > "${model%.bireal}.eval.json.part"
  mv "${model%.bireal}.eval.json.part" "${model%.bireal}.eval.json"
}
experiment regime-map-64 --seeds 0
experiment imagenette-128 --seeds 0 --variants "$GAPS"
experiment lr-sensitivity --seeds 0
experiment imagenette-128 --seeds 1 --variants "$GAPS"
experiment regime-map-64 --seeds 1,2
experiment headline-224
deploy headline-224/bi-real-s0
experiment imagenette-128 --variants real-relu
experiment init-64
# Issue 32: the paper's own recipes for its claims.
experiment sgd-lr-trial
experiment weight-gradient-sgd
experiment init-paper-64 --seeds 0
experiment scratch-224
experiment init-paper-64 --seeds 1
# Issue 31: the regime map's class and length axes, first seeds first.
experiment regime-classes-64 --seeds 0
experiment regime-length-64 --seeds 0
experiment regime-classes-64 --seeds 1
experiment regime-length-64 --seeds 1
echo "== $(date -u +%FT%TZ) all long runs finished"
