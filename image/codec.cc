#include "image/codec.h"

#include <png.h>
#include <turbojpeg.h>

#include <csetjmp>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/config.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace slimserve {
namespace {

bool IsPng(absl::string_view bytes) {
  return bytes.size() >= 4 && bytes.substr(0, 4) == "\x89PNG";
}

bool IsJpeg(absl::string_view bytes) {
  return bytes.size() >= 3 && bytes.substr(0, 3) == "\xFF\xD8\xFF";
}

std::string FirstBytesHex(absl::string_view bytes) {
  return absl::StrCat("0x", absl::BytesToHexString(bytes.substr(0, 8)));
}

absl::Status CheckPixelLimit(int64_t width, int64_t height,
                             const DecodeLimits& limits) {
  const int64_t pixels = width * height;
  if (pixels > limits.max_pixels) {
    return absl::InvalidArgumentError(
        absl::StrCat("image is ", width, "x", height, " = ", pixels,
                     " pixels, more than the limit of ", limits.max_pixels));
  }
  return absl::OkStatus();
}

// ---- PNG, simplified API (DecodeImage) ----

// Frees the png_image on every path; png_image_free is a no-op once libpng
// has freed it itself, which it does on errors.
class ScopedPngImage {
 public:
  ScopedPngImage() {
    std::memset(&image_, 0, sizeof(image_));
    image_.version = PNG_IMAGE_VERSION;
  }
  ~ScopedPngImage() { png_image_free(&image_); }
  ScopedPngImage(const ScopedPngImage&) = delete;
  ScopedPngImage& operator=(const ScopedPngImage&) = delete;

  png_image* get() { return &image_; }

 private:
  png_image image_;
};

absl::StatusOr<DecodedImage> DecodePngAsRgb(absl::string_view bytes,
                                            const DecodeLimits& limits) {
  ScopedPngImage scoped;
  png_image* image = scoped.get();
  const auto failed = [image] {
    return absl::InvalidArgumentError(
        absl::StrCat("PNG decode failed: ", image->message));
  };
  if (!png_image_begin_read_from_memory(image, bytes.data(), bytes.size())) {
    return failed();
  }
  if (absl::Status s = CheckPixelLimit(image->width, image->height, limits);
      !s.ok()) {
    return s;
  }
  // RGBA rather than RGB: libpng would composite alpha onto a background,
  // while callers want the stored colours (alpha is ignored downstream).
  image->format = PNG_FORMAT_RGBA;
  // Without this flag libpng takes 16-bit data without a gAMA chunk to be
  // linear and applies the sRGB curve when reducing to 8 bits; treating it
  // as sRGB makes the reduction a plain rescale, as other decoders do.
  image->flags |= PNG_IMAGE_FLAG_16BIT_sRGB;

  DecodedImage out;
  out.height = static_cast<int>(image->height);
  out.width = static_cast<int>(image->width);
  out.channels = 3;
  const size_t num_pixels = static_cast<size_t>(out.height) * out.width;
  out.pixels.resize(num_pixels * 4);
  if (!png_image_finish_read(image, /*background=*/nullptr, out.pixels.data(),
                             /*row_stride=*/0, /*colormap=*/nullptr)) {
    return failed();
  }
  // Drop alpha in place: pixel i moves from 4i to 3i <= 4i, so reading ahead
  // of writing never reads an overwritten byte.
  uint8_t* p = out.pixels.data();
  for (size_t i = 0; i < num_pixels; ++i) {
    p[3 * i] = p[4 * i];
    p[3 * i + 1] = p[4 * i + 1];
    p[3 * i + 2] = p[4 * i + 2];
  }
  out.pixels.resize(num_pixels * 3);
  out.pixels.shrink_to_fit();
  return out;
}

// ---- PNG, classic API (DecodePngRaw, EncodePng) ----
//
// libpng reports errors by longjmp to the latest setjmp. Each libpng step
// below runs in its own small function that calls setjmp and creates no
// object with a destructor, so a longjmp never skips a destructor; the
// C++ objects live in the callers, which only see a bool.

// What libpng's callbacks read from, write to and report errors into.
struct PngIo {
  absl::string_view input;
  size_t read_offset = 0;
  std::string* output = nullptr;
  char error[128] = "";
};

void OnPngError(png_structp png, png_const_charp message) {
  PngIo* io = static_cast<PngIo*>(png_get_error_ptr(png));
  std::snprintf(io->error, sizeof(io->error), "%s", message);
  png_longjmp(png, 1);
}

// Warnings (e.g. a bad ancillary chunk, which libpng skips) do not make the
// image wrong; libpng's default would print them to stderr.
void OnPngWarning(png_structp, png_const_charp) {}

void ReadPngData(png_structp png, png_bytep dst, size_t size) {
  PngIo* io = static_cast<PngIo*>(png_get_io_ptr(png));
  if (size > io->input.size() - io->read_offset) {
    png_error(png, "unexpected end of data (truncated PNG)");
  }
  std::memcpy(dst, io->input.data() + io->read_offset, size);
  io->read_offset += size;
}

void WritePngData(png_structp png, png_bytep src, size_t size) {
  PngIo* io = static_cast<PngIo*>(png_get_io_ptr(png));
  io->output->append(reinterpret_cast<const char*>(src), size);
}

class PngReader {
 public:
  explicit PngReader(PngIo* io)
      : png_(png_create_read_struct(PNG_LIBPNG_VER_STRING, io, OnPngError,
                                    OnPngWarning)),
        info_(png_ != nullptr ? png_create_info_struct(png_) : nullptr) {
    if (png_ != nullptr) png_set_read_fn(png_, io, ReadPngData);
  }
  ~PngReader() { png_destroy_read_struct(&png_, &info_, nullptr); }
  PngReader(const PngReader&) = delete;
  PngReader& operator=(const PngReader&) = delete;

