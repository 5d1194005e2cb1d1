// simd::gemm (and its triangular-solve sibling), linalg::cholesky_lower and hessian_accumulator:
// every tier and thread count bit-identical to the scalar twins / the textbook order, and close to
// double-precision references.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "simd_tiers.hpp"
#include <nnprune/calibration/hessian_accumulator.hpp>
#include <nnprune/linalg/cholesky.hpp>
#include <nnprune/simd/gemm.hpp>

namespace {

namespace simd = nnprune::simd;

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
    return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

/// A strided m x k operand in its own storage; layout 0 row-major (padded), 1 column-major
/// (transposed, padded), 2 both strides > 1, 3 row-major with a negative column stride.
struct operand {
    std::vector<float> store;
    simd::gemm_operand op{};

    operand(std::size_t rows, std::size_t cols, int layout, std::mt19937& rng) {
        std::normal_distribution<float> g;
        const auto r = static_cast<std::ptrdiff_t>(rows), c = static_cast<std::ptrdiff_t>(cols);
        std::ptrdiff_t rs = c + 3, cs = 1, base = 0;
        std::size_t size = rows * (cols + 3) + 1;
        if (layout == 1) rs = 1, cs = r + 2, size = (cols * (rows + 2)) + 1;
        if (layout == 2) rs = 2 * c + 1, cs = 2, size = rows * (2 * cols + 1) + 1;
        if (layout == 3) rs = c + 1, cs = -1, base = c, size = rows * (cols + 1) + 1;
        store.resize(size);
        for (auto& v : store) v = g(rng);
        op = {store.data() + base, rs, cs};
    }
};

bool in_part(simd::gemm_part part, std::size_t i, std::size_t j) {
    return part == simd::gemm_part::full || (part == simd::gemm_part::lower ? i >= j : i <= j);
}

/// Runs one gemm case on every vector tier and threads 1, 2, 3 against reference::gemm; also
/// checks that C's entries outside the part and its padding keep their bits.
void check_gemm(std::size_t m, std::size_t n, std::size_t k, int la, int lb, simd::gemm_op op, simd::gemm_part part) {
    INFO("m=" << m << " n=" << n << " k=" << k << " layouts " << la << "," << lb << " op "
              << (op == simd::gemm_op::add ? "add" : "subtract") << " part " << static_cast<int>(part));
    std::mt19937 rng(static_cast<unsigned>(m * 131 + n * 17 + k * 7 + static_cast<std::size_t>(la * 3 + lb)));
    const operand a(m, k, la, rng), b(k, n, lb, rng);
    const std::size_t ldc = n + 5;
    std::vector<float> c0(m * ldc + 1);
    std::normal_distribution<float> g;
    for (auto& v : c0) v = g(rng);
    auto twin = c0;
    simd::reference::gemm(op, m, n, k, a.op, b.op, twin.data(), ldc, part);
    for (std::size_t i = 0; i < m; ++i)  // the twin itself leaves the rest alone
        for (std::size_t j = 0; j < ldc; ++j)
            if (j >= n || !in_part(part, i, j) || k == 0) REQUIRE(twin[i * ldc + j] == c0[i * ldc + j]);
    test_util::for_each_tier([&](simd::isa) {
        for (unsigned threads : {1u, 2u, 3u}) {
            INFO("threads " << threads);
            auto got = c0;
            simd::gemm(op, m, n, k, a.op, b.op, got.data(), ldc, part, threads);
            REQUIRE(same_bits(got, twin));
        }
    });
}

constexpr simd::gemm_part parts[] = {simd::gemm_part::full, simd::gemm_part::lower, simd::gemm_part::upper};

}  // namespace

TEST_CASE("simd gemm: every tier and thread count bit-identical to reference::gemm", "[simd][gemm]") {
    // tile edges: avx512 14 x 32, avx2 6 x 16; k chunks of 256 and the 16-wide transposing pack
    const std::size_t ms[] = {0, 1, 5, 6, 7, 13, 14, 15, 29, 43};
    const std::size_t ns[] = {0, 1, 15, 16, 17, 31, 32, 33, 65};
    const std::size_t ks[] = {0, 1, 15, 17, 33};
    for (const std::size_t m : ms)
        for (const std::size_t n : ns)
            for (const std::size_t k : ks) {
                const auto idx = static_cast<int>(m + n + k);
                const auto part = parts[idx % 3];
                const auto op = idx % 2 ? simd::gemm_op::subtract : simd::gemm_op::add;
                check_gemm(m, n, k, idx % 4, (idx / 4) % 4, op, part);
            }
}

