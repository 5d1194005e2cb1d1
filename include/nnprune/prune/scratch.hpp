#ifndef NNPRUNE_PRUNE_SCRATCH_HPP
#define NNPRUNE_PRUNE_SCRATCH_HPP

/// @file scratch.hpp
/// The one score buffer a prune() call reuses for every layer (prune_options::scratch).

#include <utility>
#include <vector>

#include "../config.hpp"
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
    template <scorer S>
    [[nodiscard]] score_tensor score_layer(const S& s, const layer& l) {
        return score(s, l, std::move(m_buf));
    }
    void give(score_tensor& t) noexcept { m_buf = t.release(); }
    /// At least n floats (the row-streaming path's block buffers).
    [[nodiscard]] float* floats(std::size_t n) {
        if (m_buf.size() < n) m_buf.resize(n);
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
    pooled_scores(score_pool& pool, const S& s, const layer& l) : m_pool(pool), m_t(pool.score_layer(s, l)) {}
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
