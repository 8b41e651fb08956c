#!/usr/bin/python3
"""PyTorch 1.13 re-implementation of the Fashion-MNIST recipe of configs/fashion_mnist/ (docs/RESULTS.md),
to cross-check nkd: ResNet-18 small_input (torchvision names) at width 0.25 (teacher) or 0.125 (student),
mmcls init (Kaiming fan_out convs, zero-init residual BN, fc N(0, 0.01)), pad-2 crop + flip (padding with
pixel 0 before normalising, as mmcls and nkd), batch 128 with the last short batch kept, SGD 0.1 / 0.9 /
5e-4 on all parameters, cosine per iteration to 0, CE or CE + tf-NKD (NKD_SPEC.md 2.1), top-1 on the test set.

--order nkd replays nkd's own data order and augmentation draws (its Philox-4x32-10 streams,
engine/random.h, data/sampler.cpp, data/sample_rng.h) and its float32 normalisation, so that with
--save-init (a torchvision-named .pth that nkd loads as model.student.checkpoint) both programs see the
same initial weights and the same batches. --order torch draws both from torch's generator instead.
--resume-nkd starts from an nkd training checkpoint (weights, BN statistics, momentum, iteration), for
single-step comparisons; --double trains in float64; --compare lines up an nkd run's per-iteration
losses and checkpoint with this script's. Tested by tests/tools/test_torch_reference_step.py.

Examples (the default is the old reduced teacher cross-check: 10000 images, 2 epochs, 5000 test images):
  /usr/bin/python3 tools/torch_fashion_mnist_reference.py
  /usr/bin/python3 tools/torch_fashion_mnist_reference.py --net student --method tfnkd --epochs 6 \\
      --train-limit 0 --val-limit 0 --seed 3 --threads 2
"""
import argparse, gzip, json, math, os, time
import numpy as np, torch, torch.nn as nn, torch.nn.functional as F

ROOT = '/usr/share/datasets/fashion-mnist'
MEAN, STD = 72.93, 90.0150  # configs/fashion_mnist/base.toml (0.2860 * 255, 0.3530 * 255)


def read_idx(name, offset):
    with gzip.open(f'{ROOT}/{name}') as f:
        return np.frombuffer(f.read(), np.uint8, offset=offset)


# ---- nkd's counter-based random numbers (engine/random.h), vectorised over the counter ----------------
M32 = np.uint64(0xFFFFFFFF)


def philox4x32(seed, stream, index):
    index = np.asarray(index, np.uint64)
    stream = np.broadcast_to(np.asarray(stream, np.uint64), index.shape)
    c0, c1 = index & M32, index >> np.uint64(32)
    c2, c3 = stream & M32, stream >> np.uint64(32)
    k0, k1 = np.uint64(seed & 0xFFFFFFFF), np.uint64(seed >> 32)
    for _ in range(10):
        p0, p1 = np.uint64(0xD2511F53) * c0, np.uint64(0xCD9E8D57) * c2
        c0, c1, c2, c3 = (p1 >> np.uint64(32)) ^ c1 ^ k0, p1 & M32, (p0 >> np.uint64(32)) ^ c3 ^ k1, p0 & M32
        k0, k1 = (k0 + np.uint64(0x9E3779B9)) & M32, (k1 + np.uint64(0xBB67AE85)) & M32
    return c0, c1, c2, c3


def random_uniform(seed, stream, index):  # U(0, 1], 53 bits
    a, b = philox4x32(seed, stream, index)[:2]
    bits = ((a << np.uint64(21)) ^ (b >> np.uint64(11))) & np.uint64((1 << 53) - 1)
    return (bits.astype(np.float64) + 1.0) * (1.0 / 9007199254740992.0)


def nkd_permutation(n, seed, epoch):  # data/sampler.cpp permutation()
    u = 1.0 - random_uniform(seed, (0x5A3D << 48) ^ epoch, np.arange(n))
    p = np.arange(n)
    for i in range(n - 1, 0, -1):
        j = min(int(u[i] * (i + 1)), i)
        p[i], p[j] = p[j], p[i]
    return p


