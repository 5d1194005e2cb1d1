#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <numeric>
#include <random>
#include <vector>

#include <catch2/catch.hpp>

#include <nnprune/tokens/think.hpp>

namespace think_test {

/// Per head the kept channels (ascending), from the spec in double: prune the p lowest scores,
/// equal scores the lower channel first.
inline std::vector<std::vector<std::size_t>> reference(const std::vector<float>& q, std::size_t tq,
                                                       const std::vector<float>& k, std::size_t h, std::size_t t,
                                                       std::size_t d, const nnprune::think_options& o) {
    const auto p = static_cast<std::size_t>(double(d) * o.ratio);
    const std::size_t nq = std::min(o.query_window, tq);
    std::vector<std::vector<std::size_t>> out;
    for (std::size_t hh = 0; hh < h; ++hh) {
        std::vector<double> score(d);
        for (std::size_t c = 0; c < d; ++c) {
            double qs = 0, ks = 0;
            for (std::size_t i = tq - nq; i < tq; ++i)
                qs += double(q[(hh * tq + i) * d + c]) * q[(hh * tq + i) * d + c];
            for (std::size_t j = 0; j < t; ++j) ks += double(k[(hh * t + j) * d + c]) * k[(hh * t + j) * d + c];
            score[c] = (qs / double(nq)) * (ks / double(t));
        }
        std::vector<std::size_t> idx(d);
        std::iota(idx.begin(), idx.end(), std::size_t{0});
        std::stable_sort(idx.begin(), idx.end(), [&](std::size_t a, std::size_t b) { return score[a] < score[b]; });
        std::vector<std::size_t> kept(idx.begin() + std::ptrdiff_t(p), idx.end());
        std::sort(kept.begin(), kept.end());
        out.push_back(kept);
    }
    return out;
}

inline std::vector<float> random(std::size_t n, unsigned seed) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> nd;
    std::vector<float> x(n);
    for (auto& v : x) v = nd(rng);
    return x;
}

inline void check(const nnprune::think_result& r, const std::vector<std::vector<std::size_t>>& e) {
    REQUIRE(r.heads == e.size());
    for (std::size_t h = 0; h < r.heads; ++h) {
        const auto c = r.channels_of(h);
        CHECK(std::vector<std::size_t>(c.begin(), c.end()) == e[h]);
        const auto m = r.mask_of(h);
        for (std::size_t ch = 0; ch < r.dim; ++ch)
            CHECK(m[ch] == (std::find(e[h].begin(), e[h].end(), ch) != e[h].end() ? 1 : 0));
    }
}

}  // namespace think_test

TEST_CASE("think: hand-worked scores, the tie rule and int(D * ratio)", "[tokens][think]") {
    using nnprune::tensor_view;
    // H = 1, T = 2, D = 4; q all ones; mean k^2 per channel = [4, 1, 9, 1]
    const std::vector<float> q(8, 1.0f), k = {2, 1, 3, -1, -2, -1, -3, 1};
    const tensor_view<const float, 3> qv(q.data(), 1, 2, 4), kv(k.data(), 1, 2, 4);
    auto r = nnprune::think(qv, kv, {.ratio = 0.25});  // p = 1: channels 1 and 3 tie, the lower is pruned
    CHECK(r.pruned == 1);
    CHECK(r.channels == std::vector<std::size_t>{0, 2, 3});
    CHECK(r.mask == std::vector<unsigned char>{1, 0, 1, 1});
    r = nnprune::think(qv, kv, {.ratio = 0.5});
    CHECK(r.channels == std::vector<std::size_t>{0, 2});
    r = nnprune::think(qv, kv, {.ratio = 0.0});
    CHECK(r.channels == std::vector<std::size_t>{0, 1, 2, 3});
    // the query scale matters: q^2 = [1, 100, 1, 1] -> scores [4, 100, 9, 1]: prune 3, then 0
    const std::vector<float> q2 = {1, 10, 1, 1};
    r = nnprune::think(tensor_view<const float, 3>(q2.data(), 1, 1, 4), kv, {.ratio = 0.5});
    CHECK(r.channels == std::vector<std::size_t>{1, 2});
    // p = int(D * ratio) truncates the double product: 100 * 0.29 = 28.999999999999996 -> 28
    const auto qq = think_test::random(3 * 100, 1), kk = think_test::random(5 * 100, 2);
    r = nnprune::think(tensor_view<const float, 3>(qq.data(), 1, 3, 100),
                       tensor_view<const float, 3>(kk.data(), 1, 5, 100), {.ratio = 0.29});
    CHECK(r.pruned == 28);
    CHECK(r.kept == 72);
    r = nnprune::think(tensor_view<const float, 3>(qq.data(), 1, 3, 100),
                       tensor_view<const float, 3>(kk.data(), 1, 5, 100));
    CHECK(r.pruned == 40);  // default ratio 0.4
}

