// Runs a kernel check once per vector tier the CPU supports (the tier forced with isa_guard), so
// every build, whatever its -m flags, compares each tier's kernels with their scalar twins.
#ifndef NNPRUNE_TESTS_SIMD_TIERS_HPP
#define NNPRUNE_TESTS_SIMD_TIERS_HPP

#include <catch2/catch.hpp>

#include <nnprune/simd/isa.hpp>

namespace test_util {

/// The tiers above scalar, lowest first.
inline constexpr nnprune::simd::isa vector_tiers[] = {nnprune::simd::isa::avx2, nnprune::simd::isa::avx512};

/// Calls check(tier) with each vector tier the CPU supports in force; WARNs for each it lacks.
template <class F>
void for_each_vector_tier(F&& check) {
    for (const auto t : vector_tiers) {
        if (!nnprune::simd::supports(t)) {
            WARN("tier " << nnprune::simd::isa_name(t) << " not tested: the CPU or the build lacks it");
            continue;
        }
        const nnprune::simd::isa_guard tier(t);
        INFO("tier " << nnprune::simd::isa_name(t));
        check(t);
    }
}

/// for_each_vector_tier, then check(isa::scalar) under the scalar tier (for checks that also test
/// the scalar twin against a definition, so a build without vector tiers still runs them).
template <class F>
void for_each_tier(F&& check) {
    for_each_vector_tier(check);
    const nnprune::simd::isa_guard tier(nnprune::simd::isa::scalar);
    INFO("tier scalar");
    check(nnprune::simd::isa::scalar);
}

}  // namespace test_util

#endif  // NNPRUNE_TESTS_SIMD_TIERS_HPP