def nkd_augmentation(seed, epoch, index):  # SampleRng(seed, epoch, index): randint top, left; bernoulli flip
    stream = (np.uint64(epoch) << np.uint64(40)) ^ np.asarray(index, np.uint64)
    u = [1.0 - random_uniform(seed, stream, np.full(len(index), c)) for c in range(3)]
    top, left = (np.minimum(np.floor(x * 5).astype(np.int64), 4) for x in u[:2])
    return top, left, u[2] < 0.5


# ---- the net: torchvision names, so nkd reads a saved state dict as model.student.checkpoint ----------
class Block(nn.Module):
    def __init__(s, i, o, stride):
        super().__init__()  # downsample last, as nkd and mmcls: parameters() in nkd's optimizer-state order
        s.conv1, s.bn1 = nn.Conv2d(i, o, 3, stride, 1, bias=False), nn.BatchNorm2d(o)
        s.conv2, s.bn2 = nn.Conv2d(o, o, 3, 1, 1, bias=False), nn.BatchNorm2d(o)
        s.downsample = None if stride == 1 and i == o else nn.Sequential(nn.Conv2d(i, o, 1, stride, bias=False),
                                                                         nn.BatchNorm2d(o))

    def forward(s, x):
        y = s.bn2(s.conv2(F.relu(s.bn1(s.conv1(x)))))
        return F.relu(y + (x if s.downsample is None else s.downsample(x)))


class ResNet18(nn.Module):
    def __init__(s, w):
        super().__init__()
        s.conv1, s.bn1 = nn.Conv2d(1, w, 3, 1, 1, bias=False), nn.BatchNorm2d(w)
        i = w
        for n, (o, st) in enumerate(zip([w, 2 * w, 4 * w, 8 * w], [1, 2, 2, 2])):
            setattr(s, f'layer{n + 1}', nn.Sequential(Block(i, o, st), Block(o, o, 1)))
            i = o
        s.fc = nn.Linear(i, 10)
        for m in s.modules():
            if isinstance(m, nn.Conv2d): nn.init.kaiming_normal_(m.weight, mode='fan_out', nonlinearity='relu')
        nn.init.normal_(s.fc.weight, 0, 0.01); nn.init.zeros_(s.fc.bias)
        for m in s.modules():
            if isinstance(m, Block): nn.init.zeros_(m.bn2.weight)

    def forward(s, x):
        x = F.relu(s.bn1(s.conv1(x)))
        x = s.layer4(s.layer3(s.layer2(s.layer1(x))))
        return s.fc(F.adaptive_avg_pool2d(x, 1).flatten(1))


def loss_fn(method, z, y):
    ce = F.cross_entropy(z, y)
    if method == 'ce': return ce
    logp_t = F.log_softmax(z, 1).gather(1, y[:, None])[:, 0]  # tf-NKD, NKD_SPEC.md 2.1 (hard labels)
    p_t = logp_t.exp()
    w = (p_t + 1 - p_t.mean()).detach()
    return ce - (w * logp_t).mean()


def read_safetensors(path):  # nkd's checkpoints, without the safetensors package; (tensors, metadata)
    import struct
    with open(path, 'rb') as f:
        header = json.loads(f.read(struct.unpack('<Q', f.read(8))[0]))
        data = f.read()
    kinds = {'F32': np.float32, 'F64': np.float64, 'I64': np.int64}
    return ({k: np.frombuffer(data[v['data_offsets'][0]:v['data_offsets'][1]], kinds[v['dtype']]).reshape(v['shape'])
             for k, v in header.items() if k != '__metadata__'}, header.get('__metadata__', {}))


def nkd_name(k):  # torchvision name -> nkd's checkpoint name
    return ('head.' if k.startswith('fc.') else 'backbone.') + k


def resume_nkd(path, m, opt):
    """Weights, BN statistics and momentum buffers of an nkd training checkpoint; returns (epoch, iter, iter_in_epoch)."""
    t, meta = read_safetensors(path)
    m.load_state_dict({k: torch.from_numpy(t[nkd_name(k)].copy()).to(v.dtype) for k, v in m.state_dict().items()})
    for i, p in enumerate(m.parameters()):  # nkd's optimizer indices follow the parameters' order
        buf = t[f'optimizer.state.0.{i}.momentum_buffer']
        assert buf.shape == tuple(p.shape), (i, buf.shape, p.shape)
        opt.state[p]['momentum_buffer'] = torch.from_numpy(buf.copy()).to(p.dtype)
    return int(meta['epoch']), int(meta['iter']), int(meta['iter_in_epoch'])


