#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include <catch2/catch.hpp>

#include "prune_test_util.hpp"
#include <nnprune/prune/prune.hpp>
#include <nnprune/scorers/magnitude.hpp>
#include <nnprune/scorers/wanda_variant.hpp>

using namespace nnprune;

namespace {
// The upstream loop written out literally (full recount each time, no binary searches).
std::vector<bool> slow_variant(const std::vector<float>& s, std::size_t rows, std::size_t cols, double target,
                               double& alpha_out) {
    auto mask_at = [&](double alpha, double& cur) {
        std::vector<bool> pruned(s.size(), false);
        std::size_t cnt = 0;
        for (std::size_t r = 0; r < rows; ++r) {
            std::vector<float> row(s.begin() + static_cast<long>(r * cols),
                                   s.begin() + static_cast<long>((r + 1) * cols));
            std::vector<float> sorted = row;
            std::stable_sort(sorted.begin(), sorted.end());
            double tot = 0;
            for (float v : row) tot += v;
            const float lim = static_cast<float>(alpha) * static_cast<float>(tot);
            float acc = 0;
            std::size_t c = 0;
            for (float v : sorted) {
                acc += v;
                if (acc <= lim) ++c;
            }
            if (c == 0) continue;
            const float thr = sorted[c - 1];
            for (std::size_t j = 0; j < cols; ++j)
                if (row[j] <= thr) {
                    pruned[r * cols + j] = true;
                    ++cnt;
                }
        }
        cur = static_cast<double>(cnt) / static_cast<double>(s.size());
        return pruned;
    };
    double alpha = 0.4, lo = 0.0, hi = 0.8, cur = 0;
    auto m = mask_at(alpha, cur);
    while (std::fabs(cur - target) > 0.001 && hi - lo >= 0.001) {
        double na;
        if (cur > target) {
            na = (alpha + lo) / 2;
            hi = alpha;
        } else {
            na = (alpha + hi) / 2;
            lo = alpha;
        }
        alpha = na;
        m = mask_at(alpha, cur);
    }
    alpha_out = alpha;
    return m;
}
}  // namespace

TEST_CASE("wanda_variant_mask: matches the literal bisection, ties included", "[scorers][wanda_variant]") {
    for (std::uint64_t seed = 1; seed <= 6; ++seed) {
        const std::size_t rows = 9, cols = 23;
        auto v = seed % 2 ? test_util::values(rows * cols, seed) : test_util::tied_values(rows * cols, seed, 6);
        score_tensor s(shape{rows, cols});
        for (std::size_t i = 0; i < v.size(); ++i) s.values()[i] = std::fabs(v[i]);
        for (double target : {0.3, 0.5}) {
            mask m(s.shape());
            const auto res = wanda_variant_mask(s, target, m.view());
            double alpha = 0;
            const auto want = slow_variant(s.values(), rows, cols, target, alpha);
            INFO("seed " << seed << " target " << target);
            REQUIRE(res.alpha == alpha);
            for (std::size_t i = 0; i < want.size(); ++i) REQUIRE(m.test(i) == !want[i]);
            REQUIRE(res.sparsity == Approx(m.sparsity()));
        }
    }
}

TEST_CASE("wanda_variant_mask: a row with c_i = 0 prunes nothing; errors leave the mask", "[scorers][wanda_variant]") {
    // alpha starts at 0.4. Row 0 {1, 1}: cumsum {1, 2} > 0.4 * 2, so c = 0 and nothing is pruned
    // (upstream gathers index -1 and fails). Row 1 {100, 0}: c = 1, thr = 0, prunes the 0.
    // Sparsity 1/4 = target: the search stops at alpha = 0.4.
    score_tensor s(shape{2, 2});
    s.values() = {1.0f, 1.0f, 100.0f, 0.0f};
    mask m(s.shape());
    const auto res = wanda_variant_mask(s, 0.25, m.view());
    REQUIRE(res.alpha == 0.4);
    REQUIRE(m.to_bytes() == std::vector<std::uint8_t>{1, 1, 1, 0});
    mask m2(shape{3, 2});
    REQUIRE_THROWS_WITH(wanda_variant_mask(s, 0.5, m2.view()),
                        Catch::Contains("mask has 3x2 elements, scores have 2x2"));
    s.values()[1] = -1.0f;
    REQUIRE_THROWS_WITH(wanda_variant_mask(s, 0.5, m.view()), Catch::Contains("need >= 0"));
}

TEST_CASE("wanda_variant_rows: usable as a prune() pattern", "[scorers][wanda_variant]") {
    auto w = test_util::values(8 * 16, 5);
    std::vector<float> stat(16, 1.0f);
    auto l = test_util::make_layer("fc", w, 8, 16);
    l.input_stat = vector_view<const float>(stat.data(), 16);
    auto r = prune(std::span<const layer>(&l, 1), magnitude, wanda_variant_rows{}, 0.5);
    REQUIRE(r.layers[0].sparsity == Approx(0.5).margin(0.06));
}
