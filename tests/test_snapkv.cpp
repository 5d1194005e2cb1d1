#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <numeric>
#include <random>
#include <vector>

#include <catch2/catch.hpp>

#include "simd_tiers.hpp"
#include <nnprune/tokens/snapkv.hpp>

namespace snapkv_test {

using nnprune::tensor_view;

struct expected {
    std::vector<std::vector<std::size_t>> keep, order;
};

/// The spec's algorithm, slow and obvious. Exact = true: the f32 arithmetic nnprune documents
/// (fma chain over d ascending, / float(sqrt(D)), exp in f32, ascending sums): bit-identical.
/// Exact = false: everything in double.
template <bool Exact>
expected reference(const std::vector<float>& q, std::size_t tq, const std::vector<float>& k, std::size_t h,
                   std::size_t t, std::size_t d, const nnprune::snapkv_options& o) {
    using R = std::conditional_t<Exact, float, double>;
    const std::size_t g = o.kv_heads == 0 ? h : o.kv_heads, rep = h / g;
    expected e;
    for (std::size_t r = 0; r < g; ++r) {
        std::vector<std::size_t> all(t);
        std::iota(all.begin(), all.end(), std::size_t{0});
        if (t < o.capacity) {
            e.keep.push_back(all);
            e.order.push_back(all);
            continue;
        }
        const std::size_t w = o.window, n = t - w;
        std::vector<R> votes(n, R(0));
        for (std::size_t hh = r * rep; hh < (r + 1) * rep; ++hh)
            for (std::size_t i = 0; i < w; ++i) {
                const float* qi = &q[(hh * tq + tq - w + i) * d];
                std::vector<R> l;
                for (std::size_t j = 0; j <= n + i; ++j) {
                    const float* kj = &k[(hh * t + j) * d];
                    R s = 0;
                    for (std::size_t c = 0; c < d; ++c) {
                        if constexpr (Exact)
                            s = std::fma(qi[c], kj[c], s);
                        else
                            s += double(qi[c]) * double(kj[c]);
                    }
                    if constexpr (Exact)
                        l.push_back(s / static_cast<float>(std::sqrt(double(d))));
                    else
                        l.push_back(s / std::sqrt(double(d)));
                }
                const R mx = *std::max_element(l.begin(), l.end());
                R z = 0;
                if constexpr (Exact) {  // nnprune's exp, summed in 16 lanes folded in halves, then the tail
                    float lane[16] = {};
                    const std::size_t full = l.size() / 16 * 16;
                    for (std::size_t j = 0; j < l.size(); ++j) {
                        l[j] = nnprune::detail::snapkv_exp(l[j] - mx);
                        if (j < full) lane[j % 16] += l[j];
                    }
                    for (std::size_t half = 8; half > 0; half /= 2)
                        for (std::size_t u = 0; u < half; ++u) lane[u] += lane[u + half];
                    z = lane[0];
                    for (std::size_t j = full; j < l.size(); ++j) z += l[j];
                } else {
                    for (auto& v : l) z += (v = std::exp(v - mx));
                }
                for (std::size_t j = 0; j < n; ++j) votes[j] += l[j] / z;
            }
        std::vector<R> pooled(n);
        const std::ptrdiff_t half = static_cast<std::ptrdiff_t>(o.kernel / 2);
        for (std::ptrdiff_t j = 0; j < static_cast<std::ptrdiff_t>(n); ++j) {
            R s = 0, m = -std::numeric_limits<R>::infinity();
            for (std::ptrdiff_t u = j - half; u <= j + half; ++u)
                if (u >= 0 && u < static_cast<std::ptrdiff_t>(n))
                    s += votes[size_t(u)], m = std::max(m, votes[size_t(u)]);
            pooled[size_t(j)] = o.pooling == nnprune::snapkv_pooling::avg ? s / R(o.kernel) : m;
        }
        std::vector<std::size_t> idx(n);
        std::iota(idx.begin(), idx.end(), std::size_t{0});
        std::stable_sort(idx.begin(), idx.end(), [&](std::size_t a, std::size_t b) { return pooled[a] > pooled[b]; });
        idx.resize(o.capacity - w);
        std::vector<std::size_t> keep = idx;
        std::sort(keep.begin(), keep.end());
        for (std::size_t j = n; j < t; ++j) idx.push_back(j), keep.push_back(j);
        e.keep.push_back(keep);
        e.order.push_back(idx);
    }
    return e;
}

inline void check_equal(const nnprune::snapkv_result& r, const expected& e) {
    REQUIRE(r.heads == e.keep.size());
    for (std::size_t h = 0; h < r.heads; ++h) {
        const auto k = r.keep_of(h), u = r.upstream_order_of(h);
        CHECK(std::vector<std::size_t>(k.begin(), k.end()) == e.keep[h]);
        CHECK(std::vector<std::size_t>(u.begin(), u.end()) == e.order[h]);
    }
}

inline std::vector<float> random(std::size_t n, unsigned seed, float scale = 1.0f) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> nd(0.0f, scale);
    std::vector<float> x(n);
    for (auto& v : x) v = nd(rng);
    return x;
}

}  // namespace snapkv_test

