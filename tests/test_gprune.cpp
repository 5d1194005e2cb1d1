// G-Prune (tokens/gprune.hpp) against a slow double-precision implementation written from
// tokens.md §8 (with a real matrix power), hand-worked cases, ties, dtypes, strides, batches and errors.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <numeric>
#include <random>
#include <vector>

#include <catch2/catch.hpp>

#include "simd_tiers.hpp"
#include "token_test_util.hpp"
#include <nnprune/tokens/gprune.hpp>

namespace gprune_test {

/// Clustered features: `centres` random directions, each token one of them plus noise, so many
/// similarities exceed 0.5 (with pure noise only the diagonal would).
inline std::vector<float> clustered(std::size_t n, std::size_t d, unsigned seed, std::size_t centres = 4,
                                    float noise = 0.6f) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> g;
    std::uniform_real_distribution<float> scale(0.5f, 3.0f);
    std::vector<float> c(centres * d);
    for (auto& v : c) v = g(rng);
    std::vector<float> x(n * d);
    for (std::size_t i = 0; i < n; ++i) {
        const std::size_t m = rng() % centres;
        const float s = scale(rng);
        for (std::size_t j = 0; j < d; ++j) x[i * d + j] = s * (c[m * d + j] + noise * g(rng));
    }
    return x;
}

/// n x n product in double.
inline std::vector<double> matmul(const std::vector<double>& a, const std::vector<double>& b, std::size_t n) {
    std::vector<double> c(n * n, 0.0);
    for (std::size_t i = 0; i < n; ++i)
        for (std::size_t k = 0; k < n; ++k)
            for (std::size_t j = 0; j < n; ++j) c[i * n + j] += a[i * n + k] * b[k * n + j];
    return c;
}

/// The spec, step by step, in double; the matrix power by repeated squaring as torch.matrix_power.
inline std::vector<double> slow_scores(const std::vector<double>& x, std::size_t n, std::size_t d,
                                       const nnprune::gprune_options& o = {}) {
    std::vector<double> xn(n * d), norm(n);
    for (std::size_t i = 0; i < n; ++i) {
        double ss = 0;
        for (std::size_t j = 0; j < d; ++j) ss += x[i * d + j] * x[i * d + j];
        norm[i] = std::sqrt(ss);
        for (std::size_t j = 0; j < d; ++j) xn[i * d + j] = x[i * d + j] / std::max(norm[i], 1e-12);
    }
    std::vector<double> a(n * n);
    for (std::size_t i = 0; i < n; ++i)
        for (std::size_t k = 0; k < n; ++k) {
            double s = 0;
            for (std::size_t j = 0; j < d; ++j) s += xn[i * d + j] * xn[k * d + j];
            a[i * n + k] = s;
        }
    for (auto& v : a) v = v < o.similarity ? 0.0 : v;
    for (auto& v : a) v = v / o.temperature;
    for (auto& v : a) v = std::fabs(v) < 1e-6 ? -5000.0 : v;
    std::vector<double> deg(n, 0.0);
    for (std::size_t i = 0; i < n; ++i) {
        double m = -1e300, z = 0;
        for (std::size_t k = 0; k < n; ++k) m = std::max(m, a[i * n + k]);
        for (std::size_t k = 0; k < n; ++k) z += a[i * n + k] = std::exp(a[i * n + k] - m);
        for (std::size_t k = 0; k < n; ++k) deg[i] += (a[i * n + k] /= z) > 0 ? 1 : 0;
    }
    std::vector<double> p(n * n, 0.0);  // identity
    for (std::size_t i = 0; i < n; ++i) p[i * n + i] = 1;
    std::vector<double> base = a;
    for (std::size_t e = o.iterations; e > 0; e >>= 1) {
        if (e & 1) p = matmul(p, base, n);
        if (e > 1) base = matmul(base, base, n);
    }
    std::vector<double> score(n, 0.0);
    for (std::size_t j = 0; j < n; ++j) {
        for (std::size_t i = 0; i < n; ++i) score[j] += norm[i] * p[i * n + j];
        score[j] /= deg[j];
    }
    return score;
}

using token_test::slow_top;