TEST_CASE("think: equals the slow reference; only the query window is read", "[tokens][think]") {
    using nnprune::tensor_view;
    unsigned seed = 10;
    for (std::size_t d : {10u, 33u, 128u})
        for (std::size_t tq : {1u, 5u, 40u})
            for (double ratio : {0.25, 0.4, 0.6})
                for (std::size_t qw : {1u, 4u, 32u}) {
                    const std::size_t h = 3, t = 23;
                    const nnprune::think_options o{ratio, qw, 4};
                    auto q = think_test::random(h * tq * d, seed++), k = think_test::random(h * t * d, seed++);
                    for (std::size_t i = 0; i < h * t; i += 2)  // duplicated channels: exact ties
                        k[i * d + 1] = k[i * d + 0], k[i * d + 2] = -k[i * d + 0];
                    for (std::size_t i = 0; i < h * tq; ++i) q[i * d + 1] = q[i * d + 0], q[i * d + 2] = q[i * d + 0];
                    const auto r = nnprune::think(tensor_view<const float, 3>(q.data(), h, tq, d),
                                                  tensor_view<const float, 3>(k.data(), h, t, d), o);
                    INFO("d " << d << " tq " << tq << " ratio " << ratio << " window " << qw);
                    CHECK(r.kept == d - static_cast<std::size_t>(double(d) * ratio));
                    think_test::check(r, think_test::reference(q, tq, k, h, t, d, o));
                    if (tq > qw) {  // rows before the window are never read
                        for (std::size_t hh = 0; hh < h; ++hh) q[hh * tq * d] = std::numeric_limits<float>::quiet_NaN();
                        const auto r2 = nnprune::think(tensor_view<const float, 3>(q.data(), h, tq, d),
                                                       tensor_view<const float, 3>(k.data(), h, t, d), o);
                        CHECK(r2.channels == r.channels);
                    }
                }
}