TEST_CASE("snapkv: hand-worked selections and the tie rule", "[tokens][snapkv]") {
    using nnprune::tensor_view;
    // H = 1, T = 4, D = 1, w = 1: the last query (1) sees the prefix logits k = [0, 2, 1]
    const std::vector<float> q = {0, 0, 0, 1}, k = {0, 2, 1, 0};
    const tensor_view<const float, 3> qv(q.data(), 1, 4, 1), kv(k.data(), 1, 4, 1);
    auto r = nnprune::snapkv(qv, kv, {.window = 1, .capacity = 2, .kernel = 1});
    CHECK(r.compressed);
    CHECK(r.kept == 2);
    CHECK(r.keep == std::vector<std::size_t>{1, 3});
    CHECK(r.upstream_order == std::vector<std::size_t>{1, 3});
    // avg kernel 3: pooled = [(v0+v1)/3, (v0+v1+v2)/3, (v1+v2)/3]: the middle wins, then the last
    r = nnprune::snapkv(qv, kv, {.window = 1, .capacity = 3, .kernel = 3});
    CHECK(r.upstream_order == std::vector<std::size_t>{1, 2, 3});
    CHECK(r.keep == std::vector<std::size_t>{1, 2, 3});
    // max kernel 3: pooled = [v1, v1, v1], a plateau: the lower positions win, in order
    r = nnprune::snapkv(qv, kv, {.window = 1, .capacity = 3, .kernel = 3, .pooling = nnprune::snapkv_pooling::max});
    CHECK(r.upstream_order == std::vector<std::size_t>{0, 1, 3});
    // upstream order differs from ascending: prefix [0, 3, 1] -> votes order 1 (2), 2 (1), 0 (0)
    const std::vector<float> k2 = {0, 2, 1, 5, 0};
    const std::vector<float> q2 = {0, 0, 0, 0, 1};
    r = nnprune::snapkv(tensor_view<const float, 3>(q2.data(), 1, 5, 1),
                        tensor_view<const float, 3>(k2.data(), 1, 5, 1), {.window = 1, .capacity = 4, .kernel = 1});
    CHECK(r.upstream_order == std::vector<std::size_t>{3, 1, 2, 4});
    CHECK(r.keep == std::vector<std::size_t>{1, 2, 3, 4});
    // T < capacity keeps everything in order; T == capacity compresses (reorders)
    r = nnprune::snapkv(tensor_view<const float, 3>(q2.data(), 1, 5, 1),
                        tensor_view<const float, 3>(k2.data(), 1, 5, 1), {.window = 1, .capacity = 6, .kernel = 1});
    CHECK(!r.compressed);
    CHECK(r.upstream_order == std::vector<std::size_t>{0, 1, 2, 3, 4});
    r = nnprune::snapkv(tensor_view<const float, 3>(q2.data(), 1, 5, 1),
                        tensor_view<const float, 3>(k2.data(), 1, 5, 1), {.window = 1, .capacity = 5, .kernel = 1});
    CHECK(r.compressed);
    CHECK(r.upstream_order == std::vector<std::size_t>{3, 1, 2, 0, 4});  // votes e^5 > e^2 > e^1 > e^0
}

TEST_CASE("snapkv: the softmax exp is within 2 ulp of std::exp", "[tokens][snapkv]") {
    for (float x = 0.0f; x > -90.0f; x -= 0.0137f) {
        const double e = std::exp(double(x)), got = nnprune::detail::snapkv_exp(x);
        if (x >= -87.0f)
            CHECK(std::fabs(got - e) <= 2.0 * std::ldexp(1.0, std::ilogb(e) - 23));
        else
            CHECK(got == 0.0);
    }
    CHECK(nnprune::detail::snapkv_exp(0.0f) == 1.0f);
    CHECK(nnprune::detail::snapkv_exp(-std::numeric_limits<float>::infinity()) == 0.0f);
}

