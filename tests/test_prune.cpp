#include <cmath>
#include <vector>

#include <catch2/catch.hpp>

#include "prune_test_util.hpp"
#include <nnprune/core/element.hpp>
#include <nnprune/prune/prune.hpp>
#include <nnprune/scorers/magnitude.hpp>
#include <nnprune/scorers/wanda.hpp>

using namespace nnprune;

TEST_CASE("prune: mixed element types and ranks, report, apply in place", "[prune][prune]") {
    auto a = test_util::values(6 * 8, 1);
    std::vector<float16> h;
    for (float x : test_util::values(4 * 8, 2)) h.emplace_back(x);
    std::vector<double> conv(3 * 2 * 2 * 2);
    for (std::size_t i = 0; i < conv.size(); ++i) conv[i] = static_cast<double>(i % 5) - 2.0;
    std::vector<layer> L{test_util::make_layer("fc", a, 6, 8),
                         {"half", matrix_view<float16>(h.data(), 4, 8), {}, {}},
                         {"conv", tensor_view<double, 4>(conv.data(), 3, 2, 2, 2), {}, {}}};
    prune_options o;
    o.apply = true;
    const auto r = prune(L, magnitude, per_row{}, 0.5, o);
    REQUIRE(r.masks.size() == 3);
    REQUIRE(r.masks[2].shape() == shape{3, 2, 2, 2});
    REQUIRE(r.layers[0].kept == 24);
    REQUIRE(r.layers[1].kept == 16);
    REQUIRE(r.layers[2].kept == 12);
    REQUIRE(r.layers[2].target == 0.5);
    REQUIRE(r.sparsity() == Approx(0.5));
    for (std::size_t i = 0; i < a.size(); ++i) REQUIRE((a[i] == 0.0f) == !r.masks[0].test(i));
    for (std::size_t i = 0; i < conv.size(); ++i)
        if (!r.masks[2].test(i)) REQUIRE(conv[i] == 0.0);
    // kth score = the largest pruned score among all rows
    double mx = 0;
    for (std::size_t i = 0; i < 48; ++i)
        if (!r.masks[0].test(i)) mx = std::max(mx, static_cast<double>(std::fabs(test_util::values(48, 1)[i])));
    REQUIRE(r.layers[0].kth_score == Approx(mx));
}

