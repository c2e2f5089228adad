"""MoPro on DistributedDataParallel, as the official multi-GPU code does it (shared/docs/mopro.md):
DistributedSampler (drop_last), per-rank batch = global batch / world size, keys all-gathered into the queue,
shuffle-BN for the key encoder, prototypes updated from the all-gathered embeddings / labels / clean mask so
every rank computes the same update (checked every epoch and written to run.json), the §2 cleaning rule and
the §3 losses in the §3 step order. Hyper-parameters are the engine's (config.json, the field names of
src-main/engine/train/config.ts). A checkpoint is written after every epoch; --resume continues from it.

Usage (one rank per process; train.sh / launch_local.sh set the environment):
  python3 -m mopro_ddp --job JOB --out JOB/run [--resume] [--epochs N] [--data-root DIR] [--workers W] [--cpu]
"""
import argparse
import copy
import json
import math
import os
import platform
import sys
import time

import torch
import torch.nn.functional as F

from . import data as D
from . import runfolder as R
from .cleaning import OOD, RELABELED, clean_rule
from .dist import Ctx
from .model import EMBED_DIM, Encoder, torchvision_state

KNN_TEMP = 0.1


def parse_args(argv=None):
    ap = argparse.ArgumentParser(prog='python3 -m mopro_ddp', description='MoPro on PyTorch DDP for a MoPro Studio job folder')
    ap.add_argument('--job', required=True, help='job folder written by `mopro job`')
    ap.add_argument('--out', required=True, help='run folder to write (rank 0)')
    ap.add_argument('--resume', action='store_true', help="continue from <out>/checkpoint/checkpoint.pt")
    ap.add_argument('--epochs', type=int, help='total epochs (overrides config.json; with --resume extends a finished run)')
    ap.add_argument('--data-root', help='where the dataset is on this machine (default: $DATA_ROOT, else the path in config.json)')
    ap.add_argument('--workers', type=int, help='data-loader workers per rank (default: 0 when the decoded images fit in memory)')
    ap.add_argument('--cpu', action='store_true', help='ignore GPUs')
    return ap.parse_args(argv)


def lr_at(cfg, t):
    """The engine's schedule.ts: linear warm-up, then cosine or step (x0.1 at 45% and 90% of the epochs)."""
    base, warm, epochs = cfg['lr'], cfg.get('lrWarmupEpochs', 0), cfg['epochs']
    if warm > 0 and t < warm:
        return base * (t + 1e-3) / warm
    if cfg.get('lrSchedule') == 'step':
        lr = base
        for m in (round(epochs * 0.45), round(epochs * 0.9)):
            if math.floor(t) >= m:
                lr *= 0.1
        return lr
    u = min(1.0, (t - warm) / max(1e-9, epochs - warm))
    return base * 0.5 * (1 + math.cos(math.pi * u))


def update_prototypes(protos, emb, labels, m, use):
    """Per-sample EMA in batch order, vectorised per class (mopro.md §6.2; the engine's updatePrototypes):
    c_k <- m^n c_k + (1-m) sum_j m^(n-1-j) v_j over the n selected samples of class k, then every row is
    renormalised (a zero row stays zero)."""
    emb, labels = emb[use], labels[use]
    if labels.numel() == 0:
        return protos
    K = protos.shape[0]
    same = labels.view(-1, 1) == labels.view(1, -1)
    later = torch.triu(same, diagonal=1).sum(1).to(protos.dtype)  # later samples of the same class
    w = (1 - m) * torch.pow(torch.tensor(m, dtype=protos.dtype, device=protos.device), later)
    acc = torch.zeros_like(protos).index_add_(0, labels, w.view(-1, 1) * emb.to(protos.dtype))
    n = torch.bincount(labels, minlength=K).to(protos.dtype)
    seen = n > 0
    out = protos.clone()
    out[seen] = torch.pow(torch.tensor(m, dtype=protos.dtype, device=protos.device), n[seen]).view(-1, 1) * protos[seen] + acc[seen]
    norm = out.norm(dim=1, keepdim=True)
    return torch.where(norm > 0, out / norm.clamp_min(1e-30), out)


