#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <random>
#include <vector>

#include <catch2/catch.hpp>

#include <nnprune/tokens/tome.hpp>

namespace tome_test {

/// Random metric [t, c]; `dup` rows copy an earlier row (exact ties), `zero` rows are all zero.
inline std::vector<float> metric(std::size_t t, std::size_t c, unsigned seed, std::size_t dup = 0,
                                 std::size_t zero = 0) {
    std::mt19937 g(seed);
    std::normal_distribution<float> nd;
    std::vector<float> m(t * c);
    for (auto& v : m) v = nd(g);
    std::uniform_int_distribution<std::size_t> pick(0, t - 1);
    for (std::size_t k = 0; k < dup && t > 1; ++k) {
        const std::size_t a = pick(g), b = pick(g);
        std::copy(m.begin() + static_cast<std::ptrdiff_t>(a * c), m.begin() + static_cast<std::ptrdiff_t>(a * c + c),
                  m.begin() + static_cast<std::ptrdiff_t>(b * c));
    }
    for (std::size_t k = 0; k < zero; ++k) {
        const std::size_t a = pick(g);
        std::fill(m.begin() + static_cast<std::ptrdiff_t>(a * c), m.begin() + static_cast<std::ptrdiff_t>(a * c + c),
                  0.0f);
    }
    return m;
}

/// The spec's matching, written plainly in double (§1 steps 1-7).
struct ref_match {
    std::size_t r = 0;
    std::vector<std::size_t> src, dst, unm, node_idx;
    std::vector<double> node_max;
};

inline ref_match match(const std::vector<float>& x, std::size_t t, std::size_t c, std::int64_t r_in, bool cls,
                       bool dist) {
    ref_match m;
    const std::int64_t prot = (cls ? 1 : 0) + (dist ? 1 : 0);
    std::int64_t r = std::min<std::int64_t>(r_in, (static_cast<std::int64_t>(t) - prot) / 2);
    if (static_cast<std::int64_t>(t) < prot) r = 0;
    if (r <= 0) return m;
    m.r = static_cast<std::size_t>(r);
    // similarities: the library's unit rows (features.hpp), then one fused chain in ascending
    // channel order as simd::gemm promises (bit-identical), and the same in double for a sanity check
    nnprune::token_workspace tw;
    const auto u = nnprune::detail::normalize_tokens(nnprune::matrix_view<const float>(x.data(), t, c), tw, "test");
    const std::size_t ta = (t + 1) / 2, tb = t / 2;
    const double ninf = -std::numeric_limits<double>::infinity();
    for (std::size_t i = 0; i < ta; ++i) {
        double best = 0;
        std::size_t arg = 0;
        for (std::size_t j = 0; j < tb; ++j) {
            float s = 0;
            double sd = 0, na = 0, nb = 0;
            for (std::size_t k = 0; k < c; ++k) {
                s = std::fma(u.row(2 * i)[k], u.row(2 * j + 1)[k], s);
                sd += double(x[2 * i * c + k]) * x[(2 * j + 1) * c + k];
                na += double(x[2 * i * c + k]) * x[2 * i * c + k];
                nb += double(x[(2 * j + 1) * c + k]) * x[(2 * j + 1) * c + k];
            }
            REQUIRE(s == Approx(na > 0 && nb > 0 ? sd / std::sqrt(na * nb) : 0.0).margin(1e-5));
            double v = s;
            if ((cls && i == 0) || (dist && j == 0)) v = ninf;
            if (j == 0 || v > best) best = v, arg = j;
        }
        m.node_max.push_back(best);
        m.node_idx.push_back(arg);
    }
    std::vector<std::size_t> edge(ta);
    std::iota(edge.begin(), edge.end(), std::size_t{0});
    std::stable_sort(edge.begin(), edge.end(),
                     [&](std::size_t a, std::size_t b) { return m.node_max[a] > m.node_max[b]; });
    m.src.assign(edge.begin(), edge.begin() + r);
    m.unm.assign(edge.begin() + r, edge.end());
    for (auto s : m.src) m.dst.push_back(m.node_idx[s]);
    if (cls) std::sort(m.unm.begin(), m.unm.end());
    return m;
}

enum class mode { sum, mean, amax, wavg_num };

/// merge(x, mode) of the spec in float (scatter_reduce in edge order), size' for wavg.
inline std::vector<float> merge(const ref_match& m, const std::vector<float>& x, std::size_t t, std::size_t cc,
                                nnprune::tome_reduce md, bool dist) {
    if (m.r == 0) return x;
    const std::size_t ta = (t + 1) / 2, tb = t / 2;
    std::vector<float> dst(tb * cc);
    std::vector<std::size_t> cnt(tb, 1);
    for (std::size_t j = 0; j < tb; ++j)
        for (std::size_t k = 0; k < cc; ++k) dst[j * cc + k] = x[(2 * j + 1) * cc + k];
    for (std::size_t e = 0; e < m.r; ++e) {
        const std::size_t j = m.dst[e];
        ++cnt[j];
        for (std::size_t k = 0; k < cc; ++k) {
            const float s = x[2 * m.src[e] * cc + k];
            float& d = dst[j * cc + k];
            d = md == nnprune::tome_reduce::amax ? std::max(d, s) : d + s;
        }
    }
    if (md == nnprune::tome_reduce::mean)
        for (std::size_t j = 0; j < tb; ++j)
            for (std::size_t k = 0; k < cc; ++k) dst[j * cc + k] /= static_cast<float>(cnt[j]);
    std::vector<std::vector<float>> unm, dsts;
    for (auto a : m.unm)
        unm.emplace_back(x.begin() + static_cast<std::ptrdiff_t>(2 * a * cc),
                         x.begin() + static_cast<std::ptrdiff_t>(2 * a * cc + cc));
    for (std::size_t j = 0; j < tb; ++j)
        dsts.emplace_back(dst.begin() + static_cast<std::ptrdiff_t>(j * cc),
                          dst.begin() + static_cast<std::ptrdiff_t>(j * cc + cc));
    std::vector<std::vector<float>> rows;
    if (dist) {
        if (!unm.empty()) rows.push_back(unm[0]);
        if (!dsts.empty()) rows.push_back(dsts[0]);
        for (std::size_t i = 1; i < unm.size(); ++i) rows.push_back(unm[i]);
        for (std::size_t i = 1; i < dsts.size(); ++i) rows.push_back(dsts[i]);
    } else {
        rows = unm;
        rows.insert(rows.end(), dsts.begin(), dsts.end());
    }
    (void)ta;
    std::vector<float> out;
    for (auto& row : rows) out.insert(out.end(), row.begin(), row.end());
    return out;
}

/// merge_wavg in float: merge_sum(x * size) / merge_sum(size).
inline std::pair<std::vector<float>, std::vector<float>> wavg(const ref_match& m, const std::vector<float>& x,
                                                              const std::vector<float>& size, std::size_t t,
                                                              std::size_t cc, bool dist) {
    std::vector<float> xs(t * cc);
    for (std::size_t i = 0; i < t; ++i)
        for (std::size_t k = 0; k < cc; ++k) xs[i * cc + k] = x[i * cc + k] * size[i];
    auto num = merge(m, xs, t, 1 * cc, nnprune::tome_reduce::sum, dist);
    auto den = merge(m, size, t, 1, nnprune::tome_reduce::sum, dist);
    for (std::size_t o = 0; o < den.size(); ++o)
        for (std::size_t k = 0; k < cc; ++k) num[o * cc + k] /= den[o];
    return {num, den};
}

/// merge_source: merge_amax applied to the identity [t, t].
inline std::vector<float> dense_source(const ref_match& m, const std::vector<float>& src, std::size_t t, std::size_t t0,
                                       bool dist) {
    return merge(m, src, t, t0, nnprune::tome_reduce::amax, dist);
}

inline void same_matching(const nnprune::tome_matching& a, const ref_match& b) {
    REQUIRE(a.r == b.r);
    CHECK(a.src_idx == b.src);
    CHECK(a.dst_idx == b.dst);
    CHECK(a.unm_idx == b.unm);
    if (b.r > 0) CHECK(a.node_idx == b.node_idx);
}

}  // namespace tome_test

