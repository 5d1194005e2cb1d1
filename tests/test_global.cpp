// Global selection over mixed tensors with minimums kept.
#include <catch2/catch.hpp>

#include "select_reference.hpp"

namespace {
using namespace select_test;
using nnprune::mask;
using nnprune::shape;
}  // namespace

TEST_CASE("global: global over mixed tensors with a minimum kept", "[select][global]") {
    tuning_guard g;
    const auto a = quantised(50, 1, 3), b = quantised(37, 2, 3), c = quantised(64, 3, 3);
    const auto fa = as<float>(a), fc = as<float>(c);
    const auto hb = as<nnprune::float16>(b);
    for (int mixed = 0; mixed < 2; ++mixed)
        for (std::size_t min_keep : {0u, 10u, 20u})
            for (unsigned th : {1u, 2u}) {
                nnprune::detail::tuning().small = th == 2 ? 4 : 2048;
                std::vector<nnprune::tensor_ref> refs{
                    nnprune::vector_view<const float>(fa.data(), 50),
                    mixed ? nnprune::tensor_ref(nnprune::vector_view<const nnprune::float16>(hb.data(), 37))
                          : nnprune::tensor_ref(nnprune::vector_view<const float>(as<float>(b).data(), 37)),
                    nnprune::matrix_view<const float>(fc.data(), 8, 8)};
                std::vector<float> fb = as<float>(b);
                if (!mixed) refs[1] = nnprune::vector_view<const float>(fb.data(), 37);
                mask ma(shape{50}), mb(shape{37}), mc(shape{8, 8});
                std::vector<nnprune::mask_view> outs{ma, mb, mc};
                nnprune::global_options o;
                o.min_keep = min_keep;
                o.threads = th;
                const auto sel = nnprune::select_global(refs, 0.6, outs, o);

                // slow: walk the global order, skip tensors at their limit
                struct item {
                    double v;
                    std::size_t t, i;
                };

                std::vector<item> all;
                for (std::size_t i = 0; i < 50; ++i) all.push_back({a[i], 0, i});
                for (std::size_t i = 0; i < 37; ++i) all.push_back({b[i], 1, i});
                for (std::size_t i = 0; i < 64; ++i) all.push_back({c[i], 2, i});
                std::stable_sort(all.begin(), all.end(), [](const item& x, const item& y) { return x.v < y.v; });
                std::size_t cap[3] = {50 - std::min<std::size_t>(50, min_keep),
                                      37 - std::min<std::size_t>(37, min_keep),
                                      64 - std::min<std::size_t>(64, min_keep)};
                std::size_t k = nnprune::count_to_prune(151, 0.6);
                std::vector<std::vector<char>> pr{std::vector<char>(50), std::vector<char>(37), std::vector<char>(64)};
                for (const auto& it : all) {
                    if (!k) break;
                    if (!cap[it.t]) continue;
                    --cap[it.t];
                    pr[it.t][it.i] = 1;
                    --k;
                }
                INFO("mixed " << mixed << " min_keep " << min_keep << " threads " << th);
                for (std::size_t i = 0; i < 50; ++i) REQUIRE(ma.test(i) == !pr[0][i]);
                for (std::size_t i = 0; i < 37; ++i) REQUIRE(mb.test(i) == !pr[1][i]);
                for (std::size_t i = 0; i < 64; ++i) REQUIRE(mc.test(i) == !pr[2][i]);
                REQUIRE(sel.pruned == nnprune::count_to_prune(151, 0.6));
            }
    std::vector<float> x(10, 1.0f);
    mask mx(shape{10});
    std::vector<nnprune::tensor_ref> one{nnprune::vector_view<const float>(x.data(), 10)};
    std::vector<nnprune::mask_view> o1{mx};
    nnprune::global_options o;
    o.min_keep = 8;
    REQUIRE_THROWS_WITH(nnprune::select_global(one, 0.5, o1, o), Catch::Contains("allows only 2"));
    REQUIRE(mx.pruned() == 0);
}