inline std::vector<double> widen(const std::vector<float>& x) { return {x.begin(), x.end()}; }

}  // namespace gprune_test

TEST_CASE("gprune: keep count helper is int((ratio * rows) * cols)", "[tokens][gprune]") {
    CHECK(nnprune::gprune_keep_count(0.5, 576) == 288);
    CHECK(nnprune::gprune_keep_count(0.3, 3, 30) == 26);  // (0.3 * 3) * 30 = 26.99..., 0.3 * 90 = 27
    CHECK(nnprune::gprune_keep_count(0.7, 3, 10) == 20);
    CHECK(nnprune::gprune_keep_count(1.0, 12, 16) == 192);
    CHECK(nnprune::gprune_keep_count(0.0, 12, 16) == 0);
    REQUIRE_THROWS_WITH(nnprune::gprune_keep_count(1.5, 4),
                        Catch::Matchers::Contains("gprune_keep_count: ratio must be in [0, 1], got 1.5"));
    REQUIRE_THROWS_AS(nnprune::gprune_keep_count(std::numeric_limits<double>::quiet_NaN(), 4),
                      nnprune::precondition_error);
}

TEST_CASE("gprune: hand-worked cases", "[tokens][gprune]") {
    // tokens 0, 1 along e1 (norms 2, 1), token 2 along e2 (norm 3): A = [[.5,.5,0],[.5,.5,0],[0,0,1]],
    // idempotent, so n^T A^5 = [1.5, 1.5, 3] and deg = [2, 2, 1]: scores [0.75, 0.75, 3].
    const std::vector<float> x = {2, 0, 1, 0, 0, 3};
    const auto r = nnprune::gprune(nnprune::matrix_view<const float>(x.data(), 3, 2), 2);
    REQUIRE(r.score.size() == 3);
    CHECK(r.score[0] == Approx(0.75).epsilon(1e-6));
    CHECK(r.score[1] == r.score[0]);
    CHECK(r.score[2] == Approx(3.0).epsilon(1e-6));
    CHECK(r.kept == std::vector<std::size_t>{0, 2});  // the tie 0 / 1 goes to the lower index
    CHECK(nnprune::gprune(nnprune::matrix_view<const float>(x.data(), 3, 2), 1).kept == std::vector<std::size_t>{2});
    CHECK(nnprune::gprune(nnprune::matrix_view<const float>(x.data(), 3, 2), 3).kept ==
          std::vector<std::size_t>{0, 1, 2});

    // a zero token: its row is uniform (deg 3) but its norm 0 adds nothing; the other rows are
    // [.5, .5, 0], so no flow reaches it: scores [0.5, 0.5, 0]
    const std::vector<float> z = {1, 0, 1, 0, 0, 0};
    const auto rz = nnprune::gprune(nnprune::matrix_view<const float>(z.data(), 3, 2), 1);
    CHECK(rz.score[0] == Approx(0.5).epsilon(1e-6));
    CHECK(rz.score[2] == 0.0f);
    CHECK(rz.kept == std::vector<std::size_t>{0});

    // iterations = 0: score = |x| / deg
    const auto r0 = nnprune::gprune(nnprune::matrix_view<const float>(x.data(), 3, 2), 1, {0.5, 0.03, 0});
    CHECK(r0.score == std::vector<float>{1.0f, 0.5f, 3.0f});

    // similarity 0.5 exactly is an edge (A < 0.5 is dropped, not A <= 0.5): cos 60 degrees.
    // f64 keeps 0.5 exact: rows (1, 0) and (0.5, sqrt(3)/2) have similarity 0.5 up to rounding, so
    // use a threshold just below instead and check deg through the score of the lone token.
    const std::vector<double> t = {1, 0, 0.5, std::sqrt(3.0) / 2};
    const auto rt = nnprune::gprune(nnprune::matrix_view<const double>(t.data(), 2, 2), 1, {0.49, 0.03, 1});
    CHECK(rt.score[0] == Approx(0.5).epsilon(1e-6));  // both rows [.5, .5]: flow [1, 1] / deg 2
    const auto rt2 = nnprune::gprune(nnprune::matrix_view<const double>(t.data(), 2, 2), 1, {0.51, 0.03, 1});
    CHECK(rt2.score[0] == Approx(1.0).epsilon(1e-6));  // no edge: identity, deg 1
}

