#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <numeric>
#include <optional>
#include <vector>

#include <catch2/catch.hpp>

#include "prune_test_util.hpp"
#include "simd_tiers.hpp"
#include <nnprune/calibration/dsnot_accumulator.hpp>
#include <nnprune/calibration/wanda_accumulator.hpp>
#include <nnprune/prune/prune.hpp>
#include <nnprune/reconstruct/dsnot.hpp>
#include <nnprune/scorers/wanda.hpp>
#include <nnprune/simd/dsnot_scan.hpp>

using namespace nnprune;

namespace {

// ---- slow references, straight from dsnot.md ---------------------------------------------------

/// §1.2 literally, in double: one call of `tokens` tokens holding `b` sequences, x row-major [tokens, in].
struct ref_acc {
    std::vector<double> scaler, sum, var;
    double n = 0, ntok = 0;

    explicit ref_acc(std::size_t in) : scaler(in, 0.0), sum(in, 0.0), var(in, 0.0) {}

    void add(const std::vector<double>& x, std::size_t tokens, double b) {
        const std::size_t in = scaler.size();
        const double tc = static_cast<double>(tokens);
        for (std::size_t j = 0; j < in; ++j) {
            double m = 0, v = 0, ss = 0;
            for (std::size_t t = 0; t < tokens; ++t) m += x[t * in + j];
            m /= tc;
            for (std::size_t t = 0; t < tokens; ++t) {
                v += (x[t * in + j] - m) * (x[t * in + j] - m);
                ss += x[t * in + j] * x[t * in + j];
            }
            v /= tc;
            var[j] = ntok == 0 ? v : (var[j] * ntok + v * tc) / (ntok + tc);
            scaler[j] *= n / (n + b);
            sum[j] *= n / (n + b);
            scaler[j] += ss / (n + b);
            sum[j] += m * tc / (n + b);
        }
        ntok += tc;
        n += b;
    }
};

struct ref_row {
    std::size_t swaps = 0;
    double e0 = 0, e = 0;
    int end = 0;  // 0 converged, 1 limit, 2 exhausted, 3 sign
};

/// §1.12 with full stable sorts, in double. W [out, in] row-major, kept[out * in] updated in place.
struct ref_opts {
    unsigned T = 50;
    double thr = 0.1, gamma = 1.0;
    bool sign = false, up_ties = false;
    std::size_t n = 0, m = 0;                // N kept of M; 0: unstructured
    const std::vector<double>* S = nullptr;  // [out, in] initial scores for N:M (null: a)
};

std::vector<ref_row> ref_refine(const std::vector<double>& W, std::size_t out, std::size_t in,
                                const std::vector<double>& scaler, const std::vector<double>& sum,
                                const std::vector<double>& var, std::vector<char>& kept, const ref_opts& o) {
    std::vector<ref_row> rows(out);
    for (std::size_t i = 0; i < out; ++i) {
        const double* w = W.data() + i * in;
        char* k = kept.data() + i * in;
        std::vector<double> D(in), a(in), g(in);
        for (std::size_t j = 0; j < in; ++j) {
            D[j] = w[j] * sum[j];
            a[j] = std::fabs(w[j]) * std::sqrt(scaler[j]);
            g[j] = D[j] / std::pow(var[j], o.gamma);
            if (std::isnan(g[j])) g[j] = 0;
        }
        std::vector<char> k0(k, k + in);
        double e = 0;
        for (std::size_t j = 0; j < in; ++j)
            if (!k0[j]) e += D[j];
        std::vector<std::size_t> Rp, Rm, Km, Kp;
        for (std::size_t j = 0; j < in; ++j) {
            if (!k0[j] && g[j] > 0) Rp.push_back(j);
            if (!k0[j] && g[j] < 0) Rm.push_back(j);
            if (k0[j] && D[j] < 0) Km.push_back(j);
            if (k0[j] && D[j] > 0) Kp.push_back(j);
        }
        if (o.up_ties) {  // stable ascending, read from the end: higher index first among ties
            std::stable_sort(Rp.begin(), Rp.end(), [&](auto x, auto y) { return g[x] < g[y]; });
            std::reverse(Rp.begin(), Rp.end());
        } else {
            std::stable_sort(Rp.begin(), Rp.end(), [&](auto x, auto y) { return g[x] > g[y]; });
        }
        std::stable_sort(Rm.begin(), Rm.end(), [&](auto x, auto y) { return g[x] < g[y]; });
        std::stable_sort(Km.begin(), Km.end(), [&](auto x, auto y) { return a[x] < a[y]; });
        std::stable_sort(Kp.begin(), Kp.end(), [&](auto x, auto y) { return a[x] < a[y]; });
        std::size_t ip = 0, im = 0, kmi = 0, kpi = 0;
        std::vector<char> cut(in, 0);
        ref_row& r = rows[i];
        r.e0 = e;
        const int s0 = e > 0 ? 1 : -1;
        for (;;) {
            if (!(std::fabs(e) > o.thr)) {
                r.end = 0;
                break;
            }
            if (r.swaps == o.T) {
                r.end = 1;
                break;
            }
            const bool pos = e > 0;
            auto& R = pos ? Rp : Rm;
            auto& ri = pos ? ip : im;
            if (ri == R.size()) {
                r.end = 2;
                break;
            }
            const std::size_t rr = R[ri];
            std::size_t p = in;
            if (o.m) {
                const std::size_t g0 = rr - rr % o.m;
                for (std::size_t j = g0; j < g0 + o.m; ++j) {
                    if (!k0[j] || cut[j]) continue;
                    const double key = o.S ? (*o.S)[i * in + j] : a[j];
                    const double best = p == in ? 0 : (o.S ? (*o.S)[i * in + p] : a[p]);
                    if (p == in || key < best) p = j;
                }
                if (p == in) {
                    r.end = 2;
                    break;
                }
            } else {
                auto& K = pos ? Km : Kp;
                auto& ki = pos ? kmi : kpi;
                if (ki == K.size()) {
                    r.end = 2;
                    break;
                }
                p = K[ki];
            }
            const double e2 = e + D[p] - D[rr];
            if (o.sign && (e2 > 0 ? 1 : e2 < 0 ? -1 : 0) != s0) {
                r.end = 3;
                break;
            }
            e = e2;
            ++ri;
            if (o.m)
                cut[p] = 1;
            else
                ++(pos ? kmi : kpi);
            k[p] = 0;
            k[rr] = 1;
            ++r.swaps;
        }
        r.e = e;
    }
    return rows;
}

// ---- helpers -----------------------------------------------------------------------------------

mask mask_from(const std::vector<char>& kept, std::size_t out, std::size_t in) {
    mask m(shape{out, in}, false);
    for (std::size_t f = 0; f < kept.size(); ++f) m.set(f, kept[f] != 0);
    return m;
}

std::vector<char> kept_of(const mask& m) {
    std::vector<char> k(m.size());
    for (std::size_t f = 0; f < k.size(); ++f) k[f] = m.test(f);
    return k;
}

/// A layer with exact dyadic values (so every sum is exact whatever its order), many ties, zero
/// sum_row columns (D = 0) and zero var columns (±inf grow keys).
struct layer_data {
    std::size_t out, in;
    std::vector<float> w, scaler, sum, var;

    [[nodiscard]] std::vector<double> wd() const { return {w.begin(), w.end()}; }

    [[nodiscard]] dsnot_stats stats() const {
        return {vector_view<const float>(scaler.data(), in), vector_view<const float>(sum.data(), in),
                vector_view<const float>(var.data(), in)};
    }

