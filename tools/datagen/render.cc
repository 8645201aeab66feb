// Ray casting: shape intersections, solid textures, shading and the ground
// truth buffers. See scene.h for the contracts.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "tools/datagen/rng.h"
#include "tools/datagen/scene.h"
#include "tools/datagen/vec.h"

namespace slimserve {
namespace datagen {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

// ---------------------------------------------------------------------------
// Intersections in an object's local frame. Each returns the nearest t in
// (t_min, t_max) where the ray o + t * d (d unit) meets the surface, and the
// outward unit normal there (local frame), or false.

bool IntersectSphere(const Vec3& o, const Vec3& d, double r, double t_min,
                     double t_max, double* t, Vec3* n) {
  const double b = Dot(o, d);
  const double c = Dot(o, o) - r * r;
  const double h = b * b - c;
  if (h < 0) return false;
  const double sh = std::sqrt(h);
  double root = -b - sh;
  if (!(root > t_min && root < t_max)) {
    root = -b + sh;
    if (!(root > t_min && root < t_max)) return false;
  }
  *t = root;
  *n = (o + d * root) / r;
  return true;
}

// Axis-aligned box [-e, e]. Only entry points count, so a ray starting
// inside the box does not hit it (rays never start inside objects).
bool IntersectBox(const Vec3& o, const Vec3& d, const Vec3& e, double t_min,
                  double t_max, double* t, Vec3* n) {
  const double oc[3] = {o.x, o.y, o.z};
  const double dc[3] = {d.x, d.y, d.z};
  const double ec[3] = {e.x, e.y, e.z};
  double t_near = -kInf, t_far = kInf;
  int axis = -1;
  double sign = 0;
  for (int i = 0; i < 3; ++i) {
    if (dc[i] == 0) {
      if (oc[i] < -ec[i] || oc[i] > ec[i]) return false;
      continue;
    }
    double t1 = (-ec[i] - oc[i]) / dc[i];
    double t2 = (ec[i] - oc[i]) / dc[i];
    // Entering through the face whose outward normal opposes d.
    const double s = dc[i] > 0 ? -1.0 : 1.0;
    if (t1 > t2) std::swap(t1, t2);
    if (t1 > t_near) {
      t_near = t1;
      axis = i;
      sign = s;
    }
    t_far = std::min(t_far, t2);
  }
  if (axis < 0 || t_near > t_far || !(t_near > t_min && t_near < t_max)) {
    return false;
  }
  *t = t_near;
  *n = Vec3{axis == 0 ? sign : 0, axis == 1 ? sign : 0, axis == 2 ? sign : 0};
  return true;
}

// Truncated cone around the y axis, y in [-h, h], radius rb at y = -h and rt
// at y = +h, with its caps. rb == rt is a cylinder, rt == 0 a pointed cone.
bool IntersectFrustum(const Vec3& o, const Vec3& d, double rb, double rt,
                      double h, double t_min, double t_max, double* t,
                      Vec3* n) {
  bool found = false;
  double best = t_max;
  // Lateral surface: x^2 + z^2 = r(y)^2 with r(y) = a + k * y.
  const double k = (rt - rb) / (2 * h);
  const double a = rb + k * h;
  const double r0 = a + k * o.y;  // r at the origin's height.
  const double qa = d.x * d.x + d.z * d.z - k * k * d.y * d.y;
  const double qb = o.x * d.x + o.z * d.z - k * r0 * d.y;  // Half of B.
  const double qc = o.x * o.x + o.z * o.z - r0 * r0;
  double roots[2];
  int num_roots = 0;
  if (std::abs(qa) > 1e-12) {
    const double disc = qb * qb - qa * qc;
    if (disc >= 0) {
      const double sd = std::sqrt(disc);
      roots[0] = (-qb - sd) / qa;
      roots[1] = (-qb + sd) / qa;
      num_roots = 2;
    }
  } else if (qb != 0) {
    roots[0] = -qc / (2 * qb);
    num_roots = 1;
  }
  for (int i = 0; i < num_roots; ++i) {
    const double ti = roots[i];
    if (!(ti > t_min && ti < best)) continue;
    const Vec3 p = o + d * ti;
    if (p.y < -h || p.y > h) continue;
    const double r = a + k * p.y;
    if (r < 0) continue;  // The mirrored nappe of the double cone.
    best = ti;
    *n = Normalize(Vec3{p.x, -k * r, p.z});
    found = true;
  }
  // Caps.
  if (d.y != 0) {
    const double cap_y[2] = {-h, h};
    const double cap_r[2] = {rb, rt};
    for (int i = 0; i < 2; ++i) {
      if (cap_r[i] <= 0) continue;
      const double ti = (cap_y[i] - o.y) / d.y;
      if (!(ti > t_min && ti < best)) continue;
      const Vec3 p = o + d * ti;
      if (p.x * p.x + p.z * p.z > cap_r[i] * cap_r[i]) continue;
      best = ti;
      *n = Vec3{0, i == 0 ? -1.0 : 1.0, 0};
      found = true;
    }
  }
  if (found) *t = best;
  return found;
}

// Signed distance to the torus with tube radius r around the circle of
// radius R in the xz plane (exact, 1-Lipschitz).
inline double TorusDistance(const Vec3& p, double R, double r) {
  const double q = std::sqrt(p.x * p.x + p.z * p.z) - R;
  return std::sqrt(q * q + p.y * p.y) - r;
}

// Torus by sphere tracing inside its bounding sphere: exact distances never
// step over the surface, and the march stops within 1e-7 m of it. A ray that
// only grazes the tube may exhaust the step budget; it then counts as a hit
// only if it came within 1e-4 m, so silhouettes are exact to a fraction of a
// millimetre.
bool IntersectTorus(const Vec3& o, const Vec3& d, double R, double r,
                    double t_min, double t_max, double* t, Vec3* n) {
  const double rb = R + r;
  const double b = Dot(o, d);
  const double h = b * b - (Dot(o, o) - rb * rb);
  if (h < 0) return false;
  const double sh = std::sqrt(h);
  double tt = std::max(-b - sh, t_min);
  const double t_end = std::min(-b + sh, t_max);
  if (tt >= t_end) return false;
  constexpr int kMaxSteps = 160;
  constexpr double kHitDistance = 1e-7;
  double dist = kInf;
  for (int step = 0; step < kMaxSteps; ++step) {
    dist = TorusDistance(o + d * tt, R, r);
    if (dist < kHitDistance) break;
    tt += dist;
    if (tt >= t_end) return false;
  }
  if (dist >= 1e-4 || !(tt > t_min)) return false;
  const Vec3 p = o + d * tt;
  const double rho = std::sqrt(p.x * p.x + p.z * p.z);
  // The nearest point of the centre circle; rho > 0 on the surface as r < R.
  const Vec3 c{p.x * (R / rho), 0, p.z * (R / rho)};
  *t = tt;
  *n = Normalize(p - c);
  return true;
}

// Radius of a sphere around the local origin containing the object.
double BoundingRadius(const Object& obj) {
  switch (obj.shape) {
    case Shape::kSphere:
      return obj.radius;
    case Shape::kBox:
      return Length(obj.half_extents);
    case Shape::kCylinder:
      return std::sqrt(obj.radius * obj.radius +
                       obj.half_height * obj.half_height);
    case Shape::kCone: {
      const double r = std::max(obj.radius, obj.top_radius);
      return std::sqrt(r * r + obj.half_height * obj.half_height);
    }
    case Shape::kTorus:
      return obj.radius + obj.minor_radius;
  }
  return 0;
}

bool IntersectLocal(const Object& obj, const Vec3& o, const Vec3& d,
                    double t_min, double t_max, double* t, Vec3* n) {
  switch (obj.shape) {
    case Shape::kSphere:
      return IntersectSphere(o, d, obj.radius, t_min, t_max, t, n);
    case Shape::kBox:
      return IntersectBox(o, d, obj.half_extents, t_min, t_max, t, n);
    case Shape::kCylinder:
      return IntersectFrustum(o, d, obj.radius, obj.radius, obj.half_height,
                              t_min, t_max, t, n);
    case Shape::kCone:
      return IntersectFrustum(o, d, obj.radius, obj.top_radius,
                              obj.half_height, t_min, t_max, t, n);
    case Shape::kTorus:
      return IntersectTorus(o, d, obj.radius, obj.minor_radius, t_min, t_max,
                            t, n);
  }
  return false;
}

// ---------------------------------------------------------------------------
// Textures.

// Uniform value in [0, 1) at an integer lattice point: one mix of the
// coordinates spread by large odd constants (plenty for a texture).
inline double LatticeValue(int64_t x, int64_t y, int64_t z, uint64_t seed) {
  const uint64_t h = Mix64(seed ^ (static_cast<uint64_t>(x) * 0x9E3779B97F4A7C15ULL) ^
                           (static_cast<uint64_t>(y) * 0xC2B2AE3D27D4EB4FULL) ^
                           (static_cast<uint64_t>(z) * 0x165667B19E3779F9ULL));
  return static_cast<double>(h >> 11) * 0x1.0p-53;
}

// Trilinearly interpolated value noise with a smoothstep fade, in [0, 1).
double ValueNoise(const Vec3& p, uint64_t seed) {
  const double fx = std::floor(p.x), fy = std::floor(p.y), fz = std::floor(p.z);
  const int64_t ix = static_cast<int64_t>(fx), iy = static_cast<int64_t>(fy),
                iz = static_cast<int64_t>(fz);
  double ux = p.x - fx, uy = p.y - fy, uz = p.z - fz;
  ux = ux * ux * (3 - 2 * ux);
  uy = uy * uy * (3 - 2 * uy);
  uz = uz * uz * (3 - 2 * uz);
  double c[2][2];
  for (int dz = 0; dz < 2; ++dz) {
    for (int dy = 0; dy < 2; ++dy) {
      const double v0 = LatticeValue(ix, iy + dy, iz + dz, seed);
      const double v1 = LatticeValue(ix + 1, iy + dy, iz + dz, seed);
      c[dz][dy] = v0 + (v1 - v0) * ux;
    }
  }
  const double c0 = c[0][0] + (c[0][1] - c[0][0]) * uy;
  const double c1 = c[1][0] + (c[1][1] - c[1][0]) * uy;
  return c0 + (c1 - c0) * uz;
}

// Parity of floor(v): patterns are offset by half a cell so that the
// planes at integer coordinates (the floor, box faces at round sizes) do not
// sit on a cell boundary.
inline bool OddCell(double v) {
  return (static_cast<int64_t>(std::floor(v + 0.5)) & 1) != 0;
}

Vec3 Albedo(const Material& m, const Vec3& p) {
  switch (m.texture) {
    case Texture::kSolid:
      return m.albedo;
    case Texture::kChecker: {
      const Vec3 q = p / m.scale;
      return (OddCell(q.x) ^ OddCell(q.y) ^ OddCell(q.z)) ? m.albedo2
                                                         : m.albedo;
    }
    case Texture::kStripes:
      return OddCell(Dot(p, m.axis) / m.scale) ? m.albedo2 : m.albedo;
    case Texture::kNoise: {
      const Vec3 q = p / m.scale;
      const double v = 0.65 * ValueNoise(q, m.noise_seed) +
                       0.35 * ValueNoise(q * 2.03 + Vec3{17.1, 5.3, 9.7},
                                         m.noise_seed + 1);
      return m.albedo + (m.albedo2 - m.albedo) * v;
    }
  }
  return m.albedo;
}

// ---------------------------------------------------------------------------
// Tracing.

// An object with its world-space bounding sphere, for quick rejection.
struct Prepared {
  const Object* object;
  Vec3 center;
  double radius2;  // Squared bounding radius.
};

struct SurfaceHit {
  double t = kInf;
  int instance = -1;
  Vec3 normal;  // World, unit, outward (objects) or into the room (planes).
  Vec3 local;   // Hit point in the texture frame.
};

// Could the ray hit the bounding sphere of `p` before `t_max`?
inline bool MayHit(const Prepared& p, const Vec3& o, const Vec3& d,
                   double t_max) {
  const Vec3 oc = o - p.center;
  const double b = Dot(oc, d);
  const double c = Dot(oc, oc) - p.radius2;
  if (c > 0 && b > 0) return false;  // Outside and moving away.
  const double h = b * b - c;
  if (h < 0) return false;
  // Nearest possible hit: -b - sqrt(h) (or 0 when starting inside).
  return c <= 0 || -b - std::sqrt(h) < t_max;
}

// Nearest object hit before t_max, if any, into *hit.
void TraceObjects(const std::vector<Prepared>& objects, const Vec3& o,
                  const Vec3& d, SurfaceHit* hit) {
  for (size_t i = 0; i < objects.size(); ++i) {
    const Prepared& p = objects[i];
    if (!MayHit(p, o, d, hit->t)) continue;
    const Object& obj = *p.object;
    const Vec3 lo = obj.rotation.TransposeTimes(o - obj.center);
    const Vec3 ld = obj.rotation.TransposeTimes(d);
    double t;
    Vec3 n;
    if (IntersectLocal(obj, lo, ld, 0, hit->t, &t, &n)) {
      hit->t = t;
      hit->instance = kFirstObjectInstance + static_cast<int>(i);
      hit->normal = obj.rotation * n;
      hit->local = lo + ld * t;
    }
  }
}

// Is any object hit in (0, t_max)?
bool Occluded(const std::vector<Prepared>& objects, const Vec3& o,
              const Vec3& d, double t_max) {
  for (const Prepared& p : objects) {
    if (!MayHit(p, o, d, t_max)) continue;
    const Object& obj = *p.object;
    double t;
    Vec3 n;
    if (IntersectLocal(obj, obj.rotation.TransposeTimes(o - obj.center),
                       obj.rotation.TransposeTimes(d), 0, t_max, &t, &n)) {
      return true;
    }
  }
  return false;
}

// Where the ray, starting inside the room, leaves it.
void TraceRoom(const Room& room, const Vec3& o, const Vec3& d,
               SurfaceHit* hit) {
  const double hw = room.width / 2;
  double t = kInf;
  int instance = -1;
  Vec3 normal;
  auto consider = [&](double ti, int inst, const Vec3& ni) {
    if (ti < t) {
      t = ti;
      instance = inst;
      normal = ni;
    }
  };
  if (d.x > 0) consider((hw - o.x) / d.x, kRightWallInstance, {-1, 0, 0});
  if (d.x < 0) consider((-hw - o.x) / d.x, kLeftWallInstance, {1, 0, 0});
  if (d.y > 0) consider((room.height - o.y) / d.y, kCeilingInstance, {0, -1, 0});
  if (d.y < 0) consider(-o.y / d.y, kFloorInstance, {0, 1, 0});
  if (d.z > 0) consider(-o.z / d.z, kFrontWallInstance, {0, 0, -1});
  if (d.z < 0) consider((-room.depth - o.z) / d.z, kBackWallInstance, {0, 0, 1});
  hit->t = t;
  hit->instance = instance;
  hit->normal = normal;
  hit->local = o + d * t;
}

ClassId InstanceClass(const Scene& scene, int instance) {
  switch (instance) {
    case kFloorInstance:
      return kFloor;
    case kCeilingInstance:
      return kCeiling;
    case kLeftWallInstance:
    case kRightWallInstance:
    case kBackWallInstance:
    case kFrontWallInstance:
      return kWall;
    default:
      return ShapeClass(scene.objects[instance - kFirstObjectInstance].shape);
  }
}

const Material& InstanceMaterial(const Scene& scene, int instance) {
  switch (instance) {
    case kFloorInstance:
      return scene.room.floor;
    case kCeilingInstance:
      return scene.room.ceiling;
    case kLeftWallInstance:
    case kRightWallInstance:
    case kBackWallInstance:
    case kFrontWallInstance:
      return scene.room.wall;
    default:
      return scene.objects[instance - kFirstObjectInstance].material;
  }
}

// ---------------------------------------------------------------------------
// Edges.

// Does p's tangent plane fail to predict q's depth (see
// RenderOptions::edge_depth_threshold)? r_q is q's camera-frame ray with
// z = 1, so a point at depth z on it is z * r_q.
inline bool Unpredicted(const Vec3& n_p, const Vec3& x_p, const Vec3& r_q,
                        double z_q, double threshold) {
  const double denom = Dot(n_p, r_q);
  if (std::abs(denom) < 1e-12) return true;
  const double z_pred = Dot(n_p, x_p) / denom;
  return !(z_pred > 0) || std::abs(z_q - z_pred) > threshold * z_q;
}

// Which pixel of an edge pair (i, j) to mark, see
// RenderOptions::edge_depth_threshold.
inline size_t EdgeSide(size_t i, size_t j, const Sample& s, double threshold) {
  const double zi = s.depth[i], zj = s.depth[j];
  const bool occlusion = std::abs(zi - zj) > threshold * std::min(zi, zj);
  if (occlusion || s.instance[i] == s.instance[j]) return zj < zi ? j : i;
  return s.instance[j] > s.instance[i] ? j : i;
}

void ComputeEdges(const Camera& cam, double threshold, Sample* s) {
  const int w = s->width, h = s->height;
  auto ray = [&](int x, int y) {
    return Vec3{(x - cam.cx) / cam.fx, (y - cam.cy) / cam.fy, 1.0};
  };
  auto normal = [&](int i) {
    return Vec3{s->normals[3 * i], s->normals[3 * i + 1], s->normals[3 * i + 2]};
  };
  // Considers the pair (i at (x0, y0), j at (x1, y1)) and marks the nearer.
  auto pair = [&](int x0, int y0, int x1, int y1) {
    const int i = y0 * w + x0, j = y1 * w + x1;
    bool edge = s->instance[i] != s->instance[j];
    // The room's planes predict themselves exactly: skip the test there.
    if (!edge && s->instance[i] >= kFirstObjectInstance) {
      const double zi = s->depth[i], zj = s->depth[j];
      const Vec3 ri = ray(x0, y0), rj = ray(x1, y1);
      edge = Unpredicted(normal(i), ri * zi, rj, zj, threshold) &&
             Unpredicted(normal(j), rj * zj, ri, zi, threshold);
    }
    if (edge) s->edges[EdgeSide(i, j, *s, threshold)] = 1;
  };
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) {
      if (x + 1 < w) pair(x, y, x + 1, y);
      if (y + 1 < h) pair(x, y, x, y + 1);
    }
  }
}

}  // namespace

