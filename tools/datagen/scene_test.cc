#include "tools/datagen/scene.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <set>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tools/datagen/rng.h"

namespace slimserve {
namespace datagen {
namespace {

using ::testing::HasSubstr;

constexpr double kPi = 3.14159265358979323846;
constexpr double kTol = 1e-3;

// A large plain room with the light high in the middle.
Scene BigRoom(double width = 20, double depth = 20, double height = 10) {
  Scene scene;
  scene.room.width = width;
  scene.room.depth = depth;
  scene.room.height = height;
  scene.light.position = {0, height - 0.5, -depth / 2};
  return scene;
}

// 101 x 81 pixels, f = 100, principal point on the centre pixel (50, 40).
Camera TestCamera() {
  Camera cam;
  cam.width = 101;
  cam.height = 81;
  cam.fx = cam.fy = 100;
  cam.cx = 50;
  cam.cy = 40;
  cam.position = {0, 2, -1};
  return cam;
}

Vec3 NormalAt(const Sample& s, int x, int y) {
  const size_t i = 3 * (static_cast<size_t>(y) * s.width + x);
  return {s.normals[i], s.normals[i + 1], s.normals[i + 2]};
}
float DepthAt(const Sample& s, int x, int y) {
  return s.depth[static_cast<size_t>(y) * s.width + x];
}
int ClassAt(const Sample& s, int x, int y) {
  return s.semantic[static_cast<size_t>(y) * s.width + x];
}

void ExpectVecNear(const Vec3& actual, const Vec3& expected, double tol) {
  EXPECT_NEAR(actual.x, expected.x, tol);
  EXPECT_NEAR(actual.y, expected.y, tol);
  EXPECT_NEAR(actual.z, expected.z, tol);
}

TEST(ClassesTest, NamesAndColors) {
  static_assert(kNumClasses == 8, "the model spec has num_classes 8");
  EXPECT_STREQ(ClassName(kFloor), "floor");
  EXPECT_STREQ(ClassName(kWall), "wall");
  EXPECT_STREQ(ClassName(kCeiling), "ceiling");
  EXPECT_STREQ(ClassName(kSphere), "sphere");
  EXPECT_STREQ(ClassName(kBox), "box");
  EXPECT_STREQ(ClassName(kCylinder), "cylinder");
  EXPECT_STREQ(ClassName(kCone), "cone");
  EXPECT_STREQ(ClassName(kTorus), "torus");
  EXPECT_STREQ(ClassName(-1), "unknown");
  EXPECT_STREQ(ClassName(kNumClasses), "unknown");
  std::set<std::array<uint8_t, 3>> colors;
  for (int c = 0; c < kNumClasses; ++c) colors.insert(ClassColor(c));
  EXPECT_EQ(colors.size(), static_cast<size_t>(kNumClasses));
}

TEST(CameraTest, AxesAreRightHanded) {
  Camera cam;
  cam.yaw = 0.3;
  cam.pitch = -0.4;
  const Vec3 f = cam.Forward(), r = cam.Right(), d = cam.Down();
  ExpectVecNear(Cross(r, d), f, 1e-12);
  EXPECT_NEAR(Length(f), 1, 1e-12);
  EXPECT_NEAR(Length(r), 1, 1e-12);
  EXPECT_NEAR(Length(d), 1, 1e-12);
  EXPECT_EQ(r.y, 0);        // No roll.
  EXPECT_LT(d.y, 0);        // Down points down.
  EXPECT_LT(f.y, 0);        // Negative pitch looks down.
  EXPECT_GT(f.x, 0);        // Positive yaw turns towards +x.
  Camera level;
  ExpectVecNear(level.Forward(), {0, 0, -1}, 1e-12);
  ExpectVecNear(level.Right(), {1, 0, 0}, 1e-12);
  ExpectVecNear(level.Down(), {0, -1, 0}, 1e-12);
}

// A sphere of radius 0.5 three metres along the optical axis, whatever the
// camera's orientation: in the camera frame its centre is C = (0, 0, 3).
class SphereTest : public ::testing::TestWithParam<std::pair<double, double>> {};

TEST_P(SphereTest, DepthAndNormalMatchAnalyticSolution) {
  Camera cam = TestCamera();
  cam.yaw = GetParam().first;
  cam.pitch = GetParam().second;
  cam.position = {0.5, 3, -3};
  Scene scene = BigRoom();
  Object sphere;
  sphere.shape = Shape::kSphere;
  sphere.radius = 0.5;
  sphere.center = cam.position + cam.Forward() * 3.0;
  scene.objects.push_back(sphere);
  const Sample s = RenderScene(scene, cam);

  // Image centre: the nearest point of the sphere.
  EXPECT_EQ(ClassAt(s, 50, 40), kSphere);
  EXPECT_EQ(s.instance[40 * s.width + 50], kFirstObjectInstance);
  EXPECT_NEAR(DepthAt(s, 50, 40), 2.5, kTol);
  ExpectVecNear(NormalAt(s, 50, 40), {0, 0, -1}, kTol);

  // Pixel (60, 45): ray r = (0.1, 0.05, 1); solve |z r - C| = 0.5 for the
  // depth z (r has unit z, so the ray parameter is the depth).
  const Vec3 r{0.1, 0.05, 1}, c{0, 0, 3};
  const double b = Dot(r, c), a = Dot(r, r), k = Dot(c, c) - 0.25;
  const double z = (b - std::sqrt(b * b - a * k)) / a;
  EXPECT_NEAR(DepthAt(s, 60, 45), z, kTol);
  ExpectVecNear(NormalAt(s, 60, 45), (r * z - c) / 0.5, kTol);

  // Beyond the silhouette (angular radius asin(1/6), ~16.9 px): background.
  EXPECT_NE(ClassAt(s, 50 + 18, 40), kSphere);
  EXPECT_EQ(ClassAt(s, 50 + 16, 40), kSphere);
}

INSTANTIATE_TEST_SUITE_P(Orientations, SphereTest,
                         ::testing::Values(std::make_pair(0.0, 0.0),
                                           std::make_pair(0.4, -0.3),
                                           std::make_pair(-0.7, 0.2)));

TEST(PlaneTest, FloorDepthAndNormal) {
  Camera cam = TestCamera();
  cam.position = {1, 2, -1};
  cam.pitch = -30 * kPi / 180;
  cam.yaw = 0.3;  // The floor does not care.
  const Sample s = RenderScene(BigRoom(), cam);

  // World up (0, 1, 0) in the camera frame: (0, -cos p, sin p).
  const Vec3 up{0, -std::cos(cam.pitch), std::sin(cam.pitch)};
  EXPECT_EQ(ClassAt(s, 50, 40), kFloor);
  EXPECT_NEAR(DepthAt(s, 50, 40), 2 / std::sin(30 * kPi / 180), kTol);  // 4 m.
  ExpectVecNear(NormalAt(s, 50, 40), up, kTol);
  ExpectVecNear(NormalAt(s, 50, 40), {0, -0.8660254, -0.5}, kTol);

  // Pixel (70, 60): ray (0.2, 0.2, 1) drops 0.2 cos(p) - sin(p) per unit of
  // depth, reaching the floor 2 m below at depth 2 / that.
  const double drop = 0.2 * std::cos(cam.pitch) - std::sin(cam.pitch);
  EXPECT_EQ(ClassAt(s, 70, 60), kFloor);
  EXPECT_NEAR(DepthAt(s, 70, 60), 2 / drop, kTol);
  ExpectVecNear(NormalAt(s, 70, 60), up, kTol);
}

TEST(PlaneTest, BackWallDepthAndNormal) {
  Camera cam = TestCamera();
  cam.position = {0.5, 5, -10};
  Sample s = RenderScene(BigRoom(), cam);
  // Facing the wall 10 m ahead, which fills the view: the same depth at
  // every pixel.
  for (int y : {0, 40, 80}) {
    for (int x : {0, 50, 100}) {
      EXPECT_EQ(ClassAt(s, x, y), kWall);
      EXPECT_NEAR(DepthAt(s, x, y), 10, kTol);
      ExpectVecNear(NormalAt(s, x, y), {0, 0, -1}, kTol);
    }
  }

  // Turned right by yaw t: the ray (rx, ry, 1) advances cos t - rx sin t
  // along -z per unit of depth; the wall's normal (0, 0, 1) is
  // (sin t, 0, -cos t) in the camera frame.
  const double t = 0.25;
  cam.yaw = t;
  s = RenderScene(BigRoom(), cam);
  for (int x : {10, 50, 90}) {
    const double rx = (x - 50) / 100.0;
    EXPECT_NEAR(DepthAt(s, x, 20), 10 / (std::cos(t) - rx * std::sin(t)), kTol);
    ExpectVecNear(NormalAt(s, x, 20), {std::sin(t), 0, -std::cos(t)}, kTol);
  }
}

TEST(IntersectTest, Shapes) {
  double t;
  Vec3 n;
  Object torus;
  torus.shape = Shape::kTorus;
  torus.radius = 0.5;
  torus.minor_radius = 0.1;
  // Down onto the top of the tube; down through the hole; into the side.
  ASSERT_TRUE(IntersectObject(torus, {0.5, 5, 0}, {0, -1, 0}, 0, 100, &t, &n));
  EXPECT_NEAR(t, 4.9, 1e-6);
  ExpectVecNear(n, {0, 1, 0}, 1e-6);
  EXPECT_FALSE(IntersectObject(torus, {0, 5, 0}, {0, -1, 0}, 0, 100, &t, &n));
  ASSERT_TRUE(IntersectObject(torus, {-5, 0, 0}, {1, 0, 0}, 0, 100, &t, &n));
  EXPECT_NEAR(t, 4.4, 1e-6);
  ExpectVecNear(n, {-1, 0, 0}, 1e-6);
  EXPECT_FALSE(IntersectObject(torus, {-5, 0, 0}, {1, 0, 0}, 0, 4.3, &t, &n));
  // Stood up (axis along world z) and moved: the hole is now along z.
  torus.rotation = RotationX(kPi / 2);
  torus.center = {1, 2, 3};
  EXPECT_FALSE(IntersectObject(torus, {1, 2, 10}, {0, 0, -1}, 0, 100, &t, &n));
  ASSERT_TRUE(IntersectObject(torus, {1.5, 2, 10}, {0, 0, -1}, 0, 100, &t, &n));
  EXPECT_NEAR(t, 6.9, 1e-6);
  ExpectVecNear(n, {0, 0, 1}, 1e-6);

  // Pointed cone, base radius 0.5 at y = -0.5, apex at y = 0.5: at y = 0 the
  // radius is 0.25 and the outward normal is along (2, 1, 0).
  Object cone;
  cone.shape = Shape::kCone;
  cone.radius = 0.5;
  cone.top_radius = 0;
  cone.half_height = 0.5;
  ASSERT_TRUE(IntersectObject(cone, {5, 0, 0}, {-1, 0, 0}, 0, 100, &t, &n));
  EXPECT_NEAR(t, 4.75, 1e-9);
  ExpectVecNear(n, Normalize({2, 1, 0}), 1e-9);
  ASSERT_TRUE(IntersectObject(cone, {0.1, -5, 0}, {0, 1, 0}, 0, 100, &t, &n));
  EXPECT_NEAR(t, 4.5, 1e-9);  // The base.
  ExpectVecNear(n, {0, -1, 0}, 1e-9);

  Object cylinder;
  cylinder.shape = Shape::kCylinder;
  cylinder.radius = 0.3;
  cylinder.half_height = 0.4;
  ASSERT_TRUE(IntersectObject(cylinder, {0.1, 5, 0.1}, {0, -1, 0}, 0, 100, &t, &n));
  EXPECT_NEAR(t, 4.6, 1e-9);
  ExpectVecNear(n, {0, 1, 0}, 1e-9);
  ASSERT_TRUE(IntersectObject(cylinder, {0, 0.2, -5}, {0, 0, 1}, 0, 100, &t, &n));
  EXPECT_NEAR(t, 4.7, 1e-9);
  ExpectVecNear(n, {0, 0, -1}, 1e-9);
  EXPECT_FALSE(IntersectObject(cylinder, {0, 0.5, -5}, {0, 0, 1}, 0, 100, &t, &n));

  // Box turned by 90 degrees about y: its local x extent (1) now lies along
  // world z.
  Object box;
  box.shape = Shape::kBox;
  box.half_extents = {1, 2, 3};
  box.rotation = RotationY(kPi / 2);
  ASSERT_TRUE(IntersectObject(box, {0, 0, 5}, {0, 0, -1}, 0, 100, &t, &n));
  EXPECT_NEAR(t, 4, 1e-9);
  ExpectVecNear(n, {0, 0, 1}, 1e-9);
  ASSERT_TRUE(IntersectObject(box, {5, 0, 0}, {-1, 0, 0}, 0, 100, &t, &n));
  EXPECT_NEAR(t, 2, 1e-9);
  ExpectVecNear(n, {1, 0, 0}, 1e-9);
}

// Checks that every pair of 4-neighbours seeing different classes has an
// edge on the side RenderOptions describes, and returns the number of edge
// pixels.
int CheckClassEdges(const Sample& s) {
  int count = 0;
  for (int y = 0; y < s.height; ++y) {
    for (int x = 0; x < s.width; ++x) {
      const int i = y * s.width + x;
      count += s.edges[i];
      EXPECT_LE(s.edges[i], 1);
      for (const int j : {x + 1 < s.width ? i + 1 : -1,
                          y + 1 < s.height ? i + s.width : -1}) {
        if (j < 0 || s.semantic[i] == s.semantic[j]) continue;
        const float zi = s.depth[i], zj = s.depth[j];
        const int side =
            std::abs(zi - zj) > 0.05 * std::min(zi, zj)
                ? (zj < zi ? j : i)
                : (s.instance[j] > s.instance[i] ? j : i);
        EXPECT_EQ(s.edges[side], 1) << "pixel " << side;
      }
    }
  }
  return count;
}

// True if every pixel within `radius` (Chebyshev) of (x, y) has the instance
// of (x, y).
bool Uniform(const Sample& s, int x, int y, int radius) {
  const uint16_t id = s.instance[y * s.width + x];
  for (int dy = -radius; dy <= radius; ++dy) {
    for (int dx = -radius; dx <= radius; ++dx) {
      const int xx = x + dx, yy = y + dy;
      if (xx < 0 || yy < 0 || xx >= s.width || yy >= s.height) continue;
      if (s.instance[yy * s.width + xx] != id) return false;
    }
  }
  return true;
}

TEST(EdgesTest, OnClassBoundariesOnlyAndOnTheNearSide) {
  // A sphere in front of the back wall, which fills the view.
  Camera cam = TestCamera();
  cam.position = {0, 5, -12};  // 8 m from the wall: it fills the view.
  Scene scene = BigRoom();
  Object sphere;
  sphere.radius = 1;
  sphere.center = {0, 5, -17};
  sphere.material.texture = Texture::kChecker;  // Texture must not matter.
  scene.objects.push_back(sphere);
  const Sample s = RenderScene(scene, cam);

  EXPECT_GT(CheckClassEdges(s), 0);
  int sphere_edges = 0;
  for (int y = 0; y < s.height; ++y) {
    for (int x = 0; x < s.width; ++x) {
      const int i = y * s.width + x;
      if (Uniform(s, x, y, 1)) {
        EXPECT_EQ(s.edges[i], 0) << x << "," << y;
      }
      if (s.edges[i]) {
        // Marked on the occluding (sphere) side only: one pixel thick.
        EXPECT_EQ(s.semantic[i], kSphere) << x << "," << y;
        ++sphere_edges;
      }
    }
  }
  // The silhouette: a circle of radius ~20.4 px has ~115 boundary pixels.
  EXPECT_GT(sphere_edges, 90);
  EXPECT_LT(sphere_edges, 140);
}

TEST(EdgesTest, NoneInsideAFloorSeenAtGrazingAngles) {
  // The floor reaches to 0.3 degrees below the horizon, 200 m away: depth
  // changes by far more than 5% between rows there, yet the floor is one
  // plane.
  Camera cam = TestCamera();
  cam.position = {0, 1, -1};
  cam.pitch = -0.25;
  const Sample s = RenderScene(BigRoom(200, 200, 10), cam);
  int floor_pixels = 0;
  for (int y = 0; y < s.height; ++y) {
    for (int x = 0; x < s.width; ++x) {
      if (ClassAt(s, x, y) == kFloor && Uniform(s, x, y, 1)) {
        ++floor_pixels;
        EXPECT_EQ(s.edges[y * s.width + x], 0) << x << "," << y;
      }
    }
  }
  EXPECT_GT(floor_pixels, 3000);
}

TEST(EdgesTest, ContactLinesOnTheSideOfTheHigherInstance) {
  // The back wall meets the floor 3 m ahead, 1.5 m below: no occlusion, so
  // the line is drawn on the wall's side (instance 4 > 0), straight or not.
  Camera cam = TestCamera();
  cam.position = {0.3, 1.5, -17};
  cam.pitch = -0.2;
  cam.yaw = 0.1;
  const Sample s = RenderScene(BigRoom(), cam);
  EXPECT_GT(CheckClassEdges(s), 90);
  for (size_t i = 0; i < s.edges.size(); ++i) {
    if (s.edges[i]) {
      EXPECT_EQ(s.instance[i], kBackWallInstance) << i;
    }
  }
}

TEST(EdgesTest, WhereATorusOccludesItself) {
  // A flat torus seen from 12 degrees above: its near tube hides the far one
  // with a depth jump inside one instance.
  Camera cam = TestCamera();
  cam.position = {0, 0.2 + 3 * std::tan(12 * kPi / 180), -1};
  cam.pitch = -12 * kPi / 180;
  Scene scene = BigRoom();
  Object torus;
  torus.shape = Shape::kTorus;
  torus.radius = 0.6;
  torus.minor_radius = 0.2;
  torus.center = {0, 0.2, -4};
  scene.objects.push_back(torus);
  const Sample s = RenderScene(scene, cam);
  CheckClassEdges(s);
  int inner = 0;  // Edge pixels with only torus around them.
  for (int y = 1; y + 1 < s.height; ++y) {
    for (int x = 1; x + 1 < s.width; ++x) {
      if (s.edges[y * s.width + x] && ClassAt(s, x, y) == kTorus &&
          Uniform(s, x, y, 1)) {
        ++inner;
      }
    }
  }
  EXPECT_GT(inner, 20);
}

TEST(RenderSampleTest, Deterministic) {
  SceneOptions options;
  const Sample a = RenderSample(options, 3, 17);
  const Sample b = RenderSample(options, 3, 17);
  EXPECT_EQ(a.rgb, b.rgb);
  EXPECT_EQ(a.semantic, b.semantic);
  EXPECT_EQ(a.instance, b.instance);
  EXPECT_EQ(a.depth, b.depth);
  EXPECT_EQ(a.normals, b.normals);
  EXPECT_EQ(a.edges, b.edges);
  EXPECT_EQ(a.fx, b.fx);
  EXPECT_NE(RenderSample(options, 3, 18).rgb, a.rgb);
  EXPECT_NE(RenderSample(options, 4, 17).rgb, a.rgb);
  EXPECT_NE(RenderSample(options, 3, 18).depth, a.depth);

  // Rendering into a used Sample (here a larger one) gives the same bytes.
  SceneOptions large = options;
  large.height = 120;
  large.width = 160;
  Sample c = RenderSample(large, 3, 17);
  RenderSample(options, 3, 17, &c);
  EXPECT_EQ(c.height, a.height);
  EXPECT_EQ(c.width, a.width);
  EXPECT_EQ(a.rgb, c.rgb);
  EXPECT_EQ(a.semantic, c.semantic);
  EXPECT_EQ(a.instance, c.instance);
  EXPECT_EQ(a.depth, c.depth);
  EXPECT_EQ(a.normals, c.normals);
  EXPECT_EQ(a.edges, c.edges);
  EXPECT_EQ(a.cx, c.cx);
}

// A fingerprint of a few samples' bytes. It changes whenever the generator
// does, on purpose (then update it) or not (a different libm or compiler
// mode would show here): datasets made by different builds then differ.
TEST(RenderSampleTest, Fingerprint) {
  SceneOptions options;
  uint64_t h = 0;
  auto add = [&h](const void* data, size_t bytes) {
    const unsigned char* p = static_cast<const unsigned char*>(data);
    for (size_t i = 0; i < bytes; ++i) h = HashCombine(h, p[i]);
  };
  for (uint64_t index : {0, 1, 2}) {
    const Sample s = RenderSample(options, 1, index);
    add(s.rgb.data(), s.rgb.size());
    add(s.semantic.data(), s.semantic.size());
    add(s.depth.data(), s.depth.size() * sizeof(float));
    add(s.normals.data(), s.normals.size() * sizeof(float));
    add(s.edges.data(), s.edges.size());
  }
  EXPECT_EQ(h, 0x13cd3c1079aca9ccu) << "fingerprint 0x" << std::hex << h;
}

TEST(RenderSampleTest, ThreadSafe) {
  SceneOptions options;
  options.height = 48;
  options.width = 64;
  constexpr int kSamples = 16, kThreads = 4;
  std::vector<Sample> serial, parallel(kSamples);
  for (int i = 0; i < kSamples; ++i) serial.push_back(RenderSample(options, 5, i));
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = t; i < kSamples; i += kThreads) {
        parallel[i] = RenderSample(options, 5, i);
      }
    });
  }
  for (std::thread& t : threads) t.join();
  for (int i = 0; i < kSamples; ++i) {
    EXPECT_EQ(serial[i].rgb, parallel[i].rgb) << i;
    EXPECT_EQ(serial[i].depth, parallel[i].depth) << i;
  }
}