    [[nodiscard]] matrix_view<const float> weights() const { return {w.data(), out, in}; }
};

layer_data dyadic_layer(std::size_t out, std::size_t in, std::uint64_t seed, bool dyadic = true) {
    layer_data L{out, in, {}, {}, {}, {}};
    splitmix64 g(seed);
    const auto q = [&](float lo, float hi, float step) {
        const float v = lo + g.uniform() * (hi - lo);
        return dyadic ? std::round(v / step) * step : v;
    };
    L.w.resize(out * in);
    for (auto& x : L.w) x = q(-2.0f, 2.0f, 0.25f);
    for (std::size_t j = 0; j < in; ++j) {
        L.sum.push_back(j % 11 == 3 ? 0.0f : q(-8.0f, 8.0f, 0.5f));
        L.var.push_back(j % 13 == 5 ? 0.0f : q(0.25f, 4.0f, 0.25f));
        L.scaler.push_back(q(0.25f, 16.0f, 0.25f));
    }
    return L;
}

/// Random kept masks: exactly `keep` per row (unstructured) or n per group of m.
std::vector<char> random_kept(std::size_t out, std::size_t in, std::size_t keep, std::size_t n, std::size_t m,
                              std::uint64_t seed) {
    splitmix64 g(seed);
    std::vector<char> k(out * in, 0);
    const auto pick = [&](char* p, std::size_t len, std::size_t cnt) {
        std::vector<std::size_t> idx(len);
        std::iota(idx.begin(), idx.end(), 0);
        for (std::size_t t = 0; t < cnt; ++t) {
            const std::size_t u = t + static_cast<std::size_t>(g() % (len - t));
            std::swap(idx[t], idx[u]);
            p[idx[t]] = 1;
        }
    };
    for (std::size_t i = 0; i < out; ++i) {
        if (m == 0)
            pick(k.data() + i * in, in, keep);
        else
            for (std::size_t g0 = 0; g0 < in; g0 += m) pick(k.data() + i * in + g0, m, n);
    }
    return k;
}

ref_opts ref_of(const dsnot_options& o) {
    ref_opts r;
    r.T = o.max_cycle_time;
    r.thr = o.update_threshold;
    r.gamma = o.pow_of_var_regrowing;
    r.n = o.keep_n;
    r.m = o.group_m;
    r.sign = o.same_sign.value_or(o.group_m != 0);
    r.up_ties = o.upstream_ties;
    return r;
}

/// Runs the reference and dsnot_refine on the same initial mask, the latter on every SIMD tier;
/// requires the same masks and counts.
void check_against_reference(const layer_data& L, const std::vector<char>& kept0, const dsnot_options& o,
                             const std::vector<double>* S = nullptr) {
    auto kept = kept0;
    auto ro = ref_of(o);
    ro.S = S;
    const auto rows = ref_refine(L.wd(), L.out, L.in, {L.scaler.begin(), L.scaler.end()}, {L.sum.begin(), L.sum.end()},
                                 {L.var.begin(), L.var.end()}, kept, ro);
    std::size_t swaps = 0, ends[4] = {0, 0, 0, 0};
    double before = 0, after = 0;
    for (const auto& r : rows) {
        swaps += r.swaps;
        ++ends[r.end];
        before += std::fabs(r.e0);
        after += std::fabs(r.e);
    }
    test_util::for_each_tier([&](simd::isa) {
        mask m = mask_from(kept0, L.out, L.in);
        const auto rep = dsnot_refine(L.weights(), L.stats(), m, o);
        const auto got = kept_of(m);
        std::size_t first_diff = got.size();
        for (std::size_t f = 0; f < got.size() && first_diff == got.size(); ++f)
            if (got[f] != kept[f]) first_diff = f;
        INFO("first differing element " << first_diff << " (row " << first_diff / (L.in ? L.in : 1) << ")");
        REQUIRE(first_diff == got.size());
        REQUIRE(rep.swaps == swaps);
        REQUIRE(rep.rows_converged == ends[0]);
        REQUIRE(rep.rows_at_limit == ends[1]);
        REQUIRE(rep.rows_exhausted == ends[2]);
        REQUIRE(rep.rows_sign_stop == ends[3]);
        if (L.out) {
            REQUIRE(rep.mean_abs_e_before == Approx(before / static_cast<double>(L.out)).epsilon(1e-12));
            REQUIRE(rep.mean_abs_e_after == Approx(after / static_cast<double>(L.out)).epsilon(1e-12));
        }
    });
}

}  // namespace

// ---- the accumulator ---------------------------------------------------------------------------

TEST_CASE("dsnot_accumulator: matches §1.2 over calls of different B and T, any type and strides",
          "[calibration][dsnot_accumulator]") {
    const std::size_t in = 6;
    dsnot_accumulator acc(in);
    ref_acc ref(in);
    REQUIRE_THROWS_WITH(acc.stats(), Catch::Contains("dsnot_accumulator::stats: statistics from zero samples"));
    // activations with large offsets (a one-pass E[x²] − E[x]² would lose digits)
    const auto make = [&](std::size_t tokens, std::uint64_t seed) {
        auto v = test_util::values(tokens * in, seed);
        std::vector<double> x(v.size());
        for (std::size_t f = 0; f < x.size(); ++f) x[f] = 100.0 * static_cast<double>(f % in) + v[f];
        return x;
    };
    SECTION("f32 [B, T, in], [T, in], then bf16 and a strided f64 view") {
        {  // B = 3, T = 5
            const auto x = make(15, 1);
            const std::vector<float> xf(x.begin(), x.end());
            acc.add(tensor_view<const float, 3>(xf.data(), 3, 5, in));
            ref.add({xf.begin(), xf.end()}, 15, 3);
        }
        {  // 2-D: one sequence of 7 tokens
            const auto x = make(7, 2);
            const std::vector<float> xf(x.begin(), x.end());
            acc.add(matrix_view<const float>(xf.data(), 7, in));
            ref.add({xf.begin(), xf.end()}, 7, 1);
        }
        {  // bf16 [2, 4, in]
            auto x = make(8, 3);
            std::vector<bfloat16> xb;
            for (auto& v : x) {
                xb.emplace_back(static_cast<float>(v));
                v = static_cast<double>(static_cast<float>(xb.back()));
            }
            acc.add(tensor_view<const bfloat16, 3>(xb.data(), 2, 4, in));
            ref.add(x, 8, 2);
        }
        {  // f64, [T, in] viewed from a column-major buffer (strides {1, T})
            const std::size_t T = 9;
            const auto x = make(T, 4);
            std::vector<double> cm(T * in);
            for (std::size_t t = 0; t < T; ++t)
                for (std::size_t j = 0; j < in; ++j) cm[j * T + t] = x[t * in + j];
            acc.add(matrix_view<const double>(cm.data(), {T, in}, {1, static_cast<std::ptrdiff_t>(T)}));
            ref.add(x, T, 1);
        }
        REQUIRE(acc.samples() == 7);
        REQUIRE(acc.tokens() == 39);
        for (std::size_t j = 0; j < in; ++j) {
            INFO("j=" << j);
            REQUIRE(acc.scaler_row()[j] == Approx(ref.scaler[j]).epsilon(2e-6));
            REQUIRE(acc.sum_row()[j] == Approx(ref.sum[j]).epsilon(2e-6));
            REQUIRE(acc.var()[j] == Approx(ref.var[j]).epsilon(1e-4));  // a variance of ~0.3 at an offset of 500
        }
        const auto st = acc.stats();
        REQUIRE(st.var.size() == in);
        REQUIRE(st.sum_row.dtype() == dtype::f32);
        // var is not the pooled variance: the offsets between calls are left out
        // restore round trip
        dsnot_accumulator b;
        b.restore(acc.scaler_row(), acc.sum_row(), acc.var(), acc.samples(), acc.tokens());
        REQUIRE(b.features() == in);
        REQUIRE(std::equal(b.var().begin(), b.var().end(), acc.var().begin()));
        REQUIRE_THROWS_AS(b.restore(acc.scaler_row(), acc.sum_row(), acc.var().subspan(1), 1, 1), shape_error);
    }
    SECTION("scaler_row equals wanda_accumulator's on the same calls") {
        wanda_accumulator w(in);
        for (std::uint64_t c = 0; c < 3; ++c) {
            const auto x = test_util::values(4 * in, 10 + c);
            acc.add(matrix_view<const float>(x.data(), 4, in));
            w.add(matrix_view<const float>(x.data(), 4, in));
        }
        for (std::size_t j = 0; j < in; ++j) REQUIRE(acc.scaler_row()[j] == Approx(w.values()[j]).epsilon(1e-6));
    }
}

