#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <numeric>
#include <random>
#include <set>
#include <vector>

#include <catch2/catch.hpp>

#include "token_test_util.hpp"
#include <nnprune/tokens/hiprune.hpp>

namespace hiprune_test {

using nnprune::tensor_view;
using token_test::cast;

/// Values on a 1/64 grid in [0, 1): exact in every dtype, sums exact, ties real.
inline std::vector<float> grid(std::size_t count, unsigned seed, int levels = 64) {
    std::mt19937 rng(seed);
    std::uniform_int_distribution<int> u(0, levels - 1);
    std::vector<float> a(count);
    for (auto& v : a) v = static_cast<float>(u(rng)) / 64.0f;
    return a;
}

/// One head whose every query row is `row` (K values): then g[i] = row[key of token i].
inline std::vector<float> same_rows(const std::vector<float>& row) {
    std::vector<float> a;
    for (std::size_t q = 0; q < row.size(); ++q) a.insert(a.end(), row.begin(), row.end());
    return a;
}

inline std::vector<double> slow_g(const std::vector<float>& a, std::size_t heads, std::size_t keys, std::size_t cls) {
    std::vector<double> g;
    for (std::size_t k = 0; k < keys; ++k) {
        if (k == cls) continue;
        double s = 0;
        for (std::size_t h = 0; h < heads; ++h)
            for (std::size_t q = 0; q < keys; ++q) s += a[(h * keys + q) * keys + k];
        g.push_back(s / static_cast<double>(heads) / static_cast<double>(keys));
    }
    return g;
}

struct slow_result {
    std::vector<std::size_t> kept, anchors, object;
    bool budget_error = false;
};

/// The upstream algorithm, slowly, including its "g_deep - 1 on S" exclusion (valid: g < 1 here).
inline slow_result slow_hiprune(const std::vector<float>& obj, const std::vector<float>& deep, std::size_t heads,
                                std::size_t keys, std::size_t v, double alpha, std::size_t width, std::size_t cls) {
    const long n = static_cast<long>(keys) - 1;
    const auto go = slow_g(obj, heads, keys, cls);
    auto gd = slow_g(deep, heads, keys, cls);
    const auto n_a = static_cast<std::size_t>(std::nearbyint((static_cast<double>(v) * alpha) / 5.0));
    slow_result r;
    const auto order = token_test::ranked(go);
    r.anchors.assign(order.begin(), order.begin() + static_cast<long>(n_a));
    std::set<std::size_t> s;
    const long w = static_cast<long>(width);
    for (auto a : r.anchors)
        for (long d : {0L, -1L, 1L, -w, w}) s.insert(static_cast<std::size_t>(std::clamp(long(a) + d, 0L, n - 1)));
    r.object.assign(s.begin(), s.end());
    if (s.size() > v) {
        r.budget_error = true;
        return r;
    }
    for (auto i : s) gd[i] -= 1.0;
    const auto reg = token_test::ranked(gd);
    const std::size_t registers = v - s.size();
    for (std::size_t t = 0; t < registers; ++t) s.insert(reg[t]);
    r.kept.assign(s.begin(), s.end());
    return r;
}

}  // namespace hiprune_test

TEST_CASE("hiprune: anchor count and per-crop budget", "[tokens][hiprune]") {
    CHECK(nnprune::hiprune_anchor_count(192, 0.1) == 4);  // 3.84
    CHECK(nnprune::hiprune_anchor_count(128, 0.1) == 3);  // 2.56
    CHECK(nnprune::hiprune_anchor_count(64, 0.1) == 1);   // 1.28
    CHECK(nnprune::hiprune_anchor_count(25, 0.5) == 2);   // 2.5: half to even
    CHECK(nnprune::hiprune_anchor_count(35, 0.5) == 4);   // 3.5: half to even
    CHECK(nnprune::hiprune_anchor_count(24, 0.1) == 0);   // 0.48
    CHECK(nnprune::hiprune_anchor_count(100, 0.0) == 0);
    CHECK(nnprune::hiprune_anchor_count(100, 1.0) == 20);
    CHECK_THROWS_WITH(nnprune::hiprune_anchor_count(192, 1.5),
                      Catch::Contains("hiprune_anchor_count: alpha must be in [0, 1], got 1.5"));
    CHECK_THROWS_WITH(nnprune::hiprune_anchor_count(192, std::nan("")), Catch::Contains("got nan"));
    CHECK(nnprune::hiprune_crop_budget(192, 5) == 38);
    CHECK(nnprune::hiprune_crop_budget(192, 1) == 192);
    CHECK(nnprune::hiprune_crop_budget(3, 5) == 0);
    CHECK_THROWS_WITH(nnprune::hiprune_crop_budget(192, 0),
                      Catch::Contains("hiprune_crop_budget: crops must be positive"));
}

