#include <cstddef>
#include <cstdint>
#include <random>
#include <vector>

#include <catch2/catch.hpp>

#include <nnprune/select/global.hpp>
#include <nnprune/select/global_stream.hpp>

using namespace nnprune;

namespace {

struct streamed {
    std::vector<mask> masks;
    double kth = 0;
    std::size_t passes = 0;
};

/// Runs global_stream over the tensors as a caller would: every tensor fed once per pass.
streamed run_stream(const std::vector<std::vector<float>>& sc, const std::vector<shape>& shapes, const amount& a,
                    const global_options& o, const std::vector<mask>& prev, std::size_t max_cand) {
    std::vector<std::size_t> sizes, comp;
    streamed r;
    for (std::size_t t = 0; t < sc.size(); ++t) {
        sizes.push_back(sc[t].size());
        comp.push_back(prev.empty() ? sc[t].size() : prev[t].count());
        r.masks.emplace_back(shapes[t], true);
        if (!prev.empty()) r.masks.back().view().and_with(prev[t].view());
    }
    global_stream gs(sizes, comp, a, o, max_cand);
    while (!gs.done()) {
        for (std::size_t t = 0; t < sc.size(); ++t)
            gs.feed(t, sc[t].data(), r.masks[t].view(), prev.empty() ? const_mask_view{} : prev[t].view());
        gs.end_pass();
    }
    r.kth = gs.kth();
    r.passes = gs.passes();
    return r;
}

/// select_global over the same tensors (the reference).
streamed run_global(const std::vector<std::vector<float>>& sc, const std::vector<shape>& shapes, const amount& a,
                    global_options o, const std::vector<mask>& prev) {
    std::vector<tensor_ref> refs;
    std::vector<mask_view> views;
    std::vector<const_mask_view> pv;
    streamed r;
    for (std::size_t t = 0; t < sc.size(); ++t) r.masks.emplace_back(shapes[t], true);
    for (std::size_t t = 0; t < sc.size(); ++t) {
        refs.emplace_back(tensor_view<const float, 2>(sc[t].data(), shapes[t].rows(), shapes[t].cols()));
        views.push_back(r.masks[t].view());
        if (!prev.empty()) pv.push_back(prev[t].view());
    }
    o.previous_masks = pv;
    const auto sel = select_global(refs, a, views, o);
    r.kth = sel.kth[0];
    return r;
}

void require_same(const streamed& a, const streamed& b) {
    REQUIRE(a.masks.size() == b.masks.size());
    for (std::size_t t = 0; t < a.masks.size(); ++t) REQUIRE(a.masks[t] == b.masks[t]);
    if (std::isnan(b.kth))
        REQUIRE(std::isnan(a.kth));
    else
        REQUIRE(a.kth == b.kth);
}

struct model {
    std::vector<std::vector<float>> scores;
    std::vector<shape> shapes;
};

/// Tensors of varied sizes whose score scales differ per tensor (as layers do); `levels` > 0
/// draws from that many distinct values (heavy ties).
model make_model(std::mt19937& g, std::size_t tensors, std::size_t max_rows, int levels) {
    model m;
    std::uniform_int_distribution<std::size_t> dr(1, max_rows), dc(1, 300);
    std::uniform_real_distribution<float> u(0.0f, 1.0f);
    std::uniform_int_distribution<int> lv(0, std::max(levels - 1, 0));
    for (std::size_t t = 0; t < tensors; ++t) {
        const std::size_t r = dr(g), c = dc(g);
        const float scale = static_cast<float>(t % 3 + 1);
        m.shapes.push_back(shape{r, c});
        std::vector<float> s(r * c);
        for (auto& x : s) x = levels > 0 ? static_cast<float>(lv(g)) : scale * u(g) * u(g);
        if (t % 4 == 1 && levels == 0)
            for (std::size_t i = 0; i < s.size(); i += 7) s[i] = -s[i];  // signs and -0 / +0
        if (!s.empty()) s[0] = -0.0f;
        m.scores.push_back(std::move(s));
    }
    return m;
}

}  // namespace

TEST_CASE("global_stream: the masks and kth of select_global, any thread count, with overflow",
          "[select][global_stream]") {
    std::mt19937 g(11);
    for (int levels : {0, 3, 1}) {
        for (int rep = 0; rep < 6; ++rep) {
            const model m = make_model(g, 2 + static_cast<std::size_t>(rep), 40, levels);
            std::vector<mask> prev;
            if (rep % 3 == 2) {
                std::bernoulli_distribution keep(0.7);
                for (const auto& sh : m.shapes) {
                    mask p(sh, true);
                    for (std::size_t i = 0; i < p.size(); ++i) p.set(i, keep(g));
                    prev.push_back(std::move(p));
                }
            }
            for (double s : {0.0, 0.3, 0.5, 0.97, 1.0}) {
                global_options o;
                o.min_keep = rep % 2 ? 5 : 0;
                o.min_keep_fraction = rep % 4 == 3 ? 0.2 : 0.0;
                streamed want;
                try {
                    want = run_global(m.scores, m.shapes, s, o, prev);
                } catch (const precondition_error&) {  // the minimums leave too few: the same error
                    REQUIRE_THROWS_WITH(run_stream(m.scores, m.shapes, s, o, prev, 0),
                                        Catch::Contains("minimum kept per tensor allows only"));
                    continue;
                }
                for (unsigned th : {1u, 2u, 3u})
                    for (std::size_t cap : {std::size_t{0}, std::size_t{64}, std::size_t{7}}) {
                        CAPTURE(levels, rep, s, th, cap);
                        o.threads = th;
                        const auto got = run_stream(m.scores, m.shapes, s, o, prev, cap);
                        require_same(got, want);
                        if (cap == 0) REQUIRE(got.passes <= 1);  // everything fits: one pass
                    }
            }
        }
    }
}

