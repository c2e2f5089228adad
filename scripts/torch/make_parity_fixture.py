"""Parity fixture: a torchvision ResNet-18 with seeded random weights and non-trivial BN running
statistics, in eval mode, its weights written as .safetensors and its logits on a fixed input.

usage: make_parity_fixture.py OUT_DIR [--arch resnet18] [--classes 10] [--size 48] [--batch 2] [--seed 0]
writes OUT_DIR/weights.safetensors and OUT_DIR/io.safetensors (input NCHW, logits, features)
"""
import argparse
import os
import sys

import torch
import torchvision

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_io  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--arch", default="resnet18")
    ap.add_argument("--classes", type=int, default=10)
    ap.add_argument("--size", type=int, default=48)
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    torch.manual_seed(a.seed)
    net = getattr(torchvision.models, a.arch)(num_classes=a.classes)
    # random BN affine and running statistics: the default (1, 0, 0, 1) would hide a mean/var or
    # gamma/beta mix-up in the loader
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)
                m.running_mean.uniform_(-0.3, 0.3)
                m.running_var.uniform_(0.5, 2.0)
                m.num_batches_tracked.fill_(123)
    net.eval()
    x = torch.randn(a.batch, 3, a.size, a.size)
    with torch.no_grad():
        logits = net(x)
        body = torch.nn.Sequential(*list(net.children())[:-1]) if a.arch.startswith("resnet") else None
        feat = torch.flatten(body(x), 1) if body is not None else torch.zeros(0)
    os.makedirs(a.out, exist_ok=True)
    safetensors_io.save(net.state_dict(), os.path.join(a.out, "weights.safetensors"), {"format": "pt", "arch": a.arch})
    safetensors_io.save({"input": x, "logits": logits, "feat": feat}, os.path.join(a.out, "io.safetensors"))
    print(f"{a.arch}: {sum(p.numel() for p in net.parameters())} params, logits {tuple(logits.shape)}")


if __name__ == "__main__":
    main()
