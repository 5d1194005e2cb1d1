// HoloV (tokens/holov.hpp) against a slow double-precision implementation written from
// tokens.md §9, hand-worked cases, ties, dtypes, strides, batches and errors.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <numeric>
#include <random>
#include <vector>

#include <catch2/catch.hpp>

#include "simd_tiers.hpp"
#include <nnprune/tokens/holov.hpp>

namespace holov_test {

struct slow_result {
    std::vector<std::size_t> order;
    std::size_t n_pad = 0;
    std::vector<double> crop_score;
    std::vector<long> alloc;
};

/// The spec step by step, in double.
inline slow_result slow_holov(const std::vector<double>& f, const std::vector<double>& a, std::size_t n, std::size_t d,
                              std::size_t k, std::size_t p, double alpha = 0.09, double eps = 1e-6) {
    std::vector<std::size_t> first, size;
    std::size_t start = 0;
    for (std::size_t c = 0; c < p; ++c) {
        const std::size_t m = n / p + (c < n % p ? 1 : 0);
        if (m > 0) first.push_back(start), size.push_back(m);
        start += m;
    }
    slow_result r;
    for (std::size_t c = 0; c < first.size(); ++c) {
        const std::size_t m = size[c], s0 = first[c];
        if (m == 1) {
            r.crop_score.push_back(a[s0]);
            continue;
        }
        std::vector<double> fh(m * d);
        for (std::size_t i = 0; i < m; ++i) {
            double ss = 0;
            for (std::size_t j = 0; j < d; ++j) ss += f[(s0 + i) * d + j] * f[(s0 + i) * d + j];
            for (std::size_t j = 0; j < d; ++j) fh[i * d + j] = f[(s0 + i) * d + j] / (std::sqrt(ss) + eps);
        }
        std::vector<double> s(m * m, 0.0), v(m), ah(m);
        for (std::size_t i = 0; i < m; ++i)
            for (std::size_t q = 0; q < m; ++q)
                if (i != q)
                    for (std::size_t j = 0; j < d; ++j) s[i * m + q] += fh[i * d + j] * fh[q * d + j];
        double mean_abs_a = 0, mean_abs_v = 0;
        for (std::size_t i = 0; i < m; ++i) {
            double mu = 0;
            for (std::size_t q = 0; q < m; ++q) mu += s[i * m + q];
            mu /= double(m - 1);
            double var = 0;
            for (std::size_t q = 0; q < m; ++q) var += (s[i * m + q] - mu) * (s[i * m + q] - mu);
            v[i] = var / double(m - 1);
            ah[i] = 1000.0 * a[s0 + i];
            mean_abs_a += std::fabs(ah[i]) / double(m);
            mean_abs_v += std::fabs(v[i]) / double(m);
        }
        double score = 0;
        for (std::size_t i = 0; i < m; ++i) score += ah[i] + alpha * v[i] * mean_abs_a / (mean_abs_v + eps);
        r.crop_score.push_back(score / double(m));
    }
    const std::size_t crops = first.size();
    double total = 0;
    for (auto x : r.crop_score) total += x;
    std::vector<double> w(crops);
    long sum = 0;
    for (std::size_t c = 0; c < crops; ++c) {
        w[c] = r.crop_score[c] / (total + eps);
        r.alloc.push_back(static_cast<long>(std::floor(w[c] * double(k))));
        sum += r.alloc.back();
    }
    const long left = long(k) - sum;
    if (left > 0) {
        std::vector<std::size_t> idx(crops);
        std::iota(idx.begin(), idx.end(), std::size_t{0});
        std::stable_sort(idx.begin(), idx.end(), [&](std::size_t x, std::size_t y) { return w[x] > w[y]; });
        for (std::size_t e = 0; e < std::min<std::size_t>(std::size_t(left), crops); ++e) ++r.alloc[idx[e]];
    }
    for (std::size_t c = 0; c < crops; ++c) {
        if (r.alloc[c] <= 0) continue;
        std::vector<std::size_t> idx(size[c]);
        std::iota(idx.begin(), idx.end(), first[c]);
        if (std::size_t(r.alloc[c]) < size[c]) {
            std::stable_sort(idx.begin(), idx.end(), [&](std::size_t x, std::size_t y) { return a[x] > a[y]; });
            idx.resize(std::size_t(r.alloc[c]));
        }
        r.order.insert(r.order.end(), idx.begin(), idx.end());
    }
    if (r.order.size() > k) r.order.resize(k);
    r.n_pad = k - r.order.size();
    return r;
}

inline std::vector<float> features(std::size_t n, std::size_t d, unsigned seed) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> g;
    std::vector<float> c(3 * d);
    for (auto& v : c) v = g(rng);
    std::vector<float> x(n * d);
    for (std::size_t i = 0; i < n; ++i)
        for (std::size_t j = 0; j < d; ++j) x[i * d + j] = c[(i % 3) * d + j] + 0.8f * g(rng);
    return x;
}

