#ifndef NNPRUNE_SELECT_OPTIONS_HPP
#define NNPRUNE_SELECT_OPTIONS_HPP

/// @file options.hpp
/// The vocabulary every selection shares: how many to prune (amount), options, the result, and a
/// reusable workspace (scratch memory that survives between calls, so repeated selections do not
/// pay for touching fresh pages).

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "../config.hpp"
#include "../core/buffer.hpp"
#include "../core/errors.hpp"
#include "../masks/mask.hpp"
#include "policy.hpp"

namespace nnprune {

/// An explicit number pruned per group, instead of a sparsity ratio.
struct exactly {
    std::size_t k = 0;
};

/// How many to prune per group: a sparsity ratio in [0, 1] (rounded by select_options::round) or
/// an exact count. Converts implicitly from both: select_mask(s, per_row{}, 0.5, m) or
/// select_mask(s, per_row{}, nnprune::exactly{3}, m).
class amount {
public:
    amount(double sparsity) : m_ratio(sparsity) {  // NOLINT(google-explicit-constructor)
        NNPRUNE_PRECONDITION(sparsity >= 0.0 && sparsity <= 1.0,
                             detail::str("sparsity must be in [0, 1], got ", sparsity));
    }

    amount(exactly e) noexcept : m_count(e.k), m_is_count(true) {}  // NOLINT(google-explicit-constructor)

    [[nodiscard]] bool is_count() const noexcept { return m_is_count; }

    [[nodiscard]] double ratio() const noexcept { return m_ratio; }

    [[nodiscard]] std::size_t count() const noexcept { return m_count; }

    /// k for a group of n competing elements. @throws precondition_error when an exact count exceeds n.
    [[nodiscard]] std::size_t k_for(std::size_t n, rounding r, std::string_view fn) const {
        if (!m_is_count) return count_to_prune(n, m_ratio, r);
        NNPRUNE_PRECONDITION(m_count <= n, detail::str(fn, ": asked to prune exactly ", m_count, " of a group of ", n));
        return m_count;
    }

private:
    double m_ratio = 0.0;
    std::size_t m_count = 0;
    bool m_is_count = false;
};

/**
 * @brief Scratch memory for selections, reused across calls. Pass one through
 * select_options::workspace when selecting repeatedly (pruning loops, benchmarks): the engine then
 * allocates (and touches) its buffers once. Not shareable between concurrent calls.
 */
class select_workspace {
public:
    select_workspace() = default;
    select_workspace(const select_workspace&) = delete;
    select_workspace& operator=(const select_workspace&) = delete;
    select_workspace(select_workspace&&) noexcept = default;
    select_workspace& operator=(select_workspace&&) noexcept = default;
    ~select_workspace() = default;

    /// Bytes currently held.
    [[nodiscard]] std::size_t bytes() const noexcept {
        std::size_t b = m_words.capacity() * 8;
        for (const auto& s : m_scratch) b += s.capacity() * 8;
        for (const auto& p : m_parts) b += p->bytes();
        return b;
    }

    /// Gives the memory back.
    void release() noexcept {
        m_words = {};
        m_scratch = {};
        m_parts.clear();
    }

    /// Scratch buffer i (one per thread part and purpose), at least n 64-bit words, contents unspecified.
    [[nodiscard]] std::uint64_t* scratch(std::size_t i, std::size_t n) {
        if (m_scratch.size() <= i) m_scratch.resize(i + 1);
        detail::grow_buffer(m_scratch[i], n);
        return m_scratch[i].data();
    }

    /// A child workspace for thread part i (parts run concurrently, each on its own child).
    [[nodiscard]] select_workspace& part(std::size_t i) {
        while (m_parts.size() <= i) m_parts.push_back(std::make_unique<select_workspace>());
        return *m_parts[i];
    }

    /// A mask-sized word buffer, contents unspecified.
    [[nodiscard]] std::uint64_t* words(std::size_t n) {
        detail::grow_buffer(m_words, n);
        return m_words.data();
    }

private:
    std::vector<std::uint64_t> m_words;
    std::vector<std::vector<std::uint64_t>> m_scratch;
    std::vector<std::unique_ptr<select_workspace>> m_parts;
};

struct select_options {
    rounding round = rounding::half_even;  ///< k from a ratio (ignored for exact counts)
    nan_policy nans = nan_policy::reject;
    unsigned threads = 1;  ///< results are identical for every thread count
    /// When it has elements: a mask from an earlier round. Only still-kept elements compete, k is
    /// computed from their number, and already pruned elements stay pruned (torch PruningContainer).
    /// It may be the output mask itself.
    const_mask_view previous{};
    std::string_view name{};  ///< the tensor's name, for error messages
    /// Scratch memory reused across calls (nullptr: the call allocates its own).
    select_workspace* workspace = nullptr;
    /// per_tensor and global on large contiguous tensors without a previous mask: write the masks
    /// during the counting pass and fix the few keys near the k-th afterwards, so the scores are
    /// read once instead of twice. The price: a NaN under nan_policy::reject is found after some
    /// mask words were written, so the output masks are then left partly written (the scores are
    /// never touched). For masks the caller owns and discards on error (prune() does).
    bool one_pass = false;
};

/// What a selection did.
struct selection {
    std::size_t pruned = 0;  ///< elements pruned in the output mask (previously pruned included)
    /// Per group (1 for per_tensor / blocks / channels / global, rows for per_row, columns for
    /// per_column; empty for N:M): the largest score pruned this round, NaN when none was.
    std::vector<double> kth;
};

}  // namespace nnprune

#endif  // NNPRUNE_SELECT_OPTIONS_HPP