namespace {
// One selection over tensors of lengths `lens` (values v concatenated), with and without one_pass.
template <class T>
void check_one_pass(const std::vector<double>& v, const std::vector<std::size_t>& lens, const nnprune::amount& a,
                    nnprune::nan_policy np, unsigned threads) {
    const auto t = as<T>(v);
    std::vector<nnprune::tensor_ref> refs;
    std::vector<mask> m0, m1;
    std::size_t at = 0;
    for (auto n : lens) {
        refs.push_back(nnprune::vector_view<const T>(t.data() + at, n));
        m0.emplace_back(shape{n});
        m1.emplace_back(shape{n});
        at += n;
    }
    std::vector<nnprune::mask_view> o0, o1;
    for (auto& m : m0) o0.push_back(m);
    for (auto& m : m1) {
        for (std::size_t i = 0; i < m.size(); i += 3) m.set(i, false);  // stale content: every bit must be written
        o1.push_back(m);
    }
    nnprune::global_options o;
    o.nans = np;
    o.threads = threads;
    const auto s0 = nnprune::select_global(refs, a, o0, o);
    o.one_pass = true;
    const auto s1 = nnprune::select_global(refs, a, o1, o);
    // against the slow reference: the concatenation as one tensor
    const auto want =
        slow_mask(std::vector<double>(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(at)), shape{at},
                  row_groups(1, at), a.is_count() ? 0.0 : a.ratio(), nnprune::rounding::half_even, np, nullptr);
    REQUIRE(s1.pruned == s0.pruned);
    at = 0;
    for (std::size_t i = 0; i < lens.size(); ++i) {
        REQUIRE(m1[i] == m0[i]);
        if (!a.is_count())
            for (std::size_t j = 0; j < lens[i]; ++j) REQUIRE(m1[i].test(j) == want.test(at + j));
        at += lens[i];
    }
}
}  // namespace

TEST_CASE("global: one_pass gives the same masks (engine paths, element types, ties, NaN policies, threads)",
          "[select][global]") {
    tuning_guard g;
    const auto nan = std::numeric_limits<double>::quiet_NaN();
    for (int mode = 0; mode < 3; ++mode) {
        // 0: defaults (one-pass needs > 2048 competitors); 1: the sampled path on small inputs;
        // 2: a candidate buffer too small for the bracket (the log gives up, two passes instead)
        nnprune::detail::tuning() = g.saved;
        nnprune::detail::tuning().one_pass_any_type = true;  // the scalar classify too, in every build
        if (mode >= 1) {
            nnprune::detail::tuning().small = 8;
            nnprune::detail::tuning().resident = 0;
            nnprune::detail::tuning().sample = 64;
        }
        if (mode == 2) nnprune::detail::tuning().max_candidates = 40;
        for (int data = 0; data < 3; ++data) {
            std::vector<double> v = quantised(30000, static_cast<std::uint32_t>(mode * 10 + data), data == 0 ? 3 : 200);
            if (data == 2)
                for (std::size_t i = 0; i < v.size(); i += 101) v[i] = nan;
            const std::vector<std::size_t> lens = mode == 0 ? std::vector<std::size_t>{5000, 1, 63, 12007, 64, 4099}
                                                            : std::vector<std::size_t>{70, 1, 63, 129, 64, 333};
            for (auto np : {nnprune::nan_policy::as_lowest, nnprune::nan_policy::as_highest})
                for (double s : {0.1, 0.5, 0.93})
                    for (unsigned th : {1u, 2u, 3u}) {
                        INFO("mode " << mode << " data " << data << " s " << s << " threads " << th);
                        check_one_pass<float>(v, lens, s, np, th);
                        check_one_pass<nnprune::bfloat16>(v, lens, s, np, th);
                        check_one_pass<double>(v, lens, s, np, th);
                    }
            check_one_pass<float>(v, lens, nnprune::exactly{7}, nnprune::nan_policy::as_lowest, 2);
        }
    }
    // several thread parts (each part's log, ties split across parts, shared boundary words)
    nnprune::detail::tuning() = g.saved;
    nnprune::detail::tuning().one_pass_any_type = true;
    const auto big = quantised(600000, 99, 40);
    for (unsigned th : {2u, 3u}) {
        check_one_pass<float>(big, {300000, 7, 299993}, 0.5, nnprune::nan_policy::as_lowest, th);
        check_one_pass<nnprune::bfloat16>(big, {123457, 476543}, 0.37, nnprune::nan_policy::as_highest, th);
    }
}

