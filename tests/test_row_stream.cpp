#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "prune_test_util.hpp"
#include "simd_tiers.hpp"
#include <nnprune/core/element.hpp>
#include <nnprune/prune/prune.hpp>
#include <nnprune/prune/row_stream.hpp>
#include <nnprune/scorers/magnitude.hpp>
#include <nnprune/scorers/random.hpp>
#include <nnprune/scorers/wanda.hpp>

using namespace nnprune;

namespace {

/// A scorer that is not row-local (no trait): forces prune()'s generic path (whole-layer scores,
/// select_mask, apply) with the same scores as the wrapped library scorer.
template <class S>
struct generic_of {
    S s;

    void operator()(const layer& l, matrix_view<float> out) const { s(l, out); }
};

/// Weights of type T, rows x cols in rows of `stride` >= cols elements (the padding is never
/// part of the view), plus an f32 gradient (also strided) and a positive statistic.
template <class T>
struct test_layer {
    std::size_t rows, cols, stride;
    std::vector<T> w;
    std::vector<float> g, stat;

    test_layer(std::size_t r, std::size_t c, std::size_t pad, std::uint64_t seed, bool ties)
        : rows(r), cols(c), stride(c + pad) {
        const auto v = ties ? test_util::tied_values(r * stride, seed, 6) : test_util::values(r * stride, seed);
        for (float x : v) w.push_back(T(x));
        g = test_util::values(r * stride, seed + 1);
        for (float x : test_util::values(c, seed + 2)) stat.push_back(std::fabs(x) + (ties ? 0.0f : 0.01f));
    }

    [[nodiscard]] layer view(const std::string& name) {
        const std::array<std::size_t, 2> ext{rows, cols};
        const std::array<std::ptrdiff_t, 2> str{static_cast<std::ptrdiff_t>(stride), 1};
        return layer{name, matrix_view<T>(w.data(), ext, str), vector_view<const float>(stat.data(), cols),
                     tensor_ref(matrix_view<const float>(g.data(), ext, str))};
    }
};

bool same_double(double a, double b) { return (std::isnan(a) && std::isnan(b)) || a == b; }

void require_same(const prune_result& a, const prune_result& b) {
    REQUIRE(a.masks.size() == b.masks.size());
    for (std::size_t i = 0; i < a.masks.size(); ++i) {
        INFO("layer " << i);
        REQUIRE(a.masks[i].shape() == b.masks[i].shape());
        REQUIRE(a.masks[i].view().equals(b.masks[i].view()));
        REQUIRE(a.layers[i].kept == b.layers[i].kept);
        REQUIRE(a.layers[i].sparsity == b.layers[i].sparsity);
        REQUIRE(same_double(a.layers[i].target, b.layers[i].target));
        REQUIRE(same_double(a.layers[i].kth_score, b.layers[i].kth_score));
        REQUIRE(a.layers[i].excluded == b.layers[i].excluded);
    }
}

/// Prunes two identical copies of the layers, one through the streaming path (the library scorer)
/// and one through the generic path; masks, reports and weights must be identical.
template <class T, class S, class Alloc>
void check_same(const S& s, std::vector<test_layer<T>> copy_a, const Alloc& alloc, prune_options o) {
    const auto orig = copy_a;
    auto copy_b = copy_a;
    std::vector<layer> la, lb;
    for (std::size_t i = 0; i < copy_a.size(); ++i) {
        la.push_back(copy_a[i].view("L" + std::to_string(i)));
        lb.push_back(copy_b[i].view("L" + std::to_string(i)));
    }
    const auto ra = prune(la, s, per_row{}, alloc, o);
    const auto rb = prune(lb, generic_of<S>{s}, per_row{}, alloc, o);
    require_same(ra, rb);
    for (std::size_t i = 0; i < copy_a.size(); ++i) {
        REQUIRE(test_util::bytes_of(copy_a[i].w) == test_util::bytes_of(copy_b[i].w));
        // and against the originals: pruned elements are +0, everything else (padding too) as it was
        const auto& t = orig[i];
        std::size_t wrong = 0;
        const T zero{};
        for (std::size_t r = 0; r < t.rows; ++r)
            for (std::size_t c = 0; c < t.stride; ++c) {
                const std::size_t at = r * t.stride + c;
                const bool pruned = o.apply && c < t.cols && !ra.masks[i].test(r * t.cols + c);
                wrong += std::memcmp(&copy_a[i].w[at], pruned ? &zero : &t.w[at], sizeof(T)) != 0;
            }
        REQUIRE(wrong == 0);
    }
}

template <class T, class S>
void grid(const S& s) {
    // rows shorter and longer than the row_selector's 4096-element sample; several row blocks
    // (block = 65536 / cols rows); padded (strided) rows or not; ties or not
    unsigned variant = 0;
    for (bool strided : {false, true})
        for (bool ties : {false, true})
            for (double sp : {0.0, 0.5, 1.0}) {
                std::vector<test_layer<T>> ls;
                ls.emplace_back(7, 37, strided ? 3 : 0, 11 + variant, ties);
                // every third variant: 17 rows, two row blocks of 15 and 2 (kept small otherwise)
                ls.emplace_back(variant % 3 == 1 ? 17 : 3, 4200, strided ? 5 : 0, 23 + variant, ties);
                prune_options o;
                o.round = variant % 2 ? rounding::truncate : rounding::half_even;
                o.apply = (variant / 2) % 2 == 0;
                o.threads = variant % 3 == 0 ? 2 : 1;
                INFO("strided " << strided << " ties " << ties << " sparsity " << sp << " variant " << variant);
                check_same<T>(s, ls, uniform{sp}, o);
                ++variant;
            }
}

template <class S>
void grid_all_types(const S& s) {
    grid<float>(s);
    grid<double>(s);
    grid<bfloat16>(s);
    grid<float16>(s);
}

}  // namespace

