// SparseGPT (reconstruct/sparsegpt.hpp) against a slow float64 reference written here from
// algorithms.md §9 as the reference code does it: cholesky -> inverse -> upper Cholesky of H⁻¹,
// right-looking column sweep with lazy batch updates.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <vector>

#include <catch2/catch.hpp>

#include "prune_test_util.hpp"
#include "simd_tiers.hpp"
#include <nnprune/calibration/wanda_accumulator.hpp>
#include <nnprune/nnprune.hpp>
#include <nnprune/reconstruct/sparsegpt.hpp>

namespace {

using matrix = std::vector<double>;  // row-major

enum class ref_mode { block, row, upstream, nm, given };

struct ref_result {
    std::vector<double> w;
    std::vector<char> kept;
    double loss = 0.0;
};

/// Lower Cholesky of a (n x n), double; returns false when a pivot is not positive.
bool ref_cholesky(matrix& a, std::size_t n) {
    for (std::size_t j = 0; j < n; ++j) {
        double s = a[j * n + j];
        for (std::size_t k = 0; k < j; ++k) s -= a[j * n + k] * a[j * n + k];
        if (!(s > 0)) return false;
        a[j * n + j] = std::sqrt(s);
        for (std::size_t i = j + 1; i < n; ++i) {
            double t = a[i * n + j];
            for (std::size_t k = 0; k < j; ++k) t -= a[i * n + k] * a[j * n + k];
            a[i * n + j] = t / a[j * n + j];
        }
        for (std::size_t i = 0; i < j; ++i) a[i * n + j] = 0;
    }
    return true;
}

/// The reference sweep, literally (prunen = M − N pruned of every M).
ref_result ref_sparsegpt(std::vector<double> w, std::size_t rows, std::size_t cols, matrix h, double s, ref_mode mode,
                         std::size_t blocksize, double percdamp = 0.01, std::size_t keep_n = 0, std::size_t m = 0,
                         const std::vector<char>* given = nullptr) {
    const std::size_t n = cols;
    for (std::size_t j = 0; j < n; ++j)
        if (h[j * n + j] == 0) {
            h[j * n + j] = 1;
            for (std::size_t r = 0; r < rows; ++r) w[r * cols + j] = 0;
        }
    double mean = 0;
    for (std::size_t j = 0; j < n; ++j) mean += h[j * n + j];
    mean /= double(n);
    for (std::size_t j = 0; j < n; ++j) h[j * n + j] += percdamp * mean;
    // H⁻¹ from L, then its upper Cholesky factor U (UᵀU = H⁻¹)
    matrix l = h;
    REQUIRE(ref_cholesky(l, n));
    matrix inv(n * n, 0.0);
    for (std::size_t c = 0; c < n; ++c) {  // solve L y = e_c, Lᵀ x = y
        std::vector<double> y(n, 0.0), x(n, 0.0);
        for (std::size_t i = 0; i < n; ++i) {
            double t = i == c ? 1.0 : 0.0;
            for (std::size_t k = 0; k < i; ++k) t -= l[i * n + k] * y[k];
            y[i] = t / l[i * n + i];
        }
        for (std::size_t i = n; i-- > 0;) {
            double t = y[i];
            for (std::size_t k = i + 1; k < n; ++k) t -= l[k * n + i] * x[k];
            x[i] = t / l[i * n + i];
        }
        for (std::size_t i = 0; i < n; ++i) inv[i * n + c] = x[i];
    }
    matrix u = inv;  // upper Cholesky: U = Lᵀ of chol(H⁻¹)
    REQUIRE(ref_cholesky(u, n));
    matrix up(n * n, 0.0);
    for (std::size_t i = 0; i < n; ++i)
        for (std::size_t j = 0; j < n; ++j) up[i * n + j] = u[j * n + i];

    ref_result out;
    out.kept.assign(rows * cols, 1);
    for (std::size_t i1 = 0; i1 < n; i1 += blocksize) {
        const std::size_t i2 = std::min(i1 + blocksize, n), b = i2 - i1;
        std::vector<double> w1(rows * b), err1(rows * b, 0.0);
        for (std::size_t r = 0; r < rows; ++r)
            for (std::size_t j = 0; j < b; ++j) w1[r * b + j] = w[r * cols + i1 + j];
        std::vector<char> pruned(rows * b, 0);
        auto sal = [&](std::size_t r, std::size_t j) {
            const double d = up[(i1 + j) * n + i1 + j];
            return w1[r * b + j] * w1[r * b + j] / (d * d);
        };
        if (mode == ref_mode::block || mode == ref_mode::upstream) {
            std::vector<std::size_t> idx(rows * b);
            std::iota(idx.begin(), idx.end(), 0);
            std::vector<double> sc(rows * b);
            for (std::size_t t = 0; t < rows * b; ++t) sc[t] = sal(t / b, t % b);
            std::stable_sort(idx.begin(), idx.end(), [&](auto x, auto y) { return sc[x] < sc[y]; });
            const auto k = static_cast<std::size_t>(double(rows * b) * s);
            if (mode == ref_mode::block) {
                for (std::size_t t = 0; t < k; ++t) pruned[idx[t]] = 1;
            } else {
                const double thr = k < rows * b ? sc[idx[k]] : INFINITY;
                for (std::size_t t = 0; t < rows * b; ++t) pruned[t] = sc[t] <= thr;
            }
        } else if (mode == ref_mode::row) {
            const auto k = static_cast<std::size_t>(double(b) * s);
            for (std::size_t r = 0; r < rows; ++r) {
                std::vector<std::size_t> idx(b);
                std::iota(idx.begin(), idx.end(), 0);
                std::stable_sort(idx.begin(), idx.end(), [&](auto x, auto y) { return sal(r, x) < sal(r, y); });
                for (std::size_t t = 0; t < k; ++t) pruned[r * b + idx[t]] = 1;
            }
        } else if (mode == ref_mode::given) {
            for (std::size_t r = 0; r < rows; ++r)
                for (std::size_t j = 0; j < b; ++j) pruned[r * b + j] = !(*given)[r * cols + i1 + j];
        }
        for (std::size_t j = 0; j < b; ++j) {
            const double d = up[(i1 + j) * n + i1 + j];
            if (mode == ref_mode::nm && j % m == 0)
                for (std::size_t r = 0; r < rows; ++r) {
                    std::vector<std::size_t> idx(m);
                    std::iota(idx.begin(), idx.end(), 0);
                    std::stable_sort(idx.begin(), idx.end(),
                                     [&](auto x, auto y) { return sal(r, j + x) < sal(r, j + y); });
                    for (std::size_t t = 0; t < m - keep_n; ++t) pruned[r * b + j + idx[t]] = 1;
                }
            for (std::size_t r = 0; r < rows; ++r) {
                const double wv = w1[r * b + j], q = pruned[r * b + j] ? 0.0 : wv;
                out.loss += (wv - q) * (wv - q) / (d * d) / 2;
                const double e = (wv - q) / d;
                for (std::size_t k = j; k < b; ++k) w1[r * b + k] -= e * up[(i1 + j) * n + i1 + k];
                err1[r * b + j] = e;
                w[r * cols + i1 + j] = q;
                out.kept[r * cols + i1 + j] = !pruned[r * b + j];
            }
        }
        for (std::size_t r = 0; r < rows; ++r)
            for (std::size_t c = i2; c < n; ++c) {
                double t = 0;
                for (std::size_t j = 0; j < b; ++j) t += err1[r * b + j] * up[(i1 + j) * n + c];
                w[r * cols + c] -= t;
            }
    }
    out.w = std::move(w);
    return out;
}

/// A layer, a calibration set [t, in] and H from it.
struct problem {
    std::size_t rows, cols, tokens;
    std::vector<float> w, x;
    std::vector<float> h;  // float32 Hessian from hessian_accumulator
};

constexpr std::size_t no_dead = static_cast<std::size_t>(-1);

/// outlier: the scale of every 11th input column (1: a well-conditioned H, so float32 and the
/// float64 reference rank saliencies alike; larger: an ill-conditioned H where magnitude is a poor proxy).
problem make_problem(std::size_t rows, std::size_t cols, std::size_t tokens, std::uint64_t seed,
                     std::size_t dead = no_dead, float outlier = 1.0f) {
    problem p{rows, cols, tokens, test_util::values(rows * cols, seed), test_util::values(tokens * cols, seed + 1), {}};
    for (std::size_t t = 0; t < tokens; ++t)
        for (std::size_t j = 0; j < cols; ++j) {
            float& v = p.x[t * cols + j];
            v += 0.3f * std::sin(float(t * 7 + j));  // correlated-ish inputs
            if (j % 11 == 3) v *= outlier;
            if (j == dead) v = 0.0f;
        }
    p.h.resize(cols * cols);  // H = (2 / 1 sequence) Σ x xᵀ
    for (std::size_t i = 0; i < cols; ++i)
        for (std::size_t j = 0; j < cols; ++j) {
            double s = 0;
            for (std::size_t t = 0; t < tokens; ++t) s += double(p.x[t * cols + i]) * p.x[t * cols + j];
            p.h[i * cols + j] = static_cast<float>(2 * s);
        }
    return p;
}

struct run_out {
    std::vector<float> w;
    nnprune::mask m;
    nnprune::sparsegpt_report rep;
};

run_out run_prune(const problem& p, const nnprune::sparsegpt_options& o) {
    run_out r{p.w, nnprune::mask(nnprune::shape{p.rows, p.cols}), {}};
    r.rep = nnprune::sparsegpt_prune(nnprune::matrix_view<float>(r.w.data(), p.rows, p.cols),
                                     nnprune::matrix_view<const float>(p.h.data(), p.cols, p.cols), r.m.view(), o);
    return r;
}

ref_result run_ref(const problem& p, double s, ref_mode mode, std::size_t bs, std::size_t keep_n = 0, std::size_t m = 0,
                   const std::vector<char>* given = nullptr) {
    std::vector<double> w(p.w.begin(), p.w.end()), h(p.h.begin(), p.h.end());
    return ref_sparsegpt(w, p.rows, p.cols, h, s, mode, bs, 0.01, keep_n, m, given);
}

/// Masks equal; weights within 1e-5 of the largest reference weight.
void check_against(const run_out& got, const ref_result& want, std::size_t rows, std::size_t cols) {
    std::size_t mask_diff = 0;
    double worst = 0, scale = 0;
    for (std::size_t i = 0; i < rows * cols; ++i) {
        mask_diff += got.m.test(i) != static_cast<bool>(want.kept[i]);
        worst = std::max(worst, std::abs(double(got.w[i]) - want.w[i]));
        scale = std::max(scale, std::abs(want.w[i]));
        if (!want.kept[i]) REQUIRE(got.w[i] == 0.0f);
    }
    CHECK(mask_diff == 0);
    CHECK(worst <= 1e-5 * scale);
    CHECK(got.rep.loss == Approx(want.loss).epsilon(1e-4));
}

}  // namespace

