#!/usr/bin/env bash
# The plain launcher: starts this node's NPROC ranks itself (RANK, LOCAL_RANK, WORLD_SIZE, MASTER_ADDR,
# MASTER_PORT in each one's environment) instead of torchrun, for machines where torchrun fails. Same
# variables and arguments as train.sh. If one rank fails, the others are stopped and the exit code is 1.
set -uo pipefail
JOB="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PYTHON="${PYTHON:-python3}"
if [ -z "${NPROC:-}" ]; then NPROC="$("$PYTHON" -c 'import torch; print(max(1, torch.cuda.device_count()))')" || exit 1; fi
export NNODES="${NNODES:-1}"
NODE_RANK="${NODE_RANK:-0}"
export MASTER_ADDR="${MASTER_ADDR:-127.0.0.1}"
export MASTER_PORT="${MASTER_PORT:-29500}"
OUT="${OUT:-$JOB/run}"
export PYTHONPATH="$JOB${PYTHONPATH:+:$PYTHONPATH}"
export WORLD_SIZE=$((NNODES * NPROC)) LOCAL_WORLD_SIZE="$NPROC"
pids=()
stop_all() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; }
trap 'stop_all; exit 130' INT TERM
for ((r = 0; r < NPROC; r++)); do
  RANK=$((NODE_RANK * NPROC + r)) LOCAL_RANK=$r "$PYTHON" -m mopro_ddp --job "$JOB" --out "$OUT" "$@" &
  pids+=($!)
done
status=0
for ((i = 0; i < NPROC; i++)); do
  if ! wait -n; then
    [ "$status" -eq 0 ] && echo "launch_local.sh: a rank failed; stopping the others" >&2
    status=1
    stop_all
  fi
done
exit "$status"