TEST_CASE("row_stream: the streaming path gives the generic path's masks, reports and weights", "[prune][row_stream]") {
    SECTION("magnitude") { grid_all_types(magnitude); }
    SECTION("magnitude squared") { grid<float>(magnitude_scorer{true}); }
    SECTION("wanda") { grid_all_types(wanda); }
    SECTION("taylor") { grid_all_types(taylor); }
    SECTION("gblm") { grid_all_types(gblm); }
    SECTION("gblm inverse") { grid<bfloat16>(gblm_scorer{true}); }
}

TEST_CASE("row_stream: two threads split the rows and give the one-thread result", "[prune][row_stream]") {
    // 33 rows of 4100: 15-row blocks, two parts of 16 and 17 rows
    for (int ties = 0; ties < 2; ++ties) {
        std::vector<test_layer<float>> ls;
        ls.emplace_back(33, 4100, 0, 5, ties == 1);
        std::vector<test_layer<bfloat16>> lh;
        lh.emplace_back(33, 4100, 2, 6, ties == 1);
        for (unsigned th : {1u, 2u, 3u}) {
            prune_options o;
            o.apply = true;
            o.threads = th;
            o.round = rounding::truncate;
            check_same<float>(wanda, ls, uniform{0.5}, o);
            check_same<bfloat16>(gblm, lh, uniform{0.3}, o);
        }
        // the streamed result does not depend on the thread count
        std::vector<layer> a{ls[0].view("a")};
        prune_options o1, o2;
        o2.threads = 2;
        REQUIRE(prune(a, wanda, per_row{}, 0.5, o1)
                    .masks[0]
                    .view()
                    .equals(prune(a, wanda, per_row{}, 0.5, o2).masks[0].view()));
    }
}

TEST_CASE("row_stream: per_layer with an excluded layer and an override", "[prune][row_stream]") {
    std::vector<test_layer<float>> ls;
    ls.emplace_back(9, 50, 0, 1, false);
    ls.emplace_back(6, 70, 4, 2, true);
    ls.emplace_back(5, 4099, 0, 3, false);
    for (bool apply : {false, true}) {
        prune_options o;
        o.apply = apply;
        o.filter.exclude = {"L1"};
        o.filter.overrides = {{"L2", 0.75}};
        check_same<float>(taylor, ls, per_layer{{0.25, 0.5, 0.1}}, o);
        auto copy = ls;
        std::vector<layer> l{copy[0].view("L0"), copy[1].view("L1"), copy[2].view("L2")};
        const auto r = prune(l, taylor, per_row{}, per_layer{{0.25, 0.5, 0.1}}, o);
        REQUIRE(r.layers[1].excluded);
        REQUIRE(r.masks[1].count() == 6 * 70);
        REQUIRE(r.layers[0].target == 0.25);
        REQUIRE(r.layers[2].target == 0.75);
        REQUIRE(r.layers[2].kept == 5 * (4099 - count_to_prune(4099, 0.75)));
        REQUIRE(test_util::bytes_of(copy[1].w) == test_util::bytes_of(ls[1].w));  // excluded: untouched
    }
}

