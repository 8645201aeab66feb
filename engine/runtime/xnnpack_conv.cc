#include "engine/runtime/xnnpack_conv.h"

#include <string>
#include <vector>

#include <ATen/core/dispatch/Dispatcher.h>

// LibTorch's switch for "no pthreadpool on this thread"
// (caffe2/utils/threadpool/pthreadpool-cpp.h, exported by libtorch_cpu but
// not installed with Debian's headers): thread-local, read by XNNPACK's
// operators through caffe2::pthreadpool_().
namespace caffe2 {
class _NoPThreadPoolGuard {
 public:
  static bool is_enabled();
  static void set_enabled(bool enabled);
};
}  // namespace caffe2

namespace slimserve {
namespace {

struct Ops {
  c10::optional<c10::OperatorHandle> prepack, run;
};

const Ops& XnnpackOps() {
  static const Ops ops = [] {
    Ops o;
    auto& dispatcher = c10::Dispatcher::singleton();
    o.prepack = dispatcher.findSchema({"prepacked::conv2d_clamp_prepack", ""});
    o.run = dispatcher.findSchema({"prepacked::conv2d_clamp_run", ""});
    return o;
  }();
  return ops;
}

// Sets the guard for one scope, restoring what it was.
class NoThreadPool {
 public:
  NoThreadPool() : was_(caffe2::_NoPThreadPoolGuard::is_enabled()) {
    caffe2::_NoPThreadPoolGuard::set_enabled(true);
  }
  ~NoThreadPool() { caffe2::_NoPThreadPoolGuard::set_enabled(was_); }

 private:
  const bool was_;
};

}  // namespace

bool XnnpackConv::Available() {
  const Ops& ops = XnnpackOps();
  return ops.prepack.has_value() && ops.run.has_value() &&
         at::globalContext().isXNNPACKAvailable();
}

std::unique_ptr<XnnpackConv> XnnpackConv::Create(const torch::Tensor& weight,
                                                 const torch::Tensor& bias,
                                                 int stride, int padding,
                                                 bool relu, int groups) {
  if (!Available() || !weight.is_cpu() ||
      weight.scalar_type() != torch::kFloat || weight.dim() != 4 ||
      groups < 1) {
    return nullptr;
  }
  const std::vector<int64_t> strides = {stride, stride};
  const std::vector<int64_t> paddings = {padding, padding};
  const std::vector<int64_t> dilation = {1, 1};
  torch::jit::Stack stack = {
      weight.contiguous(),
      bias.defined() ? c10::IValue(bias.contiguous()) : c10::IValue(),
      strides,
      paddings,
      dilation,
      int64_t{groups},
      relu ? c10::IValue(at::Scalar(0.0)) : c10::IValue(),  // output_min
      c10::IValue(),                                         // output_max
  };
  try {
    XnnpackOps().prepack->callBoxed(&stack);
  } catch (const c10::Error&) {
    return nullptr;  // parameters XNNPACK does not take: oneDNN runs it
  }
  if (stack.size() != 1) return nullptr;
  return std::unique_ptr<XnnpackConv>(new XnnpackConv(std::move(stack[0])));
}

torch::Tensor XnnpackConv::Run(const torch::Tensor& x) const {
  NoThreadPool single_threaded;
  torch::jit::Stack stack = {x, context_};
  XnnpackOps().run->callBoxed(&stack);
  return stack[0].toTensor();
}

}  // namespace slimserve