TEST(RenderSampleTest, GroundTruthInvariants) {
  SceneOptions options;
  for (uint64_t index = 0; index < 40; ++index) {
    SCOPED_TRACE(index);
    const GeneratedScene g = GenerateScene(options, 11, index);
    const Sample s = RenderScene(g.scene, g.camera, g.render);
    const size_t n = static_cast<size_t>(options.height) * options.width;
    ASSERT_EQ(s.height, options.height);
    ASSERT_EQ(s.width, options.width);
    ASSERT_EQ(s.rgb.size(), 3 * n);
    ASSERT_EQ(s.semantic.size(), n);
    ASSERT_EQ(s.instance.size(), n);
    ASSERT_EQ(s.depth.size(), n);
    ASSERT_EQ(s.normals.size(), 3 * n);
    ASSERT_EQ(s.edges.size(), n);
    int object_pixels = 0, edge_pixels = 0, bad = 0;
    for (int y = 0; y < s.height; ++y) {
      for (int x = 0; x < s.width; ++x) {
        const size_t i = static_cast<size_t>(y) * s.width + x;
        const Vec3 nrm = NormalAt(s, x, y);
        const Vec3 ray{(x - s.cx) / s.fx, (y - s.cy) / s.fy, 1};
        const float z = s.depth[i];
        bad += !(s.semantic[i] < kNumClasses);
        bad += !(std::isfinite(z) && z > 0.3 && z < 12);
        bad += !(std::abs(Length(nrm) - 1) < 1e-5);
        bad += !(Dot(nrm, ray) <= 1e-6);  // Faces the camera.
        bad += !(s.edges[i] <= 1);
        const int inst = s.instance[i];
        if (inst >= kFirstObjectInstance) {
          ++object_pixels;
          ASSERT_LT(inst - kFirstObjectInstance,
                    static_cast<int>(g.scene.objects.size()));
          bad += s.semantic[i] !=
                 ShapeClass(g.scene.objects[inst - kFirstObjectInstance].shape);
        } else {
          bad += s.semantic[i] > kCeiling;
        }
        edge_pixels += s.edges[i];
      }
    }
    EXPECT_EQ(bad, 0);
    EXPECT_GT(object_pixels, 0);
    EXPECT_GT(edge_pixels, 0);
    EXPECT_LT(edge_pixels, static_cast<int>(n / 8));
  }
}