TEST_CASE("row_stream: NaN weights under as_lowest and as_highest", "[prune][row_stream]") {
    for (auto np : {nan_policy::as_lowest, nan_policy::as_highest}) {
        std::vector<test_layer<float>> ls;
        ls.emplace_back(4, 4500, 0, 7, false);
        ls.emplace_back(3, 40, 1, 8, true);
        const float nan = std::numeric_limits<float>::quiet_NaN();
        for (std::size_t j = 0; j < 4500; j += 7) ls[0].w[j] = nan;  // row 0: many NaN
        ls[0].w[2 * 4500 + 11] = nan;
        ls[1].w[41 + 3] = nan;
        std::vector<test_layer<bfloat16>> lh;
        lh.emplace_back(3, 40, 0, 9, false);
        lh[0].w[5] = bfloat16(nan);
        for (bool apply : {false, true}) {
            prune_options o;
            o.nans = np;
            o.apply = apply;
            check_same<float>(wanda, ls, uniform{0.5}, o);
            check_same<float>(magnitude, ls, uniform{0.5}, o);
            check_same<bfloat16>(gblm, lh, uniform{0.5}, o);
        }
    }
}

TEST_CASE("row_stream: an error leaves every weight untouched", "[prune][row_stream]") {
    std::vector<test_layer<float>> ls;
    ls.emplace_back(5, 60, 0, 1, false);
    ls.emplace_back(4, 50, 2, 2, false);
    const auto orig = ls;
    prune_options o;
    o.apply = true;
    SECTION("NaN in the second layer's weights (reject): caught by the finiteness check") {
        ls[1].w[60] = std::numeric_limits<float>::quiet_NaN();
        std::vector<layer> l{ls[0].view("a"), ls[1].view("b")};
        REQUIRE_THROWS_WITH(prune(l, wanda, per_row{}, 0.5, o),
                            Catch::Contains("prune: layer 'b': weights has NaN at flat index 58"));
        REQUIRE(test_util::bytes_of(ls[0].w) == test_util::bytes_of(orig[0].w));
    }
    SECTION("a negative statistic gives NaN scores in the second layer (reject)") {
        ls[1].stat[3] = -1.0f;
        std::vector<layer> l{ls[0].view("a"), ls[1].view("b")};
        REQUIRE_THROWS_WITH(prune(l, wanda, per_row{}, 0.5, o),
                            Catch::Contains("select_mask(per_row): NaN score at flat index 3 of tensor 'b'"));
        REQUIRE(test_util::bytes_of(ls[0].w) == test_util::bytes_of(orig[0].w));
        REQUIRE(test_util::bytes_of(ls[1].w) == test_util::bytes_of(orig[1].w));
        // same message as the generic path
        REQUIRE_THROWS_WITH(prune(l, generic_of<wanda_scorer>{}, per_row{}, 0.5, o),
                            Catch::Contains("select_mask(per_row): NaN score at flat index 3 of tensor 'b'"));
    }
    SECTION("float64 weights beyond float range meet a zero statistic: Inf * 0 (reject)") {
        std::vector<test_layer<double>> ld;
        ld.emplace_back(3, 20, 0, 3, false);
        ld[0].w[25] = 1e300;
        ld[0].stat[5] = 0.0f;
        const auto before = ld;
        std::vector<layer> l{ls[0].view("a"), ld[0].view("d")};
        REQUIRE_THROWS_WITH(prune(l, wanda, per_row{}, 0.5, o),
                            Catch::Contains("NaN score at flat index 25 of tensor 'd'"));
        REQUIRE(test_util::bytes_of(ls[0].w) == test_util::bytes_of(orig[0].w));
        REQUIRE(test_util::bytes_of(ld[0].w) == test_util::bytes_of(before[0].w));
    }
}

TEST_CASE("row_stream: the caller's scratch buffer is kept and reused", "[prune][row_stream]") {
    std::vector<test_layer<float>> ls;
    ls.emplace_back(40, 3000, 0, 4, false);
    std::vector<layer> l{ls[0].view("a")};
    std::vector<float> scratch;
    prune_options o;
    o.scratch = &scratch;
    const auto r1 = prune(l, wanda, per_row{}, 0.5, o);
    REQUIRE(scratch.size() >= 21 * 3000);  // one block of 65536 / 3000 rows
    const auto r2 = prune(l, wanda, per_row{}, 0.5, o);
    REQUIRE(r1.masks[0].view().equals(r2.masks[0].view()));
}

