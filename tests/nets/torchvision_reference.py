#!/usr/bin/env python3
# Reference outputs for the nkd net parity test (tests/nets/parity_torchvision.cpp): builds the
# torchvision model (or the cls_KD MobileNet v1, defined below from NKD_SPEC.md section 6) with a fixed
# seed and random BN parameters and statistics, and writes one safetensors file: the float32 weights, an
# input, labels, and, computed in float64 from those weights, eval- and train-mode logits and CE-loss
# parameter gradients, the running statistics after the train step, and PyTorch float32's own errors.
import copy
import json
import struct
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision.models as tvm

NUM_CLASSES, BATCH, SIZE = 10, 2, 64


def conv_bn(inp, oup, stride):
    return nn.Sequential(nn.Conv2d(inp, oup, 3, stride, 1, bias=False), nn.BatchNorm2d(oup), nn.ReLU(inplace=True))


def conv_dw(inp, oup, stride):
    return nn.Sequential(nn.Conv2d(inp, inp, 3, stride, 1, groups=inp, bias=False), nn.BatchNorm2d(inp),
                         nn.ReLU(inplace=True), nn.Conv2d(inp, oup, 1, 1, 0, bias=False), nn.BatchNorm2d(oup),
                         nn.ReLU(inplace=True))


class MobileNetV1(nn.Module):
    """cls_KD's MobileNet v1 with the mmcls classifier names (backbone.model / backbone.s4, head.fc)."""

    def __init__(self, num_classes):
        super().__init__()
        body = [conv_bn(3, 32, 2)]
        for inp, oup, s in [(32, 64, 1), (64, 128, 2), (128, 128, 1), (128, 256, 2), (256, 256, 1),
                            (256, 512, 2)] + [(512, 512, 1)] * 5:
            body.append(conv_dw(inp, oup, s))
        self.backbone = nn.Module()
        self.backbone.model = nn.Sequential(*body)
        self.backbone.s4 = nn.Sequential(conv_dw(512, 1024, 2), conv_dw(1024, 1024, 1))
        self.head = nn.Module()
        self.head.fc = nn.Linear(1024, num_classes)

    def forward(self, x):
        x = self.backbone.s4(self.backbone.model(x))
        return self.head.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def build(net):
    if net == "mobilenet_v1":
        return MobileNetV1(NUM_CLASSES)
    factory = {"resnet18": tvm.resnet18, "resnet34": tvm.resnet34, "resnet50": tvm.resnet50,
               "mobilenet_v2": tvm.mobilenet_v2, "shufflenet_v2": tvm.shufflenet_v2_x1_0}[net]
    model = factory(num_classes=NUM_CLASSES)
    if net == "mobilenet_v2":
        model.classifier[0].p = 0.0  # mmcls MobileNetV2 has no dropout
    return model


def randomize_bn(model):
    # Non-trivial affine parameters and running statistics, so eval mode is tested too. The last BN
    # of each ResNet block gets a small gamma (mmcls's zero_init_residual, but not zero, so the
    # branches still get gradients): a deep train-mode BN net is otherwise so ill-conditioned that
    # float32 gradients of ResNet-50 are off by up to 50% from float64.
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.normal_(0.0, 0.1)
                m.running_mean.normal_(0.0, 0.1)
                m.running_var.uniform_(0.5, 1.5)
        for m in model.modules():
            last = getattr(m, "bn3", None) or (getattr(m, "bn2", None) if hasattr(m, "conv2") else None)
            if isinstance(m, (tvm.resnet.BasicBlock, tvm.resnet.Bottleneck)) and last is not None:
                last.weight.uniform_(0.05, 0.2)


def save_safetensors(path, tensors):
    header, blobs, offset = {}, [], 0
    for name, t in tensors.items():
        t = t.detach().contiguous().cpu()
        data = t.numpy().tobytes()
        dtype = {torch.float32: "F32", torch.int64: "I64"}[t.dtype]
        header[name] = {"dtype": dtype, "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    head = json.dumps(header).encode()
    head += b" " * ((8 - len(head) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(head)) + head + b"".join(blobs))


def rel_error(actual, ref, floor=0.0):
    """max |actual - ref| / max(max |ref|, floor): the metric of parity_torchvision.cpp."""
    return ((actual.double() - ref).abs().max() / max(ref.abs().max().item(), floor, 1e-30)).item()


def run(model, x, labels, train):
    model.zero_grad()
    model.train(train)
    logits = model(x)
    F.cross_entropy(logits, labels).backward()
    grads = {k: p.grad.detach().clone() for k, p in model.named_parameters()}
    stats = {k: v.detach().clone() for k, v in model.state_dict().items() if "running" in k}
    return logits.detach(), grads, stats


def main():
    net, out = sys.argv[1], sys.argv[2]
    torch.manual_seed(0)
    model = build(net)
    randomize_bn(model)
    x = torch.randn(BATCH, 3, SIZE, SIZE)
    labels = torch.randint(0, NUM_CLASSES, (BATCH,))
    tensors = {"param." + k: v.clone() for k, v in model.state_dict().items()}
    tensors.update({"input": x, "labels": labels})
    # The reference: the same weights in float64, eval mode first (train mode moves running stats).
    exact = copy.deepcopy(model).double()
    logits, grads, _ = run(exact, x.double(), labels, train=False)
    tensors["eval_logits"] = logits
    tensors.update({"eval_grad." + k: g for k, g in grads.items()})
    logits, grads, stats = run(exact, x.double(), labels, train=True)
    tensors["train_logits"] = logits
    tensors.update({"train_grad." + k: g for k, g in grads.items()})
    tensors.update({"train_after." + k: v for k, v in stats.items()})
    # PyTorch's own float32 error in train mode (the conditioning of the problem).
    logits32, grads32, stats32 = run(model, x, labels, train=True)
    floor = 1e-3 * max(g.abs().max().item() for g in grads.values())
    errors = {"err_train_logits": rel_error(logits32, logits)}
    errors.update({"err_train_grad." + k: rel_error(grads32[k], g, floor) for k, g in grads.items()})
    errors.update({"err_train_after." + k: rel_error(stats32[k], v) for k, v in stats.items()})
    tensors.update({k: torch.tensor(v) for k, v in errors.items()})
    save_safetensors(out, {k: v.float() if v.is_floating_point() else v for k, v in tensors.items()})


if __name__ == "__main__":
    main()