TEST_CASE("hiprune: hand-worked anchors, buffer across row edges and clamping, registers", "[tokens][hiprune]") {
    using namespace hiprune_test;
    // N = 8 tokens on a grid of width 3 (the last row partial), CLS at 0, one head, every query
    // row equal, so g = that row without its CLS entry
    auto run = [](const std::vector<float>& g_obj, const std::vector<float>& g_deep, std::size_t v, double alpha) {
        std::vector<float> ro = {0.5f}, rd = {0.5f};
        ro.insert(ro.end(), g_obj.begin(), g_obj.end());
        rd.insert(rd.end(), g_deep.begin(), g_deep.end());
        const auto ao = same_rows(ro), ad = same_rows(rd);
        nnprune::hiprune_result r;
        nnprune::hiprune_workspace ws;
        nnprune::hiprune(tensor_view<const float, 3>(ao.data(), 1, 9, 9),
                         tensor_view<const float, 3>(ad.data(), 1, 9, 9),
                         {.budget = v, .alpha = alpha, .grid_width = 3}, r, ws);
        return r;
    };
    const std::vector<float> deep = {0.8f, 0.1f, 0.6f, 0.2f, 0.9f, 0.3f, 0.6f, 0.0f};
    // anchor 4 (row 1, column 1): S = {1, 3, 4, 5, 7}; V = 5 leaves no register
    auto r = run({0.0f, 0.1f, 0.0f, 0.0f, 0.9f, 0.0f, 0.0f, 0.0f}, deep, 5, 1.0);
    CHECK(r.anchors == std::vector<std::size_t>{4});
    CHECK(r.object == std::vector<std::size_t>{1, 3, 4, 5, 7});
    CHECK(r.kept == std::vector<std::size_t>{1, 3, 4, 5, 7});
    REQUIRE(r.object_scores.size() == 8);
    CHECK(r.object_scores[4] == Approx(0.9));
    CHECK(r.deep_scores[0] == Approx(0.8));
    // V = 7: registers 0 (0.8) and 2 (0.6, tie with 6: lower index); token 4 (0.9) is in S already
    r = run({0.0f, 0.1f, 0.0f, 0.0f, 0.9f, 0.0f, 0.0f, 0.0f}, deep, 7, 0.7);  // 7 * 0.7 / 5 = 0.98 -> 1 anchor
    CHECK(r.kept == std::vector<std::size_t>{0, 1, 2, 3, 4, 5, 7});
    // anchor 3 is column 0 of row 1: 3 - 1 = 2 (the previous row's last token) joins S
    r = run({0.0f, 0.0f, 0.0f, 0.9f, 0.0f, 0.0f, 0.0f, 0.0f}, deep, 5, 1.0);
    CHECK(r.object == std::vector<std::size_t>{0, 2, 3, 4, 6});
    // clamping at both ends: anchor 0 -> {0, 1, 3}; anchor 7 -> {4, 6, 7}
    r = run({0.9f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f}, deep, 5, 1.0);
    CHECK(r.object == std::vector<std::size_t>{0, 1, 3});
    CHECK(r.kept == std::vector<std::size_t>{0, 1, 2, 3, 4});  // registers: 4 (0.9), 2 (0.6 before 6)
    r = run({0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.9f}, deep, 5, 1.0);
    CHECK(r.object == std::vector<std::size_t>{4, 6, 7});
    CHECK(r.kept == std::vector<std::size_t>{0, 2, 4, 6, 7});
    // alpha = 0: no anchors, the top V of g_deep
    r = run({0.9f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f}, deep, 3, 0.0);
    CHECK(r.anchors.empty());
    CHECK(r.object.empty());
    CHECK(r.kept == std::vector<std::size_t>{0, 2, 4});
    // budget below |S|: 4 * 1.0 / 5 = 0.8 -> 1 anchor at 4, |S| = 5 > 4
    CHECK_THROWS_WITH(run({0.0f, 0.1f, 0.0f, 0.0f, 0.9f, 0.0f, 0.0f, 0.0f}, deep, 4, 1.0),
                      Catch::Contains("hiprune: budget V = 4 is smaller than the anchors' set |S| = 5"));
    // tied object scores: the lower index is the anchor
    r = run({0.5f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.5f}, deep, 5, 1.0);
    CHECK(r.anchors == std::vector<std::size_t>{0});
    // every token kept
    r = run({0.0f, 0.1f, 0.0f, 0.0f, 0.9f, 0.0f, 0.0f, 0.0f}, deep, 8, 0.1);
    CHECK(r.kept == std::vector<std::size_t>{0, 1, 2, 3, 4, 5, 6, 7});
}

