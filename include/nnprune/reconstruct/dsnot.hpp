#ifndef NNPRUNE_RECONSTRUCT_DSNOT_HPP
#define NNPRUNE_RECONSTRUCT_DSNOT_HPP

/// @file dsnot.hpp
/// DSnoT (Zhang et al., ICLR 2024, arXiv 2310.08915): training-free refinement of a one-shot mask
/// by swapping pruned and kept weights of each output row to drive the row's expected output error
/// towards 0 (dsnot.md; this is its nnprune contract, §1.12). With D_ij = W_ij · sum_row_j,
/// a_ij = |W_ij| · sqrt(scaler_row_j) (Wanda's score) and g_ij = D_ij / var_j^γ, per row:
///   e = Σ_{j pruned} D_ij;  candidate lists fixed at the start, each read in order:
///   R+ = pruned with g > 0 by g descending, R− = pruned with g < 0 by g ascending,
///   K− = kept with D < 0 by a ascending,    K+ = kept with D > 0 by a ascending.
///   cycle: stop if |e| <= threshold or after max_cycle_time swaps; e > 0 takes the next of R+
///   and K−, e < 0 the next of R− and K+ (N:M: the partner is the still-kept, initially kept
///   column of r's group with the lowest initial score); stop when one has no candidate left;
///   e' = e + D_p − D_r; with the sign rule, stop if sign(e') != sign(e at the start);
///   else swap (p pruned, r kept) and e = e'.
/// Rows are independent; the per-row sparsity and the N:M pattern are preserved exactly; the
/// weights are only read. D, the keys and e are double: e is summed in 8 interleaved partial
/// sums (column j in lane j mod 8). Ties go to the lower column (upstream_ties: the higher one
/// in R+, as upstream's walk from the end of its stable sort). A NaN key (0/0) counts as 0 and is
/// never a candidate; ±inf keys (var_j = 0) are valid and come first.
/// Cost: O(in) per row, never a sort of length in. Only the first T = max_cycle_time entries of a
/// list can be used. A first SIMD pass (simd::dsnot_scan) sums e, checks the weights and
/// gathers the R lists up to bounds guessed from the rows before, a float filter letting only
/// columns that may pass a bound reach the exact test; the K lists, which cluster just above the
/// row's threshold, are gathered in a second pass (from cache) up to a bound relative to the
/// row's least kept score. A list that gathered fewer than T under a guessed bound is gathered
/// again without one, so the lists, and the result, never depend on the guesses; each is then
/// cut to its first T (nth_element) and sorted.

#include <algorithm>
#include <bit>
#include <cfloat>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <limits>
#include <optional>
#include <span>
#include <type_traits>
#include <vector>

#include "../calibration/dsnot_accumulator.hpp"
#include "../config.hpp"
#include "../core/element.hpp"
#include "../core/errors.hpp"
#include "../core/tensor_ref.hpp"
#include "../core/tensor_view.hpp"
#include "../detail/parallel.hpp"
#include "../masks/mask.hpp"
#include "../scorers/scorer.hpp"
#include "../simd/dsnot_scan.hpp"
#include "reconstructor.hpp"

namespace nnprune {

/// DSnoT's hyper-parameters (defaults: upstream's, dsnot.md §1.9).
struct dsnot_options {
    unsigned max_cycle_time = 50;       ///< T: at most T swaps per row
    double update_threshold = 0.1;      ///< a row stops when |e| <= this (units of sum_row); >= 0
    double pow_of_var_regrowing = 1.0;  ///< γ: grow key D / var^γ (0: D itself); finite
    /// The sign rule (stop before a swap that changes the sign of e). nullopt: off for
    /// unstructured, on for N:M (upstream's behaviour).
    std::optional<bool> same_sign;
    /// N:M in nnprune's convention (N kept of every M, M − N <= M/2); 0/0: unstructured.
    std::size_t keep_n = 0, group_m = 0;
    /// [out, in] initial score S for the N:M prune partner (lowest S first); default the Wanda
    /// score a. Unused for unstructured masks (their prune order is always a, as upstream).
    std::optional<tensor_ref> initial_score;
    bool upstream_ties = false;  ///< R+ takes the higher column first among equal keys, as upstream
    unsigned threads = 1;        ///< rows in parallel; identical results for any count
};

/// What dsnot_refine did. Every row ends in exactly one of the four rows_* counts.
struct dsnot_report {
    std::size_t swaps = 0;           ///< swaps applied, all rows
    std::size_t rows_converged = 0;  ///< rows that end with |e| <= update_threshold
    std::size_t rows_at_limit = 0;   ///< rows that made max_cycle_time swaps, |e| still above it
    std::size_t rows_exhausted = 0;  ///< rows stopped because a needed list or group had no candidate left
    std::size_t rows_sign_stop = 0;  ///< rows stopped by the sign rule
    double mean_abs_e_before = 0.0;  ///< mean over rows of |e| for the given mask
    double mean_abs_e_after = 0.0;   ///< the same for the refined mask
};

namespace detail {

/// A list candidate: ordered by (key, tie) ascending; tie is the column j, or ~j for the reversed
/// tie rule (so the column is min(tie, ~tie)).
struct dsnot_cand {
    double key;
    std::size_t tie;
};

struct dsnot_before_t {
    [[nodiscard]] bool operator()(const dsnot_cand& a, const dsnot_cand& b) const noexcept {
        return a.key < b.key || (a.key == b.key && a.tie < b.tie);
    }
};

inline constexpr dsnot_before_t dsnot_before{};

/// One candidate list of a row, gathered in one pass: every candidate not after a bound (all of
/// them when there is none), then cut to the first `cap` in dsnot_before order. With a bound the
/// list is complete only when it gathered at least cap; otherwise its row gathers it again
/// without one. The bound is a guess from the rows before: only speed depends on it, a complete
/// list holds the exact first cap.
class dsnot_list {
public:
    void begin(const std::optional<dsnot_cand>& bound) {
        m_c.clear();
        m_bound = bound;
        m_next = bound;
        m_done = false;
    }