TEST_CASE("simd gemm: layouts, ops and parts on sizes over the cache blocks", "[simd][gemm]") {
    for (int la = 0; la < 4; ++la)
        for (int lb = 0; lb < 4; ++lb)
            for (const auto part : parts)
                for (const auto op : {simd::gemm_op::add, simd::gemm_op::subtract})
                    check_gemm(47, 53, 19, la, lb, op, part);
    check_gemm(350, 70, 300, 0, 0, simd::gemm_op::subtract, simd::gemm_part::full);   // > 336 rows, > 256 k
    check_gemm(300, 300, 260, 1, 0, simd::gemm_op::add, simd::gemm_part::upper);      // the SYRK layout
    check_gemm(301, 301, 40, 0, 1, simd::gemm_op::subtract, simd::gemm_part::lower);  // a Cholesky update
    check_gemm(30, 301, 40, 0, 1, simd::gemm_op::subtract, simd::gemm_part::lower);   // m < n: split by columns
    check_gemm(3, 2100, 5, 0, 0, simd::gemm_op::add, simd::gemm_part::full);          // > 2048 columns
}

TEST_CASE("simd gemm: reference::gemm against a double triple loop", "[simd][gemm]") {
    for (const std::size_t k : {std::size_t{1}, std::size_t{64}, std::size_t{777}}) {
        const std::size_t m = 9, n = 11;
        std::mt19937 rng(static_cast<unsigned>(k));
        const operand a(m, k, 0, rng), b(k, n, 1, rng);
        std::vector<float> c(m * n);
        std::normal_distribution<float> g;
        for (auto& v : c) v = g(rng);
        for (const auto op : {simd::gemm_op::add, simd::gemm_op::subtract}) {
            auto got = c;
            simd::reference::gemm(op, m, n, k, a.op, b.op, got.data(), n);
            const double sign = op == simd::gemm_op::add ? 1.0 : -1.0;
            for (std::size_t i = 0; i < m; ++i)
                for (std::size_t j = 0; j < n; ++j) {
                    double s = c[i * n + j], mag = std::fabs(s);
                    for (std::size_t p = 0; p < k; ++p) {
                        const double t = static_cast<double>(*simd::detail::gemm_at(a.op, i, p)) *
                                         static_cast<double>(*simd::detail::gemm_at(b.op, p, j));
                        s += sign * t, mag += std::fabs(t);
                    }
                    INFO("k=" << k << " i=" << i << " j=" << j);
                    CHECK(std::fabs(got[i * n + j] - s) <= static_cast<double>(k + 1) * 6e-8 * mag);
                }
            // one fused term: exact-then-rounded
            std::vector<float> one{0.1f};
            const float x = 1.0f + 0x1p-12f, y = 1.0f - 0x1p-12f;
            simd::reference::gemm(simd::gemm_op::add, 1, 1, 1, {&x, 1, 1}, {&y, 1, 1}, one.data(), 1);
            CHECK(one[0] == std::fma(x, y, 0.1f));
        }
    }
}

TEST_CASE("simd trsm_right_lower_t: every tier bit-identical to the twin", "[simd][gemm]") {
    for (const std::size_t rows : {std::size_t{0}, std::size_t{1}, std::size_t{7}, std::size_t{16}, std::size_t{37}})
        for (const std::size_t w : {std::size_t{1}, std::size_t{5}, std::size_t{32}}) {
            std::mt19937 rng(static_cast<unsigned>(rows * 40 + w));
            std::normal_distribution<float> g;
            std::vector<float> l(w * (w + 1)), x(w * (rows + 3));
            for (auto& v : l) v = g(rng);
            for (std::size_t q = 0; q < w; ++q) l[q * (w + 1) + q] = 2.0f + std::fabs(l[q * (w + 1) + q]);
            for (auto& v : x) v = g(rng);
            auto twin = x;
            simd::reference::trsm_right_lower_t(twin.data(), rows + 3, rows, w, l.data(), w + 1);
            test_util::for_each_vector_tier([&](simd::isa) {
                auto got = x;
                simd::trsm_right_lower_t(got.data(), rows + 3, rows, w, l.data(), w + 1);
                INFO("rows=" << rows << " w=" << w);
                REQUIRE(same_bits(got, twin));
            });
        }
}

