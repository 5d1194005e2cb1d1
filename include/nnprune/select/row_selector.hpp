#ifndef NNPRUNE_SELECT_ROW_SELECTOR_HPP
#define NNPRUNE_SELECT_ROW_SELECTOR_HPP

/// @file row_selector.hpp
/// One contiguous row (a comparison group that fits in cache) selected with one read: a sample
/// of the row brackets its k-th key, simd::classify keys the row once (marking the elements above
/// the bracket and collecting those inside it), the k-th is selected among the candidates, and
/// simd::resolve turns the marks into the row's kept words. A bracket that misses the k-th (rare)
/// classifies the row again with every key a candidate. Used by per_row selection and by the
/// prune loop's row-streaming path, which applies the kept words to the weights it just scored.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <tuple>

#include "../config.hpp"
#include "../detail/parallel.hpp"
#include "../simd/bits.hpp"
#include "../simd/classify.hpp"
#include "kth.hpp"
#include "options.hpp"
#include "resident.hpp"

namespace nnprune::detail {

/// Thread parts for selecting `rows` rows of `cols` elements (at least ~64Ki elements a part).
[[nodiscard]] inline unsigned row_parts(std::size_t rows, std::size_t cols, unsigned threads) noexcept {
    return parts_for(rows, threads, std::max<std::size_t>(1, (std::size_t{1} << 16) / std::max<std::size_t>(cols, 1)));
}

template <class T>
class row_selector {
public:
    using K = key_of_t<T>;

    /// Scratch for rows of `cols` elements, from ws (one row_selector per thread part).
    row_selector(select_workspace& ws, std::size_t cols) : m_cols(cols), m_words((cols + 63) / 64) {
        const std::size_t kw = (cols + 16) * sizeof(K) / 8 + 1;
        m_cand = reinterpret_cast<K*>(ws.scratch(0, kw));
        m_b0 = reinterpret_cast<K*>(ws.scratch(1, kw));
        m_b1 = reinterpret_cast<K*>(ws.scratch(2, kw));
        m_kept = ws.scratch(3, m_words + 1);
        m_inside = ws.scratch(4, m_words + 1);
        m_hist = reinterpret_cast<std::uint32_t*>(ws.scratch(5, 1024));
    }

    /**
     * @brief Selects the k (<= cols) lowest of the row (ties: lower index first) into kept_words();
     * returns the k-th key (meaningless when k = 0). `ahead` (the next row, or null) is prefetched.
     * @throws value_error on a NaN score under nan_policy::reject, naming flat index first + j.
     */
    K select(const T* row, std::size_t k, nan_policy np, const error_context& err, std::size_t first,
             const T* ahead = nullptr) {
        constexpr K kmax = std::numeric_limits<K>::max();
        K lo = 0, hi = kmax;
        if (m_cols >= 4096 && k > 0 && k < m_cols) std::tie(lo, hi) = sample_bracket<K>(row, m_cols, k, np, m_hist);
        auto c = simd::classify<K>(row, m_cols, lo, hi, np, m_cand, m_kept, m_inside, ahead);
        if (c.nans && np == nan_policy::reject)
            for (std::size_t j = 0; j < m_cols; ++j)
                if (is_nan(row[j])) throw_nan(err, 0, first + j);
        if (k == 0) {
            for (std::size_t i = 0; i < m_words; ++i) m_kept[i] |= m_inside[i];  // everything kept
            return K(0);
        }
        if (!(c.below < k && k <= c.below + c.inside)) {  // the sample misled: every key a candidate
            lo = 0;
            hi = kmax;
            c = simd::classify<K>(row, m_cols, lo, hi, np, m_cand, m_kept, m_inside);
        }
        std::size_t eq = 0, nn = 0;
        const auto f = kth_resident<K>(m_cand, c.inside, k - c.below, np, m_b0, m_b1, eq, nn, lo, hi);
        simd::resolve<K>(m_kept, m_inside, m_words, m_cand, f.key, k - c.below - f.below, m_kept);
        return f.key;
    }

    /// The last row's kept bits, LSB first from the row's first element (the bits past cols are zero).
    [[nodiscard]] const std::uint64_t* kept_words() const noexcept { return m_kept; }

    /// Writes the last row's kept bits to mask words at bit position `bit0`.
    void write(std::uint64_t* words, std::size_t bit0) const noexcept { simd::write_bits(words, bit0, m_kept, m_cols); }

private:
    std::size_t m_cols, m_words;
    K* m_cand;
    K* m_b0;
    K* m_b1;
    std::uint64_t* m_kept;
    std::uint64_t* m_inside;
    std::uint32_t* m_hist;
};

}  // namespace nnprune::detail

#endif  // NNPRUNE_SELECT_ROW_SELECTOR_HPP