/// Log-normal attention, normalised to sum 1 (sigma 3: peaked, so padding happens).
inline std::vector<float> attention(std::size_t n, unsigned seed, double sigma) {
    std::mt19937 rng(seed + 1000);
    std::normal_distribution<double> g(0.0, sigma);
    std::vector<double> a(n);
    double s = 0;
    for (auto& v : a) s += v = std::exp(g(rng));
    std::vector<float> out(n);
    for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<float>(a[i] / s);
    return out;
}

inline std::vector<double> widen(const std::vector<float>& x) { return {x.begin(), x.end()}; }

inline nnprune::tensor_view<const float, 1> vec(const std::vector<float>& a) {
    return nnprune::tensor_view<const float, 1>(a.data(), {a.size()});
}

inline std::vector<std::size_t> sorted(std::vector<std::size_t> v) {
    std::sort(v.begin(), v.end());
    return v;
}

}  // namespace holov_test

TEST_CASE("holov: hand-worked allocation and selection (alpha = 0)", "[tokens][holov]") {
    // N = 7, P = 3: crops [0, 3), [3, 5), [5, 7). alpha = 0: a crop scores mean(1000 a).
    const std::vector<float> f(7 * 2, 1.0f);
    const std::vector<float> a = {0.1f, 0.2f, 0.3f, 0.05f, 0.05f, 0.0f, 0.3f};
    const nnprune::matrix_view<const float> fv(f.data(), 7, 2);
    const nnprune::holov_options o{3, 0.0, 1e-6};
    // scores 200, 50, 150 (w .5, .125, .375, each a little less: eps). K = 3: floor 1, 0, 1, one
    // leftover to crop 0.
    auto r = nnprune::holov(fv, holov_test::vec(a), 3, o);
    CHECK(r.crop_score[0] == Approx(200.0).epsilon(1e-6));
    CHECK(r.crop_score[1] == Approx(50.0).epsilon(1e-6));
    CHECK(r.alloc == std::vector<std::ptrdiff_t>{2, 0, 1});
    CHECK(r.order == std::vector<std::size_t>{2, 1, 6});  // descending attention inside a crop
    CHECK(r.kept == std::vector<std::size_t>{1, 2, 6});
    CHECK(r.n_pad == 0);
    // K = 4: w K = 2 - tiny (eps in the sum), 0.5, 1.5: floor 1, 0, 1, leftovers to crops 0 and 2
    r = nnprune::holov(fv, holov_test::vec(a), 4, o);
    CHECK(r.alloc == std::vector<std::ptrdiff_t>{2, 0, 2});
    CHECK(r.order == std::vector<std::size_t>{2, 1, 5, 6});  // crop 2 whole: position order
    CHECK(r.kept == std::vector<std::size_t>{1, 2, 5, 6});
    // K = 6: floor 2, 0, 2, leftovers to crops 0 and 2 (alloc 3 of 2 tokens): one token short
    r = nnprune::holov(fv, holov_test::vec(a), 6, o);
    CHECK(r.alloc == std::vector<std::ptrdiff_t>{3, 0, 3});
    CHECK(r.order == std::vector<std::size_t>{0, 1, 2, 5, 6});
    CHECK(r.kept == r.order);
    CHECK(r.n_pad == 1);
}

