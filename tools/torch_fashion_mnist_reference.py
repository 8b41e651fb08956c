#!/usr/bin/python3
"""PyTorch cross-check of the demo teacher (reduced CPU setting): the same net (ResNet-18 small_input x0.25,
mmcls init), recipe (pad-2 crop + flip, batch 128, SGD 0.1/0.9/5e-4, cosine per iteration), first 10000
train images, 2 epochs, top-1 on the first 5000 test images. Run: /usr/bin/python3 tools/torch_fashion_mnist_reference.py"""
import gzip, numpy as np, torch, torch.nn as nn, torch.nn.functional as F, time, math
torch.manual_seed(0); torch.set_num_threads(1)
def idx(p):
    with gzip.open(p) as f: d=f.read()
    return d
tr=np.frombuffer(idx('/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz'),np.uint8,offset=16).reshape(-1,28,28)[:10000]
trl=np.frombuffer(idx('/usr/share/datasets/fashion-mnist/train-labels-idx1-ubyte.gz'),np.uint8,offset=8)[:10000]
te=np.frombuffer(idx('/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz'),np.uint8,offset=16).reshape(-1,28,28)[:5000]
tel=np.frombuffer(idx('/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz'),np.uint8,offset=8)[:5000]
norm=lambda x:(torch.tensor(x,dtype=torch.float32)/255-0.2860)/0.3530
class B(nn.Module):
    def __init__(s,i,o,st):
        super().__init__(); s.c1=nn.Conv2d(i,o,3,st,1,bias=False); s.b1=nn.BatchNorm2d(o); s.c2=nn.Conv2d(o,o,3,1,1,bias=False); s.b2=nn.BatchNorm2d(o)
        nn.init.zeros_(s.b2.weight)
        s.d=None if st==1 and i==o else nn.Sequential(nn.Conv2d(i,o,1,st,bias=False),nn.BatchNorm2d(o))
    def forward(s,x):
        y=F.relu(s.b1(s.c1(x))); y=s.b2(s.c2(y)); return F.relu(y+(x if s.d is None else s.d(x)))
class R(nn.Module):
    def __init__(s,w=16):
        super().__init__(); s.c=nn.Conv2d(1,w,3,1,1,bias=False); s.b=nn.BatchNorm2d(w); L=[]; i=w
        for k,st in zip([w,2*w,4*w,8*w],[1,2,2,2]): L+=[B(i,k,st),B(k,k,1)]; i=k
        s.L=nn.Sequential(*L); s.fc=nn.Linear(i,10)
        for m in s.modules():
            if isinstance(m,nn.Conv2d): nn.init.kaiming_normal_(m.weight,mode='fan_out',nonlinearity='relu')
        nn.init.normal_(s.fc.weight,0,0.01); nn.init.zeros_(s.fc.bias)
        for b in s.L: nn.init.zeros_(b.b2.weight)
    def forward(s,x): return s.fc(F.adaptive_avg_pool2d(s.L(F.relu(s.b(s.c(x)))),1).flatten(1))
m=R(); opt=torch.optim.SGD(m.parameters(),0.1,momentum=0.9,weight_decay=5e-4)
X=norm(tr); Y=torch.tensor(trl,dtype=torch.long); E=2; ipe=len(X)//128+ (len(X)%128>0); T=E*ipe; it=0; t0=time.time()
for ep in range(E):
    m.train(); perm=torch.randperm(len(X))
    for b in range(ipe):
        ix=perm[b*128:(b+1)*128]; x=F.pad(X[ix],(2,2,2,2)).unsqueeze(1); n=len(ix)
        ox=torch.randint(0,5,(n,)); oy=torch.randint(0,5,(n,)); fl=torch.rand(n)<0.5
        xs=torch.stack([x[j,:,oy[j]:oy[j]+28,ox[j]:ox[j]+28] for j in range(n)]); xs[fl]=xs[fl].flip(-1)
        for g in opt.param_groups: g['lr']=0.05*(1+math.cos(math.pi*it/T))
        loss=F.cross_entropy(m(xs),Y[ix]); opt.zero_grad(); loss.backward(); opt.step(); it+=1
        if it%20==0: print(ep,it,round(loss.item(),3),flush=True)
m.eval()
with torch.no_grad(): acc=(m(norm(te).unsqueeze(1)).argmax(1).numpy()==tel).mean()
print('top1',acc*100,'time',time.time()-t0)
