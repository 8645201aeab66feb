// Pre- and post-processing as functions: validation messages, the
// pre-processed input, each task kind's encoding, the cost estimate.

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "engine/model/spec.h"
#include "engine/stages/cost_estimate.h"
#include "engine/stages/postprocess.h"
#include "engine/stages/preprocess.h"
#include "gtest/gtest.h"
#include "image/codec.h"
#include "kernels/preprocess.h"

namespace slimserve {
namespace {

ImageInput Raw(int64_t h, int64_t w, int64_t c, size_t bytes, char v = 0) {
  ImageInput image;
  image.raw = true;
  image.height = h;
  image.width = w;
  image.channels = c;
  image.bytes.assign(bytes, v);
  return image;
}

TEST(ValidateImageTest, NamesTheField) {
  EXPECT_TRUE(ValidateImage(Raw(4, 5, 3, 60), 1000).ok());
  EXPECT_EQ(ValidateImage(Raw(4, 5, 3, 10), 1000).message(),
            "image.raw: data has 10 bytes, expected 4*5*3 = 60");
  EXPECT_EQ(ValidateImage(Raw(4, 5, 2, 40), 1000).message(),
            "image.raw.channels: must be 1, 3 or 4, got 2");
  EXPECT_EQ(ValidateImage(Raw(0, 5, 3, 0), 1000).message(),
            "image.raw: height and width must be > 0, got 0x5");
  EXPECT_EQ(ValidateImage(Raw(40, 50, 1, 2000), 1000).message(),
            "image.raw: 40x50 = 2000 pixels, more than the limit of 1000");
  // 2^31 x 2^31 x 4 wraps to 0 in 64 bits: it must not match empty data.
  EXPECT_EQ(
      ValidateImage(Raw(int64_t{1} << 31, int64_t{1} << 31, 4, 0), 1000).code(),
      absl::StatusCode::kInvalidArgument);
  ImageInput encoded;
  EXPECT_EQ(ValidateImage(encoded, 1000).message(), "image.encoded: empty");
  encoded.bytes = "anything";  // decoding tells later
  EXPECT_TRUE(ValidateImage(encoded, 1000).ok());
}

TEST(PreprocessTest, SameSizeRawInputIsExactlyNormalised) {
  const v1::ModelSpec spec = TinyModelSpec();  // 32 x 48
  const PreprocessOptions options = PreprocessOptionsFor(spec, 1 << 20);
  ImageInput image = Raw(32, 48, 3, 32 * 48 * 3);
  for (size_t i = 0; i < image.bytes.size(); ++i) {
    image.bytes[i] = static_cast<char>(i % 251);
  }
  absl::StatusOr<std::vector<float>> input = Preprocess(image, options);
  ASSERT_TRUE(input.ok()) << input.status();
  ASSERT_EQ(input->size(), 3u * 32 * 48);
  for (int c = 0; c < 3; ++c) {
    for (int p = 0; p < 32 * 48; p += 101) {
      const float v = static_cast<uint8_t>(image.bytes[p * 3 + c]);
      EXPECT_FLOAT_EQ((*input)[c * 32 * 48 + p],
                      (v / 255.0f - spec.input().mean(c)) / spec.input().std(c));
    }
  }
}

TEST(PreprocessTest, DecodesPngAndJpegAndRefusesTheRest) {
  const PreprocessOptions options =
      PreprocessOptionsFor(TinyModelSpec(), 1 << 20);
  std::vector<uint8_t> rgb(60 * 80 * 3, 200);
  ImageInput png;
  png.bytes = *EncodePng(rgb.data(), 60, 80, 3, 8);
  EXPECT_TRUE(Preprocess(png, options).ok());
  ImageInput jpeg;
  jpeg.bytes = *EncodeJpeg(rgb.data(), 60, 80, 90);
  EXPECT_TRUE(Preprocess(jpeg, options).ok());
  ImageInput gif;
  gif.bytes = "GIF89a";
  EXPECT_EQ(Preprocess(gif, options).status().code(),
            absl::StatusCode::kInvalidArgument);
  PreprocessOptions small = options;
  small.max_pixels = 100;
  EXPECT_NE(Preprocess(png, small).status().message().find("limit"),
            std::string::npos);
}

// A 480x640 JPEG is decoded at 1/4 (120x160, still above the model's 32x48
// input) and then resized: close to decoding it whole.
TEST(PreprocessTest, LargeJpegsDecodeAtAReducedScale) {
  const PreprocessOptions options =
      PreprocessOptionsFor(TinyModelSpec(), 1 << 20);
  std::vector<uint8_t> rgb(480 * 640 * 3);
  for (int y = 0; y < 480; ++y) {
    for (int x = 0; x < 640; ++x) {
      for (int c = 0; c < 3; ++c) {
        rgb[(y * 640 + x) * 3 + c] =
            static_cast<uint8_t>((x * (c + 1) / 5 + y / 3) % 256);
      }
    }
  }
  ImageInput jpeg;
  jpeg.bytes = *EncodeJpeg(rgb.data(), 480, 640, 90);
  absl::StatusOr<std::vector<float>> input = Preprocess(jpeg, options);
  ASSERT_TRUE(input.ok()) << input.status();
  const DecodedImage whole = *DecodeImage(jpeg.bytes);
  std::vector<float> reference(input->size());
  ResizeNormalizeCpu(whole.pixels.data(), whole.height, whole.width, 3,
                     options.height, options.width, options.mean, options.std,
                     reference.data());
  double diff = 0;
  for (size_t i = 0; i < reference.size(); ++i) {
    diff += std::fabs((*input)[i] - reference[i]);
  }
  EXPECT_LT(diff / reference.size(), 0.05);  // ~3 grey levels in 255
}

TEST(WorkOfTest, ReadsPixelsFromTheHeader) {
  std::vector<uint8_t> rgb(30 * 20 * 3, 1);
  ImageInput png;
  png.bytes = *EncodePng(rgb.data(), 30, 20, 3, 8);
  EXPECT_EQ(WorkOf(png).source, ImageSource::kPng);
  EXPECT_EQ(WorkOf(png).pixels, 600);
  ImageInput jpeg;
  jpeg.bytes = *EncodeJpeg(rgb.data(), 30, 20, 90);
  EXPECT_EQ(WorkOf(jpeg).source, ImageSource::kJpeg);
  EXPECT_EQ(WorkOf(Raw(7, 9, 1, 63)).pixels, 63);
  ImageInput junk;
  junk.bytes = "junk";
  EXPECT_EQ(WorkOf(junk).source, ImageSource::kUnknown);
  EXPECT_EQ(WorkOf(junk).pixels, 0);
}

TEST(ValidateOutputFormatsTest, NamesTheTaskAndTheModelsTasks) {
  const v1::ModelSpec spec = TinyModelSpec();
  EXPECT_TRUE(ValidateOutputFormats({{"depth", OutputFormat::kPng}}, spec).ok());
  EXPECT_EQ(ValidateOutputFormats({{"sky", OutputFormat::kPng}}, spec).message(),
            "output_formats: unknown task \"sky\" (the model has: semseg, "
            "depth, normals, edges)");
  const absl::Status long_name =
      ValidateOutputFormats({{std::string(100000, 'q'), OutputFormat::kPng}},
                            spec);
  EXPECT_LT(long_name.message().size(), 200u);
}

TEST(FormatForTest, PerTaskOrDefault) {
  InferRequest r;
  r.default_output_format = OutputFormat::kPng;
  r.output_formats["depth"] = OutputFormat::kRaw;
  EXPECT_EQ(FormatFor(r, "depth"), OutputFormat::kRaw);
  EXPECT_EQ(FormatFor(r, "edges"), OutputFormat::kPng);
}

class EncodeOutputTest : public ::testing::Test {
 protected:
  const v1::ModelSpec spec_ = TinyModelSpec();
  const v1::TaskSpec& Task(int t) { return spec_.tasks(t); }
};

TEST_F(EncodeOutputTest, RawIsTheTensorsBytes) {
  const std::vector<float> depth = {0.5f, 1.25f, 2.0f, 3.0f, 4.0f, 65.6f};
  absl::StatusOr<TaskOutput> out =
      EncodeOutput(Task(1), OutputFormat::kRaw, depth.data(), 1, 2, 3);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->task, "depth");
  EXPECT_EQ(out->dtype, DType::kFloat32);
  EXPECT_EQ(out->shape, (std::vector<int64_t>{1, 2, 3}));
  ASSERT_EQ(out->data.size(), 6 * sizeof(float));
  EXPECT_EQ(std::memcmp(out->data.data(), depth.data(), out->data.size()), 0);
}

TEST_F(EncodeOutputTest, PngPerKind) {
  // Depth: 16-bit millimetres, saturated.
  const std::vector<float> depth = {0.5f, 1.25f, 2.0f, 3.0f, 4.0f, 65.6f};
  absl::StatusOr<TaskOutput> out =
      EncodeOutput(Task(1), OutputFormat::kPng, depth.data(), 1, 2, 3);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->dtype, DType::kUint16);
  absl::StatusOr<DecodedPng> png = DecodePngRaw(out->data);
  ASSERT_TRUE(png.ok()) << png.status();
  EXPECT_EQ(png->bit_depth, 16);
  EXPECT_EQ(png->samples,
            (std::vector<uint16_t>{500, 1250, 2000, 3000, 4000, 65535}));

