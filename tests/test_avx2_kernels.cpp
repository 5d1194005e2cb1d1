// The AVX2 tier's kernels against their scalar twins: odd sizes, NaN of either sign and with
// payloads (both NaN policies), +-Inf, -0, subnormals, ties, previous masks at bit offsets and
// candidate caps that overflow. Skipped (with a warning) on a CPU without AVX2.
#include <algorithm>
#include <bit>
#include <cstdint>
#include <functional>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include <nnprune/select/select.hpp>
#include <nnprune/simd/avx2/bracket.hpp>
#include <nnprune/simd/avx2/classify.hpp>
#include <nnprune/simd/avx2/kept.hpp>
#include <nnprune/simd/avx2/n_of_m.hpp>
#include <nnprune/simd/avx2/popcount.hpp>
#include <nnprune/simd/avx2/widen.hpp>
#include <nnprune/simd/avx2/zero.hpp>
#include <nnprune/simd/bracket.hpp>
#include <nnprune/simd/classify.hpp>
#include <nnprune/simd/kept.hpp>
#include <nnprune/simd/n_of_m.hpp>
#include <nnprune/simd/popcount.hpp>
#include <nnprune/simd/widen.hpp>
#include <nnprune/simd/zero.hpp>

#if NNPRUNE_SIMD_X86
namespace {

namespace simd = nnprune::simd;
namespace ref = nnprune::simd::reference;
using nnprune::nan_policy;

const std::vector<std::size_t> sizes = {0, 1, 7, 8, 9, 15, 16, 17, 31, 33, 63, 64, 65, 129, 4099};
constexpr nan_policy policies[] = {nan_policy::as_lowest, nan_policy::as_highest};

bool have_avx2() {
    if (simd::supports(simd::isa::avx2)) return true;
    WARN("the CPU lacks AVX2: the AVX2 tier is not tested");
    return false;
}

/// Bit patterns of awkward scores of type T (32 or 16 bits): few distinct values, so many ties.
template <class T>
std::vector<T> awkward(std::size_t n, std::uint32_t seed) {
    std::mt19937 g(seed);
    std::vector<T> v(n);
    if constexpr (std::is_same_v<T, float>) {
        const std::uint32_t special[] = {0x7FC00000u, 0xFFC00000u, 0x7F800001u, 0xFFBFFFFFu, 0x7F800000u, 0xFF800000u,
                                         0x80000000u, 0x00000000u, 0x00000001u, 0x80000001u, 0x7F7FFFFFu, 0xFF7FFFFFu};
        for (auto& x : v) {
            const auto r = g() % 24;
            if (r < std::size(special))
                x = std::bit_cast<float>(special[r]);
            else
                x = static_cast<float>(static_cast<int>(g() % 9) - 4) * 0.5f;
        }
    } else {
        const std::uint16_t nan = std::is_same_v<T, nnprune::bfloat16> ? 0x7FC0 : 0x7E00;
        const std::uint16_t inf = std::is_same_v<T, nnprune::bfloat16> ? 0x7F80 : 0x7C00;
        const std::uint16_t special[] = {nan,
                                         static_cast<std::uint16_t>(nan | 0x8000),
                                         static_cast<std::uint16_t>(inf + 1),
                                         inf,
                                         static_cast<std::uint16_t>(inf | 0x8000),
                                         0x8000,
                                         0x0000,
                                         0x0001,
                                         0x8001,
                                         static_cast<std::uint16_t>(inf - 1)};
        for (auto& x : v) {
            const auto r = g() % 24;
            if (r < std::size(special))
                x = T::from_bits(special[r]);
            else
                x = T(static_cast<float>(static_cast<int>(g() % 9) - 4) * 0.5f);
        }
    }
    return v;
}

std::vector<std::uint64_t> random_words(std::size_t n, std::uint32_t seed) {
    std::mt19937_64 g(seed);
    std::vector<std::uint64_t> w(n);
    for (auto& x : w) x = g();
    return w;
}

template <class K, class T>
K key(T x, nan_policy np) {
    return nnprune::detail::key_as<K>(x, np);
}

/// [lo, hi] brackets worth trying over the keys of v: a middle band, one key, everything, none.
template <class K, class T>
std::vector<std::pair<K, K>> brackets(nan_policy np) {
    const K top = std::numeric_limits<K>::max();
    return {{key<K>(T(-1.0f), np), key<K>(T(1.0f), np)},
            {key<K>(T(0.5f), np), key<K>(T(0.5f), np)},
            {0, top},
            {key<K>(T(-0.0f), np), top},
            {0, key<K>(T(-0.5f), np)},
            {key<K>(T(2.5f), np), key<K>(T(3.0f), np)}};
}

/// simd::avx2's bracket on scores of T (or, Keys, on their keys) against reference::bracket.
template <class T, bool Keys>
void check_bracket() {
    using K = nnprune::detail::key_of_t<T>;
    for (std::size_t n : sizes) {
        const auto v = awkward<T>(n, static_cast<std::uint32_t>(n));
        const auto prev = random_words(n / 64 + 3, 5);
        for (auto np : policies) {
            std::vector<K> kv(n);
            for (std::size_t i = 0; i < n; ++i) kv[i] = key<K>(v[i], np);
            for (auto [lo, hi] : brackets<K, T>(np))
                for (std::size_t bit0 : {0u, 5u, 63u})
                    for (bool use_prev : {false, true}) {
                        if (bit0 && !use_prev) continue;
                        const std::uint64_t* pv = use_prev ? prev.data() : nullptr;
                        for (std::size_t cap : {std::size_t{0}, std::size_t{3}, n / 3, n}) {
                            std::vector<K> a(n + 16, 7), b(n + 16, 7);
                            std::size_t pa = 1, pb = 1;  // a cursor already past the first slot
                            const std::size_t cp = cap + 1;
                            simd::bracket_counts ca{2, 3, 4}, cb{2, 3, 4};
                            if constexpr (sizeof(K) == 4) {
                                if constexpr (Keys) {
                                    if (use_prev)
                                        simd::avx2::bracket_avx2<true, true>(kv.data(), n, pv, bit0, lo, hi, np,
                                                                             a.data(), pa, cp, ca);
                                    else
                                        simd::avx2::bracket_avx2<true, false>(kv.data(), n, pv, bit0, lo, hi, np,
                                                                              a.data(), pa, cp, ca);
                                    ref::bracket<K>(kv.data(), n, 1, pv, bit0, 1, lo, hi, np, b.data(), pb, cp, cb);
                                } else {
                                    if (use_prev)
                                        simd::avx2::bracket_avx2<false, true>(v.data(), n, pv, bit0, lo, hi, np,
                                                                              a.data(), pa, cp, ca);
                                    else
                                        simd::avx2::bracket_avx2<false, false>(v.data(), n, pv, bit0, lo, hi, np,
                                                                               a.data(), pa, cp, ca);
                                    ref::bracket<K>(v.data(), n, 1, pv, bit0, 1, lo, hi, np, b.data(), pb, cp, cb);
                                }
                            } else {
                                if constexpr (Keys) {
                                    if (use_prev)
                                        simd::avx2::bracket16_avx2<true>(kv.data(), n, pv, bit0, lo, hi, np, a.data(),
                                                                         pa, cp, ca);
                                    else
                                        simd::avx2::bracket16_avx2<false>(kv.data(), n, pv, bit0, lo, hi, np, a.data(),
                                                                          pa, cp, ca);
                                    ref::bracket<K>(kv.data(), n, 1, pv, bit0, 1, lo, hi, np, b.data(), pb, cp, cb);
                                } else {
                                    if (use_prev)
                                        simd::avx2::bracket16_avx2<true>(v.data(), n, pv, bit0, lo, hi, np, a.data(),
                                                                         pa, cp, ca);
                                    else
                                        simd::avx2::bracket16_avx2<false>(v.data(), n, pv, bit0, lo, hi, np, a.data(),
                                                                          pa, cp, ca);
                                    ref::bracket<K>(v.data(), n, 1, pv, bit0, 1, lo, hi, np, b.data(), pb, cp, cb);
                                }
                            }
                            INFO("n " << n << " lo " << lo << " hi " << hi << " bit0 " << bit0 << " prev " << use_prev
                                      << " cap " << cap << " np " << static_cast<int>(np));
                            REQUIRE(ca.below == cb.below);
                            REQUIRE(ca.inside == cb.inside);
                            REQUIRE(ca.nans == cb.nans);
                            REQUIRE(pa == pb);
                            REQUIRE(std::equal(a.begin(), a.begin() + static_cast<std::ptrdiff_t>(pa), b.begin()));
                        }
                    }
        }
    }
}

/// write_kept (f32: write_kept_f32, 16-bit: write_kept16) against reference::write_kept.
template <class T>
void check_write_kept() {
    using K = nnprune::detail::key_of_t<T>;
    for (std::size_t n : sizes) {
        const auto v = awkward<T>(n, static_cast<std::uint32_t>(n) + 1);
        const auto prev = random_words(n / 64 + 3, 6);
        for (auto np : policies)
            for (float kf : {0.5f, -0.0f, -2.0f, std::numeric_limits<float>::infinity()})
                for (std::size_t bit0 : {0u, 5u, 64u, 71u})
                    for (bool use_prev : {false, true})
                        for (std::size_t ties : {0u, 1u, 5u, 9u, 1000u}) {
                            const K kth = key<K>(T(kf), np);
                            const std::uint64_t* pv = use_prev ? prev.data() : nullptr;
                            std::vector<std::uint64_t> oa(n / 64 + 4, 0x5555), ob(n / 64 + 4, 0x5555);
                            std::size_t ta = ties, tb = ties;
                            std::size_t ka;
                            if constexpr (sizeof(K) == 4)
                                ka = use_prev ? simd::avx2::write_kept_f32<true>(v.data(), n, pv, bit0, kth, ta, np,
                                                                                 oa.data())
                                              : simd::avx2::write_kept_f32<false>(v.data(), n, pv, bit0, kth, ta, np,
                                                                                  oa.data());
                            else
                                ka = use_prev
                                         ? simd::avx2::write_kept16<true>(v.data(), n, pv, bit0, kth, ta, np, oa.data())
                                         : simd::avx2::write_kept16<false>(v.data(), n, pv, bit0, kth, ta, np,
                                                                           oa.data());
                            const auto kb = ref::write_kept<K>(v.data(), n, 1, pv, bit0, 1, kth, tb, np, ob.data());
                            INFO("n " << n << " kth " << kf << " bit0 " << bit0 << " prev " << use_prev << " ties "
                                      << ties);
                            REQUIRE(ka == kb);
                            REQUIRE(ta == tb);
                            REQUIRE(oa == ob);
                        }
        // kth = 0 with no ties prunes nothing
        std::vector<std::uint64_t> oa(n / 64 + 2, 0);
        std::size_t t0 = 0;
        std::size_t kept;
        if constexpr (sizeof(K) == 4)
            kept = simd::avx2::write_kept_f32<false>(v.data(), n, nullptr, 0, 0, t0, nan_policy::as_lowest, oa.data());
        else
            kept = simd::avx2::write_kept16<false>(v.data(), n, nullptr, 0, 0, t0, nan_policy::as_lowest, oa.data());
        REQUIRE(kept == n);
    }
}

}  // namespace

