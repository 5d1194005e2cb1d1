#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <numeric>
#include <random>
#include <vector>

#include <catch2/catch.hpp>

#include <nnprune/tokens/h2o.hpp>

namespace h2o_test {

using nnprune::tensor_view;

/// The spec's state machine, slow and obvious, in double: per KV group the score over the cache.
struct reference {
    std::size_t hh, recent, heads, groups;
    std::vector<std::vector<double>> s;
    std::vector<std::vector<std::size_t>> kept;
    bool evicted = false;

    void step(const std::vector<float>& attn, std::size_t q, std::size_t kv) {
        const std::size_t rep = heads / groups;
        const std::size_t old = s.empty() ? 0 : s[0].size();
        s.resize(groups);
        kept.assign(groups, {});
        for (std::size_t g = 0; g < groups; ++g) {
            std::vector<double> a(kv, 0.0);
            for (std::size_t h = g * rep; h < (g + 1) * rep; ++h)
                for (std::size_t i = 0; i < q; ++i)
                    for (std::size_t j = 0; j < kv; ++j) a[j] += attn[(h * q + i) * kv + j];
            for (std::size_t j = 0; j < old; ++j) a[j] += s[g][j];
            std::vector<std::size_t> keep(kv);
            std::iota(keep.begin(), keep.end(), std::size_t{0});
            evicted = kv > hh + recent;
            if (evicted) {
                std::vector<std::size_t> idx(kv - recent);
                std::iota(idx.begin(), idx.end(), std::size_t{0});
                std::stable_sort(idx.begin(), idx.end(), [&](std::size_t x, std::size_t y) { return a[x] > a[y]; });
                idx.resize(hh);
                std::sort(idx.begin(), idx.end());
                for (std::size_t j = kv - recent; j < kv; ++j) idx.push_back(j);
                keep = idx;
            }
            s[g].clear();
            for (auto j : keep) s[g].push_back(a[j]);
            kept[g] = keep;
        }
    }
};

/// Random causal-ish probabilities [heads, q, kv]; dyadic = multiples of 1/16 (exact sums, many ties).
inline std::vector<float> attention(std::size_t heads, std::size_t q, std::size_t kv, std::mt19937& rng, bool dyadic) {
    std::uniform_real_distribution<float> u(0.0f, 1.0f);
    std::uniform_int_distribution<int> small(0, 3);
    std::vector<float> a(heads * q * kv);
    for (std::size_t r = 0; r < heads * q; ++r) {
        float sum = 0;
        for (std::size_t j = 0; j < kv; ++j) sum += (a[r * kv + j] = dyadic ? float(small(rng)) : u(rng));
        for (std::size_t j = 0; j < kv; ++j) a[r * kv + j] = dyadic ? a[r * kv + j] / 16.0f : a[r * kv + j] / sum;
    }
    return a;
}

inline void compare(const nnprune::h2o_cache& c, const reference& r, bool exact) {
    REQUIRE(c.rows() == r.groups);
    CHECK(c.evicted() == r.evicted);
    for (std::size_t g = 0; g < r.groups; ++g) {
        const auto k = c.kept(g);
        const auto s = c.scores(g);
        CHECK(std::vector<std::size_t>(k.begin(), k.end()) == r.kept[g]);
        REQUIRE(s.size() == r.s[g].size());
        for (std::size_t j = 0; j < s.size(); ++j) {
            if (exact)
                CHECK(double(s[j]) == r.s[g][j]);
            else
                CHECK(double(s[j]) == Approx(r.s[g][j]).epsilon(1e-5));
        }
    }
}

}  // namespace h2o_test

