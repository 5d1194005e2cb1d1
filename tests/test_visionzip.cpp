#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <random>
#include <tuple>
#include <vector>

#include <catch2/catch.hpp>

#include <nnprune/tokens/visionzip.hpp>

namespace visionzip_test {

/// One random item: hidden [n1, C], attention [H, n1, n1] (rows on the probability simplex, or
/// quantised to multiples of 1/8 when `tied`), metric [n1, c] with `dup` copied rows and `zero`
/// all-zero rows.
struct item {
    std::size_t n1, heads, cdim, mdim;
    std::vector<float> hidden, attn, metric;
};

inline item make(std::size_t n1, std::size_t heads, std::size_t cdim, std::size_t mdim, unsigned seed, bool tied,
                 std::size_t dup = 0, std::size_t zero = 0) {
    std::mt19937 g(seed);
    std::normal_distribution<float> nd;
    std::uniform_real_distribution<float> ud(0.0f, 1.0f);
    item it{n1,
            heads,
            cdim,
            mdim,
            std::vector<float>(n1 * cdim),
            std::vector<float>(heads * n1 * n1),
            std::vector<float>(n1 * mdim)};
    for (auto& v : it.hidden) v = nd(g);
    for (auto& v : it.metric) v = nd(g);
    for (auto& v : it.attn) v = tied ? std::floor(ud(g) * 4.0f) / 8.0f : ud(g) / static_cast<float>(n1);
    std::uniform_int_distribution<std::size_t> pick(0, n1 - 1);
    for (std::size_t k = 0; k < dup; ++k) {
        const std::size_t a = pick(g), b = pick(g);
        for (std::size_t j = 0; j < mdim; ++j) it.metric[b * mdim + j] = it.metric[a * mdim + j];
    }
    for (std::size_t k = 0; k < zero; ++k) {
        const std::size_t a = pick(g);
        for (std::size_t j = 0; j < mdim; ++j) it.metric[a * mdim + j] = 0.0f;
    }
    return it;
}

struct ref_result {
    std::vector<std::size_t> dominant, ranked, remaining, targets, assignment;
    std::vector<float> tokens;
};

/// The spec's algorithm written plainly (§4 steps 1-7): cosine similarities in double.
inline ref_result reference(const item& it, std::size_t dom, std::size_t ctx, std::size_t cls) {
    const std::size_t n1 = it.n1, cd = it.cdim, md = it.mdim;
    std::vector<float> score(n1, 0.0f);
    for (std::size_t h = 0; h < it.heads; ++h)
        for (std::size_t k = 0; k < n1; ++k)
            if (k != cls) score[k] += it.attn[(h * n1 + cls) * n1 + k];
    std::vector<std::size_t> others;
    for (std::size_t k = 0; k < n1; ++k)
        if (k != cls) others.push_back(k);
    std::stable_sort(others.begin(), others.end(), [&](std::size_t a, std::size_t b) { return score[a] > score[b]; });
    ref_result r;
    r.ranked.push_back(cls);
    r.ranked.insert(r.ranked.end(), others.begin(), others.begin() + static_cast<std::ptrdiff_t>(dom - 1));
    r.dominant = r.ranked;
    std::sort(r.dominant.begin(), r.dominant.end());
    for (std::size_t k = 0; k < n1; ++k)
        if (!std::binary_search(r.dominant.begin(), r.dominant.end(), k)) r.remaining.push_back(k);
    const std::size_t n = r.remaining.size(), step = std::max<std::size_t>(1, n / ctx);
    std::vector<std::size_t> tpos;
    for (std::size_t p = 0; p < n; p += step) tpos.push_back(p);
    tpos.resize(ctx);
    for (auto p : tpos) r.targets.push_back(r.remaining[p]);
    auto cosine = [&](std::size_t a, std::size_t b) {
        double ab = 0, aa = 0, bb = 0;
        for (std::size_t j = 0; j < md; ++j) {
            ab += double(it.metric[a * md + j]) * it.metric[b * md + j];
            aa += double(it.metric[a * md + j]) * it.metric[a * md + j];
            bb += double(it.metric[b * md + j]) * it.metric[b * md + j];
        }
        return aa > 0 && bb > 0 ? ab / std::sqrt(aa * bb) : 0.0;
    };
    std::vector<std::vector<std::size_t>> members(ctx);
    for (std::size_t p = 0; p < n; ++p) {
        const auto it_t = std::find(tpos.begin(), tpos.end(), p);
        if (it_t != tpos.end()) {
            r.assignment.push_back(static_cast<std::size_t>(it_t - tpos.begin()));
            continue;
        }
        std::size_t arg = 0;
        double best = -2;
        for (std::size_t t = 0; t < ctx; ++t) {
            const double s = cosine(r.remaining[p], r.targets[t]);
            if (s > best) best = s, arg = t;
        }
        r.assignment.push_back(arg);
        members[arg].push_back(r.remaining[p]);
    }
    for (auto d : r.dominant)
        r.tokens.insert(r.tokens.end(), it.hidden.begin() + static_cast<std::ptrdiff_t>(d * cd),
                        it.hidden.begin() + static_cast<std::ptrdiff_t>(d * cd + cd));
    for (std::size_t t = 0; t < ctx; ++t)
        for (std::size_t j = 0; j < cd; ++j) {
            float s = 0;  // f32, members in ascending order
            for (auto q : members[t]) s += it.hidden[q * cd + j];
            const float cnt = static_cast<float>(std::max<std::size_t>(1, members[t].size()));
            r.tokens.push_back(it.hidden[r.targets[t] * cd + j] + s / cnt);
        }
    return r;
}

inline void same(const nnprune::visionzip_result& a, const ref_result& b) {
    CHECK(a.dominant == b.dominant);
    CHECK(a.dominant_ranked == b.ranked);
    CHECK(a.remaining == b.remaining);
    CHECK(a.targets == b.targets);
    CHECK(a.assignment == b.assignment);
    CHECK(a.tokens == b.tokens);
    CHECK(a.rows == b.dominant.size() + b.targets.size());
}

template <class T>
nnprune::tensor_view<const T, 2> hidden_view(const std::vector<T>& v, const item& it) {
    return nnprune::tensor_view<const T, 2>(v.data(), it.n1, it.cdim);
}

inline auto views(const item& it) {
    return std::make_tuple(nnprune::matrix_view<const float>(it.hidden.data(), it.n1, it.cdim),
                           nnprune::tensor_view<const float, 3>(it.attn.data(), it.heads, it.n1, it.n1),
                           nnprune::matrix_view<const float>(it.metric.data(), it.n1, it.mdim));
}

}  // namespace visionzip_test

