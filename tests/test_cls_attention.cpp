#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <numeric>
#include <random>
#include <vector>

#include <catch2/catch.hpp>

#include "token_test_util.hpp"
#include <nnprune/tokens/cls_attention.hpp>

namespace cls_attention_test {

using nnprune::tensor_view;
using token_test::cast;
using token_test::slow_top;

/// Attention values on a 1/64 grid: exact in every dtype, so sums are exact and ties are real.
inline std::vector<float> grid_maps(std::size_t count, unsigned seed, int levels = 64) {
    std::mt19937 rng(seed);
    std::uniform_int_distribution<int> u(0, levels - 1);
    std::vector<float> a(count);
    for (auto& v : a) v = static_cast<float>(u(rng)) / 64.0f;
    return a;
}

/// The spec, slowly: score[i] = sum_{l in range} (sum_h a[l, h, cls, key(i)]) / H.
inline std::vector<double> slow_scores(const std::vector<float>& a, std::size_t heads, std::size_t keys,
                                       std::size_t first, std::size_t last, std::size_t cls) {
    std::vector<double> s;
    for (std::size_t k = 0; k < keys; ++k) {
        if (k == cls) continue;
        double total = 0;
        for (std::size_t l = first; l < last; ++l) {
            double sum = 0;
            for (std::size_t h = 0; h < heads; ++h) sum += a[((l * heads + h) * keys + cls) * keys + k];
            total += sum / static_cast<double>(heads);
        }
        s.push_back(total);
    }
    return s;
}

inline tensor_view<const float, 4> view4(const std::vector<float>& a, std::size_t l, std::size_t h, std::size_t k) {
    return tensor_view<const float, 4>(a.data(), l, h, k, k);
}

}  // namespace cls_attention_test

TEST_CASE("cls_attention: hand-worked FasterVLM scores, CLS position and ties", "[tokens][cls_attention]") {
    using cls_attention_test::tensor_view;
    // 2 heads, 4 tokens; rows other than the CLS row are never read (NaN there)
    const float nan = std::numeric_limits<float>::quiet_NaN();
    std::vector<float> a(2 * 4 * 4, nan);
    const float h0_cls0[4] = {0.1f, 0.4f, 0.2f, 0.3f}, h1_cls0[4] = {0.3f, 0.0f, 0.4f, 0.3f};
    for (int k = 0; k < 4; ++k)
        a[static_cast<std::size_t>(k)] = h0_cls0[k], a[16 + static_cast<std::size_t>(k)] = h1_cls0[k];
    const tensor_view<const float, 3> v(a.data(), 2, 4, 4);
    const auto s = nnprune::cls_attention_scores(v);
    REQUIRE(s.size() == 3);
    CHECK(s[0] == Approx(0.2));  // (0.4 + 0.0) / 2
    CHECK(s[1] == Approx(0.3));  // (0.2 + 0.4) / 2
    CHECK(s[2] == Approx(0.3));  // (0.3 + 0.3) / 2: tie with token 1
    CHECK(nnprune::cls_attention(v, nnprune::keep_count{1}) == std::vector<std::size_t>{1});  // tie: lower index
    CHECK(nnprune::cls_attention(v, nnprune::keep_count{2}) == std::vector<std::size_t>{1, 2});
    CHECK(nnprune::cls_attention(v, nnprune::keep_count{3}) == std::vector<std::size_t>{0, 1, 2});
    // CLS at position 2: its row is row 2, column 2 dropped, image tokens are keys 0, 1, 3
    std::vector<float> b(2 * 4 * 4, nan);
    const float h0[4] = {0.5f, 0.1f, 0.9f, 0.2f}, h1[4] = {0.1f, 0.1f, 0.9f, 0.6f};
    for (std::size_t k = 0; k < 4; ++k) b[2 * 4 + k] = h0[k], b[16 + 2 * 4 + k] = h1[k];
    const tensor_view<const float, 3> w(b.data(), 2, 4, 4);
    const auto s2 = nnprune::cls_attention_scores(w, {.cls = 2});
    REQUIRE(s2.size() == 3);
    CHECK(s2[0] == Approx(0.3));
    CHECK(s2[1] == Approx(0.1));
    CHECK(s2[2] == Approx(0.4));
    CHECK(nnprune::cls_attention(w, nnprune::keep_count{2}, {.cls = 2}) == std::vector<std::size_t>{0, 2});
    CHECK_THROWS_WITH(nnprune::cls_attention(v, nnprune::keep_count{2}, {.cls = 1}),
                      Catch::Contains("cls_attention: non-finite attention") && Catch::Contains("CLS row 1"));
}