TEST_CASE("avx2: bracket on f32 scores and u32 keys equals its scalar twin", "[simd][avx2]") {
    if (!have_avx2()) return;
    check_bracket<float, false>();
    check_bracket<float, true>();
}

TEST_CASE("avx2: bracket on bf16 / f16 scores and u16 keys equals its scalar twin", "[simd][avx2]") {
    if (!have_avx2()) return;
    check_bracket<nnprune::bfloat16, false>();
    check_bracket<nnprune::float16, false>();
    check_bracket<nnprune::bfloat16, true>();
}

TEST_CASE("avx2: bracket counters and the candidate cap across 64Ki-element chunks", "[simd][avx2]") {
    if (!have_avx2()) return;
    const std::size_t n = 100003 * 2 + 65536;
    auto v = awkward<float>(n, 3);
    for (auto np : policies)
        for (std::size_t cap : {std::size_t{0}, std::size_t{5000}, std::size_t{70000}, std::size_t{140000}, n}) {
            const auto lo = key<std::uint32_t>(-1.0f, np), hi = key<std::uint32_t>(1.5f, np);
            std::vector<std::uint32_t> a(n + 16), b(n + 16);
            std::size_t pa = 0, pb = 0;
            simd::bracket_counts ca, cb;
            simd::avx2::bracket_avx2<false, false>(v.data(), n, nullptr, 0, lo, hi, np, a.data(), pa, cap, ca);
            ref::bracket<std::uint32_t>(v.data(), n, 1, nullptr, 0, 1, lo, hi, np, b.data(), pb, cap, cb);
            INFO("cap " << cap);
            REQUIRE(ca.below == cb.below);
            REQUIRE(ca.inside == cb.inside);
            REQUIRE(ca.nans == cb.nans);
            REQUIRE(cb.nans > 0);
            REQUIRE(pa == pb);
            REQUIRE(std::equal(a.begin(), a.begin() + static_cast<std::ptrdiff_t>(pa), b.begin()));
        }
}