TEST_CASE("hiprune: equals the slow upstream algorithm on grid inputs (g over every query, CLS row included)",
          "[tokens][hiprune]") {
    using namespace hiprune_test;

    struct shape_case {
        std::size_t heads, keys, v, width, cls;
        double alpha;
        int levels;
    };

    std::size_t compared = 0;
    for (const shape_case c : {shape_case{2, 37, 20, 6, 0, 0.5, 64}, shape_case{3, 50, 30, 7, 10, 0.4, 3},
                               shape_case{1, 26, 25, 5, 25, 1.0, 64}, shape_case{4, 65, 40, 8, 0, 0.25, 2},
                               shape_case{2, 17, 16, 16, 3, 0.3, 64}, shape_case{2, 30, 12, 1, 0, 1.0, 64}}) {
        for (unsigned seed = 0; seed < 4; ++seed) {
            const std::size_t count = c.heads * c.keys * c.keys;
            const auto obj = grid(count, seed * 7 + 1, c.levels), deep = grid(count, seed * 7 + 2, c.levels);
            const auto want = slow_hiprune(obj, deep, c.heads, c.keys, c.v, c.alpha, c.width, c.cls);
            const tensor_view<const float, 3> vo(obj.data(), c.heads, c.keys, c.keys),
                vd(deep.data(), c.heads, c.keys, c.keys);
            const nnprune::hiprune_options o{.budget = c.v, .alpha = c.alpha, .grid_width = c.width, .cls = c.cls};
            if (want.budget_error) {
                CHECK_THROWS_WITH(nnprune::hiprune(vo, vd, o), Catch::Contains("is smaller than the anchors' set"));
                continue;
            }
            ++compared;
            nnprune::hiprune_result r;
            nnprune::hiprune_workspace ws;
            nnprune::hiprune(vo, vd, o, r, ws);
            CHECK(r.kept == want.kept);
            CHECK(r.anchors == want.anchors);
            CHECK(r.object == want.object);
            CHECK(r.kept.size() == c.v);
            const auto g = slow_g(deep, c.heads, c.keys, c.cls);
            for (std::size_t i = 0; i < g.size(); ++i) CHECK(r.deep_scores[i] == Approx(g[i]).epsilon(1e-6));
        }
    }
    CHECK(compared >= 16);
}