TEST_CASE("sparsegpt_prune: masks and weights equal the float64 reference", "[sparsegpt]") {
    const problem p = make_problem(24, 48, 400, 11, 5);  // input 5 is dead
    for (const std::size_t bs : {std::size_t{8}, std::size_t{16}, std::size_t{20}, std::size_t{128}})
        for (const double s : {0.3, 0.5, 0.7}) {
            INFO("blocksize " << bs << " sparsity " << s);
            nnprune::sparsegpt_options o;
            o.sparsity = s;
            o.blocksize = bs;
            for (const auto& [mode, rm] : {std::pair{nnprune::sparsegpt_mask::block, ref_mode::block},
                                           std::pair{nnprune::sparsegpt_mask::row, ref_mode::row},
                                           std::pair{nnprune::sparsegpt_mask::upstream, ref_mode::upstream}}) {
                INFO("mode " << int(mode));
                o.selection = mode;
                const run_out got = run_prune(p, o);
                check_against(got, run_ref(p, s, rm, bs), p.rows, p.cols);
                CHECK(got.rep.dead_columns == 1);
                if (mode == nnprune::sparsegpt_mask::block) {  // exactly k per block
                    for (std::size_t c0 = 0; c0 < p.cols; c0 += bs) {
                        const std::size_t wdt = std::min(bs, p.cols - c0);
                        std::size_t pruned = 0;
                        for (std::size_t r = 0; r < p.rows; ++r)
                            for (std::size_t c = c0; c < c0 + wdt; ++c) pruned += !got.m.test(r * p.cols + c);
                        CHECK(pruned == nnprune::count_to_prune(p.rows * wdt, s, nnprune::rounding::truncate));
                    }
                }
                if (mode == nnprune::sparsegpt_mask::row) {  // exactly k per row of each block
                    for (std::size_t c0 = 0; c0 < p.cols; c0 += bs)
                        for (std::size_t r = 0; r < p.rows; ++r) {
                            const std::size_t wdt = std::min(bs, p.cols - c0);
                            std::size_t pruned = 0;
                            for (std::size_t c = c0; c < c0 + wdt; ++c) pruned += !got.m.test(r * p.cols + c);
                            CHECK(pruned == nnprune::count_to_prune(wdt, s, nnprune::rounding::truncate));
                        }
                }
            }
        }
}