TEST_CASE("tome_r_schedule: parse_r", "[tokens][tome]") {
    using V = std::vector<std::int64_t>;
    CHECK(nnprune::tome_r_schedule(4, 7) == V{7, 7, 7, 7});
    CHECK(nnprune::tome_r_schedule(0, 7).empty());
    // values from upstream's parse_r (Python)
    CHECK(nnprune::tome_r_schedule(12, 8, -0.5) == V{12, 11, 10, 9, 9, 8, 7, 6, 6, 5, 4, 4});
    CHECK(nnprune::tome_r_schedule(24, 13, 0.5) ==
          V{6, 6, 7, 7, 8, 9, 9, 10, 10, 11, 12, 12, 13, 13, 14, 15, 15, 16, 16, 17, 18, 18, 19, 20});
    CHECK(nnprune::tome_r_schedule(7, 5, 0.3) == V{3, 3, 4, 5, 5, 6, 7});
    CHECK(nnprune::tome_r_schedule(5, 3, 2.5) == V{-4, 0, 3, 6, 10});  // int() truncates toward zero
    CHECK(nnprune::tome_r_schedule(3, 5, 0.0) == V{5, 5, 5});
    CHECK(nnprune::tome_r_schedule(1, 5, 0.5) == V{2});
    const V list{3, 2};
    CHECK(nnprune::tome_r_schedule(4, std::span<const std::int64_t>(list)) == V{3, 2, 0, 0});
    const V longer{1, 2, 3, 4, 5};
    CHECK(nnprune::tome_r_schedule(3, std::span<const std::int64_t>(longer)) == longer);  // never truncated
    REQUIRE_THROWS_WITH(nnprune::tome_r_schedule(4, 3, std::nan("")),
                        Catch::Contains("tome_r_schedule: inflect must be finite"));
    REQUIRE_THROWS_WITH(nnprune::tome_r_schedule(4, 3, 1e300),
                        Catch::Contains("tome_r_schedule: int(r * (1 - inflect))"));
}