// ---------------------------------------------------------------------------

Vec3 Camera::Forward() const {
  return {std::cos(pitch) * std::sin(yaw), std::sin(pitch),
          -std::cos(pitch) * std::cos(yaw)};
}

Vec3 Camera::Right() const { return {std::cos(yaw), 0, std::sin(yaw)}; }

Vec3 Camera::Down() const { return Cross(Forward(), Right()); }

bool IntersectObject(const Object& object, const Vec3& origin, const Vec3& dir,
                     double t_min, double t_max, double* t, Vec3* normal) {
  Vec3 n;
  if (!IntersectLocal(object,
                      object.rotation.TransposeTimes(origin - object.center),
                      object.rotation.TransposeTimes(dir), t_min, t_max, t,
                      &n)) {
    return false;
  }
  *normal = object.rotation * n;
  return true;
}

Sample RenderScene(const Scene& scene, const Camera& camera,
                   const RenderOptions& options) {
  Sample sample;
  RenderScene(scene, camera, options, &sample);
  return sample;
}

void RenderScene(const Scene& scene, const Camera& cam,
                 const RenderOptions& options, Sample* sample) {
  const int w = cam.width, h = cam.height;
  const size_t n = static_cast<size_t>(w) * h;
  Sample& s = *sample;
  // Every element is overwritten below; resize() keeps the capacity.
  s.height = h;
  s.width = w;
  s.rgb.resize(3 * n);
  s.semantic.resize(n);
  s.instance.resize(n);
  s.depth.resize(n);
  s.normals.resize(3 * n);
  s.edges.assign(n, 0);
  s.fx = static_cast<float>(cam.fx);
  s.fy = static_cast<float>(cam.fy);
  s.cx = static_cast<float>(cam.cx);
  s.cy = static_cast<float>(cam.cy);

  std::vector<Prepared> objects;
  objects.reserve(scene.objects.size());
  for (const Object& obj : scene.objects) {
    const double r = BoundingRadius(obj);
    objects.push_back({&obj, obj.center, r * r});
  }

  const Vec3 forward = cam.Forward(), right = cam.Right(), down = cam.Down();
  const Light& light = scene.light;
  // Gamma-encoded radiance before exposure, sqrt(c) in units of 2^-14
  // (radiance stays below 2 by construction; saturates at 16).
  std::vector<uint16_t> encoded(3 * n);
  auto encode = [](double c) {
    return static_cast<uint16_t>(std::min(65535.0, std::sqrt(c) * 16384 + 0.5));
  };
  double luminance_sum = 0;

  for (int y = 0; y < h; ++y) {
    const double ry = (y - cam.cy) / cam.fy;
    for (int x = 0; x < w; ++x) {
      const size_t i = static_cast<size_t>(y) * w + x;
      const double rx = (x - cam.cx) / cam.fx;
      const Vec3 ray_world = right * rx + down * ry + forward;
      const double ray_length = Length(ray_world);
      const Vec3 d = ray_world / ray_length;

      SurfaceHit hit;
      TraceRoom(scene.room, cam.position, d, &hit);
      TraceObjects(objects, cam.position, d, &hit);

      // Camera-frame z of the point: the ray (rx, ry, 1) has z = 1.
      s.depth[i] = static_cast<float>(hit.t / ray_length);
      s.instance[i] = static_cast<uint16_t>(hit.instance);
      s.semantic[i] = InstanceClass(scene, hit.instance);
      Vec3 normal = hit.normal;
      if (Dot(normal, d) > 0) normal = -normal;  // Face the camera.
      s.normals[3 * i] = static_cast<float>(Dot(normal, right));
      s.normals[3 * i + 1] = static_cast<float>(Dot(normal, down));
      s.normals[3 * i + 2] = static_cast<float>(Dot(normal, forward));

      // Lambertian shading with a hard shadow.
      const Vec3 p = cam.position + d * hit.t;
      const Vec3 to_light = light.position - p;
      const double dist2 = Dot(to_light, to_light);
      const double dist = std::sqrt(dist2);
      const Vec3 l = to_light / dist;
      const double cosine = Dot(normal, l);
      double irradiance = light.ambient;
      if (cosine > 0) {
        const Vec3 origin = p + normal * 1e-5;
        if (!Occluded(objects, origin, l, dist)) {
          irradiance +=
              light.intensity * cosine / (1 + light.falloff * dist2);
        }
      }
      const Vec3 c = Albedo(InstanceMaterial(scene, hit.instance), hit.local) *
                     light.color * irradiance;
      encoded[3 * i] = encode(c.x);
      encoded[3 * i + 1] = encode(c.y);
      encoded[3 * i + 2] = encode(c.z);
      luminance_sum += 0.2126 * c.x + 0.7152 * c.y + 0.0722 * c.z;
    }
  }

  // Exposure, gamma 2, sensor noise, quantisation.
  double exposure = 1.0;
  if (options.target_brightness > 0 && luminance_sum > 0) {
    exposure = std::clamp(options.target_brightness * n / luminance_sum, 0.5,
                          4.0);
  }
  // Gamma 2 commutes with the exposure: sqrt(c * e) = sqrt(c) * sqrt(e).
  const double gain = 255.0 / 16384 * std::sqrt(exposure);
  Rng noise(options.noise_seed);
  const double sigma = options.noise_stddev;
  for (size_t k = 0; k < 3 * n; ++k) {
    double v = std::min(255.0, encoded[k] * gain);
    if (sigma > 0) v += sigma * noise.Gaussianish();
    s.rgb[k] = static_cast<uint8_t>(std::clamp(v + 0.5, 0.0, 255.0));
  }

  ComputeEdges(cam, options.edge_depth_threshold, &s);
}

}  // namespace datagen
}  // namespace slimserve
