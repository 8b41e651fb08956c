// Op parity with PyTorch: every op-table case with a `torch` expression is evaluated by nkd and by
// PyTorch 1.13 (F64, CPU) on the same inputs and cotangents; outputs and input gradients must agree
// within the case's F64 tolerance. One Python process serves all cases.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "engine/factory.h"
#include "tests/parity/torch_available.h"
#include "tests/support/compare.h"
#include "tests/support/op_table.h"

namespace nkd::testing {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

json write_tensor(const fs::path& dir, const std::string& file, const Tensor& t) {
  const bool is_index = t.dtype() == DType::I64;
  std::ofstream out(dir / file, std::ios::binary);
  if (is_index) {
    const std::vector<int64_t> v = to_vector<int64_t>(t);
    out.write(reinterpret_cast<const char*>(v.data()), static_cast<std::streamsize>(v.size() * 8));
  } else {
    const std::vector<double> v = to_vector<double>(t);
    out.write(reinterpret_cast<const char*>(v.data()), static_cast<std::streamsize>(v.size() * 8));
  }
  return {{"file", file}, {"shape", t.shape()}, {"dtype", is_index ? "I64" : "F64"}};
}

Tensor read_tensor(const fs::path& dir, const json& j) {
  const Shape shape = j.at("shape").get<Shape>();
  std::vector<double> v(numel(shape));
  std::ifstream in(dir / j.at("file").get<std::string>(), std::ios::binary);
  in.read(reinterpret_cast<char*>(v.data()), static_cast<std::streamsize>(v.size() * 8));
  return from_vector(v, shape);
}

struct Prepared {
  const OpCase* c;
  std::vector<Tensor> outputs, grads;
};

TEST(Parity, OpsMatchPyTorch) {
  if (!torch_available()) GTEST_SKIP() << "PyTorch not importable by /usr/bin/python3; parity skipped";
  const fs::path dir = fs::temp_directory_path() / ("nkd_parity_" + std::to_string(::getpid()));
  fs::create_directories(dir);

  json manifest = json::array();
  std::vector<Prepared> prepared;
  int id = 0;
  for (const OpCase& c : op_cases()) {
    if (c.torch.empty()) continue;
    std::string cid = "c";  // (not "c" + to_string: GCC 12 -Wrestrict false positive)
    cid += std::to_string(id++);
    const std::vector<Tensor> inputs = make_inputs(c, DType::F64, true);
    const std::vector<Tensor> outputs = c.fn(inputs);
    const std::vector<Tensor> cot = random_cotangents(outputs, 11);
    json jc = {{"id", cid}, {"name", c.name}, {"torch", c.torch}};
    for (size_t i = 0; i < inputs.size(); ++i) {
      json ji = write_tensor(dir, cid + ".in" + std::to_string(i) + ".bin", inputs[i]);
      ji["requires_grad"] = inputs[i].requires_grad();
      jc["inputs"].push_back(ji);
    }
    for (size_t k = 0; k < cot.size(); ++k)
      jc["cotangents"].push_back(cot[k].defined()
                                     ? write_tensor(dir, cid + ".cot" + std::to_string(k) + ".bin", cot[k])
                                     : json(nullptr));
    manifest.push_back(jc);
    prepared.push_back({&c, outputs, analytic_grads(c.fn, inputs, cot)});
  }
  std::ofstream(dir / "cases.json") << manifest.dump();

  const std::string cmd = std::string(kPython) + " " + NKD_SOURCE_DIR + "/tests/parity/torch_ops.py " +
                          dir.string();
  ASSERT_EQ(std::system(cmd.c_str()), 0) << "failed: " << cmd;
  json results;
  std::ifstream(dir / "results.json") >> results;

  for (size_t n = 0; n < prepared.size(); ++n) {
    const Prepared& p = prepared[n];
    const json& r = results.at(manifest[n]["id"].get<std::string>());
    SCOPED_TRACE(p.c->name + "  [torch: " + p.c->torch + "]");
    ASSERT_FALSE(r.contains("error")) << r["error"].get<std::string>();
    ASSERT_EQ(r["outputs"].size(), p.outputs.size());
    for (size_t k = 0; k < p.outputs.size(); ++k)
      EXPECT_TRUE(all_close(p.outputs[k], read_tensor(dir, r["outputs"][k]), p.c->atol, p.c->rtol,
                            p.c->name + " output " + std::to_string(k)));
    for (size_t i = 0; i < p.grads.size(); ++i) {
      if (!p.grads[i].defined() || r["grads"][i].is_null()) continue;
      EXPECT_TRUE(all_close(p.grads[i], read_tensor(dir, r["grads"][i]), p.c->atol, p.c->rtol,
                            p.c->name + " grad of input " + std::to_string(i)));
    }
  }
  std::cout << "[ parity   ] " << prepared.size() << " op cases compared with PyTorch\n";
  fs::remove_all(dir);
}

}  // namespace
}  // namespace nkd::testing
