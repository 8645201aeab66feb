#include "image/codec.h"

#include <png.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace slimserve {
namespace {

using ::testing::ElementsAre;
using ::testing::StartsWith;

// A smooth RGB image, so JPEG's error stays small.
std::vector<uint8_t> Gradient(int height, int width) {
  std::vector<uint8_t> rgb(height * width * 3);
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      uint8_t* p = &rgb[(y * width + x) * 3];
      p[0] = x * 255 / (width - 1);
      p[1] = y * 255 / (height - 1);
      p[2] = 128;
    }
  }
  return rgb;
}

std::string MustEncodePng(const void* pixels, int height, int width,
                          int channels, int bit_depth) {
  absl::StatusOr<std::string> png =
      EncodePng(pixels, height, width, channels, bit_depth);
  EXPECT_TRUE(png.ok()) << png.status();
  return png.ok() ? *png : "";
}

// libpng's simplified writer, for formats EncodePng does not produce.
std::string WriteWithSimplifiedApi(const void* buffer, int height, int width,
                                   uint32_t format, const void* colormap,
                                   int colormap_entries) {
  png_image image;
  std::memset(&image, 0, sizeof(image));
  image.version = PNG_IMAGE_VERSION;
  image.height = height;
  image.width = width;
  image.format = format;
  image.colormap_entries = colormap_entries;
  png_alloc_size_t size = 0;
  EXPECT_TRUE(
      png_image_write_to_memory(&image, nullptr, &size, 0, buffer, 0, colormap))
      << image.message;
  std::string out(size, '\0');
  EXPECT_TRUE(png_image_write_to_memory(&image, out.data(), &size, 0, buffer, 0,
                                        colormap))
      << image.message;
  out.resize(size);
  return out;
}

TEST(ImageCodecTest, PngRgbRoundTripIsExact) {
  const std::vector<uint8_t> rgb = Gradient(5, 7);
  const std::string png = MustEncodePng(rgb.data(), 5, 7, 3, 8);

  absl::StatusOr<DecodedImage> image = DecodeImage(png);
  ASSERT_TRUE(image.ok()) << image.status();
  EXPECT_EQ(image->height, 5);
  EXPECT_EQ(image->width, 7);
  EXPECT_EQ(image->channels, 3);
  EXPECT_EQ(image->pixels, rgb);

  absl::StatusOr<DecodedPng> raw = DecodePngRaw(png);
  ASSERT_TRUE(raw.ok()) << raw.status();
  EXPECT_EQ(raw->channels, 3);
  EXPECT_EQ(raw->bit_depth, 8);
  EXPECT_EQ(raw->samples, std::vector<uint16_t>(rgb.begin(), rgb.end()));
}

TEST(ImageCodecTest, PngGray8RoundTripIsExact) {
  const std::vector<uint8_t> gray = {0, 1, 127, 128, 254, 255};
  const std::string png = MustEncodePng(gray.data(), 2, 3, 1, 8);

  absl::StatusOr<DecodedPng> raw = DecodePngRaw(png);
  ASSERT_TRUE(raw.ok()) << raw.status();
  EXPECT_EQ(raw->height, 2);
  EXPECT_EQ(raw->width, 3);
  EXPECT_EQ(raw->channels, 1);
  EXPECT_EQ(raw->bit_depth, 8);
  EXPECT_EQ(raw->samples, std::vector<uint16_t>(gray.begin(), gray.end()));

  // DecodeImage replicates gray into RGB.
  absl::StatusOr<DecodedImage> image = DecodeImage(png);
  ASSERT_TRUE(image.ok()) << image.status();
  ASSERT_EQ(image->channels, 3);
  for (size_t i = 0; i < gray.size(); ++i) {
    EXPECT_THAT(
        std::vector<uint8_t>(&image->pixels[3 * i], &image->pixels[3 * i + 3]),
        ElementsAre(gray[i], gray[i], gray[i]));
  }
}