TEST_CASE("dsnot_accumulator: var is the token-weighted mean of per-call biased variances",
          "[calibration][dsnot_accumulator]") {
    dsnot_accumulator acc(1);
    std::vector<float> a{1, 3}, b{10, 10, 10, 14};  // variances 1 and 3, means 2 and 11
    acc.add(matrix_view<const float>(a.data(), 2, 1));
    acc.add(tensor_view<const float, 3>(b.data(), 2, 2, 1));                 // B = 2, T = 2
    REQUIRE(acc.var()[0] == Approx((1.0 * 2 + 3.0 * 4) / 6));                // not the pooled variance (~20)
    REQUIRE(acc.sum_row()[0] == Approx((1 + 3 + 10 + 10 + 10 + 14) / 3.0));  // Σ x / N_seq
    REQUIRE(acc.scaler_row()[0] == Approx((1 + 9 + 100 + 100 + 100 + 196) / 3.0));
    REQUIRE(acc.samples() == 3);
    REQUIRE(acc.tokens() == 6);
}

TEST_CASE("dsnot_accumulator: bad calls throw and change nothing", "[calibration][dsnot_accumulator]") {
    dsnot_accumulator acc(4);
    std::vector<float> x(8, 1.0f);
    x[1] = 2.0f;
    acc.add(matrix_view<const float>(x.data(), 2, 4));
    const std::vector<float> s0(acc.scaler_row().begin(), acc.scaler_row().end()),
        u0(acc.sum_row().begin(), acc.sum_row().end()), v0(acc.var().begin(), acc.var().end());
    const auto unchanged = [&] {
        REQUIRE(std::vector<float>(acc.scaler_row().begin(), acc.scaler_row().end()) == s0);
        REQUIRE(std::vector<float>(acc.sum_row().begin(), acc.sum_row().end()) == u0);
        REQUIRE(std::vector<float>(acc.var().begin(), acc.var().end()) == v0);
        REQUIRE(acc.samples() == 1);
        REQUIRE(acc.tokens() == 2);
    };
    REQUIRE_THROWS_WITH(acc.add(matrix_view<const float>(x.data(), 4, 2)),
                        Catch::Contains("dsnot_accumulator::add: batch 4x2 has 2 features, the accumulator has 4"));
    REQUIRE_THROWS_WITH(acc.add(vector_view<const float>(x.data(), 8)),
                        Catch::Contains("must be [T, in] or [B, T, in]"));
    REQUIRE_THROWS_AS(acc.add(matrix_view<const float>(x.data(), 0, 4)), shape_error);
    x[6] = std::nanf("");
    REQUIRE_THROWS_WITH(acc.add(matrix_view<const float>(x.data(), 2, 4)),
                        Catch::Contains("NaN or Inf") && Catch::Contains("at flat index 6"));
    x[6] = 1.0f;
    std::vector<double> big(8, 1e300);  // squares overflow double
    REQUIRE_THROWS_AS(acc.add(matrix_view<const double>(big.data(), 2, 4)), value_error);
    std::vector<double> huge(8, 1e30);  // finite in double, sum_row overflows float32
    REQUIRE_THROWS_WITH(acc.add(matrix_view<const double>(huge.data(), 2, 4)), Catch::Contains("overflows float32"));
    unchanged();
    std::vector<float> none;
    acc.add(tensor_view<const float, 3>(none.data(), 0, 5, 4));  // B = 0: nothing
    unchanged();
}

// ---- dsnot_refine: hand-checked rows -----------------------------------------------------------

TEST_CASE("dsnot_refine: hand-checked unstructured rows", "[reconstruct][dsnot]") {
    // one row, s = var = scaler = 1, so D = g = w and a = |w|
    SECTION("no sign rule: the swaps overshoot, then the prune list runs out") {
        // w = [3, -1, 2, 0.5, -2, 1], pruned {1, 3, 5}: e = -1 + 0.5 + 1 = 0.5.
        // R+ = [5 (1), 3 (0.5)], R- = [1], K- = [4 (a 2)], K+ = [2 (a 2), 0 (a 3)].
        // cycle 1, e > 0: r = 5, p = 4: e' = 0.5 - 2 - 1 = -2.5 (applied: no sign rule)
        // cycle 2, e < 0: r = 1, p = 2: e' = -2.5 + 2 + 1 = 0.5
        // cycle 3, e > 0: r = 3 but K- is used up: stop (exhausted). Kept {0, 1, 5}, e = 0.5.
        std::vector<float> w{3, -1, 2, 0.5f, -2, 1}, one(6, 1.0f);
        dsnot_stats st{vector_view<const float>(one.data(), 6), vector_view<const float>(one.data(), 6),
                       vector_view<const float>(one.data(), 6)};
        mask m = mask_from({1, 0, 1, 0, 1, 0}, 1, 6);
        auto rep = dsnot_refine(matrix_view<const float>(w.data(), 1, 6), st, m);
        REQUIRE(kept_of(m) == std::vector<char>{1, 1, 0, 0, 0, 1});
        REQUIRE(rep.swaps == 2);
        REQUIRE(rep.rows_exhausted == 1);
        REQUIRE(rep.mean_abs_e_before == 0.5);
        REQUIRE(rep.mean_abs_e_after == 0.5);
        // with the sign rule, cycle 1 would flip the sign: nothing changes
        mask m2 = mask_from({1, 0, 1, 0, 1, 0}, 1, 6);
        dsnot_options o;
        o.same_sign = true;
        rep = dsnot_refine(matrix_view<const float>(w.data(), 1, 6), st, m2, o);
        REQUIRE(kept_of(m2) == std::vector<char>{1, 0, 1, 0, 1, 0});
        REQUIRE(rep.rows_sign_stop == 1);
        REQUIRE(rep.swaps == 0);
    }
    SECTION("an inf grow key (var = 0) comes first; the sign rule; the threshold is inclusive") {
        // w = [4, -0.25, 3, 0.5, -0.125, 2, 0.75, -3], var[6] = 0, pruned {1, 3, 6}:
        // e = -0.25 + 0.5 + 0.75 = 1. R+ = [6 (g = +inf), 3 (0.5)], R- = [1], K- = [4 (a 0.125), 7 (3)],
        // K+ = [5 (2), 2 (3), 0 (4)].
        // cycle 1: r = 6, p = 4: e' = 1 - 0.125 - 0.75 = 0.125, same sign: applied.
        // cycle 2 (0.125 > 0.1): r = 3, p = 7: e' = 0.125 - 3 - 0.5 = -3.375: sign rule stops.
        std::vector<float> w{4, -0.25f, 3, 0.5f, -0.125f, 2, 0.75f, -3}, one(8, 1.0f), var(8, 1.0f);
        var[6] = 0;
        dsnot_stats st{vector_view<const float>(one.data(), 8), vector_view<const float>(one.data(), 8),
                       vector_view<const float>(var.data(), 8)};
        const std::vector<char> k0{1, 0, 1, 0, 1, 1, 0, 1};
        dsnot_options o;
        o.same_sign = true;
        mask m = mask_from(k0, 1, 8);
        auto rep = dsnot_refine(matrix_view<const float>(w.data(), 1, 8), st, m, o);
        REQUIRE(kept_of(m) == std::vector<char>{1, 0, 1, 0, 0, 1, 1, 1});
        REQUIRE(rep.swaps == 1);
        REQUIRE(rep.rows_sign_stop == 1);
        REQUIRE(rep.mean_abs_e_after == 0.125);
        // threshold 0.125: after cycle 1, |e| = 0.125 <= thr: converged
        o.update_threshold = 0.125;
        m = mask_from(k0, 1, 8);
        rep = dsnot_refine(matrix_view<const float>(w.data(), 1, 8), st, m, o);
        REQUIRE(rep.rows_converged == 1);
        REQUIRE(rep.swaps == 1);
        // no sign rule: cycle 2 applies (e = -3.375); cycle 3, e < 0: r = 1, p = 5:
        // e = -3.375 + 2 + 0.25 = -1.125; cycle 4: R- is used up. Kept {0, 1, 2, 3, 6}.
        o = {};
        m = mask_from(k0, 1, 8);
        rep = dsnot_refine(matrix_view<const float>(w.data(), 1, 8), st, m, o);
        REQUIRE(kept_of(m) == std::vector<char>{1, 1, 1, 1, 0, 0, 1, 0});
        REQUIRE(rep.swaps == 3);
        REQUIRE(rep.rows_exhausted == 1);
        REQUIRE(rep.mean_abs_e_after == 1.125);
        // max_cycle_time = 2 stops after the second swap
        o.max_cycle_time = 2;
        m = mask_from(k0, 1, 8);
        rep = dsnot_refine(matrix_view<const float>(w.data(), 1, 8), st, m, o);
        REQUIRE(rep.swaps == 2);
        REQUIRE(rep.rows_at_limit == 1);
        REQUIRE(rep.mean_abs_e_after == 3.375);
    }
    SECTION("equal grow keys: the lower column first, or the higher one with upstream_ties") {
        // w = [0.5, 2, 0.5, -3], pruned {0, 2} (g 0.5 and 0.5), e = 1, K- = [3].
        // cycle 1: r = 0 (upstream: 2), p = 3: e' = 1 - 3 - 0.5 = -2.5; cycle 2: R- is empty.
        std::vector<float> w{0.5f, 2, 0.5f, -3}, one(4, 1.0f);
        dsnot_stats st{vector_view<const float>(one.data(), 4), vector_view<const float>(one.data(), 4),
                       vector_view<const float>(one.data(), 4)};
        mask m = mask_from({0, 1, 0, 1}, 1, 4);
        dsnot_refine(matrix_view<const float>(w.data(), 1, 4), st, m);
        REQUIRE(kept_of(m) == std::vector<char>{1, 1, 0, 0});
        dsnot_options o;
        o.upstream_ties = true;
        m = mask_from({0, 1, 0, 1}, 1, 4);
        dsnot_refine(matrix_view<const float>(w.data(), 1, 4), st, m, o);
        REQUIRE(kept_of(m) == std::vector<char>{0, 1, 1, 0});
    }
}