    void push(const dsnot_cand& c) {
        if (!m_bound || !dsnot_before(*m_bound, c)) m_c.push_back(c);
    }

    [[nodiscard]] const std::optional<dsnot_cand>& bound() const noexcept { return m_bound; }

    [[nodiscard]] bool complete(std::size_t cap) const noexcept { return !m_bound || m_c.size() >= cap; }

    [[nodiscard]] bool done() const noexcept { return m_done; }

    /// Keeps the first cap, sorted (once per row), and sets next(): a bound for the next row
    /// that would gather about `guess` (> cap). Without a bound, it is the guess-th best (none
    /// when fewer were gathered); with one, the key where a straight line through (cap, the
    /// cap-th key) and (gathered, the bound's key) reaches guess.
    void finish(std::size_t cap, std::size_t guess) {
        if (m_done) return;
        m_done = true;
        const std::size_t n = m_c.size();
        if (n > cap) {
            const auto nth = m_c.begin() + static_cast<std::ptrdiff_t>(cap) - 1;
            std::nth_element(m_c.begin(), nth, m_c.end(), dsnot_before);
            if (!m_bound) {
                if (n >= guess) {
                    const auto g = m_c.begin() + static_cast<std::ptrdiff_t>(guess) - 1;
                    std::nth_element(nth + 1, g, m_c.end(), dsnot_before);
                    m_next = *g;
                }
            } else {
                const double k = nth->key, span = m_bound->key - k;
                const double key = k + span * static_cast<double>(guess - cap) / static_cast<double>(n - cap);
                if (std::isfinite(key)) m_next = dsnot_cand{key, static_cast<std::size_t>(-1)};
            }
            m_c.resize(cap);
        }
        std::sort(m_c.begin(), m_c.end(), dsnot_before);
    }

    /// The next row's bound (after finish; this row's bound until then).
    [[nodiscard]] const std::optional<dsnot_cand>& next() const noexcept { return m_next; }

    [[nodiscard]] std::size_t size() const noexcept { return m_c.size(); }

