// Procedural training data for the four dense NYUD-v2 tasks: ray-cast indoor
// scenes (a room with a few primitive objects) rendered with exact ground
// truth for semantic segmentation, depth, surface normals and edges.
//
//   datagen::SceneOptions options;           // 96 x 128, NYUD's 3:4
//   datagen::Sample s = datagen::RenderSample(options, /*seed=*/1, /*index=*/i);
//   // s.rgb, s.semantic, s.depth, s.normals, s.edges: row-major, pixel (y, x)
//   // at [y * s.width + x] (times 3 for the HWC fields).
//
// Guarantees
//  - Deterministic: a sample depends only on (options, seed, index). Random
//    choices come from our own SplitMix64 (rng.h), never from <random>'s
//    distributions, and the library is built with -ffp-contract=off. The
//    scene layout uses std::sin/cos/tan on the camera and object angles; with
//    the same libm (e.g. glibc on x86-64) the bytes are identical across
//    machines, and another libm could at worst move a value by one rounding.
//  - Thread-safe and stateless: every function may be called concurrently;
//    there is no global or cached state.
//  - The room is closed, so every pixel sees a surface: depth > 0 and finite,
//    every normal is a unit vector, every class id is in [0, kNumClasses).
//
// Conventions
//  - World frame: metres, y up (OpenGL-like: x right, z towards the viewer at
//    zero yaw). The room is the box [-width/2, width/2] x [0, height] x
//    [-depth, 0]: floor y = 0, ceiling y = height, back wall z = -depth, the
//    wall behind the camera z = 0. The camera looks roughly towards -z.
//  - Camera frame (as OpenCV and NYUD): x right, y down, z forward. Pixel
//    (u, v) (column, row) has its centre at image coordinates (u, v); its ray
//    is ((u - cx) / fx, (v - cy) / fy, 1) in the camera frame.
//  - Depth: the camera-frame z of the visible point, in metres (not the ray
//    length), as NYUD's depth maps.
//  - Normals: unit vectors in the camera frame, oriented towards the camera:
//    dot(n, ray) <= 0 for the pixel's ray. Hence n.z <= 0 wherever the
//    surface is seen head-on or near the image centre; under perspective a
//    surface seen near the image border can have a slightly positive n.z
//    (e.g. a side wall when the camera is turned away from it).
//  - Edges: see RenderOptions::edge_depth_threshold.
//
// Implementation details are in scene.cc (generation) and render.cc.

#ifndef SLIMSERVE_TOOLS_DATAGEN_SCENE_H_
#define SLIMSERVE_TOOLS_DATAGEN_SCENE_H_

#include <array>
#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "tools/datagen/vec.h"

