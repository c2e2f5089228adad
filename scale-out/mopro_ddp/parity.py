"""The trainer's maths on arrays written by the TypeScript engine's tests, so both sides can be compared:

  python3 -m mopro_ddp.parity DIR [DIR ...]
    DIR/meta.json {"kind": "clean", n, K, alpha, T}   + p.f32, s.f32 (n x K), given.i32
        -> DIR/python.json {status: [...], label: [...]}             (cleaning.clean_rule)
    DIR/meta.json {"kind": "protos", n, K, d, m}      + protos.f32 (K x d), emb.f32 (n x d), labels.i32, use.u8
        -> DIR/protos_out.f32                                        (train.update_prototypes)
    DIR/meta.json {"kind": "torchvision", arch, spec, K}   (spec: the engine's ArchSpec of a torchvision arch)
        -> DIR/torchvision.json {missing, unexpected, maxDiff}: the trainer's state dict loaded into
           torchvision.models.<arch>(num_classes=K) (projection head dropped), logits compared on one input
"""
import json
import os
import sys

import numpy as np
import torch

from .cleaning import STATUS_NAMES, clean_rule
from .train import update_prototypes


def _arr(d, name, dtype, shape):
    return torch.from_numpy(np.fromfile(os.path.join(d, name), dtype=dtype).reshape(shape).copy())


def run(d):
    meta = json.load(open(os.path.join(d, 'meta.json')))
    n, k = meta.get('n', 0), meta['K']
    if meta.get('kind', 'clean') == 'clean':
        p, s = _arr(d, 'p.f32', '<f4', (n, k)), _arr(d, 's.f32', '<f4', (n, k))
        g = _arr(d, 'given.i32', '<i4', (n,))
        _, label, _, status = clean_rule(p, s, g, k, meta['alpha'], meta['T'])
        with open(os.path.join(d, 'python.json'), 'w') as f:
            json.dump({'status': [STATUS_NAMES[int(x)] for x in status], 'label': [int(x) for x in label]}, f)
    elif meta['kind'] == 'torchvision':
        import torchvision
        from .model import Encoder
        torch.manual_seed(0)
        enc = Encoder(meta['spec'], 3, k, 'torch').eval()
        for m in enc.modules():  # non-trivial BN statistics, so buffers are compared too
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
        tv = getattr(torchvision.models, meta['arch'])(num_classes=k).eval()
        sd = {n: t for n, t in enc.state_dict().items() if not n.startswith('proj.')}
        res = tv.load_state_dict(sd, strict=False)
        x = torch.randn(2, 3, 64, 64)
        with torch.no_grad():
            diff = float((enc(x)[0] - tv(x)).abs().max())
        with open(os.path.join(d, 'torchvision.json'), 'w') as f:
            json.dump({'missing': list(res.missing_keys), 'unexpected': list(res.unexpected_keys), 'maxDiff': diff}, f)
    else:
        dim = meta['d']
        protos = _arr(d, 'protos.f32', '<f4', (k, dim)).double()
        emb = _arr(d, 'emb.f32', '<f4', (n, dim)).double()
        labels = _arr(d, 'labels.i32', '<i4', (n,)).long()
        use = _arr(d, 'use.u8', 'u1', (n,)).bool()
        out = update_prototypes(protos, emb, labels, meta['m'], use)
        out.float().numpy().astype('<f4').tofile(os.path.join(d, 'protos_out.f32'))


if __name__ == '__main__':
    if len(sys.argv) < 2:
        sys.exit('usage: python3 -m mopro_ddp.parity DIR [DIR ...] (each DIR holds meta.json and the arrays it names)')
    for d in sys.argv[1:]:
        run(d)
