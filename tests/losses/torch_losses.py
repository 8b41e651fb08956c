#!/usr/bin/python3
"""PyTorch side of tests/losses/test_loss_parity.cpp: the losses written from NKD_SPEC.md in the style of
the cls_KD code (gather, masks, detach), float64. Sorts are stable (ties: smaller class first; the
reference's torch.sort is not). Reads <dir>/cases.json; writes results.json (values) and the input
gradients of sum_k cotangent_k * output_k as raw float64 files."""
import json
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F


def top_labels(gt, k):
    """Index labels -> ([N, 1] labels, ones); soft labels -> top-k (values, labels), stable order."""
    if gt.dim() > 1:
        value, label = torch.sort(gt, descending=True, dim=-1, stable=True)
        return value[:, :k], label[:, :k]
    label = gt.view(-1, 1)
    return torch.ones_like(label, dtype=torch.float64), label


def cross_entropy(logits, labels, label_smoothing):
    n, c = logits.shape
    y = F.one_hot(labels, c).to(logits.dtype) if labels.dim() == 1 else labels
    target = y * (1 - label_smoothing) + label_smoothing / c
    return [(-target * F.log_softmax(logits, dim=1)).sum(dim=1).mean()]


def kd(student, teacher, T, alpha):
    loss = -(F.softmax(teacher / T, dim=1) * F.log_softmax(student / T, dim=1)).sum(dim=1).mean()
    return [alpha * T ** 2 * loss]


def nkd(student, teacher, labels, T, gamma):
    label = torch.argmax(labels, dim=1, keepdim=True) if labels.dim() > 1 else labels.view(-1, 1)
    n, c = student.shape
    s_t = torch.gather(F.log_softmax(student, dim=1), 1, label)
    t_t = torch.gather(F.softmax(teacher, dim=1), 1, label).detach()
    loss_t = -(t_t * s_t).mean()
    mask = torch.ones_like(student).scatter_(1, label, 0).bool()
    s_nt = F.log_softmax(student[mask].reshape(n, -1) / T, dim=1)
    t_nt = F.softmax(teacher[mask].reshape(n, -1) / T, dim=1)
    loss_non = -gamma * T ** 2 * (t_nt * s_nt).sum(dim=1).mean()
    return [loss_t + loss_non]


def tf_nkd(logits, labels):
    value, label = top_labels(labels, 2)
    s = F.softmax(logits, dim=1)
    log_s = F.log_softmax(logits, dim=1)
    out = []
    for k in range(label.size(1)):
        lk, vk = label[:, k:k + 1], value[:, k:k + 1]
        y_k = torch.gather(s, 1, lk)
        w = y_k + vk - y_k.mean()
        w[vk == 0] = 0
        w = w.detach()
        out.append(-(w * torch.gather(log_s, 1, lk)).mean())
    return out


def uskd(fea_mid, logits, labels, fc_weight, fc_bias, alpha, beta, mu, log_rank):
    value, label = top_labels(labels, 2)
    n, c = logits.shape
    s_i = F.softmax(logits, dim=1)
    s_t = torch.gather(s_i, 1, label)
    p_t = s_t ** 2
    p_t = p_t + value - p_t.mean(0, True)
    p_t[value == 0] = 0
    p_t = p_t.detach()
    log_s = F.log_softmax(logits, dim=1)
    loss_t = -(p_t * torch.gather(log_s, 1, label)).sum(dim=1).mean()
    if labels.dim() > 1:
        target = labels * 0.9 + 0.1 * torch.ones_like(logits) / c
    else:
        target = torch.zeros_like(logits).scatter_(1, label, 0.9) + 0.1 * torch.ones_like(logits) / c
    w_fc = F.linear(fea_mid, fc_weight, fc_bias)
    loss_weak = -(mu * target * F.log_softmax(w_fc, dim=1)).sum(dim=1).mean()
    w_i = F.softmax(w_fc, dim=1)
    w_t = torch.gather(w_i, 1, label)
    r_i = log_s if log_rank else s_i
    r_t = torch.gather(r_i, 1, label)
    rank = w_i / (1 - w_t.sum(1, True) + 1e-6) + r_i / (1 - r_t.sum(1, True) + 1e-6)
    _, order = torch.sort(rank.detach(), descending=True, dim=-1, stable=True)
    zipf = 1.0 / torch.arange(1, c + 1, dtype=torch.float64)
    pos = torch.argsort(order, dim=1)
    z_i = torch.gather(zipf.repeat(n, 1), 1, pos)
    mask = torch.ones_like(logits).scatter_(1, label, 0).bool()
    ns_i = F.log_softmax(logits[mask].reshape(n, -1), dim=1)
    nz_i = z_i[mask].reshape(n, -1)
    nz_i = (nz_i / nz_i.sum(dim=1, keepdim=True)).detach()
    loss_non = -(nz_i * ns_i).sum(dim=1).mean()
    return [alpha * loss_t + beta * loss_non + loss_weak]


