"""Rank, device and the few collectives the trainer needs; everything degrades to identity on one process."""
import datetime
import os

import torch
import torch.distributed as dist


class Ctx:
    def __init__(self, force_cpu=False):
        self.world = int(os.environ.get('WORLD_SIZE', '1'))
        self.rank = int(os.environ.get('RANK', '0'))
        self.local_rank = int(os.environ.get('LOCAL_RANK', '0'))
        self.local_world = int(os.environ.get('LOCAL_WORLD_SIZE', str(self.world)))
        self.cuda = torch.cuda.is_available() and not force_cpu
        self.device = torch.device(f'cuda:{self.local_rank}') if self.cuda else torch.device('cpu')
        if self.cuda:
            torch.cuda.set_device(self.device)
        elif 'OMP_NUM_THREADS' not in os.environ:
            # ranks on one machine share its cores (OMP_NUM_THREADS, when set, wins)
            torch.set_num_threads(max(1, (os.cpu_count() or 1) // max(1, self.local_world)))
        self.backend = os.environ.get('MOPRO_DIST_BACKEND') or ('nccl' if self.cuda else 'gloo')
        self.distributed = self.world > 1
        if self.distributed:
            for v in ('MASTER_ADDR', 'MASTER_PORT'):
                if v not in os.environ:
                    raise SystemExit(f'WORLD_SIZE={self.world} but {v} is not set: start the ranks with train.sh (torchrun) or launch_local.sh')
            dist.init_process_group(self.backend, timeout=datetime.timedelta(minutes=30))
        self.main = self.rank == 0

    def gather(self, t):
        """Concatenation of every rank's t along dim 0, in rank order (the official concat_all_gather)."""
        if not self.distributed:
            return t
        t = t.contiguous()
        out = [torch.empty_like(t) for _ in range(self.world)]
        dist.all_gather(out, t)
        return torch.cat(out, 0)

    def sum(self, t):
        if self.distributed:
            dist.all_reduce(t)
        return t

    def broadcast(self, t, src=0):
        if self.distributed:
            dist.broadcast(t, src)
        return t

    def gather_objects(self, obj):
        if not self.distributed:
            return [obj]
        out = [None] * self.world
        dist.all_gather_object(out, obj)
        return out

    def broadcast_object(self, obj, src=0):
        if not self.distributed:
            return obj
        box = [obj]
        dist.broadcast_object_list(box, src)
        return box[0]

    def barrier(self):
        if self.distributed:
            dist.barrier()

    def close(self):
        if self.distributed:
            dist.destroy_process_group()