TEST_CASE("snapkv: equals the slow reference (f32 twin bit for bit, f64 on random inputs)", "[tokens][snapkv]") {
    using nnprune::tensor_view;
    const std::size_t h = 4, d = 12;
    unsigned seed = 1;
    for (std::size_t t : {24u, 37u, 64u})
        for (std::size_t w : {1u, 4u, 8u})
            for (std::size_t kernel : {1u, 3u, 7u})
                for (auto pool : {nnprune::snapkv_pooling::avg, nnprune::snapkv_pooling::max})
                    for (std::size_t g : {0u, 2u}) {
                        const std::size_t cap = w + 1 + (seed * 7) % (t - w);
                        const nnprune::snapkv_options o{w, cap, kernel, pool, g};
                        const auto q = snapkv_test::random(h * t * d, seed++, 1.5f),
                                   k = snapkv_test::random(h * t * d, seed++);
                        const auto r = nnprune::snapkv(tensor_view<const float, 3>(q.data(), h, t, d),
                                                       tensor_view<const float, 3>(k.data(), h, t, d), o);
                        INFO("t " << t << " w " << w << " kernel " << kernel << " cap " << cap << " g " << g);
                        CHECK(r.kept == cap);
                        snapkv_test::check_equal(r, snapkv_test::reference<true>(q, t, k, h, t, d, o));
                        snapkv_test::check_equal(r, snapkv_test::reference<false>(q, t, k, h, t, d, o));
                        // only the window's queries: same answer
                        std::vector<float> qw(h * w * d);
                        for (std::size_t hh = 0; hh < h; ++hh)
                            std::copy_n(&q[(hh * t + t - w) * d], w * d, &qw[hh * w * d]);
                        const auto r2 = nnprune::snapkv(tensor_view<const float, 3>(qw.data(), h, w, d),
                                                        tensor_view<const float, 3>(k.data(), h, t, d), o);
                        CHECK(r2.keep == r.keep);
                        CHECK(r2.upstream_order == r.upstream_order);
                    }
}

TEST_CASE("snapkv: tied inputs (duplicated keys, integer values) follow the tie rule", "[tokens][snapkv]") {
    using nnprune::tensor_view;
    const std::size_t h = 2, t = 40, d = 4;
    std::mt19937 rng(5);
    std::uniform_int_distribution<int> small(-2, 2);
    for (int rep = 0; rep < 6; ++rep) {
        std::vector<float> q(h * t * d), k(h * t * d);
        for (auto& v : q) v = float(small(rng));
        for (auto& v : k) v = float(small(rng)) * 0.5f;
        for (std::size_t j = 0; j + 6 < t; j += 3)  // many duplicated keys: exactly equal votes
            std::copy_n(&k[j * d], d, &k[(j + 1) * d]);
        for (auto pool : {nnprune::snapkv_pooling::avg, nnprune::snapkv_pooling::max}) {
            const nnprune::snapkv_options o{8, 20, 5, pool, 0};
            const auto r = nnprune::snapkv(tensor_view<const float, 3>(q.data(), h, t, d),
                                           tensor_view<const float, 3>(k.data(), h, t, d), o);
            snapkv_test::check_equal(r, snapkv_test::reference<true>(q, t, k, h, t, d, o));
        }
    }
}

