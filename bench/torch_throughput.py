#!/usr/bin/env python3
"""Times the engine's default CPU network in PyTorch on this machine (Debian python3-torch):
forward + backward + SGD step of plain cross-entropy, which is the like-for-like of `--method ce`.
Usage: torch_throughput.py '<json: {"arch":..., "spec": ArchSpec, "imageSize":..., "batchSize":..., "channels":...}>'
Prints one JSON line {imagesPerSec, note}. The architecture is src-main/engine/nets/model.ts's ArchSpec for that arch."""
import json, os, sys, time
import torch
import torch.nn as nn
import torch.nn.functional as F

ARCHS = {}  # filled from the engine's own ArchSpec (passed in by bench.ts), so both sides run one network

class Block(nn.Module):
    def __init__(self, ci, co, s):
        super().__init__()
        self.c1 = nn.Conv2d(ci, co, 3, s, 1, bias=False); self.b1 = nn.BatchNorm2d(co)
        self.c2 = nn.Conv2d(co, co, 3, 1, 1, bias=False); self.b2 = nn.BatchNorm2d(co)
        self.sc = None
        if s != 1 or ci != co:
            self.sc = nn.Sequential(nn.Conv2d(ci, co, 1, s, bias=False), nn.BatchNorm2d(co))
    def forward(self, x):
        o = F.relu(self.b1(self.c1(x)))
        o = self.b2(self.c2(o))
        return F.relu(o + (self.sc(x) if self.sc is not None else x))

class Net(nn.Module):
    def __init__(self, arch, cin, k):
        super().__init__()
        (sc, sk, ss, pool), stages = ARCHS[arch]
        layers = [nn.Conv2d(cin, sc, sk, ss, sk // 2, bias=False), nn.BatchNorm2d(sc), nn.ReLU()]
        if pool: layers.append(nn.MaxPool2d(3, 2, 1))
        ci = sc
        for co, s, n in stages:
            for b in range(n):
                layers.append(Block(ci, co, s if b == 0 else 1)); ci = co
        self.body = nn.Sequential(*layers)
        self.fc = nn.Linear(ci, k)
    def forward(self, x):
        return self.fc(self.body(x).mean((2, 3)))

def main():
    spec = json.loads(sys.argv[1]) if len(sys.argv) > 1 else {}
    arch = spec.get('arch') or 'resnet-s'
    a = spec.get('spec')
    if a:
        # only the basic-block ResNets are rebuilt here; the GPU backbones (bottleneck ResNets, DenseNet) are not
        kind = 'dense' if a.get('dense') else a.get('block', 'basic')
        if kind != 'basic':
            raise SystemExit(f'torch_throughput.py builds basic-block ResNets only; arch {arch} is a {kind} network: not measured')
        st = a['stem']
        ARCHS[arch] = ((st['ch'], st['k'], st['stride'], st['pool']), [tuple(x) for x in a['stages']])
    if arch not in ARCHS:
        print(json.dumps({'imagesPerSec': None, 'note': f'arch {arch} has no spec'})); return
    size = int(spec.get('imageSize') or 28); bs = int(spec.get('batchSize') or 128)
    cin = int(spec.get('channels') or spec.get('inChannels') or 1); k = int(spec.get('numClasses') or 10)
    # spec 'threads': 1 for the one-thread row (its CPU time per step has no OpenMP spin-waiting in it)
    torch.set_num_threads(int(spec.get('threads') or os.cpu_count() or 2))
    torch.manual_seed(0)
    net = Net(arch, cin, k); net.train()
    opt = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)
    x = torch.randn(bs, cin, size, size); y = torch.randint(0, k, (bs,))
    def step():
        opt.zero_grad(); F.cross_entropy(net(x), y).backward(); opt.step()
    for _ in range(3): step()
    n, t0, c0 = 0, time.time(), time.process_time()
    while time.time() - t0 < 20 or n < 5:
        step(); n += 1
    ips = n * bs / (time.time() - t0)
    cpu = (time.process_time() - c0) / n  # CPU seconds per step, all threads of the process
    print(json.dumps({'imagesPerSec': ips, 'cpuPerStep': cpu, 'note': f'PyTorch {torch.__version__}, {arch}, {size}x{size}x{cin}, batch {bs}, {torch.get_num_threads()} threads, CE step'}))

main()