TEST_CASE("dsnot_refine: hand-checked 2:4 row", "[reconstruct][dsnot]") {
    // w = [1, -2, 0.5, 3 | -1, 0.25, 2, 1.5], s = var = scaler = 1, kept {1, 3 | 4, 6}:
    // e = 1 + 0.5 + 0.25 + 1.5 = 3.25, R+ = [7 (1.5), 0 (1), 2 (0.5), 5 (0.25)].
    // cycle 1: r = 7, partner in [4, 8): lowest a of {4 (1), 6 (2)} = 4 (D = -1):
    //          e' = 3.25 - 1 - 1.5 = 0.75, same sign (N:M default): applied.
    // cycle 2: r = 0, partner in [0, 4): {1 (a 2), 3 (a 3)} -> 1 (D = -2): e' = 0.75 - 2 - 1 = -2.25 stops.
    std::vector<float> w{1, -2, 0.5f, 3, -1, 0.25f, 2, 1.5f}, one(8, 1.0f);
    dsnot_stats st{vector_view<const float>(one.data(), 8), vector_view<const float>(one.data(), 8),
                   vector_view<const float>(one.data(), 8)};
    const std::vector<char> k0{0, 1, 0, 1, 1, 0, 1, 0};
    dsnot_options o;
    o.keep_n = 2;
    o.group_m = 4;
    mask m = mask_from(k0, 1, 8);
    auto rep = dsnot_refine(matrix_view<const float>(w.data(), 1, 8), st, m, o);
    REQUIRE(kept_of(m) == std::vector<char>{0, 1, 0, 1, 0, 0, 1, 1});
    REQUIRE(rep.swaps == 1);
    REQUIRE(rep.rows_sign_stop == 1);
    REQUIRE(rep.mean_abs_e_after == 0.75);
    // the sign rule off: cycle 2 applies (e = -2.25), then R- is empty
    o.same_sign = false;
    m = mask_from(k0, 1, 8);
    rep = dsnot_refine(matrix_view<const float>(w.data(), 1, 8), st, m, o);
    REQUIRE(kept_of(m) == std::vector<char>{1, 0, 0, 1, 0, 0, 1, 1});
    REQUIRE(rep.swaps == 2);
    REQUIRE(rep.rows_exhausted == 1);
    // an initial score makes column 6 the partner of 7 instead of 4
    std::vector<float> S{0, 0, 0, 0, 5, 0, 1, 0};
    o.same_sign = true;
    o.initial_score = matrix_view<const float>(S.data(), 1, 8);
    m = mask_from(k0, 1, 8);
    rep = dsnot_refine(matrix_view<const float>(w.data(), 1, 8), st, m, o);
    // cycle 1: p = 6 (D = 2): e' = 3.25 + 2 - 1.5 = 3.75; cycle 2: r = 0, p = 1 (S ties: lower):
    // e' = 3.75 - 2 - 1 = 0.75; cycle 3: r = 2, p = 3: 0.75 + 3 - 0.5 = 3.25; cycle 4: r = 5, p = 4:
    // 3.25 - 1 - 0.25 = 2; then R+ is used up.
    REQUIRE(kept_of(m) == std::vector<char>{1, 0, 1, 0, 0, 1, 0, 1});
    REQUIRE(rep.swaps == 4);
    REQUIRE(rep.rows_exhausted == 1);
}

// ---- dsnot_refine against the reference --------------------------------------------------------

TEST_CASE("dsnot_refine: equals the §1.12 reference on random layers with ties, zero D and zero var",
          "[reconstruct][dsnot]") {
    for (bool dyadic : {true, false}) {
        const std::size_t out = 24, in = 96;
        const auto L = dyadic_layer(out, in, dyadic ? 7 : 8, dyadic);
        for (const char* pattern : {"unstructured", "2:4", "4:8", "3:4", "1:2"}) {
            std::size_t n = 0, m = 0, keep = 0;
            if (std::string(pattern) == "unstructured")
                keep = 37;
            else {
                n = static_cast<std::size_t>(pattern[0] - '0');
                m = static_cast<std::size_t>(pattern[2] - '0');
            }
            const auto kept0 = random_kept(out, in, keep, n, m, 99);
            for (unsigned T : {0u, 1u, 5u, 50u, 1000u})
                for (double thr : {0.0, 0.1, 2.0, 40.0})
                    for (int sign : {0, 1, 2})  // default, off, on
                        for (bool up : {false, true})
                            for (double gamma : {0.0, 1.0, 2.0}) {
                                if (T == 0 && (thr != 0.1 || up || gamma != 1.0)) continue;
                                dsnot_options o;
                                o.max_cycle_time = T;
                                o.update_threshold = thr;
                                o.pow_of_var_regrowing = gamma;
                                if (sign) o.same_sign = sign == 2;
                                o.upstream_ties = up;
                                o.keep_n = n;
                                o.group_m = m;
                                INFO(pattern << " dyadic " << dyadic << " T " << T << " thr " << thr << " sign " << sign
                                             << " up " << up << " gamma " << gamma);
                                check_against_reference(L, kept0, o);
                            }
        }
    }
}