    [[nodiscard]] std::size_t col(std::size_t t) const noexcept { return std::min(m_c[t].tie, ~m_c[t].tie); }

private:
    std::vector<dsnot_cand> m_c;
    std::optional<dsnot_cand> m_bound, m_next;
    bool m_done = false;
};

[[nodiscard]] inline bool mask_bit(const std::uint64_t* words, std::size_t pos) noexcept {
    return (words[pos >> 6] >> (pos & 63)) & 1u;
}

/// Per field of m bits (m a power of two <= 64), the number of set bits of x in that field.
[[nodiscard]] inline std::uint64_t field_counts(std::uint64_t x, std::size_t m) noexcept {
    if (m == 1) return x;
    x = x - ((x >> 1) & 0x5555555555555555ull);
    if (m == 2) return x;
    x = (x & 0x3333333333333333ull) + ((x >> 2) & 0x3333333333333333ull);
    if (m == 4) return x;
    x = (x + (x >> 4)) & 0x0f0f0f0f0f0f0f0full;
    if (m == 8) return x;
    x = (x + (x >> 8)) & 0x00ff00ff00ff00ffull;
    if (m == 16) return x;
    x = (x + (x >> 16)) & 0x0000ffff0000ffffull;
    if (m == 32) return x;
    return (x + (x >> 32)) & 0xffffffffull;
}

/// The first group of row [base, base + in) whose kept count is not n (npos when all are n).
[[nodiscard]] inline std::size_t dsnot_bad_group(const std::uint64_t* words, std::size_t base, std::size_t in,
                                                 std::size_t n, std::size_t m, std::size_t* count) noexcept {
    constexpr std::size_t npos = static_cast<std::size_t>(-1);
    const auto group_count = [&](std::size_t g) {
        std::size_t c = 0;
        for (std::size_t o = 0; o < m; o += 64)
            c += static_cast<std::size_t>(std::popcount(
                simd::load_bits(words, base + g * m + o, static_cast<unsigned>(std::min<std::size_t>(64, m - o)))));
        return c;
    };
    std::size_t from = 0;  // groups before it are known good
    if (m <= 64 && std::has_single_bit(m)) {
        // 64 / m whole groups per 64-bit chunk, counted at once (SWAR)
        const std::uint64_t rep = m == 64 ? 1u : ~std::uint64_t{0} / ((std::uint64_t{1} << m) - 1);
        const std::uint64_t want = rep * n;
        for (std::size_t j0 = 0; j0 < in; j0 += 64) {
            const std::size_t cnt = std::min<std::size_t>(64, in - j0);
            const std::uint64_t valid = cnt == 64 ? ~std::uint64_t{0} : (std::uint64_t{1} << cnt) - 1;
            if ((field_counts(simd::load_bits(words, base + j0, static_cast<unsigned>(cnt)), m) ^ want) & valid) {
                from = j0 / m;
                break;
            }
            from = in / m;
        }
    }
    for (std::size_t g = from; g < in / m; ++g) {
        const std::size_t c = group_count(g);
        if (c != n) {
            *count = c;
            return g;
        }
    }
    return npos;
}

enum class dsnot_end : std::uint8_t { converged, limit, exhausted, sign };

/// What one row's cycle did.
struct dsnot_row_result {
    double e0 = 0.0, e = 0.0;
    std::size_t swaps = 0;
    dsnot_end end = dsnot_end::converged;
};

/// The layer-wide, read-only inputs of the row cycles.
struct dsnot_layer {
    std::size_t cols = 0, cap = 0, n = 0, m = 0;
    unsigned max_swaps = 0;
    double thr = 0.0;
    bool sign_rule = false, up_ties = false, nm = false;
    const std::uint64_t* words = nullptr;
    std::vector<double> s, vp, sq;       // sum_row, var^γ, sqrt(scaler_row)
    std::vector<float> grow, keep, key;  // the scan's filter constants (simd::dsnot_row)
};

/// One thread's buffers for the row cycles (sized once, reused for every row).
class dsnot_worker {
public:
    explicit dsnot_worker(const dsnot_layer& l) : m_l(l), m_guess(l.cap + l.cap / 2 + 8), m_hits((l.cols + 63) / 64) {
        if (l.nm) m_cut.assign(l.cols, 0);
    }

    /// Row i's cycle on its weights w[0, in) (S: its initial scores, or null for a); appends the
    /// swaps as flat indices (pruned p, then regrown r) to `swaps`. The mask is only read.
    /// Returns false (and does nothing) when a weight is not finite or |w| >= wlim.
    template <class W>
    bool row(std::size_t i, const W* w, const double* S, double wlim, std::vector<std::size_t>& swaps,
             dsnot_row_result& res) {
        const dsnot_layer& l = m_l;
        const std::size_t base = i * l.cols;
        const bool ok = scan(w, base, wlim, res.e0);
        if (!ok) return false;
        double e = res.e0;
        const int s0 = e > 0 ? 1 : -1;
        std::size_t rpos[2] = {0, 0}, kpos[2] = {0, 0};
        const std::size_t first = swaps.size();
        const double* s = l.s.data();
        const auto D = [&](std::size_t j) { return static_cast<double>(w[j]) * s[j]; };
        res.swaps = 0;
        for (;;) {
            if (!(std::fabs(e) > l.thr)) {
                res.end = dsnot_end::converged;
                break;
            }
            if (res.swaps == l.max_swaps) {
                res.end = dsnot_end::limit;
                break;
            }
            const int d = e > 0 ? 0 : 1;  // 0: R+ and K−; 1: R− and K+
            ready(d, w, base);
            if (rpos[d] == m_r[d].size()) {
                res.end = dsnot_end::exhausted;
                break;
            }
            const std::size_t r = m_r[d].col(rpos[d]);
            std::size_t p = 0;
            if (l.nm) {
                p = partner(r, w, S, base);
                if (p == r) {
                    res.end = dsnot_end::exhausted;
                    break;
                }
            } else {
                if (kpos[d] == m_k[d].size()) {
                    res.end = dsnot_end::exhausted;
                    break;
                }
                p = m_k[d].col(kpos[d]);
            }
            const double e2 = e + D(p) - D(r);
            if (l.sign_rule && (e2 > 0 ? 1 : e2 < 0 ? -1 : 0) != s0) {
                res.end = dsnot_end::sign;
                break;
            }
            e = e2;
            ++rpos[d];
            if (l.nm)
                m_cut[p] = 1;
            else
                ++kpos[d];
            swaps.push_back(base + p);
            swaps.push_back(base + r);
            ++res.swaps;
        }
        if (l.nm)
            for (std::size_t t = first; t < swaps.size(); t += 2) m_cut[swaps[t] - base] = 0;
        learn();
        res.e = e;
        return true;
    }

private:
    // The lists: R[q] takes pruned columns with q = (D < 0) (R+ / R−), K[t] kept ones with
    // t = 1 − q (K− / K+; unstructured only); direction d (0: e > 0) uses R[d] and K[d]. The grow
    // key is −|D| / var^γ for both R lists (g descending in R+, ascending in R−).
    [[nodiscard]] dsnot_list& list(std::size_t id) noexcept { return id < 2 ? m_r[id] : m_k[id - 2]; }