TEST(ImageCodecTest, PngGray16RoundTripIsExact) {
  const std::vector<uint16_t> depth = {0,    1,     255,   256,
                                       1000, 32768, 65534, 65535};
  const std::string png = MustEncodePng(depth.data(), 2, 4, 1, 16);
  absl::StatusOr<DecodedPng> raw = DecodePngRaw(png);
  ASSERT_TRUE(raw.ok()) << raw.status();
  EXPECT_EQ(raw->channels, 1);
  EXPECT_EQ(raw->bit_depth, 16);
  EXPECT_EQ(raw->samples, depth);
}

TEST(ImageCodecTest, PngRgb16RoundTripIsExact) {
  std::vector<uint16_t> rgb(3 * 4 * 3);
  for (size_t i = 0; i < rgb.size(); ++i) rgb[i] = i * 1871 + 3;
  const std::string png = MustEncodePng(rgb.data(), 3, 4, 3, 16);
  absl::StatusOr<DecodedPng> raw = DecodePngRaw(png);
  ASSERT_TRUE(raw.ok()) << raw.status();
  EXPECT_EQ(raw->channels, 3);
  EXPECT_EQ(raw->bit_depth, 16);
  EXPECT_EQ(raw->samples, rgb);
}

TEST(ImageCodecTest, DecodeImageScales16BitWithoutGamma) {
  // v * 255 / 65535 is an integer for multiples of 257.
  const std::vector<uint16_t> gray = {0, 257, 128 * 257, 65535};
  const std::string png = MustEncodePng(gray.data(), 1, 4, 1, 16);
  absl::StatusOr<DecodedImage> image = DecodeImage(png);
  ASSERT_TRUE(image.ok()) << image.status();
  EXPECT_THAT(image->pixels,
              ElementsAre(0, 0, 0, 1, 1, 1, 128, 128, 128, 255, 255, 255));
}

TEST(ImageCodecTest, RgbaPngDecodesToRgbKeepingColourUnderAlpha) {
  const std::vector<uint8_t> rgba = {10,  20,  30,  255,  //
                                     40,  50,  60,  0,    //
                                     70,  80,  90,  128,  //
                                     200, 210, 220, 1};
  const std::string png =
      WriteWithSimplifiedApi(rgba.data(), 2, 2, PNG_FORMAT_RGBA, nullptr, 0);
  absl::StatusOr<DecodedImage> image = DecodeImage(png);
  ASSERT_TRUE(image.ok()) << image.status();
  EXPECT_EQ(image->channels, 3);
  EXPECT_THAT(image->pixels,
              ElementsAre(10, 20, 30, 40, 50, 60, 70, 80, 90, 200, 210, 220));

  absl::StatusOr<DecodedPng> raw = DecodePngRaw(png);
  ASSERT_TRUE(raw.ok()) << raw.status();
  EXPECT_EQ(raw->channels, 4);
  EXPECT_EQ(raw->samples, std::vector<uint16_t>(rgba.begin(), rgba.end()));
}

TEST(ImageCodecTest, PalettePngIsExpanded) {
  const uint8_t colormap[] = {255, 0, 0, 255, 0, 0, 255, 100};
  const uint8_t indices[] = {0, 1, 1};
  const std::string png = WriteWithSimplifiedApi(
      indices, 1, 3, PNG_FORMAT_RGBA_COLORMAP, colormap, 2);
  absl::StatusOr<DecodedPng> raw = DecodePngRaw(png);
  ASSERT_TRUE(raw.ok()) << raw.status();
  EXPECT_EQ(raw->channels, 4);
  EXPECT_EQ(raw->bit_depth, 8);
  EXPECT_THAT(raw->samples,
              ElementsAre(255, 0, 0, 255, 0, 0, 255, 100, 0, 0, 255, 100));

  absl::StatusOr<DecodedImage> image = DecodeImage(png);
  ASSERT_TRUE(image.ok()) << image.status();
  EXPECT_THAT(image->pixels, ElementsAre(255, 0, 0, 0, 0, 255, 0, 0, 255));
}

