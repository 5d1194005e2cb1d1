#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <numeric>
#include <random>
#include <vector>

#include <catch2/catch.hpp>

#include "token_test_util.hpp"
#include <nnprune/tokens/pyramid_drop.hpp>

namespace pdrop_test {

using nnprune::tensor_view;
using token_test::cast;

/// Values on a 1/64 grid (exact in every dtype: sums exact, ties real).
inline std::vector<float> grid(std::size_t count, unsigned seed, int levels = 64) {
    std::mt19937 rng(seed);
    std::uniform_int_distribution<int> u(0, levels - 1);
    std::vector<float> a(count);
    for (auto& v : a) v = static_cast<float>(u(rng)) / 64.0f;
    return a;
}

/// The spec, slowly: head mean of the image columns, stable top n_next, ascending (relative).
inline std::vector<std::size_t> slow_pdrop(const std::vector<float>& row, std::size_t heads, std::size_t len,
                                           std::size_t start, std::size_t n_s, std::size_t n_next) {
    std::vector<double> s(n_s, 0.0);
    for (std::size_t i = 0; i < n_s; ++i) {
        for (std::size_t h = 0; h < heads; ++h) s[i] += row[h * len + start + i];
        s[i] /= static_cast<double>(heads);
    }
    return token_test::slow_top(s, n_next);
}

}  // namespace pdrop_test

TEST_CASE("pyramid_drop_schedule: int(N0 * ratio) of the original N0, 1.0 prepended", "[tokens][pyramid_drop]") {
    const auto s = nnprune::pyramid_drop_schedule(576);
    CHECK(s.layers == std::vector<std::size_t>{8, 16, 24});
    CHECK(s.ratios == std::vector<double>{1.0, 0.5, 0.25, 0.125});
    CHECK(s.counts == std::vector<std::size_t>{576, 288, 144, 72});
    // truncation of the IEEE product: 100 * 0.29 = 28.999999999999996 -> 28; 7 * 0.5 = 3.5 -> 3
    const auto t = nnprune::pyramid_drop_schedule(100, {.layers = {2, 5}, .ratios = {0.29, 0.07}});
    CHECK(t.counts == std::vector<std::size_t>{100, 28, 7});
    CHECK(nnprune::pyramid_drop_schedule(7, {.layers = {1}, .ratios = {0.5}}).counts == std::vector<std::size_t>{7, 3});
    CHECK(nnprune::pyramid_drop_schedule(5, {.layers = {}, .ratios = {}}).counts == std::vector<std::size_t>{5});
    CHECK(nnprune::pyramid_drop_schedule(8, {.layers = {3, 4}, .ratios = {0.5, 0.5}}).counts ==
          std::vector<std::size_t>{8, 4, 4});
    using C = Catch::Matchers::StdString::ContainsMatcher;
    auto fails = [](std::size_t n0, nnprune::pdrop_options o, const C& m) {
        CHECK_THROWS_WITH(nnprune::pyramid_drop_schedule(n0, o), m);
    };
    const double nan = std::numeric_limits<double>::quiet_NaN();
    fails(0, {}, Catch::Contains("pyramid_drop_schedule: no image tokens (N0 = 0)"));
    fails(576, {.layers = {8, 16}, .ratios = {0.5}}, Catch::Contains("pyramid_drop_schedule: 2 layers but 1 ratios"));
    fails(576, {.layers = {8, 8}, .ratios = {0.5, 0.25}}, Catch::Contains("layer 1 is 8: layers must be positive"));
    fails(576, {.layers = {0}, .ratios = {0.5}}, Catch::Contains("layer 0 is 0"));
    fails(576, {.layers = {8}, .ratios = {0.0}},
          Catch::Contains("pyramid_drop_schedule: ratio 0 is 0, must be in (0, 1]"));
    fails(576, {.layers = {8}, .ratios = {1.5}}, Catch::Contains("ratio 0 is 1.5"));
    fails(576, {.layers = {8}, .ratios = {nan}}, Catch::Contains("ratio 0 is nan"));
    fails(576, {.layers = {8, 9}, .ratios = {0.25, 0.5}},
          Catch::Contains("gives int(576 * 0.5) = 288 image tokens after 144"));
    fails(3, {.layers = {8}, .ratios = {0.2}}, Catch::Contains("= 0 image tokens after 3"));
}