namespace slimserve {
namespace datagen {

// ---------------------------------------------------------------------------
// Semantic classes.

// The model spec's num_classes; ids are 0 .. kNumClasses - 1.
inline constexpr int kNumClasses = 8;

enum ClassId : uint8_t {
  kFloor = 0,
  kWall = 1,  // The four walls.
  kCeiling = 2,
  kSphere = 3,
  kBox = 4,
  kCylinder = 5,
  kCone = 6,  // Pointed cones and truncated cones (frusta).
  kTorus = 7,
};

// "floor", "wall", "ceiling", "sphere", "box", "cylinder", "cone", "torus";
// "unknown" for ids outside [0, kNumClasses).
const char* ClassName(int class_id);

// An sRGB display colour for each class (for humans looking at label maps);
// black for unknown ids.
std::array<uint8_t, 3> ClassColor(int class_id);

// ---------------------------------------------------------------------------
// Scene description: what RenderScene draws. RenderSample builds a random one
// with GenerateScene; tests build their own.

enum class Texture {
  kSolid,    // albedo everywhere.
  kChecker,  // 3-D checkerboard of cubes of side `scale`: albedo / albedo2.
  kStripes,  // Slabs of thickness `scale` across `axis`: albedo / albedo2.
  kNoise,    // Value noise of feature size `scale` blending albedo..albedo2.
};

// A solid (3-D) texture, evaluated at the surface point in the object's local
// frame (objects) or in world coordinates (room surfaces).
struct Material {
  Vec3 albedo{0.6, 0.6, 0.6};   // Linear RGB reflectance, each in [0, 1].
  Vec3 albedo2{0.3, 0.3, 0.3};  // Second colour of the patterned textures.
  Texture texture = Texture::kSolid;
  double scale = 0.2;         // Metres. REQUIRES > 0.
  Vec3 axis{0, 1, 0};         // kStripes: unit vector across the stripes.
  uint64_t noise_seed = 0;    // kNoise: selects the noise pattern.
};

enum class Shape { kSphere, kBox, kCylinder, kCone, kTorus };

// The semantic class of a shape (kSphere -> kSphere, ...).
ClassId ShapeClass(Shape shape);

// One object. Its local frame has its origin at `center`, and `rotation`
// takes local vectors to world; the shape's axis is the local y axis. Only
// the fields of the object's shape are read.
struct Object {
  Shape shape = Shape::kSphere;
  Vec3 center;
  Mat3 rotation;  // world_from_local; identity by default.
  // kSphere: radius. kCylinder: radius. kCone: radius of the base, at local
  // y = -half_height. kTorus: major radius (of the tube's centre circle, in
  // the local xz plane).
  double radius = 0.25;
  double top_radius = 0;      // kCone: radius at y = +half_height, 0: pointed.
  double half_height = 0.25;  // kCylinder, kCone: half the extent along y.
  double minor_radius = 0.08; // kTorus: tube radius. REQUIRES < radius.
  Vec3 half_extents{0.25, 0.25, 0.25};  // kBox.
  Material material;
};

struct Room {
  double width = 5.0;   // Along x.
  double depth = 6.0;   // Along -z.
  double height = 2.8;  // Along y.
  Material floor, wall, ceiling;
};

// One point light inside the room plus a uniform ambient term. The shading of
// a point p with albedo a and normal n is
//   a * color * (ambient + intensity * max(0, n.l) * visible / (1 + falloff * d^2))
// with l the unit vector to the light, d the distance to it and visible = 0
// when an object blocks the segment (hard shadows).
struct Light {
  Vec3 position{0, 2.5, -3};  // REQUIRES: inside the room, outside objects.
  Vec3 color{1, 1, 1};
  double intensity = 1.0;
  double ambient = 0.25;
  double falloff = 0.02;  // Per square metre.
};

struct Scene {
  Room room;
  Light light;
  std::vector<Object> objects;  // At most 65535 - kFirstObjectInstance.
};

// A pinhole camera, no distortion.
struct Camera {
  int width = 128;
  int height = 96;
  double fx = 104, fy = 104;    // Focal lengths, pixels.
  double cx = 63.5, cy = 47.5;  // Principal point, pixels (see conventions).
  Vec3 position{0, 1.5, -0.5};  // World. REQUIRES: inside the room.
  double yaw = 0;    // Radians; positive turns right (towards +x).
  double pitch = 0;  // Radians; positive looks up. REQUIRES |pitch| < pi/2.

  // The camera axes in world coordinates (unit, right-handed: Right() x
  // Down() = Forward()). Roll is always zero: Right() is horizontal.
  Vec3 Forward() const;
  Vec3 Right() const;
  Vec3 Down() const;
};

struct RenderOptions {
  // Sensor noise added to each 8-bit RGB value: zero-mean, this standard
  // deviation in 8-bit levels (an Irwin-Hall approximation of a Gaussian).
  double noise_stddev = 2.0;
  uint64_t noise_seed = 0;
  // Auto-exposure: the linear radiance is scaled (by a factor clamped to
  // [0.5, 4]) so that its mean luminance is this; <= 0 disables scaling. The
  // result is gamma-encoded with gamma 2 (sqrt) and quantised.
  double target_brightness = 0.2;
  // Edge ground truth. Two 4-neighbour pixels p, q form an edge when they see
  // different instances (hence whenever their classes differ), or the same
  // instance with a depth discontinuity: the depth of each differs by more
  // than this fraction from what the other's tangent plane predicts along its
  // ray. This is the usual relative depth jump test made exact for planes, so
  // floors and walls seen at grazing angles never give false edges; in
  // practice it fires where a torus occludes itself. Only one pixel of each
  // such pair is marked, so edges are one pixel thick: where their depths
  // differ by more than the same fraction (an occlusion), the nearer one, on
  // the occluding side; otherwise (surfaces that touch: an object on the
  // floor, a wall meeting the floor) the one with the larger instance id
  // (see Instance), so contact lines are drawn consistently on one side.
  double edge_depth_threshold = 0.05;
};

// Instance ids in Sample::instance: the room's six planes, then the objects.
enum Instance : uint16_t {
  kFloorInstance = 0,
  kCeilingInstance = 1,
  kLeftWallInstance = 2,   // x = -width/2
  kRightWallInstance = 3,  // x = +width/2
  kBackWallInstance = 4,   // z = -depth
  kFrontWallInstance = 5,  // z = 0, behind the camera
  kFirstObjectInstance = 6,  // Object i is kFirstObjectInstance + i.
};

// A rendered image with its ground truth. Pixel (y, x) is at index
// y * width + x of the per-pixel fields, and at 3 * (y * width + x) + c of
// the HWC ones.
struct Sample {
  int height = 0;
  int width = 0;
  std::vector<uint8_t> rgb;        // HWC, 8-bit, gamma-encoded, with noise.
  std::vector<uint8_t> semantic;   // Class id in [0, kNumClasses).
  std::vector<uint16_t> instance;  // See Instance.
  std::vector<float> depth;        // Metres along the camera z axis, > 0.
  std::vector<float> normals;      // HWC, unit, camera frame, see conventions.
  std::vector<uint8_t> edges;      // 0 or 1, see RenderOptions.
  // The camera intrinsics used, in pixels.
  float fx = 0, fy = 0, cx = 0, cy = 0;
};

// Ray casts `scene` from `camera`: one primary ray through each pixel centre
// (no anti-aliasing, so RGB and ground truth agree pixel for pixel) and one
// shadow ray per lit point. REQUIRES: the camera and the light are inside the
// room, the camera is outside every object, camera.width, height >= 1.
Sample RenderScene(const Scene& scene, const Camera& camera,
                   const RenderOptions& options = {});

// The same into *sample, whose fields are all overwritten; their memory is
// reused, which saves allocating (and page-faulting) ~0.4 MB per 96 x 128
// sample when rendering many in a loop.
void RenderScene(const Scene& scene, const Camera& camera,
                 const RenderOptions& options, Sample* sample);

// The nearest intersection of the ray origin + t * dir, t in (t_min, t_max),
// with `object`: sets *t and *normal (world, unit, pointing out of the
// object) and returns true, or returns false. REQUIRES: dir is a unit vector.
// Exposed for tests; RenderScene uses it.
bool IntersectObject(const Object& object, const Vec3& origin, const Vec3& dir,
                     double t_min, double t_max, double* t, Vec3* normal);

// ---------------------------------------------------------------------------
// Random scenes.

struct SceneOptions {
  // Image size in pixels. NYUD's 480 x 640 is 3:4.
  int height = 96;
  int width = 128;

