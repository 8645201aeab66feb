// Image decoding as the server meets it: the header peek, the decode at full
// size and DCT-scaled to the model's input, and the exact-sample PNG decode,
// on arbitrary bytes. Properties: no crash, leak or overflow (the
// sanitizers), and every image that decodes is what its header said, within
// the pixel limit.

#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "absl/strings/string_view.h"
#include "image/codec.h"
#include "tests/fuzz/fuzz_check.h"

namespace slimserve {
namespace {

constexpr int64_t kMaxPixels = int64_t{1} << 22;  // keeps iterations fast

void CheckDecoded(const DecodedImage& image, const DecodeLimits& limits) {
  FUZZ_CHECK(image.height > 0 && image.width > 0);
  FUZZ_CHECK(image.channels == 3);
  FUZZ_CHECK(int64_t{image.height} * image.width <= limits.max_pixels);
  FUZZ_CHECK(image.pixels.size() ==
             static_cast<size_t>(image.height) * image.width * 3);
}

}  // namespace
}  // namespace slimserve

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace slimserve;  // NOLINT(build/namespaces): a fuzz entry point
  const absl::string_view bytes(reinterpret_cast<const char*>(data), size);
  const absl::StatusOr<ImageInfo> info = ReadImageInfo(bytes);
  DecodeLimits limits;
  limits.max_pixels = kMaxPixels;
  const absl::StatusOr<DecodedImage> full = DecodeImage(bytes, limits);
  if (full.ok()) {
    CheckDecoded(*full, limits);
    // A file that decodes has a header that reads, saying its size.
    FUZZ_CHECK(info.ok());
    FUZZ_CHECK(info->height == full->height && info->width == full->width);
  }
  limits.min_height = 96;
  limits.min_width = 128;
  const absl::StatusOr<DecodedImage> scaled = DecodeImage(bytes, limits);
  if (scaled.ok()) {
    CheckDecoded(*scaled, limits);
    if (full.ok()) {  // never larger, never below the minimum it could keep
      FUZZ_CHECK(scaled->height <= full->height &&
                 scaled->width <= full->width);
      FUZZ_CHECK(scaled->height >= std::min(full->height, 96) ||
                 scaled->width >= std::min(full->width, 128));
    }
  }
  limits.min_height = limits.min_width = 0;
  const absl::StatusOr<DecodedPng> png = DecodePngRaw(bytes, limits);
  if (png.ok()) {
    FUZZ_CHECK(png->height > 0 && png->width > 0);
    FUZZ_CHECK(int64_t{png->height} * png->width <= kMaxPixels);
    FUZZ_CHECK(png->channels >= 1 && png->channels <= 4);
    FUZZ_CHECK(png->samples.size() == static_cast<size_t>(png->height) *
                                          png->width * png->channels);
    for (const uint16_t v : png->samples) {
      FUZZ_CHECK(png->bit_depth == 16 || v < (1u << png->bit_depth));
    }
  }
  return 0;
}
