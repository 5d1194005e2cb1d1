// The run-time tiers: names, forcing a tier, NNPRUNE_ISA, and whole selections that give the same
// masks on every tier the CPU supports.
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <optional>
#include <random>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>

#include "prune_test_util.hpp"
#include "simd_tiers.hpp"
#include "token_test_util.hpp"
#include <nnprune/nnprune.hpp>

using namespace nnprune;
using simd::isa;

namespace {

/// Sets (or, with nullopt, unsets) NNPRUNE_ISA for a scope, restoring it after.
class env_isa {
public:
    explicit env_isa(std::optional<std::string> v) {
        if (const char* old = std::getenv("NNPRUNE_ISA")) m_old = old;
        if (v)
            ::setenv("NNPRUNE_ISA", v->c_str(), 1);
        else
            ::unsetenv("NNPRUNE_ISA");
    }

    ~env_isa() {
        if (m_old)
            ::setenv("NNPRUNE_ISA", m_old->c_str(), 1);
        else
            ::unsetenv("NNPRUNE_ISA");
        simd::reset_isa();
    }

    env_isa(const env_isa&) = delete;
    env_isa& operator=(const env_isa&) = delete;

private:
    std::optional<std::string> m_old;
};

std::vector<std::uint64_t> words_of(const mask& m) {
    const auto w = m.words();
    return {w.begin(), w.end()};
}

isa lower(isa a, isa b) { return a < b ? a : b; }

/// Scores with ties, -0, +-Inf and a few NaN (as_lowest / as_highest selections).
std::vector<float> scores(std::size_t n, unsigned seed, bool nans) {
    std::mt19937 g(seed);
    std::vector<float> v(n);
    for (auto& x : v) {
        const auto r = g() % 64;
        x = r == 0 && nans ? std::numeric_limits<float>::quiet_NaN()
            : r == 1       ? -0.0f
            : r == 2       ? std::numeric_limits<float>::infinity()
            : r == 3       ? -std::numeric_limits<float>::infinity()
                           : static_cast<float>(static_cast<int>(g() % 401) - 200) * 0.125f;
    }
    return v;
}

/// Runs make() on the scalar tier and on every vector tier the CPU supports; the results must be equal.
template <class F>
void same_on_every_tier(F&& make) {
    const auto want = [&] {
        const simd::isa_guard tier(isa::scalar);
        return make();
    }();
    test_util::for_each_vector_tier([&](isa) { REQUIRE(make() == want); });
}

}  // namespace

TEST_CASE("isa: names round-trip, unknown names are refused", "[simd][isa]") {
    for (isa t : {isa::scalar, isa::avx2, isa::avx512}) REQUIRE(simd::parse_isa(simd::isa_name(t)) == t);
    REQUIRE(std::string(simd::isa_name(isa::avx512)) == "avx512");
    REQUIRE_FALSE(simd::parse_isa("AVX2").has_value());
    REQUIRE_FALSE(simd::parse_isa("sse4").has_value());
    REQUIRE_FALSE(simd::parse_isa("").has_value());
    REQUIRE(simd::supports(isa::scalar));
    REQUIRE(simd::supports(simd::supported_isa()));
    REQUIRE(simd::supported_isa() <= simd::compiled_isa());
    if (simd::cpu_has_avx512_vbmi2()) REQUIRE(simd::supports(isa::avx512));
}

TEST_CASE("isa: set_isa and isa_guard force a tier; an unsupported tier is an error that changes nothing",
          "[simd][isa]") {
    const isa before = simd::active_isa();
    {
        const simd::isa_guard g(isa::scalar);
        REQUIRE(simd::active_isa() == isa::scalar);
        if (simd::supports(isa::avx2)) {
            const simd::isa_guard inner(isa::avx2);
            REQUIRE(simd::active_isa() == isa::avx2);
        }
        REQUIRE(simd::active_isa() == isa::scalar);
    }
    REQUIRE(simd::active_isa() == before);
    bool tested = false;
    for (isa t : {isa::avx2, isa::avx512}) {
        if (simd::supports(t)) continue;
        tested = true;
        REQUIRE_THROWS_AS(simd::set_isa(t), value_error);
        REQUIRE_THROWS_WITH(
            simd::set_isa(t),
            Catch::Contains("nnprune::simd::set_isa: tier " + std::string(simd::isa_name(t)) +
                            " is not supported here (best: " + simd::isa_name(simd::supported_isa()) + ")"));
        REQUIRE_THROWS_AS(simd::isa_guard(t), value_error);
        REQUIRE(simd::active_isa() == before);
    }
    if (!tested) WARN("the CPU supports every tier: the unsupported-tier error is tested in builds without dispatch");
    simd::set_isa(isa::scalar);
    REQUIRE(simd::active_isa() == isa::scalar);
    simd::reset_isa();
    REQUIRE(simd::active_isa() == nnprune::detail::default_isa());
}