TEST_CASE("think: dtypes, strides, batches, gather and scatter", "[tokens][think]") {
    using nnprune::bfloat16;
    using nnprune::float16;
    using nnprune::tensor_view;
    const std::size_t b = 3, h = 2, t = 30, d = 24;
    const nnprune::think_options o{0.4, 8, 5};
    const auto q = think_test::random(b * h * t * d, 21), k = think_test::random(b * h * t * d, 22);
    std::vector<bfloat16> qb(q.size()), kb(k.size());
    std::vector<float16> qh(q.size()), kh(k.size());
    std::vector<double> qd(q.size()), kd(k.size());
    std::vector<float> qbf(q.size()), kbf(k.size()), qhf(q.size()), khf(k.size());
    for (std::size_t i = 0; i < q.size(); ++i) {
        qb[i] = bfloat16(q[i]), kb[i] = bfloat16(k[i]), qh[i] = float16(q[i]), kh[i] = float16(k[i]);
        qbf[i] = nnprune::to_float(qb[i]), kbf[i] = nnprune::to_float(kb[i]);
        qhf[i] = nnprune::to_float(qh[i]), khf[i] = nnprune::to_float(kh[i]);
        qd[i] = q[i], kd[i] = k[i];
    }
    auto f32 = [&](const std::vector<float>& qq, const std::vector<float>& kk) {
        return nnprune::think_batch(tensor_view<const float, 4>(qq.data(), b, h, t, d),
                                    tensor_view<const float, 4>(kk.data(), b, h, t, d), o);
    };
    const auto ref = f32(q, k), ref_b = f32(qbf, kbf), ref_h = f32(qhf, khf);
    std::vector<nnprune::think_workspace> ws;
    std::vector<nnprune::think_result> rb, rh, rd, rf;
    for (unsigned threads = 1; threads <= 4; ++threads) {
        nnprune::think_batch(tensor_view<const bfloat16, 4>(qb.data(), b, h, t, d),
                             tensor_view<const bfloat16, 4>(kb.data(), b, h, t, d), o, ws, rb, threads);
        nnprune::think_batch(tensor_view<const float16, 4>(qh.data(), b, h, t, d),
                             tensor_view<const float16, 4>(kh.data(), b, h, t, d), o, ws, rh, threads);
        nnprune::think_batch(tensor_view<const double, 4>(qd.data(), b, h, t, d),
                             tensor_view<const double, 4>(kd.data(), b, h, t, d), o, ws, rd, threads);
        nnprune::think_batch(tensor_view<const float, 4>(q.data(), b, h, t, d),
                             tensor_view<const float, 4>(k.data(), b, h, t, d), o, ws, rf, threads);
        for (std::size_t i = 0; i < b; ++i) {
            CHECK(rb[i].channels == ref_b[i].channels);
            CHECK(rh[i].channels == ref_h[i].channels);
            CHECK(rd[i].channels == ref[i].channels);
            CHECK(rf[i].mask == ref[i].mask);
            const auto one = nnprune::think(tensor_view<const float, 3>(q.data() + i * h * t * d, h, t, d),
                                            tensor_view<const float, 3>(k.data() + i * h * t * d, h, t, d), o);
            CHECK(one.channels == rf[i].channels);
        }
    }
    // strided [B, H, D, T] storage
    std::vector<float> qt(q.size()), kt(k.size());
    for (std::size_t x = 0; x < b * h; ++x)
        for (std::size_t j = 0; j < t; ++j)
            for (std::size_t c = 0; c < d; ++c)
                qt[(x * d + c) * t + j] = q[(x * t + j) * d + c], kt[(x * d + c) * t + j] = k[(x * t + j) * d + c];
    using E = tensor_view<const float, 4>::extents_type;
    using S = tensor_view<const float, 4>::strides_type;
    const E e{b, h, t, d};
    const S s{std::ptrdiff_t(h * t * d), std::ptrdiff_t(t * d), 1, std::ptrdiff_t(t)};
    const auto rs = nnprune::think_batch(tensor_view<const float, 4>(qt.data(), e, s),
                                         tensor_view<const float, 4>(kt.data(), e, s), o, 2);
    for (std::size_t i = 0; i < b; ++i) CHECK(rs[i].channels == ref[i].channels);
    // gather / scatter of item 0 (bf16 keys: exact copies)
    const auto& r0 = rb[0];
    const std::size_t n = t - o.recent_size;
    std::vector<bfloat16> pruned(h * n * r0.kept), back(h * n * d, bfloat16(7.0f));
    const tensor_view<const bfloat16, 3> k0(kb.data(), h, t, d);
    nnprune::think_gather_keys(k0, r0, o.recent_size, tensor_view<bfloat16, 3>(pruned.data(), h, n, r0.kept));
    nnprune::think_scatter_keys(tensor_view<const bfloat16, 3>(pruned.data(), h, n, r0.kept), r0,
                                tensor_view<bfloat16, 3>(back.data(), h, n, d));
    for (std::size_t hh = 0; hh < h; ++hh)
        for (std::size_t j = 0; j < n; ++j) {
            for (std::size_t i = 0; i < r0.kept; ++i)
                CHECK(pruned[(hh * n + j) * r0.kept + i].bits == kb[(hh * t + j) * d + r0.channels_of(hh)[i]].bits);
            for (std::size_t c = 0; c < d; ++c)
                CHECK(back[(hh * n + j) * d + c].bits ==
                      (r0.mask_of(hh)[c] ? kb[(hh * t + j) * d + c].bits : std::uint16_t{0}));
        }
    // T <= recent: nothing to gather
    std::vector<bfloat16> none;
    CHECK_NOTHROW(nnprune::think_gather_keys(k0, r0, t + 3, tensor_view<bfloat16, 3>(none.data(), h, 0, r0.kept)));
    REQUIRE_THROWS_WITH(
        nnprune::think_gather_keys(k0, r0, o.recent_size, tensor_view<bfloat16, 3>(pruned.data(), h, n - 1, r0.kept)),
        Catch::Contains("think_gather_keys: keys 2x30x24, out 2x24x15"));
    REQUIRE_THROWS_WITH(nnprune::think_scatter_keys(tensor_view<const bfloat16, 3>(pruned.data(), h, n, r0.kept), r0,
                                                    tensor_view<bfloat16, 3>(back.data(), h, n, d - 1)),
                        Catch::Contains("think_scatter_keys: pruned 2x25x15, out 2x25x23"));
}