    // One pass over the row (simd::dsnot_scan) that gathers the lists in `ids` up to their bounds;
    // acc and kmin as the kernel's. The kernel's float limits are conservative: a grow bound g
    // becomes g·(1 − 2^-20) rounded down, a keep bound a becomes a·(1 + 2^-20) rounded up, each
    // kept within [2^-60, FLT_MAX] (or 0 / inf), so that their products with the column constants
    // are never subnormal.
    template <class W>
    bool sweep(const W* w, std::size_t base, double wlim, std::initializer_list<std::size_t> ids, double* acc,
               float* kmin) {
        const dsnot_layer& l = m_l;
        bool in[4] = {false, false, false, false};
        simd::dsnot_limits lim{{HUGE_VALF, HUGE_VALF}, {-HUGE_VALF, -HUGE_VALF}};  // no hits
        for (std::size_t id : ids) {
            in[id] = true;
            const auto& b = list(id).bound();
            if (id < 2) {
                const double g = b ? -b->key * (1.0 - 0x1p-20) : 0.0;
                lim.grow[id] = g >= 0x1p-60 ? simd::float_down(std::min<double>(g, FLT_MAX)) : 0.0f;
            } else {
                const double a = b ? b->key * (1.0 + 0x1p-20) : HUGE_VAL;
                lim.keep[3 - id] = std::max(simd::float_up(a), 0x1p-60f);  // K[t] holds q = 1 − t
            }
        }
        const double *s = l.s.data(), *vp = l.vp.data(), *sq = l.sq.data();
        const simd::dsnot_row<W> row{w, s, l.grow.data(), l.keep.data(), l.key.data(), l.words, base, l.cols, wlim};
        bool bad = false;
        const std::size_t chunks = simd::dsnot_scan(row, lim, acc, kmin, bad, m_hits.data());
        for (std::size_t c = 0; c < chunks; ++c) {
            const std::size_t j0 = m_hits[c].j0;
            const std::uint64_t kb = m_hits[c].kept;
            for (std::uint64_t hits = m_hits[c].hits; hits; hits &= hits - 1) {
                const std::size_t j = j0 + static_cast<std::size_t>(std::countr_zero(hits));
                const auto wd = static_cast<double>(w[j]);
                const double d = wd * s[j];
                const std::size_t q = d < 0;
                if (!((kb >> (j - j0)) & 1u)) {
                    const double g = std::fabs(d) / vp[j];  // |D| / var^γ: NaN (0/0) and 0 are no candidates
                    if (in[q] && g > 0) m_r[q].push({-g, (q == 0 && l.up_ties) ? ~j : j});
                } else if (in[3 - q] && d != 0) {
                    m_k[1 - q].push({std::fabs(wd) * sq[j], j});
                }
            }
        }
        return !bad;
    }

    // The first pass: e, the weights' check, the R lists up to the bounds guessed from the rows
    // before, and the least kept Wanda score (the reference of the K lists' guesses).
    template <class W>
    bool scan(const W* w, std::size_t base, double wlim, double& e0) {
        const dsnot_layer& l = m_l;
        for (std::size_t q = 0; q < 2; ++q) m_r[q].begin(m_rbound[q]);
        m_k_gathered = l.nm;
        double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
        m_kmin = HUGE_VALF;
        if (!sweep(w, base, wlim, {0, 1}, acc, l.nm ? nullptr : &m_kmin)) return false;
        e0 = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
        return true;
    }

    // The K lists (gathered when a cycle first needs one), each up to kmin times the ratio of its
    // bound to kmin in the rows before: kept columns cluster just above the initial mask's
    // threshold, which moves from row to row.
    template <class W>
    void gather_k(const W* w, std::size_t base) {
        m_k_gathered = true;
        const bool ref = m_kmin > 0 && m_kmin < HUGE_VALF;
        for (std::size_t t = 0; t < 2; ++t)
            m_k[t].begin(ref && m_kratio[t] ? std::optional<dsnot_cand>(
                                                  dsnot_cand{m_kmin * *m_kratio[t], static_cast<std::size_t>(-1)})
                                            : std::nullopt);
        (void)sweep(w, base, 0.0, {2, 3}, nullptr, nullptr);
    }

    // Direction d's lists complete and sorted: one gathered short of cap under a guessed bound is
    // gathered again without one.
    template <class W>
    void ready(int d, const W* w, std::size_t base) {
        const dsnot_layer& l = m_l;
        if (!m_k_gathered) gather_k(w, base);
        for (std::size_t id : {static_cast<std::size_t>(d), static_cast<std::size_t>(d) + 2}) {
            if (id >= 2 && l.nm) break;
            dsnot_list& L = list(id);
            if (L.done()) continue;
            if (!L.complete(l.cap)) {
                L.begin(std::nullopt);
                (void)sweep(w, base, 0.0, {id}, nullptr, nullptr);
            }
            L.finish(l.cap, m_guess);
        }
    }

