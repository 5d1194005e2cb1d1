// SIMD kernels vs their scalar twins on odd sizes, on every tier the CPU supports.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include <catch2/catch.hpp>

#include "simd_tiers.hpp"
#include <nnprune/simd/bracket.hpp>
#include <nnprune/simd/kept.hpp>

namespace {
// The bracket and mask kernels of score type T against their scalar twins: odd sizes, NaN of
// either sign, -0, -Inf, ties, both NaN orders, bit offsets, a previous mask, candidate caps.
template <class T>
void check_twins() {
    using K = nnprune::detail::key_of_t<T>;
    std::mt19937 g(7);
    for (std::size_t n : {0u, 1u, 15u, 16u, 17u, 31u, 32u, 33u, 63u, 64u, 65u, 97u, 131u, 257u, 1000u}) {
        std::vector<T> v(n);
        for (auto& x : v) {
            const auto r = g() % 20;
            if (r == 0)
                x = T(std::copysign(std::numeric_limits<float>::quiet_NaN(), g() % 2 ? 1.0f : -1.0f));
            else if (r == 1)
                x = T(-0.0f);
            else if (r == 2)
                x = T(-std::numeric_limits<float>::infinity());
            else
                x = T(static_cast<float>(static_cast<int>(g() % 13) - 6) * 0.5f);
        }
        std::vector<std::uint64_t> prev(n / 64 + 2);
        for (auto& w : prev) w = (static_cast<std::uint64_t>(g()) << 32) | g();
        for (auto np : {nnprune::nan_policy::as_lowest, nnprune::nan_policy::as_highest})
            for (std::size_t bit0 : {0u, 5u})
                for (bool use_prev : {false, true}) {
                    const std::uint64_t* pv = use_prev ? prev.data() : nullptr;
                    const K lo = nnprune::detail::key_as<K>(T(-1.0f), np), hi = nnprune::detail::key_as<K>(T(1.0f), np);
                    for (std::size_t cap :
                         {std::size_t{0}, std::size_t{3}, std::min<std::size_t>(40, n), n}) {  // out holds cap + 16
                        std::vector<K> a(n + 16), b(n + 16);
                        std::size_t pa = 0, pb = 0;
                        nnprune::simd::bracket_counts ca, cb;
                        nnprune::simd::bracket<K>(v.data(), n, 1, pv, bit0, 1, lo, hi, np, a.data(), pa, cap, ca);
                        nnprune::simd::reference::bracket<K>(v.data(), n, 1, pv, bit0, 1, lo, hi, np, b.data(), pb, cap,
                                                             cb);
                        INFO("n " << n << " cap " << cap << " prev " << use_prev);
                        REQUIRE(ca.below == cb.below);
                        REQUIRE(ca.inside == cb.inside);
                        REQUIRE(ca.nans == cb.nans);
                        REQUIRE(pa == pb);
                        for (std::size_t i = 0; i < pa; ++i) REQUIRE(a[i] == b[i]);
                    }
                    for (std::size_t ties : {0u, 1u, 7u, 1000u}) {
                        const K kth = nnprune::detail::key_as<K>(T(0.5f), np);
                        std::vector<std::uint64_t> oa(n / 64 + 3, 0x5555), ob(n / 64 + 3, 0x5555);
                        std::size_t ta = ties, tb = ties;
                        const auto ka =
                            nnprune::simd::write_kept<K>(v.data(), n, 1, pv, bit0, 1, kth, ta, np, oa.data());
                        const auto kb = nnprune::simd::reference::write_kept<K>(v.data(), n, 1, pv, bit0, 1, kth, tb,
                                                                                np, ob.data());
                        REQUIRE(ka == kb);
                        REQUIRE(ta == tb);
                        REQUIRE(oa == ob);
                    }
                }
    }
}
}  // namespace

