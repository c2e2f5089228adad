"""Rank 0's output: the run folder of the app's contract (design.md §3; names in src-shared/run-format.ts):
samples.csv (exact header), run.json, arrays/{q,embeddings,prototypes,logits}.f32 (float32 LE, rows in
samples.csv order), model/weights.safetensors (torchvision layout) + model/weights.json (sidecar) and
model/extras.safetensors (prototypes and the embedding bank predict's ood_score needs)."""
import json
import os
import re

import torch

from . import FORMAT
from .safetensors_io import write_safetensors

SAMPLES_HEADER = ['path', 'given_label', 'corrected_label', 'status', 'confidence', 'ood_score']
BANK_MAX = 20000  # as the engine's model-io.ts: evenly spaced subset of the training embeddings


def write_atomic(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = f'{path}.tmp-{os.getpid()}'
    with open(tmp, 'wb') as f:
        f.write(data.encode('utf-8') if isinstance(data, str) else data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def write_json(path, obj):
    write_atomic(path, json.dumps(obj, indent=2) + '\n')


def write_f32(path, t):
    write_atomic(path, t.detach().cpu().float().contiguous().numpy().astype('<f4').tobytes())


# The app's CSV rules (src-main/util/csv.ts): RFC 4180 quoting when a cell holds a comma, quote, LF or CR, and
# OWASP's CSV-injection escape: a text cell starting with = + - @ TAB CR or ' is written as ' + text, quoted
# (plain numbers such as -0.25 are left alone); the app's reader undoes it.
_NEEDS_ESCAPE = re.compile(r"^[=+\-@\t\r']")
_NUMBER = re.compile(r'^[+-]?(([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?|Infinity)\Z')  # ASCII digits, no trailing newline: as JS
_NEEDS_QUOTES = re.compile(r'[",\r\n]')


def csv_cell(v):
    s = '' if v is None else str(v)
    quote = bool(_NEEDS_QUOTES.search(s))
    if _NEEDS_ESCAPE.match(s) and not _NUMBER.match(s):
        s, quote = "'" + s, True
    return '"' + s.replace('"', '""') + '"' if quote else s


def samples_csv(rows):
    """rows: [path, given, corrected, status, confidence, ood] -> the text of samples.csv ('\\n' records)."""
    return ''.join(','.join(csv_cell(c) for c in r) + '\n' for r in [SAMPLES_HEADER] + list(rows))


def write_model(out, enc_state, sidecar, protos, bank_emb, bank_labels):
    mdir = os.path.join(out, 'model')
    os.makedirs(mdir, exist_ok=True)
    write_safetensors(os.path.join(mdir, 'weights.safetensors'), enc_state, {'format': FORMAT, 'arch': sidecar['arch']})
    n = bank_emb.shape[0]
    m = min(n, BANK_MAX)
    pick = torch.tensor([(j * n) // m for j in range(m)], dtype=torch.long) if m else torch.zeros(0, dtype=torch.long)
    write_safetensors(os.path.join(mdir, 'extras.safetensors'), {
        'prototypes': protos.float().cpu(),
        'bank/embeddings': bank_emb[pick].float().cpu(),
        'bank/labels': bank_labels[pick].to(torch.int32).cpu(),
    })
    write_json(os.path.join(mdir, 'weights.json'), sidecar)