TEST_CASE("sparsegpt_prune: N:M keeps N of every M and equals the reference", "[sparsegpt]") {
    const problem p = make_problem(16, 64, 300, 21);
    for (const auto& [n, m] : {std::pair<std::size_t, std::size_t>{2, 4}, {1, 4}, {4, 8}, {3, 4}})
        for (const std::size_t bs : {std::size_t{8}, std::size_t{32}, std::size_t{128}}) {
            if (bs % m) continue;
            INFO(n << ":" << m << " blocksize " << bs);
            nnprune::sparsegpt_options o;
            o.keep_n = n;
            o.group_m = m;
            o.blocksize = bs;
            const run_out got = run_prune(p, o);
            check_against(got, run_ref(p, 0, ref_mode::nm, bs, n, m), p.rows, p.cols);
            for (std::size_t r = 0; r < p.rows; ++r)
                for (std::size_t g = 0; g < p.cols; g += m) {
                    std::size_t kept = 0;
                    for (std::size_t c = g; c < g + m; ++c) kept += got.m.test(r * p.cols + c);
                    REQUIRE(kept == n);
                }
        }
}

TEST_CASE("sparsegpt_update: the OBS update for a given mask equals the reference", "[sparsegpt]") {
    const problem p = make_problem(20, 40, 300, 31, 7);
    // Wanda's per-row 50% mask as the given one
    std::vector<float> w = p.w;
    nnprune::wanda_accumulator acc(p.cols);
    acc.add(nnprune::matrix_view<const float>(p.x.data(), p.tokens, p.cols));
    std::vector<nnprune::layer> layers{{"l", nnprune::matrix_view<float>(w.data(), p.rows, p.cols), acc.stat(), {}}};
    const auto wr = nnprune::prune(layers, nnprune::wanda, nnprune::per_row{}, 0.5);
    std::vector<char> given(p.rows * p.cols);
    for (std::size_t i = 0; i < given.size(); ++i) given[i] = wr.masks[0].test(i);
    for (const std::size_t bs : {std::size_t{8}, std::size_t{128}}) {
        nnprune::sparsegpt_options o;
        o.blocksize = bs;
        run_out got{p.w, wr.masks[0], {}};
        got.rep = nnprune::sparsegpt_update(nnprune::matrix_view<float>(got.w.data(), p.rows, p.cols),
                                            nnprune::matrix_view<const float>(p.h.data(), p.cols, p.cols),
                                            wr.masks[0].view(), o);
        check_against(got, run_ref(p, 0, ref_mode::given, bs, 0, 0, &given), p.rows, p.cols);
        CHECK(got.rep.pruned == wr.masks[0].pruned());
    }
}