TEST_CASE("hiprune: every dtype equals the f32 call; strided views", "[tokens][hiprune]") {
    using namespace hiprune_test;
    const std::size_t H = 3, K = 26;
    const auto obj = grid(H * K * K, 5, 4), deep = grid(H * K * K, 6, 4);
    const nnprune::hiprune_options o{.budget = 15, .alpha = 0.7, .grid_width = 5, .cls = 0};
    const auto want = nnprune::hiprune(tensor_view<const float, 3>(obj.data(), H, K, K),
                                       tensor_view<const float, 3>(deep.data(), H, K, K), o);
    REQUIRE(want.size() == 15);
    auto same = [&](auto tag) {
        using T = decltype(tag);
        const auto co = cast<T>(obj), cd = cast<T>(deep);
        CHECK(nnprune::hiprune(tensor_view<const T, 3>(co.data(), H, K, K), tensor_view<const T, 3>(cd.data(), H, K, K),
                               o) == want);
        // transposed storage: the views' key stride is K
        std::vector<T> to(co.size()), td(cd.size());
        for (std::size_t h = 0; h < H; ++h)
            for (std::size_t q = 0; q < K; ++q)
                for (std::size_t k = 0; k < K; ++k) {
                    to[(h * K + k) * K + q] = co[(h * K + q) * K + k];
                    td[(h * K + k) * K + q] = cd[(h * K + q) * K + k];
                }
        const auto sk = static_cast<std::ptrdiff_t>(K);
        CHECK(nnprune::hiprune(tensor_view<const T, 3>(to.data(), {H, K, K}, {sk * sk, 1, sk}),
                               tensor_view<const T, 3>(td.data(), {H, K, K}, {sk * sk, 1, sk}), o) == want);
    };
    same(float{});
    same(double{});
    same(nnprune::bfloat16{});
    same(nnprune::float16{});
}

TEST_CASE("hiprune: errors name the argument and leave the result unchanged", "[tokens][hiprune]") {
    using namespace hiprune_test;
    const std::size_t H = 2, K = 11;
    auto obj = grid(H * K * K, 8), deep = grid(H * K * K, 9);
    const tensor_view<const float, 3> vo(obj.data(), H, K, K), vd(deep.data(), H, K, K);
    nnprune::hiprune_result r;
    r.kept = {3};
    r.anchors = {4};
    r.object = {5};
    r.object_scores = {0.5f};
    r.deep_scores = {0.25f};
    nnprune::hiprune_workspace ws;
    using C = Catch::Matchers::StdString::ContainsMatcher;
    auto fails = [&](const tensor_view<const float, 3>& a, const tensor_view<const float, 3>& b,
                     nnprune::hiprune_options o,
                     const C& m) { CHECK_THROWS_WITH(nnprune::hiprune(a, b, o, r, ws), m); };
    const nnprune::hiprune_options ok{.budget = 6, .alpha = 0.5, .grid_width = 3};
    fails(vo, vd, {.budget = 0, .alpha = 0.5, .grid_width = 3},
          Catch::Contains("hiprune: budget V = 0 must be in [1, N = 10]"));
    fails(vo, vd, {.budget = 11, .alpha = 0.5, .grid_width = 3},
          Catch::Contains("budget V = 11 must be in [1, N = 10]"));
    fails(vo, vd, {.budget = 6, .alpha = -0.1, .grid_width = 3},
          Catch::Contains("hiprune: alpha must be in [0, 1], got -0.1"));
    fails(vo, vd, {.budget = 6, .alpha = 0.5, .grid_width = 0},
          Catch::Contains("hiprune: grid width 0 must be in [1, N = 10]"));
    fails(vo, vd, {.budget = 6, .alpha = 0.5, .grid_width = 11}, Catch::Contains("grid width 11"));
    fails(vo, vd, {.budget = 6, .alpha = 0.5, .grid_width = 3, .cls = 11},
          Catch::Contains("hiprune: CLS position 11 is outside the 11 tokens"));
    fails(tensor_view<const float, 3>(obj.data(), H, K - 1, K), vd, ok,
          Catch::Contains("hiprune: attn_object is 2x10x11"));
    fails(vo, tensor_view<const float, 3>(deep.data(), 1, K, K), ok,
          Catch::Contains("hiprune: attn_deep is 1x11x11, attn_object is 2x11x11"));
    fails(tensor_view<const float, 3>(obj.data(), H, 1, 1), tensor_view<const float, 3>(deep.data(), H, 1, 1), ok,
          Catch::Contains("at least 2 tokens"));
    obj[(1 * K + 4) * K + 7] = std::numeric_limits<float>::quiet_NaN();
    fails(vo, vd, ok, Catch::Contains("hiprune: non-finite attn_object (NaN or Inf) at head 1, query 4, key 7"));
    obj[(1 * K + 4) * K + 7] = 0.5f;
    deep[(0 * K + 10) * K + 0] = -std::numeric_limits<float>::infinity();  // the CLS column is read too
    fails(vo, vd, ok, Catch::Contains("hiprune: non-finite attn_deep (NaN or Inf) at head 0, query 10, key 0"));
    CHECK(r.kept == std::vector<std::size_t>{3});
    CHECK(r.anchors == std::vector<std::size_t>{4});
    CHECK(r.object == std::vector<std::size_t>{5});
    CHECK(r.object_scores == std::vector<float>{0.5f});
    CHECK(r.deep_scores == std::vector<float>{0.25f});
    std::vector<double> big(1 * 3 * 3, 1e308);
    const tensor_view<const double, 3> vb(big.data(), 1, 3, 3);
    CHECK_THROWS_WITH(nnprune::hiprune(vb, vb, {.budget = 1, .alpha = 0.1, .grid_width = 1}),
                      Catch::Contains("hiprune: the attn_object sum overflows"));
}