TEST_CASE("row_stream: scorer traits", "[prune][row_stream]") {
    STATIC_REQUIRE(row_local_scorer<magnitude_scorer>);
    STATIC_REQUIRE(row_local_scorer<taylor_scorer>);
    STATIC_REQUIRE(row_local_scorer<wanda_scorer>);
    STATIC_REQUIRE(row_local_scorer<gblm_scorer>);
    STATIC_REQUIRE(finite_scorer<wanda_scorer>);
    STATIC_REQUIRE(!row_local_scorer<random_scorer>);
    STATIC_REQUIRE(!row_local_scorer<generic_of<wanda_scorer>>);
    STATIC_REQUIRE(!finite_scorer<generic_of<wanda_scorer>>);
}

template <class T>
void check_zero_kernel() {
    for (std::size_t cols : {0u, 1u, 15u, 16u, 17u, 31u, 33u, 63u, 64u, 65u, 127u, 131u, 200u}) {
        splitmix64 g(cols + 1);
        std::vector<std::uint64_t> kept((cols + 63) / 64 + 1);
        for (auto& w : kept) w = g() & g();  // mostly pruned; the bits past cols are random too
        for (std::ptrdiff_t s : {1, 3}) {
            std::vector<T> a, b;
            for (std::size_t j = 0; j < cols * static_cast<std::size_t>(s) + 64; ++j)
                a.push_back(T(static_cast<float>(j) + 1.0f));
            b = a;
            simd::reference::zero_pruned_row(b.data(), s, cols, kept.data());
            test_util::for_each_vector_tier([&](simd::isa) {
                auto t = a;
                simd::zero_pruned_row(t.data(), s, cols, kept.data());
                INFO("cols " << cols << " stride " << s);
                REQUIRE(test_util::bytes_of(t) == test_util::bytes_of(b));
            });
            a = b;
            std::size_t wrong = 0;
            for (std::size_t j = 0; j < a.size(); ++j) {
                const bool in = j % static_cast<std::size_t>(s) == 0 && j / static_cast<std::size_t>(s) < cols;
                const std::size_t c = j / static_cast<std::size_t>(s);
                const bool zeroed = in && !((kept[c / 64] >> (c % 64)) & 1u);
                wrong += (to_float(a[j]) == 0.0f) != zeroed;
            }
            REQUIRE(wrong == 0);
        }
    }
}

TEST_CASE("row_stream: zero_pruned_row matches its scalar twin", "[prune][row_stream]") {
    check_zero_kernel<float>();
    check_zero_kernel<double>();
    check_zero_kernel<bfloat16>();
    check_zero_kernel<float16>();
}

TEST_CASE("row_stream: a gradient without a matrix interpretation goes the generic path", "[prune][row_stream]") {
    // rank-3 gradient whose trailing dimensions cannot merge (stride 8 over an extent of 4)
    auto w = test_util::values(2 * 3 * 4, 1);
    const auto w0 = w;
    const auto g = test_util::values(48, 2);
    auto w2 = test_util::values(6 * 9, 3);
    layer l{"conv",
            tensor_view<float, 3>(w.data(), 2, 3, 4),
            {},
            tensor_ref(tensor_view<const float, 3>(g.data(), {2, 3, 4}, {24, 8, 1}))};
    std::vector<layer> L{test_util::make_layer("fc", w2, 6, 9), l};
    prune_options o;
    o.apply = true;
    // magnitude ignores the gradient: pruned as usual
    const auto r = prune(L, magnitude, per_row{}, 0.5, o);
    REQUIRE(r.layers[1].kept == 12);
    for (std::size_t i = 0; i < w.size(); ++i) REQUIRE((w[i] == 0.0f) == !r.masks[1].test(i));
    // taylor needs it: the scorer's shape error, nothing written
    std::copy(w0.begin(), w0.end(), w.begin());
    const auto w2_before = test_util::values(6 * 9, 3);
    std::copy(w2_before.begin(), w2_before.end(), w2.begin());
    const auto g2 = test_util::values(6 * 9, 4);
    L[0].gradient = matrix_view<const float>(g2.data(), 6, 9);  // fc streams, but must not be zeroed first
    REQUIRE_THROWS_WITH(prune(L, taylor, per_row{}, 0.5, o), Catch::Contains("cannot be merged"));
    REQUIRE(w == w0);
    REQUIRE(w2 == w2_before);
}