    // The bounds of the lists this row finished, for the next row (the others keep theirs).
    void learn() {
        for (std::size_t q = 0; q < 2; ++q)
            if (m_r[q].done()) m_rbound[q] = m_r[q].next();
        if (m_l.nm) return;
        const bool ref = m_kmin > 0 && m_kmin < HUGE_VALF;
        for (std::size_t t = 0; t < 2; ++t) {
            if (!m_k[t].done()) continue;
            const auto& nb = m_k[t].next();
            if (!nb)
                m_kratio[t].reset();
            else if (ref)
                m_kratio[t] = nb->key / static_cast<double>(m_kmin);
        }
    }

    // N:M: the still-kept, initially kept column of r's group with the lowest initial score
    // (lower column on ties); r itself when there is none.
    template <class W>
    [[nodiscard]] std::size_t partner(std::size_t r, const W* w, const double* S, std::size_t base) const noexcept {
        const dsnot_layer& l = m_l;
        const std::size_t g0 = r - r % l.m;
        std::size_t best = r;
        double best_key = 0.0;
        for (std::size_t j = g0; j < g0 + l.m; ++j) {
            if (!mask_bit(l.words, base + j) || m_cut[j]) continue;
            const double key = S ? S[j] : std::fabs(static_cast<double>(w[j])) * l.sq[j];
            if (best == r || key < best_key) {
                best = j;
                best_key = key;
            }
        }
        return best;
    }