TEST_CASE("holov: hand-worked crop score with the diagonal inside the variance", "[tokens][holov]") {
    // one crop of e1, e1, e2: S = [[0,c,0],[c,0,0],[0,0,0]], c = 1/(1+1e-6)^2; m = (c/2, c/2, 0);
    // v = (3c^2/8, 3c^2/8, 0) (the zeroed diagonal's (0 - m)^2 counted); a^ = (1, 2, 3).
    const std::vector<float> f = {1, 0, 1, 0, 0, 1};
    const std::vector<float> a = {0.001f, 0.002f, 0.003f};
    const auto r = nnprune::holov(nnprune::matrix_view<const float>(f.data(), 3, 2), holov_test::vec(a), 1,
                                  nnprune::holov_options{1, 0.09, 1e-6});
    const double c = 1.0 / ((1 + 1e-6) * (1 + 1e-6));
    const double mean_a = (1000.0 * 0.001f + 1000.0 * 0.002f + 1000.0 * 0.003f) / 3;
    const double mean_v = (3 * c * c / 8) * 2 / 3;
    CHECK(r.crop_score[0] == Approx(mean_a + 0.09 * mean_v * mean_a / (mean_v + 1e-6)).epsilon(1e-6));
    CHECK(r.order == std::vector<std::size_t>{2});
}

TEST_CASE("holov: 1-token and empty crops", "[tokens][holov]") {
    const std::vector<float> f = holov_test::features(5, 4, 3);
    const std::vector<float> a = {0.1f, 0.2f, 0.3f, 0.25f, 0.15f};
    // N = 5, P = 4: sizes 2, 1, 1, 1; the 1-token crops score their raw attention
    auto r = nnprune::holov(nnprune::matrix_view<const float>(f.data(), 5, 4), holov_test::vec(a), 2,
                            nnprune::holov_options{4});
    REQUIRE(r.crop_score.size() == 4);
    CHECK(r.crop_score[1] == Approx(0.3));
    CHECK(r.crop_score[3] == Approx(0.15));
    // the 2-token crop scores ~1000x more: it takes everything
    CHECK(r.alloc == std::vector<std::ptrdiff_t>{2, 0, 0, 0});
    CHECK(r.order == std::vector<std::size_t>{0, 1});
    // N = 5, P = 8: five 1-token crops, three empty ones skipped; w = a / (1 + eps)
    r = nnprune::holov(nnprune::matrix_view<const float>(f.data(), 5, 4), holov_test::vec(a), 2,
                       nnprune::holov_options{8});
    REQUIRE(r.crop_score.size() == 5);
    // floor(2 a) = 0 everywhere; two leftovers to the largest w: tokens 2 and 3
    CHECK(r.alloc == std::vector<std::ptrdiff_t>{0, 0, 1, 1, 0});
    CHECK(r.order == std::vector<std::size_t>{2, 3});
}

TEST_CASE("holov: ties go to the lower index and the lower crop", "[tokens][holov]") {
    const std::vector<float> f(8 * 3, 1.0f);  // identical tokens: every crop scores the same
    const std::vector<float> a(8, 0.125f);
    // P = 4 crops of 2, equal scores: w = 1/4 - tiny; K = 5: floor(1.24...) = 1 each, one
    // leftover to crop 0; inside a crop equal attention: lower index first
    auto r = nnprune::holov(nnprune::matrix_view<const float>(f.data(), 8, 3), holov_test::vec(a), 5,
                            nnprune::holov_options{4});
    CHECK(r.alloc == std::vector<std::ptrdiff_t>{2, 1, 1, 1});
    CHECK(r.order == std::vector<std::size_t>{0, 1, 2, 4, 6});
    // K = 3: floor(0.75) = 0 everywhere, three leftovers to crops 0, 1, 2
    r = nnprune::holov(nnprune::matrix_view<const float>(f.data(), 8, 3), holov_test::vec(a), 3,
                       nnprune::holov_options{4});
    CHECK(r.alloc == std::vector<std::ptrdiff_t>{1, 1, 1, 0});
    CHECK(r.order == std::vector<std::size_t>{0, 2, 4});
    // crop of 4 with attention (0.2, 0.3, 0.3, 0.2) keeping 3: 1, 2 (tied, lower first), then 0
    const std::vector<float> a2 = {0.2f, 0.3f, 0.3f, 0.2f};
    r = nnprune::holov(nnprune::matrix_view<const float>(f.data(), 4, 3), holov_test::vec(a2), 3,
                       nnprune::holov_options{1});
    CHECK(r.order == std::vector<std::size_t>{1, 2, 0});
    CHECK(r.kept == std::vector<std::size_t>{0, 1, 2});
}