// The exact extent [lo, hi] of an object along world axis k (0: x, 1: y,
// 2: z), from its geometry (not the generator's bookkeeping). A disc of
// radius rho around q with unit axis a spans q_k +- rho * sqrt(1 - a_k^2).
std::pair<double, double> Extent(const Object& o, int k) {
  auto coord = [k](const Vec3& v) { return k == 0 ? v.x : k == 1 ? v.y : v.z; };
  const Vec3 a = o.rotation.Column(1);
  const double spread = std::sqrt(std::max(0.0, 1 - coord(a) * coord(a)));
  const double c = coord(o.center);
  switch (o.shape) {
    case Shape::kSphere:
      return {c - o.radius, c + o.radius};
    case Shape::kBox: {
      const double e[3] = {o.half_extents.x, o.half_extents.y, o.half_extents.z};
      double half = 0;
      for (int i = 0; i < 3; ++i) half += std::abs(coord(o.rotation.Column(i))) * e[i];
      return {c - half, c + half};
    }
    case Shape::kCylinder:
    case Shape::kCone: {
      const double top = o.shape == Shape::kCone ? o.top_radius : o.radius;
      const double qb = coord(o.center - a * o.half_height);
      const double qt = coord(o.center + a * o.half_height);
      return {std::min(qb - o.radius * spread, qt - top * spread),
              std::max(qb + o.radius * spread, qt + top * spread)};
    }
    case Shape::kTorus: {
      const double half = o.radius * spread + o.minor_radius;
      return {c - half, c + half};
    }
  }
  return {c, c};
}