TEST_CASE("sparsegpt: a diagonal Hessian is magnitude pruning with no update", "[sparsegpt]") {
    // H diagonal => V diagonal: no column informs another; saliency w²·H_jj(1+...) per column.
    const std::size_t rows = 4, cols = 8;
    std::vector<float> w = {1,    -8, 3, 2,  7, -4, 6, 5,  //
                            -2,   1,  9, -3, 4, 6,  8, 7,  //
                            5,    5,  1, 2,  3, 5,  6, 7,  //
                            0.5f, 2,  3, 4,  5, 6,  7, 1};
    std::vector<float> h(cols * cols, 0.0f);
    for (std::size_t j = 0; j < cols; ++j) h[j * cols + j] = 2.0f;
    nnprune::mask m(nnprune::shape{rows, cols});
    std::vector<float> out = w;
    nnprune::sparsegpt_options o;
    o.selection = nnprune::sparsegpt_mask::row;
    const auto rep = nnprune::sparsegpt_prune(nnprune::matrix_view<float>(out.data(), rows, cols),
                                              nnprune::matrix_view<const float>(h.data(), cols, cols), m.view(), o);
    // per row the 4 smallest |w| are pruned; row 2 ties 5, 5, 5 at columns 0, 1, 5 for the last
    // place: the lower column (0) is pruned
    const std::vector<int> kept = {0, 1, 0, 0, 1, 0, 1, 1,  //
                                   0, 0, 1, 0, 0, 1, 1, 1,  //
                                   0, 1, 0, 0, 0, 1, 1, 1,  //
                                   0, 0, 0, 1, 1, 1, 1, 0};
    for (std::size_t i = 0; i < rows * cols; ++i) {
        INFO(i);
        CHECK(m.test(i) == static_cast<bool>(kept[i]));
        CHECK(out[i] == (kept[i] ? w[i] : 0.0f));
    }
    CHECK(rep.damp == Approx(0.02));
    // loss: Σ pruned w² · H_jj(1.01) / 2
    double want = 0;
    for (std::size_t i = 0; i < rows * cols; ++i)
        if (!kept[i]) want += double(w[i]) * w[i] * 2.02 / 2;
    CHECK(rep.loss == Approx(want).epsilon(1e-6));
}

TEST_CASE("sparsegpt: identical for any thread count and SIMD tier", "[sparsegpt]") {
    const problem p = make_problem(300, 96, 400, 41);
    for (const bool nm : {false, true}) {
        nnprune::sparsegpt_options o;
        o.blocksize = 32;
        if (nm) o.keep_n = 2, o.group_m = 4;
        const run_out one = run_prune(p, o);
        for (const unsigned t : {2u, 3u}) {
            o.threads = t;
            const run_out many = run_prune(p, o);
            CHECK(test_util::bytes_of(many.w) == test_util::bytes_of(one.w));
            CHECK(many.m == one.m);
            CHECK(many.rep.loss == one.rep.loss);
        }
        o.threads = 1;
        test_util::for_each_tier([&](nnprune::simd::isa) {
            const run_out tier = run_prune(p, o);
            CHECK(test_util::bytes_of(tier.w) == test_util::bytes_of(one.w));
            CHECK(tier.m == one.m);
        });
    }
}