TEST_CASE("tome_match: hand-worked case", "[tokens][tome]") {
    // t = 6: A = tokens 0, 2, 4; B = tokens 1, 3, 5; axis directions (exact similarities 0 and 1)
    const std::vector<float> x = {1, 0,   // 0 (A0)
                                  0, 1,   // 1 (B0)
                                  1, 0,   // 2 (A1)
                                  1, 0,   // 3 (B1)
                                  0, 1,   // 4 (A2)
                                  1, 0};  // 5 (B2)
    const nnprune::matrix_view<const float> v(x.data(), 6, 2);
    // A0 -> B1 (first of the maxima B1, B2), A1 -> B1, A2 -> B0; every node_max is 1
    auto m = nnprune::tome_match(v, 2);
    CHECK(m.node_idx == std::vector<std::size_t>{1, 1, 0});
    CHECK(m.node_max == std::vector<float>{1, 1, 1});
    CHECK(m.src_idx == std::vector<std::size_t>{0, 1});  // equal node_max: lower A index first
    CHECK(m.dst_idx == std::vector<std::size_t>{1, 1});
    CHECK(m.unm_idx == std::vector<std::size_t>{2});
    CHECK(m.rows() == 4);
    const auto pos = nnprune::tome_output_positions(m);
    CHECK(std::vector<std::size_t>(pos.begin(), pos.end()) == std::vector<std::size_t>{4, 1, 3, 5});
    CHECK(m.row_of == std::vector<std::size_t>{2, 1, 2, 2, 0, 3});
    // merge(mean) by hand: row of B1 = (x3 + x0 + x2) / 3
    CHECK(nnprune::tome_merge(m, v, nnprune::tome_reduce::mean) == std::vector<float>{0, 1, 0, 1, 1, 0, 1, 0});
    CHECK(nnprune::tome_merge(m, v, nnprune::tome_reduce::sum) == std::vector<float>{0, 1, 0, 1, 3, 0, 1, 0});
    // r clamps to (6 - 1) / 2 = 2 with a class token; A0 is never a source
    auto mc = nnprune::tome_match(v, 9, {.class_token = true});
    CHECK(mc.r == 2);
    CHECK(mc.node_max[0] == -std::numeric_limits<float>::infinity());
    CHECK(mc.src_idx == std::vector<std::size_t>{1, 2});
    CHECK(mc.unm_idx == std::vector<std::size_t>{0});
    // distill: B0 (token 1) is never a destination, so A2 goes to B1 (first of two zeros)
    auto md = nnprune::tome_match(v, 1, {.class_token = true, .distill_token = true});
    CHECK(md.node_idx[2] == 1);
    CHECK(md.node_max[2] == 0.0f);
    CHECK(md.src_idx == std::vector<std::size_t>{1});
    CHECK(md.unm_idx == std::vector<std::size_t>{0, 2});
    CHECK(md.positions == std::vector<std::size_t>{0, 1, 4, 3, 5});  // [unm0, dst0, unm1.., dst1..]
    // r <= 0: the identity
    for (std::int64_t r : {0, -3}) {
        auto mi = nnprune::tome_match(v, r);
        CHECK(mi.r == 0);
        CHECK(mi.positions == std::vector<std::size_t>{0, 1, 2, 3, 4, 5});
        CHECK(nnprune::tome_merge(mi, v, nnprune::tome_reduce::sum) == x);
    }
    // tiny t: r clamps to 0
    CHECK(nnprune::tome_match(nnprune::matrix_view<const float>(x.data(), 1, 2), 4).r == 0);
    CHECK(nnprune::tome_match(nnprune::matrix_view<const float>(x.data(), 2, 2), 4, {.class_token = true}).r == 0);
    CHECK(nnprune::tome_match(nnprune::matrix_view<const float>(x.data(), 1, 2), 4, {true, true}).r == 0);
}

