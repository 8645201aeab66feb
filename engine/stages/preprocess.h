#ifndef SLIMSERVE_ENGINE_STAGES_PREPROCESS_H_
#define SLIMSERVE_ENGINE_STAGES_PREPROCESS_H_

// Pre-processing: a request's image (PNG, JPEG or raw pixels) becomes the
// network's input, [3, H, W] float32 at the model's input size, resized
// bilinearly and normalised with the model's mean and std (the CPU
// reference of kernels/preprocess.h). Pure functions of their arguments,
// safe to call from any thread; the engine runs them on its stage pool.

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "engine/types.h"
#include "image/codec.h"
#include "kernels/preprocess.h"
#include "slimserve/v1/model_spec.pb.h"

namespace slimserve {

struct PreprocessOptions {
  // The model's input size and normalisation (ModelSpec.input).
  int height = 0;
  int width = 0;
  float mean[3] = {0, 0, 0};
  float std[3] = {1, 1, 1};
  // Largest accepted image, in pixels (decompression-bomb guard).
  int64_t max_pixels = 64LL * 1024 * 1024;
};

// REQUIRES: ValidateModelSpec(spec).ok().
PreprocessOptions PreprocessOptionsFor(const slimserve::v1::ModelSpec& spec,
                                       int64_t max_pixels);

// What can be checked without decoding, before a request is queued:
// INVALID_ARGUMENT naming the field, e.g.
//   "image.raw: data has 10 bytes, expected 4*5*3 = 60",
//   "image.raw.channels: must be 1, 3 or 4, got 2",
//   "image.raw: height and width must be > 0, got 0x5",
//   "image.raw: 9000x9000 = 81000000 pixels, more than the limit of N",
//   "image.encoded: empty".
absl::Status ValidateImage(const ImageInput& image, int64_t max_pixels);

// What the pre-processing of `image` will handle, for estimating its work:
// the source kind and its pixels (raw: exact; encoded: from the file's
// header, 0 when the header cannot be read; decoding then fails fast).
enum class ImageSource { kRaw, kPng, kJpeg, kUnknown };
struct ImageWork {
  ImageSource source = ImageSource::kUnknown;
  int64_t pixels = 0;
  // The image's size (0 x 0 when the header cannot be read).
  int64_t height = 0;
  int64_t width = 0;
};
ImageWork WorkOf(const ImageInput& image);

// The pixels pre-processing resizes: an encoded image decoded (large JPEGs
// at a DCT scale still at least the model's input), or a raw image's own
// bytes. `view` points into `decoded` (which keeps its buffer when moved)
// or into the ImageInput's bytes, which must then outlive it.
// Move-only: a copy's view would point into the original.
struct ModelPixels {
  ModelPixels() = default;
  ModelPixels(ModelPixels&&) = default;
  ModelPixels& operator=(ModelPixels&&) = default;
  ModelPixels(const ModelPixels&) = delete;
  ModelPixels& operator=(const ModelPixels&) = delete;

  DecodedImage decoded;
  SourceImage view;
};
// INVALID_ARGUMENT as Preprocess. REQUIRES: as Preprocess.
absl::StatusOr<ModelPixels> DecodeForModel(const ImageInput& image,
                                           const PreprocessOptions& options);

// Decodes (encoded images) and resizes and normalises into [3, height,
// width] float32, channel planes in R, G, B order. INVALID_ARGUMENT for an
// undecodable or too large image (image/codec.h's messages).
// REQUIRES: ValidateImage(image, options.max_pixels).ok().
absl::StatusOr<std::vector<float>> Preprocess(const ImageInput& image,
                                              const PreprocessOptions& options);

}  // namespace slimserve

#endif  // SLIMSERVE_ENGINE_STAGES_PREPROCESS_H_
