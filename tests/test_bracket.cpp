// SIMD kernels vs their scalar twins on odd sizes (the AVX-512 path runs in -march=native builds).
#include <catch2/catch.hpp>

#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include <nnprune/simd/bracket.hpp>
#include <nnprune/simd/kept.hpp>

TEST_CASE("bracket: simd kernels equal their scalar twins on odd sizes", "[simd][bracket]") {
    std::mt19937 g(42);
    std::uniform_int_distribution<int> d(-6, 6);
    const float nan = std::numeric_limits<float>::quiet_NaN();
    for (std::size_t n : {0u, 1u, 15u, 16u, 17u, 31u, 33u, 63u, 64u, 65u, 97u, 131u, 257u}) {
        std::vector<float> f(n);
        for (auto& x : f) x = d(g) == 6 ? nan : static_cast<float>(d(g)) * 0.5f;
        std::vector<std::uint64_t> prev(n / 64 + 2);
        for (auto& w : prev) w = (static_cast<std::uint64_t>(g()) << 32) | g();
        for (auto np : {nnprune::nan_policy::as_lowest, nnprune::nan_policy::as_highest})
            for (std::size_t bit0 : {0u, 5u})
                for (bool use_prev : {false, true}) {
                    const std::uint64_t* pv = use_prev ? prev.data() : nullptr;
                    const std::uint32_t lo = nnprune::detail::key_as<std::uint32_t>(-1.0f, np);
                    const std::uint32_t hi = nnprune::detail::key_as<std::uint32_t>(1.0f, np);
                    for (std::size_t cap : {std::size_t{0}, std::size_t{3}, n}) {
                        std::vector<std::uint32_t> a(n + 16), b(n + 16);
                        std::size_t pa = 0, pb = 0;
                        nnprune::simd::bracket_counts ca, cb;
                        nnprune::simd::bracket<std::uint32_t>(f.data(), n, 1, pv, bit0, 1, lo, hi, np, a.data(), pa, cap, ca);
                        nnprune::simd::reference::bracket<std::uint32_t>(f.data(), n, 1, pv, bit0, 1, lo, hi, np, b.data(), pb, cap, cb);
                        INFO("n " << n << " cap " << cap);
                        REQUIRE(ca.below == cb.below);
                        REQUIRE(ca.inside == cb.inside);
                        REQUIRE(ca.nans == cb.nans);
                        REQUIRE(pa == pb);
                        for (std::size_t i = 0; i < pa; ++i) REQUIRE(a[i] == b[i]);
                    }
                    for (std::size_t ties : {0u, 1u, 7u, 1000u}) {
                        const std::uint32_t kth = nnprune::detail::key_as<std::uint32_t>(0.5f, np);
                        std::vector<std::uint64_t> oa(n / 64 + 3, 0x5555), ob(n / 64 + 3, 0x5555);
                        std::size_t ta = ties, tb = ties;
                        const auto ka = nnprune::simd::write_kept<std::uint32_t>(f.data(), n, 1, pv, bit0, 1, kth, ta, np, oa.data());
                        const auto kb = nnprune::simd::reference::write_kept<std::uint32_t>(f.data(), n, 1, pv, bit0, 1, kth, tb, np, ob.data());
                        REQUIRE(ka == kb);
                        REQUIRE(ta == tb);
                        REQUIRE(oa == ob);
                    }
                }
    }
}

TEST_CASE("bits: writer keeps neighbouring bits and counts ranges", "[simd][bits]") {
    std::vector<std::uint64_t> w(4, ~std::uint64_t{0});
    nnprune::simd::bit_writer bw(w.data(), 60);
    bw.push(0, 10);
    bw.push(0b1, 64);
    bw.finish();
    REQUIRE(nnprune::simd::count_bits(w.data(), 0, 256) == 256 - 10 - 63);
    REQUIRE(nnprune::simd::load_bits(w.data(), 70, 3) == 1);
    REQUIRE(nnprune::simd::count_bits(w.data(), 60, 70) == 0);
}
