#include "engine/stages/preprocess.h"

#include "absl/numeric/int128.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "image/codec.h"
#include "kernels/preprocess.h"

namespace slimserve {

PreprocessOptions PreprocessOptionsFor(const slimserve::v1::ModelSpec& spec,
                                       int64_t max_pixels) {
  PreprocessOptions o;
  o.height = spec.input().height();
  o.width = spec.input().width();
  for (int c = 0; c < 3; ++c) {
    o.mean[c] = spec.input().mean(c);
    o.std[c] = spec.input().std(c);
  }
  o.max_pixels = max_pixels;
  return o;
}

absl::Status ValidateImage(const ImageInput& image, int64_t max_pixels) {
  if (!image.raw) {
    if (image.bytes.empty()) {
      return absl::InvalidArgumentError("image.encoded: empty");
    }
    return absl::OkStatus();
  }
  if (image.height <= 0 || image.width <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("image.raw: height and width must be > 0, got ",
                     image.height, "x", image.width));
  }
  if (image.channels != 1 && image.channels != 3 && image.channels != 4) {
    return absl::InvalidArgumentError(absl::StrCat(
        "image.raw.channels: must be 1, 3 or 4, got ", image.channels));
  }
  // 128 bits: the wire's dimensions are 32-bit, so no product overflows.
  const absl::uint128 pixels = absl::uint128(image.height) * image.width;
  const absl::uint128 expected = pixels * image.channels;
  if (absl::uint128(image.bytes.size()) != expected) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "image.raw: data has %d bytes, expected %d*%d*%d = %d",
        image.bytes.size(), image.height, image.width, image.channels,
        expected));
  }
  if (pixels > absl::uint128(max_pixels)) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "image.raw: %dx%d = %d pixels, more than the limit of %d",
        image.height, image.width, pixels, max_pixels));
  }
  return absl::OkStatus();
}

ImageWork WorkOf(const ImageInput& image) {
  ImageWork work;
  if (image.raw) {
    work.source = ImageSource::kRaw;
    work.height = image.height;
    work.width = image.width;
  } else {
    const absl::StatusOr<ImageInfo> info = ReadImageInfo(image.bytes);
    if (!info.ok()) return work;
    work.source = info->format == ImageFormat::kPng ? ImageSource::kPng
                                                    : ImageSource::kJpeg;
    work.height = info->height;
    work.width = info->width;
  }
  work.pixels = work.height * work.width;
  return work;
}

absl::StatusOr<ModelPixels> DecodeForModel(const ImageInput& image,
                                           const PreprocessOptions& options) {
  ModelPixels out;
  if (image.raw) {
    // ValidateImage bounded raw dimensions by max_pixels, an int64; each
    // one fits an int because its product with the other (>= 1) does.
    out.view.pixels = reinterpret_cast<const uint8_t*>(image.bytes.data());
    out.view.height = static_cast<int>(image.height);
    out.view.width = static_cast<int>(image.width);
    out.view.channels = static_cast<int>(image.channels);
    return out;
  }
  DecodeLimits limits;
  limits.max_pixels = options.max_pixels;
  // Large JPEGs decode at a DCT scale still at least the model's input.
  limits.min_height = options.height;
  limits.min_width = options.width;
  absl::StatusOr<DecodedImage> d = DecodeImage(image.bytes, limits);
  if (!d.ok()) return d.status();
  out.decoded = *std::move(d);
  out.view.pixels = out.decoded.pixels.data();
  out.view.height = out.decoded.height;
  out.view.width = out.decoded.width;
  out.view.channels = out.decoded.channels;
  return out;
}

absl::StatusOr<std::vector<float>> Preprocess(
    const ImageInput& image, const PreprocessOptions& options) {
  absl::StatusOr<ModelPixels> px = DecodeForModel(image, options);
  if (!px.ok()) return px.status();
  const SourceImage& v = px->view;
  std::vector<float> input(size_t{3} * options.height * options.width);
  ResizeNormalizeCpu(v.pixels, v.height, v.width, v.channels, options.height,
                     options.width, options.mean, options.std, input.data());
  return input;
}

}  // namespace slimserve