TEST_CASE("gprune: tiny norms divide by 1e-12 (F.normalize), not by the norm", "[tokens][gprune]") {
    // token 1 has norm 1e-13: Xn = x / 1e-12 has norm 0.1, its self-similarity 0.01 < 0.5, so its
    // row is uniform (deg 2) although it is not zero
    const std::vector<double> x = {1, 0, 0, 1e-13};
    const auto r = nnprune::gprune(nnprune::matrix_view<const double>(x.data(), 2, 2), 1, {0.5, 0.03, 1});
    // rows: token 0 -> [1, 0] (deg 1), token 1 -> [.5, .5] (deg 2); flow = [1 + .5e-13, .5e-13]
    CHECK(r.score[0] == Approx(1.0).epsilon(1e-6));
    CHECK(r.score[1] == Approx(0.25e-13).epsilon(1e-5));
    const auto want = gprune_test::slow_scores(x, 2, 2, {0.5, 0.03, 1});
    CHECK(r.score[1] == Approx(want[1]).epsilon(1e-5));
}

TEST_CASE("gprune: random clustered inputs match the slow reference", "[tokens][gprune]") {
    // Tolerance: f32 Gram and f32 products against double throughout, sums of <= 48 positive
    // terms over 5 products: 2e-5 relative covers it (measured ~1e-6).
    for (unsigned seed = 1; seed <= 12; ++seed) {
        const std::size_t n = 24 + seed * 2, d = 16 + seed % 3;
        const auto x = gprune_test::clustered(n, d, seed, 2 + seed % 5);
        const std::size_t k = 1 + seed * 3 % n;
        nnprune::gprune_options o;
        if (seed % 4 == 1) o = {0.3, 0.1, 3};
        const auto r = nnprune::gprune(nnprune::matrix_view<const float>(x.data(), n, d), k, o);
        const auto want = gprune_test::slow_scores(gprune_test::widen(x), n, d, o);
        INFO("seed " << seed);
        for (std::size_t j = 0; j < n; ++j) CHECK(r.score[j] == Approx(want[j]).epsilon(2e-5));
        CHECK(r.kept == gprune_test::slow_top(want, k));
    }
}

TEST_CASE("gprune: duplicated tokens tie exactly, the lower index wins", "[tokens][gprune]") {
    const std::size_t n = 20, d = 8;
    auto x = gprune_test::clustered(n, d, 77, 3);
    for (std::size_t j = 0; j < d; ++j) x[13 * d + j] = x[4 * d + j], x[17 * d + j] = x[4 * d + j];
    nnprune::gprune_result r;
    nnprune::gprune_workspace ws;
    nnprune::gprune(nnprune::matrix_view<const float>(x.data(), n, d), n, r, ws);
    REQUIRE(r.score[4] == r.score[13]);
    REQUIRE(r.score[4] == r.score[17]);
    // keep exactly as many as rank strictly above token 4, plus one: only token 4 of the three
    std::size_t above = 0;
    for (std::size_t j = 0; j < n; ++j) above += r.score[j] > r.score[4];
    nnprune::gprune(nnprune::matrix_view<const float>(x.data(), n, d), above + 1, r, ws);
    CHECK(std::count(r.kept.begin(), r.kept.end(), 4) == 1);
    CHECK(std::count(r.kept.begin(), r.kept.end(), 13) == 0);
    nnprune::gprune(nnprune::matrix_view<const float>(x.data(), n, d), above + 2, r, ws);
    CHECK(std::count(r.kept.begin(), r.kept.end(), 13) == 1);
    CHECK(std::count(r.kept.begin(), r.kept.end(), 17) == 0);
    // all tokens equal: all scores equal, the first k kept
    const std::vector<float> same(6 * 3, 1.0f);
    CHECK(nnprune::gprune(nnprune::matrix_view<const float>(same.data(), 6, 3), 2).kept ==
          std::vector<std::size_t>{0, 1});
}