TEST_CASE("pdrop_select: hand-worked drop and ties", "[tokens][pyramid_drop]") {
    using pdrop_test::tensor_view;
    // 2 heads, 7 keys, image tokens at keys [2, 6); the text columns are never read (NaN)
    const float nan = std::numeric_limits<float>::quiet_NaN();
    const std::vector<float> row = {
        nan, nan, 0.1f, 0.3f, 0.2f, 0.0f, nan,  // head 0
        nan, nan, 0.3f, 0.1f, 0.0f, 0.4f, nan,  // head 1
    };
    const tensor_view<const float, 2> v(row.data(), 2, 7);
    nnprune::pdrop_result r;
    nnprune::pdrop_workspace ws;
    nnprune::pdrop_select(v, 2, 4, 2, r, ws);
    REQUIRE(r.scores.size() == 4);
    CHECK(r.scores[0] == Approx(0.2));
    CHECK(r.scores[1] == Approx(0.2));
    CHECK(r.scores[2] == Approx(0.1));
    CHECK(r.scores[3] == Approx(0.2));
    CHECK(r.kept == std::vector<std::size_t>{0, 1});  // three-way tie at 0.2: the lower indices
    CHECK(nnprune::pdrop_select(v, 2, 4, 3) == std::vector<std::size_t>{0, 1, 3});
    CHECK(nnprune::pdrop_select(v, 2, 4, 4) == std::vector<std::size_t>{0, 1, 2, 3});
    CHECK(nnprune::pdrop_select(v, 3, 3, 1) == std::vector<std::size_t>{0});  // keys 3..5: 0.2, 0.1, 0.2
    CHECK(nnprune::pdrop_select(v, 4, 2, 1) == std::vector<std::size_t>{1});  // keys 4, 5: 0.1, 0.2
    CHECK_THROWS_WITH(nnprune::pdrop_select(v, 2, 5, 1),
                      Catch::Contains("pdrop_select: non-finite attention (NaN or Inf) at head 0, key 6"));
}

TEST_CASE("pdrop_select: equals the slow spec on grid inputs; dtypes and strides", "[tokens][pyramid_drop]") {
    using namespace pdrop_test;

    struct shape_case {
        std::size_t heads, len, start, n_s, n_next;
        int levels;
    };

    for (const shape_case c :
         {shape_case{4, 40, 5, 30, 15, 64}, shape_case{3, 20, 0, 20, 7, 4}, shape_case{1, 9, 8, 1, 1, 64},
          shape_case{8, 100, 10, 64, 8, 2}, shape_case{5, 33, 1, 31, 31, 64}}) {
        for (unsigned seed = 0; seed < 3; ++seed) {
            const auto row = grid(c.heads * c.len, seed + unsigned(c.len), c.levels);
            const auto want = slow_pdrop(row, c.heads, c.len, c.start, c.n_s, c.n_next);
            const tensor_view<const float, 2> v(row.data(), c.heads, c.len);
            CHECK(nnprune::pdrop_select(v, c.start, c.n_s, c.n_next) == want);
            const auto rb = cast<nnprune::bfloat16>(row);
            const auto rh = cast<nnprune::float16>(row);
            const auto rd = cast<double>(row);
            CHECK(nnprune::pdrop_select(tensor_view<const nnprune::bfloat16, 2>(rb.data(), c.heads, c.len), c.start,
                                        c.n_s, c.n_next) == want);
            CHECK(nnprune::pdrop_select(tensor_view<const nnprune::float16, 2>(rh.data(), c.heads, c.len), c.start,
                                        c.n_s, c.n_next) == want);
            CHECK(nnprune::pdrop_select(tensor_view<const double, 2>(rd.data(), c.heads, c.len), c.start, c.n_s,
                                        c.n_next) == want);
            // stored [L, H] (transposed): key stride H
            std::vector<float> t(row.size());
            for (std::size_t h = 0; h < c.heads; ++h)
                for (std::size_t k = 0; k < c.len; ++k) t[k * c.heads + h] = row[h * c.len + k];
            const auto sh = static_cast<std::ptrdiff_t>(c.heads);
            CHECK(nnprune::pdrop_select(tensor_view<const float, 2>(t.data(), {c.heads, c.len}, {1, sh}), c.start,
                                        c.n_s, c.n_next) == want);
            const auto tb = cast<nnprune::bfloat16>(t);
            CHECK(nnprune::pdrop_select(tensor_view<const nnprune::bfloat16, 2>(tb.data(), {c.heads, c.len}, {1, sh}),
                                        c.start, c.n_s, c.n_next) == want);
        }
    }
}

TEST_CASE("pdrop_select: a whole schedule, stage by stage", "[tokens][pyramid_drop]") {
    using namespace pdrop_test;
    const auto s = nnprune::pyramid_drop_schedule(48, {.layers = {2, 4, 6}, .ratios = {0.5, 0.25, 0.125}});
    REQUIRE(s.counts == std::vector<std::size_t>{48, 24, 12, 6});
    const std::size_t text = 7, heads = 4;
    nnprune::pdrop_result r;
    nnprune::pdrop_workspace ws;
    for (std::size_t st = 0; st + 1 < s.counts.size(); ++st) {
        const std::size_t len = text + s.counts[st] + 3;  // prompt, image, instruction up to the query
        const auto row = grid(heads * len, unsigned(st) + 40);
        nnprune::pdrop_select(tensor_view<const float, 2>(row.data(), heads, len), text, s.counts[st], s.counts[st + 1],
                              r, ws);
        CHECK(r.kept == slow_pdrop(row, heads, len, text, s.counts[st], s.counts[st + 1]));
        CHECK(r.kept.size() == s.counts[st + 1]);
        CHECK(r.scores.size() == s.counts[st]);
    }
}

