# Parity helper for parity_pth.cpp (Debian PyTorch 1.13, CPU). Usage:
#   write DIR      : DIR/torch.pth (assorted dtypes and views) + DIR/<name>.bin raw bytes
#   check DIR FILE : torch.load(FILE, weights_only=True) must equal DIR/<name>.bin bit for bit
#   resnet DIR     : DIR/r18.pth (torchvision resnet18), DIR/x.bin input, DIR/logits.bin (F64)
#   meta FILE K=V..: torch.load(FILE, weights_only=True)['meta'] must be {K: V, ...} (str values)
import sys, os, torch
torch.set_num_threads(2)
mode, d = sys.argv[1], sys.argv[2]
if mode == "write":
    g = torch.Generator().manual_seed(3)
    base = torch.randn(10, generator=g)
    sd = {"f32": torch.randn(2, 3, generator=g), "f64": torch.randn(4, dtype=torch.float64, generator=g),
          "i64": torch.tensor([1, -5, 1 << 40]), "u8": torch.tensor([0, 7, 255], dtype=torch.uint8),
          "transposed": torch.randn(3, 4, generator=g).t(), "offset": base[3:7], "shared": base,
          "param": torch.nn.Parameter(torch.randn(2, generator=g)),
          "half": torch.randn(3, generator=g).half()}
    torch.save(sd, os.path.join(d, "torch.pth"))
    for k, v in sd.items():
        v = v.detach().float() if v.dtype == torch.float16 else v.detach()
        open(os.path.join(d, k + ".bin"), "wb").write(v.contiguous().numpy().tobytes())
elif mode == "check":
    sd = torch.load(sys.argv[3], weights_only=True)
    sd = sd.get("state_dict", sd)
    for k, v in sd.items():
        want = open(os.path.join(d, k + ".bin"), "rb").read()
        if v.contiguous().numpy().tobytes() != want:
            sys.exit("mismatch in " + k)
    print("checked", len(sd), "tensors")
elif mode == "meta":
    ck = torch.load(d, weights_only=True)
    want = dict(kv.split("=", 1) for kv in sys.argv[3:])
    if ck["meta"] != want:
        sys.exit("meta %r, expected %r" % (ck["meta"], want))
    print("meta", ck["meta"])
elif mode == "resnet":
    import torchvision
    torch.manual_seed(0)
    m = torchvision.models.resnet18()
    for mod in m.modules():
        if isinstance(mod, torch.nn.BatchNorm2d):
            mod.running_mean.uniform_(-0.5, 0.5)
            mod.running_var.uniform_(0.5, 1.5)
            mod.weight.data.uniform_(0.5, 1.5)
            mod.bias.data.uniform_(-0.5, 0.5)
    m.eval()
    torch.save(m.state_dict(), os.path.join(d, "r18.pth"))
    x = torch.randn(2, 3, 64, 64)
    open(os.path.join(d, "x.bin"), "wb").write(x.numpy().tobytes())
    with torch.no_grad():
        y = m.double()(x.double())
    open(os.path.join(d, "logits.bin"), "wb").write(y.numpy().tobytes())