  bool ok() const { return info_ != nullptr; }
  png_structp png() const { return png_; }
  png_infop info() const { return info_; }

 private:
  png_structp png_;
  png_infop info_;
};

class PngWriter {
 public:
  explicit PngWriter(PngIo* io)
      : png_(png_create_write_struct(PNG_LIBPNG_VER_STRING, io, OnPngError,
                                     OnPngWarning)),
        info_(png_ != nullptr ? png_create_info_struct(png_) : nullptr) {
    if (png_ != nullptr) png_set_write_fn(png_, io, WritePngData, nullptr);
  }
  ~PngWriter() { png_destroy_write_struct(&png_, &info_); }
  PngWriter(const PngWriter&) = delete;
  PngWriter& operator=(const PngWriter&) = delete;

  bool ok() const { return info_ != nullptr; }
  png_structp png() const { return png_; }
  png_infop info() const { return info_; }

 private:
  png_structp png_;
  png_infop info_;
};

// Reads the header and sets the transforms that keep stored values: sub-byte
// samples unpacked to one byte each, palettes expanded. The info then
// describes the transformed samples, so the stored depth, which is what the
// values range over, is returned apart (8 for palette images).
bool ReadPngHeader(png_structp png, png_infop info, int* stored_bit_depth) {
  if (setjmp(png_jmpbuf(png))) return false;
  png_read_info(png, info);
  const bool palette = png_get_color_type(png, info) == PNG_COLOR_TYPE_PALETTE;
  *stored_bit_depth = palette ? 8 : png_get_bit_depth(png, info);
  if (palette) {
    png_set_palette_to_rgb(png);
    if (png_get_valid(png, info, PNG_INFO_tRNS)) png_set_tRNS_to_alpha(png);
  } else {
    png_set_packing(png);
  }
  png_set_interlace_handling(png);
  png_read_update_info(png, info);
  return true;
}

// Stops after the image data, as the simplified API does, so that both
// decoders accept the same files: the chunks after it carry no pixels.
bool ReadPngRows(png_structp png, png_bytepp rows) {
  if (setjmp(png_jmpbuf(png))) return false;
  png_read_image(png, rows);
  return true;
}

bool WritePng(png_structp png, png_infop info, const uint8_t* pixels,
              int height, int width, int channels, int bit_depth,
              int compression_level) {
  if (setjmp(png_jmpbuf(png))) return false;
  png_set_compression_level(png, compression_level);
  // zlib's defaults (a 32 KiB window, 128 KiB of hash tables) are sized for
  // large files; setting them up and clearing them cost more than deflating
  // a 96x128 map (stored: 34 us of setup for 12 KB against 7 with the
  // smallest; level 1: 53 -> 20 us, same size). So the window is the
  // smallest power of two holding the image (9..15 bits), the hash tables
  // smaller (memLevel 6; 1 when nothing is compressed).
  const size_t image_bytes =
      static_cast<size_t>(height) *
      (static_cast<size_t>(width) * channels * (bit_depth / 8) + 1);
  int window_bits = 9;
  while (window_bits < 15 && (size_t{1} << window_bits) < image_bytes) {
    ++window_bits;
  }
  png_set_compression_window_bits(png, compression_level == 0 ? 9 : window_bits);
  png_set_compression_mem_level(png, compression_level == 0 ? 1 : 6);
  // One fixed filter: no per-row filter search. Sub costs little and helps
  // deflate on smooth images such as depth maps; stored data (level 0)
  // gains nothing from a filter.
  png_set_filter(png, PNG_FILTER_TYPE_BASE,
                 compression_level == 0 ? PNG_FILTER_NONE : PNG_FILTER_SUB);
  png_set_IHDR(png, info, width, height, bit_depth,
               channels == 1 ? PNG_COLOR_TYPE_GRAY : PNG_COLOR_TYPE_RGB,
               PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_BASE,
               PNG_FILTER_TYPE_BASE);
  png_write_info(png, info);
#ifdef ABSL_IS_LITTLE_ENDIAN
  // PNG stores 16-bit samples big-endian.
  if (bit_depth == 16) png_set_swap(png);
#endif
  const size_t row_bytes =
      static_cast<size_t>(width) * channels * (bit_depth / 8);
  for (int y = 0; y < height; ++y) {
    png_write_row(png, pixels + y * row_bytes);
  }
  png_write_end(png, nullptr);
  return true;
}

// ---- JPEG ----

struct TjDestroyer {
  void operator()(void* handle) const { tjDestroy(handle); }
};
using ScopedTjHandle = std::unique_ptr<void, TjDestroyer>;

struct TjFreer {
  void operator()(unsigned char* buffer) const { tjFree(buffer); }
};

absl::StatusOr<DecodedImage> DecodeJpegAsRgb(absl::string_view bytes,
                                             const DecodeLimits& limits) {
  ScopedTjHandle tj(tjInitDecompress());
  if (tj == nullptr) {
    return absl::InternalError(
        absl::StrCat("JPEG decode failed: ", tjGetErrorStr2(nullptr)));
  }
  const auto failed = [&tj] {
    return absl::InvalidArgumentError(
        absl::StrCat("JPEG decode failed: ", tjGetErrorStr2(tj.get())));
  };
  const auto* data = reinterpret_cast<const unsigned char*>(bytes.data());
  int width = 0, height = 0, subsampling = 0, colorspace = 0;
  if (tjDecompressHeader3(tj.get(), data, bytes.size(), &width, &height,
                          &subsampling, &colorspace) != 0) {
    return failed();
  }
  if (absl::Status s = CheckPixelLimit(width, height, limits); !s.ok()) {
    return s;
  }
  // The smallest DCT scaling factor (<= 1) that keeps both minimums.
  int out_h = height, out_w = width;
  int num_factors = 0;
  const tjscalingfactor* factors = tjGetScalingFactors(&num_factors);
  const bool scale = limits.min_height > 0 && limits.min_width > 0;
  for (int i = 0; scale && factors != nullptr && i < num_factors; ++i) {
    const tjscalingfactor f = factors[i];
    if (f.num > f.denom) continue;  // never scale up
    const int h = TJSCALED(height, f), w = TJSCALED(width, f);
    if (h >= limits.min_height && w >= limits.min_width &&
        int64_t{h} * w < int64_t{out_h} * out_w) {
      out_h = h;
      out_w = w;
    }
  }
  DecodedImage out;
  out.height = out_h;
  out.width = out_w;
  out.channels = 3;
  out.pixels.resize(static_cast<size_t>(out_h) * out_w * 3);
  // LIMITSCANS bounds the work a crafted progressive JPEG can cause.
  // TurboJPEG returns -1 on warnings (such as truncation) with or without
  // STOPONWARNING; the flag only saves decoding the rest. Given a width
  // and height, it decodes at the scaling factor that yields them.
  if (tjDecompress2(tj.get(), data, bytes.size(), out.pixels.data(), out_w,
                    /*pitch=*/0, out_h, TJPF_RGB,
                    TJFLAG_STOPONWARNING | TJFLAG_LIMITSCANS) != 0) {
    return failed();
  }
  return out;
}

}  // namespace