TEMPLATE_TEST_CASE("gprune: bf16 / f16 / f64 inputs match f32 of the same values", "[tokens][gprune]",
                   nnprune::bfloat16, nnprune::float16, double) {
    const std::size_t n = 30, d = 12;
    auto x = gprune_test::clustered(n, d, 5, 3);
    std::vector<TestType> xt(x.size());
    for (std::size_t i = 0; i < x.size(); ++i) {
        xt[i] = TestType(x[i]);
        x[i] = static_cast<float>(xt[i]);
    }
    const auto want = nnprune::gprune(nnprune::matrix_view<const float>(x.data(), n, d), 9);
    const auto got = nnprune::gprune(nnprune::matrix_view<const TestType>(xt.data(), n, d), 9);
    CHECK(got.kept == want.kept);
    CHECK(got.score == want.score);  // f64: same unit rows (divided in double either way), same norms
}

TEST_CASE("gprune: strided views equal the packed copy", "[tokens][gprune]") {
    const std::size_t n = 26, d = 10;
    const auto x = gprune_test::clustered(n, 2 * d, 9, 3);
    std::vector<float> packed(n * d);
    for (std::size_t i = 0; i < n; ++i)
        for (std::size_t j = 0; j < d; ++j) packed[i * d + j] = x[i * 2 * d + 2 * j];
    const nnprune::tensor_view<const float, 2> strided(x.data(), {n, d}, {static_cast<std::ptrdiff_t>(2 * d), 2});
    const auto a = nnprune::gprune(strided, 7),
               b = nnprune::gprune(nnprune::matrix_view<const float>(packed.data(), n, d), 7);
    CHECK(a.kept == b.kept);
    CHECK(a.score == b.score);
    // a transposed view (features stored [d, N])
    std::vector<float> t(d * n);
    for (std::size_t i = 0; i < n; ++i)
        for (std::size_t j = 0; j < d; ++j) t[j * n + i] = packed[i * d + j];
    const nnprune::tensor_view<const float, 2> tv(t.data(), {n, d}, {1, static_cast<std::ptrdiff_t>(n)});
    CHECK(nnprune::gprune(tv, 7).score == b.score);
}

TEST_CASE("gprune: batches equal a loop for any thread count", "[tokens][gprune]") {
    const std::size_t items = 5, n = 22, d = 9;
    std::vector<float> x;
    for (unsigned b = 0; b < items; ++b) {
        const auto xb = gprune_test::clustered(n, d, 100 + b, 2 + b);
        x.insert(x.end(), xb.begin(), xb.end());
    }
    const nnprune::tensor_view<const float, 3> v(x.data(), {items, n, d});
    std::vector<nnprune::gprune_result> want;
    for (std::size_t b = 0; b < items; ++b)
        want.push_back(nnprune::gprune(nnprune::matrix_view<const float>(x.data() + b * n * d, n, d), 6));
    std::vector<nnprune::gprune_result> out;
    std::vector<nnprune::gprune_workspace> ws;
    for (unsigned threads = 1; threads <= 4; ++threads) {
        nnprune::gprune_batch(v, 6, out, ws, {}, threads);
        REQUIRE(out.size() == items);
        for (std::size_t b = 0; b < items; ++b) {
            CHECK(out[b].kept == want[b].kept);
            CHECK(out[b].score == want[b].score);
        }
        CHECK(ws.size() >= threads);
    }
    CHECK(nnprune::gprune_batch(v, 6, {}, 3)[4].kept == want[4].kept);

    // a NaN in the last item: nothing written
    auto bad = x;
    bad[(items - 1) * n * d + 5] = std::numeric_limits<float>::quiet_NaN();
    const nnprune::tensor_view<const float, 3> bv(bad.data(), {items, n, d});
    const auto before = out;
    for (unsigned threads = 1; threads <= 4; ++threads) {
        REQUIRE_THROWS_WITH(nnprune::gprune_batch(bv, 6, out, ws, {}, threads),
                            Catch::Matchers::Contains("gprune_batch: non-finite feature nan at token 0, feature 5"));
        REQUIRE(out.size() == before.size());
        for (std::size_t b = 0; b < items; ++b) CHECK(out[b].kept == before[b].kept);
    }
    REQUIRE_THROWS_WITH(nnprune::gprune_batch(nnprune::tensor_view<const float, 3>(x.data(), {0, n, d}), 6, out, ws),
                        Catch::Matchers::Contains("gprune_batch: empty batch"));
    REQUIRE_THROWS_WITH(nnprune::gprune_batch(v, n + 1, out, ws),
                        Catch::Matchers::Contains("gprune_batch: keep k = 23"));
}

