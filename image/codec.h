// Image decoding and encoding for requests and responses: PNG through libpng,
// JPEG through TurboJPEG. All functions are thread-safe and keep no state.
// Malformed or truncated input of any kind gives an error, never a crash.

#ifndef SLIMSERVE_IMAGE_CODEC_H_
#define SLIMSERVE_IMAGE_CODEC_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace slimserve {

// An 8-bit image, row-major HWC: pixel (y, x) channel c is at
// pixels[(y * width + x) * channels + c].
struct DecodedImage {
  int height = 0;
  int width = 0;
  int channels = 0;
  std::vector<uint8_t> pixels;
};

struct DecodeLimits {
  // Images with more pixels are rejected from their header, before any pixel
  // memory is allocated. The default allows 8192 x 8192.
  int64_t max_pixels = 64LL * 1024 * 1024;
  // JPEG only: decode at the smallest of libjpeg-turbo's DCT scaling factors
  // (k/8) that keeps the image at least min_height x min_width, so a photo
  // much larger than the model's input is never decoded at full size (at
  // 1/4 a 480x640 JPEG decodes 16x fewer pixels). Never scales up; either
  // 0: full size. The pixel limit applies to the full size.
  int min_height = 0;
  int min_width = 0;
};

enum class ImageFormat { kPng, kJpeg };

// What a file's header says, without decoding pixels: cheap (microseconds),
// for estimating the work of a decode before doing it.
struct ImageInfo {
  ImageFormat format = ImageFormat::kPng;
  int64_t height = 0;
  int64_t width = 0;
};

// The format and size in a PNG's IHDR chunk or a JPEG's frame header.
// INVALID_ARGUMENT (as DecodeImage's) when neither can be read; a readable
// header does not mean the rest decodes.
absl::StatusOr<ImageInfo> ReadImageInfo(absl::string_view bytes);

// Decodes a PNG (by its signature, \x89PNG) or a JPEG (FF D8 FF) into 8-bit
// RGB: channels is always 3, whatever the file holds.
//
// PNG goes through libpng's simplified API: gray and palette images are
// expanded to RGB, alpha is dropped without compositing (the colour under a
// transparent pixel is kept), 16-bit samples are scaled to 8 bits
// (round(v * 255 / 65535)), and a gAMA chunk far from sRGB's makes libpng
// convert the values to sRGB. Reading stops after the image data: a file cut
// anywhere before its end is an error, but one that lacks only the chunks
// after the image data (e.g. IEND) decodes, as its pixels are complete.
// JPEG: any warning from libjpeg (corrupt or truncated data, extraneous
// bytes) is an error, since the decoded pixels may be garbage. With
// limits.min_height/min_width the result may be smaller than the file's
// size (a DCT scaling factor, see DecodeLimits). CMYK JPEGs are
// not supported.
//
// Errors (all InvalidArgument): "image is empty"; "image is neither PNG nor
// JPEG (first bytes 0x...)"; "PNG decode failed: <libpng's message>"; "JPEG
// decode failed: <TurboJPEG's message>"; "image is WxH = N pixels, more than
// the limit of M".
absl::StatusOr<DecodedImage> DecodeImage(absl::string_view bytes,
                                         const DecodeLimits& limits = {});

// A PNG's samples exactly as stored, row-major HWC: sample (y, x, c) at
// samples[(y * width + x) * channels + c], in [0, 2^bit_depth).
struct DecodedPng {
  int height = 0;
  int width = 0;
  int channels = 0;   // 1 gray, 2 gray + alpha, 3 RGB, 4 RGBA.
  int bit_depth = 0;  // 1, 2, 4, 8 or 16.
  std::vector<uint16_t> samples;
};

// Decodes a PNG without any value conversion (no gamma, no scaling), for
// clients and tests that need exact 16-bit values, e.g. depth maps. Palette
// images are expanded to RGB, or RGBA if they have a tRNS chunk, with
// bit_depth 8; the tRNS colour key of other images is ignored. Truncation is
// handled as in DecodeImage.
// Errors (InvalidArgument) are those of DecodeImage, with "image is not a PNG
// (first bytes 0x...)" for other formats.
absl::StatusOr<DecodedPng> DecodePngRaw(absl::string_view bytes,
                                        const DecodeLimits& limits = {});

// Encodes height x width pixels, row-major HWC without padding, as PNG.
// channels: 1 (gray) or 3 (RGB). bit_depth: 8 (uint8_t samples) or 16
// (native-endian uint16_t samples). No gamma or colour chunks are written, so
// decoders that honour them (DecodeImage) and those that do not read the same
// values, and DecodePngRaw returns the input exactly.
// compression_level: zlib's, 0 (stored: no deflate and no filter; measured
// 7-14x faster than 1 on 96x128 16-bit and RGB maps, at 2.5x the bytes) to
// 9; above 0 with the Sub filter.
// Errors: InvalidArgument for bad arguments, Internal if libpng fails.
absl::StatusOr<std::string> EncodePng(const void* pixels, int height, int width,
                                      int channels, int bit_depth,
                                      int compression_level = 1);

// Encodes height x width RGB pixels (row-major HWC, no padding) as a baseline
// 4:2:0 JPEG of the given quality in [1, 100].
// Errors: InvalidArgument for bad arguments, Internal if TurboJPEG fails.
absl::StatusOr<std::string> EncodeJpeg(const uint8_t* rgb, int height,
                                       int width, int quality);

}  // namespace slimserve

#endif  // SLIMSERVE_IMAGE_CODEC_H_
