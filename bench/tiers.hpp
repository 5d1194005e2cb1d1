// The tier argument of the hot-path benchmarks, so one run shows the tiers side by side:
// 0 scalar, 1 avx2, 2 avx512 (forced with isa_guard), 3 dispatched (the library's own choice).
#ifndef NNPRUNE_BENCH_TIERS_HPP
#define NNPRUNE_BENCH_TIERS_HPP

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

#include <nnprune/simd/isa.hpp>

namespace bench {

inline constexpr int tier_dispatched = 3;

/// Forces the tier given by a benchmark argument for its scope and labels the run; a tier the
/// CPU lacks skips the benchmark with an error (its loop is then not entered).
class tier_scope {
public:
    tier_scope(benchmark::State& st, std::int64_t arg) {
        if (arg == tier_dispatched) {
            st.SetLabel(std::string("dispatched (") + nnprune::simd::isa_name(nnprune::simd::active_isa()) + ")");
            return;
        }
        const auto t = static_cast<nnprune::simd::isa>(arg);
        if (!nnprune::simd::supports(t)) {
            st.SkipWithError((std::string("tier ") + nnprune::simd::isa_name(t) + " not supported here").c_str());
            return;
        }
        m_guard.emplace(t);
        st.SetLabel(nnprune::simd::isa_name(t));
    }

private:
    std::optional<nnprune::simd::isa_guard> m_guard;
};

/// The four tier arguments.
inline const std::vector<std::int64_t> tier_args{0, 1, 2, tier_dispatched};

}  // namespace bench

#endif  // NNPRUNE_BENCH_TIERS_HPP