TEST_CASE("gprune: errors name the argument and leave the result unchanged", "[tokens][gprune]") {
    const std::size_t n = 5, d = 3;
    auto x = gprune_test::clustered(n, d, 3, 2);
    const nnprune::matrix_view<const float> v(x.data(), n, d);
    nnprune::gprune_result r;
    nnprune::gprune_workspace ws;
    nnprune::gprune(v, 2, r, ws);
    const auto before = r;
    auto unchanged = [&] {
        CHECK(r.kept == before.kept);
        CHECK(r.score == before.score);
    };
    REQUIRE_THROWS_WITH(nnprune::gprune(v, 0, r, ws),
                        Catch::Matchers::Contains("gprune: keep k = 0 must be in [1, N = 5]"));
    unchanged();
    REQUIRE_THROWS_WITH(nnprune::gprune(v, 6, r, ws), Catch::Matchers::Contains("gprune: keep k = 6"));
    REQUIRE_THROWS_AS(nnprune::gprune(v, 6, r, ws), nnprune::precondition_error);
    unchanged();
    REQUIRE_THROWS_WITH(nnprune::gprune(nnprune::matrix_view<const float>(x.data(), 0, d), 1, r, ws),
                        Catch::Matchers::Contains("gprune: features are 0x3"));
    REQUIRE_THROWS_AS(nnprune::gprune(nnprune::matrix_view<const float>(x.data(), n, 0), 1, r, ws),
                      nnprune::shape_error);
    unchanged();
    REQUIRE_THROWS_WITH(nnprune::gprune(v, 2, r, ws, {0.5, 0.0, 5}),
                        Catch::Matchers::Contains("gprune: temperature must be positive"));
    REQUIRE_THROWS_WITH(nnprune::gprune(v, 2, r, ws, {0.5, -1.0, 5}), Catch::Matchers::Contains("got -1"));
    REQUIRE_THROWS_WITH(nnprune::gprune(v, 2, r, ws, {std::numeric_limits<double>::quiet_NaN(), 0.03, 5}),
                        Catch::Matchers::Contains("gprune: similarity threshold must be finite"));
    unchanged();
    x[2 * d + 1] = std::numeric_limits<float>::infinity();
    REQUIRE_THROWS_WITH(nnprune::gprune(v, 2, r, ws),
                        Catch::Matchers::Contains("gprune: non-finite feature inf at token 2, feature 1"));
    REQUIRE_THROWS_AS(nnprune::gprune(v, 2, r, ws), nnprune::value_error);
    unchanged();
    x[2 * d + 1] = std::numeric_limits<float>::quiet_NaN();
    REQUIRE_THROWS_WITH(nnprune::gprune(v, 2, r, ws), Catch::Matchers::Contains("at token 2, feature 1"));
    unchanged();
    // a finite f64 row whose norm does not fit f32
    const std::vector<double> big = {1e300, 0, 0, 1};
    REQUIRE_THROWS_WITH(nnprune::gprune(nnprune::matrix_view<const double>(big.data(), 2, 2), 1, r, ws),
                        Catch::Matchers::Contains("gprune: the norm of token 0 overflows f32"));
    unchanged();
}

TEST_CASE("gprune: every SIMD tier gives the same bits", "[tokens][gprune]") {
    const std::size_t n = 37, d = 45;  // d not a multiple of 16: the kernels' tails run
    const auto x = gprune_test::clustered(n, d, 21, 3);
    const nnprune::matrix_view<const float> v(x.data(), n, d);
    nnprune::gprune_result want;
    {
        const nnprune::simd::isa_guard scalar(nnprune::simd::isa::scalar);
        want = nnprune::gprune(v, 11);
    }
    test_util::for_each_vector_tier([&](nnprune::simd::isa) {
        const auto r = nnprune::gprune(v, 11);
        CHECK(r.score == want.score);
        CHECK(r.kept == want.kept);
    });
}
