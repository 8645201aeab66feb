// Runs every CUDA kernel (cuda_kernels.h) on fresh random inputs and compares
// its output with the CPU reference: bit for bit, floats included, since both
// sides run the same float32 operations (kernel_math.h). Needs a GPU; built
// only with --config=cuda (tools/device/gpu_check.sh runs it).
//
// Outputs are poisoned (0xFF bytes) before each launch so that an element the
// kernel never writes cannot pass. Each CUDA call's status is checked, and
// every launch is followed by a stream synchronisation that checks for
// errors raised while the kernel ran.

#include "kernels/cuda_kernels.h"

#include <cuda_runtime_api.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <limits>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "kernels/dtype.h"
#include "kernels/postprocess.h"
#include "kernels/preprocess.h"

namespace slimserve {
namespace {

constexpr ScalarType kAllTypes[] = {ScalarType::kFloat32, ScalarType::kFloat16,
                                    ScalarType::kBFloat16};
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();

#define ASSERT_CUDA(expr)                                                \
  do {                                                                   \
    const cudaError_t e = (expr);                                        \
    ASSERT_EQ(e, cudaSuccess) << #expr << ": " << cudaGetErrorString(e); \
  } while (0)

#define ASSERT_KERNEL_OK(expr)                                          \
  do {                                                                  \
    const CudaStatus s = (expr);                                        \
    ASSERT_TRUE(s.ok()) << #expr << ": " << s.code << " " << s.message; \
  } while (0)

// Device buffer of bytes, freed on scope exit.
class DeviceBuffer {
 public:
  explicit DeviceBuffer(size_t bytes) : bytes_(bytes) {
    if (cudaMalloc(&ptr_, bytes == 0 ? 1 : bytes) != cudaSuccess) {
      ptr_ = nullptr;
    }
  }
  ~DeviceBuffer() { cudaFree(ptr_); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;

  void* get() const { return ptr_; }
  size_t bytes() const { return bytes_; }

 private:
  void* ptr_ = nullptr;
  size_t bytes_;
};

class CudaKernelsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    int devices = 0;
    ASSERT_CUDA(cudaGetDeviceCount(&devices));
    ASSERT_GT(devices, 0);
    // A blocking stream: it orders after the legacy default stream that the
    // plain cudaMemcpy/cudaMemset of the helpers below use.
    ASSERT_CUDA(cudaStreamCreate(&stream_));
    // Fresh random inputs each run; SLIMSERVE_TEST_SEED replays one.
    const char* seed = std::getenv("SLIMSERVE_TEST_SEED");
    const unsigned value =
        seed != nullptr ? static_cast<unsigned>(std::strtoul(seed, nullptr, 10))
                        : std::random_device{}();
    rng_.seed(value);
    RecordProperty("seed", std::to_string(value));
    std::printf("seed %u (SLIMSERVE_TEST_SEED=%u replays it)\n", value, value);
  }
  void TearDown() override {
    if (stream_ != nullptr) cudaStreamDestroy(stream_);
  }

  // Copies host bytes into a new device buffer.
  std::unique_ptr<DeviceBuffer> Upload(const void* data, size_t bytes) {
    auto buffer = std::make_unique<DeviceBuffer>(bytes);
    EXPECT_NE(buffer->get(), nullptr);
    EXPECT_EQ(cudaMemcpy(buffer->get(), data, bytes, cudaMemcpyHostToDevice),
              cudaSuccess);
    return buffer;
  }

  // A device output buffer filled with 0xFF (NaN for every float type).
  std::unique_ptr<DeviceBuffer> Poisoned(size_t bytes) {
    auto buffer = std::make_unique<DeviceBuffer>(bytes);
    EXPECT_NE(buffer->get(), nullptr);
    EXPECT_EQ(cudaMemset(buffer->get(), 0xFF, bytes), cudaSuccess);
    EXPECT_EQ(cudaDeviceSynchronize(), cudaSuccess);
    return buffer;
  }

