#ifndef NNPRUNE_SELECT_KTH_HPP
#define NNPRUNE_SELECT_KTH_HPP

/// @file kth.hpp
/// The exact k-th key of a comparison group, streaming and with bounded memory:
///  1. sample keys at evenly spaced positions and pick two pivots bracketing the k-th;
///  2. one pass (simd::bracket, split over threads) counts the keys below the low pivot and
///     copies those between the pivots into a reused candidate buffer;
///  3. select exactly among the candidates (kth_resident: radix select, resident.hpp).
/// When the sample misleads, the bracket is corrected from the exact counts; when candidates
/// do not fit, 256-bin histogram passes narrow the key range until they do. The result is the
/// k-th key and the number of competing keys strictly below it: with the tie rule (equal keys
/// pruned in index order) that fixes the mask exactly.

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include "../config.hpp"
#include "../core/errors.hpp"
#include "../core/tensor_ref.hpp"
#include "../detail/parallel.hpp"
#include "../simd/bits.hpp"
#include "../simd/bracket.hpp"
#include "../simd/classify.hpp"
#include "keys.hpp"
#include "options.hpp"
#include "resident.hpp"
#include "runs.hpp"

namespace nnprune::detail {

/// Engine parameters; tests shrink them to drive every fallback path on small inputs.
struct engine_tuning {
    std::size_t small = 2048;                     ///< groups up to this many competing elements: collect all
    std::size_t sample = 0;                       ///< sample size (0: automatic)
    std::size_t max_candidates = 0;               ///< candidate capacity (0: automatic, at most 16 MiB of keys)
    double margin = 4.0;                          ///< bracket half-width in binomial standard deviations
    std::size_t resident = std::size_t{1} << 18;  ///< single contiguous runs up to this size: kth_resident
    bool one_pass_any_type = false;               ///< one_pass on every element type and build (see loggable)
};

inline engine_tuning& tuning() noexcept {
    static engine_tuning t;
    return t;
}

/// Who is selecting, for error messages.
struct error_context {
    std::string_view fn;
    std::string_view name;          ///< tensor name (single tensor)
    bool per_tensor_names = false;  ///< global: name tensors "#t" unless name is given
};

[[noreturn]] inline void throw_nan(const error_context& e, std::uint32_t tensor, std::size_t index) {
    if (e.per_tensor_names && e.name.empty())
        NNPRUNE_THROW(value_error, detail::str(e.fn, ": NaN score at flat index ", index, " of tensor '#", tensor,
                                               "' (nan_policy::reject)"));
    NNPRUNE_THROW(value_error,
                  detail::str(e.fn, ": NaN score at flat index ", index, e.name.empty() ? "" : " of tensor '", e.name,
                              e.name.empty() ? "" : "'", " (nan_policy::reject)"));
}

/// Throws for the first competing NaN of the runs (call when a pass counted NaN under reject).
inline void report_first_nan(const std::vector<run>& runs, const error_context& e) {
    for (const auto& r : runs)
        with_type(r.type, r.p, [&](auto p) {
            for (std::size_t j = 0; j < r.n; ++j) {
                const std::size_t b = r.bit0 + j * r.step;
                if (r.prev && !((r.prev[b >> 6] >> (b & 63)) & 1u)) continue;
                if (is_nan(p[static_cast<std::ptrdiff_t>(j) * r.stride])) throw_nan(e, r.tensor, b);
            }
        });
}

/// One counting/collecting pass over a run list.
template <class K>
void bracket_runs(const std::vector<run>& runs, K lo, K hi, nan_policy np, K* out, std::size_t& pos, std::size_t cap,
                  simd::bracket_counts& c) {
    for (const auto& r : runs)
        with_type(r.type, r.p, [&](auto p) {
            simd::bracket<K>(p, r.n, r.stride, r.prev, r.bit0, r.step, lo, hi, np, out, pos, cap, c);
        });
}

/// Competing keys of s / B blocks of B consecutive positions spread over the group (B = 64 for
/// samples of 2^18 or more, else 16; at simd::sample_offset, deterministic): a block is one or a few cache lines and
/// one page, so even a 2M-key sample of 1e9 scores costs few memory accesses. Returns the count.
/// @pre s is a multiple of 64 or of 16 (small samples), and total >= s.
template <class K>
std::size_t sample_runs(const std::vector<std::vector<run>>& parts, std::size_t total, std::size_t s, nan_policy np,
                        K* out) {
    const std::size_t B = s >= (std::size_t{1} << 18) && s % 64 == 0 ? 64 : 16;
    const std::size_t blocks = s / B;
    const double spacing = static_cast<double>(total) / static_cast<double>(blocks);
    std::size_t got = 0, base = 0, blk = 0, q = 0;  // next position: block blk, offset q
    auto start_of = [&](std::size_t b) { return std::min(total - B, simd::sample_offset(b, spacing, B)); };
    std::size_t start = start_of(0);
    for (const auto& runs : parts)
        for (const auto& r : runs) {
            with_type(r.type, r.p, [&](auto p) {
                while (blk < blocks) {
                    const std::size_t pos = start + q;
                    if (pos >= base + r.n) break;
                    const std::size_t j = pos - base, b = r.bit0 + j * r.step;
                    if (!r.prev || ((r.prev[b >> 6] >> (b & 63)) & 1u))
                        out[got++] = key_as<K>(p[static_cast<std::ptrdiff_t>(j) * r.stride], np);
                    if (++q == B) {
                        q = 0;
                        if (++blk < blocks) start = start_of(blk);
                        // blocks lie pages apart: fetch a few ahead so their misses overlap
                        if (blk + 8 < blocks) {
                            const std::size_t ahead = start_of(blk + 8);
                            if (ahead < base + r.n)
                                __builtin_prefetch(p + static_cast<std::ptrdiff_t>(ahead - base) * r.stride);
                        }
                    }
                }
            });
            base += r.n;
        }
    return got;
}

/// Histogram of the competing keys in [lo, lo + (bins << shift)) into 256 bins; also counts keys below lo.
template <class K>
void histogram_runs(const std::vector<run>& runs, K lo, K hi, unsigned shift, nan_policy np, std::size_t* bins,
                    std::size_t& below) {
    for (const auto& r : runs)
        with_type(r.type, r.p, [&](auto p) {
            for (std::size_t j = 0; j < r.n; ++j) {
                const std::size_t b = r.bit0 + j * r.step;
                if (r.prev && !((r.prev[b >> 6] >> (b & 63)) & 1u)) continue;
                const K key = key_as<K>(p[static_cast<std::ptrdiff_t>(j) * r.stride], np);
                if (key < lo)
                    ++below;
                else if (key <= hi)
                    ++bins[static_cast<std::size_t>((key - lo) >> shift)];
            }
        });
}

/// One-pass mode (select_options::one_pass): the sampled pass also writes the mask bits of the
/// keys outside its bracket [lo, hi] (kept above it, pruned below) and logs where the bracket's
/// keys are (their offsets in their runs, beside the candidate keys), so select_group fixes those
/// from the candidates alone. `complete` says whether it worked (bracket held the k-th, every
/// candidate fitted); otherwise the mask pass runs as usual and overwrites every bit.
struct pass_log {
    bool complete = false;
    const void* cand = nullptr;      ///< the candidate keys (K), part p's at p * stride
    std::uint32_t* where = nullptr;  ///< their offsets in their runs, laid out alike
    std::size_t stride = 0;
    std::vector<std::vector<std::size_t>> per_run;  ///< per part: logged keys of each run
};

/// Runs the log can cover: unit stride, no previous mask, offsets below 2^32, and f32 scores on a
/// tier with a vector classify (elsewhere classify is scalar and two vectorised passes are
/// faster; tests set any_type to cover the scalar twins too).
[[nodiscard]] inline bool loggable(const std::vector<std::vector<run>>& parts, bool any_type) noexcept {
    for (const auto& runs : parts)
        for (const auto& r : runs) {
            if (r.stride != 1 || r.prev || r.n >= (std::size_t{1} << 32)) return false;
            if (!any_type && (r.type != dtype::f32 || !simd::has_vector_classify())) return false;
        }
    return true;
}

/// bracket_runs that also writes the mask bits outside [lo, hi] and logs the offsets of the keys
/// inside (simd::classify, in chunks); false when the candidates outgrew cap (the rest is only
/// counted then).
template <class K>
bool classify_runs(const std::vector<run>& runs, K lo, K hi, nan_policy np, K* out, std::uint32_t* where,
                   std::size_t& pos, std::size_t cap, simd::bracket_counts& c, std::vector<std::size_t>& per_run,
                   std::uint64_t* above, std::uint64_t* inside) {
    constexpr std::size_t chunk = std::size_t{1} << 14;  // its words stay in L1
    bool ok = true;
    per_run.assign(runs.size(), 0);
    for (std::size_t ri = 0; ri < runs.size(); ++ri) {
        const run& r = runs[ri];
        const std::size_t start = pos;
        with_type(r.type, r.p, [&](auto p) {
            for (std::size_t c0 = 0; c0 < r.n; c0 += chunk) {
                const std::size_t n = std::min(chunk, r.n - c0);
                if (!ok || cap < pos + n) {
                    ok = false;
                    std::size_t none = 0;
                    simd::bracket<K>(p + c0, n, 1, nullptr, 0, 1, lo, hi, np, out, none, 0, c);
                    continue;
                }
                const auto cl = simd::classify<K>(p + c0, n, lo, hi, np, out + pos, above, inside);
                c.below += cl.below;
                c.inside += cl.inside;
                c.nans += cl.nans;
                simd::write_bits(r.out, r.bit0 + c0, above, n);
                for (std::size_t w = 0; w < (n + 63) / 64; ++w)
                    for (std::uint64_t in = inside[w]; in; in &= in - 1)
                        where[pos++] =
                            static_cast<std::uint32_t>(c0 + w * 64 + static_cast<std::size_t>(std::countr_zero(in)));
            }
        });
        per_run[ri] = pos - start;
    }
    return ok;
}

/// Scratch for one selection: per part a candidate region, plus shared sample/merge buffers.
template <class K>
struct engine_buffers {
    K* cand = nullptr;                   ///< parts regions of `region` keys each (+16 slack)
    std::size_t region = 0, stride = 0;  ///< keys per part region, and between regions
    K* merged = nullptr;                 ///< cap + 16
    K* tmp = nullptr;                    ///< cap + 16
    K* sample = nullptr;
    std::size_t cap = 0, sample_cap = 0;