TEST_CASE("holov: random inputs match the slow reference", "[tokens][holov]") {
    std::size_t padded = 0;
    for (unsigned seed = 1; seed <= 24; ++seed) {
        const std::size_t n = 12 + seed * 7 % 90, d = 8 + seed % 5, p = seed % 3 == 0 ? 7 : 16;
        const std::size_t k = std::min<std::size_t>(n, 2 + seed * 5 % 40);
        const auto f = holov_test::features(n, d, seed);
        const auto a = holov_test::attention(n, seed, seed % 2 ? 3.0 : 0.5);
        const auto r = nnprune::holov(nnprune::matrix_view<const float>(f.data(), n, d), holov_test::vec(a), k,
                                      nnprune::holov_options{p});
        const auto want = holov_test::slow_holov(holov_test::widen(f), holov_test::widen(a), n, d, k, p);
        INFO("seed " << seed << ", N " << n << ", P " << p << ", K " << k);
        REQUIRE(r.crop_score.size() == want.crop_score.size());
        for (std::size_t c = 0; c < want.crop_score.size(); ++c)
            CHECK(r.crop_score[c] == Approx(want.crop_score[c]).epsilon(1e-6));
        CHECK(std::vector<long>(r.alloc.begin(), r.alloc.end()) == want.alloc);
        CHECK(r.order == want.order);
        CHECK(r.kept == holov_test::sorted(want.order));
        CHECK(r.n_pad == want.n_pad);
        CHECK(r.order.size() + r.n_pad == k);
        padded += r.n_pad > 0;
    }
    CHECK(padded > 0);  // the shortfall path was exercised
}

TEMPLATE_TEST_CASE("holov: bf16 / f16 / f64 inputs match f32 of the same values", "[tokens][holov]", nnprune::bfloat16,
                   nnprune::float16, double) {
    const std::size_t n = 40, d = 12;
    auto f = holov_test::features(n, d, 8);
    auto a = holov_test::attention(n, 8, 1.0);
    std::vector<TestType> ft(f.size()), at(a.size());
    for (std::size_t i = 0; i < f.size(); ++i) ft[i] = TestType(f[i]), f[i] = static_cast<float>(ft[i]);
    for (std::size_t i = 0; i < a.size(); ++i) at[i] = TestType(a[i]), a[i] = static_cast<float>(at[i]);
    const nnprune::holov_options o{6};
    const auto want = nnprune::holov(nnprune::matrix_view<const float>(f.data(), n, d), holov_test::vec(a), 10, o);
    const auto got = nnprune::holov(nnprune::matrix_view<const TestType>(ft.data(), n, d),
                                    nnprune::tensor_view<const TestType, 1>(at.data(), {n}), 10, o);
    CHECK(got.order == want.order);
    CHECK(got.crop_score == want.crop_score);
    CHECK(got.alloc == want.alloc);
}

TEST_CASE("holov: strided views equal packed copies", "[tokens][holov]") {
    const std::size_t n = 30, d = 6;
    const auto f = holov_test::features(n, 2 * d, 4);
    const auto a2 = holov_test::attention(2 * n, 4, 2.0);
    std::vector<float> fp(n * d), ap(n);
    for (std::size_t i = 0; i < n; ++i) {
        for (std::size_t j = 0; j < d; ++j) fp[i * d + j] = f[i * 2 * d + 2 * j];
        ap[i] = a2[2 * i];
    }
    const nnprune::tensor_view<const float, 2> fs(f.data(), {n, d}, {static_cast<std::ptrdiff_t>(2 * d), 2});
    const nnprune::tensor_view<const float, 1> as(a2.data(), {n}, {2});
    const auto got = nnprune::holov(fs, as, 9, nnprune::holov_options{4});
    const auto want = nnprune::holov(nnprune::matrix_view<const float>(fp.data(), n, d), holov_test::vec(ap), 9, {4});
    CHECK(got.order == want.order);
    CHECK(got.crop_score == want.crop_score);
    // contiguous rows with a row stride beyond D (read in place): the first D features of each row
    std::vector<float> fh(n * d);
    for (std::size_t i = 0; i < n; ++i)
        for (std::size_t j = 0; j < d; ++j) fh[i * d + j] = f[i * 2 * d + j];
    const nnprune::tensor_view<const float, 2> rows(f.data(), {n, d}, {static_cast<std::ptrdiff_t>(2 * d), 1});
    const auto in_place = nnprune::holov(rows, as, 9, nnprune::holov_options{4});
    const auto copy = nnprune::holov(nnprune::matrix_view<const float>(fh.data(), n, d), as, 9, {4});
    CHECK(in_place.order == copy.order);
    CHECK(in_place.crop_score == copy.crop_score);
}