TEST_CASE("visionzip: hand-worked case", "[tokens][visionzip]") {
    // 7 tokens (CLS + 6), 2 heads, C = 2, metric c = 2. CLS row attention (head sums):
    // token: 1    2    3    4    5    6
    //        .1   .4   .2   .4   .05  .3   -> top 2 of the others: 2, 4 (equal: lower first)
    const std::size_t n1 = 7;
    std::vector<float> attn(2 * n1 * n1, 0.0f);
    const float row0[7] = {0.5f, 0.05f, 0.25f, 0.1f, 0.25f, 0.0f, 0.125f};
    const float row1[7] = {0.0f, 0.05f, 0.15f, 0.1f, 0.15f, 0.05f, 0.175f};
    for (std::size_t k = 0; k < n1; ++k) attn[k] = row0[k], attn[n1 * n1 + k] = row1[k];
    std::vector<float> hidden(n1 * 2);
    for (std::size_t i = 0; i < n1; ++i)
        hidden[2 * i] = static_cast<float>(i), hidden[2 * i + 1] = 10.0f * static_cast<float>(i);
    // remaining 1, 3, 5, 6; contextual 2 -> step 2 -> targets 1 and 5
    // metric: 3 is closer to 5, 6 closer to 1
    const std::vector<float> metric = {1, 1, 1, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0.9f, 0.1f};
    const nnprune::matrix_view<const float> hv(hidden.data(), n1, 2), mv(metric.data(), n1, 2);
    const nnprune::tensor_view<const float, 3> av(attn.data(), 2, n1, n1);
    const auto r = nnprune::visionzip(hv, av, mv, {.dominant = 3, .contextual = 2});
    CHECK(r.dominant == std::vector<std::size_t>{0, 2, 4});
    CHECK(r.dominant_ranked == std::vector<std::size_t>{0, 2, 4});
    CHECK(r.remaining == std::vector<std::size_t>{1, 3, 5, 6});
    CHECK(r.targets == std::vector<std::size_t>{1, 5});
    CHECK(r.assignment == std::vector<std::size_t>{0, 1, 1, 0});
    CHECK(r.members == std::vector<std::size_t>{1, 1});
    CHECK(r.scores[0] == 0.0f);
    CHECK(r.rows == 5);
    CHECK(r.cols == 2);
    // rows: hidden 0, 2, 4; then 1 + 6 = (7, 70); 5 + 3 = (8, 80)
    CHECK(r.tokens == std::vector<float>{0, 0, 2, 20, 4, 40, 7, 70, 8, 80});
    // contextual = N + 1 - dominant: every remaining token is its own target (empty clusters)
    const auto all = nnprune::visionzip(hv, av, mv, {.dominant = 3, .contextual = 4});
    CHECK(all.targets == std::vector<std::size_t>{1, 3, 5, 6});
    CHECK(all.tokens == std::vector<float>{0, 0, 2, 20, 4, 40, 1, 10, 3, 30, 5, 50, 6, 60});
    // CLS at another row: row 6 is the CLS; dominant 1 = the CLS alone
    const auto c6 = nnprune::visionzip(hv, av, mv, {.dominant = 1, .contextual = 1, .cls = 6});
    CHECK(c6.dominant == std::vector<std::size_t>{6});
    CHECK(c6.targets == std::vector<std::size_t>{0});
    CHECK(c6.members == std::vector<std::size_t>{5});
}