TEST_CASE("h2o: hand-worked prefill and decode evictions", "[tokens][h2o]") {
    using nnprune::tensor_view;
    nnprune::h2o_cache c({.hh_size = 1, .recent_size = 1, .heads = 1});
    // prefill of 3 tokens: column sums [1.5, 0.75, 0.75]; budget 2 < 3: heavy hitter 0 + recent 2
    const std::vector<float> p = {1, 0, 0, 0.5f, 0.5f, 0, 0, 0.25f, 0.75f};
    c.step(tensor_view<const float, 3>(p.data(), 1, 3, 3));
    CHECK(c.evicted());
    CHECK(c.size() == 2);
    CHECK(std::vector<std::size_t>(c.kept(0).begin(), c.kept(0).end()) == std::vector<std::size_t>{0, 2});
    CHECK(std::vector<float>(c.scores(0).begin(), c.scores(0).end()) == std::vector<float>{1.5f, 0.75f});
    // decode: [0.25, 1.0, 0.5] -> s = [1.75, 1.75, 0.5]: tie between 0 and 1, the lower (0) stays
    const std::vector<float> d = {0.25f, 1.0f, 0.5f};
    c.step(tensor_view<const float, 3>(d.data(), 1, 1, 3));
    CHECK(std::vector<std::size_t>(c.kept(0).begin(), c.kept(0).end()) == std::vector<std::size_t>{0, 2});
    CHECK(std::vector<float>(c.scores(0).begin(), c.scores(0).end()) == std::vector<float>{1.75f, 0.5f});
    c.reset();
    CHECK(c.size() == 0);
    // no eviction while the cache fits: kept() is every position
    nnprune::h2o_cache big({.hh_size = 4, .recent_size = 4, .heads = 1});
    big.step(tensor_view<const float, 3>(p.data(), 1, 3, 3));
    CHECK(!big.evicted());
    CHECK(std::vector<std::size_t>(big.kept(0).begin(), big.kept(0).end()) == std::vector<std::size_t>{0, 1, 2});
    CHECK(std::vector<float>(big.scores(0).begin(), big.scores(0).end()) == std::vector<float>{1.5f, 0.75f, 0.75f});
}

TEST_CASE("h2o: streams equal the slow reference (MHA and GQA, random and tied)", "[tokens][h2o]") {
    using nnprune::tensor_view;
    std::mt19937 rng(7);
    for (bool dyadic : {false, true})
        for (std::size_t kvh : {0u, 2u, 1u})
            for (std::size_t hh : {0u, 3u, 5u}) {
                const std::size_t heads = 4, recent = 2;
                nnprune::h2o_cache c({.hh_size = hh, .recent_size = recent, .heads = heads, .kv_heads = kvh});
                h2o_test::reference r{hh, recent, heads, kvh == 0 ? heads : kvh, {}, {}, false};
                std::size_t size = 0;
                const std::size_t steps[] = {9, 1, 1, 2, 1, 1, 1, 3, 1};
                for (std::size_t q : steps) {
                    const std::size_t kv = size + q;
                    const auto a = h2o_test::attention(heads, q, kv, rng, dyadic);
                    c.step(tensor_view<const float, 3>(a.data(), heads, q, kv));
                    r.step(a, q, kv);
                    h2o_test::compare(c, r, dyadic);
                    size = c.size();
                    CHECK(size == r.s[0].size());
                }
            }
}

