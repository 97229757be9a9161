// The C side of nnunet-distributed: PyTorch's own c10d collectives (TCPStore rendezvous,
// ProcessGroupGloo on the CPU, ProcessGroupNCCL on CUDA when compiled with NNDDP_NCCL), behind
// a few extern "C" functions the Rust side calls with tch's `at::Tensor*` handles. No collective
// is implemented here: every reduction is the process group's.
//
// Every function returns NULL on success or a malloc'ed message (free with nnddp_free_error);
// no C++ exception crosses into Rust.

#define USE_C10D_GLOO
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#ifdef NNDDP_NCCL
#define USE_C10D_NCCL
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

#include <ATen/ATen.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>
#include <vector>

struct NnDdp {
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<c10d::Backend> group;
  int rank;
  int size;
  std::chrono::milliseconds timeout;
};

static char* message(const std::string& text) {
  char* out = static_cast<char*>(std::malloc(text.size() + 1));
  if (out != nullptr) {
    std::memcpy(out, text.c_str(), text.size() + 1);
  }
  return out;
}

template <typename F>
static char* guarded(F&& body) {
  try {
    body();
    return nullptr;
  } catch (const c10::Error& e) {
    return message(e.what_without_backtrace());
  } catch (const std::exception& e) {
    return message(e.what());
  } catch (...) {
    return message("unknown C++ exception");
  }
}

static void wait(NnDdp* ddp, const c10::intrusive_ptr<c10d::Work>& work) {
  work->wait(ddp->timeout);
}

static std::vector<at::Tensor> tensors(at::Tensor** handles, size_t n) {
  std::vector<at::Tensor> out;
  out.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    out.push_back(*handles[i]);
  }
  return out;
}

extern "C" {

void nnddp_free_error(char* error) {
  std::free(error);
}

// Whether this build has the NCCL process group (CUDA tensors).
int nnddp_has_nccl() {
#ifdef NNDDP_NCCL
  return 1;
#else
  return 0;
#endif
}

// Rendezvous at host:port (rank 0 serves the TCPStore) and builds the process group:
// "gloo" (CPU tensors) or "nccl" (CUDA tensors on the current device).
char* nnddp_new(
    const char* host,
    uint16_t port,
    int rank,
    int size,
    int64_t timeout_ms,
    const char* backend,
    NnDdp** out) {
  return guarded([&] {
    auto timeout = std::chrono::milliseconds(timeout_ms);
    c10d::TCPStoreOptions options;
    options.port = port;
    options.isServer = rank == 0;
    options.numWorkers = static_cast<size_t>(size);
    options.waitWorkers = true;
    options.timeout = timeout;
    auto store = c10::make_intrusive<c10d::TCPStore>(std::string(host), options);
    c10::intrusive_ptr<c10d::Backend> group;
    std::string name(backend);
    if (name == "gloo") {
      auto gloo = c10d::ProcessGroupGloo::Options::create(timeout);
      const char* ifname = std::getenv("GLOO_SOCKET_IFNAME");
      if (ifname != nullptr && *ifname != '\0') {
        gloo->devices.push_back(
            c10d::ProcessGroupGloo::createDeviceForInterface(ifname));
      } else {
        gloo->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
      }
      group = c10::make_intrusive<c10d::ProcessGroupGloo>(store, rank, size, gloo);
    } else if (name == "nccl") {
#ifdef NNDDP_NCCL
      auto nccl = c10d::ProcessGroupNCCL::Options::create();
      nccl->timeout = timeout;
      group = c10::make_intrusive<c10d::ProcessGroupNCCL>(store, rank, size, nccl);
#else
      throw std::runtime_error(
          "this build has no NCCL process group (built without CUDA/nccl.h)");
#endif
    } else {
      throw std::runtime_error("unknown collective backend " + name);
    }
    *out = new NnDdp{store, group, rank, size, timeout};
  });
}

void nnddp_free(NnDdp* ddp) {
  delete ddp;
}

// Sums (or, with `mean`, averages) `n` tensors across the group in place: flattened into one
// buffer, one all-reduce (sum), divided by the world size for the mean, copied back (torch
// DDP's bucket, as one bucket).
static void allreduce_flat(NnDdp* ddp, at::Tensor** handles, size_t n, bool mean) {
  if (n == 0) {
    return;
  }
  auto parts = tensors(handles, n);
  std::vector<at::Tensor> flat_parts;
  flat_parts.reserve(n);
  for (auto& t : parts) {
    flat_parts.push_back(t.reshape({-1}));
  }
  std::vector<at::Tensor> buffer{at::cat(flat_parts)};
  wait(ddp, ddp->group->allreduce(buffer, c10d::AllreduceOptions()));
  if (mean) {
    buffer[0].div_(ddp->size);
  }
  int64_t offset = 0;
  for (auto& t : parts) {
    auto numel = t.numel();
    t.copy_(buffer[0].narrow(0, offset, numel).view_as(t));
    offset += numel;
  }
}

// Averages `n` tensors (of one dtype) across the group in place (the gradients).
char* nnddp_allreduce_mean(NnDdp* ddp, at::Tensor** handles, size_t n) {
  return guarded([&] { allreduce_flat(ddp, handles, n, true); });
}

// Sums `n` tensors (of one dtype) across the group in place (batch Dice's tp/fp/fn).
char* nnddp_allreduce_sum(NnDdp* ddp, at::Tensor** handles, size_t n) {
  return guarded([&] { allreduce_flat(ddp, handles, n, false); });
}

// Sums `n` doubles across the group in place (metrics: losses, tp/fp/fn). The values travel as
// a tensor on `device_handle`'s device (the group's device: CUDA for NCCL).
char* nnddp_allreduce_sum_f64(NnDdp* ddp, double* values, size_t n, at::Tensor* device_handle) {
  return guarded([&] {
    auto host = at::from_blob(values, {static_cast<int64_t>(n)}, at::kDouble);
    std::vector<at::Tensor> buffer{host.to(device_handle->device(), /*non_blocking=*/false, /*copy=*/true)};
    wait(ddp, ddp->group->allreduce(buffer, c10d::AllreduceOptions()));
    host.copy_(buffer[0].cpu());
  });
}

// Copies rank `root`'s tensors to every rank (the initial weights, as torch DDP).
char* nnddp_broadcast(NnDdp* ddp, at::Tensor** handles, size_t n, int root) {
  return guarded([&] {
    if (n == 0) {
      return;
    }
    auto parts = tensors(handles, n);
    std::vector<at::Tensor> flat_parts;
    for (auto& t : parts) {
      flat_parts.push_back(t.detach().reshape({-1}));
    }
    std::vector<at::Tensor> buffer{at::cat(flat_parts)};
    c10d::BroadcastOptions options;
    options.rootRank = root;
    wait(ddp, ddp->group->broadcast(buffer, options));
    at::NoGradGuard no_grad;
    int64_t offset = 0;
    for (auto& t : parts) {
      auto numel = t.numel();
      t.detach().copy_(buffer[0].narrow(0, offset, numel).view_as(t));
      offset += numel;
    }
  });
}

char* nnddp_barrier(NnDdp* ddp) {
  return guarded([&] {
    c10d::BarrierOptions options;
    options.timeout = ddp->timeout;
    wait(ddp, ddp->group->barrier(options));
  });
}

} // extern "C"