TEST(ImageCodecTest, JpegRoundTripIsClose) {
  const int h = 32, w = 48;
  const std::vector<uint8_t> rgb = Gradient(h, w);
  absl::StatusOr<std::string> jpeg = EncodeJpeg(rgb.data(), h, w, 95);
  ASSERT_TRUE(jpeg.ok()) << jpeg.status();
  absl::StatusOr<DecodedImage> image = DecodeImage(*jpeg);
  ASSERT_TRUE(image.ok()) << image.status();
  EXPECT_EQ(image->height, h);
  EXPECT_EQ(image->width, w);
  EXPECT_EQ(image->channels, 3);
  ASSERT_EQ(image->pixels.size(), rgb.size());
  double total_error = 0;
  for (size_t i = 0; i < rgb.size(); ++i) {
    total_error += std::abs(image->pixels[i] - rgb[i]);
  }
  EXPECT_LT(total_error / rgb.size(), 2.0);
}

TEST(ImageCodecTest, EmptyInputIsRejected) {
  EXPECT_EQ(DecodeImage("").status(),
            absl::InvalidArgumentError("image is empty"));
  EXPECT_EQ(DecodePngRaw("").status(),
            absl::InvalidArgumentError("image is empty"));
}

TEST(ImageCodecTest, GarbageIsRejectedWithItsFirstBytes) {
  EXPECT_EQ(
      DecodeImage("GIF89a, really").status(),
      absl::InvalidArgumentError("image is neither PNG nor JPEG (first bytes "
                                 "0x4749463839612c20)"));
  EXPECT_EQ(DecodeImage("\xFF\xD8").status(),
            absl::InvalidArgumentError(
                "image is neither PNG nor JPEG (first bytes 0xffd8)"));
  EXPECT_EQ(
      DecodePngRaw("\xFF\xD8\xFF").status(),
      absl::InvalidArgumentError("image is not a PNG (first bytes 0xffd8ff)"));
}

TEST(ImageCodecTest, BadSignatureTailIsRejected) {
  const absl::Status status = DecodeImage("\x89PNG but not really").status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(status.message()), StartsWith("PNG decode failed: "));
}

TEST(ImageCodecTest, TruncatedPngIsRejected) {
  const std::vector<uint8_t> rgb = Gradient(16, 16);
  const std::string png = MustEncodePng(rgb.data(), 16, 16, 3, 8);
  const std::string half = png.substr(0, png.size() / 2);
  for (const absl::Status& status :
       {DecodeImage(half).status(), DecodePngRaw(half).status()}) {
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
    EXPECT_THAT(std::string(status.message()),
                StartsWith("PNG decode failed: "));
  }
}

TEST(ImageCodecTest, TruncatedJpegIsRejected) {
  const std::vector<uint8_t> rgb = Gradient(16, 16);
  absl::StatusOr<std::string> jpeg = EncodeJpeg(rgb.data(), 16, 16, 90);
  ASSERT_TRUE(jpeg.ok()) << jpeg.status();
  const absl::Status status =
      DecodeImage(jpeg->substr(0, jpeg->size() / 2)).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  EXPECT_THAT(std::string(status.message()),
              StartsWith("JPEG decode failed: "));
}

