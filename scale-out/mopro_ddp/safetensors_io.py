"""The .safetensors format by hand (no library on Debian): 8-byte little-endian header length N, N bytes of
UTF-8 JSON {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {str: str}}, then the raw
little-endian tensor bytes; offsets count from the first byte after the header."""
import json
import os

import torch

_DT = {torch.float32: 'F32', torch.int64: 'I64', torch.int32: 'I32', torch.float64: 'F64', torch.uint8: 'U8'}


def write_safetensors(path, tensors, metadata=None):
    """tensors: ordered dict name -> torch tensor (written as its own dtype, contiguous, little-endian)."""
    header, blobs, off = {}, [], 0
    for name, t in tensors.items():
        t = t.detach().cpu().contiguous()
        if t.dtype not in _DT:
            raise ValueError(f'{name}: dtype {t.dtype} is not written (use float32/int64/int32)')
        b = t.numpy().astype(t.numpy().dtype.newbyteorder('<'), copy=False).tobytes()
        header[name] = {'dtype': _DT[t.dtype], 'shape': list(t.shape), 'data_offsets': [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    if metadata:
        header['__metadata__'] = {str(k): str(v) for k, v in metadata.items()}
    h = json.dumps(header, separators=(',', ':')).encode('utf-8')
    h += b' ' * (-len(h) % 8)  # the reference writer pads the header to 8 bytes with spaces
    tmp = f'{path}.tmp-{os.getpid()}'
    with open(tmp, 'wb') as f:
        f.write(len(h).to_bytes(8, 'little'))
        f.write(h)
        for b in blobs:
            f.write(b)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