TEST_CASE("snapkv: dtypes, strides and batches", "[tokens][snapkv]") {
    using nnprune::bfloat16;
    using nnprune::float16;
    using nnprune::tensor_view;
    const std::size_t b = 3, h = 2, t = 1100, d = 8;  // t > one widening block of 1024 keys
    const nnprune::snapkv_options o{8, 64, 7, nnprune::snapkv_pooling::max, 0};
    auto q = snapkv_test::random(b * h * t * d, 11), k = snapkv_test::random(b * h * t * d, 12);
    std::vector<bfloat16> qb(q.size()), kb(k.size());
    std::vector<float16> qh(q.size()), kh(k.size());
    std::vector<double> qd(q.size()), kd(k.size());
    for (std::size_t i = 0; i < q.size(); ++i) {
        qb[i] = bfloat16(q[i]), kb[i] = bfloat16(k[i]);
        qh[i] = float16(q[i]), kh[i] = float16(k[i]);
        qd[i] = double(q[i]) + 1e-12, kd[i] = double(k[i]);
    }
    auto f32 = [&](auto conv) {
        std::vector<float> qq(q.size()), kk(k.size());
        for (std::size_t i = 0; i < q.size(); ++i) qq[i] = conv(i, true), kk[i] = conv(i, false);
        return nnprune::snapkv_batch(tensor_view<const float, 4>(qq.data(), b, h, t, d),
                                     tensor_view<const float, 4>(kk.data(), b, h, t, d), o);
    };
    const auto ref_b = f32([&](std::size_t i, bool isq) { return nnprune::to_float(isq ? qb[i] : kb[i]); });
    const auto ref_h = f32([&](std::size_t i, bool isq) { return nnprune::to_float(isq ? qh[i] : kh[i]); });
    const auto ref_d = f32([&](std::size_t i, bool isq) { return static_cast<float>(isq ? qd[i] : kd[i]); });
    const auto ref = nnprune::snapkv_batch(tensor_view<const float, 4>(q.data(), b, h, t, d),
                                           tensor_view<const float, 4>(k.data(), b, h, t, d), o);
    for (unsigned threads = 1; threads <= 4; ++threads) {
        const auto rf = nnprune::snapkv_batch(tensor_view<const float, 4>(q.data(), b, h, t, d),
                                              tensor_view<const float, 4>(k.data(), b, h, t, d), o, threads);
        for (std::size_t i = 0; i < b; ++i) {
            CHECK(rf[i].upstream_order == ref[i].upstream_order);
            CHECK(rf[i].keep == ref[i].keep);
        }
    }
    for (unsigned threads : {1u, 3u}) {
        const auto rb = nnprune::snapkv_batch(tensor_view<const bfloat16, 4>(qb.data(), b, h, t, d),
                                              tensor_view<const bfloat16, 4>(kb.data(), b, h, t, d), o, threads);
        const auto rh = nnprune::snapkv_batch(tensor_view<const float16, 4>(qh.data(), b, h, t, d),
                                              tensor_view<const float16, 4>(kh.data(), b, h, t, d), o, threads);
        const auto rd = nnprune::snapkv_batch(tensor_view<const double, 4>(qd.data(), b, h, t, d),
                                              tensor_view<const double, 4>(kd.data(), b, h, t, d), o, threads);
        for (std::size_t i = 0; i < b; ++i) {
            CHECK(rb[i].upstream_order == ref_b[i].upstream_order);
            CHECK(rh[i].upstream_order == ref_h[i].upstream_order);
            CHECK(rd[i].upstream_order == ref_d[i].upstream_order);
        }
    }
    for (std::size_t i = 0; i < b; ++i) {  // batch == loop
        const auto one = nnprune::snapkv(tensor_view<const float, 3>(q.data() + i * h * t * d, h, t, d),
                                         tensor_view<const float, 3>(k.data() + i * h * t * d, h, t, d), o);
        CHECK(one.upstream_order == ref[i].upstream_order);
    }
    // strided: storage [B, H, D, T] viewed as [B, H, T, D] (stride(last) != 1), f32 and bf16
    std::vector<float> qt(q.size()), kt(k.size());
    std::vector<bfloat16> kbt(k.size()), qbt(q.size());
    for (std::size_t x = 0; x < b * h; ++x)
        for (std::size_t j = 0; j < t; ++j)
            for (std::size_t c = 0; c < d; ++c) {
                qt[(x * d + c) * t + j] = q[(x * t + j) * d + c];
                kt[(x * d + c) * t + j] = k[(x * t + j) * d + c];
                qbt[(x * d + c) * t + j] = qb[(x * t + j) * d + c];
                kbt[(x * d + c) * t + j] = kb[(x * t + j) * d + c];
            }
    using E = tensor_view<const float, 4>::extents_type;
    using S = tensor_view<const float, 4>::strides_type;
    const E e{b, h, t, d};
    const S s{std::ptrdiff_t(h * t * d), std::ptrdiff_t(t * d), 1, std::ptrdiff_t(t)};
    const auto rs = nnprune::snapkv_batch(tensor_view<const float, 4>(qt.data(), e, s),
                                          tensor_view<const float, 4>(kt.data(), e, s), o, 2);
    const auto rsb = nnprune::snapkv_batch(tensor_view<const bfloat16, 4>(qbt.data(), e, s),
                                           tensor_view<const bfloat16, 4>(kbt.data(), e, s), o, 2);
    for (std::size_t i = 0; i < b; ++i) {
        CHECK(rs[i].upstream_order == ref[i].upstream_order);
        CHECK(rsb[i].upstream_order == ref_b[i].upstream_order);
    }
}