TEST_CASE("isa: NNPRUNE_ISA lowers the default tier; unknown values are ignored", "[simd][isa]") {
    const isa cpu = simd::supported_isa();
    {
        const env_isa e(std::nullopt);
        REQUIRE(nnprune::detail::default_isa() == cpu);
        simd::reset_isa();
        REQUIRE(simd::active_isa() == cpu);
    }
    for (isa t : {isa::scalar, isa::avx2, isa::avx512}) {
        const env_isa e(std::string(simd::isa_name(t)));
        REQUIRE(nnprune::detail::default_isa() == lower(t, cpu));  // never above the CPU's
        simd::reset_isa();
        REQUIRE(simd::active_isa() == lower(t, cpu));
    }
    {
        const env_isa e(std::string("avx1024"));
        REQUIRE(nnprune::detail::default_isa() == cpu);
    }
    REQUIRE(simd::active_isa() == nnprune::detail::default_isa());
}

TEST_CASE("isa: per_tensor, per_row, N:M and global masks are bit-identical on every tier", "[simd][isa][select]") {
    const std::size_t rows = 37, cols = 1031;  // odd, prime columns: tails everywhere
    const auto v = scores(rows * cols, 1, true);
    const matrix_view<const float> s(v.data(), rows, cols);
    std::vector<bfloat16> vb;
    for (float x : v) vb.emplace_back(x);
    const matrix_view<const bfloat16> sb(vb.data(), rows, cols);
    for (auto np : {nan_policy::as_lowest, nan_policy::as_highest})
        for (bool one_pass : {false, true}) {
            INFO("nans " << static_cast<int>(np) << " one_pass " << one_pass);
            select_options o;
            o.nans = np;
            o.one_pass = one_pass;
            auto run = [&](auto&& select) {
                mask m(shape{rows, cols});
                const auto r = select(m);
                return std::make_pair(words_of(m), r.pruned);
            };
            same_on_every_tier(
                [&] { return run([&](mask& m) { return select_mask(tensor_ref(s), per_tensor{}, 0.37, m, o); }); });
            same_on_every_tier(
                [&] { return run([&](mask& m) { return select_mask(tensor_ref(sb), per_tensor{}, 0.37, m, o); }); });
            same_on_every_tier(
                [&] { return run([&](mask& m) { return select_mask(tensor_ref(s), per_row{}, 0.5, m, o); }); });
            same_on_every_tier(
                [&] { return run([&](mask& m) { return select_mask(tensor_ref(sb), per_row{}, 0.5, m, o); }); });
            const matrix_view<const float> s4(v.data(), rows, 1028);  // 1028 = 257 groups of 4
            same_on_every_tier([&] {
                mask m(shape{rows, 1028});
                const auto r = select_mask(tensor_ref(s4), n_of_m{2, 4}, m, o);
                return std::make_pair(words_of(m), r.pruned);
            });
            // a previous mask: only the kept elements compete
            mask prev(shape{rows, cols});
            for (std::size_t i = 0; i < prev.size(); i += 3) prev.set(i, false);
            select_options op = o;
            op.previous = prev;
            same_on_every_tier(
                [&] { return run([&](mask& m) { return select_mask(tensor_ref(s), per_tensor{}, 0.5, m, op); }); });
            same_on_every_tier(
                [&] { return run([&](mask& m) { return select_mask(tensor_ref(s), per_row{}, 0.5, m, op); }); });
        }
    same_on_every_tier([&] {
        mask ma(shape{rows, cols}), mb(shape{rows, cols});
        std::vector<tensor_ref> refs{tensor_ref(s), tensor_ref(sb)};
        std::vector<mask_view> outs{ma, mb};
        global_options o;
        o.nans = nan_policy::as_lowest;
        const auto r = select_global(refs, 0.6, outs, o);
        return std::make_tuple(words_of(ma), words_of(mb), r.pruned);
    });
}

TEST_CASE("isa: prune() with wanda and DivPrune give the same result on every tier", "[simd][isa][prune]") {
    const std::size_t out = 24, in = 517;
    auto w = test_util::values(out * in, 3);
    auto stat = test_util::values(in, 4);
    for (auto& x : stat) x = x * x;
    for (const auto& pattern : {std::string("per_row"), std::string("2:4")}) {
        INFO(pattern);
        same_on_every_tier([&] {
            const std::size_t c = pattern == "2:4" ? 516 : in;
            std::vector<layer> L{{"fc",
                                  matrix_view<const float>(w.data(), {out, c}, {static_cast<std::ptrdiff_t>(in), 1}),
                                  vector_view<const float>(stat.data(), c),
                                  {}}};
            const auto r = pattern == "2:4" ? prune(L, wanda, wanda_n_of_m(2, 4)) : prune(L, wanda, per_row{}, 0.5);
            return words_of(r.masks[0]);
        });
    }
    const std::size_t n = 211, d = 67;
    const auto x = token_test::random_features(n, d, 99, 7);
    const matrix_view<const float> fv(x.data(), n, d);
    same_on_every_tier([&] { return divprune_order(fv, keep_count{150}); });
}