TEST_CASE("dsnot_refine: N:M with a given initial score equals the reference", "[reconstruct][dsnot]") {
    const std::size_t out = 16, in = 64;
    const auto L = dyadic_layer(out, in, 21);
    auto S = test_util::tied_values(out * in, 5, 3);
    const std::vector<double> Sd(S.begin(), S.end());
    for (auto [n, m] : {std::pair<std::size_t, std::size_t>{2, 4}, {4, 8}}) {
        const auto kept0 = random_kept(out, in, 0, n, m, 3);
        dsnot_options o;
        o.keep_n = n;
        o.group_m = m;
        o.initial_score = matrix_view<const float>(S.data(), out, in);
        for (int sign : {1, 2}) {
            o.same_sign = sign == 2;
            check_against_reference(L, kept0, o, &Sd);
        }
    }
}

TEST_CASE("dsnot_refine: long rows (more candidates than a list holds) equal the reference", "[reconstruct][dsnot]") {
    const std::size_t out = 6, in = 3000;
    const auto L = dyadic_layer(out, in, 31, false);
    for (unsigned T : {3u, 50u, 400u}) {
        dsnot_options o;
        o.max_cycle_time = T;
        o.update_threshold = 0.0;
        check_against_reference(L, random_kept(out, in, 1500, 0, 0, 4), o);
        o.upstream_ties = true;
        check_against_reference(L, random_kept(out, in, 2100, 0, 0, 5), o);
        o.keep_n = 2;
        o.group_m = 4;
        check_against_reference(L, random_kept(out, in, 0, 2, 4, 6), o);
    }
}

TEST_CASE("dsnot_refine: rows of very different scales, Wanda masks and odd widths equal the reference",
          "[reconstruct][dsnot]") {
    // the scan gathers each list up to a bound guessed from the rows before; rows whose scale
    // jumps by 2^±6..12 make those guesses fail, so lists are gathered again without one
    for (std::size_t in : {203u, 1000u}) {
        const std::size_t out = 48;
        auto L = dyadic_layer(out, in, 41 + in);
        const int shifts[] = {0, 6, -6, 12, 0, -3, 0, 0};
        for (std::size_t i = 0; i < out; ++i)
            for (std::size_t j = 0; j < in; ++j) L.w[i * in + j] = std::ldexp(L.w[i * in + j], shifts[i % 8]);
        // Wanda's per-row mask: the kept columns cluster just above each row's threshold
        std::vector<char> wanda_kept(out * in, 0);
        for (std::size_t i = 0; i < out; ++i) {
            std::vector<std::size_t> idx(in);
            std::iota(idx.begin(), idx.end(), 0);
            const auto a = [&](std::size_t j) { return std::fabs(L.w[i * in + j]) * std::sqrt(L.scaler[j]); };
            std::stable_sort(idx.begin(), idx.end(), [&](std::size_t x, std::size_t y) { return a(x) > a(y); });
            for (std::size_t t = 0; t < in / 2; ++t) wanda_kept[i * in + idx[t]] = 1;
        }
        for (unsigned T : {5u, 50u})
            for (unsigned threads : {1u, 3u}) {
                dsnot_options o;
                o.max_cycle_time = T;
                o.update_threshold = 0.0;
                o.threads = threads;
                INFO("in " << in << " T " << T << " threads " << threads);
                check_against_reference(L, wanda_kept, o);
                check_against_reference(L, random_kept(out, in, in / 3, 0, 0, 7), o);
                if (in % 4 == 0) {
                    o.keep_n = 2;
                    o.group_m = 4;
                    check_against_reference(L, random_kept(out, in, 0, 2, 4, 8), o);
                }
            }
    }
}

TEST_CASE("dsnot_refine: statistics far outside float's range (f64) equal the reference", "[reconstruct][dsnot]") {
    const std::size_t out = 8, in = 96;
    const auto L = dyadic_layer(out, in, 53);
    for (const double scale : {1e200, 1e-200}) {
        std::vector<double> scaler(in), sum(in), var(in);
        for (std::size_t j = 0; j < in; ++j) {
            scaler[j] = L.scaler[j] * scale;  // sqrt: 1e±100, its inverse too
            sum[j] = L.sum[j] / scale;
            var[j] = L.var[j] * scale;  // var / |sum| leaves float's range both ways
        }
        const auto kept0 = random_kept(out, in, 40, 0, 0, 9);
        auto kept = kept0;
        dsnot_options o;
        o.update_threshold = 0.0;
        const auto rows = ref_refine(L.wd(), out, in, scaler, sum, var, kept, ref_of(o));
        test_util::for_each_tier([&](simd::isa) {
            mask m = mask_from(kept0, out, in);
            const auto rep =
                dsnot_refine(L.weights(),
                             {vector_view<const double>(scaler.data(), in), vector_view<const double>(sum.data(), in),
                              vector_view<const double>(var.data(), in)},
                             m, o);
            INFO("scale " << scale);
            REQUIRE(kept_of(m) == kept);
            std::size_t swaps = 0;
            for (const auto& r : rows) swaps += r.swaps;
            REQUIRE(rep.swaps == swaps);
            REQUIRE(swaps > 0);
        });
    }
}

