// A small, portable pseudo-random number generator for the data generator.
//
// The standard library's distributions (std::uniform_real_distribution, ...)
// give different numbers under different standard libraries, so the
// generator draws everything from SplitMix64 with its own, exactly specified
// conversions. Every value it returns depends only on the seed, on any
// machine. Not thread-safe: use one Rng per thread (they are cheap).

#ifndef SLIMSERVE_TOOLS_DATAGEN_RNG_H_
#define SLIMSERVE_TOOLS_DATAGEN_RNG_H_

#include <cstdint>

namespace slimserve {
namespace datagen {

// SplitMix64's output function: a bijective 64-bit mixer with good
// avalanche, also used as a stateless hash.
inline constexpr uint64_t Mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

// Hash of two words; HashCombine(a, b) != HashCombine(b, a) in general.
inline constexpr uint64_t HashCombine(uint64_t a, uint64_t b) {
  return Mix64(Mix64(a + 0x9E3779B97F4A7C15ULL) ^ (b + 0x632BE59BD9B4E019ULL));
}

class Rng {
 public:
  explicit constexpr Rng(uint64_t seed) : state_(seed) {}

  // Next 64 random bits (SplitMix64).
  uint64_t Next() {
    state_ += 0x9E3779B97F4A7C15ULL;
    return Mix64(state_);
  }
  // Uniform in [0, 1), 53 random bits.
  double Uniform() { return static_cast<double>(Next() >> 11) * 0x1.0p-53; }
  // Uniform in [lo, hi).
  double Uniform(double lo, double hi) { return lo + (hi - lo) * Uniform(); }
  // Uniform integer in [lo, hi]. REQUIRES: lo <= hi. The modulo bias is below
  // 2^-32 for the small ranges used here.
  int UniformInt(int lo, int hi) {
    const uint64_t span = static_cast<uint64_t>(static_cast<int64_t>(hi) - lo) + 1;
    return lo + static_cast<int>(Next() % span);
  }
  // True with probability p.
  bool Bernoulli(double p) { return Uniform() < p; }
  // Zero-mean, unit-variance approximately Gaussian value: the Irwin-Hall sum
  // of four 16-bit uniforms from one 64-bit draw, rescaled. Bounded by
  // +-sqrt(12) ~ 3.46, which is harmless for sensor noise.
  double Gaussianish() {
    const uint64_t r = Next();
    const double sum = static_cast<double>((r & 0xFFFF) + ((r >> 16) & 0xFFFF) +
                                           ((r >> 32) & 0xFFFF) + (r >> 48));
    // Each 16-bit term has mean 32767.5 and variance (65536^2 - 1) / 12, so
    // the sum has standard deviation ~65536 / sqrt(3).
    return (sum - 4 * 32767.5) * (1.7320508075688772 / 65536.0);
  }

 private:
  uint64_t state_;
};

}  // namespace datagen
}  // namespace slimserve

#endif  // SLIMSERVE_TOOLS_DATAGEN_RNG_H_