TEST_CASE("sparsegpt: bf16, f16, f64 and strided weights are computed in float32 and written back rounded",
          "[sparsegpt]") {
    const problem p = make_problem(12, 32, 200, 51);
    nnprune::sparsegpt_options o;
    o.blocksize = 16;
    // bf16: the same run on the widened values, rounded
    std::vector<nnprune::bfloat16> wb(p.w.size());
    problem pw = p;
    for (std::size_t i = 0; i < p.w.size(); ++i) {
        wb[i] = nnprune::bfloat16(p.w[i]);
        pw.w[i] = nnprune::to_float(wb[i]);
    }
    const run_out want = run_prune(pw, o);
    nnprune::mask mb(nnprune::shape{p.rows, p.cols});
    nnprune::sparsegpt_prune(nnprune::matrix_view<nnprune::bfloat16>(wb.data(), p.rows, p.cols),
                             nnprune::matrix_view<const float>(p.h.data(), p.cols, p.cols), mb.view(), o);
    CHECK(mb == want.m);
    for (std::size_t i = 0; i < wb.size(); ++i) REQUIRE(wb[i].bits == nnprune::bfloat16(want.w[i]).bits);
    // f64 weights and an f64 Hessian
    std::vector<double> wd(p.w.begin(), p.w.end()), hd(p.h.begin(), p.h.end());
    nnprune::mask md(nnprune::shape{p.rows, p.cols});
    nnprune::sparsegpt_prune(nnprune::matrix_view<double>(wd.data(), p.rows, p.cols),
                             nnprune::matrix_view<const double>(hd.data(), p.cols, p.cols), md.view(), o);
    const run_out f32 = run_prune(p, o);
    CHECK(md == f32.m);
    for (std::size_t i = 0; i < wd.size(); ++i) REQUIRE(wd[i] == double(f32.w[i]));
    // a transposed (column-major) view of the same weights
    std::vector<float> cm(p.w.size(), 0.0f);
    for (std::size_t r = 0; r < p.rows; ++r)
        for (std::size_t c = 0; c < p.cols; ++c) cm[c * p.rows + r] = p.w[r * p.cols + c];
    nnprune::mask ms(nnprune::shape{p.rows, p.cols});
    nnprune::sparsegpt_prune(nnprune::matrix_view<float>(cm.data(), {p.rows, p.cols}, {1, std::ptrdiff_t(p.rows)}),
                             nnprune::matrix_view<const float>(p.h.data(), p.cols, p.cols), ms.view(), o);
    CHECK(ms == f32.m);
    for (std::size_t r = 0; r < p.rows; ++r)
        for (std::size_t c = 0; c < p.cols; ++c) REQUIRE(cm[c * p.rows + r] == f32.w[r * p.cols + c]);
}

TEST_CASE("sparsegpt: failures name the layer and leave weights and mask untouched", "[sparsegpt]") {
    const problem p = make_problem(6, 8, 50, 61);
    std::vector<float> w = p.w, h = p.h;
    nnprune::mask m(nnprune::shape{6, 8});
    m.set(3, false);
    const nnprune::mask m0 = m;
    nnprune::sparsegpt_options o;
    o.name = "mlp.up_proj";
    auto attempt = [&](const std::vector<float>& hh, std::size_t hn = 8) {
        return nnprune::sparsegpt_prune(nnprune::matrix_view<float>(w.data(), 6, 8),
                                        nnprune::matrix_view<const float>(hh.data(), hn, hn), m.view(), o);
    };
    auto untouched = [&] {
        CHECK(test_util::bytes_of(w) == test_util::bytes_of(p.w));
        CHECK(m == m0);
    };
    // indefinite, no damping: the factorisation fails
    std::vector<float> bad(64, 0.0f);
    for (std::size_t j = 0; j < 8; ++j) bad[j * 8 + j] = 1.0f;
    bad[0 * 8 + 1] = bad[1 * 8 + 0] = 2.0f;
    o.percdamp = 0.0;
    CHECK_THROWS_WITH(attempt(bad), Catch::Contains("mlp.up_proj") && Catch::Contains("not positive definite") &&
                                        Catch::Contains("percdamp"));
    untouched();
    o.percdamp = 0.01;
    std::vector<float> nan_h = h;
    nan_h[2 * 8 + 5] = NAN;
    CHECK_THROWS_AS(attempt(nan_h), nnprune::value_error);
    untouched();
    std::vector<float> neg = h;
    neg[4 * 8 + 4] = -1.0f;
    CHECK_THROWS_WITH(attempt(neg), Catch::Contains("negative"));
    untouched();
    w[5] = INFINITY;
    CHECK_THROWS_WITH(attempt(h), Catch::Contains("weight (0, 5)"));
    w = p.w;
    untouched();
    CHECK_THROWS_AS(attempt(std::vector<float>(49, 1.0f), 7), nnprune::shape_error);
    untouched();
    o.keep_n = 2;
    o.group_m = 3;  // 8 columns are not a multiple of 3
    o.blocksize = 12;
    CHECK_THROWS_AS(attempt(h), nnprune::shape_error);
    o.group_m = 4;
    o.blocksize = 6;
    CHECK_THROWS_WITH(attempt(h), Catch::Contains("blocksize 6"));
    untouched();
    o = {};
    nnprune::mask wrong(nnprune::shape{8, 6});
    CHECK_THROWS_AS(nnprune::sparsegpt_prune(nnprune::matrix_view<float>(w.data(), 6, 8),
                                             nnprune::matrix_view<const float>(h.data(), 8, 8), wrong.view(), o),
                    nnprune::shape_error);
    CHECK_THROWS_AS(nnprune::sparsegpt_prune(nnprune::matrix_view<const float>(w.data(), 6, 8),
                                             nnprune::matrix_view<const float>(h.data(), 8, 8), m.view(), o),
                    nnprune::precondition_error);
    untouched();
    // empty layer: nothing to do
    std::vector<float> none;
    nnprune::mask me(nnprune::shape{0, 8});
    CHECK(nnprune::sparsegpt_prune(nnprune::matrix_view<float>(none.data(), 0, 8),
                                   nnprune::matrix_view<const float>(h.data(), 8, 8), me.view(), o)
              .pruned == 0);
}