TEST_CASE("tome: matching and merges equal the spec's plain implementation", "[tokens][tome]") {
    const std::size_t t = GENERATE(std::size_t{2}, std::size_t{3}, std::size_t{10}, std::size_t{33}, std::size_t{64});
    const std::size_t dup = GENERATE(std::size_t{0}, std::size_t{12});
    const std::size_t c = 9, cc = 5;
    const auto x = tome_test::metric(t, c, 77u + static_cast<unsigned>(t * 3 + dup), dup, dup / 4);
    const auto feat = tome_test::metric(t, cc, 5u + static_cast<unsigned>(t), 0);
    std::vector<float> size(t);
    std::mt19937 g(static_cast<unsigned>(t));
    for (auto& s : size) s = std::uniform_real_distribution<float>(0.5f, 4.0f)(g);
    nnprune::tome_matching m;
    nnprune::tome_workspace ws;
    for (bool cls : {false, true})
        for (bool dist : {false, true})
            for (std::int64_t r : {std::int64_t{1}, std::int64_t{3}, static_cast<std::int64_t>(t / 2),
                                   std::int64_t{100}, std::int64_t{0}}) {
                INFO("t " << t << " dup " << dup << " cls " << cls << " dist " << dist << " r " << r);
                nnprune::tome_match(nnprune::matrix_view<const float>(x.data(), t, c), r, {cls, dist}, m, ws);
                const auto ref = tome_test::match(x, t, c, r, cls, dist);
                tome_test::same_matching(m, ref);
                const nnprune::matrix_view<const float> fv(feat.data(), t, cc);
                std::vector<float> out(m.rows() * cc), sz(m.rows());
                for (auto md : {nnprune::tome_reduce::sum, nnprune::tome_reduce::mean, nnprune::tome_reduce::amax}) {
                    nnprune::tome_merge(m, fv, md, nnprune::matrix_view<float>(out.data(), m.rows(), cc), ws);
                    CHECK(out == tome_test::merge(ref, feat, t, cc, md, dist));  // bit-exact
                }
                nnprune::tome_merge_wavg(m, fv, nnprune::vector_view<const float>(size.data(), t),
                                         nnprune::matrix_view<float>(out.data(), m.rows(), cc),
                                         nnprune::vector_view<float>(sz.data(), m.rows()), ws);
                const auto [rx, rs] = tome_test::wavg(ref, feat, size, t, cc, dist);
                CHECK(out == rx);  // bit-exact f32
                CHECK(sz == rs);
                // ones: (x * 1) / 1 = x for unmerged rows
                const std::vector<float> ones(t, 1.0f);
                nnprune::tome_merge_wavg(m, fv, nnprune::matrix_view<float>(out.data(), m.rows(), cc),
                                         nnprune::vector_view<float>(sz.data(), m.rows()), ws);
                CHECK(out == tome_test::wavg(ref, feat, ones, t, cc, dist).first);
                // output positions: unmerged rows are the token itself
                for (std::size_t o = 0; o < m.rows(); ++o) {
                    const std::size_t p = m.positions[o];
                    CHECK(m.row_of[p] == o);
                    if (p % 2 == 0)
                        CHECK(std::equal(out.begin() + static_cast<std::ptrdiff_t>(o * cc),
                                         out.begin() + static_cast<std::ptrdiff_t>(o * cc + cc),
                                         feat.begin() + static_cast<std::ptrdiff_t>(p * cc)));
                }
            }
}

TEST_CASE("tome: tied metric rows follow the stable tie rule", "[tokens][tome]") {
    // all rows equal: every similarity is 1, so node_idx = 0 and the edge order is 0, 1, 2, ...
    const std::size_t t = 9, c = 4;
    std::vector<float> x(t * c, 0.5f);
    auto m = nnprune::tome_match(nnprune::matrix_view<const float>(x.data(), t, c), 3);
    CHECK(m.node_idx == std::vector<std::size_t>(5, 0));
    CHECK(m.src_idx == std::vector<std::size_t>{0, 1, 2});
    CHECK(m.unm_idx == std::vector<std::size_t>{3, 4});
    CHECK(m.member_begin == std::vector<std::size_t>{0, 3, 3, 3, 3});
    CHECK(m.members == std::vector<std::size_t>{0, 1, 2});
    // zero-norm rows: similarity 0 to everything (upstream: NaN); all-zero metric ties at 0
    std::vector<float> z(t * c, 0.0f);
    auto mz = nnprune::tome_match(nnprune::matrix_view<const float>(z.data(), t, c), 2);
    CHECK(mz.node_max == std::vector<float>(5, 0.0f));
    CHECK(mz.src_idx == std::vector<std::size_t>{0, 1});
    // one zero A row among positive ones: its node_max is 0, below every positive similarity
    std::vector<float> p(t * c, 1.0f);
    std::fill(p.begin(), p.begin() + c, 0.0f);
    auto mp = nnprune::tome_match(nnprune::matrix_view<const float>(p.data(), t, c), 4);
    CHECK(mp.node_max[0] == 0.0f);
    CHECK(mp.unm_idx == std::vector<std::size_t>{0});
}

