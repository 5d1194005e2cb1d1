// Selection engine vs a slow obvious implementation written here (sort everything, take k).
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <random>
#include <vector>

#include <nnprune/select/select.hpp>

namespace {

using nnprune::mask;
using nnprune::shape;

// Total order key of a score under a NaN policy, as the spec defines it.
struct okey {
    int cls;
    double v;
    bool operator<(const okey& o) const { return cls != o.cls ? cls < o.cls : v < o.v; }
    bool operator==(const okey& o) const { return cls == o.cls && v == o.v; }
};
okey key_of(double x, nnprune::nan_policy p) {
    if (std::isnan(x)) return {p == nnprune::nan_policy::as_lowest ? 0 : 2, 0.0};
    return {1, x};
}

// Slow: prune the k lowest of the members (stable by index), members given in index order.
void slow_prune(const std::vector<double>& v, const std::vector<std::size_t>& members, std::size_t k,
                nnprune::nan_policy p, std::vector<char>& pruned) {
    std::vector<std::size_t> m = members;
    std::stable_sort(m.begin(), m.end(), [&](std::size_t a, std::size_t b) { return key_of(v[a], p) < key_of(v[b], p); });
    for (std::size_t t = 0; t < k; ++t) pruned[m[t]] = 1;
}

std::vector<double> quantised(std::size_t n, std::uint32_t seed, int levels = 7) {
    std::mt19937 g(seed);
    std::uniform_int_distribution<int> d(-levels, levels);
    std::vector<double> v(n);
    for (auto& x : v) x = d(g) * 0.25;
    return v;
}

template <class T>
std::vector<T> as(const std::vector<double>& v) {
    std::vector<T> r(v.size());
    for (std::size_t i = 0; i < v.size(); ++i) r[i] = static_cast<T>(v[i]);
    return r;
}

mask slow_mask(const std::vector<double>& v, const shape& s, const std::vector<std::vector<std::size_t>>& groups,
               double sparsity, nnprune::rounding r, nnprune::nan_policy p, const mask* prev) {
    std::vector<char> pruned(v.size(), 0);
    for (const auto& g : groups) {
        std::vector<std::size_t> comp;
        for (auto i : g)
            if (!prev || prev->test(i)) comp.push_back(i);
        slow_prune(v, comp, nnprune::count_to_prune(comp.size(), sparsity, r), p, pruned);
    }
    mask m(s);
    for (std::size_t i = 0; i < v.size(); ++i) m.set(i, !pruned[i] && (!prev || prev->test(i)));
    return m;
}

std::vector<std::vector<std::size_t>> row_groups(std::size_t rows, std::size_t cols) {
    std::vector<std::vector<std::size_t>> g(rows);
    for (std::size_t r = 0; r < rows; ++r)
        for (std::size_t c = 0; c < cols; ++c) g[r].push_back(r * cols + c);
    return g;
}
std::vector<std::vector<std::size_t>> col_groups(std::size_t rows, std::size_t cols) {
    std::vector<std::vector<std::size_t>> g(cols);
    for (std::size_t r = 0; r < rows; ++r)
        for (std::size_t c = 0; c < cols; ++c) g[c].push_back(r * cols + c);
    return g;
}

struct tuning_guard {
    nnprune::detail::engine_tuning saved = nnprune::detail::tuning();
    ~tuning_guard() { nnprune::detail::tuning() = saved; }
};

}  // namespace

TEST_CASE("select: per_tensor matches the slow reference on tied data, all paths", "[select][select]") {
    tuning_guard g;
    for (int mode = 0; mode < 3; ++mode) {
        // mode 0: defaults (collect-all for small); 1: sampling path; 2: tiny candidate buffer (histogram fallback)
        if (mode >= 1) nnprune::detail::tuning().small = 8;
        if (mode >= 1) nnprune::detail::tuning().resident = 0;
        if (mode == 1) nnprune::detail::tuning().sample = 32;
        if (mode == 2) nnprune::detail::tuning().max_candidates = 5;
        for (std::size_t n : {1u, 2u, 15u, 16u, 17u, 63u, 64u, 65u, 127u, 1000u, 4099u}) {
            const auto v = quantised(n, static_cast<std::uint32_t>(n * 7 + mode));
            const auto f = as<float>(v);
            for (double s : {0.0, 0.29, 0.5, 0.7, 1.0}) {
                const shape sh{n};
                const auto want = slow_mask(v, sh, row_groups(1, n), s, nnprune::rounding::truncate, nnprune::nan_policy::reject, nullptr);
                for (unsigned th : {1u, 2u}) {
                    mask m(sh);
                    nnprune::select_options o;
                    o.round = nnprune::rounding::truncate;
                    o.threads = th;
                    const auto sel = nnprune::select_mask(nnprune::vector_view<const float>(f.data(), n), nnprune::per_tensor{}, s, m, o);
                    INFO("mode " << mode << " n " << n << " s " << s << " threads " << th);
                    REQUIRE(m == want);
                    REQUIRE(sel.pruned == want.pruned());
                }
            }
        }
    }
}