// Every prefix of a JPEG, and of a PNG up to the end of its image data, is an
// error, and none crashes. A PNG missing only its IEND chunk decodes exactly.
TEST(ImageCodecTest, EveryTruncationIsAnError) {
  const std::vector<uint8_t> rgb = Gradient(8, 8);
  const std::string png = MustEncodePng(rgb.data(), 8, 8, 3, 8);
  absl::StatusOr<std::string> jpeg = EncodeJpeg(rgb.data(), 8, 8, 90);
  ASSERT_TRUE(jpeg.ok()) << jpeg.status();
  const size_t kIendSize = 12;  // Length, type and CRC, no data.
  ASSERT_EQ(png.substr(png.size() - kIendSize + 4, 4), "IEND");
  for (size_t n = 1; n < png.size(); ++n) {
    const std::string prefix = png.substr(0, n);
    if (n < png.size() - kIendSize) {
      EXPECT_FALSE(DecodeImage(prefix).ok()) << n;
      EXPECT_FALSE(DecodePngRaw(prefix).ok()) << n;
    } else {
      absl::StatusOr<DecodedImage> image = DecodeImage(prefix);
      ASSERT_TRUE(image.ok()) << n << ": " << image.status();
      EXPECT_EQ(image->pixels, rgb) << n;
      ASSERT_TRUE(DecodePngRaw(prefix).ok()) << n;
    }
  }
  for (size_t n = 1; n < jpeg->size(); ++n) {
    EXPECT_FALSE(DecodeImage(jpeg->substr(0, n)).ok()) << n;
  }
}

// Random corruption may or may not decode, but must not crash.
TEST(ImageCodecTest, CorruptedInputDoesNotCrash) {
  const std::vector<uint8_t> rgb = Gradient(8, 8);
  const std::string png = MustEncodePng(rgb.data(), 8, 8, 3, 8);
  absl::StatusOr<std::string> jpeg = EncodeJpeg(rgb.data(), 8, 8, 90);
  ASSERT_TRUE(jpeg.ok()) << jpeg.status();
  std::mt19937 rng(42);
  for (const std::string& original : {png, *jpeg}) {
    for (int trial = 0; trial < 300; ++trial) {
      std::string corrupted = original;
      for (int k = 0; k < 3; ++k) {
        // Keep the signature so that the decoders are reached.
        const size_t at = 4 + rng() % (corrupted.size() - 4);
        corrupted[at] = static_cast<char>(rng());
      }
      (void)DecodeImage(corrupted);
      (void)DecodePngRaw(corrupted);
    }
  }
}

TEST(ImageCodecTest, PngOverPixelLimitIsRejected) {
  const std::vector<uint8_t> rgb = Gradient(4, 5);
  const std::string png = MustEncodePng(rgb.data(), 4, 5, 3, 8);
  const DecodeLimits limits{.max_pixels = 19};
  const absl::Status expected = absl::InvalidArgumentError(
      "image is 5x4 = 20 pixels, more than the limit of 19");
  EXPECT_EQ(DecodeImage(png, limits).status(), expected);
  EXPECT_EQ(DecodePngRaw(png, limits).status(), expected);
  EXPECT_TRUE(DecodeImage(png, DecodeLimits{.max_pixels = 20}).ok());
}

// A JPEG header claiming 60000x60000 is rejected from the header alone under
// the default limit (its data could not fill that many pixels anyway).
TEST(ImageCodecTest, JpegOverPixelLimitIsRejectedBeforeDecoding) {
  const std::vector<uint8_t> rgb = Gradient(8, 8);
  absl::StatusOr<std::string> jpeg = EncodeJpeg(rgb.data(), 8, 8, 90);
  ASSERT_TRUE(jpeg.ok()) << jpeg.status();
  // Baseline SOF0: FF C0, length (2 bytes), precision (1), height, width.
  const size_t sof = jpeg->find("\xFF\xC0");
  ASSERT_NE(sof, std::string::npos);
  std::string huge = *jpeg;
  const char kSize[2] = {static_cast<char>(60000 >> 8),
                         static_cast<char>(60000 & 0xFF)};
  huge.replace(sof + 5, 2, kSize, 2);
  huge.replace(sof + 7, 2, kSize, 2);
  EXPECT_EQ(DecodeImage(huge).status(),
            absl::InvalidArgumentError("image is 60000x60000 = 3600000000 "
                                       "pixels, more than the limit of "
                                       "67108864"));
}