TEST_CASE("tome: the source map composes across layers like merge_source", "[tokens][tome]") {
    const std::size_t t0 = 40, c = 6;
    std::vector<float> x = tome_test::metric(t0, c, 9u, 6);
    std::vector<float> dense(t0 * t0, 0.0f);
    for (std::size_t i = 0; i < t0; ++i) dense[i * t0 + i] = 1.0f;
    nnprune::tome_source s;
    nnprune::tome_source_reset(s, t0);
    nnprune::tome_matching m;
    nnprune::tome_workspace ws;
    std::size_t t = t0;
    const bool cls = true;
    for (std::int64_t r : {5, 7, 3, 0, 6}) {
        nnprune::tome_match(nnprune::matrix_view<const float>(x.data(), t, c), r, {cls, false}, m, ws);
        const auto ref = tome_test::match(x, t, c, r, cls, false);
        tome_test::same_matching(m, ref);
        dense = tome_test::dense_source(ref, dense, t, t0, false);
        nnprune::tome_source_update(s, m);
        // the metric of the next layer: the merged metric (mean), as a model would produce
        x = tome_test::merge(ref, x, t, c, nnprune::tome_reduce::mean, false);
        t = m.rows();
        std::vector<float> got(t * t0, -1.0f);
        nnprune::tome_source_dense(s, nnprune::matrix_view<float>(got.data(), t, t0));
        CHECK(got == dense);
    }
    nnprune::tome_matching other;
    nnprune::tome_match(nnprune::matrix_view<const float>(x.data(), 3, c), 1, {}, other, ws);
    const auto before = s.row_of;
    REQUIRE_THROWS_WITH(nnprune::tome_source_update(s, other),
                        Catch::Contains("tome_source_update: the source map has"));
    CHECK(s.row_of == before);
    std::vector<float> small(4);
    REQUIRE_THROWS_WITH(nnprune::tome_source_dense(s, nnprune::matrix_view<float>(small.data(), 2, 2)),
                        Catch::Contains("tome_source_dense: output is 2x2"));
}

TEMPLATE_TEST_CASE("tome: bf16/f16/f64 metric equals the f32 call on the same values", "[tokens][tome]",
                   nnprune::bfloat16, nnprune::float16, double) {
    const std::size_t t = 31, c = 8, cc = 3;
    const auto x = tome_test::metric(t, c, 4u, 8);
    std::vector<TestType> xt(x.size());
    std::vector<float> xr(x.size());
    for (std::size_t i = 0; i < x.size(); ++i) {
        xt[i] = TestType(x[i]);
        xr[i] = nnprune::to_float(xt[i]);
    }
    const auto a = nnprune::tome_match(nnprune::matrix_view<const TestType>(xt.data(), t, c), 6, {true, false});
    const auto b = nnprune::tome_match(nnprune::matrix_view<const float>(xr.data(), t, c), 6, {true, false});
    CHECK(a.src_idx == b.src_idx);
    CHECK(a.dst_idx == b.dst_idx);
    CHECK(a.unm_idx == b.unm_idx);
    // merges of x in that type into f32: the f32 merge of the rounded values
    const auto f = tome_test::metric(t, cc, 8u);
    std::vector<TestType> ft(f.size());
    std::vector<float> fr(f.size());
    for (std::size_t i = 0; i < f.size(); ++i) {
        ft[i] = TestType(f[i]);
        fr[i] = nnprune::to_float(ft[i]);
    }
    CHECK(nnprune::tome_merge(a, nnprune::matrix_view<const TestType>(ft.data(), t, cc)) ==
          nnprune::tome_merge(a, nnprune::matrix_view<const float>(fr.data(), t, cc)));
    // f64 outputs accumulate in f64
    std::vector<double> od(a.rows() * cc), sd(a.rows());
    nnprune::tome_workspace ws;
    nnprune::tome_merge_wavg(a, nnprune::matrix_view<const TestType>(ft.data(), t, cc),
                             nnprune::matrix_view<double>(od.data(), a.rows(), cc),
                             nnprune::vector_view<double>(sd.data(), a.rows()), ws);
    for (std::size_t o = 0; o < a.rows(); ++o) {
        const std::size_t p = a.positions[o];
        std::vector<std::size_t> toks{p};
        if (p % 2)
            for (std::size_t e = a.member_begin[p / 2]; e < a.member_begin[p / 2 + 1]; ++e)
                toks.push_back(2 * a.members[e]);
        CHECK(sd[o] == double(toks.size()));
        for (std::size_t k = 0; k < cc; ++k) {
            double sum = 0;
            for (auto q : toks) sum += nnprune::to_double(ft[q * cc + k]);
            CHECK(od[o * cc + k] == Approx(sum / double(toks.size())).epsilon(1e-14));
        }
    }
}