TEST_CASE("sparsegpt: the reconstruction error ranks SparseGPT < Wanda < magnitude", "[sparsegpt]") {
    // outlier input columns (make_problem) make magnitude a poor proxy and reconstruction pay off
    const problem p = make_problem(64, 128, 512, 71, no_dead, 8.0f);
    auto error = [&](const std::vector<float>& wh) {  // ‖(W − Ŵ)X‖²
        double e = 0;
        for (std::size_t r = 0; r < p.rows; ++r)
            for (std::size_t t = 0; t < p.tokens; ++t) {
                double y = 0;
                for (std::size_t c = 0; c < p.cols; ++c)
                    y += (double(p.w[r * p.cols + c]) - wh[r * p.cols + c]) * p.x[t * p.cols + c];
                e += y * y;
            }
        return e;
    };
    nnprune::wanda_accumulator acc(p.cols);
    acc.add(nnprune::matrix_view<const float>(p.x.data(), p.tokens, p.cols));
    for (const bool nm : {false, true}) {
        INFO((nm ? "2:4" : "50%"));
        auto scored = [&](auto scorer) {
            std::vector<float> w = p.w;
            std::vector<nnprune::layer> l{{"l", nnprune::matrix_view<float>(w.data(), p.rows, p.cols), acc.stat(), {}}};
            nnprune::prune_options po;
            po.apply = true;
            if (nm)
                nnprune::prune(l, scorer, nnprune::keep_n_of_m<2, 4>{}, po);
            else
                nnprune::prune(l, scorer, nnprune::per_row{}, 0.5, po);
            return w;
        };
        nnprune::sparsegpt_options o;
        o.selection = nnprune::sparsegpt_mask::row;
        if (nm) o.keep_n = 2, o.group_m = 4;
        const double sgpt = error(run_prune(p, o).w), wanda = error(scored(nnprune::wanda)),
                     mag = error(scored(nnprune::magnitude));
        INFO("sparsegpt " << sgpt << " wanda " << wanda << " magnitude " << mag);
        CHECK(sgpt < wanda);
        CHECK(wanda < mag);
    }
}