TEST_CASE("avx2: to_keys and sample_keys equal their scalar twins", "[simd][avx2]") {
    if (!have_avx2()) return;
    auto all = sizes;
    all.push_back(100003);
    for (std::size_t n : all)
        for (auto np : policies) {
            const auto v = awkward<float>(n, static_cast<std::uint32_t>(n) + 2);
            std::vector<std::uint32_t> a(n + 1, 3), b(n + 1, 3);
            std::uint32_t amin = 7, amax = 7, bmin = 9, bmax = 9;
            const auto na = simd::avx2::to_keys_f32(v.data(), n, np, a.data(), amin, amax);
            const auto nb = ref::to_keys<std::uint32_t>(v.data(), n, np, b.data(), bmin, bmax);
            INFO("n " << n);
            REQUIRE(na == nb);
            REQUIRE(a == b);  // the slot past n is not written either
            REQUIRE(amin == bmin);
            REQUIRE(amax == bmax);
        }
    for (std::size_t blocks : {1u, 3u, 17u})
        for (std::size_t spacing : {16u, 17u, 33u, 172u}) {
            const auto v = awkward<float>(blocks * spacing, static_cast<std::uint32_t>(spacing));
            for (auto np : policies) {
                std::vector<std::uint32_t> a(16 * blocks), b(16 * blocks);
                std::uint32_t amin = 0, amax = 0, bmin = 1, bmax = 1;
                simd::avx2::sample_keys_f32(v.data(), blocks, spacing, np, a.data(), amin, amax);
                ref::sample_keys<std::uint32_t>(v.data(), blocks, spacing, np, b.data(), bmin, bmax);
                REQUIRE(a == b);
                REQUIRE(amin == bmin);
                REQUIRE(amax == bmax);
            }
        }
}