namespace {

/// A symmetric positive definite n x n matrix (row-major, leading dimension lda; the strict upper
/// triangle and the padding are NaN, which the factorisation must neither read nor write).
std::vector<float> spd(std::size_t n, std::size_t lda, unsigned seed) {
    std::mt19937 rng(seed);
    std::normal_distribution<double> g;
    const std::size_t k = n + 8;
    std::vector<double> x(n * k);
    for (auto& v : x) v = g(rng);
    std::vector<float> a(n * lda, std::numeric_limits<float>::quiet_NaN());
    for (std::size_t i = 0; i < n; ++i)
        for (std::size_t j = 0; j <= i; ++j) {
            double s = 0;
            for (std::size_t p = 0; p < k; ++p) s += x[i * k + p] * x[j * k + p];
            a[i * lda + j] = static_cast<float>(s / static_cast<double>(k) + (i == j ? 0.1 : 0.0));
        }
    return a;
}

/// The textbook float Cholesky in the order cholesky_lower promises (ascending fused sums).
std::size_t textbook_float(std::vector<float>& a, std::size_t n, std::size_t lda) {
    for (std::size_t j = 0; j < n; ++j)
        for (std::size_t i = j; i < n; ++i) {
            float v = a[i * lda + j];
            for (std::size_t p = 0; p < j; ++p) v = std::fma(-a[i * lda + p], a[j * lda + p], v);
            if (i == j) {
                if (!(v > 0.0f) || !std::isfinite(v)) return j;
                a[i * lda + j] = std::sqrt(v);
            } else {
                a[i * lda + j] = v / a[j * lda + j];
            }
        }
    return n;
}

}  // namespace

TEST_CASE("cholesky_lower: textbook bits on every tier and thread count, close to double", "[linalg][cholesky]") {
    for (const std::size_t n : {std::size_t{1}, std::size_t{2}, std::size_t{63}, std::size_t{200}, std::size_t{300}}) {
        INFO("n=" << n);
        const std::size_t lda = n + 3;
        const auto a = spd(n, lda, static_cast<unsigned>(n));
        auto want = a;
        REQUIRE(textbook_float(want, n, lda) == n);
        // a double textbook factor, and L·Lᵀ against A
        std::vector<double> ld(n * n, 0.0);
        for (std::size_t j = 0; j < n; ++j)
            for (std::size_t i = j; i < n; ++i) {
                double v = a[i * lda + j];
                for (std::size_t p = 0; p < j; ++p) v -= ld[i * n + p] * ld[j * n + p];
                ld[i * n + j] = i == j ? std::sqrt(v) : v / ld[j * n + j];
            }
        double amax = 0;
        for (std::size_t i = 0; i < n; ++i) amax = std::max(amax, static_cast<double>(std::fabs(a[i * lda + i])));
        double worst_l = 0, worst_r = 0;
        for (std::size_t i = 0; i < n; ++i)
            for (std::size_t j = 0; j <= i; ++j) {
                worst_l = std::max(worst_l, std::fabs(want[i * lda + j] - ld[i * n + j]) / std::sqrt(amax));
                double s = 0;
                for (std::size_t p = 0; p <= j; ++p)
                    s += static_cast<double>(want[i * lda + p]) * static_cast<double>(want[j * lda + p]);
                worst_r = std::max(worst_r, std::fabs(s - a[i * lda + j]) / amax);
            }
        CHECK(worst_l < 1e-4);
        CHECK(worst_r < 1e-5);
        test_util::for_each_tier([&](simd::isa) {
            for (unsigned threads : {1u, 2u, 3u}) {
                INFO("threads " << threads);
                auto got = a;
                REQUIRE(nnprune::linalg::cholesky_lower(got.data(), n, lda, threads) == n);
                std::size_t differ = 0;  // the lower triangle as the textbook; the rest still NaN
                for (std::size_t i = 0; i < n; ++i)
                    for (std::size_t j = 0; j < lda; ++j) {
                        const float w = want[i * lda + j], v = got[i * lda + j];
                        if (j <= i)
                            differ += std::memcmp(&w, &v, sizeof v) != 0;
                        else
                            differ += !std::isnan(v);
                    }
                REQUIRE(differ == 0);
            }
        });
    }
    CHECK(nnprune::linalg::cholesky_lower(nullptr, 0, 0) == 0);
}