TEST_CASE("prune() with sparsegpt_step: the OBS update after any selection, or SparseGPT's own mask",
          "[sparsegpt][prune]") {
    const problem a = make_problem(16, 32, 200, 81), b = make_problem(8, 64, 200, 82);
    auto layers_of = [&](std::vector<float>& wa, std::vector<float>& wb) {
        std::vector<nnprune::layer> l{{"a",
                                       nnprune::matrix_view<float>(wa.data(), 16, 32),
                                       {},
                                       {},
                                       nnprune::matrix_view<const float>(a.h.data(), 32, 32)},
                                      {"b",
                                       nnprune::matrix_view<float>(wb.data(), 8, 64),
                                       {},
                                       {},
                                       nnprune::matrix_view<const float>(b.h.data(), 64, 64)}};
        return l;
    };
    SECTION("magnitude per row, then the update") {
        std::vector<float> wa = a.w, wb = b.w;
        nnprune::prune_options o;
        o.apply = true;
        o.reconstruct = nnprune::sparsegpt_step{};
        const auto r = nnprune::prune(layers_of(wa, wb), nnprune::magnitude, nnprune::per_row{}, 0.5, o);
        // the same by hand: the magnitude masks, then sparsegpt_update
        std::vector<float> ma = a.w, mb = b.w;
        const auto plain = nnprune::prune(layers_of(ma, mb), nnprune::magnitude, nnprune::per_row{}, 0.5);
        CHECK(r.masks[0] == plain.masks[0]);
        CHECK(r.masks[1] == plain.masks[1]);
        nnprune::sparsegpt_update(nnprune::matrix_view<float>(ma.data(), 16, 32),
                                  nnprune::matrix_view<const float>(a.h.data(), 32, 32), plain.masks[0].view());
        nnprune::sparsegpt_update(nnprune::matrix_view<float>(mb.data(), 8, 64),
                                  nnprune::matrix_view<const float>(b.h.data(), 64, 64), plain.masks[1].view());
        CHECK(test_util::bytes_of(wa) == test_util::bytes_of(ma));
        CHECK(test_util::bytes_of(wb) == test_util::bytes_of(mb));
        CHECK(r.layers[1].sparsity == Approx(0.5));
    }
    SECTION("SparseGPT's own mask: unstructured from the allocation, N:M from the pattern") {
        for (const bool nm : {false, true}) {
            std::vector<float> wa = a.w, wb = b.w;
            nnprune::prune_options o;
            o.apply = true;
            o.reconstruct = nnprune::sparsegpt_step{{}, true};
            const auto r = nm ? nnprune::prune(layers_of(wa, wb), nnprune::magnitude, nnprune::keep_n_of_m<2, 4>{}, o)
                              : nnprune::prune(layers_of(wa, wb), nnprune::magnitude, nnprune::per_tensor{},
                                               nnprune::per_layer{{0.3, 0.6}}, o);
            nnprune::sparsegpt_options so;
            if (nm) so.keep_n = 2, so.group_m = 4;
            so.sparsity = 0.3;
            const run_out wa2 = run_prune(a, so);
            so.sparsity = 0.6;
            const run_out wb2 = run_prune(b, so);
            CHECK(r.masks[0] == wa2.m);
            CHECK(r.masks[1] == wb2.m);
            CHECK(test_util::bytes_of(wa) == test_util::bytes_of(wa2.w));
            CHECK(test_util::bytes_of(wb) == test_util::bytes_of(wb2.w));
        }
    }
    SECTION("refusals before anything is written") {
        std::vector<float> wa = a.w, wb = b.w;
        auto l = layers_of(wa, wb);
        l[1].hessian.reset();
        nnprune::prune_options o;
        o.apply = true;
        o.reconstruct = nnprune::sparsegpt_step{};
        CHECK_THROWS_WITH(nnprune::prune(l, nnprune::magnitude, nnprune::per_row{}, 0.5, o),
                          Catch::Contains("layer 'b' has no Hessian"));
        CHECK(test_util::bytes_of(wa) == test_util::bytes_of(a.w));
        o.apply = false;
        CHECK_THROWS_WITH(nnprune::prune(layers_of(wa, wb), nnprune::magnitude, nnprune::per_row{}, 0.5, o),
                          Catch::Contains("apply"));
        o.apply = true;
        o.reconstruct = nnprune::sparsegpt_step{{}, true};
        CHECK_THROWS_WITH(
            nnprune::prune(layers_of(wa, wb), nnprune::magnitude, nnprune::per_tensor{}, nnprune::global{0.5}, o),
            Catch::Contains("joint allocation"));
        CHECK(test_util::bytes_of(wa) == test_util::bytes_of(a.w));
        CHECK(test_util::bytes_of(wb) == test_util::bytes_of(b.w));
    }
}

namespace {
/// A user's reconstruction step, written outside the library: keeps one more weight per row
/// than selected (the first pruned one) and doubles the kept weights. Counts its calls.
struct regrow_first {
    std::shared_ptr<int> calls = std::make_shared<int>(0);

    [[nodiscard]] bool writes_weights() const { return true; }

    void reconstruct(const nnprune::layer& l, nnprune::mask_view m, const nnprune::reconstruct_context& c) const {
        ++*calls;
        CHECK(c.threads == 1);
        auto w = l.weights.as_matrix<float>();
        const std::size_t rows = w.extent(0), cols = w.extent(1);
        for (std::size_t r = 0; r < rows; ++r) {
            for (std::size_t j = 0; j < cols; ++j)
                if (!m.test(r * cols + j)) {
                    m.set(r * cols + j, true);
                    break;
                }
            for (std::size_t j = 0; j < cols; ++j)
                if (m.test(r * cols + j)) w(r, j) *= 2.0f;
        }
    }
};
}  // namespace