TEST_CASE("avx2: classify and resolve equal their scalar twins", "[simd][avx2]") {
    if (!have_avx2()) return;
    auto all = sizes;
    all.push_back(100003);
    for (std::size_t n : all)
        for (auto np : policies) {
            const auto v = awkward<float>(n, static_cast<std::uint32_t>(n) + 3);
            const std::size_t words = (n + 63) / 64;
            for (auto [lo, hi] : brackets<std::uint32_t, float>(np)) {
                std::vector<std::uint32_t> ca(n + 16), cb(n + 16);
                std::vector<std::uint64_t> aa(words + 1, 9), ab(words + 1, 9), ia(words + 1, 9), ib(words + 1, 9);
                const float* ahead = n ? v.data() : nullptr;
                const auto ra =
                    simd::avx2::classify_f32(v.data(), n, lo, hi, np, ca.data(), aa.data(), ia.data(), ahead);
                const auto rb = ref::classify<std::uint32_t>(v.data(), n, lo, hi, np, cb.data(), ab.data(), ib.data());
                INFO("n " << n << " lo " << lo << " hi " << hi);
                REQUIRE(ra.below == rb.below);
                REQUIRE(ra.inside == rb.inside);
                REQUIRE(ra.nans == rb.nans);  // exact here (the contract asks only nonzero on a NaN)
                REQUIRE(aa == ab);
                REQUIRE(ia == ib);
                REQUIRE(std::equal(ca.begin(), ca.begin() + static_cast<std::ptrdiff_t>(ra.inside), cb.begin()));
                // every candidate key as the k-th, with tie counts from none to all
                std::vector<std::uint32_t> ks(cb.begin(), cb.begin() + static_cast<std::ptrdiff_t>(rb.inside));
                std::sort(ks.begin(), ks.end());
                ks.erase(std::unique(ks.begin(), ks.end()), ks.end());
                ks.push_back(lo);
                for (auto kth : ks)
                    for (std::size_t ties : {0u, 1u, 3u, 8u, 9u, 100000u}) {
                        std::vector<std::uint64_t> ka(words + 1, 5), kb(words + 1, 5);
                        simd::avx2::resolve_u32(aa.data(), ia.data(), words, ca.data(), kth, ties, ka.data());
                        ref::resolve<std::uint32_t>(ab.data(), ib.data(), words, cb.data(), kth, ties, kb.data());
                        REQUIRE(ka == kb);
                        std::vector<std::uint64_t> alias = aa;  // kept may alias above
                        simd::avx2::resolve_u32(alias.data(), ia.data(), words, ca.data(), kth, ties, alias.data());
                        REQUIRE(std::equal(kb.begin(), kb.begin() + static_cast<std::ptrdiff_t>(words), alias.begin()));
                    }
            }
        }
}

