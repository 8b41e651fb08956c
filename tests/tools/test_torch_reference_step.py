"""nkd's training step against tools/torch_fashion_mnist_reference.py (PyTorch 1.13) on the Fashion-MNIST
student recipe with the same initial weights (the script's .pth, loaded by nkd) and nkd's own data order
and augmentation draws (the script's replica of nkd's Philox streams), for tf-NKD and CE:
1. the first 3 iterations' losses agree to rounding (they agree to ~1e-6; a wrong sample, crop, flip,
   label or loss term moves them by > 1e-3);
2. one SGD step from the same nkd checkpoint (weights, BN statistics, momentum), the last short batch of
   an epoch (2000 = 15 * 128 + 80 images), gives the same weights to F32 rounding (~4e-8 relative; a
   weight-decay, momentum, learning-rate index or batch-mean difference moves them by > 1e-6).
Usage: test_torch_reference_step.py NKD_DISTILL SOURCE_DIR. Skipped (77) without torch or the dataset."""
import json, os, subprocess, sys, tempfile

nkd, src = sys.argv[1], sys.argv[2]
PY = '/usr/bin/python3'
try:
    subprocess.run([PY, '-c', 'import torch, numpy'], check=True, capture_output=True)
except (OSError, subprocess.CalledProcessError):
    print('SKIPPED: /usr/bin/python3 cannot import torch (Debian python3-torch)'); sys.exit(77)
if not os.path.isdir('/usr/share/datasets/fashion-mnist'):
    print('SKIPPED: no /usr/share/datasets/fashion-mnist (Debian dataset-fashion-mnist)'); sys.exit(77)
REF = os.path.join(src, 'tools', 'torch_fashion_mnist_reference.py')
sys.path.insert(0, os.path.dirname(REF))
env = dict(os.environ, OMP_NUM_THREADS='1', OMP_WAIT_POLICY='passive')
common = ['--net', 'student', '--train-limit', '2000', '--val-limit', '1', '--epochs', '2', '--order', 'nkd',
          '--seed', '3']


def torch_run(*args):
    subprocess.run([PY, REF, *common, *args], check=True, env=env, capture_output=True)


def nkd_run(method, work, *args):
    subprocess.run([nkd, os.path.join(src, 'configs', 'fashion_mnist', f'student_{method}.toml'), '--work-dir', work,
                    '--device', 'cpu', '--seed', '3', '--no-validate', '--set', 'data.train_limit=2000',
                    '--set', 'runner.epochs=2', '--set', 'runner.log_interval=1', '--set', 'runner.tensorboard=false',
                    *args], check=True, env=env, capture_output=True)


def nkd_losses(work):
    log = next(f for f in os.listdir(work) if f.endswith('.log.jsonl'))
    return {r['global_iter']: r['loss'] for r in map(json.loads, open(os.path.join(work, log))) if r.get('mode') == 'train'}


def relative_difference(nkd_file, torch_file):
    import numpy as np, torch
    import torch_fashion_mnist_reference as R
    ours = R.read_safetensors(nkd_file)[0]
    diff = total = 0.0
    for k, v in torch.load(torch_file).items():
        if k.endswith('num_batches_tracked'): continue
        diff += float(np.sum((ours[R.nkd_name(k)].astype(np.float64) - v.double().numpy()) ** 2))
        total += float(np.sum(v.double().numpy() ** 2))
    return (diff / total) ** 0.5


failures = []
with tempfile.TemporaryDirectory() as tmp:
    init = os.path.join(tmp, 'init.pth')
    torch_run('--method', 'ce', '--save-init', init, '--stop-after-iters', '0')
    for method in ['tfnkd', 'ce']:
        d = os.path.join(tmp, method)
        tlog = d + '_torch.jsonl'
        torch_run('--method', method, '--init', init, '--stop-after-iters', '3', '--loss-log', tlog)
        nkd_run(method, d + '_nkd', '--set', f'model.student.checkpoint="{init}"', '--stop-after-iters', '15')
        theirs = nkd_losses(d + '_nkd')
        for r in map(json.loads, open(tlog)):
            gap = abs(theirs[r['iter']] - r['loss'])
            print(f'{method} iteration {r["iter"]}: nkd {theirs[r["iter"]]:.7f} torch {r["loss"]:.7f}')
            if gap > 1e-4: failures.append(f'{method} iteration {r["iter"]}: loss differs by {gap:.2e}')
        ckpt = os.path.join(d + '_nkd', 'iter_15.safetensors')
        nkd_run(method, d + '_step', '--resume', ckpt, '--stop-after-iters', '1')
        tw = d + '_step.pth'
        torch_run('--method', method, '--resume-nkd', ckpt, '--stop-after-iters', '16', '--save-final', tw)
        rel = relative_difference(os.path.join(d + '_step', 'epoch_1.safetensors'), tw)
        step = relative_difference(ckpt, tw)
        print(f'{method}: one step (the short batch of 80): weights differ by {rel:.2e} relative (the step: {step:.2e})')
        if not step > 1e-4: failures.append(f'{method}: the step changed the weights by only {step:.2e}')
        if not rel < 1e-6: failures.append(f'{method}: after one step the weights differ by {rel:.2e} relative')
for f in failures: print('FAIL:', f)
sys.exit(1 if failures else 0)
