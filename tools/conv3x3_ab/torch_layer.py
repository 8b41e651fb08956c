# PyTorch 1.13 channels_last at the given shapes (n,c,k,h,w): forward, backward data, backward weight,
# 1 thread, median CPU ms (process_time); backward = autograd.grad of one input minus the forward.
import sys, time, torch
torch.set_num_threads(1)
def med(f, runs=7):
    ts=[]
    for _ in range(runs):
        a=time.process_time(); f(); ts.append((time.process_time()-a)*1e3)
    ts.sort(); return ts[len(ts)//2]
for spec in sys.argv[1:]:
    n,c,k,h,w=map(int,spec.split(','))
    x=torch.randn(n,c,h,w).contiguous(memory_format=torch.channels_last).requires_grad_()
    conv=torch.nn.Conv2d(c,k,3,padding=1,bias=False).to(memory_format=torch.channels_last)
    y=conv(x); gy=torch.randn_like(y)
    f=med(lambda: conv(x))
    bd=med(lambda: torch.autograd.grad(conv(x),[x],gy)) - f
    bw=med(lambda: torch.autograd.grad(conv(x),[conv.weight],gy)) - f
    print(f"torch channels_last {c}->{k} {h}x{w} n{n}  ms fwd/bdata/bweight {f:.2f} / {bd:.2f} / {bw:.2f}")