TEST_CASE("think: errors, and a throwing call leaves the result unchanged", "[tokens][think]") {
    using nnprune::tensor_view;
    const std::size_t h = 2, t = 6, d = 8;
    auto q = think_test::random(h * t * d, 5), k = think_test::random(h * t * d, 6);
    const tensor_view<const float, 3> qv(q.data(), h, t, d), kv(k.data(), h, t, d);
    nnprune::think_workspace ws;
    nnprune::think_result r;
    nnprune::think(qv, kv, {}, ws, r);
    const auto before = r;
    auto unchanged = [&] {
        CHECK(r.channels == before.channels);
        CHECK(r.mask == before.mask);
        CHECK(r.kept == before.kept);
    };
    REQUIRE_THROWS_WITH(nnprune::think(qv, kv, {.ratio = 1.5}, ws, r),
                        Catch::Contains("think: ratio must be in [0, 1], got 1.5"));
    REQUIRE_THROWS_WITH(nnprune::think(qv, kv, {.ratio = 1.0}, ws, r),
                        Catch::Contains("think: ratio 1 prunes all 8 channels"));
    REQUIRE_THROWS_WITH(nnprune::think(qv, kv, {.query_window = 0}, ws, r),
                        Catch::Contains("think: query_window must be positive"));
    REQUIRE_THROWS_WITH(nnprune::think(tensor_view<const float, 3>(q.data(), h, t, d - 1), kv, {}, ws, r),
                        Catch::Contains("think: queries are 2x6x7, keys 2x6x8"));
    REQUIRE_THROWS_WITH(nnprune::think(qv, tensor_view<const float, 3>(k.data(), h, 0, d), {}, ws, r),
                        Catch::Contains("think: keys are 2x0x8"));
    unchanged();
    auto k2 = k;
    k2[(1 * t + 4) * d + 6] = -std::numeric_limits<float>::infinity();
    REQUIRE_THROWS_WITH(nnprune::think(qv, tensor_view<const float, 3>(k2.data(), h, t, d), {}, ws, r),
                        Catch::Contains("think: non-finite key -inf at head 1, token 4, channel 6"));
    unchanged();
    auto q2 = q;
    q2[(0 * t + 5) * d + 3] = std::numeric_limits<float>::quiet_NaN();
    REQUIRE_THROWS_WITH(nnprune::think(tensor_view<const float, 3>(q2.data(), h, t, d), kv, {}, ws, r),
                        Catch::Contains("think: non-finite query nan at head 0, token 5, channel 3"));
    unchanged();
    std::vector<float> kb(2 * h * t * d), qb(2 * h * t * d);
    std::copy(k.begin(), k.end(), kb.begin());
    std::copy(k2.begin(), k2.end(), kb.begin() + std::ptrdiff_t(h * t * d));
    std::copy(q.begin(), q.end(), qb.begin());
    std::copy(q.begin(), q.end(), qb.begin() + std::ptrdiff_t(h * t * d));
    std::vector<nnprune::think_workspace> wss;
    std::vector<nnprune::think_result> out(2, before);
    for (unsigned threads = 1; threads <= 2; ++threads) {
        REQUIRE_THROWS_WITH(
            nnprune::think_batch(tensor_view<const float, 4>(qb.data(), 2, h, t, d),
                                 tensor_view<const float, 4>(kb.data(), 2, h, t, d), {}, wss, out, threads),
            Catch::Contains("think_batch: non-finite key -inf at head 1"));
        CHECK(out[0].channels == before.channels);
        CHECK(out[1].mask == before.mask);
    }
    REQUIRE_THROWS_WITH(nnprune::think_batch(tensor_view<const float, 4>(qb.data(), 1, h, t, d),
                                             tensor_view<const float, 4>(kb.data(), 2, h, t, d)),
                        Catch::Contains("think_batch: batch of 1 query and 2 key items"));
}