def masked_ce(logits, target, mask):
    """Mean CE over mask = 1 rows, 0 (not NaN) on an empty clean set (mopro.md §6.10)."""
    ce = F.cross_entropy(logits, target, reduction='none')
    mf = mask.to(ce.dtype)
    return (ce * mf).sum() / mf.sum().clamp_min(1)


def knn_label_impurity(emb, bank, bank_labels, K, self_index=None, chunk=1024):
    """The engine's 'knn-label' ood_score: 1 - the largest exp(cos/0.1)-weighted share of one given label
    among the k = min(50, max(5, nb / 2K)) nearest bank rows (the row itself skipped)."""
    nb = bank.shape[0]
    k = min(50, max(5, nb // (2 * K)))
    kk = min(k, nb - (1 if self_index is not None else 0))
    out = torch.zeros(emb.shape[0], device=emb.device)
    if kk <= 0:
        return out
    for s in range(0, emb.shape[0], chunk):
        sim = emb[s:s + chunk] @ bank.T
        if self_index is not None:
            rows = torch.arange(sim.shape[0], device=sim.device)
            sim[rows, self_index[s:s + chunk]] = -float('inf')
        v, ix = sim.topk(kk, dim=1)
        w = torch.exp((v.double() - 1) / KNN_TEMP)
        h = torch.zeros(sim.shape[0], K, dtype=torch.float64, device=sim.device).scatter_add_(1, bank_labels[ix], w)
        z = h.sum(1)
        out[s:s + chunk] = torch.where(z > 0, 1 - h.max(1).values / z.clamp_min(1e-300), torch.zeros_like(z)).float()
    return out


def padding_of(cfg):
    """The TF.js engine pads torchvision archs as torchvision does and its small CPU archs with TF 'same'
    (model.ts ArchSpec.torchPad): train with the padding the app will predict with."""
    return cfg.get('padding') or ('torch' if cfg['archSpec'].get('torchPad') else 'tf-same')


class UsedRows(torch.utils.data.Dataset):
    def __init__(self, base, used):
        self.base, self.used = base, used

    def __len__(self):
        return len(self.used)

    def __getitem__(self, j):
        return self.base[self.used[j]]


def main(argv=None):
    args = parse_args(argv)
    ctx = Ctx(force_cpu=args.cpu)
    try:
        run(args, ctx)
    finally:
        ctx.close()


def log(ctx, msg):
    if ctx.main:
        print(msg, file=sys.stderr, flush=True)


def run(args, ctx):
    t0 = time.time()
    job, out = os.path.abspath(args.job), os.path.abspath(args.out)
    job_cfg = json.load(open(os.path.join(job, 'config.json'), encoding='utf-8'))
    ckpt_file = os.path.join(out, 'checkpoint', 'checkpoint.pt')
    ckpt = None
    if args.resume:
        # rank 0 reads it and hands it to the others: the run folder need not be on storage every node sees
        if ctx.main:
            ckpt = torch.load(ckpt_file, map_location='cpu') if os.path.exists(ckpt_file) else None
        ckpt = ctx.broadcast_object(ckpt)
        if ckpt is None:
            log(ctx, f'warning: no checkpoint at {ckpt_file}: starting from scratch')
    cfg = dict(ckpt['config']) if ckpt else dict(job_cfg)
    adaptations = list(job_cfg.get('adaptations', []))
    if ckpt:
        adaptations.append('resumed from checkpoint: configuration of the original run')
    if args.epochs and args.epochs != cfg['epochs']:
        cfg['epochs'] = args.epochs
        adaptations.append(f'epochs set to {args.epochs} by --epochs')
    rows, classes = D.read_file_list(job)
    N, K = len(rows), len(classes)
    root = args.data_root or os.environ.get('DATA_ROOT') or job_cfg['dataset']['root']
    if not os.path.isdir(root):
        raise SystemExit(f'dataset folder {root} not found on this machine: pass --data-root DIR or set DATA_ROOT to where the images are')
    S, C, B = cfg['imageSize'], cfg['channels'], cfg['batchSize']
    if B % ctx.world:
        raise SystemExit(f'batch size {B} (config.json batchSize, the global batch) is not a multiple of the {ctx.world} processes: '
                         f'write the job again with a --batch-size divisible by NPROC x NNODES')
    per_rank = B // ctx.world
    mopro = cfg['method'] == 'mopro'
    device = ctx.device
    log(ctx, f'mopro_ddp: {N} images, {K} classes, {cfg["method"]} {cfg["arch"]} {S}px x{C}, {cfg["epochs"]} epochs, '
             f'global batch {B} = {ctx.world} x {per_rank}, {ctx.backend} on {device}')

    # ---- data: decoded once per rank when it fits in memory, else per item in loader workers
    cache_limit = int(os.environ.get('MOPRO_CACHE_MB', '4096')) * 2**20
    use_cache = N * C * S * S <= cache_limit
    if use_cache:
        cache, bad = D.decode_all(root, rows, S, C, list(range(N)))
    else:
        cache = None
        mine = list(range(ctx.rank, N, ctx.world))
        bad_mine = D.check_all(root, rows, S, C, mine)
        bad = {}
        for b in ctx.gather_objects(bad_mine):
            bad.update(b)
    used = [i for i in range(N) if i not in bad]
    if len(used) < B:
        raise SystemExit(f'{root}: only {len(used)} usable images, fewer than the global batch {B}; write the job with a smaller --batch-size')
    step = max(1, len(used) // 2000)
    sample = used[::step]
    stat_px = cache[sample] if cache is not None else D.decode_all(root, rows, S, C, sample)[0]
    mean, std = D.pixel_stats(stat_px)
    if ckpt:
        mean, std = ckpt['norm']['mean'], ckpt['norm']['std']
    mean_t = torch.tensor(mean, device=device).view(1, C, 1, 1)
    std_t = torch.tensor(std, device=device).view(1, C, 1, 1)
    norm = lambda x: (x - mean_t) / std_t  # noqa: E731
    labels_all = torch.tensor([k for _, k in rows], dtype=torch.long)
    base = D.Images(root, rows, S, C, cache)
    train_set = UsedRows(base, used)
    workers = args.workers if args.workers is not None else (0 if use_cache else min(8, max(1, (os.cpu_count() or 2) // ctx.local_world - 1)))
    sampler = torch.utils.data.distributed.DistributedSampler(train_set, num_replicas=ctx.world, rank=ctx.rank, shuffle=True, seed=cfg['seed'], drop_last=True)
    loader = torch.utils.data.DataLoader(train_set, batch_size=per_rank, sampler=sampler, drop_last=True, num_workers=workers, pin_memory=ctx.cuda)
    steps = len(loader)
    if steps == 0:
        raise SystemExit(f'no full batch per rank ({len(used)} images / {ctx.world} ranks < {per_rank}); use a smaller --batch-size')

    # ---- model, optimiser, queue, prototypes (identical on every rank: same seed, DDP broadcasts rank 0's weights)
    torch.manual_seed(cfg['seed'])
    query = Encoder(cfg['archSpec'], C, K, padding_of(cfg)).to(device)
    key = copy.deepcopy(query) if mopro else None
    if key is not None:
        for p in key.parameters():
            p.requires_grad_(False)
    model = query
    if ctx.distributed:
        model = torch.nn.parallel.DistributedDataParallel(query, device_ids=[ctx.local_rank] if ctx.cuda else None,
                                                          find_unused_parameters=not mopro)  # CE never uses the projection head
    opt = torch.optim.SGD(query.parameters(), lr=cfg['lr'], momentum=cfg['momentum'], weight_decay=cfg['weightDecay'])
    g0 = torch.Generator().manual_seed(cfg['seed'] * 7919 + 13)
    Q = cfg['queueSize']
    if mopro and Q % B:
        raise SystemExit(f'queue size {Q} is not a multiple of the global batch {B} (mopro.md §6.13); write the job again')
    queue = F.normalize(torch.randn(EMBED_DIM, Q, generator=g0), dim=0).to(device) if mopro else None
    queue_ptr = 0
    protos = torch.zeros(K, EMBED_DIM, device=device)
    class_sum = None
    history, start_epoch, wall_before = [], 0, 0.0
    if ckpt:
        if ckpt['files'] != N or ckpt['classes'] != classes:
            raise SystemExit(f'{ckpt_file} was written for another file list ({ckpt["files"]} files); train without --resume or into a new --out')
        query.load_state_dict(ckpt['query'])
        if key is not None:
            key.load_state_dict(ckpt['key'])
        opt.load_state_dict(ckpt['opt'])
        if mopro:
            queue = ckpt['queue'].to(device)
            queue_ptr = ckpt['queue_ptr']
        protos = ckpt['protos'].to(device)
        class_sum = ckpt['class_sum'].to(device) if ckpt.get('class_sum') is not None else None
        history, start_epoch, wall_before = ckpt['history'], ckpt['epoch'], ckpt['wall']
        log(ctx, f'resumed after epoch {start_epoch}')

    def write_run_json(state, extra=None):
        if not ctx.main:
            return
        j = {
            'version': 1, 'state': state, 'method': cfg['method'], 'dataset': job_cfg['dataset']['root'], 'out': out,
            'createdAt': time.strftime('%Y-%m-%dT%H:%M:%S', time.gmtime(t0)) + 'Z',
            'engine': 'mopro_ddp (PyTorch DistributedDataParallel)',
            'config': cfg, 'adaptations': adaptations,
            'backend': {'name': f'pytorch-ddp-{ctx.backend}', 'reason': f'torch {torch.__version__}, {ctx.world} process(es), {"CUDA" if ctx.cuda else "CPU"}', 'skipped': []},
            'distributed': {'worldSize': ctx.world, 'backend': ctx.backend, 'perRankBatch': per_rank, 'globalBatch': B,
                            'nodes': int(os.environ.get('NNODES', '1')), 'device': 'cuda' if ctx.cuda else 'cpu',
                            'host': platform.node(), 'trainedOn': os.path.abspath(root), 'loaderWorkers': workers,
                            'decodedInMemory': use_cache},
            'model': {'arch': cfg['arch'], 'note': cfg['archSpec'].get('note', ''), 'params': sum(p.numel() for p in query.parameters()),
                      'weights': 'model/weights.safetensors', 'layout': 'torchvision'},
            'normalisation': {'mean': mean, 'std': std},
            'datasetSummary': {'classes': classes, 'counts': [int((labels_all == k).sum()) for k in range(K)], 'images': N, 'used': len(used),
                               'skipped': [{'path': rows[i][0], 'reason': r} for i, r in sorted(bad.items())], 'warnings': [],
                               'fixedLabels': 0, 'excluded': 0},
            'epochs': history, 'wall': {'trainSeconds': wall_before + time.time() - t0},
        }
        j.update(extra or {})
        R.write_json(os.path.join(out, 'run.json'), j)

    if ctx.main:
        os.makedirs(out, exist_ok=True)
    write_run_json('running')

    # ---- training
    use_proto_from, clean_from = cfg.get('protoStartEpoch', 1), cfg['cleanStartEpoch']
    for epoch in range(start_epoch, cfg['epochs']):
        te = time.time()
        sampler.set_epoch(epoch)
        gen = torch.Generator().manual_seed(cfg['seed'] * 100003 + epoch * 1009 + ctx.rank)
        if mopro and cfg.get('protoInit') == 'class-mean':
            # CAPro-style reset of the prototypes to class means of the last warm-up epoch (the engine's default)
            if epoch == clean_from - 1:
                class_sum = torch.zeros(K, EMBED_DIM + 1, dtype=torch.float64, device=device)
            if epoch == clean_from and class_sum is not None:
                has = class_sum[:, -1] > 0
                means = class_sum[:, :-1] / class_sum[:, -1:].clamp_min(1)
                new = protos.clone()
                new[has] = F.normalize(means[has], dim=1).float()
                protos, class_sum = new, None
        query.train()
        if key is not None:
            key.train()
        acc = torch.zeros(8, dtype=torch.float64)  # loss, ce, ins, pro, relabeled, ood, judged, steps
        for it, (x, idx) in enumerate(loader):
            lr = lr_at(cfg, epoch + it / steps)
            for g in opt.param_groups:
                g['lr'] = lr
            x = x.to(device, non_blocking=True).float() / 255
            y = labels_all[idx].to(device)
            weak = norm(D.weak_view(x, cfg['cropScaleMin'], gen))
            logits, v, _ = model(weak)
            label, clean = y, torch.ones_like(y, dtype=torch.bool)
            lce = lins = lpro = torch.zeros((), device=device)
            if mopro:
                strong = norm(D.strong_view(x, cfg['strongCropScaleMin'], gen))
                with torch.no_grad():
                    # (2) EMA of the key encoder's parameters (not its BN buffers) before its forward
                    for pk, pq in zip(key.parameters(), query.parameters()):
                        pk.mul_(cfg['keyMomentum']).add_(pq.detach(), alpha=1 - cfg['keyMomentum'])
                    if ctx.distributed:
                        # shuffle-BN: the key batch is permuted across ranks so BN statistics never see a rank's own queries
                        xs = ctx.gather(strong)
                        perm = torch.randperm(xs.shape[0], generator=gen).to(device)
                        ctx.broadcast(perm, 0)
                        _, k_shuf, _ = key(xs[perm.view(ctx.world, -1)[ctx.rank]])
                        k_all = ctx.gather(k_shuf)[torch.argsort(perm)]
                        k = k_all.view(ctx.world, per_rank, -1)[ctx.rank]
                    else:
                        _, k, _ = key(strong)
                        k_all = k
                # (3) instance logits against the queue as it was before this step's keys
                l_pos = (v * k).sum(1, keepdim=True)
                l_neg = v @ queue.clone().detach()
                lins = F.cross_entropy(torch.cat([l_pos, l_neg], 1) / cfg['tau'], torch.zeros(v.shape[0], dtype=torch.long, device=device))
                with torch.no_grad():
                    queue[:, queue_ptr:queue_ptr + B] = k_all.T
                    queue_ptr = (queue_ptr + B) % Q
                use_proto = epoch >= use_proto_from
                lp = None
                if use_proto:
                    lp = v @ protos.clone().detach().T / cfg['tau']
                if use_proto and epoch >= clean_from:
                    _, label, clean, status = clean_rule(F.softmax(logits.detach(), 1), F.softmax(lp.detach(), 1), y, K, cfg['alpha'], cfg['threshold'])
                    acc[4] += float((status == RELABELED).sum())
                    acc[5] += float((status == OOD).sum())
                with torch.no_grad():
                    # (6) every rank applies the same update to the same gathered rows: prototypes stay equal
                    v_all = ctx.gather(v.detach())
                    protos = update_prototypes(protos, v_all, ctx.gather(label), cfg['protoMomentum'], ctx.gather(clean.to(torch.uint8)).bool())
                    if class_sum is not None:
                        y_all = ctx.gather(y)
                        class_sum.index_add_(0, y_all, torch.cat([v_all.double(), torch.ones(len(y_all), 1, dtype=torch.float64, device=device)], 1))
                lce = masked_ce(logits, label, clean)
                if use_proto:
                    lpro = masked_ce(lp, label, clean)
                total = lce + cfg['wIns'] * lins + cfg['wPro'] * lpro
            else:
                lce = F.cross_entropy(logits, y)
                total = lce
            opt.zero_grad(set_to_none=True)
            total.backward()
            opt.step()
            if not math.isfinite(float(total)):
                raise SystemExit(f'training diverged (loss {float(total)}) at epoch {epoch + 1}; write the job with a smaller learning rate or batch size')
            acc[:4] += torch.tensor([float(total), float(lce), float(lins), float(lpro)], dtype=torch.float64)
            acc[6] += len(y)
            acc[7] += 1
        ctx.sum(acc)
        secs = time.time() - te
        n_steps = float(acc[7])
        # prototypes and queue must be identical on every rank: measured, not assumed
        pdiff = max(float((p - protos.cpu()).abs().max()) for p in ctx.gather_objects(protos.cpu()))
        qsum = [float(q) for q in ctx.gather_objects(float(queue.double().sum()) if mopro else 0.0)]
        # the engine's epoch record (src-shared/losses.ts): one value per loss term under 'losses'
        losses = {'ce': float(acc[1]) / n_steps, 'ins': float(acc[2]) / n_steps, 'pro': float(acc[3]) / n_steps}
        stats = {'epoch': epoch, 'loss': float(acc[0]) / n_steps, 'losses': losses,
                 'relabeled': int(acc[4]), 'ood': int(acc[5]), 'imagesPerSec': float(acc[6]) / secs,
                 'seconds': secs, 'judged': int(acc[6]), 'steps': steps, 'lr': lr,
                 'protoMaxDiffAcrossRanks': pdiff, 'queueSumSpreadAcrossRanks': max(qsum) - min(qsum)}
        history.append(stats)
        log(ctx, f'epoch {epoch + 1}: loss {stats["loss"]:.4f} (ce {losses["ce"]:.3f} ins {losses["ins"]:.3f} pro {losses["pro"]:.3f}) '
                 f'relabeled {stats["relabeled"]} ood {stats["ood"]} {stats["imagesPerSec"]:.1f} img/s {secs:.1f} s')
        if ctx.main:
            state = {'config': cfg, 'epoch': epoch + 1, 'query': query.state_dict(), 'key': key.state_dict() if key is not None else None,
                     'opt': opt.state_dict(), 'queue': queue.cpu() if mopro else None, 'queue_ptr': queue_ptr, 'protos': protos.cpu(),
                     'class_sum': class_sum.cpu() if class_sum is not None else None, 'history': history,
                     'wall': wall_before + time.time() - t0, 'norm': {'mean': mean, 'std': std}, 'files': N, 'classes': classes, 'world': ctx.world}
            os.makedirs(os.path.dirname(ckpt_file), exist_ok=True)
            tmp = f'{ckpt_file}.tmp-{os.getpid()}'
            torch.save(state, tmp)
            os.replace(tmp, ckpt_file)
        write_run_json('running')
        ctx.barrier()

    # ---- final pass: eval mode, no augmentation, every row; rows split over the ranks and gathered on rank 0
    tf0 = time.time()
    # DDP broadcasts rank 0's BN statistics before each forward, but the last training forward moved every
    # rank's own copy: the rows judged on other ranks must see the model rank 0 writes
    with torch.no_grad():
        for t in list(query.parameters()) + list(query.buffers()):
            ctx.broadcast(t.data, 0)
    query.eval()
    chunk = math.ceil(N / ctx.world)
    mine = list(range(ctx.rank * chunk, min(N, (ctx.rank + 1) * chunk)))
    lg = torch.zeros(chunk, K, device=device)
    em = torch.zeros(chunk, EMBED_DIM, device=device)
    fl = torch.utils.data.DataLoader(UsedRows(base, mine), batch_size=256, shuffle=False, num_workers=workers)
    with torch.no_grad():
        o = 0
        for x, _ in fl:
            z, e, _ = query(norm(x.to(device).float() / 255))
            lg[o:o + len(x)], em[o:o + len(x)] = z, e
            o += len(x)
    logits_all = ctx.gather(lg).cpu()[:N]
    emb_all = ctx.gather(em).cpu()[:N]
    if ctx.main:
        counts = write_outputs(out, cfg, rows, classes, labels_all, bad, used, logits_all, emb_all, protos.cpu(), query, mean, std, device)
        trained = sum(h['imagesPerSec'] * h['seconds'] for h in history)
        write_run_json('done', {
            'counts': counts,
            'finalPass': {'seconds': time.time() - tf0, 'oodScore': cfg['oodScore'], 'statusRule': 'official',
                          'statusRuleText': 'mopro.md §2 (q[y] > 1/K keep, max q > T relabel, else ood)',
                          'alpha': cfg['alpha'] if mopro else 1, 'threshold': cfg.get('finalThreshold', cfg['threshold'])},
            'throughput': {'trainImagesPerSec': trained / max(1e-9, sum(h['seconds'] for h in history)), 'backend': f'pytorch-ddp-{ctx.backend}'},
        })
        log(ctx, f'wrote {os.path.join(out, "samples.csv")}: {counts["clean"]} clean, {counts["relabeled"]} relabeled, {counts["ood"]} ood')
    ctx.barrier()


def write_outputs(out, cfg, rows, classes, labels_all, bad, used, logits, emb, protos, query, mean, std, device):
    """The engine's judge() + writeRunArrays(): q, the official status rule, confidence, knn-label ood_score."""
    N, K = len(rows), len(classes)
    mopro = cfg['method'] == 'mopro'
    p = F.softmax(logits.double(), 1)
    used_t = torch.tensor(used, dtype=torch.long)
    if not mopro:
        # CE has no prototypes: class means of the embeddings, and q = p (alpha 1), as the engine
        s_ = torch.zeros(K, EMBED_DIM, dtype=torch.float64).index_add_(0, labels_all[used_t], emb[used_t].double())
        protos = F.normalize(s_, dim=1).float()
    alpha = cfg.get('finalAlpha', cfg['alpha']) if mopro else 1.0
    thr = cfg.get('finalThreshold', cfg['threshold'])
    s = F.softmax((emb.double() @ protos.double().T) / cfg['tau'], 1)
    q, label, _, status = clean_rule(p, s, labels_all, K, alpha, thr)
    bank, bank_labels = emb[used_t], labels_all[used_t]
    ood = torch.ones(N)
    if cfg.get('oodScore', 'knn-label') == 'knn-label' and len(used) >= 2:
        # N x N similarities: on the training device (a GPU makes this minutes at WebVision scale)
        bd = bank.to(device)
        ood[used_t] = knn_label_impurity(bd, bd, bank_labels.to(device), K, self_index=torch.arange(len(used), device=device)).cpu()
    else:
        ood[used_t] = ((1 - (emb[used_t] @ protos.T).max(1).values) / 2).clamp(0, 1)
    excluded = torch.zeros(N, dtype=torch.bool)
    excluded[list(bad.keys())] = True
    names = ('clean', 'relabeled', 'ood')
    counts = {'clean': 0, 'relabeled': 0, 'ood': 0}
    out_rows = []
    for i in range(N):
        st = 'ood' if excluded[i] else names[int(status[i])]
        given = classes[int(labels_all[i])]
        lab = int(label[i])
        conf = 1 - float(q[i, labels_all[i]]) if st == 'ood' else float(q[i, lab])
        corrected = '' if st == 'ood' else classes[lab]
        # samples.csv's status follows the file's reader: relabeled exactly when the label changed
        st = 'ood' if st == 'ood' else ('clean' if corrected == given else 'relabeled')
        counts[st] += 1
        out_rows.append([rows[i][0], given, corrected, st, f'{conf:.6f}', f'{float(ood[i]) if not excluded[i] else 1.0:.6f}'])
    R.write_atomic(os.path.join(out, 'samples.csv'), R.samples_csv(out_rows))
    R.write_f32(os.path.join(out, 'arrays', 'q.f32'), q)
    R.write_f32(os.path.join(out, 'arrays', 'embeddings.f32'), emb)
    R.write_f32(os.path.join(out, 'arrays', 'prototypes.f32'), protos)
    R.write_f32(os.path.join(out, 'arrays', 'logits.f32'), logits)
    pad = padding_of(cfg)
    # export-weights' sidecar (src-main/engine/nets/export-weights.ts) plus what the app's predict needs from this run
    sidecar = {
        'format': 'mopro-studio-weights/1', 'arch': cfg['arch'], 'torchvision': pad == 'torch', 'classes': classes,
        'imageSize': cfg['imageSize'], 'channels': cfg['channels'], 'mean': mean, 'std': std,
        'input': f'NCHW float32: pixels / 255, resized to {cfg["imageSize"]}x{cfg["imageSize"]}, '
                 f'{"1 channel (greyscale)" if cfg["channels"] == 1 else "RGB"}, (x - mean[c]) / std[c]'
                 + ('' if pad == 'torch' else f"; {cfg['arch']} is an engine-only arch: its stride-2 convs pad like TF 'same' (one pixel less on the top/left than PyTorch)"),
        'heads': {'classifier': 'fc.* : logits over classes',
                  'projection': 'proj.0 (Linear) -> ReLU -> proj.2 (Linear) -> L2-normalise: the 128-d MoPro embedding'},
        'method': cfg['method'],
        'layout': 'torchvision', 'padding': pad, 'archSpec': cfg['archSpec'], 'source': 'mopro_ddp (PyTorch DDP)',
        'tau': cfg['tau'], 'alpha': alpha, 'threshold': thr, 'oodScore': cfg.get('oodScore', 'knn-label'),
    }
    R.write_model(out, torchvision_state(query), sidecar, protos, bank, bank_labels)
    return counts