TEST_CASE("holov: batches equal a loop for any thread count", "[tokens][holov]") {
    const std::size_t items = 5, n = 33, d = 7;
    std::vector<float> f, a;
    for (unsigned b = 0; b < items; ++b) {
        const auto fb = holov_test::features(n, d, 50 + b);
        const auto ab = holov_test::attention(n, 50 + b, 2.0);
        f.insert(f.end(), fb.begin(), fb.end());
        a.insert(a.end(), ab.begin(), ab.end());
    }
    const nnprune::tensor_view<const float, 3> fv(f.data(), {items, n, d});
    const nnprune::tensor_view<const float, 2> av(a.data(), {items, n});
    const nnprune::holov_options o{5};
    std::vector<nnprune::holov_result> want;
    for (std::size_t b = 0; b < items; ++b)
        want.push_back(nnprune::holov(nnprune::matrix_view<const float>(f.data() + b * n * d, n, d),
                                      nnprune::tensor_view<const float, 1>(a.data() + b * n, {n}), 11, o));
    std::vector<nnprune::holov_result> out;
    std::vector<nnprune::holov_workspace> ws;
    for (unsigned threads = 1; threads <= 4; ++threads) {
        nnprune::holov_batch(fv, av, 11, out, ws, o, threads);
        REQUIRE(out.size() == items);
        for (std::size_t b = 0; b < items; ++b) {
            CHECK(out[b].order == want[b].order);
            CHECK(out[b].kept == want[b].kept);
            CHECK(out[b].n_pad == want[b].n_pad);
        }
    }
    CHECK(nnprune::holov_batch(fv, av, 11, o, 2)[3].order == want[3].order);

    auto bad = f;
    bad[(items - 1) * n * d + 2 * d + 3] = std::numeric_limits<float>::infinity();
    const nnprune::tensor_view<const float, 3> bv(bad.data(), {items, n, d});
    const auto before = out;
    for (unsigned threads = 1; threads <= 4; ++threads) {
        REQUIRE_THROWS_WITH(nnprune::holov_batch(bv, av, 11, out, ws, o, threads),
                            Catch::Matchers::Contains("holov_batch: non-finite feature inf at token 2, feature 3"));
        for (std::size_t b = 0; b < items; ++b) CHECK(out[b].order == before[b].order);
    }
    auto bad_a = a;
    bad_a[3 * n + 4] = -0.5f;
    REQUIRE_THROWS_WITH(
        nnprune::holov_batch(fv, nnprune::tensor_view<const float, 2>(bad_a.data(), {items, n}), 11, out, ws, o),
        Catch::Matchers::Contains("holov_batch: attention must be non-negative and finite, got -0.5 at token 4"));
    REQUIRE_THROWS_WITH(
        nnprune::holov_batch(fv, nnprune::tensor_view<const float, 2>(a.data(), {items - 1, n}), 11, out, ws, o),
        Catch::Matchers::Contains("holov_batch: attention has 4 items, features 5"));
    REQUIRE_THROWS_WITH(nnprune::holov_batch(nnprune::tensor_view<const float, 3>(f.data(), {0, n, d}),
                                             nnprune::tensor_view<const float, 2>(a.data(), {0, n}), 11, out, ws, o),
                        Catch::Matchers::Contains("holov_batch: empty batch"));
    for (std::size_t b = 0; b < items; ++b) CHECK(out[b].order == before[b].order);
}