TEST_CASE("visionzip: equals the spec's plain implementation", "[tokens][visionzip]") {
    const std::size_t n1 = GENERATE(std::size_t{5}, std::size_t{17}, std::size_t{50});
    const bool tied = GENERATE(false, true);
    const std::size_t heads = tied ? 3 : 2;
    const auto it = visionzip_test::make(n1, heads, 6, 5, 31u * static_cast<unsigned>(n1) + tied, tied,
                                         tied ? n1 / 2 : 0, tied ? 2 : 0);
    const auto [hv, av, mv] = visionzip_test::views(it);
    nnprune::visionzip_result r;
    nnprune::visionzip_workspace ws;
    for (std::size_t cls : {std::size_t{0}, n1 / 2, n1 - 1})
        for (std::size_t dom : {std::size_t{1}, std::size_t{2}, n1 / 3 + 1, n1 - 1})
            for (std::size_t ctx : {std::size_t{1}, std::size_t{3}, n1 - dom}) {
                if (ctx > n1 - dom) continue;
                INFO("n1 " << n1 << " tied " << tied << " cls " << cls << " dominant " << dom << " contextual " << ctx);
                nnprune::visionzip(hv, av, mv, {dom, ctx, cls}, r, ws);
                visionzip_test::same(r, visionzip_test::reference(it, dom, ctx, cls));
            }
}

TEMPLATE_TEST_CASE("visionzip: bf16/f16 inputs equal the f32 call on the same values", "[tokens][visionzip]",
                   nnprune::bfloat16, nnprune::float16) {
    auto it = visionzip_test::make(23, 2, 4, 6, 5u, false, 3);
    std::vector<TestType> h(it.hidden.size()), a(it.attn.size()), m(it.metric.size());
    auto round = [](std::vector<float>& f, std::vector<TestType>& t) {
        for (std::size_t i = 0; i < f.size(); ++i) t[i] = TestType(f[i]), f[i] = nnprune::to_float(t[i]);
    };
    round(it.hidden, h);
    round(it.attn, a);
    round(it.metric, m);
    const auto [hv, av, mv] = visionzip_test::views(it);
    const auto want = nnprune::visionzip(hv, av, mv, {7, 4, 0});
    const auto got = nnprune::visionzip(nnprune::matrix_view<const TestType>(h.data(), 23, 4),
                                        nnprune::tensor_view<const TestType, 3>(a.data(), 2, 23, 23),
                                        nnprune::matrix_view<const TestType>(m.data(), 23, 6), {7, 4, 0});
    CHECK(got.dominant == want.dominant);
    CHECK(got.targets == want.targets);
    CHECK(got.assignment == want.assignment);
    CHECK(got.tokens == want.tokens);
    // mixed: f64 hidden (the same values) with f32 attention and metric
    std::vector<double> hd(it.hidden.begin(), it.hidden.end());
    const auto mixed = nnprune::visionzip(nnprune::matrix_view<const double>(hd.data(), 23, 4), av, mv, {7, 4, 0});
    CHECK(mixed.tokens == want.tokens);
    visionzip_test::same(want, visionzip_test::reference(it, 7, 4, 0));
}

