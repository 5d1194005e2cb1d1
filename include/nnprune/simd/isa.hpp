#ifndef NNPRUNE_SIMD_ISA_HPP
#define NNPRUNE_SIMD_ISA_HPP

/// @file isa.hpp
/// Run-time SIMD dispatch: the instruction-set tiers, the CPU check, forcing a tier, and the
/// macros that compile a kernel for one tier whatever the translation unit's -m flags.
///
/// - Tiers: `isa::scalar` (the reference twins, every build), `isa::avx2` (AVX2 + FMA + BMI1/2 +
///   F16C + POPCNT + LZCNT) and `isa::avx512` (AVX-512 F/BW/VL/DQ/CD on top of the AVX2 set).
///   Kernels that also need AVX-512 VBMI2 (16-bit compress) check `cpu_has_avx512_vbmi2()`.
/// - The tier in use is chosen once, on first use: the best the CPU supports, lowered by the
///   environment variable `NNPRUNE_ISA=scalar|avx2|avx512` (an unknown value is ignored; a tier
///   above the CPU's is lowered to the CPU's). `set_isa()` forces one at run time.
/// - Kernels are compiled inside `NNPRUNE_AVX2_BEGIN/END` or `NNPRUNE_AVX512_BEGIN/END` regions
///   (a target pragma: lambdas inside get the target too). Their bodies then need no -m flag.
/// - ODR: a target pragma adds to the TU's flags, so the same kernel compiled in a -march=native
///   TU may use more instructions than its tier. Everything in `nnprune::simd` therefore lives in
///   an inline namespace named after the TU's ISA macros (`NNPRUNE_SIMD_ABI`): TUs built with
///   different -m flags get different symbols, never one another's bodies. The tier state below
///   sits outside it and is shared by the whole program.
/// - `NNPRUNE_DISPATCH=0` (CMake `NNPRUNE_DISPATCH=OFF`), a non-x86-64 target or a compiler other
///   than GCC/Clang compiles no tier but scalar.

#include <atomic>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>

#include "../config.hpp"
#include "../core/errors.hpp"

#if !defined(NNPRUNE_DISPATCH)
#define NNPRUNE_DISPATCH 1
#endif

#if NNPRUNE_DISPATCH && defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define NNPRUNE_SIMD_X86 1
#include <immintrin.h>
#else
#define NNPRUNE_SIMD_X86 0
#endif

// Target regions. The AVX-512 region includes the AVX2 set, so AVX2 helpers are callable from it.
#define NNPRUNE_TARGET_AVX2_FEATURES "avx,avx2,fma,bmi,bmi2,f16c,popcnt,lzcnt"
#define NNPRUNE_TARGET_AVX512_FEATURES NNPRUNE_TARGET_AVX2_FEATURES ",avx512f,avx512bw,avx512vl,avx512dq,avx512cd"
#define NNPRUNE_TARGET_AVX512_VBMI2_FEATURES NNPRUNE_TARGET_AVX512_FEATURES ",avx512vbmi2"

#define NNPRUNE_PRAGMA(x) _Pragma(#x)
#if NNPRUNE_SIMD_X86 && defined(__clang__)
#define NNPRUNE_TARGET_BEGIN(features) \
    NNPRUNE_PRAGMA(clang attribute push(__attribute__((target(features))), apply_to = function))
#define NNPRUNE_TARGET_END _Pragma("clang attribute pop")
#elif NNPRUNE_SIMD_X86
// GCC 12 warns inside its own intrinsics (maskz loads, _mm512_undefined_*) about uninitialised
// values; the kernels' regions silence it.
#define NNPRUNE_TARGET_BEGIN(features)                                                              \
    _Pragma("GCC push_options") NNPRUNE_PRAGMA(GCC target(features)) _Pragma("GCC diagnostic push") \
        _Pragma("GCC diagnostic ignored \"-Wmaybe-uninitialized\"")