TEST_CASE("h2o: dtypes, strides and batches", "[tokens][h2o]") {
    using nnprune::bfloat16;
    using nnprune::tensor_view;
    const std::size_t b = 3, heads = 2, q0 = 12;
    const nnprune::h2o_options o{.hh_size = 4, .recent_size = 3, .heads = heads};
    std::mt19937 rng(3);
    std::vector<nnprune::h2o_cache> twin_bf(b, nnprune::h2o_cache(o)), twin_d(b, nnprune::h2o_cache(o)),
        bf(b, nnprune::h2o_cache(o)), f64(b, nnprune::h2o_cache(o)), strided(b, nnprune::h2o_cache(o)),
        loop(b, nnprune::h2o_cache(o));
    std::vector<std::vector<nnprune::h2o_cache>> threaded(4, std::vector<nnprune::h2o_cache>(b, nnprune::h2o_cache(o)));
    std::size_t size = 0;
    for (std::size_t q : {q0, std::size_t{1}, std::size_t{1}, std::size_t{2}, std::size_t{1}}) {
        const std::size_t kv = size + q, n = b * heads * q * kv;
        std::vector<float> a;
        for (std::size_t i = 0; i < b; ++i) {
            const auto ai = h2o_test::attention(heads, q, kv, rng, false);
            a.insert(a.end(), ai.begin(), ai.end());
        }
        std::vector<bfloat16> ab(n);
        std::vector<float> abf(n), ad32(n), at(n);
        std::vector<double> ad(n);
        for (std::size_t i = 0; i < n; ++i) {
            ab[i] = bfloat16(a[i]);
            abf[i] = nnprune::to_float(ab[i]);
            ad[i] = double(a[i]) * (1.0 + 1e-12);
            ad32[i] = static_cast<float>(ad[i]);
        }
        for (std::size_t x = 0; x < b * heads; ++x)  // storage [B, H, kv, q]
            for (std::size_t i = 0; i < q; ++i)
                for (std::size_t j = 0; j < kv; ++j) at[(x * kv + j) * q + i] = a[(x * q + i) * kv + j];
        nnprune::h2o_step_batch(std::span(bf), tensor_view<const bfloat16, 4>(ab.data(), b, heads, q, kv));
        nnprune::h2o_step_batch(std::span(f64), tensor_view<const double, 4>(ad.data(), b, heads, q, kv));
        using E = tensor_view<const float, 4>::extents_type;
        using S = tensor_view<const float, 4>::strides_type;
        nnprune::h2o_step_batch(std::span(strided),
                                tensor_view<const float, 4>(
                                    at.data(), E{b, heads, q, kv},
                                    S{std::ptrdiff_t(heads * q * kv), std::ptrdiff_t(q * kv), 1, std::ptrdiff_t(q)}));
        for (unsigned t = 1; t <= 4; ++t)
            nnprune::h2o_step_batch(std::span(threaded[t - 1]), tensor_view<const float, 4>(a.data(), b, heads, q, kv),
                                    t);
        for (std::size_t i = 0; i < b; ++i)
            loop[i].step(tensor_view<const float, 3>(a.data() + i * heads * q * kv, heads, q, kv));
        for (std::size_t i = 0; i < b; ++i) {
            auto same = [&](const nnprune::h2o_cache& x, const nnprune::h2o_cache& y) {
                REQUIRE(x.size() == y.size());
                for (std::size_t g = 0; g < x.rows(); ++g) {
                    CHECK(std::equal(x.kept(g).begin(), x.kept(g).end(), y.kept(g).begin()));
                    CHECK(std::equal(x.scores(g).begin(), x.scores(g).end(), y.scores(g).begin()));
                }
            };
            for (unsigned t = 0; t < 4; ++t) same(threaded[t][i], loop[i]);
            same(strided[i], loop[i]);
        }
        size = loop[0].size();
        // bf16 and f64 streams against f32 streams on the same rounded values
        nnprune::h2o_step_batch(std::span(twin_bf), tensor_view<const float, 4>(abf.data(), b, heads, q, kv));
        nnprune::h2o_step_batch(std::span(twin_d), tensor_view<const float, 4>(ad32.data(), b, heads, q, kv));
        for (std::size_t i = 0; i < b; ++i) {
            CHECK(std::equal(bf[i].scores(0).begin(), bf[i].scores(0).end(), twin_bf[i].scores(0).begin()));
            CHECK(std::equal(bf[i].kept(1).begin(), bf[i].kept(1).end(), twin_bf[i].kept(1).begin()));
            CHECK(std::equal(f64[i].scores(1).begin(), f64[i].scores(1).end(), twin_d[i].scores(1).begin()));
        }
    }
    CHECK(size == 7);
}