TEST_CASE("tome: strided views", "[tokens][tome]") {
    const std::size_t t = 21, c = 5, cc = 4;
    const auto x = tome_test::metric(t, c, 12u, 4);
    const auto f = tome_test::metric(t, cc, 13u);
    // column-major copies: stride(1) != 1
    std::vector<float> xc(t * c), fc(t * cc), sz(t), szs(2 * t);
    for (std::size_t i = 0; i < t; ++i) {
        for (std::size_t k = 0; k < c; ++k) xc[k * t + i] = x[i * c + k];
        for (std::size_t k = 0; k < cc; ++k) fc[k * t + i] = f[i * cc + k];
        sz[i] = szs[2 * i] = 1.0f + static_cast<float>(i % 3);
    }
    const nnprune::tensor_view<const float, 2> xv(xc.data(), {t, c}, {1, static_cast<std::ptrdiff_t>(t)});
    const nnprune::tensor_view<const float, 2> fv(fc.data(), {t, cc}, {1, static_cast<std::ptrdiff_t>(t)});
    const auto a = nnprune::tome_match(xv, 7, {true, false});
    const auto b = nnprune::tome_match(nnprune::matrix_view<const float>(x.data(), t, c), 7, {true, false});
    CHECK(a.src_idx == b.src_idx);
    CHECK(a.dst_idx == b.dst_idx);
    CHECK(a.unm_idx == b.unm_idx);
    const std::size_t rows = a.rows();
    std::vector<float> o1(rows * cc), s1(rows), o2(rows * cc), s2(2 * rows);
    nnprune::tome_workspace ws;
    nnprune::tome_merge_wavg(
        a, nnprune::matrix_view<const float>(f.data(), t, cc), nnprune::vector_view<const float>(sz.data(), t),
        nnprune::matrix_view<float>(o1.data(), rows, cc), nnprune::vector_view<float>(s1.data(), rows), ws);
    // strided x, size [t, 1] with stride 2, column-major output, size_out [rows, 1] with stride 2
    nnprune::tome_merge_wavg(
        a, fv, nnprune::tensor_view<const float, 2>(szs.data(), {t, 1}, {2, 1}),
        nnprune::tensor_view<float, 2>(o2.data(), {rows, cc}, {1, static_cast<std::ptrdiff_t>(rows)}),
        nnprune::tensor_view<float, 2>(s2.data(), {rows, 1}, {2, 1}), ws);
    for (std::size_t o = 0; o < rows; ++o) {
        CHECK(s2[2 * o] == s1[o]);
        for (std::size_t k = 0; k < cc; ++k) CHECK(o2[k * rows + o] == o1[o * cc + k]);
    }
}

