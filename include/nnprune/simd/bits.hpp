#ifndef NNPRUNE_SIMD_BITS_HPP
#define NNPRUNE_SIMD_BITS_HPP

/// @file bits.hpp
/// Reading and writing runs of mask bits at any bit position. A bit_writer writes whole words
/// with plain stores and the (at most two) partially covered words of its range with atomic
/// and/or, so writers of neighbouring ranges may share a word and run on different threads.

#include <algorithm>
#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>

#include "../config.hpp"
#include "isa.hpp"

namespace nnprune::simd::inline NNPRUNE_SIMD_ABI {

/// cnt (<= 64) bits of w starting at bit position pos, in the low bits of the result.
[[nodiscard]] inline std::uint64_t load_bits(const std::uint64_t* w, std::size_t pos, unsigned cnt) noexcept {
    const std::size_t wi = pos >> 6;
    const unsigned off = static_cast<unsigned>(pos & 63);
    std::uint64_t v = w[wi] >> off;
    if (off && off + cnt > 64) v |= w[wi + 1] << (64 - off);
    return cnt == 64 ? v : v & ((std::uint64_t{1} << cnt) - 1);
}

/// Sets or clears one bit with an atomic operation (other bits of the word may change concurrently).
inline void store_bit_atomic(std::uint64_t* w, std::size_t pos, bool value) noexcept {
    std::atomic_ref<std::uint64_t> a(w[pos >> 6]);
    const std::uint64_t bit = std::uint64_t{1} << (pos & 63);
    if (value)
        a.fetch_or(bit, std::memory_order_relaxed);
    else
        a.fetch_and(~bit, std::memory_order_relaxed);
}

/// Writes consecutive bits starting at a bit position; call finish() at the end.
class bit_writer {
public:
    bit_writer(std::uint64_t* words, std::size_t pos) noexcept
        : m_w(words + (pos >> 6)), m_lo(static_cast<unsigned>(pos & 63)), m_fill(m_lo) {}

    /// Appends the low cnt bits of bits (cnt <= 64; the bits above cnt must be zero).
    void push(std::uint64_t bits, unsigned cnt) noexcept {
        if (cnt == 0) return;
        m_acc |= bits << m_fill;
        if (m_fill + cnt < 64) {
            m_fill += cnt;
            return;
        }
        const unsigned used = 64 - m_fill;  // bits of `bits` that went into this word
        flush(64);
        m_acc = used == 64 ? 0 : bits >> used;
        m_fill = cnt - used;
    }

    void finish() noexcept {
        if (m_fill > m_lo) flush(m_fill);
    }

private:
    void flush(unsigned hi) noexcept {
        if (m_lo == 0 && hi == 64) {
            *m_w = m_acc;
        } else {
            const std::uint64_t hi_mask = hi == 64 ? ~std::uint64_t{0} : (std::uint64_t{1} << hi) - 1;
            const std::uint64_t range = hi_mask & ~((std::uint64_t{1} << m_lo) - 1);
            std::atomic_ref<std::uint64_t> a(*m_w);
            a.fetch_and(~range, std::memory_order_relaxed);
            a.fetch_or(m_acc & range, std::memory_order_relaxed);
        }
        ++m_w;
        m_lo = 0;
        m_acc = 0;
    }

    std::uint64_t* m_w;
    unsigned m_lo;
    unsigned m_fill;
    std::uint64_t m_acc = 0;
};

/// Writes n bits of src (LSB first, word by word) at bit position pos of words.
inline void write_bits(std::uint64_t* words, std::size_t pos, const std::uint64_t* src, std::size_t n) noexcept {
    if (n == 0) return;
    bit_writer w(words, pos);
    const std::size_t full = (n - 1) / 64;
    for (std::size_t i = 0; i < full; ++i) w.push(src[i], 64);
    w.push(src[full], static_cast<unsigned>(n - full * 64));
    w.finish();
}

/// Number of set bits in [begin, end) of w.
[[nodiscard]] inline std::size_t count_bits(const std::uint64_t* w, std::size_t begin, std::size_t end) noexcept {
    std::size_t c = 0;
    while (begin < end && (begin & 63)) {
        const unsigned cnt = static_cast<unsigned>(std::min<std::size_t>(64 - (begin & 63), end - begin));
        c += static_cast<std::size_t>(std::popcount(load_bits(w, begin, cnt)));
        begin += cnt;
    }
    for (; begin + 64 <= end; begin += 64) c += static_cast<std::size_t>(std::popcount(w[begin >> 6]));
    if (begin < end)
        c += static_cast<std::size_t>(std::popcount(load_bits(w, begin, static_cast<unsigned>(end - begin))));
    return c;
}

}  // namespace nnprune::simd::inline NNPRUNE_SIMD_ABI

#endif  // NNPRUNE_SIMD_BITS_HPP
