// The C side of nnunet-flops: a thread-local RecordFunction observer on libtorch's dispatcher
// that counts the floating-point operations of the operators it sees, with the formulas of
// torch.utils.flop_counter (FlopCounterMode). Every operator any code on this thread dispatches
// while the counter runs is seen, whichever shared object called it: a network built into the
// host or one from a plugin cdylib (both call the one libtorch the process has loaded).
//
// FlopCounterMode counts an operator of its table only where it is not inside another one
// (its __torch_dispatch__ runs the operator with the mode off); here a depth counter does the
// same: a counted operator inside a counted operator (aten::convolution → aten::_convolution →
// aten::mkldnn_convolution, or a CPU kernel's own aten::addmm) is not counted again.
//
// Every extern "C" function returns NULL on success or a malloc'ed message (free with
// nnflops_free_error); no C++ exception crosses into Rust.

#include <ATen/record_function.h>
#include <ATen/core/ivalue.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <memory>
#include <string>
#include <vector>

namespace {

enum class Kind { Convolution, Matmul, Attention };

// What a counted operator needs from its inputs; the output shape comes at the end.
struct Pending : public at::ObserverContext {
  bool counted = false;
  Kind kind = Kind::Matmul;
  bool transposed = false;
  std::vector<int64_t> a;  // conv: input; mm: first matrix; attention: query
  std::vector<int64_t> b;  // conv: weight; mm: second matrix; attention: key
  std::vector<int64_t> c;  // attention: value
  std::string name;
};

struct Counter {
  uint64_t convolution = 0;
  uint64_t matmul = 0;
  uint64_t attention = 0;
  int depth = 0;
  std::string error;  // the first operator whose shapes could not be read
  at::CallbackHandle handle = 0;
};

thread_local Counter* active = nullptr;

char* message(const std::string& text) {
  char* out = static_cast<char*>(std::malloc(text.size() + 1));
  if (out != nullptr) {
    std::memcpy(out, text.c_str(), text.size() + 1);
  }
  return out;
}

// Where an operator's operands are: (kind, index of a, index of b, index of c, transposed at).
struct Operands {
  Kind kind;
  int a;
  int b;
  int c;
  int transposed;
};

// The operators of torch.utils.flop_counter's table that run forward passes, plus the CPU's
// fused attention kernel, which FlopCounterMode's table lacks (it counts the CUDA ones).
bool operands_of(const char* name, Operands* out) {
  static const struct {
    const char* name;
    Operands operands;
  } table[] = {
      {"aten::convolution", {Kind::Convolution, 0, 1, -1, 6}},
      {"aten::_convolution", {Kind::Convolution, 0, 1, -1, 6}},
      {"aten::convolution_overrideable", {Kind::Convolution, 0, 1, -1, 6}},
      {"aten::cudnn_convolution", {Kind::Convolution, 0, 1, -1, -1}},
      {"aten::_slow_conv2d_forward", {Kind::Convolution, 0, 1, -1, -1}},
      {"aten::mm", {Kind::Matmul, 0, 1, -1, -1}},
      {"aten::addmm", {Kind::Matmul, 1, 2, -1, -1}},
      {"aten::_scaled_mm", {Kind::Matmul, 0, 1, -1, -1}},
      {"aten::bmm", {Kind::Matmul, 0, 1, -1, -1}},
      {"aten::baddbmm", {Kind::Matmul, 1, 2, -1, -1}},
      {"aten::_scaled_dot_product_efficient_attention", {Kind::Attention, 0, 1, 2, -1}},
      {"aten::_scaled_dot_product_flash_attention", {Kind::Attention, 0, 1, 2, -1}},
      {"aten::_scaled_dot_product_cudnn_attention", {Kind::Attention, 0, 1, 2, -1}},
      {"aten::_scaled_dot_product_flash_attention_for_cpu", {Kind::Attention, 0, 1, 2, -1}},
  };
  for (const auto& entry : table) {
    if (std::strcmp(name, entry.name) == 0) {
      *out = entry.operands;
      return true;
    }
  }
  return false;
}

std::vector<int64_t> shape(c10::ArrayRef<const c10::IValue> inputs, int index) {
  if (index < 0 || static_cast<size_t>(index) >= inputs.size() || !inputs[index].isTensor()) {
    throw std::runtime_error("operand " + std::to_string(index) + " is not a tensor");
  }
  auto sizes = inputs[index].toTensor().sizes();
  return std::vector<int64_t>(sizes.begin(), sizes.end());
}

uint64_t product(const std::vector<int64_t>& v, size_t from, size_t to) {
  uint64_t p = 1;
  for (size_t i = from; i < to && i < v.size(); ++i) {
    p *= static_cast<uint64_t>(v[i]);
  }
  return p;
}

void fail(Counter* counter, const std::string& name, const std::string& why) {
  if (counter->error.empty()) {
    counter->error = name + ": " + why;
  }
}

std::unique_ptr<at::ObserverContext> on_enter(const at::RecordFunction& fn) {
  Counter* counter = active;
  Operands operands;
  if (counter == nullptr || !operands_of(fn.name(), &operands)) {
    return nullptr;
  }
  auto pending = std::make_unique<Pending>();
  pending->counted = counter->depth == 0;
  counter->depth += 1;
  if (!pending->counted) {
    return pending;
  }
  pending->kind = operands.kind;
  pending->name = fn.name();
  try {
    auto inputs = fn.inputs();
    pending->a = shape(inputs, operands.a);
    pending->b = shape(inputs, operands.b);
    if (operands.c >= 0) {
      pending->c = shape(inputs, operands.c);
    }
    if (operands.transposed >= 0 && static_cast<size_t>(operands.transposed) < inputs.size()) {
      pending->transposed = inputs[operands.transposed].toBool();
    }
  } catch (const std::exception& e) {
    fail(counter, pending->name, e.what());
    pending->counted = false;
  }
  return pending;
}

// 2 × multiply-accumulates, as flop_counter's conv_flop_count, mm_flop/bmm_flop and
// sdpa_flop_count (batch dimensions of matmul and attention operands multiplied out).
uint64_t flops_of(const Pending& p, const std::vector<int64_t>& out) {
  switch (p.kind) {
    case Kind::Convolution: {
      const auto& spatial = p.transposed ? p.a : out;
      if (p.a.size() < 3 || p.b.size() < 3 || spatial.size() < 3) {
        throw std::runtime_error("convolution operands have fewer than 3 axes");
      }
      return 2 * product(spatial, 2, spatial.size()) * product(p.b, 2, p.b.size()) *
             static_cast<uint64_t>(p.a[0]) * static_cast<uint64_t>(p.b[0]) *
             static_cast<uint64_t>(p.b[1]);
    }
    case Kind::Matmul: {
      if (p.a.size() < 2 || p.b.size() < 2) {
        throw std::runtime_error("matrix operands have fewer than 2 axes");
      }
      const size_t n = p.a.size();
      return 2 * product(p.a, 0, n) * static_cast<uint64_t>(p.b.back());
    }
    case Kind::Attention: {
      if (p.a.size() < 2 || p.b.size() < 2 || p.c.size() < 2) {
        throw std::runtime_error("attention operands have fewer than 2 axes");
      }
      const size_t n = p.a.size();
      const uint64_t batch = product(p.a, 0, n - 2);
      const uint64_t s_q = p.a[n - 2], d_q = p.a[n - 1];
      const uint64_t s_k = p.b[p.b.size() - 2], d_v = p.c.back();
      return 2 * batch * s_q * d_q * s_k + 2 * batch * s_q * s_k * d_v;
    }
  }
  return 0;
}

void on_exit(const at::RecordFunction& fn, at::ObserverContext* context) {
  Counter* counter = active;
  auto* pending = static_cast<Pending*>(context);
  if (counter == nullptr || pending == nullptr) {
    return;
  }
  counter->depth -= 1;
  if (!pending->counted) {
    return;
  }
  try {
    std::vector<int64_t> out;
    if (pending->kind == Kind::Convolution && !pending->transposed) {
      const auto& outputs = fn.outputs();
      if (outputs.empty() || !outputs[0].isTensor()) {
        throw std::runtime_error("no output tensor");
      }
      auto sizes = outputs[0].toTensor().sizes();
      out.assign(sizes.begin(), sizes.end());
    }
    const uint64_t flops = flops_of(*pending, out);
    switch (pending->kind) {
      case Kind::Convolution:
        counter->convolution += flops;
        break;
      case Kind::Matmul:
        counter->matmul += flops;
        break;
      case Kind::Attention:
        counter->attention += flops;
        break;
    }
  } catch (const std::exception& e) {
    fail(counter, pending->name, e.what());
  }
}

}  // namespace