TEST_CASE("tome: batches equal a loop for any thread count", "[tokens][tome]") {
    const std::size_t batch = 5, t = 26, c = 7, cc = 6;
    std::vector<float> x, f, sz;
    for (std::size_t b = 0; b < batch; ++b) {
        const auto xb = tome_test::metric(t, c, 100u + static_cast<unsigned>(b), b);
        const auto fb = tome_test::metric(t, cc, 200u + static_cast<unsigned>(b));
        x.insert(x.end(), xb.begin(), xb.end());
        f.insert(f.end(), fb.begin(), fb.end());
        for (std::size_t i = 0; i < t; ++i) sz.push_back(1.0f + static_cast<float>((i + b) % 4));
    }
    const nnprune::tensor_view<const float, 3> xv(x.data(), batch, t, c);
    const nnprune::tensor_view<const float, 3> fv(f.data(), batch, t, cc);
    const nnprune::matrix_view<const float> sv(sz.data(), batch, t);
    const std::int64_t r = 8;
    std::vector<nnprune::tome_matching> loop(batch);
    std::vector<float> lx, ls;
    for (std::size_t b = 0; b < batch; ++b) {
        loop[b] = nnprune::tome_match(nnprune::detail::item_of(xv, b), r, {true, false});
        const auto mw =
            nnprune::tome_merge_wavg(loop[b], nnprune::detail::item_of(fv, b), nnprune::detail::item_of(sv, b));
        lx.insert(lx.end(), mw.x.begin(), mw.x.end());
        ls.insert(ls.end(), mw.size.begin(), mw.size.end());
    }
    const std::size_t rows = t - static_cast<std::size_t>(r);
    for (unsigned threads = 1; threads <= 4; ++threads) {
        std::vector<nnprune::tome_matching> ms;
        std::vector<nnprune::tome_workspace> ws;
        nnprune::tome_match_batch(xv, r, {true, false}, ms, ws, threads);
        REQUIRE(ms.size() == batch);
        for (std::size_t b = 0; b < batch; ++b) {
            CHECK(ms[b].src_idx == loop[b].src_idx);
            CHECK(ms[b].dst_idx == loop[b].dst_idx);
            CHECK(ms[b].unm_idx == loop[b].unm_idx);
        }
        std::vector<float> ox(batch * rows * cc), os(batch * rows);
        nnprune::tome_merge_wavg_batch(std::span<const nnprune::tome_matching>(ms), fv, sv,
                                       nnprune::tensor_view<float, 3>(ox.data(), batch, rows, cc),
                                       nnprune::matrix_view<float>(os.data(), batch, rows), ws, threads);
        CHECK(ox == lx);
        CHECK(os == ls);
        std::vector<float> om(batch * rows * cc);
        nnprune::tome_merge_batch(std::span<const nnprune::tome_matching>(ms), fv, nnprune::tome_reduce::amax,
                                  nnprune::tensor_view<float, 3>(om.data(), batch, rows, cc), ws, threads);
        for (std::size_t b = 0; b < batch; ++b)
            CHECK(std::equal(
                om.begin() + static_cast<std::ptrdiff_t>(b * rows * cc),
                om.begin() + static_cast<std::ptrdiff_t>((b + 1) * rows * cc),
                nnprune::tome_merge(ms[b], nnprune::detail::item_of(fv, b), nnprune::tome_reduce::amax).begin()));
        std::vector<float> o1(batch * rows * cc), s1(batch * rows);
        nnprune::tome_merge_wavg_batch(std::span<const nnprune::tome_matching>(ms), fv,
                                       nnprune::tensor_view<float, 3>(o1.data(), batch, rows, cc),
                                       nnprune::matrix_view<float>(s1.data(), batch, rows), ws, threads);
        for (std::size_t b = 0; b < batch; ++b) {  // ones: sizes are the member counts
            const auto mw =
                nnprune::tome_merge_wavg(ms[b], nnprune::detail::item_of(fv, b),
                                         nnprune::vector_view<const float>(std::vector<float>(t, 1.0f).data(), t));
            CHECK(std::equal(mw.size.begin(), mw.size.end(), s1.begin() + static_cast<std::ptrdiff_t>(b * rows)));
            CHECK(std::equal(mw.x.begin(), mw.x.end(), o1.begin() + static_cast<std::ptrdiff_t>(b * rows * cc)));
        }
        CHECK(nnprune::tome_match_batch(xv, r, {true, false}, threads)[batch - 1].src_idx == loop[batch - 1].src_idx);
    }
}

