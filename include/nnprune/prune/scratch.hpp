#ifndef NNPRUNE_PRUNE_SCRATCH_HPP
#define NNPRUNE_PRUNE_SCRATCH_HPP

/// @file scratch.hpp
/// The one score buffer a prune() call reuses for every layer (prune_options::scratch).

#include <algorithm>
#include <cstddef>
#include <utility>
#include <vector>

#include "../config.hpp"
#include "../core/buffer.hpp"
#include "../detail/parallel.hpp"
#include "../scorers/bind.hpp"
#include "../scorers/scorer.hpp"

namespace nnprune::detail {

/// Holds the reusable score buffer and hands it back to the caller's scratch when done (or on error).
class score_pool {
public:
    explicit score_pool(std::vector<float>* scratch) : m_scratch(scratch) {
        if (m_scratch) m_buf = std::move(*m_scratch);
    }

    ~score_pool() {
        if (m_scratch) *m_scratch = std::move(m_buf);
    }

    score_pool(const score_pool&) = delete;
    score_pool& operator=(const score_pool&) = delete;

    /// Layer l scored into the buffer; give it back with give() (a lent tensor is lost on error).
    /// A scorer that scores blocks of rows (bind.hpp) is run on `threads` row blocks at once, each
    /// with its own bound scorer: the same scores as one call.
    template <scorer S>
    [[nodiscard]] score_tensor score_layer(const S& s, const layer& l, unsigned threads = 1) {
        if constexpr (row_block_scorer<S>) {
            const std::size_t rows = l.weights.shape().rows(), cols = l.weights.shape().cols();
            const unsigned parts =
                cols ? parts_for(rows, threads, std::max<std::size_t>(1, (std::size_t{1} << 16) / cols)) : 1;
            if (parts > 1) {
                check_scorer_input(s, l);  // throws before the buffer is lent
                score_tensor out(std::move(m_buf), l.weights.shape());
                float* p = out.data();
                parallel_for(rows, parts, [&](std::size_t rb, std::size_t re, unsigned) {
                    auto b = bind_rows(s, l);
                    b(rb, matrix_view<float>(p + rb * cols, re - rb, cols));
                });
                return out;
            }
        }
        return score(s, l, std::move(m_buf));
    }

    void give(score_tensor& t) noexcept { m_buf = t.release(); }

    /// At least n floats (the row-streaming path's block buffers).
    [[nodiscard]] float* floats(std::size_t n) {
        detail::grow_buffer(m_buf, n);
        return m_buf.data();
    }

private:
    std::vector<float>* m_scratch;
    std::vector<float> m_buf;
};

/// A scored layer whose buffer goes back to the pool at scope exit.
class pooled_scores {
public:
    template <scorer S>
    pooled_scores(score_pool& pool, const S& s, const layer& l, unsigned threads = 1)
        : m_pool(pool), m_t(pool.score_layer(s, l, threads)) {}

    pooled_scores(const pooled_scores&) = delete;
    pooled_scores& operator=(const pooled_scores&) = delete;

    ~pooled_scores() { m_pool.give(m_t); }

    [[nodiscard]] const score_tensor& get() const noexcept { return m_t; }

private:
    score_pool& m_pool;
    score_tensor m_t;
};

}  // namespace nnprune::detail

#endif  // NNPRUNE_PRUNE_SCRATCH_HPP
