// Order keys through selection: NaN policies, infinities, signed zeros.
#include <catch2/catch.hpp>

#include "select_reference.hpp"

namespace {
using namespace select_test;
using nnprune::mask;
using nnprune::shape;
}  // namespace

TEST_CASE("keys: NaN policies and +-Inf, -0 equals +0", "[select][keys]") {
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
    nnprune::select_mask(nnprune::vector_view<const float>(z.data(), 3), nnprune::per_tensor{}, nnprune::exactly{1},
                         mz);
    REQUIRE(nnprune::pruned_indices(mz) == std::vector<std::size_t>{0});
}
