// Declarations only: what torch/csrc/distributed/c10d/ProcessGroupGloo.hpp names from gloo.
// The wheel links gloo into libtorch_cpu.so but ships none of its headers; our shim only
// constructs c10d::ProcessGroupGloo (defined in libtorch) and calls it through c10d::Backend, so
// it needs these names declared, never gloo's definitions. See distributed/build.rs.
#pragma once
#include <chrono>
#include <string>
#include <vector>
namespace gloo {
namespace rendezvous {
// The interface c10d's GlooStore overrides (the shim never instantiates it).
class Store {
 public:
  virtual ~Store() = default;
  virtual void set(const std::string& key, const std::vector<char>& data) = 0;
  virtual std::vector<char> get(const std::string& key) = 0;
  virtual void wait(const std::vector<std::string>& keys) = 0;
  virtual void wait(
      const std::vector<std::string>& keys,
      const std::chrono::milliseconds& timeout) = 0;
};
} // namespace rendezvous
} // namespace gloo