TEST_CASE("h2o: errors leave the state unchanged", "[tokens][h2o]") {
    using nnprune::tensor_view;
    REQUIRE_THROWS_WITH(nnprune::h2o_cache({.heads = 0}), Catch::Contains("h2o_cache: heads must be positive"));
    REQUIRE_THROWS_WITH(nnprune::h2o_cache({.heads = 6, .kv_heads = 4}),
                        Catch::Contains("h2o_cache: 6 heads are not a multiple of kv_heads = 4"));
    REQUIRE_THROWS_WITH(nnprune::h2o_cache({.hh_size = 0, .recent_size = 0, .heads = 1}),
                        Catch::Contains("h2o_cache: hh_size + recent_size must be positive"));
    std::mt19937 rng(9);
    nnprune::h2o_cache c({.hh_size = 2, .recent_size = 2, .heads = 2});
    const auto a = h2o_test::attention(2, 6, 6, rng, false);
    c.step(tensor_view<const float, 3>(a.data(), 2, 6, 6));
    const auto size = c.size();
    const std::vector<float> s0(c.scores(1).begin(), c.scores(1).end());
    const std::vector<std::size_t> k0(c.kept(1).begin(), c.kept(1).end());
    auto unchanged = [&] {
        CHECK(c.size() == size);
        CHECK(std::vector<float>(c.scores(1).begin(), c.scores(1).end()) == s0);
        CHECK(std::vector<std::size_t>(c.kept(1).begin(), c.kept(1).end()) == k0);
        CHECK(c.evicted());
    };
    auto d = h2o_test::attention(2, 1, 5, rng, false);
    REQUIRE_THROWS_WITH(c.step(tensor_view<const float, 3>(d.data(), 1, 1, 5)),
                        Catch::Contains("h2o_cache::step: attention is 1x1x5, expected 2 heads x q x (4 cached + q)"));
    REQUIRE_THROWS_WITH(c.step(tensor_view<const float, 3>(d.data(), 2, 1, 4)),
                        Catch::Contains("h2o_cache::step: attention is 2x1x4"));
    REQUIRE_THROWS_WITH(c.step(tensor_view<const float, 3>(d.data(), 2, 0, 4)),
                        Catch::Contains("h2o_cache::step: attention is 2x0x4"));
    unchanged();
    d[1 * 5 + 3] = std::numeric_limits<float>::quiet_NaN();
    REQUIRE_THROWS_WITH(c.step(tensor_view<const float, 3>(d.data(), 2, 1, 5)),
                        Catch::Contains("h2o_cache::step: non-finite attention nan at head 1, query 0, key 3"));
    unchanged();
    d[1 * 5 + 3] = std::numeric_limits<float>::infinity();
    REQUIRE_THROWS_WITH(c.step(tensor_view<const float, 3>(d.data(), 2, 1, 5)),
                        Catch::Contains("h2o_cache::step: non-finite attention inf at head 1, query 0, key 3"));
    unchanged();
    const std::vector<double> huge = {0.5, 1e300, 0.1, 0.1, 0.1, 0.2, 0.2, 0.2, 0.2, 0.2};
    REQUIRE_THROWS_WITH(c.step(tensor_view<const double, 3>(huge.data(), 2, 1, 5)),
                        Catch::Contains("h2o_cache::step: attention overflows float"));
    unchanged();
    // batch: item 1 bad -> no cache changes (item 0 would have stepped)
    std::vector<nnprune::h2o_cache> cs(2, c);
    std::vector<float> ab(2 * 2 * 5);
    const auto good = h2o_test::attention(2, 1, 5, rng, false);
    std::copy(good.begin(), good.end(), ab.begin());
    std::copy(d.begin(), d.end(), ab.begin() + 10);
    for (unsigned t = 1; t <= 2; ++t) {
        REQUIRE_THROWS_WITH(
            nnprune::h2o_step_batch(std::span(cs), tensor_view<const float, 4>(ab.data(), 2, 2, 1, 5), t),
            Catch::Contains("h2o_step_batch: non-finite attention inf at head 1"));
        for (auto& x : cs) {
            CHECK(x.size() == size);
            CHECK(std::vector<float>(x.scores(1).begin(), x.scores(1).end()) == s0);
        }
    }
    REQUIRE_THROWS_WITH(nnprune::h2o_step_batch(std::span(cs), tensor_view<const float, 4>(ab.data(), 1, 2, 1, 5)),
                        Catch::Contains("h2o_step_batch: 1 attention items for 2 caches"));
    // and the cache still works afterwards
    c.step(tensor_view<const float, 3>(good.data(), 2, 1, 5));
    CHECK(c.size() == 4);
}