TEST_CASE("tome: errors name the function and leave outputs unchanged", "[tokens][tome]") {
    const std::size_t t = 10, c = 3;
    auto x = tome_test::metric(t, c, 3u);
    nnprune::tome_matching m;
    nnprune::tome_workspace ws;
    nnprune::tome_match(nnprune::matrix_view<const float>(x.data(), t, c), 3, {}, m, ws);
    const auto src = m.src_idx;
    const auto pos = m.positions;
    REQUIRE_THROWS_WITH(nnprune::tome_match(nnprune::matrix_view<const float>(x.data(), 0, c), 3, {}, m, ws),
                        Catch::Contains("tome_match: metric is 0x3"));
    REQUIRE_THROWS_WITH(nnprune::tome_match(nnprune::matrix_view<const float>(x.data(), t, 0), 3, {}, m, ws),
                        Catch::Contains("tome_match: metric is 10x0"));
    auto bad = x;
    bad[4 * c + 1] = std::nanf("");
    REQUIRE_THROWS_WITH(nnprune::tome_match(nnprune::matrix_view<const float>(bad.data(), t, c), 3, {}, m, ws),
                        Catch::Contains("tome_match: non-finite feature") && Catch::Contains("at token 4, feature 1"));
    bad[4 * c + 1] = std::numeric_limits<float>::infinity();
    REQUIRE_THROWS_WITH(nnprune::tome_match(nnprune::matrix_view<const float>(bad.data(), t, c), 0, {}, m, ws),
                        Catch::Contains("tome_match: non-finite feature inf"));
    CHECK(m.src_idx == src);
    CHECK(m.positions == pos);
    // batch: item 1 bad -> nothing written
    std::vector<float> bx(x);
    bx.insert(bx.end(), bad.begin(), bad.end());
    std::vector<nnprune::tome_matching> ms(2);
    std::vector<nnprune::tome_workspace> wss;
    REQUIRE_THROWS_WITH(
        nnprune::tome_match_batch(nnprune::tensor_view<const float, 3>(bx.data(), 2, t, c), 3, {}, ms, wss),
        Catch::Contains("tome_match_batch: non-finite feature inf at token 4, feature 1 (item 1)"));
    CHECK(ms[0].tokens == 0);
    CHECK(ms.size() == 2);
    // a later good call fills them; a failing one after it leaves them as they were
    nnprune::tome_match_batch(nnprune::tensor_view<const float, 3>(bx.data(), 1, t, c), 3, {}, ms, wss);
    const auto kept = ms[0].src_idx;
    REQUIRE_THROWS(nnprune::tome_match_batch(nnprune::tensor_view<const float, 3>(bx.data(), 2, t, c), 3, {}, ms, wss));
    CHECK(ms.size() == 1);
    CHECK(ms[0].src_idx == kept);
    // merges
    const std::size_t cc = 2;
    std::vector<float> f(t * cc, 1.0f), out(m.rows() * cc, -7.0f), so(m.rows(), -7.0f), sz(t, 1.0f);
    const nnprune::matrix_view<const float> fv(f.data(), t, cc);
    REQUIRE_THROWS_WITH(
        nnprune::tome_merge(m, nnprune::matrix_view<const float>(f.data(), t - 1, cc), nnprune::tome_reduce::sum,
                            nnprune::matrix_view<float>(out.data(), m.rows(), cc), ws),
        Catch::Contains("tome_merge: x has 9 tokens, the matching was made for 10"));
    REQUIRE_THROWS_WITH(
        nnprune::tome_merge(m, fv, nnprune::tome_reduce::sum, nnprune::matrix_view<float>(out.data(), 3, cc), ws),
        Catch::Contains("tome_merge: output is 3x2, expected 7x2"));
    sz[5] = 0.0f;
    REQUIRE_THROWS_WITH(nnprune::tome_merge_wavg(m, fv, nnprune::vector_view<const float>(sz.data(), t),
                                                 nnprune::matrix_view<float>(out.data(), m.rows(), cc),
                                                 nnprune::vector_view<float>(so.data(), m.rows()), ws),
                        Catch::Contains("tome_merge_wavg: size 0 at token 5 must be positive and finite"));
    sz[5] = std::nanf("");
    REQUIRE_THROWS_WITH(nnprune::tome_merge_wavg(m, fv, nnprune::vector_view<const float>(sz.data(), t),
                                                 nnprune::matrix_view<float>(out.data(), m.rows(), cc),
                                                 nnprune::vector_view<float>(so.data(), m.rows()), ws),
                        Catch::Contains("tome_merge_wavg: size nan at token 5"));
    REQUIRE_THROWS_WITH(nnprune::tome_merge_wavg(m, fv, nnprune::vector_view<const float>(sz.data(), t - 1),
                                                 nnprune::matrix_view<float>(out.data(), m.rows(), cc),
                                                 nnprune::vector_view<float>(so.data(), m.rows()), ws),
                        Catch::Contains("tome_merge_wavg: size has 9 entries, x has 10 tokens"));
    REQUIRE_THROWS_WITH(nnprune::tome_merge_wavg(m, fv, nnprune::matrix_view<float>(out.data(), m.rows(), cc),
                                                 nnprune::vector_view<float>(so.data(), 2), ws),
                        Catch::Contains("tome_merge_wavg: size output has 2 entries, expected 7"));
    REQUIRE_THROWS_WITH(nnprune::tome_merge_wavg(m, fv, nnprune::matrix_view<const float>(sz.data(), 5, 2),
                                                 nnprune::matrix_view<float>(out.data(), m.rows(), cc),
                                                 nnprune::matrix_view<float>(so.data(), m.rows(), 1), ws),
                        Catch::Contains("tome_merge_wavg: size is 5x2"));
    CHECK(out == std::vector<float>(out.size(), -7.0f));
    CHECK(so == std::vector<float>(so.size(), -7.0f));
    std::vector<nnprune::tome_matching> one{m};
    REQUIRE_THROWS_WITH(nnprune::tome_merge_wavg_batch(std::span<const nnprune::tome_matching>(one),
                                                       nnprune::tensor_view<const float, 3>(f.data(), 2, 5, cc),
                                                       nnprune::tensor_view<float, 3>(out.data(), 2, 5, 1),
                                                       nnprune::matrix_view<float>(so.data(), 2, 3), wss),
                        Catch::Contains("tome_merge_wavg_batch: batch sizes differ"));
    CHECK(out == std::vector<float>(out.size(), -7.0f));
}
