#!/bin/sh
# A/B timing of the direct 3x3 kernels (engine/ops/conv3x3_cpu.cpp + conv3x3_small_cpu.cpp): the
# working tree's kernels ("new") against those of git revision $1 ("old", default HEAD~1), both in
# one process, alternating, median process CPU time of the runs. 1 thread, or with OPENMP=1 in the
# environment OpenMP (OMP_NUM_THREADS threads, OMP_WAIT_POLICY=passive).
#   tools/conv3x3_ab/build.sh [rev] && /tmp/conv3x3_ab/bench 128 64 64 7 7 7   # n c k h w runs
#   /usr/bin/python3 tools/conv3x3_ab/torch_layer.py 128,64,64,7,7                # PyTorch channels_last
set -e
root=$(git rev-parse --show-toplevel); rev=${1:-HEAD~1}; out=${OUTDIR:-/tmp/conv3x3_ab}
F="-O3 -DNDEBUG -std=c++20 ${OPENMP:+-fopenmp}"
rm -rf $out && mkdir -p $out/old/engine/ops/detail $out/old/engine/cpu
for f in engine/ops/conv3x3_cpu.cpp engine/ops/conv3x3_small_cpu.cpp engine/ops/detail/conv3x3_small_cpu.h \
         engine/ops/detail/conv_cpu.h engine/cpu/parallel.h; do
  git -C "$root" show "$rev:$f" > $out/old/$f 2>/dev/null || rm -f $out/old/$f
done
cp -n "$root"/engine/ops/detail/*.h $out/old/engine/ops/detail/ 2>/dev/null || true
cd "$root/tools/conv3x3_ab"
g++ $F -I$out/old -I"$root" -DSRC="\"$out/old/engine/ops/conv3x3_cpu.cpp\"" -DPFX=old_ -Dnkd=nkd_old -c wrap.cpp -o $out/old.o
objs="$out/old.o"
if [ -f $out/old/engine/ops/conv3x3_small_cpu.cpp ]; then
  g++ $F -I$out/old -I"$root" -Dnkd=nkd_old -c -x c++ $out/old/engine/ops/conv3x3_small_cpu.cpp -o $out/old_small.o
  objs="$objs $out/old_small.o"
fi
g++ $F -I"$root" -DSRC="\"$root/engine/ops/conv3x3_cpu.cpp\"" -DPFX=new_ -c wrap.cpp -o $out/new.o
g++ $F -I"$root" -c -x c++ "$root/engine/ops/conv3x3_small_cpu.cpp" -o $out/new_small.o
g++ $F bench.cpp $objs $out/new.o $out/new_small.o -o $out/bench
