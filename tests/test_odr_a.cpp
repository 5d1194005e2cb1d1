// ODR check: this unit (no -m flag) and test_odr_b.cpp (-march=x86-64-v4 where the compiler can)
// include the same headers and run the same kernels. Each must get its own kernels (the ABI
// namespace of simd/isa.hpp keeps their symbols apart), each must run on a tier the CPU
// supports, and both must compute the same bits on every tier.
#include <catch2/catch.hpp>

#include "odr_kernels.hpp"
#include "simd_tiers.hpp"

bool nnprune_odr_b_is_v4();
std::string nnprune_odr_b_abi();
odr_test::result nnprune_odr_b_run();

TEST_CASE("odr: a baseline unit and an x86-64-v4 unit run their own kernels, with equal results", "[odr][simd]") {
    REQUIRE(nnprune::simd::supports(nnprune::simd::active_isa()));
    const auto want = [] {
        const nnprune::simd::isa_guard tier(nnprune::simd::isa::scalar);
        return odr_test::run_kernels();
    }();
    REQUIRE(want.values.size() > 1000);
    test_util::for_each_vector_tier(
        [&](nnprune::simd::isa) { REQUIRE(odr_test::run_kernels().values == want.values); });
    if (!nnprune_odr_b_is_v4()) {
        WARN("the second unit is not built for x86-64-v4 (compiler or target): both units are baseline");
        REQUIRE(nnprune_odr_b_abi() == want.abi);
    } else {
        REQUIRE(nnprune_odr_b_abi() != want.abi);  // distinct symbols for the two units' kernels
    }
    if (nnprune_odr_b_is_v4() && !nnprune::simd::supports(nnprune::simd::isa::avx512)) {
        WARN("the CPU lacks AVX-512: the x86-64-v4 unit is not run");
        return;
    }
    test_util::for_each_tier([&](nnprune::simd::isa) { REQUIRE(nnprune_odr_b_run().values == want.values); });
}

TEST_CASE("odr: two units instantiating the same selection templates agree", "[odr]") {
    std::vector<float> a{1, -2, 3, -4, 5, 6, -7, 8};
    nnprune::mask m(nnprune::shape{2, 4});
    nnprune::select_mask(nnprune::tensor_ref(nnprune::matrix_view<float>(a.data(), 2, 4)), nnprune::per_row{}, 0.5, m);
    nnprune::apply(nnprune::matrix_view<float>(a.data(), 2, 4), m);
    REQUIRE(m.count() == 4);
    REQUIRE(a == std::vector<float>{1, 0, 3, 0, 0, 6, 0, 8});  // raw values as scores: 2 lowest per row
}
