// One direct 3x3 implementation behind C entry points named PFX##fwd / bwd / ws (tools/conv3x3_ab/build.sh).
#include SRC
extern "C" {
#define CAT2(a,b) a##b
#define CAT(a,b) CAT2(a,b)
static nkd::ops::detail::ConvGeom mk(long n,long c,long k,long h,long w){return {.n=n,.c=c,.h=h,.w=w,.k=k,.r=3,.s=3,.p=h,.q=w,.stride_h=1,.stride_w=1,.pad_h=1,.pad_w=1,.dil_h=1,.dil_w=1,.groups=1};}
long CAT(PFX,ws)(long n,long c,long k,long h,long w){return nkd::ops::detail::conv3x3_direct_workspace_elems(mk(n,c,k,h,w));}
void CAT(PFX,fwd)(long n,long c,long k,long h,long w,const float*x,const float*wt,float*y,float*ws){nkd::ops::detail::conv3x3_direct_forward(mk(n,c,k,h,w),x,wt,nullptr,y,ws);}
void CAT(PFX,bwd)(long n,long c,long k,long h,long w,const float*dy,const float*x,const float*wt,float*dx,float*dw,float*ws){nkd::ops::detail::conv3x3_direct_backward(mk(n,c,k,h,w),dy,x,wt,dx,dw,ws);}
}