extern "C" {

void nnflops_free_error(char* error) { std::free(error); }

// Starts counting on this thread. Refuses while a count already runs on it.
char* nnflops_start() {
  if (active != nullptr) {
    return message("a FLOP count is already running on this thread");
  }
  try {
    auto counter = std::make_unique<Counter>();
    at::RecordFunctionCallback callback(on_enter, on_exit);
    callback.needsInputs(true).needsOutputs(true).scopes({at::RecordScope::FUNCTION});
    counter->handle = at::addThreadLocalCallback(callback);
    active = counter.release();
    return nullptr;
  } catch (const std::exception& e) {
    return message(e.what());
  }
}

// Stops the count of this thread and writes its totals (convolution, matmul, attention).
// Fails, naming the operator, when an operator's shapes could not be read.
char* nnflops_stop(uint64_t* totals) {
  Counter* counter = active;
  if (counter == nullptr) {
    return message("no FLOP count is running on this thread");
  }
  active = nullptr;
  std::unique_ptr<Counter> owned(counter);
  try {
    at::removeCallback(counter->handle);
  } catch (const std::exception& e) {
    return message(e.what());
  }
  totals[0] = counter->convolution;
  totals[1] = counter->matmul;
  totals[2] = counter->attention;
  if (!counter->error.empty()) {
    return message("could not count " + counter->error);
  }
  return nullptr;
}

}  // extern "C"