absl::StatusOr<DecodedImage> DecodeImage(absl::string_view bytes,
                                         const DecodeLimits& limits) {
  if (bytes.empty()) return absl::InvalidArgumentError("image is empty");
  if (IsPng(bytes)) return DecodePngAsRgb(bytes, limits);
  if (IsJpeg(bytes)) return DecodeJpegAsRgb(bytes, limits);
  return absl::InvalidArgumentError(
      absl::StrCat("image is neither PNG nor JPEG (first bytes ",
                   FirstBytesHex(bytes), ")"));
}

absl::StatusOr<ImageInfo> ReadImageInfo(absl::string_view bytes) {
  if (bytes.empty()) return absl::InvalidArgumentError("image is empty");
  ImageInfo info;
  if (IsPng(bytes)) {
    // Signature (8 bytes), then the IHDR chunk: length (4), "IHDR" (4),
    // width (4), height (4), big-endian.
    constexpr size_t kIhdrEnd = 24;
    if (bytes.size() < kIhdrEnd || bytes.substr(12, 4) != "IHDR") {
      return absl::InvalidArgumentError(
          "PNG decode failed: no IHDR chunk at the start");
    }
    const auto be32 = [&bytes](size_t at) {
      int64_t v = 0;
      for (size_t i = 0; i < 4; ++i) {
        v = (v << 8) | static_cast<uint8_t>(bytes[at + i]);
      }
      return v;
    };
    info.format = ImageFormat::kPng;
    info.width = be32(16);
    info.height = be32(20);
    return info;
  }
  if (IsJpeg(bytes)) {
    ScopedTjHandle tj(tjInitDecompress());
    if (tj == nullptr) {
      return absl::InternalError(
          absl::StrCat("JPEG decode failed: ", tjGetErrorStr2(nullptr)));
    }
    int width = 0, height = 0, subsampling = 0, colorspace = 0;
    if (tjDecompressHeader3(
            tj.get(), reinterpret_cast<const unsigned char*>(bytes.data()),
            bytes.size(), &width, &height, &subsampling, &colorspace) != 0 ||
        width <= 0 || height <= 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("JPEG decode failed: ", tjGetErrorStr2(tj.get())));
    }
    info.format = ImageFormat::kJpeg;
    info.width = width;
    info.height = height;
    return info;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("image is neither PNG nor JPEG (first bytes ",
                   FirstBytesHex(bytes), ")"));
}