TEST_CASE("avx2: write_kept (f32, bf16, f16) equals its scalar twin", "[simd][avx2]") {
    if (!have_avx2()) return;
    check_write_kept<float>();
    check_write_kept<nnprune::bfloat16>();
    check_write_kept<nnprune::float16>();
}

TEST_CASE("avx2: write_kept_columns equals its scalar twin", "[simd][avx2]") {
    if (!have_avx2()) return;
    std::mt19937 g(11);
    for (std::size_t n : sizes)
        for (auto np : policies)
            for (std::size_t bit0 : {0u, 7u}) {
                const auto v = awkward<float>(n, static_cast<std::uint32_t>(n) + 4);
                std::vector<std::uint32_t> kth(n), lim(n);
                for (std::size_t c = 0; c < n; ++c) {
                    kth[c] = key<std::uint32_t>(v[(c * 7) % n], np);
                    lim[c] = c % 5 == 0 ? 0x8000'0001u
                                        : static_cast<std::uint32_t>(g() % 4);  // one limit with the top bit set
                }
                for (std::uint32_t row : {0u, 2u, 5u, 0x8000'0000u}) {
                    std::vector<std::uint64_t> a(n / 64 + 3, 0x77), b(n / 64 + 3, 0x77);
                    simd::bit_writer wa(a.data(), bit0), wb(b.data(), bit0);
                    const auto ka =
                        simd::avx2::write_kept_columns_f32(v.data(), n, row, kth.data(), lim.data(), np, wa);
                    const auto kb =
                        ref::write_kept_columns<std::uint32_t>(v.data(), n, row, kth.data(), lim.data(), np, wb);
                    wa.finish();
                    wb.finish();
                    INFO("n " << n << " row " << row);
                    REQUIRE(ka == kb);
                    REQUIRE(a == b);
                }
            }
}

TEST_CASE("avx2: n_of_m_row equals its scalar twin for m = 2, 4, 8, 16", "[simd][avx2]") {
    if (!have_avx2()) return;
    for (std::size_t m : {2u, 4u, 8u, 16u})
        for (std::size_t groups : {0u, 1u, 2u, 3u, 5u, 8u, 9u, 33u, 257u}) {
            const std::size_t n = m * groups;
            auto v = awkward<float>(n, static_cast<std::uint32_t>(n * 3 + m));
            std::vector<float> clean = v;  // no NaN: reject runs to the end
            for (auto& x : clean)
                if (x != x) x = 1.0f;
            for (auto np : {nan_policy::as_lowest, nan_policy::as_highest, nan_policy::reject})
                for (const auto* src : {&v, &clean})
                    for (std::size_t kk = 0; kk <= m; ++kk)
                        for (std::size_t bit0 : {0u, 3u}) {
                            std::vector<std::uint64_t> a(n / 64 + 3, 0x99), b(n / 64 + 3, 0x99);
                            simd::bit_writer wa(a.data(), bit0), wb(b.data(), bit0);
                            std::size_t ka = 0;
                            switch (m) {
                                case 2:
                                    ka = simd::avx2::n_of_m_row<2>(src->data(), n, kk, np, wa);
                                    break;
                                case 4:
                                    ka = simd::avx2::n_of_m_row<4>(src->data(), n, kk, np, wa);
                                    break;
                                case 8:
                                    ka = simd::avx2::n_of_m_row<8>(src->data(), n, kk, np, wa);
                                    break;
                                default:
                                    ka = simd::avx2::n_of_m_row<16>(src->data(), n, kk, np, wa);
                                    break;
                            }
                            const auto kb = ref::n_of_m_row(src->data(), n, m, kk, np, wb);
                            INFO("m " << m << " n " << n << " kk " << kk << " np " << static_cast<int>(np));
                            REQUIRE(ka == kb);
                            if (kb == simd::nan_found) continue;  // the bits already pushed are the caller's to discard
                            wa.finish();
                            wb.finish();
                            REQUIRE(a == b);
                        }
        }
}

TEST_CASE("avx2: zero_pruned_row equals its scalar twin (and leaves the elements past cols alone)", "[simd][avx2]") {
    if (!have_avx2()) return;
    auto check = [](auto tag) {
        using T = decltype(tag);
        for (std::size_t cols : {0u, 1u, 7u, 15u, 16u, 17u, 31u, 33u, 64u, 65u, 129u, 4099u}) {
            auto kept = random_words(cols / 64 + 1, static_cast<std::uint32_t>(cols));
            for (std::size_t w = 0; w < kept.size(); w += 3) kept[w] = 0;  // wholly pruned words
            if (kept.size() > 1) kept[1] = ~std::uint64_t{0} << 7;         // a pruned run of 7
            std::vector<T> a(cols + 8), b(cols + 8);
            for (std::size_t i = 0; i < a.size(); ++i) a[i] = b[i] = T(static_cast<float>(i % 13) + 1.0f);
            simd::avx2::zero_pruned_row(a.data(), cols, kept.data());
            ref::zero_pruned_row(b.data(), 1, cols, kept.data());
            INFO("cols " << cols << " bytes " << sizeof(T));
            for (std::size_t i = 0; i < a.size(); ++i)
                REQUIRE(std::bit_cast<std::array<char, sizeof(T)>>(a[i]) ==
                        std::bit_cast<std::array<char, sizeof(T)>>(b[i]));
        }
    };
    check(float{});
    check(double{});
    check(nnprune::bfloat16{});
    check(nnprune::float16{});
}

TEST_CASE("avx2: widen (bf16, f16; plain and abs) equals its scalar twin bit for bit", "[simd][avx2]") {
    if (!have_avx2()) return;
    // every 16-bit pattern: subnormals, -0, +-Inf, quiet and signalling NaN with payloads
    std::vector<std::uint16_t> all(65536);
    for (std::size_t i = 0; i < all.size(); ++i) all[i] = static_cast<std::uint16_t>(i);
    auto check = [&](auto tag) {
        using T = decltype(tag);
        std::vector<T> in(all.size());
        for (std::size_t i = 0; i < all.size(); ++i) in[i] = T::from_bits(all[i]);
        for (std::size_t n : {0u, 1u, 7u, 8u, 9u, 15u, 17u, 65536u}) {
            for (std::size_t off : {0u, 3u}) {
                if (off + n > in.size()) continue;
                std::vector<float> a(n + 4, 7.0f), b(n + 4, 7.0f), c(n + 4, 7.0f), d(n + 4, 7.0f);
                simd::avx2::widen<false>(in.data() + off, n, a.data());
                ref::widen<false>(in.data() + off, n, b.data());
                simd::avx2::widen<true>(in.data() + off, n, c.data());
                ref::widen<true>(in.data() + off, n, d.data());
                INFO("n " << n << " offset " << off << (std::is_same_v<T, nnprune::bfloat16> ? " bf16" : " f16"));
                for (std::size_t i = 0; i < n + 4; ++i) {  // the 4 past n stay unwritten
                    REQUIRE(std::bit_cast<std::uint32_t>(a[i]) == std::bit_cast<std::uint32_t>(b[i]));
                    REQUIRE(std::bit_cast<std::uint32_t>(c[i]) == std::bit_cast<std::uint32_t>(d[i]));
                }
                for (std::size_t i = 0; i < n; ++i)  // the twin is the exact widening
                    REQUIRE(std::bit_cast<std::uint32_t>(b[i]) ==
                            std::bit_cast<std::uint32_t>(nnprune::to_float(in[off + i])));
            }
        }
    };
    check(nnprune::bfloat16{});
    check(nnprune::float16{});
}

TEST_CASE("avx2: popcount equals its scalar twin; mask::count through it", "[simd][avx2]") {
    if (!have_avx2()) return;
    for (std::size_t n : {0u, 1u, 2u, 3u, 64u, 1001u}) {
        const auto w = random_words(n + 1, static_cast<std::uint32_t>(n));
        REQUIRE(simd::avx2::popcount(w.data(), n) == ref::popcount(w.data(), n));
    }
    REQUIRE(ref::popcount(std::vector<std::uint64_t>{~std::uint64_t{0}, 1, 0}.data(), 3) == 65);
}

namespace {

/// Runs select(masks) under each tier the CPU supports; the masks (of the given shapes), the
/// selections and the error messages must be bit-identical to the scalar tier's.
using selector = std::function<nnprune::selection(std::vector<nnprune::mask>&)>;

void same_on_every_tier(const char* what, const std::vector<nnprune::shape>& shapes, const selector& select) {
    INFO(what);
    auto run = [&](simd::isa t, std::string& error) {
        const simd::isa_guard tier(t);
        std::vector<nnprune::mask> m;
        for (const auto& sh : shapes) m.emplace_back(sh);
        nnprune::selection sel;
        try {
            sel = select(m);
        } catch (const std::exception& e) {
            error = e.what();
        }
        return std::pair{std::move(m), sel};
    };
    std::string want_error;
    const auto [want, ws] = run(simd::isa::scalar, want_error);
    for (auto t : {simd::isa::avx2, simd::isa::avx512}) {
        if (!simd::supports(t)) continue;
        std::string error;
        const auto [got, gs] = run(t, error);
        INFO("tier " << simd::isa_name(t));
        REQUIRE(error == want_error);
        if (!error.empty()) continue;  // one_pass may leave the masks partly written then (documented)
        REQUIRE(got == want);
        REQUIRE(gs.pruned == ws.pruned);
        REQUIRE(gs.kth.size() == ws.kth.size());
        for (std::size_t i = 0; i < ws.kth.size(); ++i)
            REQUIRE(std::bit_cast<std::uint64_t>(gs.kth[i]) == std::bit_cast<std::uint64_t>(ws.kth[i]));
    }
}

/// same_on_every_tier for one output mask.
template <class F>
void same_on_every_tier(const char* what, const nnprune::shape& sh, F select) {
    same_on_every_tier(what, std::vector<nnprune::shape>{sh},
                       [&](std::vector<nnprune::mask>& m) { return select(m[0]); });
}

struct tuning_mode {
    std::size_t small, sample, resident, max_candidates;
};

}  // namespace

TEST_CASE("tiers: whole selections are bit-identical on the scalar, avx2 and avx512 tiers", "[simd][tiers]") {
    if (!have_avx2()) return;
    const auto saved = nnprune::detail::tuning();
    // the default engine; the bracket passes on small inputs; candidate buffers that overflow
    const tuning_mode modes[] = {
        {saved.small, saved.sample, saved.resident, saved.max_candidates}, {4, 16, 0, 0}, {4, 16, 0, 64}};
    for (const auto& md : modes) {
        auto& tu = nnprune::detail::tuning();
        tu.small = md.small;
        tu.sample = md.sample;
        tu.resident = md.resident;
        tu.max_candidates = md.max_candidates;
        const std::size_t rows = 61, cols = 1031, n = rows * cols;
        const auto f = awkward<float>(n, 17);
        std::vector<float> clean = f;  // no NaN: reject selects too
        for (auto& x : clean)
            if (x != x) x = 0.25f;
        const auto b = awkward<nnprune::bfloat16>(n, 18);
        const auto h = awkward<nnprune::float16>(n, 19);
        const nnprune::shape flat{n}, mat{rows, cols};
        nnprune::mask prev(flat);
        {
            std::mt19937 g(4);
            for (std::size_t i = 0; i < n; ++i) prev.set(i, g() % 5 != 0);
        }
        for (auto np : {nan_policy::as_lowest, nan_policy::as_highest, nan_policy::reject})
            for (double amount : {0.3, 0.97})
                for (unsigned threads : {md.small == 4 && !md.max_candidates ? 2u : 1u}) {  // 2 threads once
                    nnprune::select_options o;
                    o.nans = np;
                    o.threads = threads;
                    INFO("mode small " << md.small << " cand " << md.max_candidates << " np " << static_cast<int>(np)
                                       << " amount " << amount << " threads " << threads);
                    for (const std::vector<float>* src : {&f, static_cast<const std::vector<float>*>(&clean)}) {
                        INFO((src == &f ? "with NaN" : "without NaN"));
                        const nnprune::vector_view<const float> v(src->data(), n);
                        const nnprune::matrix_view<const float> m(src->data(), rows, cols);
                        for (bool one_pass : {false, true}) {
                            auto op = o;
                            op.one_pass = one_pass;
                            same_on_every_tier(
                                one_pass ? "per_tensor, one pass" : "per_tensor", flat, [&](nnprune::mask& out) {
                                    return nnprune::select_mask(v, nnprune::per_tensor{}, amount, out, op);
                                });
                        }
                        auto oprev = o;
                        oprev.previous = prev;
                        same_on_every_tier("per_tensor, previous mask", flat, [&](nnprune::mask& out) {
                            return nnprune::select_mask(v, nnprune::per_tensor{}, amount, out, oprev);
                        });
                        same_on_every_tier("per_row", mat, [&](nnprune::mask& out) {
                            return nnprune::select_mask(m, nnprune::per_row{}, amount, out, o);
                        });
                        same_on_every_tier("per_column", mat, [&](nnprune::mask& out) {
                            return nnprune::select_mask(m, nnprune::per_column{}, amount, out, o);
                        });
                        const nnprune::matrix_view<const float> nm(src->data(), rows, 1024);
                        for (const nnprune::n_of_m g :
                             {nnprune::n_of_m{2, 4}, nnprune::n_of_m{1, 2}, nnprune::n_of_m{4, 8},
                              nnprune::n_of_m{5, 16}, nnprune::n_of_m{3, 7}})
                            same_on_every_tier("n_of_m", nnprune::shape{rows, 1024},
                                               [&](nnprune::mask& out) { return nnprune::select_mask(nm, g, out, o); });
                    }
                    const nnprune::vector_view<const nnprune::bfloat16> vb(b.data(), n);
                    const nnprune::matrix_view<const nnprune::float16> mh(h.data(), rows, cols);
                    same_on_every_tier("per_tensor bf16", flat, [&](nnprune::mask& out) {
                        return nnprune::select_mask(vb, nnprune::per_tensor{}, amount, out, o);
                    });
                    same_on_every_tier("per_row f16", mat, [&](nnprune::mask& out) {
                        return nnprune::select_mask(mh, nnprune::per_row{}, amount, out, o);
                    });
                    // global over f32, bf16 and f16 tensors (u64 keys; with the 64-key cap the
                    // histogram narrowing reaches unaligned brackets near the top of the key range)
                    const std::vector<nnprune::tensor_ref> refs{nnprune::vector_view<const float>(f.data(), n), vb, mh};
                    same_on_every_tier("global", {flat, flat, mat}, [&](std::vector<nnprune::mask>& m) {
                        const std::vector<nnprune::mask_view> outs{m[0], m[1], m[2]};
                        nnprune::global_options go;
                        go.nans = np;
                        go.threads = threads;
                        return nnprune::select_global(refs, amount, outs, go);
                    });
                }
    }
    nnprune::detail::tuning() = saved;
}
#endif
