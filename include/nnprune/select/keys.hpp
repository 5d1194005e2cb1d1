#ifndef NNPRUNE_SELECT_KEYS_HPP
#define NNPRUNE_SELECT_KEYS_HPP

/// @file keys.hpp
/// Order keys: every score maps to an unsigned integer whose order is the score's total order
/// under a NaN policy (-0 and +0 are equal; NaN as lowest is key 0, as highest the largest key;
/// no finite or infinite score maps to either). Selection runs on keys, so f32, f64, bf16 and f16
/// are all compared exactly in their own order, and mixed lists in the order of their doubles.

#include <bit>
#include <cstdint>
#include <limits>
#include <type_traits>

#include "../config.hpp"
#include "../core/element.hpp"
#include "policy.hpp"

namespace nnprune::detail {

/// The native key type of an element type.
template <class T>
using key_of_t = std::conditional_t<std::is_same_v<T, double>, std::uint64_t,
                                    std::conditional_t<std::is_same_v<T, float>, std::uint32_t, std::uint16_t>>;

template <class U>
[[nodiscard]] constexpr U flip_bits(U u) noexcept {
    constexpr U top = U(U{1} << (sizeof(U) * 8 - 1));
    return (u & top) ? U(~u) : U(u | top);
}

/// Key of a non-NaN score in the native key type of T.
template <class T>
[[nodiscard]] constexpr key_of_t<T> raw_key(T x) noexcept {
    using K = key_of_t<T>;
    if constexpr (std::is_same_v<T, float> || std::is_same_v<T, double>) {
        const K u = std::bit_cast<K>(x == T(0) ? T(0) : x);  // -0 -> +0
        return flip_bits(u);
    } else {
        constexpr K top = 0x8000u;
        const K u = (x.bits == top) ? K(0) : x.bits;  // -0 -> +0
        return flip_bits(u);
    }
}

/// Key of a score under a NaN policy (reject maps NaN to 0; callers count NaN separately).
template <class K, class T>
[[nodiscard]] constexpr K key_as_score(T x, nan_policy p) noexcept {
    if (is_nan(x)) return p == nan_policy::as_highest ? std::numeric_limits<K>::max() : K(0);
    if constexpr (std::is_same_v<K, key_of_t<T>>)
        return raw_key(x);
    else if constexpr (std::is_same_v<K, std::uint64_t>)
        return raw_key(to_double(x));  // mixed lists
    else
        return K(0);  // unreachable: a group of narrower keys holds one element type
}

/// Key of a score, or a key itself (unsigned T: candidate buffers hold keys).
template <class K, class T>
[[nodiscard]] constexpr K key_as(T x, nan_policy p) noexcept {
    if constexpr (std::is_unsigned_v<T>) {
        (void)p;
        return static_cast<K>(x);
    } else {
        return key_as_score<K>(x, p);
    }
}

/// True when x is a NaN score (keys are never NaN).
template <class T>
[[nodiscard]] constexpr bool is_nan_score(T x) noexcept {
    if constexpr (std::is_unsigned_v<T>)
        return (void)x, false;
    else
        return is_nan(x);
}

/// The score a key stands for, as a double (NaN for the two NaN keys).
template <class T, class K>
[[nodiscard]] constexpr double value_of_key(K k) noexcept {
    if (k == K(0) || k == std::numeric_limits<K>::max()) return std::numeric_limits<double>::quiet_NaN();
    constexpr K top = K(K{1} << (sizeof(K) * 8 - 1));
    const K u = (k & top) ? K(k & ~top) : K(~k);
    if constexpr (std::is_same_v<K, std::uint64_t>)
        return std::bit_cast<double>(u);
    else if constexpr (std::is_same_v<K, std::uint32_t>)
        return static_cast<double>(std::bit_cast<float>(u));
    else if constexpr (std::is_same_v<T, bfloat16>)
        return to_double(bfloat16::from_bits(u));
    else
        return to_double(float16::from_bits(u));
}

}  // namespace nnprune::detail

#endif  // NNPRUNE_SELECT_KEYS_HPP