  // Segmentation: class ids (8 classes), argmax per pixel.
  std::vector<float> logits(8 * 2, 0.0f);
  logits[5 * 2 + 0] = 3.0f;  // pixel 0 -> class 5
  logits[2 * 2 + 1] = 1.0f;  // pixel 1 -> class 2
  out = EncodeOutput(Task(0), OutputFormat::kPng, logits.data(), 8, 1, 2);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->dtype, DType::kUint8);
  png = DecodePngRaw(out->data);
  ASSERT_TRUE(png.ok());
  EXPECT_EQ(png->samples, (std::vector<uint16_t>{5, 2}));

  // Normals: RGB; edges: 8-bit.
  // CHW: pixel 0 is (0, 0, 1), pixel 1 is (1, 0, 0).
  const std::vector<float> normals = {0, 1, 0, 0, 1, 0};
  out = EncodeOutput(Task(2), OutputFormat::kPng, normals.data(), 3, 1, 2);
  ASSERT_TRUE(out.ok()) << out.status();
  png = DecodePngRaw(out->data);
  ASSERT_TRUE(png.ok());
  EXPECT_EQ(png->channels, 3);
  EXPECT_EQ(png->samples, (std::vector<uint16_t>{128, 128, 255, 255, 128, 128}));
  const std::vector<float> edges = {0.0f, 1.0f};
  out = EncodeOutput(Task(3), OutputFormat::kPng, edges.data(), 1, 1, 2);
  ASSERT_TRUE(out.ok()) << out.status();
  png = DecodePngRaw(out->data);
  ASSERT_TRUE(png.ok());
  EXPECT_EQ(png->samples, (std::vector<uint16_t>{0, 255}));
}