TEST_CASE("cls_attention: VTC-CLS layer sum equals the slow spec on grid inputs (ties exact)",
          "[tokens][cls_attention]") {
    using namespace cls_attention_test;

    struct shape_case {
        std::size_t layers, heads, keys, start, cls;
    };

    for (const shape_case c : {shape_case{4, 3, 10, 0, 0}, shape_case{6, 2, 17, 2, 0}, shape_case{5, 4, 33, 3, 5},
                               shape_case{3, 1, 9, 1, 8}, shape_case{2, 5, 3, 0, 1}}) {
        for (unsigned seed = 0; seed < 3; ++seed) {
            const std::size_t n = c.keys - 1;
            const auto a =
                grid_maps(c.layers * c.heads * c.keys * c.keys, seed * 31 + unsigned(c.keys), seed == 2 ? 3 : 64);
            const auto layers = nnprune::vtc_cls_layers(c.layers, c.start);
            CHECK(layers.first == c.start);
            CHECK(layers.last == c.layers - 1);
            const auto want = slow_scores(a, c.heads, c.keys, layers.first, layers.last, c.cls);
            const auto v = view4(a, c.layers, c.heads, c.keys);
            const auto got = nnprune::cls_attention_scores(v, layers, {.cls = c.cls});
            REQUIRE(got.size() == n);
            for (std::size_t i = 0; i < n; ++i) CHECK(got[i] == static_cast<float>(want[i]));
            for (std::size_t k : {std::size_t{1}, n / 2 + 1, n}) {
                if (k == 0 || k > n) continue;
                CHECK(nnprune::cls_attention(v, layers, nnprune::keep_count{k}, {.cls = c.cls}) == slow_top(want, k));
            }
            // any explicit range, e.g. every layer
            const auto all = slow_scores(a, c.heads, c.keys, 0, c.layers, c.cls);
            CHECK(nnprune::cls_attention(v, {0, c.layers}, 0.5, {.cls = c.cls}) ==
                  slow_top(all, static_cast<std::size_t>(std::nearbyint(0.5 * double(n)))));
        }
    }
}

TEST_CASE("cls_attention: ratios round half-even as FasterVLM's README derives T", "[tokens][cls_attention]") {
    using namespace cls_attention_test;
    const auto a = grid_maps(2 * 577 * 577, 7);
    const tensor_view<const float, 3> v(a.data(), 2, 577, 577);
    CHECK(nnprune::cls_attention(v, 1.0 - 0.75).size() == 144);
    CHECK(nnprune::cls_attention(v, 1.0 - 0.9).size() == 58);   // 57.6
    CHECK(nnprune::cls_attention(v, 1.0 - 0.95).size() == 29);  // 28.8
    const auto b = grid_maps(1 * 7 * 7, 8);                     // N = 6: 0.25 * 6 = 1.5 -> 2, 0.75 * 6 = 4.5 -> 4
    const tensor_view<const float, 3> w(b.data(), 1, 7, 7);
    CHECK(nnprune::cls_attention(w, 0.25).size() == 2);
    CHECK(nnprune::cls_attention(w, 0.75).size() == 4);
}

