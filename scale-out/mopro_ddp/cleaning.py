"""The noise-cleaning rule of mopro.md §2, identical to the TypeScript engine's cleanRule
(src-main/engine/mopro/noise-cleaning.ts), used online per mini-batch and in the final pass:

  q = alpha p + (1 - alpha) s;  keep = q[y] > 1/K;  corr = max q > T (label := argmax q, first maximum);
  clean = keep or corr;  status 'ood' when not clean, 'relabeled' when the label changed, else 'clean'.

q is formed in float64 like the JavaScript numbers of the engine; `keep` reads q after rounding to float32
(the engine stores q in a Float32Array before that test), `corr` compares the float64 maximum. Inputs on the
exact boundaries therefore get the same status on both sides (the parity test checks it).
(tests/integration/scale-out-cleaning-parity.test.ts runs it through parity.py on the engine's arrays).
"""
import torch

CLEAN, RELABELED, OOD = 0, 1, 2
STATUS_NAMES = ('clean', 'relabeled', 'ood')


def clean_rule(p, s, given, num_classes, alpha, threshold):
    """p, s: n x K probabilities (any float dtype), given: n labels. Returns (q float32, label int64,
    clean bool, status int64 in CLEAN/RELABELED/OOD)."""
    p64, s64 = p.double(), s.double()
    q64 = alpha * p64 + (1 - alpha) * s64
    q32 = q64.float()
    y = given.long().view(-1, 1)
    keep = q32.gather(1, y).double().view(-1) > 1.0 / num_classes
    mx, am = q64.max(1)
    # torch.max's index is the first maximum on CPU; make it explicit for every device
    am = (q64 == mx.view(-1, 1)).double().argmax(1)
    corr = mx > threshold
    label = torch.where(corr, am, y.view(-1))
    clean = keep | corr
    status = torch.where(~clean, torch.full_like(label, OOD), torch.where(label != y.view(-1), torch.full_like(label, RELABELED), torch.full_like(label, CLEAN)))
    return q32, label, clean, status