TEST_CASE("select: per_row and per_column match the slow reference, 1 and 2 threads", "[select][select]") {
    tuning_guard g;
    for (int mode = 0; mode < 2; ++mode) {
        if (mode == 1) {
            nnprune::detail::tuning().small = 4;
            nnprune::detail::tuning().sample = 16;
            nnprune::detail::tuning().resident = 0;
        }
        for (auto [rows, cols] : {std::pair<std::size_t, std::size_t>{1, 1}, {3, 5}, {7, 17}, {13, 64}, {5, 131}, {33, 29}, {4, 300}, {3, 1001}}) {
            const auto v = quantised(rows * cols, static_cast<std::uint32_t>(rows * 100 + cols), 3);
            const auto f = as<float>(v);
            const shape sh{rows, cols};
            nnprune::matrix_view<const float> view(f.data(), rows, cols);
            for (double s : {0.25, 0.5, 0.9}) {
                const auto want_r = slow_mask(v, sh, row_groups(rows, cols), s, nnprune::rounding::half_even, nnprune::nan_policy::reject, nullptr);
                const auto want_c = slow_mask(v, sh, col_groups(rows, cols), s, nnprune::rounding::half_even, nnprune::nan_policy::reject, nullptr);
                for (unsigned th : {1u, 2u}) {
                    nnprune::select_options o;
                    o.threads = th;
                    mask mr(sh), mc(sh);
                    const auto sr = nnprune::select_mask(view, nnprune::per_row{}, s, mr, o);
                    nnprune::select_mask(view, nnprune::per_column{}, s, mc, o);
                    INFO(rows << "x" << cols << " s " << s << " threads " << th << " mode " << mode);
                    REQUIRE(mr == want_r);
                    REQUIRE(mc == want_c);
                    REQUIRE(sr.kth.size() == rows);
                }
            }
        }
    }
}

TEST_CASE("select: k from a ratio, rounding policies", "[select][select]") {
    REQUIRE(nnprune::count_to_prune(100, 0.29, nnprune::rounding::truncate) == 28);
    REQUIRE(nnprune::count_to_prune(100, 0.29, nnprune::rounding::half_even) == 29);
    REQUIRE(nnprune::count_to_prune(7, 0.5) == 4);
    REQUIRE(nnprune::count_to_prune(5, 0.5) == 2);
    REQUIRE(nnprune::count_to_prune(10, 0.25) == 2);
    REQUIRE(nnprune::count_to_prune(10, 0.21, nnprune::rounding::ceil) == 3);
    std::vector<float> f(100);
    std::iota(f.begin(), f.end(), 0.0f);
    mask m(shape{100});
    nnprune::select_options o;
    o.round = nnprune::rounding::truncate;
    nnprune::select_mask(nnprune::vector_view<const float>(f.data(), 100), nnprune::per_tensor{}, 0.29, m, o);
    REQUIRE(m.pruned() == 28);
}

TEST_CASE("select: ties prune the lower index first; kth reported", "[select][select]") {
    std::vector<float> f{1, 0, 1, 1, 0, 1, 2};
    mask m(shape{7});
    const auto sel = nnprune::select_mask(nnprune::vector_view<const float>(f.data(), 7), nnprune::per_tensor{}, nnprune::exactly{4}, m);
    // zeros at 1, 4, then ones at 0, 2
    REQUIRE(nnprune::pruned_indices(m) == std::vector<std::size_t>{0, 1, 2, 4});
    REQUIRE(nnprune::kept_indices(m) == std::vector<std::size_t>{3, 5, 6});
    REQUIRE(sel.kth[0] == 1.0);
    mask z(shape{7});
    const auto s0 = nnprune::select_mask(nnprune::vector_view<const float>(f.data(), 7), nnprune::per_tensor{}, 0.0, z);
    REQUIRE(std::isnan(s0.kth[0]));
    REQUIRE(z.pruned() == 0);
}