TEST_CASE("cholesky_lower: the first failing column", "[linalg][cholesky]") {
    const std::size_t n = 200, lda = n;
    for (const std::size_t bad : {std::size_t{0}, std::size_t{40}, std::size_t{150}, std::size_t{199}}) {
        INFO("bad column " << bad);
        test_util::for_each_tier([&](simd::isa) {
            {  // indefinite: the pivot of column `bad` is about -1
                auto a = spd(n, lda, 5);
                auto t = a;
                textbook_float(t, n, lda);
                a[bad * lda + bad] -= t[bad * lda + bad] * t[bad * lda + bad] + 1.0f;
                CHECK(nnprune::linalg::cholesky_lower(a.data(), n, lda, 2) == bad);
            }
            {  // NaN below the diagonal in row `bad`, or on it
                auto a = spd(n, lda, 6);
                a[bad * lda + bad / 2] = std::numeric_limits<float>::quiet_NaN();
                CHECK(nnprune::linalg::cholesky_lower(a.data(), n, lda) == bad);
                auto b = spd(n, lda, 6);
                b[bad * lda + bad] = std::numeric_limits<float>::infinity();
                CHECK(nnprune::linalg::cholesky_lower(b.data(), n, lda, 3) == bad);
            }
        });
    }
}

namespace {

/// The upstream running average, literally, in double: per call H *= n/(n+B); n += B;
/// X' = sqrt(2/n)·X; H += X'ᵀX'. Also the scale Σ|x'_i x'_j| for tolerances.
struct slow_hessian {
    std::size_t in;
    std::vector<double> h, mag;
    double n = 0;

    explicit slow_hessian(std::size_t features) : in(features), h(features * features), mag(features * features) {}

    void add(const std::vector<std::vector<double>>& tokens, std::size_t b) {
        const double ratio = n / (n + static_cast<double>(b));
        for (std::size_t i = 0; i < h.size(); ++i) h[i] *= ratio, mag[i] *= ratio;
        n += static_cast<double>(b);
        const double s = std::sqrt(2.0 / n);
        for (const auto& x : tokens)
            for (std::size_t i = 0; i < in; ++i)
                for (std::size_t j = 0; j < in; ++j) {
                    h[i * in + j] += (s * x[i]) * (s * x[j]);
                    mag[i * in + j] += std::fabs((s * x[i]) * (s * x[j]));
                }
    }
};

template <class T>
std::vector<T> bits_of(const nnprune::tensor_ref& h) {
    const auto v = h.as_matrix<const T>();
    return std::vector<T>(v.data_handle(), v.data_handle() + v.extent(0) * v.extent(1));
}

}  // namespace

