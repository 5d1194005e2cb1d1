#include <cmath>
#include <limits>
#include <vector>

#include <catch2/catch.hpp>

#include "token_test_util.hpp"
#include <nnprune/tokens/dpp.hpp>

using nnprune::keep_count;
using nnprune::matrix_view;

static double det(std::vector<double> m, std::size_t n) {
    double r = 1;
    for (std::size_t c = 0; c < n; ++c) {
        std::size_t p = c;
        for (std::size_t i = c + 1; i < n; ++i)
            if (std::abs(m[i * n + c]) > std::abs(m[p * n + c])) p = i;
        if (m[p * n + c] == 0) return 0;
        if (p != c) {
            for (std::size_t j = 0; j < n; ++j) std::swap(m[p * n + j], m[c * n + j]);
            r = -r;
        }
        r *= m[c * n + c];
        for (std::size_t i = c + 1; i < n; ++i) {
            const double f = m[i * n + c] / m[c * n + c];
            for (std::size_t j = c; j < n; ++j) m[i * n + j] -= f * m[c * n + j];
        }
    }
    return r;
}

/// Slow obvious greedy MAP: add the token maximising det(L_{S+i}); stop when the gain is tiny.
static std::vector<std::size_t> slow_dpp(const std::vector<float>& x, std::size_t n, std::size_t d, std::size_t k,
                                         const std::vector<float>& r) {
    const auto dm = token_test::distance_matrix(x, n, d);
    auto L = [&](std::size_t i, std::size_t j) { return double(r[i]) * r[j] * (1.0 - dm[i * n + j]); };
    std::vector<std::size_t> s;
    double prev = 1;
    while (s.size() < k) {
        std::size_t arg = n;
        double best = -1;
        for (std::size_t i = 0; i < n; ++i) {
            if (std::find(s.begin(), s.end(), i) != s.end()) continue;
            auto t = s;
            t.push_back(i);
            std::vector<double> m(t.size() * t.size());
            for (std::size_t a = 0; a < t.size(); ++a)
                for (std::size_t b = 0; b < t.size(); ++b) m[a * t.size() + b] = L(t[a], t[b]);
            const double v = det(m, t.size());
            if (arg == n || v > best) best = v, arg = i;
        }
        if (!s.empty() && best / prev <= 1e-10) break;
        s.push_back(arg);
        prev = best;
    }
    return s;
}

TEST_CASE("dpp: hand-worked 2-D case", "[tokens][dpp]") {
    // directions 0, 10, 90 degrees with relevance 1, 2, 1
    const std::vector<float> x = {1, 0, float(std::cos(M_PI / 18)), float(std::sin(M_PI / 18)), 0, 1};
    const matrix_view<const float> v(x.data(), 3, 2);
    const std::vector<float> r = {1, 2, 1};
    // L_ii = r_i^2: token 1 first (4); then gains: token 0: 1 - cos^2(10deg) = 0.030, token 2: 1 - cos^2(80deg) = 0.970
    CHECK(nnprune::dpp_order(v, keep_count{2}, r) == std::vector<std::size_t>{1, 2});
    CHECK(nnprune::dpp(v, keep_count{3}, r) == std::vector<std::size_t>{1, 2});  // rank 2: the third gain is ~0
    // without relevance: all L_ii = 1, tie -> token 0; then token 2 (orthogonal)
    CHECK(nnprune::dpp_order(v, keep_count{2}) == std::vector<std::size_t>{0, 2});
}

TEST_CASE("dpp: same order as the slow determinant greedy", "[tokens][dpp]") {
    const std::size_t n = GENERATE(std::size_t{5}, std::size_t{23}, std::size_t{40});
    const std::size_t d = 32;
    const auto x = token_test::random_features(n, d, 77u + static_cast<unsigned>(n));
    std::vector<float> r(n);
    std::mt19937 rng(5);
    std::uniform_real_distribution<float> u(0.2f, 1.0f);
    for (auto& v : r) v = u(rng);
    for (std::size_t k : {std::size_t{1}, n / 2, std::min<std::size_t>(n, 12)}) {
        INFO("n=" << n << " k=" << k);
        CHECK(nnprune::dpp_order(matrix_view<const float>(x.data(), n, d), keep_count{k}, r) ==
              slow_dpp(x, n, d, k, r));
    }
}

TEST_CASE("dpp: stops when the marginal gain is not positive (duplicates, rank)", "[tokens][dpp]") {
    // rank-2 token set: after two tokens every gain is ~0, so only 2 come back
    const std::vector<float> x = {1, 0, 0, 1, 1, 0, 1, 1, 2, 2};
    const auto got = nnprune::dpp_order(matrix_view<const float>(x.data(), 5, 2), keep_count{4});
    CHECK(got == std::vector<std::size_t>{0, 1});
    std::vector<nnprune::float16> xh(x.size());
    for (std::size_t i = 0; i < x.size(); ++i) xh[i] = nnprune::float16(x[i]);
    CHECK(nnprune::dpp(matrix_view<const nnprune::float16>(xh.data(), 5, 2), keep_count{4}) == got);
}

TEST_CASE("dpp: bad input", "[tokens][dpp]") {
    using Catch::Contains;
    std::vector<float> x = {1, 0, 0, 1, 1, 1};
    const matrix_view<const float> v(x.data(), 3, 2);
    REQUIRE_THROWS_WITH(nnprune::dpp(v, keep_count{2}, std::vector<float>{1, 2}),
                        Contains("dpp: relevance has 2 scores for 3 tokens"));
    REQUIRE_THROWS_WITH(nnprune::dpp(v, keep_count{2}, std::vector<float>{1, NAN, 1}),
                        Contains("dpp: non-finite relevance nan at token 1"));
    REQUIRE_THROWS_WITH(nnprune::dpp(v, keep_count{4}), Contains("dpp: keep = 4 exceeds N = 3"));
    REQUIRE_THROWS_WITH(nnprune::dpp(matrix_view<const float>(x.data(), 3, 0), keep_count{1}),
                        Contains("dpp: tokens have no features"));
    x[0] = NAN;
    REQUIRE_THROWS_AS(nnprune::dpp_order(v, 0.5), nnprune::value_error);
}
