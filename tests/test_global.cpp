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
