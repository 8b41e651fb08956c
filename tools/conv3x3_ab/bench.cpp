// Times two direct 3x3 implementations (old_, new_) at one shape: forward, backward data, backward
// weight, 1 thread, median CPU ms, and their largest difference (tools/conv3x3_ab/build.sh).
#include <cstdio>
#include <cstdlib>
#include <vector>
#include <algorithm>
#include <time.h>
#include <cmath>
#include <cstring>
extern "C" {
#define DECL(P) long P##ws(long,long,long,long,long); void P##fwd(long,long,long,long,long,const float*,const float*,float*,float*); \
 void P##bwd(long,long,long,long,long,const float*,const float*,const float*,float*,float*,float*);
DECL(old_) DECL(new_)
}
static double cpu_ms(){timespec t;clock_gettime(CLOCK_PROCESS_CPUTIME_ID,&t);return t.tv_sec*1e3+t.tv_nsec*1e-6;}
int main(int argc,char**argv){
  long n=atol(argv[1]),c=atol(argv[2]),k=atol(argv[3]),h=atol(argv[4]),w=atol(argv[5]); int runs=argc>6?atoi(argv[6]):7;
  std::vector<float> x(n*c*h*w),wt(k*c*9),dy(n*k*h*w);
  srand(1); for(auto&v:x)v=rand()/(float)RAND_MAX-.5f; for(auto&v:wt)v=rand()/(float)RAND_MAX-.5f; for(auto&v:dy)v=rand()/(float)RAND_MAX-.5f;
  std::vector<float> y0(n*k*h*w),y1(n*k*h*w),dx0(x.size()),dx1(x.size()),dw0(wt.size()),dw1(wt.size());
  std::vector<float> ws0(old_ws(n,c,k,h,w)),ws1(new_ws(n,c,k,h,w));
  double t[2][3][64];
  for(int r=0;r<runs;++r) for(int v=0;v<2;++v){
    auto& y=v?y1:y0; auto& dx=v?dx1:dx0; auto& dw=v?dw1:dw0; auto& ws=v?ws1:ws0;
    double a=cpu_ms(); (v?new_fwd:old_fwd)(n,c,k,h,w,x.data(),wt.data(),y.data(),ws.data());
    double b=cpu_ms(); (v?new_bwd:old_bwd)(n,c,k,h,w,dy.data(),x.data(),wt.data(),dx.data(),nullptr,ws.data());
    double d=cpu_ms(); (v?new_bwd:old_bwd)(n,c,k,h,w,dy.data(),x.data(),wt.data(),nullptr,dw.data(),ws.data());
    double e=cpu_ms(); t[v][0][r]=b-a;t[v][1][r]=d-b;t[v][2][r]=e-d;}
  auto med=[&](double*p){std::sort(p,p+runs);return p[runs/2];};
  auto md=[](std::vector<float>&a,std::vector<float>&b){double m=0,s=0;for(size_t i=0;i<a.size();++i){m=std::max(m,(double)std::fabs(a[i]-b[i]));s=std::max(s,(double)std::fabs(b[i]));}return m/(s+1);};
  double gf=2.0*n*c*k*9*h*w*1e-6;
  printf("%ld->%ld %ldx%ld n%ld  ms fwd/bdata/bweight  old %.2f / %.2f / %.2f  new %.2f / %.2f / %.2f  (GF/s new %.0f/%.0f/%.0f)  diff %.1e %.1e %.1e\n",c,k,h,w,n,
   med(t[0][0]),med(t[0][1]),med(t[0][2]),med(t[1][0]),med(t[1][1]),med(t[1][2]),gf/t[1][0][runs/2],gf/t[1][1][runs/2],gf/t[1][2][runs/2],md(y1,y0),md(dx1,dx0),md(dw1,dw0));
}