#define NNPRUNE_TARGET_END _Pragma("GCC diagnostic pop") _Pragma("GCC pop_options")
#else
#define NNPRUNE_TARGET_BEGIN(features)
#define NNPRUNE_TARGET_END
#endif
#define NNPRUNE_AVX2_BEGIN NNPRUNE_TARGET_BEGIN(NNPRUNE_TARGET_AVX2_FEATURES)
#define NNPRUNE_AVX2_END NNPRUNE_TARGET_END
#define NNPRUNE_AVX512_BEGIN NNPRUNE_TARGET_BEGIN(NNPRUNE_TARGET_AVX512_FEATURES)
#define NNPRUNE_AVX512_END NNPRUNE_TARGET_END
#define NNPRUNE_AVX512_VBMI2_BEGIN NNPRUNE_TARGET_BEGIN(NNPRUNE_TARGET_AVX512_VBMI2_FEATURES)
#define NNPRUNE_AVX512_VBMI2_END NNPRUNE_TARGET_END

// The ABI name of this TU's kernels: one letter per ISA macro the compiler may use on its own.
#if defined(__AVX__)
#define NNPRUNE_ABI_0 a
#else
#define NNPRUNE_ABI_0 _
#endif
#if defined(__AVX2__)
#define NNPRUNE_ABI_1 b
#else
#define NNPRUNE_ABI_1 _
#endif
#if defined(__FMA__)
#define NNPRUNE_ABI_2 c
#else
#define NNPRUNE_ABI_2 _
#endif
#if defined(__BMI2__)
#define NNPRUNE_ABI_3 d
#else
#define NNPRUNE_ABI_3 _
#endif
#if defined(__F16C__)
#define NNPRUNE_ABI_4 e
#else
#define NNPRUNE_ABI_4 _
#endif
#if defined(__AVX512F__)
#define NNPRUNE_ABI_5 f
#else
#define NNPRUNE_ABI_5 _
#endif
#if defined(__AVX512BW__) && defined(__AVX512VL__) && defined(__AVX512DQ__)
#define NNPRUNE_ABI_6 g
#else
#define NNPRUNE_ABI_6 _
#endif
#if defined(__AVX512VBMI__) || defined(__AVX512VBMI2__)
#define NNPRUNE_ABI_7 h
#else
#define NNPRUNE_ABI_7 _
#endif
#if defined(__AVX512VNNI__) || defined(__AVX512BF16__) || defined(__AVX512FP16__) || defined(__AVX512IFMA__)
#define NNPRUNE_ABI_8 i
#else
#define NNPRUNE_ABI_8 _
#endif
#if defined(__AVX512BITALG__) || defined(__AVX512VPOPCNTDQ__) || defined(__GFNI__) || defined(__AVXVNNI__)
#define NNPRUNE_ABI_9 j
#else
#define NNPRUNE_ABI_9 _
#endif
#define NNPRUNE_ABI_CAT_(a, b, c, d, e, f, g, h, i, j) isa_##a##b##c##d##e##f##g##h##i##j
#define NNPRUNE_ABI_CAT(a, b, c, d, e, f, g, h, i, j) NNPRUNE_ABI_CAT_(a, b, c, d, e, f, g, h, i, j)
// Named after the macros with dispatch off too: the scalar twins of a -march=x86-64-v4 unit may be
// auto-vectorised with AVX-512, so they need their own symbols as well.
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define NNPRUNE_SIMD_ABI                                                                                      \
    NNPRUNE_ABI_CAT(NNPRUNE_ABI_0, NNPRUNE_ABI_1, NNPRUNE_ABI_2, NNPRUNE_ABI_3, NNPRUNE_ABI_4, NNPRUNE_ABI_5, \
                    NNPRUNE_ABI_6, NNPRUNE_ABI_7, NNPRUNE_ABI_8, NNPRUNE_ABI_9)
#else
#define NNPRUNE_SIMD_ABI isa_generic
#endif

