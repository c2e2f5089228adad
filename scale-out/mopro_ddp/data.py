"""The job's file list, image decoding (as the engine's decoder: resize the shorter side to S, centre crop,
white background under transparency, 1 = luminance or 3 = sRGB channels) and the weak / strong views of
mopro.md §4 as batched tensor ops with a seeded generator (like src-main/engine/train/augment.ts: crop + flip;
strong adds brightness, contrast, saturation, hue, grayscale p 0.2 in a fixed order)."""
import csv
import math
import os
import re

import torch
import torch.nn.functional as F


_ESCAPED = re.compile(r"^'[=+\-@\t\r']")


def unescape_cell(v):
    """Undo the app's CSV-injection escape (src-main/util/csv.ts): every text it wrote starting with one of
    = + - @ TAB CR ' carries one added leading ', so such a cell lost nothing but that '."""
    return v[1:] if _ESCAPED.match(v) else v


def read_file_list(job):
    """files.csv -> [(rel path, label index)], classes.json -> [class names]."""
    import json
    classes = json.load(open(os.path.join(job, 'classes.json'), encoding='utf-8'))
    rows = []
    with open(os.path.join(job, 'files.csv'), newline='', encoding='utf-8') as f:
        r = csv.DictReader(f)
        for c in ('path', 'label_index'):
            if c not in (r.fieldnames or []):
                raise SystemExit(f'{os.path.join(job, "files.csv")}: missing column "{c}"; write the job again with `mopro job`')
        for row in r:
            rows.append((unescape_cell(row['path']), int(row['label_index'])))
    for p, k in rows:
        if not 0 <= k < len(classes):
            raise SystemExit(f'{os.path.join(job, "files.csv")}: {p} has label index {k}, classes.json has {len(classes)} classes')
    return rows, classes


def decode(abs_path, size, channels):
    """size x size x channels uint8 tensor (C, S, S); raises with a short reason."""
    from PIL import Image, ImageOps
    Image.MAX_IMAGE_PIXELS = 100_000_000
    with Image.open(abs_path) as im:
        im = ImageOps.exif_transpose(im)
        if im.mode in ('RGBA', 'LA', 'PA') or (im.mode == 'P' and 'transparency' in im.info):
            im = im.convert('RGBA')
            bg = Image.new('RGBA', im.size, (255, 255, 255, 255))
            im = Image.alpha_composite(bg, im)
        im = im.convert('L' if channels == 1 else 'RGB')
        w, h = im.size
        scale = size / min(w, h)
        nw, nh = max(size, round(w * scale)), max(size, round(h * scale))
        if (nw, nh) != (w, h):
            im = im.resize((nw, nh), Image.LANCZOS)
        left, top = (nw - size) // 2, (nh - size) // 2
        im = im.crop((left, top, left + size, top + size))
        t = torch.frombuffer(bytearray(im.tobytes()), dtype=torch.uint8).view(size, size, channels)
        return t.permute(2, 0, 1).contiguous()


class Images(torch.utils.data.Dataset):
    """Item i -> (uint8 C x S x S, i). `cache` (a uint8 N x C x S x S tensor) when everything fits in memory."""

    def __init__(self, root, rows, size, channels, cache=None):
        self.root, self.rows, self.size, self.channels, self.cache = root, rows, size, channels, cache

    def __len__(self):
        return len(self.rows)

    def __getitem__(self, i):
        if self.cache is not None:
            return self.cache[i], i
        try:
            return decode(os.path.join(self.root, self.rows[i][0]), self.size, self.channels), i
        except Exception:
            # undecodable files were found and excluded before training; a file that breaks later trains as black
            return torch.zeros(self.channels, self.size, self.size, dtype=torch.uint8), i


def decode_all(root, rows, size, channels, indices):
    """Decodes rows[indices]; returns (uint8 tensor len x C x S x S, {index: reason} of failures)."""
    out = torch.zeros(len(indices), channels, size, size, dtype=torch.uint8)
    bad = {}
    for j, i in enumerate(indices):
        try:
            out[j] = decode(os.path.join(root, rows[i][0]), size, channels)
        except Exception as e:  # noqa: BLE001 - any decoder failure is a skipped file with its reason
            bad[i] = (str(e).splitlines() or [type(e).__name__])[0][:160]
    return out, bad


def check_all(root, rows, size, channels, indices):
    """{index: reason} of the rows[indices] that cannot be decoded (pixels not kept: for datasets too big to cache)."""
    bad = {}
    for i in indices:
        try:
            decode(os.path.join(root, rows[i][0]), size, channels)
        except Exception as e:  # noqa: BLE001
            bad[i] = (str(e).splitlines() or [type(e).__name__])[0][:160]
    return bad


def pixel_stats(cache_rows):
    """Per-channel mean/std (0..1) of uint8 rows N x C x S x S (the engine's pixelStats, on a sample)."""
    x = cache_rows.double() / 255
    mean = x.mean((0, 2, 3))
    std = (x.pow(2).mean((0, 2, 3)) - mean.pow(2)).clamp_min(1e-6).sqrt()
    return [float(v) for v in mean], [float(v) for v in std]


