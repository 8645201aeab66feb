// Small double-precision vector and matrix types for the scene renderer.
// Header-only, no state. Apart from the Rotation* helpers (std::sin/cos),
// only +, -, *, / and sqrt are used, which IEEE 754 rounds exactly, so results
// are the same on every conforming machine (built with -ffp-contract=off, see
// BUILD).

#ifndef SLIMSERVE_TOOLS_DATAGEN_VEC_H_
#define SLIMSERVE_TOOLS_DATAGEN_VEC_H_

#include <cmath>

namespace slimserve {
namespace datagen {

struct Vec3 {
  double x = 0, y = 0, z = 0;

  constexpr Vec3() = default;
  constexpr Vec3(double x_, double y_, double z_) : x(x_), y(y_), z(z_) {}

  constexpr Vec3 operator+(const Vec3& o) const { return {x + o.x, y + o.y, z + o.z}; }
  constexpr Vec3 operator-(const Vec3& o) const { return {x - o.x, y - o.y, z - o.z}; }
  constexpr Vec3 operator-() const { return {-x, -y, -z}; }
  constexpr Vec3 operator*(double s) const { return {x * s, y * s, z * s}; }
  constexpr Vec3 operator/(double s) const { return {x / s, y / s, z / s}; }
  // Component-wise product (colours).
  constexpr Vec3 operator*(const Vec3& o) const { return {x * o.x, y * o.y, z * o.z}; }
  Vec3& operator+=(const Vec3& o) { x += o.x; y += o.y; z += o.z; return *this; }
  Vec3& operator*=(double s) { x *= s; y *= s; z *= s; return *this; }
};

inline constexpr Vec3 operator*(double s, const Vec3& v) { return v * s; }
inline constexpr double Dot(const Vec3& a, const Vec3& b) {
  return a.x * b.x + a.y * b.y + a.z * b.z;
}
inline constexpr Vec3 Cross(const Vec3& a, const Vec3& b) {
  return {a.y * b.z - a.z * b.y, a.z * b.x - a.x * b.z, a.x * b.y - a.y * b.x};
}
inline double Length(const Vec3& v) { return std::sqrt(Dot(v, v)); }
// REQUIRES: v is not the zero vector.
inline Vec3 Normalize(const Vec3& v) { return v / Length(v); }

// A 3x3 matrix stored by rows. Used for rotations: for a rotation R taking
// local coordinates to world coordinates, R * v maps a local vector to world
// and R.TransposeTimes(v) maps a world vector back to local.
struct Mat3 {
  Vec3 row[3] = {{1, 0, 0}, {0, 1, 0}, {0, 0, 1}};  // Identity by default.

  constexpr Vec3 operator*(const Vec3& v) const {
    return {Dot(row[0], v), Dot(row[1], v), Dot(row[2], v)};
  }
  constexpr Vec3 TransposeTimes(const Vec3& v) const {
    return row[0] * v.x + row[1] * v.y + row[2] * v.z;
  }
  constexpr Mat3 operator*(const Mat3& o) const {
    Mat3 m;
    for (int i = 0; i < 3; ++i) {
      m.row[i] = {row[i].x * o.row[0].x + row[i].y * o.row[1].x + row[i].z * o.row[2].x,
                  row[i].x * o.row[0].y + row[i].y * o.row[1].y + row[i].z * o.row[2].y,
                  row[i].x * o.row[0].z + row[i].y * o.row[1].z + row[i].z * o.row[2].z};
    }
    return m;
  }
  // Column i, i.e. the image of the i-th basis vector.
  constexpr Vec3 Column(int i) const {
    return i == 0 ? Vec3{row[0].x, row[1].x, row[2].x}
         : i == 1 ? Vec3{row[0].y, row[1].y, row[2].y}
                  : Vec3{row[0].z, row[1].z, row[2].z};
  }
};

// Right-handed rotations by `angle` radians about the x, y and z axes.
inline Mat3 RotationX(double angle) {
  const double c = std::cos(angle), s = std::sin(angle);
  Mat3 m;
  m.row[0] = {1, 0, 0};
  m.row[1] = {0, c, -s};
  m.row[2] = {0, s, c};
  return m;
}
inline Mat3 RotationY(double angle) {
  const double c = std::cos(angle), s = std::sin(angle);
  Mat3 m;
  m.row[0] = {c, 0, s};
  m.row[1] = {0, 1, 0};
  m.row[2] = {-s, 0, c};
  return m;
}
inline Mat3 RotationZ(double angle) {
  const double c = std::cos(angle), s = std::sin(angle);
  Mat3 m;
  m.row[0] = {c, -s, 0};
  m.row[1] = {s, c, 0};
  m.row[2] = {0, 0, 1};
  return m;
}

}  // namespace datagen
}  // namespace slimserve

#endif  // SLIMSERVE_TOOLS_DATAGEN_VEC_H_