    engine_buffers(select_workspace& ws, unsigned parts, std::size_t cap_, std::size_t sample_cap_)
        : cap(cap_), sample_cap(sample_cap_) {
        region = cap / parts;
        stride = region + 16;  // the kernels' 16-key slack stays inside each part's region
        auto words = [](std::size_t keys) { return (keys * sizeof(K) + 7) / 8 + 1; };
        cand = reinterpret_cast<K*>(ws.scratch(0, words(stride * parts)));
        merged = reinterpret_cast<K*>(ws.scratch(1, words(cap + 16)));
        tmp = reinterpret_cast<K*>(ws.scratch(2, words(cap + 16)));
        sample = reinterpret_cast<K*>(ws.scratch(3, words(sample_cap + 16)));
    }
};

/**
 * @brief The exact k-th key (1 <= k <= n_comp) over the parts (a group in order: part 0's runs,
 * then part 1's, ...), with `threads` parts passed in parallel. Fills eq[p] with the number of
 * competing keys of part p equal to the result. Throws on a competing NaN under reject.
 */
template <class K>
kth_found<K> find_kth(const std::vector<std::vector<run>>& parts, std::size_t n_total, std::size_t n_comp,
                      std::size_t k, nan_policy np, select_workspace& ws, std::vector<std::size_t>& eq,
                      const error_context& err, pass_log* log = nullptr) {
    const auto P = static_cast<unsigned>(parts.size());
    const engine_tuning& tu = tuning();
    constexpr K kmax = std::numeric_limits<K>::max();
    // one contiguous run that fits in cache (a row, a small tensor): resident brackets
    if (log && (n_comp <= tu.small || !loggable(parts, tu.one_pass_any_type))) log = nullptr;
    if (P == 1 && parts[0].size() == 1 && parts[0][0].stride == 1 && !parts[0][0].prev && n_comp <= tu.resident) {
        const run& r = parts[0][0];
        K* b0 = reinterpret_cast<K*>(ws.scratch(0, (r.n + 16) * sizeof(K) / 8 + 1));
        K* b1 = reinterpret_cast<K*>(ws.scratch(1, (r.n + 16) * sizeof(K) / 8 + 1));
        std::size_t e = 0, nans = 0;
        const auto f = with_type(r.type, r.p, [&](auto p) { return kth_resident<K>(p, r.n, k, np, b0, b1, e, nans); });
        if (nans && np == nan_policy::reject) report_first_nan(parts[0], err);
        eq.assign(1, e);
        return f;
    }
    // candidate keys: up to 16 MiB (12 MiB in one-pass mode, whose offsets take as much again)
    const std::size_t cap_bytes = log ? std::size_t{12} << 20 : std::size_t{16} << 20;
    std::size_t cap = tu.max_candidates ? tu.max_candidates : std::min<std::size_t>(n_comp, cap_bytes / sizeof(K));
    if (n_comp <= tu.small) cap = std::max(cap, n_comp);
    // the sample: large enough that the bracket's candidates (2 * margin sampling sd, a fraction
    // 2 * margin * sqrt(p (1 - p) / s) of the group) fill at most 3/4 of the candidate buffer,
    // which takes up to 2M samples for 1e9 scores
    std::size_t s = tu.sample;
    if (!s) {
        const double p = std::clamp(static_cast<double>(k) / static_cast<double>(n_comp), 1e-3, 1.0 - 1e-3);
        const double need =
            2.0 * tu.margin * std::sqrt(p * (1 - p)) * static_cast<double>(n_comp) / (0.75 * static_cast<double>(cap));
        const auto want = static_cast<std::size_t>(std::min(need * need, 4e6));
        s = std::clamp<std::size_t>(want, std::clamp<std::size_t>(n_comp / 16, 256, 65536), std::size_t{1} << 21);
    }
    s = std::min(s, n_total);
    s = s >= (std::size_t{1} << 18) ? s / 64 * 64 : std::max<std::size_t>(16, s / 16 * 16);
    engine_buffers<K> buf(ws, P, std::max<std::size_t>(cap, P), s);
    std::vector<simd::bracket_counts> counts(P);
    std::vector<std::size_t> pos(P);
    eq.assign(P, 0);

    std::vector<unsigned char> logged(P, 0);
    if (log) {
        log->where = reinterpret_cast<std::uint32_t*>(ws.scratch(6, buf.stride * P / 2 + 1));
        log->per_run.resize(P);
        log->cand = buf.cand;
        log->stride = buf.stride;
        for (unsigned p = 0; p < P; ++p) (void)ws.part(p);
    }
    // one pass over all parts with bracket [lo, hi] (logging it when asked); returns total counts
    K last_lo = 0, last_hi = kmax;  // the bracket of the last pass (its candidates lie in it)
    auto pass = [&](K lo, K hi, bool logging = false) {
        last_lo = lo;
        last_hi = hi;
        detail::parallel_for(P, P, [&](std::size_t b, std::size_t e, unsigned) {
            for (std::size_t p = b; p < e; ++p) {
                counts[p] = {};
                pos[p] = 0;
                if (logging) {
                    constexpr std::size_t words = (std::size_t{1} << 14) / 64;
                    std::uint64_t* above = ws.part(p).scratch(0, 2 * words);
                    logged[p] =
                        classify_runs<K>(parts[p], lo, hi, np, buf.cand + p * buf.stride, log->where + p * buf.stride,
                                         pos[p], buf.region, counts[p], log->per_run[p], above, above + words);
                } else {
                    bracket_runs<K>(parts[p], lo, hi, np, buf.cand + p * buf.stride, pos[p], buf.region, counts[p]);
                }
            }
        });
        simd::bracket_counts t;
        for (const auto& c : counts) {
            t.below += c.below;
            t.inside += c.inside;
            t.nans += c.nans;
        }
        if (t.nans && np == nan_policy::reject)
            for (const auto& runs : parts) report_first_nan(runs, err);
        return t;
    };
    // candidates fit: select among them; eq per part from the untouched regions
    auto finish = [&](const simd::bracket_counts& t) {
        std::size_t m = 0;
        const K* src = buf.cand;
        if (P > 1) {
            for (unsigned p = 0; p < P; ++p) {
                std::copy(buf.cand + p * buf.stride, buf.cand + p * buf.stride + pos[p], buf.merged + m);
                m += pos[p];
            }
            src = buf.merged;
        } else {
            m = pos[0];
        }
        std::size_t e = 0, nans = 0;
        auto r = kth_resident<K>(src, m, k - t.below, np, buf.tmp, buf.merged, e, nans, last_lo, last_hi);
        r.below += t.below;
        for (unsigned p = 0; p < P; ++p)
            eq[p] = static_cast<std::size_t>(
                std::count(buf.cand + p * buf.stride, buf.cand + p * buf.stride + pos[p], r.key));
        return r;
    };
    auto fits = [&](const simd::bracket_counts& t) {
        for (unsigned p = 0; p < P; ++p)
            if (pos[p] != counts[p].inside) return false;
        return t.inside <= buf.cap;
    };

    K L = 0, H = kmax;  // the k-th key is known to lie in [L, H]
    if (n_comp > tu.small && n_total >= s) {
        const std::size_t got = sample_runs<K>(parts, n_total, s, np, buf.sample);
        if (got >= 16) {
            const double q = static_cast<double>(k) / static_cast<double>(n_comp) * static_cast<double>(got);
            const double pr = std::clamp(static_cast<double>(k) / static_cast<double>(n_comp), 1e-3, 1.0 - 1e-3);
            const double sd = tu.margin * std::sqrt(static_cast<double>(got) * pr * (1 - pr)) + 2.0;
            const auto li = static_cast<std::ptrdiff_t>(std::floor(q - 1 - sd));
            const auto hi_i = static_cast<std::ptrdiff_t>(std::ceil(q - 1 + sd));
            K lo = 0, hi = kmax;
            // the two pivots: order statistics of the sample by radix select (it reads the sample only)
            // radix buffers: the merge buffers, free until the pass (no extra memory) when they fit
            const std::size_t sw = (got + 16) * sizeof(K) / 8 + 1;
            const bool fit = got <= buf.cap;
            K* s0 = fit ? buf.merged : reinterpret_cast<K*>(ws.scratch(4, sw));
            K* s1 = fit ? buf.tmp : reinterpret_cast<K*>(ws.scratch(5, sw));
            std::size_t e_unused = 0, n_unused = 0;
            if (li >= 0)
                lo = kth_resident<K>(buf.sample, got, static_cast<std::size_t>(li) + 1, np, s0, s1, e_unused, n_unused)
                         .key;
            if (hi_i < static_cast<std::ptrdiff_t>(got))
                hi =
                    kth_resident<K>(buf.sample, got, static_cast<std::size_t>(hi_i) + 1, np, s0, s1, e_unused, n_unused)
                        .key;
            const auto t = pass(lo, hi, log != nullptr);
            if (t.below < k && k <= t.below + t.inside) {
                if (fits(t)) {
                    if (log)
                        log->complete =
                            std::all_of(logged.begin(), logged.end(), [](unsigned char x) { return x != 0; });
                    return finish(t);
                }
                L = lo;
                H = hi;
            } else if (k <= t.below) {
                H = static_cast<K>(lo - 1);
            } else {
                L = static_cast<K>(hi + 1);
            }
        }
    }
    // narrow [L, H] with histogram passes until its candidates fit, then collect them
    for (;;) {
        const auto t = pass(L, H);
        if (t.below < k && k <= t.below + t.inside && fits(t)) return finish(t);
        const std::size_t below_L = t.below;
        // 256-bin histogram over [L, H]
        unsigned shift = 0;
        while (shift < sizeof(K) * 8 && (static_cast<K>(H - L) >> shift) >= 256) ++shift;
        std::vector<std::size_t> bins(256 * P, 0), belows(P, 0);
        detail::parallel_for(P, P, [&](std::size_t b, std::size_t e, unsigned) {
            for (std::size_t p = b; p < e; ++p)
                histogram_runs<K>(parts[p], L, H, shift, np, bins.data() + 256 * p, belows[p]);
        });
        std::size_t acc = below_L, bin = 0;
        for (; bin < 256; ++bin) {
            std::size_t c = 0;
            for (unsigned p = 0; p < P; ++p) c += bins[256 * p + bin];
            if (acc + c >= k) break;
            acc += c;
        }
        NNPRUNE_ASSERT(bin < 256);
        const K nl = static_cast<K>(L + (static_cast<K>(bin) << shift));
        // the bin's last key, clamped to H without computing nl + width (it wraps when L is not
        // bin-aligned near the top of the key range)
        const K width_m1 = static_cast<K>((K{1} << shift) - 1);
        const K nh = static_cast<K>(H - nl) <= width_m1 ? H : static_cast<K>(nl + width_m1);
        L = nl;
        H = nh;
        if (L == H) {  // a single key: it is the k-th
            kth_found<K> r{L, acc};
            detail::parallel_for(P, P, [&](std::size_t b, std::size_t e, unsigned) {
                for (std::size_t p = b; p < e; ++p) {
                    simd::bracket_counts c;
                    std::size_t z = 0;
                    bracket_runs<K>(parts[p], L, L, np, buf.cand, z, 0, c);
                    eq[p] = c.inside;
                }
            });
            return r;
        }
    }
}

/// Scans for NaN under reject (for groups where nothing is selected).
inline void check_no_nan(const std::vector<run>& runs, nan_policy np, const error_context& err) {
    if (np != nan_policy::reject) return;
    for (const auto& r : runs) {
        bool any = false;
        with_type(r.type, r.p, [&](auto p) {
            for (std::size_t j = 0; j < r.n && !any; ++j) any = is_nan(p[static_cast<std::ptrdiff_t>(j) * r.stride]);
        });
        if (any) report_first_nan({r}, err);
    }
}

}  // namespace nnprune::detail