TEST_CASE("prune() and pruner run a user's reconstruction step", "[sparsegpt][prune]") {
    std::vector<float> w = test_util::values(6 * 10, 91), orig = w;
    std::vector<nnprune::layer> l{test_util::make_layer("x", w, 6, 10)};
    nnprune::prune_options o;
    o.apply = true;
    regrow_first step;
    o.reconstruct = step;
    const auto r = nnprune::prune(l, nnprune::magnitude, nnprune::per_row{}, 0.5, o);
    CHECK(*step.calls == 1);
    CHECK(r.layers[0].kept == 6 * 6);  // 5 kept per row, plus the regrown one
    for (std::size_t i = 0; i < w.size(); ++i) CHECK(w[i] == (r.masks[0].test(i) ? 2.0f * orig[i] : 0.0f));
    // the same step inside a training loop
    std::vector<float> w2 = orig;
    std::vector<nnprune::layer> l2{test_util::make_layer("x", w2, 6, 10)};
    regrow_first step2;
    nnprune::prune_options po;
    po.reconstruct = step2;
    nnprune::pruner p(nnprune::magnitude, nnprune::constant_schedule{0.5}, nnprune::per_row{}, po);
    p.step(l2);
    CHECK(*step2.calls == 1);
}

TEST_CASE("simd::axpy: every tier equals the scalar twin, which fuses", "[sparsegpt][simd]") {
    for (const std::size_t n : std::initializer_list<std::size_t>{0, 1, 7, 8, 15, 16, 17, 31, 32, 33, 100}) {
        const std::vector<float> x = test_util::values(n + 2, 101), y0 = test_util::values(n + 2, 102);
        const float a = -0.3718f;
        std::vector<float> want = y0;
        nnprune::simd::reference::axpy(a, x.data() + 1, want.data() + 1, n);
        for (std::size_t i = 0; i < n + 2; ++i)  // fused: one rounding; neighbours untouched
            CHECK(want[i] == (i == 0 || i == n + 1 ? y0[i] : std::fma(a, x[i], y0[i])));
        test_util::for_each_vector_tier([&](nnprune::simd::isa) {
            std::vector<float> got = y0;
            nnprune::simd::axpy(a, x.data() + 1, got.data() + 1, n);
            CHECK(test_util::bytes_of(got) == test_util::bytes_of(want));
        });
    }
}

TEST_CASE("prune() with dsnot_step refines the selected masks as dsnot_refine does", "[sparsegpt][dsnot][prune]") {
    const std::size_t rows = 12, cols = 32, tokens = 64;
    std::vector<float> w = test_util::values(rows * cols, 111), x = test_util::values(tokens * cols, 112);
    for (std::size_t i = 0; i < x.size(); ++i) x[i] += 1.0f + 0.1f * float(i % cols);  // non-zero means
    nnprune::dsnot_accumulator acc(cols);
    acc.add(nnprune::matrix_view<const float>(x.data(), tokens, cols));
    for (const bool nm : {false, true}) {
        std::vector<float> wa = w;
        std::vector<nnprune::layer> l{
            {"l", nnprune::matrix_view<float>(wa.data(), rows, cols), acc.stats().scaler_row, {}}};
        nnprune::prune_options o;
        o.apply = true;
        o.round = nnprune::rounding::truncate;
        nnprune::dsnot_step step;
        step.stats = [&](const nnprune::layer&, std::size_t) { return acc.stats(); };
        o.reconstruct = step;
        const auto r = nm ? nnprune::prune(l, nnprune::wanda, nnprune::keep_n_of_m<2, 4>{}, o)
                          : nnprune::prune(l, nnprune::wanda, nnprune::per_row{}, 0.5, o);
        // by hand: Wanda's mask, refined
        std::vector<float> wb = w;
        std::vector<nnprune::layer> lb{
            {"l", nnprune::matrix_view<float>(wb.data(), rows, cols), acc.stats().scaler_row, {}}};
        nnprune::prune_options plain;
        plain.round = nnprune::rounding::truncate;
        auto want = nm ? nnprune::prune(lb, nnprune::wanda, nnprune::keep_n_of_m<2, 4>{}, plain)
                       : nnprune::prune(lb, nnprune::wanda, nnprune::per_row{}, 0.5, plain);
        nnprune::dsnot_options d;
        if (nm) d.keep_n = 2, d.group_m = 4;
        const auto rep = nnprune::dsnot_refine(nnprune::matrix_view<const float>(w.data(), rows, cols), acc.stats(),
                                               want.masks[0].view(), d);
        CHECK(rep.swaps > 0);
        CHECK(r.masks[0] == want.masks[0]);
        for (std::size_t i = 0; i < w.size(); ++i) REQUIRE(wa[i] == (want.masks[0].test(i) ? w[i] : 0.0f));
    }
}