absl::StatusOr<DecodedPng> DecodePngRaw(absl::string_view bytes,
                                        const DecodeLimits& limits) {
  if (bytes.empty()) return absl::InvalidArgumentError("image is empty");
  if (!IsPng(bytes)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "image is not a PNG (first bytes ", FirstBytesHex(bytes), ")"));
  }
  PngIo io;
  io.input = bytes;
  PngReader reader(&io);
  if (!reader.ok()) {
    return absl::InternalError(
        "PNG decode failed: could not create the libpng structures");
  }
  const auto failed = [&io] {
    return absl::InvalidArgumentError(
        absl::StrCat("PNG decode failed: ", io.error));
  };
  png_structp png = reader.png();
  png_infop info = reader.info();
  DecodedPng out;
  if (!ReadPngHeader(png, info, &out.bit_depth)) return failed();

  out.width = static_cast<int>(png_get_image_width(png, info));
  out.height = static_cast<int>(png_get_image_height(png, info));
  if (absl::Status s = CheckPixelLimit(out.width, out.height, limits);
      !s.ok()) {
    return s;
  }
  out.channels = png_get_channels(png, info);
  // After the transforms a sample takes one byte, or two big-endian ones.
  const bool wide = png_get_bit_depth(png, info) == 16;

  const size_t row_bytes = png_get_rowbytes(png, info);
  std::vector<uint8_t> buffer(row_bytes * out.height);
  std::vector<png_bytep> rows(out.height);
  for (int y = 0; y < out.height; ++y) rows[y] = buffer.data() + y * row_bytes;
  if (!ReadPngRows(png, rows.data())) return failed();

  const size_t num_samples =
      static_cast<size_t>(out.height) * out.width * out.channels;
  out.samples.resize(num_samples);
  for (size_t i = 0; i < num_samples; ++i) {
    out.samples[i] =
        wide ? (buffer[2 * i] << 8) | buffer[2 * i + 1] : buffer[i];
  }
  return out;
}