TEST_CASE("bracket: simd kernels equal their scalar twins on odd sizes, every tier", "[simd][bracket]") {
    test_util::for_each_vector_tier([](nnprune::simd::isa) { check_twins<float>(); });
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

TEST_CASE("bracket: counters and the candidate cap across 64Ki-element chunks; to_keys twin", "[simd][bracket]") {
    test_util::for_each_vector_tier([&](nnprune::simd::isa) {
        std::mt19937 g(9);
        std::uniform_int_distribution<int> d(-50, 50);
        const std::size_t n = (std::size_t{1} << 17) + 37;
        std::vector<float> f(n);
        for (auto& x : f) x = static_cast<float>(d(g)) * 0.25f;
        f[70001] = std::numeric_limits<float>::quiet_NaN();
        const auto np = nnprune::nan_policy::as_lowest;
        const std::uint32_t lo = nnprune::detail::key_as<std::uint32_t>(-1.0f, np),
                            hi = nnprune::detail::key_as<std::uint32_t>(2.0f, np);
        for (std::size_t cap : {std::size_t{0}, std::size_t{5000}, std::size_t{70000}, n}) {
            std::vector<std::uint32_t> a(n + 16), b(n + 16);
            std::size_t pa = 0, pb = 0;
            nnprune::simd::bracket_counts ca, cb;
            nnprune::simd::bracket<std::uint32_t>(f.data(), n, 1, nullptr, 0, 1, lo, hi, np, a.data(), pa, cap, ca);
            nnprune::simd::reference::bracket<std::uint32_t>(f.data(), n, 1, nullptr, 0, 1, lo, hi, np, b.data(), pb,
                                                             cap, cb);
            INFO("cap " << cap);
            REQUIRE(ca.below == cb.below);
            REQUIRE(ca.inside == cb.inside);
            REQUIRE(ca.nans == 1);
            REQUIRE(cb.nans == 1);
            REQUIRE(pa == pb);
            REQUIRE(std::equal(a.begin(), a.begin() + static_cast<std::ptrdiff_t>(pa), b.begin()));
        }
        for (std::size_t m : {0u, 1u, 15u, 16u, 17u, 97u, 70003u})
            for (auto p : {nnprune::nan_policy::as_lowest, nnprune::nan_policy::as_highest}) {
                std::vector<std::uint32_t> a(m + 1), b(m + 1);
                std::uint32_t amin = 7, amax = 7, bmin = 9, bmax = 9;
                const auto na = nnprune::simd::to_keys<std::uint32_t>(f.data(), m, p, a.data(), amin, amax);
                const auto nb = nnprune::simd::reference::to_keys<std::uint32_t>(f.data(), m, p, b.data(), bmin, bmax);
                REQUIRE(na == nb);
                REQUIRE(a == b);
                if (m) {
                    REQUIRE(amin == bmin);
                    REQUIRE(amax == bmax);
                }
            }
    });
}

TEST_CASE("kept: write_kept_columns equals its scalar twin on odd sizes", "[simd][kept]") {
    test_util::for_each_vector_tier([&](nnprune::simd::isa) {
        std::mt19937 g(11);
        std::uniform_int_distribution<int> d(-3, 3);
        for (std::size_t n : {0u, 1u, 15u, 16u, 17u, 63u, 64u, 65u, 131u})
            for (auto np : {nnprune::nan_policy::as_lowest, nnprune::nan_policy::as_highest})
                for (std::size_t bit0 : {0u, 7u}) {
                    std::vector<float> f(n);
                    for (auto& x : f)
                        x = d(g) == 3 ? std::numeric_limits<float>::quiet_NaN() : static_cast<float>(d(g));
                    std::vector<std::uint32_t> kth(n), lim(n);
                    for (std::size_t c = 0; c < n; ++c) {
                        kth[c] = nnprune::detail::key_as<std::uint32_t>(static_cast<float>(d(g)), np);
                        lim[c] = static_cast<std::uint32_t>(g() % 4);
                    }
                    for (std::uint32_t row : {0u, 2u, 5u}) {
                        std::vector<std::uint64_t> a(n / 64 + 3, 0x77), b(n / 64 + 3, 0x77);
                        nnprune::simd::bit_writer wa(a.data(), bit0), wb(b.data(), bit0);
                        const auto ka = nnprune::simd::write_kept_columns<std::uint32_t>(f.data(), n, row, kth.data(),
                                                                                         lim.data(), np, wa);
                        const auto kb = nnprune::simd::reference::write_kept_columns<std::uint32_t>(
                            f.data(), n, row, kth.data(), lim.data(), np, wb);
                        wa.finish();
                        wb.finish();
                        REQUIRE(ka == kb);
                        REQUIRE(a == b);
                    }
                }
    });
}

TEST_CASE("bracket: sample_keys matches its scalar twin (runs of 16, one per interval)", "[simd][bracket]") {
    test_util::for_each_vector_tier([&](nnprune::simd::isa) {
        for (std::size_t blocks : {1u, 3u, 64u}) {
            for (std::size_t spacing : {16u, 17u, 172u}) {
                const std::size_t n = blocks * spacing;
                std::mt19937 g(static_cast<std::uint32_t>(n));
                std::vector<float> f(n);
                for (auto& x : f)
                    x = g() % 50 == 0 ? std::numeric_limits<float>::quiet_NaN()
                                      : static_cast<float>(static_cast<int>(g() % 2001) - 1000);
                for (auto p : {nnprune::nan_policy::reject, nnprune::nan_policy::as_highest}) {
                    std::vector<std::uint32_t> a(16 * blocks), b(16 * blocks);
                    std::uint32_t amin = 0, amax = 0, bmin = 1, bmax = 1;
                    nnprune::simd::sample_keys<std::uint32_t>(f.data(), blocks, spacing, p, a.data(), amin, amax);
                    nnprune::simd::reference::sample_keys<std::uint32_t>(f.data(), blocks, spacing, p, b.data(), bmin,
                                                                         bmax);
                    REQUIRE(a == b);
                    REQUIRE(amin == bmin);
                    REQUIRE(amax == bmax);
                    const auto at = [&](std::size_t i) {
                        return nnprune::simd::sample_offset(i, static_cast<double>(spacing), 16);
                    };
                    REQUIRE(b[0] == nnprune::detail::key_as<std::uint32_t>(f[at(0)], p));
                    REQUIRE(b.back() == nnprune::detail::key_as<std::uint32_t>(f[at(blocks - 1) + 15], p));
                    REQUIRE(amin == *std::min_element(b.begin(), b.end()));
                    REQUIRE(amax == *std::max_element(b.begin(), b.end()));
                }
            }
        }
    });
}

TEST_CASE("bracket: the 16-bit (bf16, f16) bracket and mask kernels equal their scalar twins, every tier",
          "[simd][bracket]") {
    if (nnprune::simd::supports(nnprune::simd::isa::avx512) && !nnprune::simd::cpu_has_avx512_vbmi2())
        WARN("the CPU lacks AVX-512 VBMI2: the 16-bit bracket runs the next tier down under avx512");
    test_util::for_each_vector_tier([](nnprune::simd::isa) {
        check_twins<nnprune::bfloat16>();
        check_twins<nnprune::float16>();
    });
}

TEST_CASE("sample_offset: one run per interval, ascending, spread over the columns of any row length",
          "[simd][bracket]") {
    using nnprune::simd::sample_offset;
    for (std::size_t run : {std::size_t{16}, std::size_t{64}}) {
        for (double spacing : {16.0, 17.0, 64.0, 65.0, 1000.0, 16000.0, 1024000.0, 15625.5}) {
            if (spacing < static_cast<double>(run)) continue;
            std::size_t prev_end = 0;
            for (std::size_t i = 0; i < 5000; ++i) {
                const std::size_t s = sample_offset(i, spacing, run);
                CAPTURE(run, spacing, i);
                REQUIRE(static_cast<double>(s) >= static_cast<double>(i) * spacing - 1e-9);
                REQUIRE(static_cast<double>(s + run) <= static_cast<double>(i + 1) * spacing + 1e-9);
                REQUIRE(s >= prev_end);
                prev_end = s + run;
            }
        }
    }
    // spacings that are multiples of a row length (or of a large power of two): the runs still
    // reach most columns (a fixed offset per interval would reach 16 or 128 of them)
    for (std::size_t cols : {std::size_t{2048}, std::size_t{5632}}) {
        for (double spacing : {16000.0, 1024000.0, static_cast<double>(cols) * 500}) {
            std::vector<char> seen(cols, 0);
            for (std::size_t i = 0; i < 4096; ++i) {
                const std::size_t s = sample_offset(i, spacing, 16);
                for (std::size_t j = 0; j < 16; ++j) seen[(s + j) % cols] = 1;
            }
            CAPTURE(cols, spacing);
            REQUIRE(static_cast<std::size_t>(std::count(seen.begin(), seen.end(), 1)) > cols * 9 / 10);
        }
    }
}