TEST_CASE("cls_attention: every dtype equals the f32 call on the same values; strided views",
          "[tokens][cls_attention]") {
    using namespace cls_attention_test;
    const std::size_t L = 3, H = 4, K = 21;
    const auto a = grid_maps(L * H * K * K, 11, 5);  // few levels: many ties
    const auto v = view4(a, L, H, K);
    nnprune::cls_attention_result want;
    nnprune::cls_attention_workspace ws;
    nnprune::cls_attention(v, {0, 2}, nnprune::keep_count{7}, want, ws, {.cls = 3});
    REQUIRE(want.kept.size() == 7);
    auto same = [&](const auto& view) {
        nnprune::cls_attention_result r;
        nnprune::cls_attention(view, {0, 2}, nnprune::keep_count{7}, r, ws, {.cls = 3});
        CHECK(r.kept == want.kept);
        CHECK(r.scores == want.scores);
    };
    const auto ab = cast<nnprune::bfloat16>(a);
    const auto ah = cast<nnprune::float16>(a);
    const auto ad = cast<double>(a);
    same(tensor_view<const nnprune::bfloat16, 4>(ab.data(), L, H, K, K));
    same(tensor_view<const nnprune::float16, 4>(ah.data(), L, H, K, K));
    same(tensor_view<const double, 4>(ad.data(), L, H, K, K));
    // stored with queries and keys swapped: the view has key stride K (no contiguous rows)
    std::vector<float> t(a.size());
    for (std::size_t lh = 0; lh < L * H; ++lh)
        for (std::size_t q = 0; q < K; ++q)
            for (std::size_t k = 0; k < K; ++k) t[(lh * K + k) * K + q] = a[(lh * K + q) * K + k];
    const std::ptrdiff_t sk = static_cast<std::ptrdiff_t>(K);
    same(tensor_view<const float, 4>(t.data(), {L, H, K, K},
                                     {sk * sk * static_cast<std::ptrdiff_t>(H), sk * sk, 1, sk}));
    const auto tb = cast<nnprune::bfloat16>(t);
    same(tensor_view<const nnprune::bfloat16, 4>(tb.data(), {L, H, K, K},
                                                 {sk * sk * static_cast<std::ptrdiff_t>(H), sk * sk, 1, sk}));
    // layers in reverse storage order (negative stride) and the workspace reused at another shape
    std::vector<float> rev(a.size());
    const std::size_t per = H * K * K;
    for (std::size_t l = 0; l < L; ++l)
        std::copy_n(a.begin() + long(l * per), per, rev.begin() + long((L - 1 - l) * per));
    same(tensor_view<const float, 4>(rev.data() + (L - 1) * per, {L, H, K, K},
                                     {-static_cast<std::ptrdiff_t>(per), sk * sk, sk, 1}));
    const auto small = grid_maps(2 * 2 * 5 * 5, 3);
    nnprune::cls_attention_result r2;
    nnprune::cls_attention(view4(small, 2, 2, 5), {1, 2}, nnprune::keep_count{2}, r2, ws);
    CHECK(r2.kept == slow_top(slow_scores(small, 2, 5, 1, 2, 0), 2));
    same(v);
}

TEST_CASE("cls_attention: only the CLS rows of the chosen layers are read; NaN and Inf there are errors",
          "[tokens][cls_attention]") {
    using namespace cls_attention_test;
    const std::size_t L = 4, H = 2, K = 6;
    auto a = grid_maps(L * H * K * K, 5);
    const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
    const auto want = nnprune::cls_attention(view4(a, L, H, K), {1, 3}, nnprune::keep_count{3});
    auto at = [&](std::size_t l, std::size_t h, std::size_t q, std::size_t k) -> float& {
        return a[((l * H + h) * K + q) * K + k];
    };
    at(0, 0, 0, 3) = nan;  // layer outside the range
    at(3, 1, 0, 2) = inf;
    at(1, 0, 1, 1) = nan;  // not the CLS row
    at(2, 1, 5, 0) = -inf;
    CHECK(nnprune::cls_attention(view4(a, L, H, K), {1, 3}, nnprune::keep_count{3}) == want);
    nnprune::cls_attention_result r;
    r.kept = {42};
    r.scores = {1.5f};
    nnprune::cls_attention_workspace ws;
    at(2, 1, 0, 4) = nan;
    CHECK_THROWS_WITH(
        nnprune::cls_attention(view4(a, L, H, K), {1, 3}, nnprune::keep_count{3}, r, ws),
        Catch::Contains("cls_attention: non-finite attention (NaN or Inf) at layer 2, head 1, CLS row 0, key 4"));
    at(2, 1, 0, 4) = -inf;
    CHECK_THROWS_WITH(nnprune::cls_attention(view4(a, L, H, K), {1, 3}, nnprune::keep_count{3}, r, ws),
                      Catch::Contains("key 4"));
    CHECK_THROWS_WITH(nnprune::cls_attention_scores(view4(a, L, H, K), {2, 3}),
                      Catch::Contains("cls_attention_scores: non-finite"));
    CHECK(r.kept == std::vector<std::size_t>{42});
    CHECK(r.scores == std::vector<float>{1.5f});
    // f64 values that are finite but whose sum overflows
    std::vector<double> big(1 * 2 * 3 * 3, 1e308);
    CHECK_THROWS_WITH(nnprune::cls_attention(tensor_view<const double, 3>(big.data(), 2, 3, 3), 0.5),
                      Catch::Contains("cls_attention: the [CLS] attention sum overflows"));
}