TEST_CASE("simd::dsnot_scan: every tier equals the scalar twin (e's bits, bad, kmin, hits)",
          "[reconstruct][dsnot][simd]") {
    splitmix64 g(77);
    const std::size_t base = 5;  // the row starts mid-word
    for (std::size_t cols : {1u, 7u, 8u, 15u, 16u, 17u, 63u, 64u, 65u, 200u, 1000u}) {
        std::vector<float> w(cols), grow(cols), keep(cols), key(cols);
        std::vector<double> s(cols);
        std::vector<std::uint64_t> words((base + cols + 63) / 64 + 1);
        for (std::size_t j = 0; j < cols; ++j) {
            w[j] = (g.uniform() - 0.5f) * 4.0f;
            s[j] = (g.uniform() - 0.5) * 8.0;
            grow[j] = std::copysign(g.uniform() * 2.0f, static_cast<float>(s[j]));
            keep[j] = 0.5f + g.uniform();
            key[j] = 1.0f / keep[j];
            if (g() % 2) words[(base + j) / 64] |= std::uint64_t{1} << ((base + j) % 64);
            switch (g() % 16) {  // the special values
                case 0:
                    w[j] = 0.0f;
                    break;
                case 1:
                    w[j] = -0.0f;
                    break;
                case 2:
                    grow[j] = 0.0f;
                    break;
                case 3:
                    grow[j] = -HUGE_VALF;
                    break;
                case 4:
                    keep[j] = HUGE_VALF;
                    break;
                case 5:
                    w[j] = 1e-40f;
                    break;  // subnormal
                default:
                    break;
            }
        }
        const auto bad_at = cols / 2;
        for (int special : {0, 1, 2}) {  // none, a NaN weight, an infinite one
            auto wv = w;
            if (special == 1) wv[bad_at] = std::nanf("");
            if (special == 2) wv[bad_at] = -HUGE_VALF;
            for (const simd::dsnot_limits lim : {simd::dsnot_limits{{0.3f, 0.7f}, {0.4f, 1.1f}},
                                                 simd::dsnot_limits{{0.0f, HUGE_VALF}, {-HUGE_VALF, HUGE_VALF}},
                                                 simd::dsnot_limits{{FLT_MAX, 0.05f}, {0x1p-60f, 2.0f}}})
                for (double wlim : {HUGE_VAL, 1.5, 1.0000001}) {
                    const simd::dsnot_row<float> r{wv.data(),    s.data(), grow.data(), keep.data(), key.data(),
                                                   words.data(), base,     cols,        wlim};
                    std::vector<simd::dsnot_hits> want((cols + 63) / 64), got(want.size());
                    double acc_w[8] = {0, 0, 0, 0, 0, 0, 0, 0};
                    float kmin_w = HUGE_VALF;
                    bool bad_w = false;
                    const std::size_t n_w = simd::reference::dsnot_scan(r, lim, acc_w, &kmin_w, bad_w, want.data());
                    bool rescan_bad = false;
                    const std::size_t n_r =
                        simd::reference::dsnot_scan(r, lim, nullptr, nullptr, rescan_bad, want.data());
                    REQUIRE(n_r == n_w);  // a later pass finds the same hits and checks nothing
                    REQUIRE_FALSE(rescan_bad);
                    REQUIRE(bad_w == (special != 0 || std::any_of(wv.begin(), wv.end(), [&](float x) {
                                          return !(std::fabs(static_cast<double>(x)) < wlim);
                                      })));
                    test_util::for_each_vector_tier([&](simd::isa) {
                        double acc_g[8] = {0, 0, 0, 0, 0, 0, 0, 0};
                        float kmin_g = HUGE_VALF;
                        bool bad_g = false;
                        const std::size_t n_g = simd::dsnot_scan(r, lim, acc_g, &kmin_g, bad_g, got.data());
                        INFO("cols " << cols << " special " << special << " wlim " << wlim);
                        REQUIRE(n_g == n_w);
                        for (std::size_t c = 0; c < n_w; ++c) {
                            REQUIRE(got[c].j0 == want[c].j0);
                            REQUIRE(got[c].hits == want[c].hits);
                            REQUIRE(got[c].kept == want[c].kept);
                        }
                        REQUIRE(bad_g == bad_w);
                        REQUIRE(std::memcmp(&kmin_g, &kmin_w, sizeof kmin_g) == 0);
                        if (special == 0) REQUIRE(std::memcmp(acc_g, acc_w, sizeof acc_g) == 0);
                        bool later_bad = false;
                        REQUIRE(simd::dsnot_scan(r, lim, nullptr, nullptr, later_bad, got.data()) == n_w);
                        REQUIRE_FALSE(later_bad);
                    });
                }
        }
    }
}

// ---- properties --------------------------------------------------------------------------------

TEST_CASE("dsnot_refine: per-row sparsity and N:M kept exactly, |e| never grows with the sign rule, weights untouched",
          "[reconstruct][dsnot]") {
    const std::size_t out = 32, in = 128;
    const auto L = dyadic_layer(out, in, 41, false);
    const auto w_before = test_util::bytes_of(L.w);
    for (std::size_t m : {std::size_t{0}, std::size_t{4}, std::size_t{8}}) {
        const std::size_t n = m / 2;
        const auto kept0 = random_kept(out, in, 64, n, m, 8);
        dsnot_options o;
        o.keep_n = n;
        o.group_m = m;
        o.same_sign = true;
        o.update_threshold = 0.0;
        mask mk = mask_from(kept0, out, in);
        const auto rep = dsnot_refine(L.weights(), L.stats(), mk, o);
        REQUIRE(rep.swaps > 0);
        REQUIRE(rep.mean_abs_e_after <= rep.mean_abs_e_before);
        const auto k = kept_of(mk);
        for (std::size_t i = 0; i < out; ++i) {
            std::size_t c = 0;
            double e0 = 0, e1 = 0;
            for (std::size_t j = 0; j < in; ++j) {
                c += static_cast<std::size_t>(k[i * in + j]);
                const double D = static_cast<double>(L.w[i * in + j]) * L.sum[j];
                if (!kept0[i * in + j]) e0 += D;
                if (!k[i * in + j]) e1 += D;
            }
            REQUIRE(c == 64);
            // the sign of e is kept; unstructured, |e| can only shrink (e > 0 takes D_r > 0 and
            // D_p < 0); N:M's partner may have either sign, so |e| may grow there
            REQUIRE((e1 == 0 || e0 == 0 || (e1 > 0) == (e0 > 0)));
            if (m == 0) REQUIRE(std::fabs(e1) <= std::fabs(e0));
            for (std::size_t g0 = 0; m && g0 < in; g0 += m) {
                std::size_t cg = 0;
                for (std::size_t j = g0; j < g0 + m; ++j) cg += static_cast<std::size_t>(k[i * in + j]);
                REQUIRE(cg == n);
            }
        }
    }
    REQUIRE(test_util::bytes_of(L.w) == w_before);
}

TEST_CASE("dsnot_refine: 1, 2 and 3 threads give identical masks and reports", "[reconstruct][dsnot]") {
    const std::size_t out = 97, in = 200;
    const auto L = dyadic_layer(out, in, 51, false);
    for (std::size_t m : {std::size_t{0}, std::size_t{4}}) {
        const auto kept0 = random_kept(out, in, 100, m / 2, m, 9);
        std::vector<std::vector<char>> masks;
        std::vector<dsnot_report> reps;
        for (unsigned th : {1u, 2u, 3u}) {
            dsnot_options o;
            o.threads = th;
            o.keep_n = m / 2;
            o.group_m = m;
            o.update_threshold = 0.0;
            mask mk = mask_from(kept0, out, in);
            reps.push_back(dsnot_refine(L.weights(), L.stats(), mk, o));
            masks.push_back(kept_of(mk));
        }
        for (std::size_t t = 1; t < 3; ++t) {
            REQUIRE(masks[t] == masks[0]);
            REQUIRE(reps[t].swaps == reps[0].swaps);
            REQUIRE(reps[t].rows_at_limit == reps[0].rows_at_limit);
            REQUIRE(reps[t].mean_abs_e_after == reps[0].mean_abs_e_after);
        }
    }
}

TEST_CASE("dsnot_refine: bf16, f64 and strided weights give the f32 answer", "[reconstruct][dsnot]") {
    const std::size_t out = 12, in = 64;
    const auto L = dyadic_layer(out, in, 61);  // dyadic values with 4 significant bits: exact in bf16
    const auto kept0 = random_kept(out, in, 30, 0, 0, 10);
    dsnot_options o;
    o.update_threshold = 0.0;
    mask want = mask_from(kept0, out, in);
    const auto r0 = dsnot_refine(L.weights(), L.stats(), want, o);
    REQUIRE(r0.swaps > 0);
    std::vector<bfloat16> wb;
    for (float x : L.w) wb.emplace_back(x);
    const std::vector<double> wd(L.w.begin(), L.w.end());
    std::vector<float> wt(in * out);  // column-major storage: a view with strides {1, out}
    for (std::size_t i = 0; i < out; ++i)
        for (std::size_t j = 0; j < in; ++j) wt[j * out + i] = L.w[i * in + j];
    std::vector<double> sd(L.sum.begin(), L.sum.end());  // f64 statistics too
    dsnot_stats st64 = L.stats();
    st64.sum_row = vector_view<const double>(sd.data(), in);
    const tensor_ref views[] = {matrix_view<const bfloat16>(wb.data(), out, in),
                                matrix_view<const double>(wd.data(), out, in),
                                matrix_view<const float>(wt.data(), {out, in}, {1, static_cast<std::ptrdiff_t>(out)})};
    for (const auto& v : views) {
        mask mk = mask_from(kept0, out, in);
        const auto r = dsnot_refine(v, st64, mk, o);
        REQUIRE(mk == want);
        REQUIRE(r.swaps == r0.swaps);
    }
}

