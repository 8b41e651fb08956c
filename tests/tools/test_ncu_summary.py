#!/usr/bin/env python3
"""tools/ncu_summary.py on a CSV laid out as Nsight Compute writes it (log lines, then the header,
then one row per kernel and metric): families, unit conversion, ranking, the "other" row."""
import os
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools"))
import ncu_summary  # noqa: E402

HEADER = ('"ID","Process ID","Process Name","Host Name","Kernel Name","Context","Stream","Block Size",'
          '"Grid Size","Device","CC","Section Name","Metric Name","Metric Unit","Metric Value"')


def row(i, kernel, value, unit="nsecond", metric="gpu__time_duration.sum"):
    return (f'"{i}","7","nkd_bench","host","{kernel}","1","13","(256, 1, 1)","(80, 1, 1)","0","9.0",'
            f'"Command line profiler metrics","{metric}","{unit}","{value}"')


CSV = "\n".join([
    "==PROF== Connected to process 7 (/work/main/build-gpu/apps/nkd_bench)",
    "==PROF== Profiling \"vec_kernel\": 0%....50%....100% - 1 pass",
    HEADER,
    row(0, "void nkd::cuda::vec_kernel<4, nkd::ops::gpu::(anonymous namespace)::UnaryFwdVec<nkd::ops::math::Relu, float>>(long, T2)", "1,500"),
    row(1, "void nkd::cuda::vec_kernel<4, nkd::ops::gpu::(anonymous namespace)::UnaryFwdVec<nkd::ops::math::Relu, float>>(long, T2)", "2500"),
    row(2, "void nkd::cuda::flat_kernel<nkd::ops::detail::CopyKernel32<float, float>>(long, T1)", "6", unit="usecond"),
    row(3, "sm90_xmma_gemm_f32f32_tf32f32_f32_nn_n_tilesize128x128x32_warpgroupsize1x1x1_execute_segment_k_off_kernel__5x_cublas", "0.002", unit="msecond"),
    row(3, "sm90_xmma_gemm_f32f32_tf32f32_f32_nn_n_tilesize128x128x32", "99", metric="sm__throughput.avg.pct_of_peak_sustained_elapsed"),
])


class NcuSummary(unittest.TestCase):
    def test_family_strips_parameters_and_namespaces(self):
        self.assertEqual(ncu_summary.family("void nkd::cuda::flat_kernel<nkd::ops::detail::CopyKernel32<float, float>>(long, T1)"),
                         "flat_kernel<CopyKernel32<float, float>>")
        self.assertEqual(ncu_summary.family("cudnn::engines_precompiled::nhwcToNchwKernel<float, float, float, true, false>(cudnn::engines_precompiled::nhwc2nchw_params_t<float>, const T1 *, T1 *)"),
                         "cudnn::engines_precompiled::nhwcToNchwKernel<float, float, float, true, false>")

    def test_rows_units_and_ranking(self):
        rows = ncu_summary.read_rows(CSV)
        self.assertEqual(len(rows), 4)  # the other metric's row is not a duration
        text = ncu_summary.summarize(rows, top=2)
        lines = text.splitlines()
        self.assertIn("4 kernels, 0.012 ms", lines[0])
        self.assertTrue(lines[3].startswith("| flat_kernel<CopyKernel32<float, float>> | 1 | 0.006 | 50.0% |"), lines[3])
        self.assertTrue(lines[4].startswith("| vec_kernel<4, UnaryFwdVec<Relu, float>> | 2 | 0.004 | 33.3% |"), lines[4])
        self.assertEqual(lines[5], "| (1 other families) | 1 | 0.002 | 16.7% |")

    def test_no_rows(self):
        self.assertEqual(ncu_summary.read_rows("==PROF== nothing profiled\n"), [])


if __name__ == "__main__":
    unittest.main()
