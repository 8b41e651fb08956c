#!/usr/bin/python3
"""Reference for tests/nets/parity_swin.cpp: torchvision swin_t (PyTorch 1.13, F32, CPU).

Builds swin_t with seed 0 and its StochasticDepth layers at p = 0, randomises the LayerNorm affines, the biases,
the relative position bias tables and the attention weights (so that channel orders, the bias
index and the shifted-window mask all show in the outputs), then for each (size, batch) case
writes the input, labels, eval and train logits and the gradients of the mean cross entropy of
the train logits. Output: one safetensors file (argv[1]) with entries
  param.<torchvision name>, <case>.input, <case>.labels, <case>.logits_eval, <case>.logits_train,
  <case>.grad.<torchvision name>   with <case> = s<size>b<batch>.
"""
import json
import struct
import sys

import torch
import torch.nn.functional as F
import torchvision

NUM_CLASSES = 1000
# 224: the real geometry (56/28/14/7, stage 4 unshifted); 100: odd merges (25 -> 13 -> 7 -> 4),
# shifted windows on padded maps (25 -> 28, 13 -> 14) and a stage-4 map smaller than the window.
CASES = [(224, 1), (100, 2)]


def randomize(model):
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.LayerNorm):
                m.weight.copy_(1.0 + 0.2 * torch.randn_like(m.weight))
                m.bias.normal_(0.0, 0.05)
            elif isinstance(m, torch.nn.Linear) and m.bias is not None:
                m.bias.normal_(0.0, 0.05)
            elif hasattr(m, "relative_position_bias_table"):
                m.relative_position_bias_table.normal_(0.0, 1.0)
                m.qkv.weight.mul_(4.0)


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


def main():
    out = sys.argv[1]
    torch.manual_seed(0)
    torch.set_num_threads(2)
    model = torchvision.models.swin_t(num_classes=NUM_CLASSES)
    for m in model.modules():  # swin_t fixes stochastic_depth_prob = 0.2; drop-path off for parity
        if isinstance(m, torchvision.ops.StochasticDepth):
            m.p = 0.0
    randomize(model)
    tensors = {"param." + k: v.clone() for k, v in model.state_dict().items()}
    for size, batch in CASES:
        tag = "s%db%d" % (size, batch)
        x = torch.randn(batch, 3, size, size)
        labels = torch.randint(0, NUM_CLASSES, (batch,))
        model.eval()
        with torch.no_grad():
            logits_eval = model(x)
        model.train()
        model.zero_grad()
        logits = model(x)
        F.cross_entropy(logits, labels).backward()
        tensors.update({tag + ".input": x, tag + ".labels": labels, tag + ".logits_eval": logits_eval,
                        tag + ".logits_train": logits.detach()})
        for name, p in model.named_parameters():
            tensors[tag + ".grad." + name] = p.grad.clone()
    save_safetensors(out, tensors)


if __name__ == "__main__":
    main()