TEST_CASE("snapkv: errors name the argument, and a throwing call leaves the result unchanged", "[tokens][snapkv]") {
    using nnprune::tensor_view;
    const std::size_t h = 2, t = 20, d = 4;
    auto q = snapkv_test::random(h * t * d, 3), k = snapkv_test::random(h * t * d, 4);
    const tensor_view<const float, 3> qv(q.data(), h, t, d), kv(k.data(), h, t, d);
    nnprune::snapkv_workspace ws;
    nnprune::snapkv_result r;
    nnprune::snapkv(qv, kv, {.window = 4, .capacity = 10, .kernel = 3}, ws, r);
    const auto before = r;
    auto unchanged = [&] {
        CHECK(r.keep == before.keep);
        CHECK(r.upstream_order == before.upstream_order);
        CHECK(r.kept == before.kept);
    };
    REQUIRE_THROWS_WITH(nnprune::snapkv(qv, kv, {.window = 4, .capacity = 10, .kernel = 4}, ws, r),
                        Catch::Contains("snapkv: pooling kernel must be odd, got 4"));
    unchanged();
    REQUIRE_THROWS_WITH(nnprune::snapkv(qv, kv, {.window = 4, .capacity = 4, .kernel = 3}, ws, r),
                        Catch::Contains("snapkv: capacity 4 must exceed the window 4"));
    REQUIRE_THROWS_WITH(nnprune::snapkv(qv, kv, {.window = 0, .capacity = 4, .kernel = 3}, ws, r),
                        Catch::Contains("snapkv: window must be positive"));
    REQUIRE_THROWS_WITH(
        nnprune::snapkv(tensor_view<const float, 3>(q.data(), h, t - 1, d), kv, {.window = 4, .capacity = 10}, ws, r),
        Catch::Contains("snapkv: queries are 2x19x4"));
    REQUIRE_THROWS_WITH(nnprune::snapkv(qv, kv, {.window = 4, .capacity = 10, .kv_heads = 3}, ws, r),
                        Catch::Contains("snapkv: 2 query heads are not a multiple of kv_heads = 3"));
    REQUIRE_THROWS_WITH(
        nnprune::snapkv(tensor_view<const float, 3>(q.data(), h, 0, d), tensor_view<const float, 3>(k.data(), h, 0, d),
                        {.window = 4, .capacity = 10}, ws, r),
        Catch::Contains("snapkv: keys are 2x0x4"));
    unchanged();
    auto k2 = k;
    k2[(1 * t + 7) * d + 2] = std::numeric_limits<float>::quiet_NaN();
    REQUIRE_THROWS_WITH(
        nnprune::snapkv(qv, tensor_view<const float, 3>(k2.data(), h, t, d), {.window = 4, .capacity = 10}, ws, r),
        Catch::Contains("snapkv: non-finite key nan at head 1, token 7, channel 2"));
    k2 = k;
    k2[(0 * t + 3) * d + 1] = -std::numeric_limits<float>::infinity();  // -inf logits need the explicit check
    for (std::size_t i = 0; i < h * t; ++i) q[i * d + 1] = 1.0f;
    REQUIRE_THROWS_WITH(
        nnprune::snapkv(qv, tensor_view<const float, 3>(k2.data(), h, t, d), {.window = 4, .capacity = 10}, ws, r),
        Catch::Contains("snapkv: non-finite key -inf at head 0, token 3, channel 1"));
    unchanged();
    auto q2 = q;
    q2[(1 * t + t - 1) * d + 0] = std::numeric_limits<float>::infinity();
    REQUIRE_THROWS_WITH(
        nnprune::snapkv(tensor_view<const float, 3>(q2.data(), h, t, d), kv, {.window = 4, .capacity = 10}, ws, r),
        Catch::Contains("snapkv: non-finite query inf at head 1, token 19, channel 0"));
    unchanged();
    q2 = q;  // a NaN query outside the window is never read
    q2[0] = std::numeric_limits<float>::quiet_NaN();
    CHECK_NOTHROW(nnprune::snapkv(tensor_view<const float, 3>(q2.data(), h, t, d), kv, {.window = 4, .capacity = 10}));
    std::vector<double> kd(k.begin(), k.end()), qd(q.begin(), q.end());
    kd[5] = 1e300;
    nnprune::snapkv_workspace wsd;
    REQUIRE_THROWS_WITH(
        nnprune::snapkv(tensor_view<const double, 3>(qd.data(), h, t, d),
                        tensor_view<const double, 3>(kd.data(), h, t, d), {.window = 4, .capacity = 10}, wsd, r),
        Catch::Contains("snapkv: attention logits of head 0 overflow float"));
    unchanged();
    // batch: one bad item, out unchanged
    std::vector<float> qb(2 * h * t * d), kb(2 * h * t * d);
    std::copy(q.begin(), q.end(), qb.begin());
    std::copy(q.begin(), q.end(), qb.begin() + std::ptrdiff_t(h * t * d));
    std::copy(k.begin(), k.end(), kb.begin());
    std::copy(k2.begin(), k2.end(), kb.begin() + std::ptrdiff_t(h * t * d));
    std::vector<nnprune::snapkv_workspace> wss;
    std::vector<nnprune::snapkv_result> out(2, before);
    for (unsigned threads = 1; threads <= 2; ++threads) {
        REQUIRE_THROWS_WITH(nnprune::snapkv_batch(tensor_view<const float, 4>(qb.data(), 2, h, t, d),
                                                  tensor_view<const float, 4>(kb.data(), 2, h, t, d),
                                                  {.window = 4, .capacity = 10}, wss, out, threads),
                            Catch::Contains("snapkv_batch: non-finite key -inf"));
        CHECK(out[0].keep == before.keep);
        CHECK(out[1].upstream_order == before.upstream_order);
    }
    REQUIRE_THROWS_WITH(nnprune::snapkv_batch(tensor_view<const float, 4>(qb.data(), 1, h, t, d),
                                              tensor_view<const float, 4>(kb.data(), 2, h, t, d)),
                        Catch::Contains("snapkv_batch: batch of 1 query and 2 key items"));
}