TEST(ImageCodecTest, JpegDecodesAtTheSmallestScaleThatKeepsTheMinimum) {
  std::vector<uint8_t> rgb(480 * 640 * 3);
  for (size_t i = 0; i < rgb.size(); ++i) {
    rgb[i] = static_cast<uint8_t>((i / 3 % 640) * 255 / 640);
  }
  const std::string jpeg = *EncodeJpeg(rgb.data(), 480, 640, 90);
  DecodeLimits limits;
  absl::StatusOr<DecodedImage> full = DecodeImage(jpeg, limits);
  ASSERT_TRUE(full.ok()) << full.status();
  EXPECT_EQ(full->height, 480);
  limits.min_height = 96;
  limits.min_width = 128;
  absl::StatusOr<DecodedImage> small = DecodeImage(jpeg, limits);
  ASSERT_TRUE(small.ok()) << small.status();
  EXPECT_EQ(small->height, 120);  // 1/4: 1/8 would be 60 x 80
  EXPECT_EQ(small->width, 160);
  EXPECT_EQ(small->pixels.size(), 120u * 160 * 3);
  // The same picture: a pixel of the scaled image is close to the mean of
  // the 4x4 block it covers.
  for (int x : {3, 80, 157}) {
    double mean = 0;
    for (int dy = 0; dy < 4; ++dy) {
      for (int dx = 0; dx < 4; ++dx) {
        mean += full->pixels[((60 * 4 + dy) * 640 + x * 4 + dx) * 3];
      }
    }
    EXPECT_NEAR(small->pixels[(60 * 160 + x) * 3], mean / 16, 6) << x;
  }
  // Never upscaled; and PNGs are always decoded whole.
  limits.min_height = 1000;
  EXPECT_EQ(DecodeImage(jpeg, limits)->height, 480);
  const std::string png = *EncodePng(rgb.data(), 480, 640, 3, 8);
  limits.min_height = 96;
  EXPECT_EQ(DecodeImage(png, limits)->height, 480);
}

TEST(ImageCodecTest, ReadImageInfoReadsTheHeaderOnly) {
  std::vector<uint8_t> rgb(30 * 50 * 3, 90);
  const std::string png = *EncodePng(rgb.data(), 30, 50, 3, 8);
  absl::StatusOr<ImageInfo> info = ReadImageInfo(png);
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->format, ImageFormat::kPng);
  EXPECT_EQ(info->height, 30);
  EXPECT_EQ(info->width, 50);
  // The header is enough: the pixels may be missing.
  EXPECT_TRUE(ReadImageInfo(png.substr(0, 24)).ok());
  EXPECT_FALSE(ReadImageInfo(png.substr(0, 20)).ok());

  const std::string jpeg = *EncodeJpeg(rgb.data(), 30, 50, 80);
  info = ReadImageInfo(jpeg);
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->format, ImageFormat::kJpeg);
  EXPECT_EQ(info->height, 30);
  EXPECT_EQ(info->width, 50);

  EXPECT_EQ(ReadImageInfo("GIF89a").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ReadImageInfo("").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ReadImageInfo(std::string("\xff\xd8\xff\x00", 4)).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(ImageCodecTest, EncodersRejectBadArguments) {
  const uint8_t pixels[12] = {};
  EXPECT_EQ(EncodePng(nullptr, 1, 1, 1, 8).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(EncodePng(pixels, 0, 1, 1, 8).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(EncodePng(pixels, 1, 1, 4, 8).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(EncodePng(pixels, 1, 1, 1, 12).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(EncodeJpeg(pixels, 2, 2, 0).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(EncodeJpeg(pixels, 2, 2, 101).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(EncodeJpeg(pixels, -1, 2, 90).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace slimserve

int main(int argc, char** argv) {
  testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