def compare(nkd_dir, loss_log, weights):
    """nkd's per-iteration losses (runner.log_interval = 1) and checkpoint against this script's."""
    ours = [json.loads(l) for l in open(loss_log)]
    logs = sorted(f for f in os.listdir(nkd_dir) if f.endswith('.log.jsonl'))
    theirs = {r['global_iter']: r['loss'] for l in open(f'{nkd_dir}/{logs[-1]}')
              for r in [json.loads(l)] if r.get('mode') == 'train'}
    d = np.array([theirs[r['iter']] - r['loss'] for r in ours if r['iter'] in theirs])
    ref = np.array([r['loss'] for r in ours if r['iter'] in theirs])
    print(f'{len(d)} iterations; nkd loss - torch loss per window of 50 (mean, mean |.|, torch mean loss):')
    for i in range(0, len(d), 50):
        print(f'  iters {i + 1}-{min(i + 50, len(d))}: {d[i:i + 50].mean():+.2e} {np.abs(d[i:i + 50]).mean():.2e} '
              f'{ref[i:i + 50].mean():.4f}')
    ckpts = sorted((f for f in os.listdir(nkd_dir) if f.endswith('.safetensors') and f != 'latest.safetensors'),
                   key=lambda f: os.path.getmtime(f'{nkd_dir}/{f}'))
    nkd = read_safetensors(f'{nkd_dir}/{ckpts[-1]}')[0]
    tw = torch.load(weights)
    print(f'weights ({ckpts[-1]}): relative L2 difference per tensor, largest 5, and the median:')
    rel = []
    for k, v in tw.items():
        if k.endswith('num_batches_tracked'): continue
        n = nkd[nkd_name(k)].astype(np.float64)
        t = v.double().numpy()
        rel.append((np.linalg.norm(n - t) / max(np.linalg.norm(t), 1e-30), k))
    for r, k in sorted(rel)[-5:]: print(f'  {k}: {r:.2e}')
    print(f'  median: {np.median([r for r, _ in rel]):.2e}')