TEST_CASE("global_stream: large tensors take the sampled bracket; exact counts; errors", "[select][global_stream]") {
    std::mt19937 g(5);
    model m;
    std::normal_distribution<float> nd(0.0f, 1.0f);
    for (std::size_t t = 0; t < 4; ++t) {
        const std::size_t rows = 256 + 64 * t, cols = 512;  // 2 to 3 parts of 2^16 for 2 or 3 threads
        m.shapes.push_back(shape{rows, cols});
        std::vector<float> s(rows * cols);
        for (auto& x : s) x = std::fabs(nd(g)) * static_cast<float>(1 + t);  // scales differ: the first tensor misleads
        m.scores.push_back(std::move(s));
    }
    for (unsigned th : {1u, 2u, 3u}) {
        global_options o;
        o.threads = th;
        o.min_keep = 100;
        const auto want = run_global(m.scores, m.shapes, 0.6, o, {});
        const auto got = run_stream(m.scores, m.shapes, 0.6, o, {}, 4096);
        require_same(got, want);
        REQUIRE(got.passes >= 1);
        const auto want_k = run_global(m.scores, m.shapes, exactly{1234}, o, {});
        require_same(run_stream(m.scores, m.shapes, exactly{1234}, o, {}, 1024), want_k);
    }
    // a NaN score under reject names the tensor; ranked under as_lowest
    m.scores[2][17] = std::numeric_limits<float>::quiet_NaN();
    global_options o;
    REQUIRE_THROWS_WITH(run_stream(m.scores, m.shapes, 0.5, o, {}, 0), Catch::Contains("NaN score at flat index 17"));
    o.nans = nan_policy::as_lowest;
    require_same(run_stream(m.scores, m.shapes, 0.5, o, {}, 100), run_global(m.scores, m.shapes, 0.5, o, {}));
    o.nans = nan_policy::reject;
    o.min_keep = 1u << 20;
    REQUIRE_THROWS_WITH(run_stream(m.scores, m.shapes, 0.5, o, {}, 0),
                        Catch::Contains("minimum kept per tensor allows only"));
}

TEST_CASE("global_stream: an overflowing bracket is narrowed by its histogram: resolved in the second pass",
          "[select][global_stream]") {
    // same distribution in every tensor: the first tensor's sample brackets the k-th, but the
    // bracket holds far more keys than the 4096 candidates; its histogram then finds the bins
    std::mt19937 g(21);
    std::uniform_real_distribution<float> u(0.0f, 1.0f);
    model m;
    for (std::size_t t = 0; t < 5; ++t) {
        m.shapes.push_back(shape{256, 512});
        std::vector<float> s(256 * 512);
        for (auto& x : s) x = u(g);
        m.scores.push_back(std::move(s));
    }
    for (unsigned th : {1u, 2u}) {
        global_options o;
        o.threads = th;
        for (double sp : {0.5, 0.9}) {
            const auto want = run_global(m.scores, m.shapes, sp, o, {});
            const auto got = run_stream(m.scores, m.shapes, sp, o, {}, 4096);
            require_same(got, want);
            REQUIRE(got.passes == 2);
        }
    }
    // bfloat16-valued scores: the k-th's bin holds one value, its ties overflow the candidates;
    // the second pass hands them out in tensor order (with a binding minimum: the general path)
    for (auto& x : m.scores[4]) x *= 0.9f;  // tensor 4 prunes the most: a minimum binds there
    for (auto& s : m.scores)
        for (auto& x : s) x = static_cast<float>(bfloat16(x));
    for (std::size_t min_keep : {std::size_t{0}, std::size_t{62000}}) {
        global_options o;
        o.min_keep = min_keep;
        for (double sp : {0.5, 0.93}) {
            if (min_keep && sp > 0.6) continue;  // the minimum would allow too few
            CAPTURE(min_keep, sp);
            const auto want = run_global(m.scores, m.shapes, sp, o, {});
            const auto got = run_stream(m.scores, m.shapes, sp, o, {}, 4096);
            require_same(got, want);
            if (min_keep == 0) REQUIRE(got.passes == 2);
        }
    }
}
