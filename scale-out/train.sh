#!/usr/bin/env bash
# Trains this job with torchrun (PyTorch DistributedDataParallel) and writes the run folder to $OUT
# (default: <job>/run). Run it once per node; every node needs this folder and the images.
#   NPROC        processes on this node (default: the number of GPUs, 1 without a GPU)
#   NNODES       nodes in the job (default 1)
#   NODE_RANK    this node's index, 0 .. NNODES-1 (default 0)
#   MASTER_ADDR  host of rank 0 (default 127.0.0.1); MASTER_PORT its port (default 29500)
#   DATA_ROOT    the dataset folder on this machine (default: the path recorded in config.json)
#   OUT          the run folder (default <job>/run); PYTHON the interpreter with torch (default python3)
#   TORCHRUN     the launcher command (default "$PYTHON -m torch.distributed.run", i.e. torchrun)
# Extra arguments go to the trainer: --resume, --epochs N, --workers W, --cpu.
# Where torchrun itself fails (e.g. Debian's torch 1.13 elastic agent), launch_local.sh starts the ranks directly.
set -euo pipefail
JOB="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PYTHON="${PYTHON:-python3}"
if [ -z "${NPROC:-}" ]; then NPROC="$("$PYTHON" -c 'import torch; print(max(1, torch.cuda.device_count()))')"; fi
export NNODES="${NNODES:-1}"
NODE_RANK="${NODE_RANK:-0}"
MASTER_ADDR="${MASTER_ADDR:-127.0.0.1}"
MASTER_PORT="${MASTER_PORT:-29500}"
OUT="${OUT:-$JOB/run}"
export PYTHONPATH="$JOB${PYTHONPATH:+:$PYTHONPATH}"
read -r -a LAUNCH <<< "${TORCHRUN:-$PYTHON -m torch.distributed.run}"
exec "${LAUNCH[@]}" --nproc_per_node="$NPROC" --nnodes="$NNODES" --node_rank="$NODE_RANK" \
  --master_addr="$MASTER_ADDR" --master_port="$MASTER_PORT" \
  -m mopro_ddp --job "$JOB" --out "$OUT" "$@"
