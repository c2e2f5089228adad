"""Load weights exported by `mopro export-weights` into torchvision and print the logits (JSON) on the
input tensor of an io.safetensors file. strict=True for the backbone and classifier; MoPro's projection
head (proj.*) is not part of torchvision's model and is reported separately.

usage: check_export.py MODEL.safetensors IO.safetensors OUT.safetensors
"""
import json
import os
import sys

import torch
import torchvision

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_io  # noqa: E402


def main():
    weights, io, out = sys.argv[1:4]
    sd, meta = safetensors_io.load(weights)
    side = json.load(open(os.path.splitext(weights)[0] + ".json"))
    arch = side["arch"]
    classes = len(side["classes"])
    net = getattr(torchvision.models, arch)(num_classes=classes)
    proj = {k: v for k, v in sd.items() if k.startswith("proj.")}
    net.load_state_dict({k: v for k, v in sd.items() if not k.startswith("proj.")}, strict=True)
    net.eval()
    x = safetensors_io.load(io)[0]["input"]
    with torch.no_grad():
        logits = net(x)
    safetensors_io.save({"logits": logits}, out)
    print(json.dumps({"arch": arch, "classes": classes, "proj": sorted(proj), "meta": meta}))


if __name__ == "__main__":
    main()