TEST_CASE("pdrop_select: errors name the argument and leave the result unchanged", "[tokens][pyramid_drop]") {
    using namespace pdrop_test;
    auto row = grid(3 * 10, 3);
    const tensor_view<const float, 2> v(row.data(), 3, 10);
    nnprune::pdrop_result r;
    r.kept = {9};
    r.scores = {0.5f};
    nnprune::pdrop_workspace ws;
    CHECK_THROWS_WITH(nnprune::pdrop_select(v, 2, 9, 1, r, ws),
                      Catch::Contains("pdrop_select: image columns [2, 11) are empty or outside the 10 keys"));
    CHECK_THROWS_WITH(nnprune::pdrop_select(v, 11, 0, 1, r, ws), Catch::Contains("image columns [11, 11)"));
    CHECK_THROWS_WITH(nnprune::pdrop_select(v, 2, 0, 0, r, ws), Catch::Contains("image columns [2, 2) are empty"));
    CHECK_THROWS_WITH(nnprune::pdrop_select(v, 2, 4, 5, r, ws),
                      Catch::Contains("pdrop_select: n_next = 5 must be in [1, n_s = 4]"));
    CHECK_THROWS_WITH(nnprune::pdrop_select(v, 2, 4, 0, r, ws), Catch::Contains("n_next = 0"));
    CHECK_THROWS_WITH(nnprune::pdrop_select(tensor_view<const float, 2>(row.data(), 0, 10), 0, 1, 1, r, ws),
                      Catch::Contains("pdrop_select: attention row is 0x10"));
    row[2 * 10 + 4] = std::numeric_limits<float>::infinity();
    CHECK_THROWS_WITH(nnprune::pdrop_select(v, 2, 4, 2, r, ws),
                      Catch::Contains("pdrop_select: non-finite attention (NaN or Inf) at head 2, key 4"));
    CHECK(r.kept == std::vector<std::size_t>{9});
    CHECK(r.scores == std::vector<float>{0.5f});
    // outside the image columns: not read
    CHECK(nnprune::pdrop_select(v, 5, 5, 2).size() == 2);
    std::vector<double> big(2 * 3, 1e308);
    CHECK_THROWS_WITH(nnprune::pdrop_select(tensor_view<const double, 2>(big.data(), 2, 3), 0, 3, 1),
                      Catch::Contains("pdrop_select: the attention sum overflows"));
}

TEST_CASE("pdrop_select_batch: equals a loop for any thread count; errors leave out unchanged",
          "[tokens][pyramid_drop]") {
    using namespace pdrop_test;
    const std::size_t B = 6, H = 3, L = 30;
    auto rows = grid(B * H * L, 77, 8);
    const tensor_view<const float, 3> v(rows.data(), B, H, L);
    const std::vector<std::size_t> starts = {0, 3, 5, 1, 2, 6};
    std::vector<std::vector<std::size_t>> want, want_shared;
    for (std::size_t b = 0; b < B; ++b) {
        const tensor_view<const float, 2> item(rows.data() + b * H * L, H, L);
        want.push_back(nnprune::pdrop_select(item, starts[b], 20, 6));
        want_shared.push_back(nnprune::pdrop_select(item, 4, 20, 6));
    }
    std::vector<nnprune::pdrop_result> out;
    std::vector<nnprune::pdrop_workspace> ws;
    const std::vector<std::size_t> four = {4};
    for (unsigned threads = 1; threads <= 4; ++threads) {
        CHECK(nnprune::pdrop_select_batch(v, starts, 20, 6, threads) == want);
        CHECK(nnprune::pdrop_select_batch(v, four, 20, 6, threads) == want_shared);
        nnprune::pdrop_select_batch(v, starts, 20, 6, out, ws, threads);
        REQUIRE(out.size() == B);
        for (std::size_t b = 0; b < B; ++b) CHECK(out[b].kept == want[b]);
    }
    rows[4 * H * L + 1 * L + starts[4] + 7] = std::numeric_limits<float>::quiet_NaN();
    for (unsigned threads = 1; threads <= 4; ++threads) {
        CHECK_THROWS_WITH(nnprune::pdrop_select_batch(v, starts, 20, 6, out, ws, threads),
                          Catch::Contains("pdrop_select_batch: non-finite attention (NaN or Inf) at head 1, key 9"));
        for (std::size_t b = 0; b < B; ++b) CHECK(out[b].kept == want[b]);
    }
    const std::vector<std::size_t> two = {1, 2};
    CHECK_THROWS_WITH(nnprune::pdrop_select_batch(v, two, 20, 6),
                      Catch::Contains("pdrop_select_batch: 2 image starts for 6 items (give 1 or B)"));
    const std::vector<std::size_t> late = {0, 0, 0, 0, 0, 11};
    CHECK_THROWS_WITH(nnprune::pdrop_select_batch(v, late, 20, 6),
                      Catch::Contains("pdrop_select_batch: image columns [11, 31)"));
    CHECK_THROWS_WITH(nnprune::pdrop_select_batch(tensor_view<const float, 3>(rows.data(), 0, H, L), four, 20, 6),
                      Catch::Contains("pdrop_select_batch: empty batch"));
}