    const dsnot_layer& m_l;
    std::size_t m_guess;  // a list's next bound is its m_guess-th best: cap plus a margin
    dsnot_list m_r[2], m_k[2];
    std::optional<dsnot_cand> m_rbound[2];  // the R lists' bounds for the next row
    std::optional<double> m_kratio[2];      // the K lists' bounds for the next row, over kmin
    float m_kmin = 0.0f;                    // this row's least kept Wanda score (float)
    bool m_k_gathered = false;
    std::vector<simd::dsnot_hits> m_hits;  // the scan's chunks with hits
    std::vector<unsigned char> m_cut;      // N:M: pruned by this row's cycle
};

/// A statistic widened to double, checked: length, finite, and (nonneg) >= 0.
inline std::vector<double> dsnot_stat(const tensor_ref& r, std::size_t in, const char* name, bool nonneg) {
    NNPRUNE_CHECK(r.size() == in, shape_error,
                  detail::str("dsnot_refine: ", name, " has ", r.shape(), " = ", r.size(), " elements, weights have ",
                              in, " input columns"));
    std::vector<double> v(in);
    if (in == 0) return v;
    visit(r, [&](auto tv) { for_each_indexed(tv, [&](std::size_t i, auto x) { v[i] = to_double(x); }); });
    for (std::size_t j = 0; j < in; ++j) {
        NNPRUNE_CHECK(std::isfinite(v[j]), value_error,
                      detail::str("dsnot_refine: ", name, " has ", std::isnan(v[j]) ? "NaN" : "Inf", " at ", j));
        NNPRUNE_CHECK(!nonneg || v[j] >= 0, value_error,
                      detail::str("dsnot_refine: ", name, " must be >= 0, has ", v[j], " at ", j));
    }
    return v;
}

}  // namespace detail

/**
 * @brief DSnoT: refines `mask` (true = kept, the shape of `weights`, the initial mask from any
 * method) in place by swaps within each row; the weights are only read.
 * @param weights [out, in] (rows = extent 0, columns = the rest), f32/f64/bf16/f16, any strides.
 * @param stats scaler_row, sum_row and var, each with `in` elements (any element type), e.g.
 *        dsnot_accumulator::stats().
 * @code
 * auto r = nnprune::prune(layers, nnprune::wanda, nnprune::per_row{}, 0.5, opt);   // initial mask
 * auto rep = nnprune::dsnot_refine(layers[0].weights, acc.stats(), r.masks[0]);
 * @endcode
 * @throws shape_error on mismatched shapes, in % M != 0, or weights with no matrix interpretation;
 *         value_error on NaN/Inf weights or statistics, var or scaler_row < 0, NaN initial scores,
 *         or weights · sum_row that overflow double; precondition_error on bad options or an N:M
 *         mask whose groups do not keep exactly N. The mask is untouched then.
 */
inline dsnot_report dsnot_refine(const tensor_ref& weights, const dsnot_stats& stats, mask_view mask,
                                 const dsnot_options& o = {}) {
    const nnprune::shape& sh = weights.shape();
    NNPRUNE_CHECK(mask.shape() == sh, shape_error,
                  detail::str("dsnot_refine: mask has shape ", mask.shape(), ", weights have ", sh));
    const std::size_t rows = sh.rows(), in = sh.cols();
    NNPRUNE_PRECONDITION(o.update_threshold >= 0,
                         detail::str("dsnot_refine: update_threshold must be >= 0, got ", o.update_threshold));
    NNPRUNE_PRECONDITION(
        std::isfinite(o.pow_of_var_regrowing),
        detail::str("dsnot_refine: pow_of_var_regrowing must be finite, got ", o.pow_of_var_regrowing));
    const bool nm = o.keep_n != 0 || o.group_m != 0;
    if (nm) {
        NNPRUNE_PRECONDITION(o.group_m > 0 && o.keep_n <= o.group_m && 2 * (o.group_m - o.keep_n) <= o.group_m,
                             detail::str("dsnot_refine: N:M needs 0 < M and M - N <= M / 2 (N kept of M), got ",
                                         o.keep_n, ":", o.group_m));
        NNPRUNE_CHECK(in % o.group_m == 0, shape_error,
                      detail::str("dsnot_refine: ", in, " input columns are not a multiple of M = ", o.group_m));
    }
    if (o.initial_score)
        NNPRUNE_CHECK(
            o.initial_score->shape().rows() == rows && o.initial_score->shape().cols() == in, shape_error,
            detail::str("dsnot_refine: initial_score has shape ", o.initial_score->shape(), ", weights have ", sh));
    NNPRUNE_CHECK(weights.has_matrix(), shape_error,
                  detail::str("dsnot_refine: the trailing dimensions of the ", sh,
                              " weights cannot be merged under their strides"));
    detail::dsnot_layer l;
    l.cols = in;
    l.s = detail::dsnot_stat(stats.sum_row, in, "sum_row", false);
    l.vp = detail::dsnot_stat(stats.var, in, "var", true);
    l.sq = detail::dsnot_stat(stats.scaler_row, in, "scaler_row", true);
    const bool sg = nm && o.initial_score;
    if (sg)
        NNPRUNE_CHECK(o.initial_score->has_matrix(), shape_error,
                      "dsnot_refine: the trailing dimensions of initial_score cannot be merged under its strides");
    double smax = 0.0;
    l.grow.resize(in);
    l.keep.resize(in);
    l.key.resize(in);
    for (std::size_t j = 0; j < in; ++j) {
        smax = std::max(smax, std::fabs(l.s[j]));
        l.vp[j] = std::pow(l.vp[j], o.pow_of_var_regrowing);  // γ = 0: 1, no division (upstream skips it)
        l.sq[j] = std::sqrt(l.sq[j]);
        // the scan's filter constants: a pruned column can have grow key g only if
        // |w| >= g·var^γ/|s| (grow: the ratio rounded down, signed as s so that w's sign times it
        // is D's; inf where D or g is always 0, 0 where the ratio leaves float's normal range),
        // a kept one Wanda score a only if |w| <= a/sqrt(scaler_row) (keep: rounded up)
        const double ratio = l.vp[j] / std::fabs(l.s[j]);
        l.grow[j] = l.s[j] == 0 || std::isinf(l.vp[j])     ? HUGE_VALF
                    : ratio >= 0x1p-60 && ratio <= FLT_MAX ? simd::float_down(ratio)
                                                           : 0.0f;
        if (std::signbit(l.s[j])) l.grow[j] = -l.grow[j];
        l.keep[j] = l.sq[j] == 0 ? HUGE_VALF : std::max(simd::float_up(1.0 / l.sq[j]), 0x1p-60f);
        l.key[j] = simd::float_down(l.sq[j]);  // only for the K lists' reference: any rounding
    }
    l.max_swaps = o.max_cycle_time;
    l.cap = std::max<std::size_t>(1, std::min<std::size_t>(o.max_cycle_time, in));
    l.thr = o.update_threshold;
    l.nm = nm;
    l.n = o.keep_n;
    l.m = o.group_m;
    l.sign_rule = o.same_sign.value_or(nm);
    l.up_ties = o.upstream_ties;
    l.words = mask.words().data();
    // |D| <= max|w| · max|s|: checked per row only when float32 weights could overflow it
    const double dmax = std::numeric_limits<double>::max() / (static_cast<double>(in) + 1.0);
    const bool check_overflow =
        weights.dtype() == dtype::f64 || !(static_cast<double>(std::numeric_limits<float>::max()) * smax < dmax);
    const double wlim = check_overflow && smax > 0 ? dmax / smax : std::numeric_limits<double>::infinity();

    // phase 1 (rows in parallel): validate each row and run its cycle against the unchanged mask
    std::vector<detail::dsnot_row_result> res(rows);
    const unsigned parts = detail::parts_for(rows, std::max(1u, o.threads), 16);
    std::vector<std::vector<std::size_t>> swaps(parts);
    detail::parallel_for(rows, parts, [&](std::size_t r0, std::size_t r1, unsigned part) {
        detail::dsnot_worker wk(l);
        std::vector<float> wf;
        std::vector<double> wd, srow;
        auto& out = swaps[part];
        // room for the usual swap counts (no regrowth copies), at most 8 MiB up front
        out.reserve(std::min<std::size_t>(2 * std::min<std::size_t>(o.max_cycle_time, 64) * (r1 - r0), 1u << 20));
        for (std::size_t i = r0; i < r1; ++i) {
            if (nm) {
                std::size_t c = 0;
                const std::size_t g = detail::dsnot_bad_group(l.words, i * in, in, l.n, l.m, &c);
                NNPRUNE_PRECONDITION(g == static_cast<std::size_t>(-1),
                                     detail::str("dsnot_refine: the mask is not ", l.n, ":", l.m, ": row ", i,
                                                 " keeps ", c, " of columns [", g * l.m, ", ", (g + 1) * l.m, ")"));
            }
            const double* S = nullptr;
            if (sg) {
                srow.resize(in);
                detail::visit_matrix(*o.initial_score, [&](auto sm) {
                    for (std::size_t j = 0; j < in; ++j) srow[j] = to_double(sm(i, j));
                });
                for (std::size_t j = 0; j < in; ++j)
                    NNPRUNE_CHECK(!std::isnan(srow[j]), value_error,
                                  detail::str("dsnot_refine: initial_score has NaN at [", i, ", ", j, "]"));
                S = srow.data();
            }
            detail::visit_matrix(weights, [&](auto wm) {
                using T = typename decltype(wm)::value_type;
                const T* p = wm.data_handle() + static_cast<std::ptrdiff_t>(i) * wm.stride(0);
                // the row's pass flags a non-finite weight (or one whose D could overflow); only
                // then is the row searched for the message
                const auto fail = [&](const auto* q) {
                    const std::size_t bad = detail::first_non_finite(q, in);
                    NNPRUNE_CHECK(bad == in, value_error,
                                  detail::str("dsnot_refine: weights have ", is_nan(q[bad]) ? "NaN" : "Inf", " at [", i,
                                              ", ", bad, "]"));
                    NNPRUNE_THROW(value_error,
                                  detail::str("dsnot_refine: row ", i, ": weights times sum_row overflow double"));
                };
                if constexpr (std::is_same_v<T, double>) {
                    if (wm.stride(1) != 1) {
                        wd.resize(in);
                        for (std::size_t j = 0; j < in; ++j) wd[j] = p[static_cast<std::ptrdiff_t>(j) * wm.stride(1)];
                        p = wd.data();
                    }
                    if (!wk.row(i, p, S, wlim, out, res[i])) fail(p);
                } else {
                    const float* f = nullptr;
                    if constexpr (std::is_same_v<T, float>) f = p;
                    if (!std::is_same_v<T, float> || wm.stride(1) != 1) {
                        wf.resize(in);
                        detail::row_to_float(wm, i, wf.data());
                        f = wf.data();
                    }
                    if (!wk.row(i, f, S, wlim, out, res[i])) fail(f);
                }
            });
        }
    });

    // phase 2: apply the swaps (after every row validated), then the report
    for (const auto& part : swaps)
        for (std::size_t t = 0; t < part.size(); t += 2) {
            mask.set(part[t], false);
            mask.set(part[t + 1], true);
        }
    dsnot_report rep;
    for (const auto& r : res) {
        rep.swaps += r.swaps;
        rep.rows_converged += r.end == detail::dsnot_end::converged;
        rep.rows_at_limit += r.end == detail::dsnot_end::limit;
        rep.rows_exhausted += r.end == detail::dsnot_end::exhausted;
        rep.rows_sign_stop += r.end == detail::dsnot_end::sign;
        rep.mean_abs_e_before += std::fabs(r.e0);
        rep.mean_abs_e_after += std::fabs(r.e);
    }
    if (rows) {
        rep.mean_abs_e_before /= static_cast<double>(rows);
        rep.mean_abs_e_after /= static_cast<double>(rows);
    }
    return rep;
}

/**
 * @brief SparseGPT's saliency as DSnoT's intended `sparsegpt` initial score (dsnot.md §1.3):
 * S_ij = W'_ij² / U_jj², U the upper Cholesky factor of (H + percdamp · mean(diag H) · I)⁻¹, where
 * dead columns (H_jj = 0) get H_jj = 1 and W'_ij = 0 (before the damping). One pass, no OBS
 * update. H = 0 reproduces upstream's degenerate S ≡ 0. Computed in double: 1/U_jj² is the j-th
 * pivot of the Cholesky factorisation of H in reversed column order (H = V Vᵀ, V = U⁻¹ upper),
 * O(in³/3), then rounded to float (scores beyond float's range saturate at its largest value).
 * @param weights [out, in], any element type; hessian [in, in] (symmetric; its upper triangle is
 *        read), any element type; out [out, in].
 * @throws shape_error on mismatched shapes; value_error on NaN/Inf weights or Hessian, or when the
 *         damped Hessian is not positive definite (more damping helps); out is untouched then.
 */
inline void dsnot_sparsegpt_scores(const tensor_ref& weights, const tensor_ref& hessian, matrix_view<float> out,
                                   double percdamp = 0.01) {
    const nnprune::shape& sh = weights.shape();
    const std::size_t rows = sh.rows(), n = sh.cols();
    NNPRUNE_CHECK(hessian.rank() == 2 && hessian.extent(0) == n && hessian.extent(1) == n, shape_error,
                  detail::str("dsnot_sparsegpt_scores: hessian has shape ", hessian.shape(), ", weights have ", n,
                              " input columns"));
    NNPRUNE_CHECK(
        out.extent(0) == rows && out.extent(1) == n, shape_error,
        detail::str("dsnot_sparsegpt_scores: out is [", out.extent(0), ", ", out.extent(1), "], weights are ", sh));
    NNPRUNE_PRECONDITION(percdamp >= 0 && std::isfinite(percdamp),
                         detail::str("dsnot_sparsegpt_scores: percdamp must be finite and >= 0, got ", percdamp));
    const auto find_bad = [](const tensor_ref& r, const char* what) {
        const detail::non_finite f = detail::find_non_finite(r);
        NNPRUNE_CHECK(
            f.index == r.size(), value_error,
            detail::str("dsnot_sparsegpt_scores: ", what, " has ", f.nan ? "NaN" : "Inf", " at flat index ", f.index));
    };
    find_bad(weights, "weights");
    find_bad(hessian, "hessian");
    // B = J H J (reversed order), dead columns fixed, damped
    std::vector<double> B(n * n);
    std::vector<unsigned char> dead(n, 0);
    detail::visit_matrix(hessian, [&](auto h) {
        for (std::size_t a = 0; a < n; ++a)
            for (std::size_t b = 0; b <= a; ++b) B[a * n + b] = to_double(h(n - 1 - a, n - 1 - b));
    });
    double mean_diag = 0.0;
    for (std::size_t a = 0; a < n; ++a) {
        if (B[a * n + a] == 0) {
            B[a * n + a] = 1.0;
            dead[n - 1 - a] = 1;
        }
        mean_diag += B[a * n + a];
    }
    const double damp = n ? percdamp * mean_diag / static_cast<double>(n) : 0.0;
    for (std::size_t a = 0; a < n; ++a) B[a * n + a] += damp;
    // lower Cholesky of B in place (rows of L contiguous); piv[a] = L_aa²
    std::vector<double> piv(n);
    for (std::size_t j = 0; j < n; ++j) {
        const double* lj = B.data() + j * n;
        for (std::size_t i = j; i < n; ++i) {
            double* li = B.data() + i * n;
            double p[4] = {0, 0, 0, 0};
            std::size_t k = 0;
            for (; k + 4 <= j; k += 4)
                for (std::size_t u = 0; u < 4; ++u) p[u] += li[k + u] * lj[k + u];
            for (; k < j; ++k) p[0] += li[k] * lj[k];
            const double v = li[j] - ((p[0] + p[1]) + (p[2] + p[3]));
            if (i == j) {
                NNPRUNE_CHECK(v > 0 && std::isfinite(v), value_error,
                              detail::str("dsnot_sparsegpt_scores: the damped Hessian is not positive definite (pivot ",
                                          v, " at column ", n - 1 - j, "); increase percdamp"));
                piv[j] = v;
                li[j] = std::sqrt(v);
            } else {
                li[j] = v / lj[j];
            }
        }
    }
    constexpr double max_score = std::numeric_limits<float>::max();
    detail::visit_matrix(weights, [&](auto w) {
        for (std::size_t i = 0; i < rows; ++i)
            for (std::size_t j = 0; j < n; ++j) {
                const double x = dead[j] ? 0.0 : to_double(w(i, j));
                // saturated: a double beyond float's range has no float conversion (UB)
                out(i, j) = static_cast<float>(std::min(x * x * piv[n - 1 - j], max_score));
            }
    });
}

/**
 * @brief DSnoT as prune()'s reconstruction step (prune_options::reconstruct): refines each
 * layer's selected mask (any scorer; unstructured, or the pattern's N:M) and writes no weight.
 * stats(layer, index) gives the layer's statistics (dsnot_accumulator::stats(), or the layer's
 * input_stat as scaler_row with sum_row and var from elsewhere). options.keep_n / group_m come from
 * the pattern; options.threads from prune_options::threads when larger.
 */
struct dsnot_step {
    dsnot_options options;
    std::function<dsnot_stats(const layer&, std::size_t)> stats;

    void validate(const layer& l, const reconstruct_context&) const {
        NNPRUNE_PRECONDITION(static_cast<bool>(stats),
                             detail::str("dsnot_step: no statistics for layer '", l.name, "' (set dsnot_step::stats)"));
    }

    void reconstruct(const layer& l, mask_view m, const reconstruct_context& c) const {
        validate(l, c);
        dsnot_options o = options;
        o.keep_n = c.keep_n;
        o.group_m = c.group_m;
        o.threads = std::max(o.threads, c.threads);
        (void)dsnot_refine(l.weights, stats(l, c.index), m, o);
    }
};

}  // namespace nnprune

#endif  // NNPRUNE_RECONSTRUCT_DSNOT_HPP