TEST_F(EncodeOutputTest, ChannelsMustFitTheTask) {
  const std::vector<float> two(2, 0.0f);
  EXPECT_EQ(EncodeOutput(Task(1), OutputFormat::kPng, two.data(), 2, 1, 1)
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(EncodeOutputTest, FinishedSamplesAreWhatTheResponseCarries) {
  // What a device that FinishesOnDevice hands back: FinishSamples' bytes,
  // which EncodeFinished turns into exactly FinishOutput's response, and
  // whose layout is the PNG's samples (normals HWC, depth 16-bit).
  const int h = 3, w = 5, oh = 7, ow = 4;
  for (int t = 0; t < spec_.tasks_size(); ++t) {
    const int64_t c = TaskOutputChannels(Task(t));
    std::vector<float> head(c * h * w);
    for (size_t i = 0; i < head.size(); ++i) {
      head[i] = std::sin(0.7f * static_cast<float>(i)) * 3.0f;
    }
    for (OutputFormat format : {OutputFormat::kRaw, OutputFormat::kPng}) {
      SCOPED_TRACE(Task(t).name() + (format == OutputFormat::kPng ? " png" : " raw"));
      const int64_t bytes = FinishedBytes(Task(t), format, oh, ow);
      std::vector<char> samples(bytes);
      ASSERT_TRUE(FinishSamples(Task(t), format, head.data(), c, h, w, oh, ow,
                                samples.data())
                      .ok());
      absl::StatusOr<TaskOutput> want =
          FinishOutput(Task(t), format, head.data(), c, h, w, oh, ow);
      absl::StatusOr<TaskOutput> got = EncodeFinished(
          Task(t), format, samples.data(), bytes, oh, ow);
      ASSERT_TRUE(want.ok()) << want.status();
      ASSERT_TRUE(got.ok()) << got.status();
      EXPECT_EQ(got->shape, (std::vector<int64_t>{c, oh, ow}));
      EXPECT_EQ(got->dtype, want->dtype);
      EXPECT_EQ(got->data, want->data);
      if (format == OutputFormat::kRaw) {
        EXPECT_EQ(bytes, c * oh * ow * 4);
        continue;
      }
      absl::StatusOr<DecodedPng> png = DecodePngRaw(got->data);
      ASSERT_TRUE(png.ok()) << png.status();
      const bool depth = Task(t).kind() == v1::TASK_KIND_DEPTH;
      ASSERT_EQ(static_cast<int64_t>(png->samples.size()) * (depth ? 2 : 1),
                bytes);
      for (size_t i = 0; i < png->samples.size(); ++i) {
        const uint16_t sample =
            depth ? reinterpret_cast<const uint16_t*>(samples.data())[i]
                  : static_cast<uint8_t>(samples[i]);
        ASSERT_EQ(png->samples[i], sample) << "sample " << i;
      }
    }
  }
  // A runner that hands back the wrong number of bytes is a fault.
  std::vector<char> few(10);
  EXPECT_EQ(EncodeFinished(Task(1), OutputFormat::kPng, few.data(), 10, 3, 3)
                .status()
                .code(),
            absl::StatusCode::kInternal);
  EXPECT_EQ(FinishSamples(Task(1), OutputFormat::kRaw, nullptr, 2, 1, 1, 1, 1,
                          few.data())
                .code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(EncodeOutputTest, FinishResizesThenActivatesAtTheOutputSize) {
  // A 1 x 2 depth head, raw values a and b: resized to 1 x 4 (samples at 0,
  // 1/4, 3/4, 1 of the way) then softplus.
  const std::vector<float> head = {-1.0f, 3.0f};
  absl::StatusOr<TaskOutput> out =
      FinishOutput(Task(1), OutputFormat::kRaw, head.data(), 1, 1, 2, 1, 4);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->shape, (std::vector<int64_t>{1, 1, 4}));
  const float* v = reinterpret_cast<const float*>(out->data.data());
  const float raw[] = {-1.0f, 0.0f, 2.0f, 3.0f};
  for (int i = 0; i < 4; ++i) {
    EXPECT_FLOAT_EQ(v[i], std::log1p(std::exp(raw[i]))) << i;
  }
  // Segmentation PNG: the argmax of the resized logits, at the output size.
  std::vector<float> logits(8 * 2 * 2, 0.0f);
  logits[3 * 4 + 0] = 5.0f;  // top-left pixel: class 3
  logits[6 * 4 + 3] = 5.0f;  // bottom-right pixel: class 6
  out = FinishOutput(Task(0), OutputFormat::kPng, logits.data(), 8, 2, 2, 4, 4);
  ASSERT_TRUE(out.ok()) << out.status();
  absl::StatusOr<DecodedPng> png = DecodePngRaw(out->data);
  ASSERT_TRUE(png.ok());
  ASSERT_EQ(png->height, 4);
  EXPECT_EQ(png->samples[0], 3);
  EXPECT_EQ(png->samples[15], 6);
  // Normals come back unit length whatever the resize did to them.
  const std::vector<float> normals = {1, 0, 0, 1, 0, 1, 1, 0, 2, 2, 2, 2};
  out = FinishOutput(Task(2), OutputFormat::kRaw, normals.data(), 3, 2, 2, 3,
                     5);
  ASSERT_TRUE(out.ok()) << out.status();
  const float* n = reinterpret_cast<const float*>(out->data.data());
  for (int p = 0; p < 15; ++p) {
    EXPECT_NEAR(n[p] * n[p] + n[15 + p] * n[15 + p] + n[30 + p] * n[30 + p],
                1.0f, 1e-5f);
  }
}

TEST_F(EncodeOutputTest, PngLevelsPerKind) {
  EXPECT_EQ(PngLevelFor(v1::TASK_KIND_DEPTH, -1), 0);
  EXPECT_EQ(PngLevelFor(v1::TASK_KIND_SURFACE_NORMALS, -1), 0);
  EXPECT_EQ(PngLevelFor(v1::TASK_KIND_SEMANTIC_SEGMENTATION, -1), 1);
  EXPECT_EQ(PngLevelFor(v1::TASK_KIND_EDGES, -1), 1);
  EXPECT_EQ(PngLevelFor(v1::TASK_KIND_DEPTH, 6), 6);
  // Stored or deflated, the same samples come back.
  std::vector<float> depth(96 * 128);
  for (size_t i = 0; i < depth.size(); ++i) depth[i] = 1.0f + 0.001f * i;
  absl::StatusOr<TaskOutput> stored =
      EncodeOutput(Task(1), OutputFormat::kPng, depth.data(), 1, 96, 128, 0);
  absl::StatusOr<TaskOutput> deflated =
      EncodeOutput(Task(1), OutputFormat::kPng, depth.data(), 1, 96, 128, 1);
  ASSERT_TRUE(stored.ok() && deflated.ok());
  EXPECT_EQ(DecodePngRaw(stored->data)->samples,
            DecodePngRaw(deflated->data)->samples);
  EXPECT_LT(deflated->data.size(), stored->data.size());
}

TEST(OutputShapeForTest, ModelSizeOrTheImagesWithinTheLimit) {
  const v1::ModelSpec spec = TinyModelSpec();  // 32 x 48, 13 channels
  InferRequest r;
  ImageWork work{ImageSource::kPng, 480 * 640, 480, 640};
  OutputShape shape = *OutputShapeFor(r, work, spec, 1 << 30);
  EXPECT_EQ(shape.height, 32);
  EXPECT_EQ(shape.width, 48);
  r.output_size = OutputSize::kInput;
  shape = *OutputShapeFor(r, work, spec, 1 << 30);
  EXPECT_EQ(shape.height, 480);
  EXPECT_EQ(shape.width, 640);
  // RAW, every task: 13 channels x 4 bytes x 307200 pixels = 16 MB.
  absl::Status st = OutputShapeFor(r, work, spec, 10 << 20).status();
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("output_size: outputs at the input's 480x640"),
            std::string::npos)
      << st;
  // As PNGs (1 + 2 + 3 + 1 bytes a pixel: 2 MB) they fit.
  r.default_output_format = OutputFormat::kPng;
  EXPECT_TRUE(OutputShapeFor(r, work, spec, 10 << 20).ok());
  // Only the requested tasks count.
  r.default_output_format = OutputFormat::kRaw;
  r.plan_request.task_weights = {{"depth", 1.0f}};
  EXPECT_TRUE(OutputShapeFor(r, work, spec, 10 << 20).ok());
  // An unreadable header: the model's size (the decode will fail anyway).
  shape = *OutputShapeFor(r, ImageWork{}, spec, 1);
  EXPECT_EQ(shape.height, 32);
}

TEST(StageCostEstimateTest, LearnsPerSourceAndPerElement) {
  StageCostEstimate costs;
  ImageWork png{ImageSource::kPng, 1000};
  ImageWork jpeg{ImageSource::kJpeg, 1000};
  const absl::Duration jpeg_before = costs.Preprocess(jpeg);
  for (int i = 0; i < 50; ++i) {
    costs.RecordPreprocess(png, absl::Microseconds(100));  // 100 ns a pixel
  }
  EXPECT_NEAR(absl::ToDoubleNanoseconds(costs.Preprocess(png)), 100000, 100);
  EXPECT_EQ(costs.Preprocess(jpeg), jpeg_before);  // another source
  // Unknown pixels count as a VGA image, not as free.
  EXPECT_GT(costs.Preprocess({ImageSource::kUnknown, 0}), absl::ZeroDuration());
  for (int i = 0; i < 50; ++i) {
    costs.RecordPostprocess(2000, absl::Microseconds(20));  // 10 ns each
  }
  EXPECT_NEAR(absl::ToDoubleNanoseconds(costs.Postprocess(4000)), 40000, 100);
}

}  // namespace
}  // namespace slimserve
