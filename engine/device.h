// Where a tensor's memory lives. A small value type.
#pragma once
#include <cstdint>
#include <string>

namespace nkd {

enum class DeviceType : int8_t { CPU, CUDA };

struct Device {
  DeviceType type = DeviceType::CPU;
  int8_t index = 0;  // CUDA ordinal; 0 for the CPU
  bool is_cpu() const { return type == DeviceType::CPU; }
  bool is_cuda() const { return type == DeviceType::CUDA; }
  friend bool operator==(Device, Device) = default;
  std::string str() const { return is_cpu() ? "cpu" : "cuda:" + std::to_string(index); }
};

inline constexpr Device kCPU{};
inline Device cuda_device(int index = 0) { return {DeviceType::CUDA, static_cast<int8_t>(index)}; }

}  // namespace nkd