def cat_mask(t, mask1, mask2):
    return torch.cat([(t * mask1).sum(1, keepdim=True), (t * mask2).sum(1, keepdim=True)], dim=1)


def dkd(student, teacher, labels, T, alpha, beta):
    gt_mask = torch.zeros_like(student).scatter_(1, labels.view(-1, 1), 1).bool()
    other_mask = torch.ones_like(student).scatter_(1, labels.view(-1, 1), 0).bool()
    pred_s = cat_mask(F.softmax(student / T, dim=1), gt_mask, other_mask)
    pred_t = cat_mask(F.softmax(teacher / T, dim=1), gt_mask, other_mask)
    n = labels.shape[0]
    tckd = F.kl_div(torch.log(pred_s), pred_t, reduction="sum") * T ** 2 / n
    pred_t2 = F.softmax(teacher / T - 1000.0 * gt_mask, dim=1)
    log_s2 = F.log_softmax(student / T - 1000.0 * gt_mask, dim=1)
    nckd = F.kl_div(log_s2, pred_t2, reduction="sum") * T ** 2 / n
    return [alpha * tckd + beta * nckd]


def load(path, dtype, shape):
    a = np.fromfile(path, dtype=np.float64 if dtype == "F64" else np.int64)
    return torch.from_numpy(a.reshape(shape).copy())


def run_case(d, case):
    args = []
    for inp in case["inputs"]:
        t = load(os.path.join(d, inp["file"]), inp["dtype"], inp["shape"])
        if inp["requires_grad"]:
            t.requires_grad_(True)
        args.append(t)
    o = case["options"]
    fn = {
        "cross_entropy": lambda a: cross_entropy(*a, o["label_smoothing"]),
        "kd": lambda a: kd(*a, o["T"], o["alpha"]),
        "nkd": lambda a: nkd(*a, o["T"], o["gamma"]),
        "tf_nkd": lambda a: tf_nkd(*a),
        "uskd": lambda a: uskd(*a, o["alpha"], o["beta"], o["mu"], o["log_rank"]),
        "dkd": lambda a: dkd(*a, o["T"], o["alpha"], o["beta"]),
    }[case["loss"]]
    outs = fn(args)
    total = sum(cot * out for cot, out in zip(case["cotangents"], outs))
    total.backward()
    grads = []
    for k, t in enumerate(args):
        if not t.requires_grad:
            grads.append(None)
            continue
        g = t.grad if t.grad is not None else torch.zeros_like(t)
        f = "%s.grad%d.bin" % (case["id"], k)
        g.detach().contiguous().numpy().tofile(os.path.join(d, f))
        grads.append({"file": f, "shape": list(g.shape)})
    return {"values": [float(x) for x in outs], "grads": grads}


def main():
    d = sys.argv[1]
    torch.set_num_threads(2)
    with open(os.path.join(d, "cases.json")) as fh:
        cases = json.load(fh)
    results = {}
    for case in cases:
        try:
            results[case["id"]] = run_case(d, case)
        except Exception as e:  # reported per case by the C++ side
            results[case["id"]] = {"error": "%s: %s" % (type(e).__name__, e)}
    with open(os.path.join(d, "results.json"), "w") as fh:
        json.dump(results, fh)


if __name__ == "__main__":
    main()