TEST_CASE("select: NaN policies and +-Inf, -0 equals +0", "[select][select]") {
    const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
    std::vector<float> f{3, nan, -inf, 0.0f, -0.0f, inf, nan, 1};
    const nnprune::vector_view<const float> v(f.data(), f.size());
    mask m(shape{8});
    m.set(2, false);
    const mask before = m;
    nnprune::select_options o;
    o.name = "w";
    REQUIRE_THROWS_WITH(nnprune::select_mask(v, nnprune::per_tensor{}, 0.5, m, o),
                        Catch::Contains("NaN score at flat index 1 of tensor 'w'"));
    REQUIRE(m == before);
    REQUIRE_THROWS_WITH(nnprune::select_mask(v, nnprune::per_row{}, 0.5, m, o), Catch::Contains("flat index 1"));
    REQUIRE(m == before);
    std::vector<double> d(f.begin(), f.end());
    for (auto p : {nnprune::nan_policy::as_lowest, nnprune::nan_policy::as_highest})
        for (std::size_t k = 0; k <= 8; ++k) {
            o.nans = p;
            mask got(shape{8});
            nnprune::select_mask(v, nnprune::per_tensor{}, nnprune::exactly{k}, got, o);
            std::vector<char> pr(8, 0);
            std::vector<std::size_t> all(8);
            std::iota(all.begin(), all.end(), std::size_t{0});
            slow_prune(d, all, k, p, pr);
            for (std::size_t i = 0; i < 8; ++i) REQUIRE(got.test(i) == !pr[i]);
        }
    // -0 and +0 tie: lower index (3, which is +0) pruned first
    std::vector<float> z{-0.0f, 0.0f, 1.0f};
    mask mz(shape{3});
    nnprune::select_mask(nnprune::vector_view<const float>(z.data(), 3), nnprune::per_tensor{}, nnprune::exactly{1}, mz);
    REQUIRE(nnprune::pruned_indices(mz) == std::vector<std::size_t>{0});
}

TEST_CASE("select: bf16, f16, f64 and strided views", "[select][select]") {
    const std::size_t rows = 9, cols = 23;
    const auto v = quantised(rows * cols, 99, 5);
    const shape sh{rows, cols};
    const auto want = slow_mask(v, sh, row_groups(rows, cols), 0.4, nnprune::rounding::half_even, nnprune::nan_policy::reject, nullptr);
    const auto wantt = slow_mask(v, sh, row_groups(1, rows * cols), 0.4, nnprune::rounding::half_even, nnprune::nan_policy::reject, nullptr);
    auto check = [&](const nnprune::tensor_ref& ref) {
        mask m(sh), t(sh);
        nnprune::select_mask(ref, nnprune::per_row{}, 0.4, m);
        nnprune::select_mask(ref, nnprune::per_tensor{}, 0.4, t);
        REQUIRE(m == want);
        REQUIRE(t == wantt);
    };
    const auto b = as<nnprune::bfloat16>(v);
    const auto h = as<nnprune::float16>(v);
    check(nnprune::matrix_view<const nnprune::bfloat16>(b.data(), rows, cols));
    check(nnprune::matrix_view<const nnprune::float16>(h.data(), rows, cols));
    check(nnprune::matrix_view<const double>(v.data(), rows, cols));
    // a strided view: every other column of a wider buffer
    std::vector<float> wide(rows * cols * 2);
    for (std::size_t r = 0; r < rows; ++r)
        for (std::size_t c = 0; c < cols; ++c) wide[r * cols * 2 + 2 * c] = static_cast<float>(v[r * cols + c]);
    check(nnprune::matrix_view<const float>(wide.data(), {rows, cols}, {static_cast<std::ptrdiff_t>(2 * cols), 2}));
}

TEST_CASE("select: previous mask respected, may alias the output", "[select][select]") {
    tuning_guard g;
    nnprune::detail::tuning().small = 8;
    const std::size_t rows = 6, cols = 70;
    const auto v = quantised(rows * cols, 5, 4);
    const auto f = as<float>(v);
    const shape sh{rows, cols};
    mask prev(sh);
    std::mt19937 rng(3);
    for (std::size_t i = 0; i < prev.size(); ++i) prev.set(i, rng() % 3 != 0);
    nnprune::matrix_view<const float> view(f.data(), rows, cols);
    for (unsigned th : {1u, 2u}) {
        const auto want = slow_mask(v, sh, row_groups(rows, cols), 0.5, nnprune::rounding::half_even, nnprune::nan_policy::reject, &prev);
        mask m(sh);
        nnprune::select_options o;
        o.previous = prev;
        o.threads = th;
        nnprune::select_mask(view, nnprune::per_row{}, 0.5, m, o);
        REQUIRE(m == want);
        const auto wantt = slow_mask(v, sh, row_groups(1, rows * cols), 0.5, nnprune::rounding::half_even, nnprune::nan_policy::reject, &prev);
        mask alias = prev;
        o.previous = alias;
        nnprune::select_mask(view, nnprune::per_tensor{}, 0.5, alias, o);
        REQUIRE(alias == wantt);
    }
}