TEST(GenerateSceneTest, ObjectsRestOnTheFloorOrABoxInsideTheRoom) {
  SceneOptions options;
  int total = 0, stacked = 0;
  for (uint64_t index = 0; index < 200; ++index) {
    SCOPED_TRACE(index);
    const GeneratedScene g = GenerateScene(options, 2, index);
    const Room& room = g.scene.room;
    const int count = static_cast<int>(g.scene.objects.size());
    EXPECT_LE(count, options.max_objects);
    EXPECT_GE(count, 1);
    total += count;
    const Camera& cam = g.camera;
    EXPECT_GT(cam.position.y, 0);
    EXPECT_LT(cam.position.y, room.height);
    EXPECT_LT(std::abs(cam.position.x), room.width / 2);
    EXPECT_GT(cam.pitch, -kPi / 2);
    for (const Object& o : g.scene.objects) {
      const double bottom = Extent(o, 1).first;
      bool supported = std::abs(bottom) < 1e-9;
      for (const Object& b : g.scene.objects) {
        if (b.shape == Shape::kBox &&
            std::abs(bottom - (b.center.y + b.half_extents.y)) < 1e-9 &&
            std::abs(o.center.x - b.center.x) < 1e-9) {
          supported = true;
          ++stacked;
        }
      }
      EXPECT_TRUE(supported) << "bottom at " << bottom;
      // Inside the room, below the light.
      EXPECT_GT(Extent(o, 0).first, -room.width / 2);
      EXPECT_LT(Extent(o, 0).second, room.width / 2);
      EXPECT_GT(Extent(o, 2).first, -room.depth);
      EXPECT_LT(Extent(o, 2).second, 0);
      EXPECT_LT(Extent(o, 1).second, g.scene.light.position.y);
    }
  }
  // Few objects are dropped; some are stacked.
  EXPECT_GT(total, 200 * 0.95 * (options.min_objects + options.max_objects) / 2);
  EXPECT_GT(stacked, 10);
}