TEST_CASE("dsnot_refine: invalid inputs throw and leave the mask bit-identical", "[reconstruct][dsnot]") {
    const std::size_t out = 8, in = 16;
    auto L = dyadic_layer(out, in, 71, false);
    const auto kept0 = random_kept(out, in, 0, 2, 4, 11);
    const mask m0 = mask_from(kept0, out, in);
    dsnot_options nm;
    nm.keep_n = 2;
    nm.group_m = 4;
    const auto fails = [&](const tensor_ref& w, const dsnot_stats& st, const dsnot_options& o, const char* what) {
        mask m = m0;
        INFO(what);
        REQUIRE_THROWS_WITH(dsnot_refine(w, st, m, o), Catch::Contains("dsnot_refine: ") && Catch::Contains(what));
        REQUIRE(m == m0);
    };
    const auto st = L.stats();
    // shapes
    {
        mask m(shape{out, in + 1});
        REQUIRE_THROWS_AS(dsnot_refine(L.weights(), st, m), shape_error);
        dsnot_stats bad = st;
        bad.var = vector_view<const float>(L.var.data(), in - 1);
        fails(L.weights(), bad, {}, "var has");
        dsnot_options o = nm;
        o.group_m = 3;
        o.keep_n = 2;
        fails(L.weights(), st, o, "not a multiple of M = 3");
        o.group_m = 8;
        o.keep_n = 2;  // prunes 6 of 8 > M/2
        fails(L.weights(), st, o, "M - N <= M / 2");
        o.keep_n = 9;
        fails(L.weights(), st, o, "M - N <= M / 2");
        o = {};
        o.keep_n = 2;  // N without M
        fails(L.weights(), st, o, "N:M");
        o = nm;
        o.keep_n = 1;
        o.group_m = 2;  // the mask is 2:4, not 1:2
        fails(L.weights(), st, o, "the mask is not 1:2");
        std::vector<float> S(out * in, 1.0f);
        o = nm;
        o.initial_score = matrix_view<const float>(S.data(), out, in - 1);
        fails(L.weights(), st, o, "initial_score has shape");
        o.initial_score = matrix_view<const float>(S.data(), out, in);
        S[out * in - 1] = std::nanf("");
        fails(L.weights(), st, o, "initial_score has NaN at [7, 15]");
    }
    // a 2:4 mask with one group holding 3 kept, in the last row (so earlier rows ran)
    {
        auto k = kept0;
        for (std::size_t j = in * (out - 1) + 4; j < in * (out - 1) + 8; ++j) k[j] = j < in * (out - 1) + 7;
        mask m = mask_from(k, out, in);
        const mask mm = m;
        REQUIRE_THROWS_WITH(dsnot_refine(L.weights(), st, m, nm), Catch::Contains("row 7 keeps 3 of columns [4, 8)"));
        REQUIRE(m == mm);
    }
    // options
    {
        dsnot_options o;
        o.update_threshold = -1;
        fails(L.weights(), st, o, "update_threshold must be >= 0");
        o.update_threshold = std::nan("");
        fails(L.weights(), st, o, "update_threshold must be >= 0");
        o = {};
        o.pow_of_var_regrowing = INFINITY;
        fails(L.weights(), st, o, "pow_of_var_regrowing must be finite");
    }
    // values: NaN/Inf weights in the last row, NaN/Inf/negative statistics
    {
        auto w = L.w;
        w[out * in - 3] = std::nanf("");
        fails(matrix_view<const float>(w.data(), out, in), st, nm, "weights have NaN at [7, 13]");
        w[out * in - 3] = -INFINITY;
        fails(matrix_view<const float>(w.data(), out, in), st, {}, "weights have Inf at [7, 13]");
        std::vector<bfloat16> wb;
        for (float x : w) wb.emplace_back(x);
        fails(matrix_view<const bfloat16>(wb.data(), out, in), st, {}, "weights have Inf at [7, 13]");
        std::vector<double> big(L.w.begin(), L.w.end());
        big[5] = 1e307;  // finite, but D = w * sum_row overflows
        fails(matrix_view<const double>(big.data(), out, in), st, {}, "overflow double");
        auto bad = L;
        bad.sum[3] = std::nanf("");
        fails(L.weights(), bad.stats(), {}, "sum_row has NaN at 3");
        bad = L;
        bad.scaler[2] = INFINITY;
        fails(L.weights(), bad.stats(), {}, "scaler_row has Inf at 2");
        bad = L;
        bad.var[1] = -0.5f;
        fails(L.weights(), bad.stats(), {}, "var must be >= 0");
    }
}

TEST_CASE("dsnot_refine: empty layers and rows that start converged", "[reconstruct][dsnot]") {
    std::vector<float> none;
    dsnot_stats st{vector_view<const float>(none.data(), 0), vector_view<const float>(none.data(), 0),
                   vector_view<const float>(none.data(), 0)};
    mask m(shape{5, 0});
    auto rep = dsnot_refine(matrix_view<const float>(none.data(), 5, 0), st, m);
    REQUIRE(rep.rows_converged == 5);
    mask m2(shape{0, 4});
    std::vector<float> four(4, 1.0f);
    dsnot_stats st4{vector_view<const float>(four.data(), 4), vector_view<const float>(four.data(), 4),
                    vector_view<const float>(four.data(), 4)};
    rep = dsnot_refine(matrix_view<const float>(none.data(), 0, 4), st4, m2);
    REQUIRE(rep.swaps == 0);
    REQUIRE(rep.mean_abs_e_before == 0);
    // all-kept rows (e = 0) and an all-pruned row with sum_row = 0 (every D = 0) never swap
    std::vector<float> w{1, -1, 2, 3, 1, -1, 2, 3};
    mask m3(shape{2, 4});
    m3.set(4, false);
    m3.set(5, false);
    m3.set(6, false);
    m3.set(7, false);
    std::vector<float> zero(4, 0.0f);
    st4.sum_row = vector_view<const float>(zero.data(), 4);
    const mask before = m3;
    rep = dsnot_refine(matrix_view<const float>(w.data(), 2, 4), st4, m3);
    REQUIRE(m3 == before);
    REQUIRE(rep.rows_converged == 2);
}

// ---- quality -----------------------------------------------------------------------------------