absl::StatusOr<std::string> EncodePng(const void* pixels, int height, int width,
                                      int channels, int bit_depth,
                                      int compression_level) {
  if (compression_level < 0 || compression_level > 9) {
    return absl::InvalidArgumentError(absl::StrCat(
        "EncodePng: compression level must be in [0, 9], got ",
        compression_level));
  }
  if (pixels == nullptr || height <= 0 || width <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("EncodePng needs pixels and a positive size, got ", width,
                     "x", height));
  }
  if (channels != 1 && channels != 3) {
    return absl::InvalidArgumentError(
        absl::StrCat("EncodePng supports 1 or 3 channels, got ", channels));
  }
  if (bit_depth != 8 && bit_depth != 16) {
    return absl::InvalidArgumentError(
        absl::StrCat("EncodePng supports bit depth 8 or 16, got ", bit_depth));
  }
  std::string encoded;
  PngIo io;
  io.output = &encoded;
  PngWriter writer(&io);
  if (!writer.ok()) {
    return absl::InternalError(
        "PNG encode failed: could not create the libpng structures");
  }
  if (!WritePng(writer.png(), writer.info(),
                static_cast<const uint8_t*>(pixels), height, width, channels,
                bit_depth, compression_level)) {
    return absl::InternalError(absl::StrCat("PNG encode failed: ", io.error));
  }
  return encoded;
}

absl::StatusOr<std::string> EncodeJpeg(const uint8_t* rgb, int height,
                                       int width, int quality) {
  if (rgb == nullptr || height <= 0 || width <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("EncodeJpeg needs pixels and a positive size, got ", width,
                     "x", height));
  }
  if (quality < 1 || quality > 100) {
    return absl::InvalidArgumentError(
        absl::StrCat("JPEG quality must be in [1, 100], got ", quality));
  }
  ScopedTjHandle tj(tjInitCompress());
  if (tj == nullptr) {
    return absl::InternalError(
        absl::StrCat("JPEG encode failed: ", tjGetErrorStr2(nullptr)));
  }
  unsigned char* buffer = nullptr;
  unsigned long size = 0;  // NOLINT(runtime/int): TurboJPEG's type.
  const int rc = tjCompress2(tj.get(), rgb, width, /*pitch=*/0, height,
                             TJPF_RGB, &buffer, &size, TJSAMP_420, quality,
                             /*flags=*/0);
  // TurboJPEG may allocate the buffer even when it fails.
  std::unique_ptr<unsigned char, TjFreer> owned(buffer);
  if (rc != 0) {
    return absl::InternalError(
        absl::StrCat("JPEG encode failed: ", tjGetErrorStr2(tj.get())));
  }
  return std::string(reinterpret_cast<const char*>(buffer), size);
}

}  // namespace slimserve