TEST_CASE("global: one_pass with a sample that misleads, a previous mask, and NaN under reject", "[select][global]") {
    // blocks of 64 every n / 2^... : make every sampled block hold the largest scores
    tuning_guard g;
    nnprune::detail::tuning().one_pass_any_type = true;
    nnprune::detail::tuning().small = 8;
    nnprune::detail::tuning().resident = 0;
    nnprune::detail::tuning().sample = 64;  // 4 blocks of 16 over 4096 scores: centred at 512, 1536, ...
    std::vector<double> v(4096);
    for (std::size_t i = 0; i < v.size(); ++i) {
        const std::size_t off = i % 1024;
        v[i] = off >= 504 && off < 520 ? 1000.0 + static_cast<double>(i % 3) : static_cast<double>(i % 17);
    }
    check_one_pass<float>(v, {4096}, 0.5, nnprune::nan_policy::as_lowest, 1);
    check_one_pass<float>(v, {1000, 3096}, 0.5, nnprune::nan_policy::as_lowest, 2);

    const auto f = as<float>(v);
    mask prev(shape{4096}), m(shape{4096}), want(shape{4096});
    for (std::size_t i = 0; i < 4096; i += 5) prev.set(i, false);
    std::vector<nnprune::tensor_ref> refs{nnprune::vector_view<const float>(f.data(), 4096)};
    std::vector<nnprune::const_mask_view> pv{prev};
    std::vector<nnprune::mask_view> om{m}, ow{want};
    nnprune::global_options o;
    o.previous_masks = pv;
    nnprune::select_global(refs, 0.3, ow, o);
    o.one_pass = true;  // a previous mask: not loggable, the usual two passes
    nnprune::select_global(refs, 0.3, om, o);
    REQUIRE(m == want);

    auto bad = f;
    bad[3000] = std::numeric_limits<float>::quiet_NaN();
    std::vector<nnprune::tensor_ref> rb{nnprune::vector_view<const float>(bad.data(), 4096)};
    nnprune::global_options ob;
    ob.one_pass = true;
    REQUIRE_THROWS_WITH(nnprune::select_global(rb, 0.5, om, ob), Catch::Contains("NaN score at flat index 3000"));
}

TEST_CASE("global: histogram narrowing near the top of the key range ends (mixed f32/bf16/f16, 64-key cap)",
          "[select][global]") {
    // Regression: the narrowing computed a bin's last key as nl + width - 1, which wrapped to a
    // small key when the bracket was not bin-aligned near the top of the u64 key range, and the
    // engine looped for ever. Mixed element types select on u64 keys; a 64-key cap forces the
    // histogram passes.
    tuning_guard g;
    auto& tu = nnprune::detail::tuning();
    tu.small = 4;
    tu.sample = 16;
    tu.resident = 0;
    tu.max_candidates = 64;
    const std::size_t rows = 61, cols = 1031, n = rows * cols;
    auto v = quantised(3 * n, 11, 41);
    const double inf = std::numeric_limits<double>::infinity();
    const double ends[] = {inf, -inf, std::numeric_limits<double>::quiet_NaN(), 65280.0, -65280.0, 0.0};
    for (std::size_t i = 0; i < v.size(); i += 7) v[i] = ends[(i / 7) % 6];  // exact in every type
    const auto f = as<float>(std::vector<double>(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(n)));
    const auto b = as<nnprune::bfloat16>(std::vector<double>(v.begin() + static_cast<std::ptrdiff_t>(n),
                                                             v.begin() + static_cast<std::ptrdiff_t>(2 * n)));
    const auto h = as<nnprune::float16>(std::vector<double>(v.begin() + static_cast<std::ptrdiff_t>(2 * n), v.end()));
    const std::vector<nnprune::tensor_ref> refs{nnprune::vector_view<const float>(f.data(), n),
                                                nnprune::vector_view<const nnprune::bfloat16>(b.data(), n),
                                                nnprune::matrix_view<const nnprune::float16>(h.data(), rows, cols)};
    for (const auto np : {nnprune::nan_policy::as_lowest, nnprune::nan_policy::as_highest})
        for (const double amount : {0.03, 0.5, 0.97})
            for (unsigned th : {1u, 2u}) {
                mask m0(shape{n}), m1(shape{n}), m2(shape{rows, cols});
                const std::vector<nnprune::mask_view> outs{m0, m1, m2};
                nnprune::global_options o;
                o.nans = np;
                o.threads = th;
                const auto sel = nnprune::select_global(refs, amount, outs, o);
                // the values are exact in every type, so the concatenation is the slow reference
                const auto want =
                    slow_mask(v, shape{3 * n}, row_groups(1, 3 * n), amount, nnprune::rounding::half_even, np, nullptr);
                INFO("nan policy " << static_cast<int>(np) << " amount " << amount << " threads " << th);
                REQUIRE(sel.pruned == want.pruned());
                std::size_t differ = 0;
                for (std::size_t j = 0; j < n; ++j)
                    differ += (m0.test(j) != want.test(j)) + (m1.test(j) != want.test(n + j)) +
                              (m2.test(j) != want.test(2 * n + j));
                REQUIRE(differ == 0);
            }
}
