"""The encoder of mopro.md §1 built from the engine's ArchSpec (src-main/engine/nets/model.ts, copied into the
job's config.json as `archSpec`), with torchvision's module names so the state dict IS torchvision layout:
conv1, bn1, [maxpool], layer{i}.{j}.conv1/bn1/conv2/bn2[/conv3/bn3]/downsample.{0,1}, fc (classifier) and
MoPro's projection head proj.0 (Linear F->F), proj.2 (Linear F->128). forward() returns (logits, unit
embedding, pooled feature).

Padding: 'torch' pads k//2 on both sides (torchvision). 'tf-same' reproduces TensorFlow's 'same' padding
(at stride 2 on even sizes one pixel less on the top/left), which is what the TF.js engine's forward uses;
the job's config says which one the app's engine expects, so weights trained here predict the same there.
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

EMBED_DIM = 128
BOTTLENECK_EXPANSION = 4


class Conv(nn.Conv2d):
    def __init__(self, ci, co, k, stride, padding_mode_name):
        self.mode = padding_mode_name
        super().__init__(ci, co, k, stride, k // 2 if padding_mode_name == 'torch' else 0, bias=False)

    def forward(self, x):
        if self.mode == 'torch':
            return super().forward(x)
        return super().forward(_same_pad(x, self.kernel_size[0], self.stride[0], 0.0))


def _same_pad(x, k, s, value):
    h, w = x.shape[-2:]
    ph = max((math.ceil(h / s) - 1) * s + k - h, 0)
    pw = max((math.ceil(w / s) - 1) * s + k - w, 0)
    if ph == 0 and pw == 0:
        return x
    return F.pad(x, (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2), value=value)


class MaxPool(nn.Module):
    def __init__(self, mode):
        super().__init__()
        self.mode = mode

    def forward(self, x):
        if self.mode == 'torch':
            return F.max_pool2d(x, 3, 2, 1)
        return F.max_pool2d(_same_pad(x, 3, 2, float('-inf')), 3, 2, 0)


class BasicBlock(nn.Module):
    def __init__(self, ci, co, stride, mode):
        super().__init__()
        self.conv1 = Conv(ci, co, 3, stride, mode)
        self.bn1 = nn.BatchNorm2d(co)
        self.conv2 = Conv(co, co, 3, 1, mode)
        self.bn2 = nn.BatchNorm2d(co)
        self.downsample = nn.Sequential(Conv(ci, co, 1, stride, mode), nn.BatchNorm2d(co)) if stride != 1 or ci != co else None

    def forward(self, x):
        o = F.relu(self.bn1(self.conv1(x)))
        o = self.bn2(self.conv2(o))
        return F.relu(o + (self.downsample(x) if self.downsample is not None else x))


class Bottleneck(nn.Module):
    def __init__(self, ci, width, stride, mode):
        super().__init__()
        co = width * BOTTLENECK_EXPANSION
        self.conv1 = Conv(ci, width, 1, 1, mode)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = Conv(width, width, 3, stride, mode)  # v1.5: the stride sits on the 3x3 conv
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = Conv(width, co, 1, 1, mode)
        self.bn3 = nn.BatchNorm2d(co)
        self.downsample = nn.Sequential(Conv(ci, co, 1, stride, mode), nn.BatchNorm2d(co)) if stride != 1 or ci != co else None

    def forward(self, x):
        o = F.relu(self.bn1(self.conv1(x)))
        o = F.relu(self.bn2(self.conv2(o)))
        o = self.bn3(self.conv3(o))
        return F.relu(o + (self.downsample(x) if self.downsample is not None else x))


class Encoder(nn.Module):
    def __init__(self, spec, in_channels, num_classes, padding='torch'):
        super().__init__()
        if spec.get('dense'):
            raise SystemExit('mopro_ddp builds ResNets only (basic or bottleneck blocks); pick a ResNet --arch for the job (e.g. resnet18, resnet50)')
        st = spec['stem']
        self.conv1 = Conv(in_channels, st['ch'], st['k'], st['stride'], padding)
        self.bn1 = nn.BatchNorm2d(st['ch'])
        self.maxpool = MaxPool(padding) if st['pool'] else None
        bottleneck = spec.get('block') == 'bottleneck'
        ci = st['ch']
        for si, (w, stride, blocks) in enumerate(spec['stages']):
            layers = []
            for bi in range(blocks):
                s = stride if bi == 0 else 1
                if bottleneck:
                    layers.append(Bottleneck(ci, w, s, padding))
                    ci = w * BOTTLENECK_EXPANSION
                else:
                    layers.append(BasicBlock(ci, w, s, padding))
                    ci = w
            setattr(self, f'layer{si + 1}', nn.Sequential(*layers))
        self.num_stages = len(spec['stages'])
        self.feature_dim = ci
        self.fc = nn.Linear(ci, num_classes)
        self.proj = nn.Sequential(nn.Linear(ci, ci), nn.ReLU(), nn.Linear(ci, EMBED_DIM))
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode='fan_out', nonlinearity='relu')  # torchvision's ResNet init
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x):
        h = F.relu(self.bn1(self.conv1(x)))
        if self.maxpool is not None:
            h = self.maxpool(h)
        for i in range(self.num_stages):
            h = getattr(self, f'layer{i + 1}')(h)
        feat = h.mean((2, 3))
        logits = self.fc(feat)
        e = self.proj(feat)
        # the official code divides by the bare norm; the 1e-12 only guards an all-zero row (as the engine)
        emb = e / (e.norm(dim=1, keepdim=True) + 1e-12)
        return logits, emb, feat


def torchvision_state(enc):
    """The encoder's tensors under torchvision names, float32 (+ int64 num_batches_tracked), state_dict order."""
    return {k: v.detach().cpu().clone() for k, v in enc.state_dict().items()}