TEST_CASE("dsnot_refine: on inputs with non-zero means and outlier columns, Wanda + DSnoT has less error",
          "[reconstruct][dsnot][quality]") {
    const std::size_t out = 64, in = 256, T = 128, seqs = 4;
    splitmix64 g(2024);
    const auto normal = [&] {  // Box-Muller from the library's generator
        const double u1 = (static_cast<double>(g() >> 11) + 0.5) * 0x1p-53,
                     u2 = static_cast<double>(g() >> 11) * 0x1p-53;
        return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
    };
    std::vector<double> mean(in), sd(in);
    for (std::size_t j = 0; j < in; ++j) {
        mean[j] = 1.5 * normal();
        sd[j] = 0.2 + 0.3 * std::fabs(normal());  // means dominate: the regime DSnoT targets
        if (j % 32 == 7) {                        // outlier features
            mean[j] *= 8;
            sd[j] *= 8;
        }
    }
    std::vector<float> X(seqs * T * in), W(out * in);
    for (std::size_t t = 0; t < seqs * T; ++t)
        for (std::size_t j = 0; j < in; ++j) X[t * in + j] = static_cast<float>(mean[j] + sd[j] * normal());
    for (auto& w : W) w = static_cast<float>(0.05 * normal());
    dsnot_accumulator acc(in);
    wanda_accumulator wacc(in);
    for (std::size_t s = 0; s < seqs; ++s) {
        acc.add(matrix_view<const float>(X.data() + s * T * in, T, in));
        wacc.add(matrix_view<const float>(X.data() + s * T * in, T, in));
    }
    std::vector<layer> layers{{"fc", matrix_view<const float>(W.data(), out, in), wacc.stat(), {}}};
    prune_options po;
    po.round = rounding::truncate;
    // (Σ_i (Σ_{j pruned} W_ij mean_j)², ‖(W − Ŵ) X‖²) of a mask
    const auto errors = [&](const mask& m) {
        double expected = 0, actual = 0;
        std::vector<double> xm(in, 0.0);
        for (std::size_t t = 0; t < seqs * T; ++t)
            for (std::size_t j = 0; j < in; ++j) xm[j] += X[t * in + j] / static_cast<double>(seqs * T);
        for (std::size_t i = 0; i < out; ++i) {
            double e = 0;
            for (std::size_t j = 0; j < in; ++j)
                if (!m.test(i * in + j)) e += W[i * in + j] * xm[j];
            expected += e * e;
            for (std::size_t t = 0; t < seqs * T; ++t) {
                double y = 0;
                for (std::size_t j = 0; j < in; ++j)
                    if (!m.test(i * in + j)) y += static_cast<double>(W[i * in + j]) * X[t * in + j];
                actual += y * y;
            }
        }
        return std::pair{expected, actual};
    };
    for (bool nm : {false, true}) {
        auto r = nm ? prune(layers, wanda, wanda_n_of_m(2, 4), po) : prune(layers, wanda, per_row{}, 0.5, po);
        mask m = r.masks[0];
        const auto [e_wanda, a_wanda] = errors(m);
        dsnot_options o;
        if (nm) {
            o.keep_n = 2;
            o.group_m = 4;
        }
        const auto rep = dsnot_refine(layers[0].weights, acc.stats(), m, o);
        const auto [e_dsnot, a_dsnot] = errors(m);
        INFO((nm ? "2:4" : "50%") << ": expected error " << e_wanda << " -> " << e_dsnot << ", actual " << a_wanda
                                  << " -> " << a_dsnot << ", swaps " << rep.swaps);
        REQUIRE(rep.swaps > 0);
        REQUIRE(e_dsnot < 0.5 * e_wanda);
        REQUIRE(a_dsnot < a_wanda);
        REQUIRE(m.count() == r.masks[0].count());
    }
}

// ---- SparseGPT's saliency ----------------------------------------------------------------------

TEST_CASE("dsnot_sparsegpt_scores: W'^2 / diag(U)^2 against an explicit inverse; dead columns; H = 0",
          "[reconstruct][dsnot]") {
    const std::size_t out = 3, n = 7;
    auto w = test_util::values(out * n, 81);
    // H = A Aᵀ / 10 + small diagonal, with column 2 dead
    auto A = test_util::values(n * 12, 82);
    std::vector<double> H(n * n, 0.0);
    for (std::size_t a = 0; a < n; ++a)
        for (std::size_t b = 0; b < n; ++b) {
            if (a == 2 || b == 2) continue;
            for (std::size_t k = 0; k < 12; ++k)
                H[a * n + b] += static_cast<double>(A[a * 12 + k]) * A[b * 12 + k] / 10;
        }
    // reference: explicit damped inverse (Gauss-Jordan), then the upper Cholesky factor UᵀU = H⁻¹
    std::vector<double> Hd = H;
    double mean_diag = 0;
    for (std::size_t a = 0; a < n; ++a) {
        if (Hd[a * n + a] == 0) Hd[a * n + a] = 1;
        mean_diag += Hd[a * n + a] / static_cast<double>(n);
    }
    for (std::size_t a = 0; a < n; ++a) Hd[a * n + a] += 0.01 * mean_diag;
    std::vector<double> inv(n * n, 0.0);
    for (std::size_t a = 0; a < n; ++a) inv[a * n + a] = 1;
    for (std::size_t c = 0; c < n; ++c) {
        const double p = Hd[c * n + c];
        for (std::size_t k = 0; k < n; ++k) {
            Hd[c * n + k] /= p;
            inv[c * n + k] /= p;
        }
        for (std::size_t r = 0; r < n; ++r) {
            if (r == c) continue;
            const double f = Hd[r * n + c];
            for (std::size_t k = 0; k < n; ++k) {
                Hd[r * n + k] -= f * Hd[c * n + k];
                inv[r * n + k] -= f * inv[c * n + k];
            }
        }
    }
    std::vector<double> U(n * n, 0.0);
    for (std::size_t j = 0; j < n; ++j) {
        double d = inv[j * n + j];
        for (std::size_t k = 0; k < j; ++k) d -= U[k * n + j] * U[k * n + j];
        U[j * n + j] = std::sqrt(d);
        for (std::size_t l = j + 1; l < n; ++l) {
            double v = inv[j * n + l];
            for (std::size_t k = 0; k < j; ++k) v -= U[k * n + j] * U[k * n + l];
            U[j * n + l] = v / U[j * n + j];
        }
    }
    std::vector<float> got(out * n, -1.0f);
    dsnot_sparsegpt_scores(matrix_view<const float>(w.data(), out, n), matrix_view<const double>(H.data(), n, n),
                           matrix_view<float>(got.data(), out, n));
    for (std::size_t i = 0; i < out; ++i)
        for (std::size_t j = 0; j < n; ++j) {
            INFO(i << "," << j);
            const double wj = j == 2 ? 0.0 : w[i * n + j];
            REQUIRE(got[i * n + j] == Approx(wj * wj / (U[j * n + j] * U[j * n + j])).epsilon(1e-5).margin(1e-30));
        }
    // H = 0 (upstream never accumulates it): every column dead, S = 0
    std::vector<float> H0(n * n, 0.0f);
    dsnot_sparsegpt_scores(matrix_view<const float>(w.data(), out, n), matrix_view<const float>(H0.data(), n, n),
                           matrix_view<float>(got.data(), out, n));
    REQUIRE(std::all_of(got.begin(), got.end(), [](float x) { return x == 0.0f; }));
    // a score beyond float's range (1e30² · 1e-6 with H = 1e-6 I) saturates instead of overflowing
    {
        std::vector<float> big = {1e30f, 1.0f};
        std::vector<double> tiny = {1e-6, 0.0, 0.0, 1e-6};
        std::vector<float> s2(2, -1.0f);
        dsnot_sparsegpt_scores(matrix_view<const float>(big.data(), 1, 2), matrix_view<const double>(tiny.data(), 2, 2),
                               matrix_view<float>(s2.data(), 1, 2), 0.0);
        CHECK(s2[0] == std::numeric_limits<float>::max());
        CHECK(s2[1] == Approx(1e-6).epsilon(1e-6));
    }
    // errors leave out untouched
    std::fill(got.begin(), got.end(), 7.0f);
    std::vector<double> neg(n * n, 0.0);
    for (std::size_t a = 0; a < n; ++a) neg[a * n + a] = a == 4 ? -50.0 : 1.0;
    REQUIRE_THROWS_WITH(
        dsnot_sparsegpt_scores(matrix_view<const float>(w.data(), out, n), matrix_view<const double>(neg.data(), n, n),
                               matrix_view<float>(got.data(), out, n)),
        Catch::Contains("not positive definite") && Catch::Contains("increase percdamp"));
    REQUIRE_THROWS_AS(dsnot_sparsegpt_scores(matrix_view<const float>(w.data(), out, n),
                                             matrix_view<const double>(neg.data(), n - 1, n - 1),
                                             matrix_view<float>(got.data(), out, n)),
                      shape_error);
    neg[3] = std::nan("");
    REQUIRE_THROWS_WITH(
        dsnot_sparsegpt_scores(matrix_view<const float>(w.data(), out, n), matrix_view<const double>(neg.data(), n, n),
                               matrix_view<float>(got.data(), out, n)),
        Catch::Contains("hessian has NaN at flat index 3"));
    REQUIRE(std::all_of(got.begin(), got.end(), [](float x) { return x == 7.0f; }));
}