namespace nnprune {

/**
 * @brief The k-th smallest score (1-based: k = 1 is the minimum) of a tensor, under the NaN
 * policy (NaN as lowest/highest returns NaN when it is the k-th). The input is not modified;
 * the previous mask, when given, limits the competitors (k counts among them).
 * @throws precondition_error when k is 0 or larger than the tensor; value_error on NaN (reject).
 */
inline double kth_smallest(const tensor_ref& scores, std::size_t k, const select_options& o = {}) {
    constexpr std::string_view fn = "kth_smallest";
    const std::size_t n = scores.size();
    std::size_t n_comp = n;
    if (o.previous.size()) {
        NNPRUNE_CHECK(
            o.previous.shape() == scores.shape(), shape_error,
            detail::str(fn, ": previous mask has ", o.previous.shape(), " elements, scores have ", scores.shape()));
        n_comp = o.previous.count();
    }
    NNPRUNE_PRECONDITION(k >= 1 && k <= n_comp, detail::str(fn, ": k must be in [1, ", n_comp, "], got ", k));
    std::vector<detail::run> runs;
    detail::append_runs(scores, 0, n, o.previous.size() ? o.previous.words().data() : nullptr, nullptr, 0, runs);
    const unsigned parts = detail::parts_for(n, o.threads, std::size_t{1} << 20);
    const auto split = detail::split_runs(runs, parts);
    select_workspace local;
    select_workspace& ws = o.workspace ? *o.workspace : local;
    std::vector<std::size_t> eq;
    const detail::error_context err{fn, o.name};
    return detail::with_type(scores.dtype(), nullptr, [&](auto tp) {
        using T = std::remove_const_t<std::remove_pointer_t<decltype(tp)>>;
        using K = detail::key_of_t<T>;
        const auto r = detail::find_kth<K>(split, n, n_comp, k, o.nans, ws, eq, err);
        return detail::value_of_key<T>(r.key);
    });
}

}  // namespace nnprune

#endif  // NNPRUNE_SELECT_KTH_HPP