def main():
    a = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    a.add_argument('--net', choices=['teacher', 'student'], default='teacher')
    a.add_argument('--method', choices=['ce', 'tfnkd'], default='ce')
    a.add_argument('--seed', type=int, default=0)
    a.add_argument('--epochs', type=int, default=2)
    a.add_argument('--train-limit', type=int, default=10000, help='first N train images (0: all 60000)')
    a.add_argument('--val-limit', type=int, default=5000, help='first N test images (0: all 10000)')
    a.add_argument('--threads', type=int, default=1)
    a.add_argument('--order', choices=['torch', 'nkd'], default='torch', help="data order and augmentation draws")
    a.add_argument('--pad', choices=['pixel0', 'mean'], default='pixel0',
                   help='pad value of the crop: pixel 0 before normalising (the recipe), or 0 after it (the mean grey)')
    a.add_argument('--init', help='load the initial weights from this .pth instead of drawing them')
    a.add_argument('--save-init', help='write the initial weights (torchvision names, .pth) here')
    a.add_argument('--save-final', help='write the trained weights here')
    a.add_argument('--stop-after-iters', type=int, help='stop once N iterations in all are done (0: before the first)')
    a.add_argument('--resume-nkd', help="start from an nkd training checkpoint (weights, momentum, iteration)")
    a.add_argument('--double', action='store_true', help='train in float64 (the inputs still normalised in float32)')
    a.add_argument('--loss-log', help='write one JSON line per iteration (iter, lr, loss) here')
    a.add_argument('--log-every', type=int, default=100)
    a.add_argument('--out', help='write the result (top-1, settings) as JSON here')
    a.add_argument('--compare', nargs=3, metavar=('NKD_WORK_DIR', 'LOSS_LOG', 'WEIGHTS'),
                   help="compare an nkd run (log_interval 1) with this script's --loss-log and --save-final; no training")
    o = a.parse_args()
    if o.compare: return compare(*o.compare)
    torch.manual_seed(o.seed); torch.set_num_threads(o.threads)
    tr = read_idx('train-images-idx3-ubyte.gz', 16).reshape(-1, 28, 28)
    trl = read_idx('train-labels-idx1-ubyte.gz', 8).astype(np.int64)
    te = read_idx('t10k-images-idx3-ubyte.gz', 16).reshape(-1, 28, 28)
    tel = read_idx('t10k-labels-idx1-ubyte.gz', 8).astype(np.int64)
    if o.train_limit: tr, trl = tr[:o.train_limit], trl[:o.train_limit]
    if o.val_limit: te, tel = te[:o.val_limit], tel[:o.val_limit]
    mean, std = torch.tensor(MEAN, dtype=torch.float32), torch.tensor(STD, dtype=torch.float32)
    norm = lambda u8: ((torch.from_numpy(np.array(u8)).float() - mean) / std).unsqueeze(1)
    if o.pad == 'pixel0':  # pad with pixel 0, then normalise (mmcls RandomCrop(padding), torchvision, nkd)
        padded = np.pad(tr, ((0, 0), (2, 2), (2, 2)))
    else:  # pad the normalised image with 0, i.e. with the mean grey (this script before issue 20)
        padded = np.pad(norm(tr)[:, 0].numpy(), ((0, 0), (2, 2), (2, 2)))
    crop = norm if o.pad == 'pixel0' else lambda f: torch.from_numpy(f).unsqueeze(1)
    m = ResNet18(16 if o.net == 'teacher' else 8)
    if o.init: m.load_state_dict(torch.load(o.init))
    if o.save_init: torch.save(m.state_dict(), o.save_init)
    dtype = torch.float64 if o.double else torch.float32
    m = m.to(dtype)
    opt = torch.optim.SGD(m.parameters(), 0.1, momentum=0.9, weight_decay=5e-4)
    first_epoch, it, skip = resume_nkd(o.resume_nkd, m, opt) if o.resume_nkd else (0, 0, 0)
    n, bs = len(tr), 128
    ipe = (n + bs - 1) // bs
    total = o.epochs * ipe
    log = open(o.loss_log, 'w') if o.loss_log else None
    t0, r = time.time(), np.arange(28)
    for ep in range(first_epoch, o.epochs):
        m.train()
        if o.order == 'nkd':
            perm = nkd_permutation(n, o.seed, ep)
            top, left, flip = nkd_augmentation(o.seed, ep, perm)
        else:
            perm = torch.randperm(n).numpy()
            top, left = torch.randint(0, 5, (n,)).numpy(), torch.randint(0, 5, (n,)).numpy()
            flip = (torch.rand(n) < 0.5).numpy()
        for b in range(skip if ep == first_epoch else 0, ipe):
            if it == o.stop_after_iters: break
            s = slice(b * bs, (b + 1) * bs)
            ix = perm[s]
            rows = top[s, None] + r
            cols = np.where(flip[s, None], left[s, None] + 27 - r, left[s, None] + r)
            x = crop(padded[ix[:, None, None], rows[:, :, None], cols[:, None, :]]).to(dtype)
            lr = 0.05 * (1 + math.cos(math.pi * it / total))
            for g in opt.param_groups: g['lr'] = lr
            loss = loss_fn(o.method, m(x), torch.from_numpy(trl[ix]))
            opt.zero_grad(); loss.backward(); opt.step(); it += 1
            if log: log.write(json.dumps({'iter': it, 'lr': lr, 'loss': loss.item()}) + '\n')
            if it % o.log_every == 0: print(ep, it, round(loss.item(), 4), f'{time.time() - t0:.0f}s', flush=True)
    train_s = time.time() - t0
    if o.save_final: torch.save({k: v.float() if v.is_floating_point() else v for k, v in m.state_dict().items()},
                                o.save_final)
    m.eval()
    with torch.no_grad():
        pred = torch.cat([m(norm(te[i:i + 500]).to(dtype)).argmax(1) for i in range(0, len(te), 500)]).numpy()
    top1 = float((pred == tel).mean() * 100)
    print('top1', round(top1, 2), 'time', round(train_s))
    if o.out:
        with open(o.out, 'w') as f:
            json.dump({'top1': top1, 'train_seconds': train_s, 'iterations': it, **vars(o)}, f, indent=1)


if __name__ == '__main__':
    main()