TEST_CASE("select: N:M with tails and previous masks", "[select][select]") {
    const std::size_t rows = 5, cols = 18;
    const auto v = quantised(rows * cols, 11, 2);
    const auto f = as<float>(v);
    const shape sh{rows, cols};
    nnprune::matrix_view<const float> view(f.data(), rows, cols);
    mask m(sh);
    REQUIRE_THROWS_WITH(nnprune::select_mask(view, nnprune::keep_n_of_m<2, 4>{}, m), Catch::Contains("not a multiple of m=4"));
    REQUIRE(m.pruned() == 0);
    for (auto tail : {nnprune::nm_tail::keep, nnprune::nm_tail::pro_rata})
        for (unsigned th : {1u, 2u}) {
            nnprune::keep_n_of_m<2, 4> g24;
            g24.tail = tail;
            nnprune::select_options o;
            o.threads = th;
            mask got(sh);
            nnprune::select_mask(view, g24, got, o);
            std::vector<char> pr(v.size(), 0);
            for (std::size_t r = 0; r < rows; ++r)
                for (std::size_t c0 = 0; c0 < cols; c0 += 4) {
                    std::vector<std::size_t> mem;
                    for (std::size_t c = c0; c < std::min(cols, c0 + 4); ++c) mem.push_back(r * cols + c);
                    const std::size_t k = mem.size() == 4 ? 2 : tail == nnprune::nm_tail::keep ? 0 : nnprune::count_to_prune(mem.size(), 0.5);
                    slow_prune(v, mem, k, nnprune::nan_policy::reject, pr);
                }
            for (std::size_t i = 0; i < v.size(); ++i) REQUIRE(got.test(i) == !pr[i]);
        }
}

TEST_CASE("select: global over mixed tensors with a minimum kept", "[select][select]") {
    tuning_guard g;
    const auto a = quantised(50, 1, 3), b = quantised(37, 2, 3), c = quantised(64, 3, 3);
    const auto fa = as<float>(a), fc = as<float>(c);
    const auto hb = as<nnprune::float16>(b);
    for (int mixed = 0; mixed < 2; ++mixed)
        for (std::size_t min_keep : {0u, 10u, 20u})
            for (unsigned th : {1u, 2u}) {
                nnprune::detail::tuning().small = th == 2 ? 4 : 2048;
                std::vector<nnprune::tensor_ref> refs{nnprune::vector_view<const float>(fa.data(), 50),
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
                struct item { double v; std::size_t t, i; };
                std::vector<item> all;
                for (std::size_t i = 0; i < 50; ++i) all.push_back({a[i], 0, i});
                for (std::size_t i = 0; i < 37; ++i) all.push_back({b[i], 1, i});
                for (std::size_t i = 0; i < 64; ++i) all.push_back({c[i], 2, i});
                std::stable_sort(all.begin(), all.end(), [](const item& x, const item& y) { return x.v < y.v; });
                std::size_t cap[3] = {50 - std::min<std::size_t>(50, min_keep), 37 - std::min<std::size_t>(37, min_keep),
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

TEST_CASE("select: blocks and channels prune whole units", "[select][select]") {
    std::vector<float> f{1, 1, 5, 5, 1, 1, 5, 5, 9, 9, 0, 0};
    nnprune::matrix_view<const float> v(f.data(), 3, 4);
    mask m(shape{3, 4});
    nnprune::select_mask(v, nnprune::blocks{2, 2, nnprune::aggregate::sum}, nnprune::exactly{2}, m);
    // blocks: (0,0)=4, (0,1)=20, (1,0)=18, (1,1)=0 -> prune blocks 3 and 0
    REQUIRE(nnprune::kept_indices(m) == std::vector<std::size_t>{2, 3, 6, 7, 8, 9});
    mask c(shape{3, 4});
    nnprune::select_mask(v, nnprune::channels{0, nnprune::aggregate::l1}, nnprune::exactly{1}, c);
    REQUIRE(nnprune::pruned_indices(c) == std::vector<std::size_t>{0, 1, 2, 3});
}

TEST_CASE("select: kth_smallest leaves the input untouched", "[select][kth]") {
    tuning_guard g;
    nnprune::detail::tuning().small = 8;
    auto v = quantised(5000, 17, 50);
    const auto f = as<float>(v);
    auto copy = f;
    auto sorted = v;
    std::sort(sorted.begin(), sorted.end());
    for (std::size_t k : {1u, 2u, 1000u, 2500u, 4999u, 5000u}) {
        nnprune::select_options o;
        o.threads = 2;
        REQUIRE(nnprune::kth_smallest(nnprune::vector_view<const float>(f.data(), f.size()), k, o) == sorted[k - 1]);
    }
    REQUIRE(f == copy);
    REQUIRE_THROWS_WITH(nnprune::kth_smallest(nnprune::vector_view<const float>(f.data(), f.size()), 0), Catch::Contains("k must be in [1, 5000]"));
}