TEST_CASE("visionzip: strided views", "[tokens][visionzip]") {
    const auto it = visionzip_test::make(19, 2, 5, 4, 8u, false, 2);
    const auto [hv, av, mv] = visionzip_test::views(it);
    const auto want = nnprune::visionzip(hv, av, mv, {5, 3, 2});
    // column-major hidden and metric, attention with keys outermost
    std::vector<float> hc(it.hidden.size()), mc(it.metric.size()), ac(it.attn.size());
    const std::size_t n1 = 19;
    for (std::size_t i = 0; i < n1; ++i) {
        for (std::size_t j = 0; j < 5; ++j) hc[j * n1 + i] = it.hidden[i * 5 + j];
        for (std::size_t j = 0; j < 4; ++j) mc[j * n1 + i] = it.metric[i * 4 + j];
    }
    for (std::size_t h = 0; h < 2; ++h)
        for (std::size_t q = 0; q < n1; ++q)
            for (std::size_t k = 0; k < n1; ++k) ac[(k * n1 + q) * 2 + h] = it.attn[(h * n1 + q) * n1 + k];
    const auto got = nnprune::visionzip(nnprune::tensor_view<const float, 2>(hc.data(), {n1, 5}, {1, 19}),
                                        nnprune::tensor_view<const float, 3>(ac.data(), {2, n1, n1}, {1, 2, 2 * 19}),
                                        nnprune::tensor_view<const float, 2>(mc.data(), {n1, 4}, {1, 19}), {5, 3, 2});
    CHECK(got.dominant == want.dominant);
    CHECK(got.assignment == want.assignment);
    CHECK(got.tokens == want.tokens);
}

TEST_CASE("visionzip: batches equal a loop for any thread count", "[tokens][visionzip]") {
    const std::size_t batch = 5, n1 = 21, heads = 2, cd = 3, md = 4;
    std::vector<float> h, a, m;
    std::vector<visionzip_test::item> items;
    for (std::size_t b = 0; b < batch; ++b) {
        items.push_back(visionzip_test::make(n1, heads, cd, md, 50u + static_cast<unsigned>(b), b % 2 == 1, b));
        h.insert(h.end(), items.back().hidden.begin(), items.back().hidden.end());
        a.insert(a.end(), items.back().attn.begin(), items.back().attn.end());
        m.insert(m.end(), items.back().metric.begin(), items.back().metric.end());
    }
    const nnprune::tensor_view<const float, 3> hv(h.data(), batch, n1, cd), mv(m.data(), batch, n1, md);
    const nnprune::tensor_view<const float, 4> av(a.data(), batch, heads, n1, n1);
    const nnprune::visionzip_options o{6, 4, 0};
    for (unsigned threads = 1; threads <= 4; ++threads) {
        std::vector<nnprune::visionzip_result> out;
        std::vector<nnprune::visionzip_workspace> ws;
        nnprune::visionzip_batch(hv, av, mv, o, out, ws, threads);
        REQUIRE(out.size() == batch);
        for (std::size_t b = 0; b < batch; ++b) {
            const auto [h1, a1, m1] = visionzip_test::views(items[b]);
            const auto one = nnprune::visionzip(h1, a1, m1, o);
            CHECK(out[b].dominant == one.dominant);
            CHECK(out[b].assignment == one.assignment);
            CHECK(out[b].tokens == one.tokens);
        }
        CHECK(nnprune::visionzip_batch(hv, av, mv, o, threads)[batch - 1].tokens == out[batch - 1].tokens);
    }
}