TEST_CASE("holov: errors name the argument and leave the result unchanged", "[tokens][holov]") {
    const std::size_t n = 10, d = 4;
    auto f = holov_test::features(n, d, 2);
    auto a = holov_test::attention(n, 2, 1.0);
    const nnprune::matrix_view<const float> fv(f.data(), n, d);
    const auto av = holov_test::vec(a);
    nnprune::holov_result r;
    nnprune::holov_workspace ws;
    nnprune::holov(fv, av, 4, r, ws, {3});
    const auto before = r;
    auto unchanged = [&] {
        CHECK(r.order == before.order);
        CHECK(r.kept == before.kept);
        CHECK(r.crop_score == before.crop_score);
        CHECK(r.n_pad == before.n_pad);
    };
    using Catch::Matchers::Contains;
    REQUIRE_THROWS_WITH(nnprune::holov(fv, av, 0, r, ws), Contains("holov: keep K = 0 must be in [1, N = 10]"));
    REQUIRE_THROWS_WITH(nnprune::holov(fv, av, 11, r, ws), Contains("holov: keep K = 11"));
    REQUIRE_THROWS_AS(nnprune::holov(fv, av, 11, r, ws), nnprune::precondition_error);
    REQUIRE_THROWS_WITH(nnprune::holov(fv, av, 4, r, ws, {0}), Contains("holov: crops P must be positive"));
    REQUIRE_THROWS_WITH(nnprune::holov(fv, av, 4, r, ws, {3, -0.1}), Contains("holov: alpha must be non-negative"));
    REQUIRE_THROWS_WITH(nnprune::holov(fv, av, 4, r, ws, {3, 0.09, 0.0}), Contains("holov: eps must be positive"));
    unchanged();
    REQUIRE_THROWS_WITH(nnprune::holov(fv, nnprune::tensor_view<const float, 1>(a.data(), {n - 1}), 4, r, ws),
                        Contains("holov: attention has 9 entries, features have 10 tokens"));
    REQUIRE_THROWS_AS(nnprune::holov(fv, nnprune::tensor_view<const float, 1>(a.data(), {n - 1}), 4, r, ws),
                      nnprune::shape_error);
    REQUIRE_THROWS_WITH(nnprune::holov(nnprune::matrix_view<const float>(f.data(), 0, d),
                                       nnprune::tensor_view<const float, 1>(a.data(), {0}), 1, r, ws),
                        Contains("holov: features are 0x4"));
    REQUIRE_THROWS_AS(nnprune::holov(nnprune::matrix_view<const float>(f.data(), n, 0), av, 1, r, ws),
                      nnprune::shape_error);
    unchanged();
    a[7] = std::numeric_limits<float>::quiet_NaN();
    REQUIRE_THROWS_WITH(nnprune::holov(fv, av, 4, r, ws),
                        Contains("holov: attention must be non-negative and finite, got nan at token 7"));
    REQUIRE_THROWS_AS(nnprune::holov(fv, av, 4, r, ws), nnprune::value_error);
    a[7] = 0.1f;
    unchanged();
    f[9 * d + 2] = -std::numeric_limits<float>::infinity();  // in the last crop: found after the others ran
    REQUIRE_THROWS_WITH(nnprune::holov(fv, av, 4, r, ws, {3}),
                        Contains("holov: non-finite feature -inf at token 9, feature 2"));
    f[9 * d + 2] = std::numeric_limits<float>::quiet_NaN();
    REQUIRE_THROWS_AS(nnprune::holov(fv, av, 4, r, ws, {3}), nnprune::value_error);
    unchanged();
    f[9 * d + 2] = 1e30f;  // finite, but its squared norm is beyond f32
    REQUIRE_THROWS_WITH(nnprune::holov(fv, av, 4, r, ws, {3}),
                        Contains("holov: the squared norm of token 9 overflows f32"));
    unchanged();
}

TEST_CASE("holov: every SIMD tier gives the same bits", "[tokens][holov]") {
    const std::size_t n = 50, d = 37;  // d not a multiple of 16: the kernels' tails run
    const auto f = holov_test::features(n, d, 31);
    const auto a = holov_test::attention(n, 31, 1.5);
    const nnprune::matrix_view<const float> fv(f.data(), n, d);
    nnprune::holov_result want;
    {
        const nnprune::simd::isa_guard scalar(nnprune::simd::isa::scalar);
        want = nnprune::holov(fv, holov_test::vec(a), 12, {5});
    }
    test_util::for_each_vector_tier([&](nnprune::simd::isa) {
        const auto r = nnprune::holov(fv, holov_test::vec(a), 12, {5});
        CHECK(r.crop_score == want.crop_score);
        CHECK(r.order == want.order);
    });
}