TEST_CASE("hiprune_batch: equals a loop for any thread count; errors leave out unchanged", "[tokens][hiprune]") {
    using namespace hiprune_test;
    const std::size_t B = 5, H = 2, K = 37;
    auto obj = grid(B * H * K * K, 31, 6), deep = grid(B * H * K * K, 32, 6);
    const tensor_view<const float, 4> vo(obj.data(), B, H, K, K), vd(deep.data(), B, H, K, K);
    const nnprune::hiprune_options o{.budget = nnprune::hiprune_crop_budget(100, 5), .alpha = 0.3, .grid_width = 6};
    REQUIRE(o.budget == 20);
    std::vector<std::vector<std::size_t>> want;
    for (std::size_t b = 0; b < B; ++b)
        want.push_back(nnprune::hiprune(tensor_view<const float, 3>(obj.data() + b * H * K * K, H, K, K),
                                        tensor_view<const float, 3>(deep.data() + b * H * K * K, H, K, K), o));
    std::vector<nnprune::hiprune_result> out;
    std::vector<nnprune::hiprune_workspace> ws;
    for (unsigned threads = 1; threads <= 4; ++threads) {
        CHECK(nnprune::hiprune_batch(vo, vd, o, threads) == want);
        nnprune::hiprune_batch(vo, vd, o, out, ws, threads);
        REQUIRE(out.size() == B);
        for (std::size_t b = 0; b < B; ++b) CHECK(out[b].kept == want[b]);
    }
    deep[(3 * H + 1) * K * K + 2 * K + 9] = std::numeric_limits<float>::quiet_NaN();
    for (unsigned threads = 1; threads <= 4; ++threads) {
        CHECK_THROWS_WITH(
            nnprune::hiprune_batch(vo, vd, o, out, ws, threads),
            Catch::Contains("hiprune_batch: non-finite attn_deep (NaN or Inf) at head 1, query 2, key 9"));
        for (std::size_t b = 0; b < B; ++b) CHECK(out[b].kept == want[b]);
    }
    CHECK_THROWS_WITH(nnprune::hiprune_batch(vo, tensor_view<const float, 4>(deep.data(), B - 1, H, K, K), o),
                      Catch::Contains("hiprune_batch: batches of 5 (attn_object) and 4 (attn_deep) items"));
    CHECK_THROWS_WITH(nnprune::hiprune_batch(tensor_view<const float, 4>(obj.data(), 0, H, K, K),
                                             tensor_view<const float, 4>(deep.data(), 0, H, K, K), o),
                      Catch::Contains("hiprune_batch: batches of 0"));
    CHECK_THROWS_WITH(nnprune::hiprune_batch(vo, vd, {.budget = 37}), Catch::Contains("hiprune_batch: budget V = 37"));
}