TEST_CASE("visionzip: errors name the function and leave the result unchanged", "[tokens][visionzip]") {
    auto it = visionzip_test::make(9, 2, 3, 4, 2u, false);
    const auto vs = visionzip_test::views(it);  // (no structured bindings: the lambda below uses them)
    const auto& hv = std::get<0>(vs);
    const auto& av = std::get<1>(vs);
    const auto& mv = std::get<2>(vs);
    nnprune::visionzip_result r;
    nnprune::visionzip_workspace ws;
    nnprune::visionzip(hv, av, mv, {3, 2, 0}, r, ws);
    auto tokens = r.tokens;
    auto dom = r.dominant;
    auto fails = [&](nnprune::visionzip_options o, const char* msg) {
        REQUIRE_THROWS_WITH(nnprune::visionzip(hv, av, mv, o, r, ws), Catch::Contains(msg));
    };
    fails({0, 2, 0}, "visionzip: dominant = 0 must be in [1, 8]");
    fails({9, 1, 0}, "visionzip: dominant = 9 must be in [1, 8]");
    fails({3, 0, 0}, "visionzip: contextual = 0 must be in [1, N + 1 - dominant] = [1, 6]");
    fails({3, 7, 0}, "visionzip: contextual = 7 must be in [1, N + 1 - dominant] = [1, 6]");
    fails({3, 2, 9}, "visionzip: cls = 9 is not a row of the 9 tokens");
    REQUIRE_THROWS_WITH(
        nnprune::visionzip(nnprune::matrix_view<const float>(it.hidden.data(), 8, 3), av, mv, {3, 2, 0}, r, ws),
        Catch::Contains("visionzip: attention is 2x9x9, expected H x 8 x 8"));
    REQUIRE_THROWS_WITH(
        nnprune::visionzip(hv, av, nnprune::matrix_view<const float>(it.metric.data(), 9, 0), {3, 2, 0}, r, ws),
        Catch::Contains("visionzip: metric is 9x0"));
    REQUIRE_THROWS_WITH(nnprune::visionzip(nnprune::matrix_view<const float>(it.hidden.data(), 0, 3),
                                           nnprune::tensor_view<const float, 3>(it.attn.data(), 2, 0, 0),
                                           nnprune::matrix_view<const float>(it.metric.data(), 0, 4), {3, 2, 0}, r, ws),
                        Catch::Contains("visionzip: hidden is 0x3"));
    it.attn[(1 * 9 + 0) * 9 + 4] = std::nanf("");
    REQUIRE_THROWS_WITH(nnprune::visionzip(hv, av, mv, {3, 2, 0}, r, ws),
                        Catch::Contains("visionzip: non-finite attention nan at head 1, query 0, key 4"));
    it.attn[(1 * 9 + 0) * 9 + 4] = 0.1f;
    it.attn[(1 * 9 + 3) * 9 + 4] = std::nanf("");  // not a [CLS] row: never read
    CHECK_NOTHROW(nnprune::visionzip(hv, av, mv, {3, 2, 0}, r, ws));
    CHECK(r.dominant != dom);  // the changed score moved a dominant token
    tokens = r.tokens;
    dom = r.dominant;
    it.metric[5 * 4 + 2] = std::numeric_limits<float>::infinity();
    REQUIRE_THROWS_WITH(nnprune::visionzip(hv, av, mv, {3, 2, 0}, r, ws),
                        Catch::Contains("visionzip: non-finite feature inf at token 5, feature 2"));
    CHECK(r.tokens == tokens);
    CHECK(r.dominant == dom);
    REQUIRE_THROWS_WITH(nnprune::visionzip(hv, av, mv, {3, 7, 0}, r, ws), Catch::Contains("visionzip: contextual"));
    CHECK(r.tokens == tokens);
    // batch: the second item fails, nothing written
    std::vector<float> h2(it.hidden), a2(it.attn), m2(it.metric);
    auto ok = visionzip_test::make(9, 2, 3, 4, 3u, false);
    h2.insert(h2.begin(), ok.hidden.begin(), ok.hidden.end());
    a2.insert(a2.begin(), ok.attn.begin(), ok.attn.end());
    m2.insert(m2.begin(), ok.metric.begin(), ok.metric.end());
    std::vector<nnprune::visionzip_result> out(2);
    std::vector<nnprune::visionzip_workspace> wss;
    REQUIRE_THROWS_WITH(
        nnprune::visionzip_batch(nnprune::tensor_view<const float, 3>(h2.data(), 2, 9, 3),
                                 nnprune::tensor_view<const float, 4>(a2.data(), 2, 2, 9, 9),
                                 nnprune::tensor_view<const float, 3>(m2.data(), 2, 9, 4), {3, 2, 0}, out, wss),
        Catch::Contains("visionzip_batch: non-finite feature inf at token 5, feature 2 (item 1)"));
    CHECK(out[0].tokens.empty());
    nnprune::visionzip_batch(nnprune::tensor_view<const float, 3>(h2.data(), 1, 9, 3),
                             nnprune::tensor_view<const float, 4>(a2.data(), 1, 2, 9, 9),
                             nnprune::tensor_view<const float, 3>(m2.data(), 1, 9, 4), {3, 2, 0}, out, wss);
    const auto good = out[0].tokens;
    REQUIRE(out.size() == 1);
    REQUIRE_THROWS(nnprune::visionzip_batch(nnprune::tensor_view<const float, 3>(h2.data(), 2, 9, 3),
                                            nnprune::tensor_view<const float, 4>(a2.data(), 2, 2, 9, 9),
                                            nnprune::tensor_view<const float, 3>(m2.data(), 2, 9, 4), {3, 2, 0}, out,
                                            wss));
    CHECK(out.size() == 1);
    CHECK(out[0].tokens == good);
    REQUIRE_THROWS_WITH(
        nnprune::visionzip_batch(nnprune::tensor_view<const float, 3>(h2.data(), 2, 9, 3),
                                 nnprune::tensor_view<const float, 4>(a2.data(), 1, 2, 9, 9),
                                 nnprune::tensor_view<const float, 3>(m2.data(), 2, 9, 4), {3, 2, 0}, out, wss),
        Catch::Contains("visionzip_batch: batch sizes differ (hidden 2, attention 1, metric 2)"));
}