  std::vector<uint8_t> Download(const DeviceBuffer& buffer) {
    std::vector<uint8_t> host(buffer.bytes());
    EXPECT_EQ(cudaStreamSynchronize(stream_), cudaSuccess);
    EXPECT_EQ(cudaMemcpy(host.data(), buffer.get(), host.size(),
                         cudaMemcpyDeviceToHost),
              cudaSuccess);
    return host;
  }

  cudaStream_t stream_ = nullptr;
  std::mt19937 rng_;
};

// First differing byte, formatted for a failure message ("" if equal).
std::string FirstDifference(const std::vector<uint8_t>& got,
                            const std::vector<uint8_t>& want) {
  if (got.size() != want.size()) return "sizes differ";
  for (size_t i = 0; i < got.size(); ++i) {
    if (got[i] != want[i]) {
      char buf[96];
      std::snprintf(buf, sizeof(buf), "byte %zu of %zu: got 0x%02x want 0x%02x",
                    i, got.size(), got[i], want[i]);
      return buf;
    }
  }
  return "";
}

std::vector<float> RandomFloats(std::mt19937& rng, size_t n, float lo,
                                float hi) {
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(n);
  for (float& f : v) f = dist(rng);
  return v;
}

std::vector<uint8_t> ToType(const std::vector<float>& values, ScalarType type) {
  std::vector<uint8_t> bytes(values.size() * ScalarSize(type));
  for (size_t i = 0; i < values.size(); ++i) {
    StoreFromFloat(values[i], type, bytes.data(), i);
  }
  return bytes;
}

TEST_F(CudaKernelsTest, PreprocessMatchesCpuForEveryLayoutAndType) {
  // 70 images: more than one launch (64 per launch), of mixed sizes and
  // channel counts, scaled up and down to a non-square output.
  const int n = 70;
  std::uniform_int_distribution<int> size(1, 90);
  const int channel_choice[] = {1, 3, 4};
  std::vector<std::vector<uint8_t>> host_images(n);
  std::vector<std::unique_ptr<DeviceBuffer>> device_images;
  std::vector<SourceImage> cpu(n), gpu(n);
  for (int i = 0; i < n; ++i) {
    SourceImage s;
    s.height = size(rng_);
    s.width = size(rng_);
    s.channels = channel_choice[rng_() % 3];
    host_images[i].resize(static_cast<size_t>(s.height) * s.width * s.channels);
    for (uint8_t& p : host_images[i]) p = static_cast<uint8_t>(rng_());
    device_images.push_back(
        Upload(host_images[i].data(), host_images[i].size()));
    cpu[i] = s;
    cpu[i].pixels = host_images[i].data();
    gpu[i] = s;
    gpu[i].pixels = static_cast<const uint8_t*>(device_images.back()->get());
  }
  for (TensorLayout layout : {TensorLayout::kNCHW, TensorLayout::kNHWC}) {
    for (ScalarType dtype : kAllTypes) {
      PreprocessParams params;
      params.dst_h = 37;
      params.dst_w = 53;
      const float mean[3] = {0.485f, 0.456f, 0.406f};
      const float std[3] = {0.229f, 0.224f, 0.225f};
      for (int c = 0; c < 3; ++c) {
        params.mean[c] = mean[c];
        params.std[c] = std[c];
      }
      params.layout = layout;
      params.dtype = dtype;
      const size_t bytes = static_cast<size_t>(n) * 3 * params.dst_h *
                           params.dst_w * ScalarSize(dtype);
      std::vector<uint8_t> want(bytes);
      PreprocessBatchCpu(cpu.data(), n, params, want.data());
      auto out = Poisoned(bytes);
      ASSERT_KERNEL_OK(
          PreprocessBatchCuda(gpu.data(), n, params, out->get(), stream_));
      const std::vector<uint8_t> got = Download(*out);
      EXPECT_EQ(FirstDifference(got, want), "")
          << (layout == TensorLayout::kNCHW ? "NCHW " : "NHWC ")
          << ScalarTypeName(dtype);
    }
  }
}

TEST_F(CudaKernelsTest, PreprocessRejectsBadArguments) {
  PreprocessParams params;
  params.dst_h = 4;
  params.dst_w = 4;
  DeviceBuffer pixels(16), out(3 * 16 * 4);
  SourceImage image;
  image.pixels = static_cast<const uint8_t*>(pixels.get());
  image.height = 2;
  image.width = 2;
  image.channels = 2;  // not 1, 3 or 4
  EXPECT_EQ(PreprocessBatchCuda(&image, 1, params, out.get(), stream_).code,
            cudaErrorInvalidValue);
  image.channels = 3;
  params.std[1] = 0.0f;
  EXPECT_EQ(PreprocessBatchCuda(&image, 1, params, out.get(), stream_).code,
            cudaErrorInvalidValue);
  params.std[1] = 1.0f;
  EXPECT_TRUE(PreprocessBatchCuda(&image, 1, params, out.get(), stream_).ok());
  EXPECT_TRUE(PreprocessBatchCuda(nullptr, 0, params, nullptr, stream_).ok())
      << "an empty batch is a no-op";
  ASSERT_CUDA(cudaStreamSynchronize(stream_));
}

TEST_F(CudaKernelsTest, SegmentationMatchesCpu) {
  struct Case {
    int n, classes, h, w, out_h, out_w;
  };
  const Case cases[] = {
      {3, 13, 24, 32, 96, 128},  // upscale, as the server does
      {2, 5, 17, 9, 17, 9},      // same size
      {1, 256, 8, 6, 5, 11},     // all 256 classes, mixed scaling
      {4, 2, 1, 1, 3, 3},        // 1x1 maps
  };
  for (const Case& c : cases) {
    const size_t count = static_cast<size_t>(c.n) * c.classes * c.h * c.w;
    std::vector<float> logits = RandomFloats(rng_, count, -6.0f, 6.0f);
    logits[0] = kNaN;  // NaN and inf handling is part of the contract
    if (count > 5) logits[5] = kInf;
    for (ScalarType type : kAllTypes) {
      const std::vector<uint8_t> in = ToType(logits, type);
      const size_t out_count = static_cast<size_t>(c.n) * c.out_h * c.out_w;
      std::vector<uint8_t> want(out_count);
      SegmentationArgmaxResizeBatchCpu(in.data(), type, c.n, c.classes, c.h,
                                       c.w, c.out_h, c.out_w, want.data());
      auto d_in = Upload(in.data(), in.size());
      auto d_out = Poisoned(out_count);
      ASSERT_KERNEL_OK(SegmentationArgmaxResizeCuda(
          d_in->get(), type, c.n, c.classes, c.h, c.w, c.out_h, c.out_w,
          static_cast<uint8_t*>(d_out->get()), stream_));
      EXPECT_EQ(FirstDifference(Download(*d_out), want), "")
          << ScalarTypeName(type) << " classes=" << c.classes << " " << c.h
          << "x" << c.w << " -> " << c.out_h << "x" << c.out_w;
    }
  }
}

TEST_F(CudaKernelsTest, ResizeMatchesCpu) {
  struct Case {
    int n, channels, h, w, out_h, out_w;
  };
  const Case cases[] = {
      {3, 8, 24, 32, 96, 128},  // the heads' upscale
      {1, 3, 17, 9, 17, 9},     // same size
      {2, 1, 30, 40, 480, 640},  // to a caller's image size
  };
  for (const Case& c : cases) {
    const size_t count = static_cast<size_t>(c.n) * c.channels * c.h * c.w;
    const std::vector<float> values = RandomFloats(rng_, count, -6.0f, 6.0f);
    for (ScalarType type : kAllTypes) {
      const std::vector<uint8_t> in = ToType(values, type);
      const size_t out_count =
          static_cast<size_t>(c.n) * c.channels * c.out_h * c.out_w;
      std::vector<float> want(out_count);
      ResizeBilinearBatchCpu(in.data(), type, c.n, c.channels, c.h, c.w,
                             c.out_h, c.out_w, want.data());
      std::vector<uint8_t> want_bytes(out_count * sizeof(float));
      std::memcpy(want_bytes.data(), want.data(), want_bytes.size());
      auto d_in = Upload(in.data(), in.size());
      auto d_out = Poisoned(out_count * sizeof(float));
      ASSERT_KERNEL_OK(ResizeBilinearCuda(
          d_in->get(), type, c.n, c.channels, c.h, c.w, c.out_h, c.out_w,
          static_cast<float*>(d_out->get()), stream_));
      EXPECT_EQ(FirstDifference(Download(*d_out), want_bytes), "")
          << ScalarTypeName(type) << " " << c.h << "x" << c.w << " -> "
          << c.out_h << "x" << c.out_w;
    }
  }
}

TEST_F(CudaKernelsTest, DepthMatchesCpu) {
  std::vector<float> metres = RandomFloats(rng_, 3 * 96 * 128, -1.0f, 70.0f);
  const float specials[] = {0.0f,  -0.0f, 0.0005f, 65.535f, kInf,
                            -kInf, kNaN,  1e9f,    0.0015f};
  std::copy(std::begin(specials), std::end(specials), metres.begin());
  for (ScalarType type : kAllTypes) {
    const std::vector<uint8_t> in = ToType(metres, type);
    std::vector<uint16_t> want(metres.size());
    DepthToMillimetresBatchCpu(in.data(), type, metres.size(), want.data());
    std::vector<uint8_t> want_bytes(want.size() * 2);
    std::memcpy(want_bytes.data(), want.data(), want_bytes.size());
    auto d_in = Upload(in.data(), in.size());
    auto d_out = Poisoned(want_bytes.size());
    ASSERT_KERNEL_OK(
        DepthToMillimetresCuda(d_in->get(), type, metres.size(),
                               static_cast<uint16_t*>(d_out->get()), stream_));
    EXPECT_EQ(FirstDifference(Download(*d_out), want_bytes), "")
        << ScalarTypeName(type);
  }
}

std::vector<float> RandomNormals(std::mt19937& rng, int n, int h, int w) {
  std::vector<float> v =
      RandomFloats(rng, static_cast<size_t>(n) * 3 * h * w, -2.0f, 2.0f);
  const size_t plane = static_cast<size_t>(h) * w;
  for (int c = 0; c < 3; ++c) {  // invalid pixels: zero, NaN, overflow, tiny
    v[c * plane + 0] = 0.0f;
    v[c * plane + 1] = c == 1 ? kNaN : 0.5f;
    v[c * plane + 2] = 3e19f;
    v[c * plane + 3] = 1e-13f;
  }
  return v;
}

TEST_F(CudaKernelsTest, NormalsMatchCpu) {
  const int n = 3, h = 48, w = 64;
  const std::vector<float> normals = RandomNormals(rng_, n, h, w);
  const size_t count = normals.size();
  for (ScalarType type : kAllTypes) {
    const std::vector<uint8_t> in = ToType(normals, type);
    auto d_in = Upload(in.data(), in.size());

    std::vector<uint8_t> want(count * 4);
    NormalizeNormalsBatchCpu(in.data(), type, n, h, w,
                             reinterpret_cast<float*>(want.data()));
    auto d_out = Poisoned(count * 4);
    ASSERT_KERNEL_OK(NormalizeNormalsCuda(d_in->get(), type, n, h, w,
                                          static_cast<float*>(d_out->get()),
                                          stream_));
    EXPECT_EQ(FirstDifference(Download(*d_out), want), "")
        << "normalised, " << ScalarTypeName(type);

    std::vector<uint8_t> want_rgb(static_cast<size_t>(n) * h * w * 3);
    NormalsToRgbBatchCpu(in.data(), type, n, h, w, want_rgb.data());
    auto d_rgb = Poisoned(want_rgb.size());
    ASSERT_KERNEL_OK(NormalsToRgbCuda(d_in->get(), type, n, h, w,
                                      static_cast<uint8_t*>(d_rgb->get()),
                                      stream_));
    EXPECT_EQ(FirstDifference(Download(*d_rgb), want_rgb), "")
        << "rgb, " << ScalarTypeName(type);
  }
  // In place (float32 only).
  std::vector<uint8_t> want(count * 4);
  NormalizeNormalsBatchCpu(normals.data(), ScalarType::kFloat32, n, h, w,
                           reinterpret_cast<float*>(want.data()));
  auto d_inout = Upload(normals.data(), count * 4);
  ASSERT_KERNEL_OK(
      NormalizeNormalsCuda(d_inout->get(), ScalarType::kFloat32, n, h, w,
                           static_cast<float*>(d_inout->get()), stream_));
  EXPECT_EQ(FirstDifference(Download(*d_inout), want), "") << "in place";
}

TEST_F(CudaKernelsTest, EdgesMatchCpu) {
  std::vector<float> logits = RandomFloats(rng_, 2 * 96 * 128, -8.0f, 8.0f);
  // Every threshold and its float neighbours: the exact boundaries.
  const float* t = EdgeLogitThresholds();
  for (int k = 0; k < 255; ++k) {
    logits[3 * k] = t[k];
    logits[3 * k + 1] = std::nextafter(t[k], -kInf);
    logits[3 * k + 2] = std::nextafter(t[k], kInf);
  }
  const float specials[] = {kNaN, kInf, -kInf, 0.0f, -0.0f};
  std::copy(std::begin(specials), std::end(specials), logits.end() - 5);
  for (ScalarType type : kAllTypes) {
    const std::vector<uint8_t> in = ToType(logits, type);
    std::vector<uint8_t> want(logits.size());
    EdgeLogitsToU8Cpu(in.data(), type, logits.size(), want.data());
    auto d_in = Upload(in.data(), in.size());
    auto d_out = Poisoned(logits.size());
    ASSERT_KERNEL_OK(EdgeLogitsToU8Cuda(d_in->get(), type, logits.size(),
                                        static_cast<uint8_t*>(d_out->get()),
                                        stream_));
    EXPECT_EQ(FirstDifference(Download(*d_out), want), "")
        << ScalarTypeName(type);
  }
}

// A batch large enough that the grid-stride loops wrap (more items than
// 2^20 blocks x 256 threads) on the elementwise kernels.
TEST_F(CudaKernelsTest, GridStrideCoversLargeInputs) {
  const int64_t count = (int64_t{1} << 28) + 12345;
  std::vector<float> metres(count);
  for (int64_t i = 0; i < count; ++i) {
    metres[i] = static_cast<float>(i % 70000) * 0.001f;
  }
  std::vector<uint16_t> want(count);
  DepthToMillimetresBatchCpu(metres.data(), ScalarType::kFloat32, count,
                             want.data());
  auto d_in = Upload(metres.data(), count * 4);
  auto d_out = Poisoned(count * 2);
  ASSERT_KERNEL_OK(
      DepthToMillimetresCuda(d_in->get(), ScalarType::kFloat32, count,
                             static_cast<uint16_t*>(d_out->get()), stream_));
  std::vector<uint8_t> want_bytes(count * 2);
  std::memcpy(want_bytes.data(), want.data(), want_bytes.size());
  EXPECT_EQ(FirstDifference(Download(*d_out), want_bytes), "");
}

TEST_F(CudaKernelsTest, PostprocessRejectsBadArguments) {
  DeviceBuffer buf(1024);
  uint8_t* out = static_cast<uint8_t*>(buf.get());
  EXPECT_EQ(SegmentationArgmaxResizeCuda(buf.get(), ScalarType::kFloat32, 1, 0,
                                         2, 2, 2, 2, out, stream_)
                .code,
            cudaErrorInvalidValue);
  EXPECT_EQ(SegmentationArgmaxResizeCuda(buf.get(), ScalarType::kFloat32, 1,
                                         257, 1, 1, 1, 1, out, stream_)
                .code,
            cudaErrorInvalidValue);
  EXPECT_EQ(DepthToMillimetresCuda(nullptr, ScalarType::kFloat32, 4,
                                   reinterpret_cast<uint16_t*>(out), stream_)
                .code,
            cudaErrorInvalidValue);
  EXPECT_EQ(
      EdgeLogitsToU8Cuda(buf.get(), ScalarType::kFloat16, -1, out, stream_)
          .code,
      cudaErrorInvalidValue);
  EXPECT_TRUE(
      EdgeLogitsToU8Cuda(nullptr, ScalarType::kFloat16, 0, nullptr, stream_)
          .ok());
  ASSERT_CUDA(cudaStreamSynchronize(stream_));
}

}  // namespace
}  // namespace slimserve