TEST_CASE("cls_attention: shape, range and keep errors leave the result unchanged", "[tokens][cls_attention]") {
    using namespace cls_attention_test;
    const auto a = grid_maps(3 * 2 * 5 * 5, 9);
    const auto v = view4(a, 3, 2, 5);
    nnprune::cls_attention_result r;
    r.kept = {7, 8};
    r.scores = {0.25f};
    nnprune::cls_attention_workspace ws;
    auto unchanged = [&] {
        CHECK(r.kept == std::vector<std::size_t>{7, 8});
        CHECK(r.scores == std::vector<float>{0.25f});
    };
    using nnprune::keep_count;
    CHECK_THROWS_WITH(nnprune::cls_attention(v, {1, 1}, keep_count{1}, r, ws),
                      Catch::Contains("cls_attention: layer range [1, 1) is empty or outside the 3 layers"));
    CHECK_THROWS_WITH(nnprune::cls_attention(v, {0, 4}, keep_count{1}, r, ws), Catch::Contains("layer range [0, 4)"));
    CHECK_THROWS_WITH(nnprune::cls_attention(v, {0, 1}, keep_count{5}, r, ws),
                      Catch::Contains("cls_attention: keep = 5 exceeds N = 4"));
    CHECK_THROWS_WITH(nnprune::cls_attention(v, {0, 1}, keep_count{0}, r, ws),
                      Catch::Contains("cls_attention: keep = 0"));
    CHECK_THROWS_WITH(nnprune::cls_attention(v, {0, 1}, 0.1, r, ws), Catch::Contains("cls_attention: keep = round("));
    CHECK_THROWS_WITH(nnprune::cls_attention(v, {0, 1}, keep_count{1}, r, ws, {.cls = 5}),
                      Catch::Contains("cls_attention: CLS position 5 is outside the 5 tokens"));
    const tensor_view<const float, 4> rect(a.data(), 3, 2, 4, 5);
    CHECK_THROWS_WITH(nnprune::cls_attention(rect, {0, 1}, keep_count{1}, r, ws),
                      Catch::Contains("cls_attention: attention is 3x2x4x5"));
    const tensor_view<const float, 4> one(a.data(), 3, 2, 1, 1);
    CHECK_THROWS_WITH(nnprune::cls_attention(one, {0, 1}, keep_count{1}, r, ws), Catch::Contains("at least 2 tokens"));
    const tensor_view<const float, 4> noheads(a.data(), 3, 0, 5, 5);
    CHECK_THROWS_WITH(nnprune::cls_attention(noheads, {0, 1}, keep_count{1}, r, ws), Catch::Contains("3x0x5x5"));
    unchanged();
    CHECK_THROWS_WITH(nnprune::vtc_cls_layers(3, 2),
                      Catch::Contains("vtc_cls_layers: start_layer 2 leaves no layer of 3"));
    CHECK_THROWS_WITH(nnprune::vtc_cls_layers(1, 0), Catch::Contains("vtc_cls_layers"));
    CHECK_THROWS_AS(nnprune::cls_attention(v, {0, 1}, 1.5), nnprune::precondition_error);
}

