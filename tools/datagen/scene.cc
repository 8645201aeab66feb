// Class names and the random scene generator. See scene.h.

#include "tools/datagen/scene.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "absl/strings/str_cat.h"
#include "tools/datagen/rng.h"

namespace slimserve {
namespace datagen {
namespace {

constexpr double kPi = 3.14159265358979323846;
constexpr double kDegree = kPi / 180;

// sRGB-ish HSV to linear-ish RGB; h wraps, s and v in [0, 1].
Vec3 Hsv(double h, double s, double v) {
  h -= std::floor(h);
  const double h6 = h * 6;
  const int sector = std::min(5, static_cast<int>(h6));
  const double f = h6 - sector;
  const double p = v * (1 - s), q = v * (1 - s * f), t = v * (1 - s * (1 - f));
  switch (sector) {
    case 0: return {v, t, p};
    case 1: return {q, v, p};
    case 2: return {p, v, t};
    case 3: return {p, q, v};
    case 4: return {t, p, v};
    default: return {v, p, q};
  }
}

// The albedos are reflectances in linear space; colours picked in a
// perceptual (gamma 2) space are squared.
Vec3 Linear(const Vec3& c) { return c * c; }

// A second colour for a pattern: a darker or lighter shade of the same hue,
// or, sometimes, a contrasting hue.
Vec3 PatternColor(Rng& rng, double hue, double sat, double val) {
  if (rng.Bernoulli(0.3)) {
    return Linear(Hsv(hue + rng.Uniform(0.25, 0.75), sat, val));
  }
  const double v2 = val > 0.55 ? val * rng.Uniform(0.35, 0.7)
                               : std::min(1.0, val * rng.Uniform(1.5, 2.0));
  return Linear(Hsv(hue + rng.Uniform(-0.05, 0.05), sat, v2));
}

Material ObjectMaterial(Rng& rng) {
  Material m;
  const double hue = rng.Uniform();
  const double sat = rng.Uniform(0.35, 0.9);
  const double val = rng.Uniform(0.45, 0.95);
  m.albedo = Linear(Hsv(hue, sat, val));
  m.albedo2 = PatternColor(rng, hue, sat, val);
  const int kind = rng.UniformInt(0, 9);
  m.texture = kind < 3   ? Texture::kSolid
              : kind < 6 ? Texture::kChecker
              : kind < 8 ? Texture::kStripes
                         : Texture::kNoise;
  m.scale = m.texture == Texture::kNoise ? rng.Uniform(0.04, 0.12)
                                         : rng.Uniform(0.05, 0.15);
  // Stripes along, across or diagonal to the object's axis.
  const int axis = rng.UniformInt(0, 2);
  m.axis = axis == 0 ? Vec3{0, 1, 0}
           : axis == 1 ? Vec3{1, 0, 0}
                       : Normalize(Vec3{1, 1, 0});
  m.noise_seed = rng.Next();
  return m;
}

Material FloorMaterial(Rng& rng) {
  Material m;
  const int kind = rng.UniformInt(0, 2);
  if (kind == 0) {  // Wooden planks along the room's depth.
    const double hue = rng.Uniform(0.05, 0.11);
    const double val = rng.Uniform(0.4, 0.7);
    m.albedo = Linear(Hsv(hue, rng.Uniform(0.4, 0.7), val));
    m.albedo2 = Linear(Hsv(hue, rng.Uniform(0.4, 0.7), val * rng.Uniform(0.7, 0.85)));
    m.texture = Texture::kStripes;
    m.axis = {1, 0, 0};
    m.scale = rng.Uniform(0.12, 0.25);
  } else if (kind == 1) {  // Tiles.
    const double hue = rng.Uniform();
    const double sat = rng.Uniform(0.0, 0.3);
    const double val = rng.Uniform(0.5, 0.85);
    m.albedo = Linear(Hsv(hue, sat, val));
    m.albedo2 = Linear(Hsv(hue, sat, val * rng.Uniform(0.55, 0.8)));
    m.texture = Texture::kChecker;
    m.scale = rng.Uniform(0.3, 0.6);
  } else {  // Carpet.
    const double hue = rng.Uniform();
    const double sat = rng.Uniform(0.1, 0.5);
    const double val = rng.Uniform(0.3, 0.6);
    m.albedo = Linear(Hsv(hue, sat, val));
    m.albedo2 = Linear(Hsv(hue, sat, val * rng.Uniform(0.6, 0.8)));
    m.texture = Texture::kNoise;
    m.scale = rng.Uniform(0.03, 0.1);
  }
  m.noise_seed = rng.Next();
  return m;
}

Material WallMaterial(Rng& rng) {
  Material m;
  const double hue = rng.Uniform();
  const double sat = rng.Uniform(0.0, 0.3);
  const double val = rng.Uniform(0.6, 0.95);
  m.albedo = Linear(Hsv(hue, sat, val));
  m.albedo2 = Linear(Hsv(hue + rng.Uniform(-0.1, 0.1), sat, val * rng.Uniform(0.75, 0.9)));
  const int kind = rng.UniformInt(0, 3);
  m.texture = kind < 2 ? Texture::kSolid
              : kind < 3 ? Texture::kStripes
                         : Texture::kNoise;
  // Vertical stripes on all four walls: across x + z.
  m.axis = Normalize(Vec3{1, 0, 1});
  m.scale = m.texture == Texture::kNoise ? rng.Uniform(0.2, 0.5)
                                         : rng.Uniform(0.08, 0.3);
  m.noise_seed = rng.Next();
  return m;
}

Material CeilingMaterial(Rng& rng) {
  Material m;
  m.albedo = Linear(Hsv(rng.Uniform(), rng.Uniform(0.0, 0.1), rng.Uniform(0.8, 0.95)));
  m.texture = Texture::kSolid;
  return m;
}

// An object of the given shape, sized by `scale` (1 nominal), with its local
// frame at the origin. *support: distance from its centre down to its lowest
// point; *footprint: radius of a vertical cylinder around its centre that
// contains it.
Object RandomObject(Rng& rng, Shape shape, double scale, double* support,
                    double* footprint) {
  Object obj;
  obj.shape = shape;
  Mat3 tilt;  // Identity: upright.
  switch (shape) {
    case Shape::kSphere:
      obj.radius = rng.Uniform(0.15, 0.5) * scale;
      *support = obj.radius;
      *footprint = obj.radius;
      break;
    case Shape::kBox:
      obj.half_extents = Vec3{rng.Uniform(0.15, 0.65), rng.Uniform(0.12, 0.55),
                              rng.Uniform(0.15, 0.65)} * scale;
      *support = obj.half_extents.y;
      *footprint = std::sqrt(obj.half_extents.x * obj.half_extents.x +
                             obj.half_extents.z * obj.half_extents.z);
      break;
    case Shape::kCylinder:
      obj.radius = rng.Uniform(0.1, 0.4) * scale;
      obj.half_height = rng.Uniform(0.15, 0.65) * scale;
      if (rng.Bernoulli(0.3) && obj.half_height < 0.45 * scale) {  // Lying.
        tilt = RotationZ(kPi / 2);
        *support = obj.radius;
        *footprint = std::sqrt(obj.radius * obj.radius +
                               obj.half_height * obj.half_height);
      } else {
        *support = obj.half_height;
        *footprint = obj.radius;
      }
      break;
    case Shape::kCone:
      obj.radius = rng.Uniform(0.15, 0.45) * scale;
      obj.half_height = rng.Uniform(0.2, 0.6) * scale;
      obj.top_radius =
          rng.Bernoulli(0.5) ? 0.0 : obj.radius * rng.Uniform(0.15, 0.6);
      *support = obj.half_height;
      *footprint = obj.radius;
      break;
    case Shape::kTorus:
      obj.radius = rng.Uniform(0.2, 0.45) * scale;
      obj.minor_radius = obj.radius * rng.Uniform(0.18, 0.4);
      *footprint = obj.radius + obj.minor_radius;
      if (rng.Bernoulli(0.3)) {  // Standing on its rim.
        tilt = RotationX(kPi / 2);
        *support = obj.radius + obj.minor_radius;
      } else {
        *support = obj.minor_radius;
      }
      break;
  }
  obj.rotation = RotationY(rng.Uniform(0, 2 * kPi)) * tilt;
  obj.material = ObjectMaterial(rng);
  return obj;
}

// Placement bookkeeping for one object.
struct Placed {
  double x, z, footprint;
  double top;        // Height of its highest point.
  bool is_box;
  bool has_on_top;   // Something stands on it (boxes only).
};

}  // namespace

const char* ClassName(int class_id) {
  static constexpr const char* kNames[kNumClasses] = {
      "floor", "wall", "ceiling", "sphere", "box", "cylinder", "cone", "torus"};
  if (class_id < 0 || class_id >= kNumClasses) return "unknown";
  return kNames[class_id];
}

std::array<uint8_t, 3> ClassColor(int class_id) {
  static constexpr std::array<uint8_t, 3> kColors[kNumClasses] = {
      {{140, 100, 60}},   // floor: brown
      {{180, 180, 170}},  // wall: light grey
      {{240, 240, 200}},  // ceiling: cream
      {{220, 40, 40}},    // sphere: red
      {{40, 90, 220}},    // box: blue
      {{40, 180, 60}},    // cylinder: green
      {{240, 200, 20}},   // cone: yellow
      {{200, 50, 200}},   // torus: magenta
  };
  if (class_id < 0 || class_id >= kNumClasses) return {{0, 0, 0}};
  return kColors[class_id];
}

ClassId ShapeClass(Shape shape) {
  switch (shape) {
    case Shape::kSphere: return kSphere;
    case Shape::kBox: return kBox;
    case Shape::kCylinder: return kCylinder;
    case Shape::kCone: return kCone;
    case Shape::kTorus: return kTorus;
  }
  return kSphere;
}

absl::Status ValidateSceneOptions(const SceneOptions& o) {
  auto bad = [](const std::string& what) {
    return absl::InvalidArgumentError(absl::StrCat("SceneOptions: ", what));
  };
  auto range = [&](const char* name, double lo, double hi, double min_lo,
                   double max_hi) -> absl::Status {
    if (!(lo >= min_lo && lo <= hi && hi <= max_hi)) {
      return bad(absl::StrCat(name, " range [", lo, ", ", hi,
                              "] must satisfy ", min_lo, " <= min <= max <= ",
                              max_hi));
    }
    return absl::OkStatus();
  };
  if (o.height < 1 || o.height > 8192 || o.width < 1 || o.width > 8192) {
    return bad(absl::StrCat("image size ", o.height, "x", o.width,
                            " must be within 1..8192 each"));
  }
  absl::Status s;
  if (!(s = range("room_width", o.room_width_min, o.room_width_max, 2.5, 50)).ok()) return s;
  if (!(s = range("room_depth", o.room_depth_min, o.room_depth_max, 3.0, 50)).ok()) return s;
  if (!(s = range("room_height", o.room_height_min, o.room_height_max, 2.2, 20)).ok()) return s;
  if (!(s = range("hfov_deg", o.hfov_deg_min, o.hfov_deg_max, 10, 150)).ok()) return s;
  if (!(s = range("camera_height", o.camera_height_min, o.camera_height_max, 0.2,
                  o.room_height_min - 0.3)).ok()) {
    return s;
  }
  if (!(s = range("pitch_deg", o.pitch_deg_min, o.pitch_deg_max, -80, 80)).ok()) return s;
  if (!(o.yaw_deg_max >= 0 && o.yaw_deg_max <= 90)) {
    return bad(absl::StrCat("yaw_deg_max ", o.yaw_deg_max, " must be in [0, 90]"));
  }
  if (o.min_objects < 0 || o.min_objects > o.max_objects || o.max_objects > 64) {
    return bad(absl::StrCat("objects range [", o.min_objects, ", ", o.max_objects,
                            "] must satisfy 0 <= min <= max <= 64"));
  }
  if (!(o.stack_probability >= 0 && o.stack_probability <= 1)) {
    return bad(absl::StrCat("stack_probability ", o.stack_probability,
                            " must be in [0, 1]"));
  }
  if (!(o.noise_stddev >= 0 && o.noise_stddev <= 100)) {
    return bad(absl::StrCat("noise_stddev ", o.noise_stddev, " must be in [0, 100]"));
  }
  if (!(o.edge_depth_threshold > 0)) {
    return bad(absl::StrCat("edge_depth_threshold ", o.edge_depth_threshold,
                            " must be > 0"));
  }
  return absl::OkStatus();
}

GeneratedScene GenerateScene(const SceneOptions& options, uint64_t seed,
                             uint64_t index) {
  if (absl::Status status = ValidateSceneOptions(options); !status.ok()) {
    std::fprintf(stderr, "datagen::GenerateScene: %s\n",
                 std::string(status.message()).c_str());
    std::abort();
  }
  // Independent streams for the layout and the sensor noise, so that
  // changing the noise level keeps the scene.
  const uint64_t key = HashCombine(seed, index);
  Rng rng(HashCombine(key, 1));

  GeneratedScene g;
  Scene& scene = g.scene;
  Camera& cam = g.camera;
  g.render.noise_stddev = options.noise_stddev;
  g.render.noise_seed = HashCombine(key, 2);
  g.render.edge_depth_threshold = options.edge_depth_threshold;

  // Room.
  Room& room = scene.room;
  room.width = rng.Uniform(options.room_width_min, options.room_width_max);
  room.depth = rng.Uniform(options.room_depth_min, options.room_depth_max);
  room.height = rng.Uniform(options.room_height_min, options.room_height_max);
  room.floor = FloorMaterial(rng);
  room.wall = WallMaterial(rng);
  room.ceiling = CeilingMaterial(rng);

  // Camera.
  cam.width = options.width;
  cam.height = options.height;
  const double hfov = rng.Uniform(options.hfov_deg_min, options.hfov_deg_max) * kDegree;
  cam.fx = cam.fy = 0.5 * options.width / std::tan(hfov / 2);
  cam.cx = 0.5 * (options.width - 1);
  cam.cy = 0.5 * (options.height - 1);
  const double cam_x_max = room.width / 2 - 0.6;
  cam.position = {rng.Uniform(-cam_x_max, cam_x_max),
                  rng.Uniform(options.camera_height_min,
                              std::min(options.camera_height_max, room.height - 0.3)),
                  -rng.Uniform(0.3, 1.0)};
  cam.yaw = rng.Uniform(-options.yaw_deg_max, options.yaw_deg_max) * kDegree;
  // Look down enough to see the floor from 3 m on, where the objects stand:
  // the bottom row's ray must dip below the floor point 3 m ahead.
  const double half_vfov = std::atan(0.5 * options.height / cam.fy);
  const double pitch_cap =
      half_vfov - std::atan(cam.position.y / 3.0);  // Radians.
  const double pitch_lo = options.pitch_deg_min * kDegree;
  const double pitch_hi =
      std::max(pitch_lo, std::min(options.pitch_deg_max * kDegree, pitch_cap));
  cam.pitch = rng.Uniform(pitch_lo, pitch_hi);

  // Light, near the ceiling, above every object (see kMaxTop below).
  Light& light = scene.light;
  light.position = {rng.Uniform(-room.width / 2 + 0.4, room.width / 2 - 0.4),
                    room.height - rng.Uniform(0.15, 0.45),
                    -rng.Uniform(0.4, room.depth - 0.4)};
  light.color = {1.0, rng.Uniform(0.9, 1.0), rng.Uniform(0.75, 0.95)};
  light.intensity = rng.Uniform(0.9, 1.4);
  light.ambient = rng.Uniform(0.12, 0.3);
  light.falloff = 0.02;
  const double max_top = room.height - 0.6;

  // Objects.
  const int count = rng.UniformInt(options.min_objects, options.max_objects);
  std::vector<Placed> placed;
  const double half_fov = hfov / 2;
  const Vec3 cam_forward = cam.Forward(), cam_right = cam.Right(),
             cam_down = cam.Down();
  for (int k = 0; k < count; ++k) {
    const Shape shape = static_cast<Shape>(rng.UniformInt(0, 4));
    constexpr int kTries = 40;
    for (int attempt = 0; attempt < kTries; ++attempt) {
      const double scale = attempt < kTries / 2 ? 1.0 : 0.6;
      double support, footprint;
      Object obj = RandomObject(rng, shape, scale, &support, &footprint);

      // On top of an earlier box, if there is a free one wide enough.
      if (rng.Bernoulli(options.stack_probability)) {
        int box = -1;
        for (size_t b = 0; b < placed.size(); ++b) {
          const Object& o = scene.objects[b];
          if (placed[b].is_box && !placed[b].has_on_top &&
              std::min(o.half_extents.x, o.half_extents.z) >= 0.15) {
            box = static_cast<int>(b);
            break;
          }
        }
        if (box >= 0) {
          const Object& base = scene.objects[box];
          const double room_on_top =
              0.85 * std::min(base.half_extents.x, base.half_extents.z);
          if (footprint > room_on_top) {
            // Shrink to fit: every size scales linearly.
            obj = RandomObject(rng, shape, scale * room_on_top / footprint,
                               &support, &footprint);
            if (footprint > room_on_top) continue;
          }
          const double bottom = placed[box].top;
          if (bottom + 2 * support > max_top) continue;
          obj.center = {base.center.x, bottom + support, base.center.z};
          placed[box].has_on_top = true;
          placed.push_back({obj.center.x, obj.center.z, footprint,
                            bottom + 2 * support, shape == Shape::kBox, false});
          scene.objects.push_back(obj);
          break;
        }
      }

      // On the floor, in the camera's field of view.
      const double azimuth = cam.yaw + rng.Uniform(-0.9, 0.9) * half_fov;
      // Favour the near half of the room, as in NYUD's close-up views.
      const double u = rng.Uniform();
      const double distance = 1.0 + (room.depth - 1.0) * u * u;
      const double x = cam.position.x + distance * std::sin(azimuth);
      const double z = cam.position.z - distance * std::cos(azimuth);
      const double margin = footprint + 0.05;
      if (x < -room.width / 2 + margin || x > room.width / 2 - margin ||
          z < -room.depth + margin || z > -margin) {
        continue;
      }
      if (2 * support > max_top) continue;
      const double cdx = x - cam.position.x, cdz = z - cam.position.z;
      if (cdx * cdx + cdz * cdz < (footprint + 0.6) * (footprint + 0.6)) {
        continue;
      }
      // Its centre must project into the image (away from the border), so
      // that most objects are at least partly in view.
      const Vec3 rel = Vec3{x, support, z} - cam.position;
      const double zc = Dot(rel, cam_forward);
      if (zc < 0.5 ||
          std::abs(Dot(rel, cam_right) * cam.fx / zc) > 0.45 * cam.width ||
          std::abs(Dot(rel, cam_down) * cam.fy / zc) > 0.45 * cam.height) {
        continue;
      }
      bool overlaps = false;
      for (const Placed& p : placed) {
        const double dx = x - p.x, dz = z - p.z, r = footprint + p.footprint + 0.05;
        if (dx * dx + dz * dz < r * r) {
          overlaps = true;
          break;
        }
      }
      if (overlaps) continue;
      obj.center = {x, support, z};
      placed.push_back({x, z, footprint, 2 * support, shape == Shape::kBox, false});
      scene.objects.push_back(obj);
      break;
    }
  }
  return g;
}

Sample RenderSample(const SceneOptions& options, uint64_t seed,
                    uint64_t index) {
  Sample sample;
  RenderSample(options, seed, index, &sample);
  return sample;
}

void RenderSample(const SceneOptions& options, uint64_t seed, uint64_t index,
                  Sample* sample) {
  const GeneratedScene g = GenerateScene(options, seed, index);
  RenderScene(g.scene, g.camera, g.render, sample);
}

}  // namespace datagen
}  // namespace slimserve