TEST_CASE("snapkv: every SIMD tier gives the same selection", "[tokens][snapkv]") {
    using nnprune::tensor_view;
    const std::size_t h = 2, t = 90, d = 36;
    const auto q = snapkv_test::random(h * t * d, 31, 2.0f), k = snapkv_test::random(h * t * d, 32);
    std::vector<nnprune::bfloat16> kb(k.size()), qb(q.size());
    for (std::size_t i = 0; i < k.size(); ++i) kb[i] = nnprune::bfloat16(k[i]), qb[i] = nnprune::bfloat16(q[i]);
    const nnprune::snapkv_options o{8, 40, 5, nnprune::snapkv_pooling::avg, 0};
    nnprune::snapkv_result scalar_f, scalar_b;
    {
        const nnprune::simd::isa_guard tier(nnprune::simd::isa::scalar);
        scalar_f = nnprune::snapkv(tensor_view<const float, 3>(q.data(), h, t, d),
                                   tensor_view<const float, 3>(k.data(), h, t, d), o);
        scalar_b = nnprune::snapkv(tensor_view<const nnprune::bfloat16, 3>(qb.data(), h, t, d),
                                   tensor_view<const nnprune::bfloat16, 3>(kb.data(), h, t, d), o);
    }
    snapkv_test::check_equal(scalar_f, snapkv_test::reference<true>(q, t, k, h, t, d, o));
    test_util::for_each_vector_tier([&](nnprune::simd::isa) {
        const auto rf = nnprune::snapkv(tensor_view<const float, 3>(q.data(), h, t, d),
                                        tensor_view<const float, 3>(k.data(), h, t, d), o);
        const auto rb = nnprune::snapkv(tensor_view<const nnprune::bfloat16, 3>(qb.data(), h, t, d),
                                        tensor_view<const nnprune::bfloat16, 3>(kb.data(), h, t, d), o);
        CHECK(rf.upstream_order == scalar_f.upstream_order);
        CHECK(rb.upstream_order == scalar_b.upstream_order);
    });
}