TEST(ValidateSceneOptionsTest, AcceptsDefaultsRejectsBadValues) {
  EXPECT_TRUE(ValidateSceneOptions(SceneOptions()).ok());
  SceneOptions o;
  o.width = 0;
  EXPECT_THAT(ValidateSceneOptions(o).message(), HasSubstr("image size"));
  o = SceneOptions();
  o.room_depth_min = 9;  // Above max.
  EXPECT_THAT(ValidateSceneOptions(o).message(), HasSubstr("room_depth"));
  o = SceneOptions();
  o.camera_height_max = 2.3;  // Too close to the lowest ceiling.
  EXPECT_THAT(ValidateSceneOptions(o).message(), HasSubstr("camera_height"));
  o = SceneOptions();
  o.min_objects = 7;
  EXPECT_THAT(ValidateSceneOptions(o).message(), HasSubstr("objects"));
  o = SceneOptions();
  o.noise_stddev = -1;
  EXPECT_THAT(ValidateSceneOptions(o).message(), HasSubstr("noise_stddev"));
  o = SceneOptions();
  o.pitch_deg_min = -90;
  EXPECT_THAT(ValidateSceneOptions(o).message(), HasSubstr("pitch_deg"));
}

}  // namespace
}  // namespace datagen
}  // namespace slimserve