namespace nnprune::simd {

/// The instruction-set tiers, in increasing order.
enum class isa : int { scalar = 0, avx2 = 1, avx512 = 2 };

/// "scalar", "avx2" or "avx512".
constexpr const char* isa_name(isa t) noexcept {
    switch (t) {
        case isa::avx2:
            return "avx2";
        case isa::avx512:
            return "avx512";
        default:
            return "scalar";
    }
}

/// The tier a name denotes, or nullopt for an unknown name.
constexpr std::optional<isa> parse_isa(std::string_view s) noexcept {
    if (s == "scalar") return isa::scalar;
    if (s == "avx2") return isa::avx2;
    if (s == "avx512") return isa::avx512;
    return std::nullopt;
}

/// The best tier this build compiled in: scalar without dispatch, avx512 otherwise.
constexpr isa compiled_isa() noexcept { return NNPRUNE_SIMD_X86 ? isa::avx512 : isa::scalar; }

}  // namespace nnprune::simd

// The tier state, outside nnprune::simd (whose ABI namespace holds the kernels' own detail
// namespaces): one object for the whole program.
namespace nnprune::detail {

inline simd::isa detect_cpu_isa() noexcept {
#if NNPRUNE_SIMD_X86
    __builtin_cpu_init();
    const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
                      __builtin_cpu_supports("bmi") && __builtin_cpu_supports("bmi2") &&
                      __builtin_cpu_supports("popcnt");  // every AVX2 CPU has F16C and LZCNT
    const bool avx512 = avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
                        __builtin_cpu_supports("avx512cd");
    return avx512 ? simd::isa::avx512 : avx2 ? simd::isa::avx2 : simd::isa::scalar;
#else
    return simd::isa::scalar;
#endif
}

inline simd::isa default_isa() noexcept {
    simd::isa t = detect_cpu_isa();
    if (const char* env = std::getenv("NNPRUNE_ISA")) {
        if (auto want = simd::parse_isa(env)) t = *want < t ? *want : t;
    }
    return t;
}

/// The program-wide tier in use (outside the ABI namespace: one object for every TU).
inline std::atomic<int>& isa_state() noexcept {
    static std::atomic<int> state{static_cast<int>(default_isa())};
    return state;
}

}  // namespace nnprune::detail

namespace nnprune::simd {

/// The best tier the running CPU supports (and this build compiled).
inline isa supported_isa() noexcept {
    static const isa t = ::nnprune::detail::detect_cpu_isa();
    return t;
}

/// Whether the CPU and the build support tier t.
inline bool supports(isa t) noexcept { return t <= supported_isa(); }

/// Whether the CPU has AVX-512 VBMI2 (used by the 16-bit compress kernels of the avx512 tier).
inline bool cpu_has_avx512_vbmi2() noexcept {
#if NNPRUNE_SIMD_X86
    static const bool has = supports(isa::avx512) && __builtin_cpu_supports("avx512vbmi2");
    return has;
#else
    return false;
#endif
}

/// The tier the kernels run now.
inline isa active_isa() noexcept {
    return static_cast<isa>(::nnprune::detail::isa_state().load(std::memory_order_relaxed));
}

/// Forces tier t for the whole program; a value_error when the CPU or the build lacks it.
inline void set_isa(isa t) {
    NNPRUNE_CHECK(supports(t), value_error,
                  std::string("nnprune::simd::set_isa: tier ") + isa_name(t) +
                      " is not supported here (best: " + isa_name(supported_isa()) + ")");
    ::nnprune::detail::isa_state().store(static_cast<int>(t), std::memory_order_relaxed);
}

/// Back to the default choice (the CPU's best, lowered by NNPRUNE_ISA).
inline void reset_isa() noexcept {
    ::nnprune::detail::isa_state().store(static_cast<int>(::nnprune::detail::default_isa()), std::memory_order_relaxed);
}

/// Forces a tier for a scope (tests, benchmarks), restoring the previous one after.
class isa_guard {
public:
    explicit isa_guard(isa t) : previous_(active_isa()) { set_isa(t); }

    ~isa_guard() { ::nnprune::detail::isa_state().store(static_cast<int>(previous_), std::memory_order_relaxed); }

    isa_guard(const isa_guard&) = delete;
    isa_guard& operator=(const isa_guard&) = delete;

private:
    isa previous_;
};

}  // namespace nnprune::simd

#endif  // NNPRUNE_SIMD_ISA_HPP