TEST_CASE("prune: every bad input throws a clear error and leaves every tensor untouched", "[prune][prune]") {
    auto w = test_util::values(4 * 8, 3), v = test_util::values(4 * 8, 4);
    std::vector<float> stat(8, 1.0f), grad(32, 0.5f);
    const auto wb = test_util::bytes_of(w), vb = test_util::bytes_of(v);
    auto make = [&] {
        std::vector<layer> L{test_util::make_layer("q", w, 4, 8), test_util::make_layer("k", v, 4, 8)};
        for (auto& l : L) l.input_stat = vector_view<const float>(stat.data(), 8);
        return L;
    };
    prune_options o;
    o.apply = true;
    auto check = [&](auto&& fn, const char* msg) {
        REQUIRE_THROWS_WITH(fn(), Catch::Contains(msg));
        REQUIRE(test_util::bytes_of(w) == wb);
        REQUIRE(test_util::bytes_of(v) == vb);
    };
    check([&] { return prune(std::vector<layer>{}, magnitude, per_row{}, 0.5, o); }, "prune: empty layer list");
    check(
        [&] {
            auto L = make();
            L[1].name = "q";
            return prune(L, magnitude, per_row{}, 0.5, o);
        },
        "duplicate layer name 'q'");
    check([&] { return prune(make(), magnitude, per_row{}, 1.5, o); }, "sparsity must be in [0, 1], got 1.5");
    check([&] { return prune(make(), magnitude, per_row{}, -0.1, o); }, "sparsity must be in [0, 1]");
    check(
        [&] {
            auto L = make();
            L[1].input_stat = vector_view<const float>(stat.data(), 7);
            return prune(L, wanda, per_row{}, 0.5, o);
        },
        "layer 'k': input statistic has 7 elements");
    check(
        [&] {
            auto L = make();
            L[0].gradient = matrix_view<const float>(grad.data(), 8, 4);
            return prune(L, magnitude, per_row{}, 0.5, o);
        },
        "layer 'q': gradient has shape 8x4, weights have 4x8");
    check(
        [&] {
            auto L = make();
            L[1].input_stat.reset();
            return prune(L, wanda, per_row{}, 0.5, o);
        },
        "layer 'k' has no input statistic");
    check([&] { return prune(make(), wanda, wanda_n_of_m(2, 3), o); }, "not a multiple of m");
    {
        const float keep = v[5];
        v[5] = std::nanf("");
        const auto vb2 = test_util::bytes_of(v);
        REQUIRE_THROWS_WITH(prune(make(), magnitude, per_row{}, 0.5, o),
                            Catch::Contains("layer 'k': weights has NaN at flat index 5"));
        REQUIRE(test_util::bytes_of(w) == wb);
        REQUIRE(test_util::bytes_of(v) == vb2);
        // with a NaN policy the NaN is scored as the lowest and pruned first
        prune_options p;
        p.nans = nan_policy::as_lowest;
        const auto r = prune(make(), magnitude, per_row{}, 0.25, p);
        REQUIRE_FALSE(r.masks[1].test(5));
        v[5] = keep;
    }
    {
        stat[3] = INFINITY;
        REQUIRE_THROWS_WITH(prune(make(), wanda, per_row{}, 0.5, o),
                            Catch::Contains("layer 'q': input statistic has Inf at flat index 3"));
        REQUIRE(test_util::bytes_of(w) == wb);
        stat[3] = 1.0f;
        grad[7] = std::nanf("");
        auto L = make();
        L[1].gradient = matrix_view<const float>(grad.data(), 4, 8);
        REQUIRE_THROWS_WITH(prune(L, magnitude, per_row{}, 0.5, o),
                            Catch::Contains("layer 'k': gradient has NaN at flat index 7"));
        REQUIRE(test_util::bytes_of(v) == vb);
    }
    {
        std::vector<layer> L{{"ro", matrix_view<const float>(w.data(), 4, 8), {}, {}}};
        check([&] { return prune(L, magnitude, per_row{}, 0.5, o); },
              "layer 'ro': weights are read-only but apply was asked");
    }
    {
        mask wrong(shape{8, 4});
        const const_mask_view pv[] = {wrong.view(), wrong.view()};
        prune_options q = o;
        q.previous = pv;
        check([&] { return prune(make(), magnitude, per_row{}, 0.5, q); },
              "layer 'q': previous mask has 8x4 elements, weights have 4x8");
    }
}

TEST_CASE("prune: iterative with previous masks prunes a fraction of the remaining", "[prune][prune]") {
    auto w = test_util::values(100, 9);
    std::vector<layer> L{test_util::make_layer("fc", w, 1, 100)};
    auto r1 = prune(L, magnitude, per_tensor{}, 0.5);
    const const_mask_view prev[] = {r1.masks[0].view()};
    prune_options o;
    o.previous = prev;
    auto r2 = prune(L, magnitude, per_tensor{}, 0.5, o);
    REQUIRE(r2.layers[0].kept == 25);
    for (std::size_t i = 0; i < 100; ++i)
        if (!r1.masks[0].test(i)) REQUIRE_FALSE(r2.masks[0].test(i));
}

TEST_CASE("prune: a scratch buffer is reused across calls and gives identical masks", "[prune][prune]") {
    auto a = test_util::values(6 * 10, 1), b = test_util::values(3 * 20, 2);
    std::vector<layer> L{test_util::make_layer("a", a, 6, 10), test_util::make_layer("b", b, 3, 20)};
    const auto want = prune(L, magnitude, per_row{}, 0.3);
    std::vector<float> scratch;
    prune_options o;
    o.scratch = &scratch;
    for (int rep = 0; rep < 2; ++rep) {
        const auto got = prune(L, magnitude, per_row{}, 0.3, o);
        REQUIRE(got.masks == want.masks);
        REQUIRE(scratch.capacity() >= 60);
    }
    const auto g = prune(L, magnitude, per_tensor{}, global{0.3}, o);
    REQUIRE(g.masks == prune(L, magnitude, per_tensor{}, global{0.3}).masks);
    const auto nm = prune(L, magnitude, keep_n_of_m<2, 5>{}, o);
    REQUIRE(nm.masks == prune(L, magnitude, keep_n_of_m<2, 5>{}).masks);
}