# ---- augmentation (batched, on the training device) -------------------------------------------------

def _crop_boxes(B, H, W, scale_min, gen, device):
    """torchvision RandomResizedCrop boxes (scale (scale_min, 1), ratio 3/4..4/3, 10 tries, else the whole
    image) as (top, left, h, w) float tensors."""
    tries = 10
    area = H * W * (scale_min + (1 - scale_min) * torch.rand(B, tries, generator=gen))
    logr = math.log(3 / 4) + (math.log(4 / 3) - math.log(3 / 4)) * torch.rand(B, tries, generator=gen)
    r = torch.exp(logr)
    w = torch.round(torch.sqrt(area * r))
    h = torch.round(torch.sqrt(area / r))
    ok = (w > 0) & (h > 0) & (w <= W) & (h <= H)
    first = torch.where(ok.any(1), ok.float().argmax(1), torch.full((B,), -1, dtype=torch.long))
    ar = torch.arange(B)
    hh = torch.where(first >= 0, h[ar, first.clamp_min(0)], torch.full((B,), float(H)))
    ww = torch.where(first >= 0, w[ar, first.clamp_min(0)], torch.full((B,), float(W)))
    top = torch.floor(torch.rand(B, generator=gen) * (H - hh + 1))
    left = torch.floor(torch.rand(B, generator=gen) * (W - ww + 1))
    flip = torch.rand(B, generator=gen) < 0.5
    return top.to(device), left.to(device), hh.to(device), ww.to(device), flip.to(device)


def random_resized_crop(x, scale_min, gen):
    """x: float B x C x H x W in [0, 1]; per-sample crop resized back to H x W (bilinear, corner-aligned as
    tf.image.cropAndResize in the engine), mirrored with probability 0.5."""
    B, _, H, W = x.shape
    top, left, h, w, flip = _crop_boxes(B, H, W, scale_min, gen, x.device)
    ax = (w - 1) / max(1, W - 1)
    bx = (2 * left + w - 1) / max(1, W - 1) - 1
    ay = (h - 1) / max(1, H - 1)
    by = (2 * top + h - 1) / max(1, H - 1) - 1
    ax = torch.where(flip, -ax, ax)
    theta = torch.zeros(B, 2, 3, device=x.device, dtype=x.dtype)
    theta[:, 0, 0], theta[:, 0, 2], theta[:, 1, 1], theta[:, 1, 2] = ax, bx, ay, by
    grid = F.affine_grid(theta, list(x.shape), align_corners=True)
    return F.grid_sample(x, grid, mode='bilinear', padding_mode='border', align_corners=True)


_LUMA = (0.299, 0.587, 0.114)


def _hue_shift(x, shifts):
    """torchvision adjust_hue in closed form (as the engine's hueShift): x B x 3 x H x W in [0, 1]."""
    r, g, b = x[:, 0:1], x[:, 1:2], x[:, 2:3]
    v = torch.maximum(torch.maximum(r, g), b)
    mn = torch.minimum(torch.minimum(r, g), b)
    c = v - mn
    safe = torch.where(c > 0, c, torch.ones_like(c))
    hr = torch.remainder((g - b) / safe, 6)
    hg = (b - r) / safe + 2
    hb = (r - g) / safe + 4
    h6 = torch.where(v == r, hr, torch.where(v == g, hg, hb))
    h6 = torch.remainder(h6 + shifts.view(-1, 1, 1, 1) * 6, 6)

    def chan(n):
        k = torch.remainder(h6 + n, 6)
        return v - c * torch.clamp(torch.minimum(k, 4 - k), 0, 1)
    return torch.cat([chan(5), chan(3), chan(1)], 1)


def weak_view(x, scale_min, gen):
    return random_resized_crop(x, scale_min, gen)


def strong_view(x, scale_min, gen, jitter=0.4, gray_p=0.2):
    B, C = x.shape[:2]
    u = lambda: (1 - jitter + 2 * jitter * torch.rand(B, generator=gen)).to(x.device).view(B, 1, 1, 1)  # noqa: E731
    bright, contr, sat = u(), u(), u()
    gray = (torch.rand(B, generator=gen) < gray_p).to(x.device, x.dtype).view(B, 1, 1, 1)
    hues = (-jitter + 2 * jitter * torch.rand(B, generator=gen)).to(x.device, x.dtype)
    h = random_resized_crop(x, scale_min, gen) * bright
    luma = torch.tensor(_LUMA, device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
    lum = (h * luma).sum(1, keepdim=True) if C == 3 else h
    m = lum.mean((1, 2, 3), keepdim=True)
    h = (h * contr + m * (1 - contr)).clamp(0, 1)
    if C == 3:
        g = (h * luma).sum(1, keepdim=True)
        h = (h * sat + g * (1 - sat)).clamp(0, 1)
        h = _hue_shift(h, hues)
        g2 = (h * luma).sum(1, keepdim=True)
        h = h * (1 - gray) + g2.expand(-1, 3, -1, -1) * gray
    return h.clamp(0, 1)
