"""MoPro (momentum prototypes) on PyTorch DistributedDataParallel, for MoPro Studio job folders.

`mopro job` copies this package into a job folder; `train.sh` (torchrun) or `launch_local.sh` (ranks started
directly) runs `python3 -m mopro_ddp --job <job> --out <job>/run`. Rank 0 writes the run folder of the app's
contract: samples.csv, run.json, arrays/*.f32 and model/weights.safetensors (torchvision layout) + sidecar.
"""
FORMAT = 'mopro-studio-weights/1'