TEST_CASE("hessian_accumulator: the upstream running average, f32 and f64", "[calibration][hessian]") {
    const std::size_t in = 45;  // over a 32-column and several 14-row tiles
    std::mt19937 rng(11);
    std::normal_distribution<float> g;
    for (const auto prec : {nnprune::hessian_precision::f32, nnprune::hessian_precision::f64}) {
        INFO("f64 " << (prec == nnprune::hessian_precision::f64));
        nnprune::hessian_accumulator acc(in, prec), acc3(in, prec, 3);
        REQUIRE(acc.features() == in);
        REQUIRE(acc.precision() == prec);
        REQUIRE_THROWS_WITH(acc.hessian(), Catch::Contains("no samples yet"));
        slow_hessian ref(in);
        auto feed = [&](const nnprune::tensor_ref& x, std::size_t b, const std::vector<std::vector<double>>& rows) {
            acc.add(x);
            acc3.add(x);
            ref.add(rows, b);
        };
        {  // [T, in] f32, T = 37
            std::vector<float> x(37 * in);
            for (auto& v : x) v = g(rng);
            std::vector<std::vector<double>> rows(37, std::vector<double>(in));
            for (std::size_t t = 0; t < 37; ++t)
                for (std::size_t j = 0; j < in; ++j) rows[t][j] = x[t * in + j];
            feed(nnprune::matrix_view<const float>(x.data(), 37, in), 1, rows);
        }
        {  // [B, T, in] bf16, B = 3, T = 11
            std::vector<nnprune::bfloat16> x(3 * 11 * in);
            for (auto& v : x) v = nnprune::bfloat16(g(rng));
            std::vector<std::vector<double>> rows(33, std::vector<double>(in));
            for (std::size_t t = 0; t < 33; ++t)
                for (std::size_t j = 0; j < in; ++j) rows[t][j] = nnprune::to_double(x[t * in + j]);
            feed(nnprune::tensor_view<const nnprune::bfloat16, 3>(x.data(), 3, 11, in), 3, rows);
        }
        {  // [T, in] strided: stored column-major with padding, T = 600 (over a 512-token chunk)
            const std::size_t t_n = 600, ld = t_n + 5;
            std::vector<float> x(in * ld);
            for (auto& v : x) v = g(rng);
            std::vector<std::vector<double>> rows(t_n, std::vector<double>(in));
            for (std::size_t t = 0; t < t_n; ++t)
                for (std::size_t j = 0; j < in; ++j) rows[t][j] = x[j * ld + t];
            feed(nnprune::matrix_view<const float>(x.data(), {t_n, in}, {1, static_cast<std::ptrdiff_t>(ld)}), 1, rows);
        }
        REQUIRE(acc.samples() == 5);
        const auto h = acc.hessian();
        REQUIRE(h.extent(0) == in);
        REQUIRE(h.extent(1) == in);
        double worst = 0;
        if (prec == nnprune::hessian_precision::f32) {
            REQUIRE(h.dtype() == nnprune::dtype::f32);
            const auto v = bits_of<float>(h);
            REQUIRE(v == bits_of<float>(acc3.hessian()));  // threads
            for (std::size_t i = 0; i < in; ++i)
                for (std::size_t j = 0; j < in; ++j) {
                    REQUIRE(v[i * in + j] == v[j * in + i]);
                    worst = std::max(worst, std::fabs(v[i * in + j] - ref.h[i * in + j]) / ref.mag[i * in + j]);
                }
            CHECK(worst < 2e-6);
            test_util::for_each_vector_tier([&](simd::isa) {  // tiers: the same bits
                nnprune::hessian_accumulator other(in);
                other.restore(nnprune::matrix_view<const float>(v.data(), in, in), 5);
                nnprune::hessian_accumulator mine(in), twin(in);
                std::vector<float> x(20 * in);
                for (std::size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(i % 13) * 0.37f - 2.0f;
                mine.add(nnprune::matrix_view<const float>(x.data(), 20, in));
                {
                    const simd::isa_guard scalar(simd::isa::scalar);
                    twin.add(nnprune::matrix_view<const float>(x.data(), 20, in));
                }
                REQUIRE(bits_of<float>(mine.hessian()) == bits_of<float>(twin.hessian()));
            });
        } else {
            REQUIRE(h.dtype() == nnprune::dtype::f64);
            const auto v = bits_of<double>(h);
            REQUIRE(v == bits_of<double>(acc3.hessian()));
            for (std::size_t i = 0; i < in; ++i)
                for (std::size_t j = 0; j < in; ++j) {
                    REQUIRE(v[i * in + j] == v[j * in + i]);
                    worst = std::max(worst, std::fabs(v[i * in + j] - ref.h[i * in + j]) / ref.mag[i * in + j]);
                }
            CHECK(worst < 1e-13);
        }
    }
}

TEST_CASE("hessian_accumulator: bad input throws and leaves H unchanged; restore", "[calibration][hessian]") {
    const std::size_t in = 20;
    std::vector<float> x(7 * in);
    for (std::size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(i % 11) - 5.0f;
    for (const auto prec : {nnprune::hessian_precision::f32, nnprune::hessian_precision::f64}) {
        nnprune::hessian_accumulator acc(in, prec);
        acc.add(nnprune::matrix_view<const float>(x.data(), 7, in));
        const auto before = acc.hessian();
        const auto b32 = prec == nnprune::hessian_precision::f32 ? bits_of<float>(before) : std::vector<float>{};
        const auto b64 = prec == nnprune::hessian_precision::f64 ? bits_of<double>(before) : std::vector<double>{};
        auto unchanged = [&] {
            REQUIRE(acc.samples() == 1);
            if (prec == nnprune::hessian_precision::f32)
                REQUIRE(bits_of<float>(acc.hessian()) == b32);
            else
                REQUIRE(bits_of<double>(acc.hessian()) == b64);
        };
        auto bad = x;
        bad[3 * in + 4] = std::numeric_limits<float>::quiet_NaN();
        REQUIRE_THROWS_AS(acc.add(nnprune::matrix_view<const float>(bad.data(), 7, in)), nnprune::value_error);
        REQUIRE_THROWS_WITH(acc.add(nnprune::matrix_view<const float>(bad.data(), 7, in)),
                            Catch::Contains("hessian_accumulator::add") && Catch::Contains("flat index 64"));
        unchanged();
        bad[3 * in + 4] = 1.0f;
        bad[6 * in + 19] = -std::numeric_limits<float>::infinity();
        REQUIRE_THROWS_WITH(acc.add(nnprune::matrix_view<const float>(bad.data(), 7, in)),
                            Catch::Contains("flat index 139"));
        unchanged();
        if (prec == nnprune::hessian_precision::f32) {  // the square overflows float
            bad[6 * in + 19] = 2e19f;
            REQUIRE_THROWS_WITH(acc.add(nnprune::matrix_view<const float>(bad.data(), 7, in)),
                                Catch::Contains("flat index 139"));
            unchanged();
        }
        REQUIRE_THROWS_AS(acc.add(nnprune::matrix_view<const float>(x.data(), 7, in - 1)), nnprune::shape_error);
        REQUIRE_THROWS_WITH(acc.add(nnprune::matrix_view<const float>(x.data(), 7, in - 1)),
                            Catch::Contains("hessian_accumulator::add") && Catch::Contains("19 features"));
        REQUIRE_THROWS_AS(acc.add(nnprune::tensor_view<const float, 1>(x.data(), in)), nnprune::shape_error);
        unchanged();
        acc.add(nnprune::tensor_view<const float, 3>(x.data(), 0, 7, in));  // B = 0: nothing
        unchanged();

        // restore: a round trip gives the same state, and the same bits after one more call
        nnprune::hessian_accumulator copy(in, prec);
        copy.restore(acc.hessian(), acc.samples());
        REQUIRE(copy.samples() == 1);
        acc.add(nnprune::matrix_view<const float>(x.data(), 5, in));
        copy.add(nnprune::matrix_view<const float>(x.data(), 5, in));
        if (prec == nnprune::hessian_precision::f32)
            REQUIRE(bits_of<float>(copy.hessian()) == bits_of<float>(acc.hessian()));
        else
            REQUIRE(bits_of<double>(copy.hessian()) == bits_of<double>(acc.hessian()));
        nnprune::hessian_accumulator adopt;  // default-constructed: takes the size
        adopt.restore(acc.hessian(), 2);
        REQUIRE(adopt.features() == in);
        REQUIRE(adopt.precision() == nnprune::hessian_precision::f32);

        // a bad H changes nothing
        std::vector<double> h(in * in, 1.0);
        h[2 * in + 5] = 2.0;
        nnprune::hessian_accumulator target(in, prec);
        target.add(nnprune::matrix_view<const float>(x.data(), 3, in));
        const auto t_samples = target.samples();
        REQUIRE_THROWS_WITH(target.restore(nnprune::matrix_view<const double>(h.data(), in, in), 4),
                            Catch::Contains("not symmetric"));
        h[2 * in + 5] = 1.0;
        h[7 * in + 7] = std::numeric_limits<double>::infinity();
        REQUIRE_THROWS_AS(target.restore(nnprune::matrix_view<const double>(h.data(), in, in), 4),
                          nnprune::value_error);
        REQUIRE_THROWS_AS(target.restore(nnprune::matrix_view<const double>(h.data(), in - 1, in - 1), 4),
                          nnprune::shape_error);
        REQUIRE(target.samples() == t_samples);
        h[7 * in + 7] = 3.0;
        target.restore(nnprune::matrix_view<const double>(h.data(), in, in), 4);
        REQUIRE(target.samples() == 4);
        REQUIRE(nnprune::visit(target.hessian(), [](auto v) { return nnprune::to_double(v(7, 7, 0, 0)); }) == 3.0);
    }
}

TEST_CASE("hessian_accumulator: the first bad element whatever the thread count", "[calibration][hessian]") {
    const std::size_t in = 8, t_n = 700;
    std::vector<float> x(t_n * in, 0.5f);
    x[650 * in + 1] = std::numeric_limits<float>::quiet_NaN();  // in the last thread's part
    x[300 * in + 6] = std::numeric_limits<float>::infinity();   // in the second's
    x[300 * in + 7] = std::numeric_limits<float>::quiet_NaN();
    for (const unsigned threads : {1u, 2u, 3u}) {
        nnprune::hessian_accumulator acc(in, nnprune::hessian_precision::f32, threads);
        REQUIRE_THROWS_WITH(acc.add(nnprune::matrix_view<const float>(x.data(), t_n, in)),
                            Catch::Contains("flat index 2406 "));
        REQUIRE(acc.samples() == 0);
    }
}