TEST_CASE("cls_attention_batch: equals a loop for any thread count; errors leave out unchanged",
          "[tokens][cls_attention]") {
    using namespace cls_attention_test;
    const std::size_t B = 5, L = 3, H = 2, K = 12;
    const auto a = grid_maps(B * L * H * K * K, 21, 6);
    std::vector<tensor_view<const float, 4>> items;
    for (std::size_t b = 0; b < B; ++b) items.emplace_back(a.data() + b * L * H * K * K, L, H, K, K);
    std::vector<std::vector<std::size_t>> want;
    for (const auto& it : items) want.push_back(nnprune::cls_attention(it, {0, 2}, nnprune::keep_count{4}, {.cls = 1}));
    std::vector<nnprune::cls_attention_result> out;
    std::vector<nnprune::cls_attention_workspace> ws;
    for (unsigned threads = 1; threads <= 4; ++threads) {
        CHECK(nnprune::cls_attention_batch(items, {0, 2}, nnprune::keep_count{4}, {.cls = 1}, threads) == want);
        nnprune::cls_attention_batch(items, {0, 2}, nnprune::keep_count{4}, out, ws, {.cls = 1}, threads);
        REQUIRE(out.size() == B);
        for (std::size_t b = 0; b < B; ++b) CHECK(out[b].kept == want[b]);
    }
    // one layer per item: [B * L, H, K, K] read as a batch of B * L items
    const tensor_view<const float, 4> flat(a.data(), B * L, H, K, K);
    const auto got = nnprune::cls_attention_batch(flat, 0.25, {}, 3);
    REQUIRE(got.size() == B * L);
    for (std::size_t i = 0; i < B * L; ++i)
        CHECK(got[i] == nnprune::cls_attention(tensor_view<const float, 3>(a.data() + i * H * K * K, H, K, K), 0.25));
    // a bad item (NaN in item 3's read row): out keeps the previous results
    auto bad = a;
    bad[3 * L * H * K * K + (1 * H + 0) * K * K + 1 * K + 6] = std::numeric_limits<float>::quiet_NaN();
    std::vector<tensor_view<const float, 4>> bad_items;
    for (std::size_t b = 0; b < B; ++b) bad_items.emplace_back(bad.data() + b * L * H * K * K, L, H, K, K);
    for (unsigned threads = 1; threads <= 4; ++threads) {
        CHECK_THROWS_WITH(
            nnprune::cls_attention_batch(bad_items, {0, 2}, nnprune::keep_count{4}, out, ws, {.cls = 1}, threads),
            Catch::Contains(
                "cls_attention_batch: non-finite attention (NaN or Inf) at layer 1, head 0, CLS row 1, key 6"));
        REQUIRE(out.size() == B);
        for (std::size_t b = 0; b < B; ++b) CHECK(out[b].kept == want[b]);
    }
    CHECK_THROWS_WITH(nnprune::cls_attention_batch(std::vector<tensor_view<const float, 4>>{}, {0, 1}, 0.5),
                      Catch::Contains("cls_attention_batch: empty batch"));
    std::vector<tensor_view<const float, 4>> mixed = {items[0],
                                                      tensor_view<const float, 4>(a.data(), L, H, K - 1, K - 1)};
    CHECK_THROWS_WITH(nnprune::cls_attention_batch(mixed, {0, 1}, 0.5),
                      Catch::Contains("cls_attention_batch: item 1 is"));
    CHECK_THROWS_WITH(nnprune::cls_attention_batch(items, {0, 1}, nnprune::keep_count{12}),
                      Catch::Contains("cls_attention_batch: keep = 12 exceeds N = 11"));
    CHECK_THROWS_WITH(nnprune::cls_attention_batch(tensor_view<const float, 4>(a.data(), 0, H, K, K), 0.5),
                      Catch::Contains("cls_attention_batch: empty batch"));
}

TEST_CASE("cls_attention: signed attention values", "[tokens][cls_attention]") {
    // one head: the scores are the CLS row; equal scores keep the lower index
    const std::vector<float> a = {9.0f, -0.25f, 0.5f, -0.5f, 0.0f, 0.5f,  // CLS row (key 0 is the CLS)
                                  0,    0,      0,    0,     0,    0,    0, 0, 0, 0, 0, 0, 0, 0, 0,
                                  0,    0,      0,    0,     0,    0,    0, 0, 0, 0, 0, 0, 0, 0, 0};
    const nnprune::tensor_view<const float, 3> v(a.data(), 1, 6, 6);
    CHECK(nnprune::cls_attention(v, nnprune::keep_count{3}) == std::vector<std::size_t>{1, 3, 4});
    CHECK(nnprune::cls_attention(v, nnprune::keep_count{4}) == std::vector<std::size_t>{0, 1, 3, 4});
}