  // Room size in metres, each uniform in [min, max].
  double room_width_min = 3.5, room_width_max = 6.0;
  double room_depth_min = 4.0, room_depth_max = 8.0;
  double room_height_min = 2.4, room_height_max = 3.2;

  // Camera: horizontal field of view (degrees; NYUD's Kinect has ~63), square
  // pixels, principal point at the image centre. Height above the floor in
  // metres, pitch (negative looks down) and yaw in degrees, each uniform in
  // its range, except that the pitch is lowered as needed for the floor to
  // be in view from 3 m on (where the objects stand). The camera stands
  // 0.3-1.0 m in front of the wall at z = 0 and at least 0.6 m from the side
  // walls.
  double hfov_deg_min = 50, hfov_deg_max = 70;
  double camera_height_min = 1.0, camera_height_max = 1.8;
  double pitch_deg_min = -30, pitch_deg_max = 5;
  double yaw_deg_max = 20;  // Yaw in [-yaw_deg_max, yaw_deg_max].

  // Objects: the count is uniform in [min_objects, max_objects]. Each is a
  // sphere, box, cylinder, cone or torus with equal probability, of random
  // size (roughly 0.2-1.2 m), yaw, colour and texture, resting on the floor,
  // or, with stack_probability, on top of an earlier box. Objects stand in
  // front of the camera, 1 m or more away, with their centre projecting into
  // the image, without overlapping each other (they may still occlude each
  // other); an object that cannot be placed after many tries is dropped.
  int min_objects = 2, max_objects = 6;
  double stack_probability = 0.2;

  // Sensor noise, in 8-bit levels (RenderOptions::noise_stddev).
  double noise_stddev = 2.0;
  // Edge ground truth (RenderOptions::edge_depth_threshold).
  double edge_depth_threshold = 0.05;
};

// OK, or InvalidArgument naming the first bad field (sizes < 1 or > 8192,
// empty or inverted ranges, a room too small for the camera, pitch beyond
// +-80 degrees, negative noise, ...).
absl::Status ValidateSceneOptions(const SceneOptions& options);

// The random scene of sample (seed, index), before rendering.
struct GeneratedScene {
  Scene scene;
  Camera camera;
  RenderOptions render;
};

// REQUIRES: ValidateSceneOptions(options).ok(); aborts with its message
// otherwise (a programming error).
GeneratedScene GenerateScene(const SceneOptions& options, uint64_t seed,
                             uint64_t index);

// RenderScene(GenerateScene(options, seed, index)). Same REQUIRES. Different
// indices (or seeds) give independent scenes.
Sample RenderSample(const SceneOptions& options, uint64_t seed, uint64_t index);

// The same into *sample, reusing its memory (see RenderScene above):
//   Sample s;  // One per thread.
//   for (uint64_t i = begin; i < end; ++i) {
//     RenderSample(options, seed, i, &s);
//     ...copy s into the batch...
//   }
void RenderSample(const SceneOptions& options, uint64_t seed, uint64_t index,
                  Sample* sample);

}  // namespace datagen
}  // namespace slimserve

#endif  // SLIMSERVE_TOOLS_DATAGEN_SCENE_H_
