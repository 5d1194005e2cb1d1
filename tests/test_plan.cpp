// A user-defined allocation (ERK) and a user-defined pattern (k of every row pair), written here
// outside include/, through prune() and pruner with no library change; checked against slow
// references written here too.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <numeric>
#include <string_view>
#include <vector>

#include <catch2/catch.hpp>
#include <nnprune/prune/prune.hpp>
#include <nnprune/prune/pruner.hpp>
#include <nnprune/schedules/polynomial.hpp>
#include <nnprune/scorers/magnitude.hpp>

#include "prune_test_util.hpp"

namespace user {

using namespace nnprune;

/// Erdős–Rényi-Kernel (RigL's sparse_utils.get_sparsities_erdos_renyi): layer density
/// proportional to sum(shape) / prod(shape), scaled so that the kept total matches 1 - sparsity;
/// layers whose density would exceed 1 are dense and the others rescaled.
struct erk {
    double sparsity = 0.5;

    [[nodiscard]] std::vector<layer_plan> plan(prune_context& c) const {
        std::vector<char> dense(c.size(), 0);
        std::vector<double> raw(c.size(), 0.0);
        double eps = 0.0;
        for (bool valid = false; !valid;) {
            double divisor = 0.0, rhs = 0.0;
            for (std::size_t i = 0; i < c.size(); ++i) {
                if (c.choice(i).excluded) continue;
                const auto& sh = c.shape(i);
                const auto n = static_cast<double>(sh.numel());
                if (dense[i]) {
                    rhs -= n * sparsity;
                } else {
                    rhs += n * (1.0 - sparsity);
                    raw[i] = static_cast<double>(sh.rows() + sh.cols()) / n;
                    divisor += raw[i] * n;
                }
            }
            eps = rhs / divisor;
            double max_raw = 0.0;
            for (std::size_t i = 0; i < c.size(); ++i)
                if (!dense[i] && !c.choice(i).excluded) max_raw = std::max(max_raw, raw[i]);
            valid = max_raw * eps <= 1.0;
            if (!valid)
                for (std::size_t i = 0; i < c.size(); ++i)
                    if (!dense[i] && raw[i] == max_raw) dense[i] = 1;
        }
        std::vector<layer_plan> p(c.size());
        for (std::size_t i = 0; i < c.size(); ++i)
            if (!c.choice(i).excluded) p[i] = layer_plan::ratio(dense[i] ? 0.0 : 1.0 - eps * raw[i]);
        return p;
    }
};

/// Comparison groups of two consecutive rows (rows must be even): k of each pair pruned.
struct row_pairs {
    static constexpr std::size_t row_group = 2;
    [[nodiscard]] std::size_t group_elements(const shape& s) const { return 2 * s.cols(); }
    void check(const shape& s, std::string_view layer) const {
        NNPRUNE_PRECONDITION(s.rows() % 2 == 0, detail::str("row_pairs: layer '", layer, "' has an odd row count"));
    }
};

inline selection select_mask(const tensor_ref& scores, const row_pairs&, const amount& a, mask_view out,
                             const select_options& o) {
    const std::size_t cols = scores.shape().cols(), n = scores.size();
    const auto* s = static_cast<const float*>(scores.data_handle());
    selection sel;
    double kth = std::numeric_limits<double>::quiet_NaN();
    for (std::size_t g0 = 0; g0 < n; g0 += 2 * cols) {
        std::vector<std::size_t> idx;
        for (std::size_t i = g0; i < g0 + 2 * cols; ++i)
            if (!o.previous.size() || o.previous.test(i)) idx.push_back(i);
        const std::size_t k = a.k_for(idx.size(), o.round, "row_pairs");
        std::stable_sort(idx.begin(), idx.end(), [&](std::size_t x, std::size_t y) { return s[x] < s[y]; });
        for (std::size_t t = 0; t < k; ++t) {
            out.set(idx[t], false);
            kth = std::isnan(kth) ? s[idx[t]] : std::max<double>(kth, s[idx[t]]);
        }
    }
    sel.pruned = out.pruned();
    sel.kth.push_back(kth);
    return sel;
}

}  // namespace user

using namespace nnprune;

namespace {

/// ERK densities by water-filling: make the j layers of largest raw density dense, for the
/// smallest j that leaves every other layer at density <= 1.
std::vector<double> slow_erk_sparsity(const std::vector<shape>& shapes, double s) {
    std::vector<std::size_t> order(shapes.size());
    std::iota(order.begin(), order.end(), std::size_t{0});
    auto raw = [&](std::size_t i) { return static_cast<double>(shapes[i].rows() + shapes[i].cols()) / static_cast<double>(shapes[i].numel()); };
    std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return raw(a) > raw(b); });
    for (std::size_t j = 0; j <= shapes.size(); ++j) {
        double kept = 0.0, div = 0.0;
        for (std::size_t i = 0; i < shapes.size(); ++i) kept += (1.0 - s) * static_cast<double>(shapes[i].numel());
        std::vector<char> dense(shapes.size(), 0);
        for (std::size_t t = 0; t < j; ++t) dense[order[t]] = 1;
        // all layers with the same raw density as a dense one are dense too
        for (std::size_t i = 0; i < shapes.size(); ++i)
            for (std::size_t t = 0; t < j; ++t)
                if (raw(i) == raw(order[t])) dense[i] = 1;
        for (std::size_t i = 0; i < shapes.size(); ++i) {
            if (dense[i]) kept -= static_cast<double>(shapes[i].numel());
            else div += raw(i) * static_cast<double>(shapes[i].numel());
        }
        const double eps = kept / div;
        bool ok = true;
        for (std::size_t i = 0; i < shapes.size(); ++i) ok = ok && (dense[i] || eps * raw(i) <= 1.0);
        if (!ok) continue;
        std::vector<double> out(shapes.size());
        for (std::size_t i = 0; i < shapes.size(); ++i) out[i] = dense[i] ? 0.0 : 1.0 - eps * raw(i);
        return out;
    }
    return {};
}

struct model {
    std::vector<std::vector<float>> w;
    std::vector<shape> shapes;
    std::vector<layer> layers;
};

model make_model(bool ties) {
    model m;
    const std::size_t dims[][2] = {{4, 6}, {16, 8}, {2, 40}, {24, 24}, {2, 2}, {5, 4}};
    for (std::size_t i = 0; i < 6; ++i) {
        m.shapes.push_back(shape{dims[i][0], dims[i][1]});
        m.w.push_back(ties ? test_util::tied_values(m.shapes.back().numel(), 40 + i)
                           : test_util::values(m.shapes.back().numel(), 40 + i));
    }
    const char* names[] = {"l0", "l1", "l2", "l3", "l4", "l5"};
    for (std::size_t i = 0; i < 6; ++i)
        m.layers.push_back(test_util::make_layer(names[i], m.w[i], m.shapes[i].rows(), m.shapes[i].cols()));
    return m;
}

std::vector<float> abs_of(const std::vector<float>& w) {
    std::vector<float> a(w.size());
    for (std::size_t i = 0; i < w.size(); ++i) a[i] = std::fabs(w[i]);
    return a;
}

/// Slow reference of k per row pair among the still-kept (prev may be empty).
mask slow_row_pairs(const std::vector<float>& s, const shape& sh, std::size_t k_pair_total, const mask* prev) {
    mask out(sh, true);
    if (prev) out = *prev;
    const std::size_t cols = sh.cols();
    for (std::size_t g0 = 0; g0 < sh.numel(); g0 += 2 * cols) {
        std::vector<std::size_t> idx;
        std::size_t already = 0;
        for (std::size_t i = g0; i < g0 + 2 * cols; ++i) {
            if (out.test(i)) idx.push_back(i);
            else ++already;
        }
        const std::size_t k = k_pair_total > already ? k_pair_total - already : 0;
        const auto pr = test_util::slow_prune_lowest(s, idx, k);
        for (auto i : idx)
            if (pr[i]) out.set(i, false);
    }
    return out;
}

}  // namespace

TEST_CASE("user allocation (ERK) through prune(): the densities and masks of a slow reference", "[prune][plan]") {
    for (bool ties : {false, true}) {
        model m = make_model(ties);
        for (double s : {0.5, 0.8, 0.95}) {
            CAPTURE(ties, s);
            const auto want_s = slow_erk_sparsity(m.shapes, s);
            const auto r = prune(m.layers, magnitude, per_tensor{}, user::erk{s});
            for (std::size_t i = 0; i < m.layers.size(); ++i) {
                REQUIRE(r.layers[i].target == Approx(want_s[i]).margin(1e-12));
                const std::size_t k = count_to_prune(m.shapes[i].numel(), r.layers[i].target);
                std::vector<std::size_t> idx(m.shapes[i].numel());
                std::iota(idx.begin(), idx.end(), std::size_t{0});
                const auto pr = test_util::slow_prune_lowest(abs_of(m.w[i]), idx, k);
                for (std::size_t j = 0; j < idx.size(); ++j) REQUIRE(r.masks[i].test(j) == !pr[j]);
            }
            // the kept total matches the target (up to rounding per layer)
            REQUIRE(r.sparsity() == Approx(s).margin(0.02));
            // at 0.5 the 2x2 layer's ERK density would exceed 1: it stays dense
            if (s == 0.5) REQUIRE(want_s[4] == 0.0);
        }
    }
}

TEST_CASE("user pattern (k of every row pair) through prune(): slow reference, filter, apply", "[prune][plan]") {
    model m = make_model(true);
    m.layers.pop_back();  // 5x4: odd rows are rejected below
    for (double s : {0.25, 0.5}) {
        prune_options o;
        o.threads = 2;
        const auto r = prune(m.layers, magnitude, user::row_pairs{}, s, o);
        for (std::size_t i = 0; i < m.layers.size(); ++i) {
            const std::size_t k = count_to_prune(2 * m.shapes[i].cols(), s);
            REQUIRE(r.masks[i] == slow_row_pairs(abs_of(m.w[i]), m.shapes[i], k, nullptr));
        }
    }
    // with ERK: each pair prunes ERK's sparsity of its 2 * cols elements
    const auto r = prune(m.layers, magnitude, user::row_pairs{}, user::erk{0.7});
    for (std::size_t i = 0; i < m.layers.size(); ++i) {
        const std::size_t k = count_to_prune(2 * m.shapes[i].cols(), r.layers[i].target);
        REQUIRE(r.masks[i] == slow_row_pairs(abs_of(m.w[i]), m.shapes[i], k, nullptr));
    }
    // the pattern's own check runs before anything; apply zeroes exactly the pruned weights
    model odd = make_model(false);
    REQUIRE_THROWS_WITH(prune(odd.layers, magnitude, user::row_pairs{}, 0.5), Catch::Contains("odd row count"));
    const auto before = odd.w;
    prune_options o;
    o.apply = true;
    odd.layers.pop_back();
    const auto ra = prune(odd.layers, magnitude, user::row_pairs{}, 0.5, o);
    for (std::size_t i = 0; i < odd.layers.size(); ++i)
        for (std::size_t j = 0; j < odd.w[i].size(); ++j) REQUIRE(odd.w[i][j] == (ra.masks[i].test(j) ? before[i][j] : 0.0f));
}

TEST_CASE("pruner with ERK and the row-pair pattern over several steps", "[prune][pruner][plan]") {
    model m = make_model(false);
    m.layers.pop_back();
    m.shapes.pop_back();
    const polynomial_schedule sched{0.0, 0.8, 0, 6, 3, 2};
    pruner p(magnitude, sched, user::row_pairs{}, prune_options{}, user::erk{});
    std::vector<mask> ref;
    for (std::size_t i = 0; i < m.shapes.size(); ++i) ref.emplace_back(m.shapes[i], true);
    int pruned_steps = 0;
    for (std::int64_t step = 0; step <= 8; ++step) {
        for (auto& w : m.w)
            for (auto& x : w) x += 0.003f;  // an optimizer update (revives pruned weights)
        // the reference before the pruner re-applies: scores of the weights as the pruner sees them
        std::vector<std::vector<float>> seen;
        for (const auto& w : m.w) seen.push_back(abs_of(w));
        const auto rep = p.step(m.layers);
        if (!rep.pruned) continue;
        ++pruned_steps;
        const auto sp = slow_erk_sparsity(m.shapes, rep.target);
        for (std::size_t i = 0; i < m.shapes.size(); ++i) {
            const std::size_t k = count_to_prune(2 * m.shapes[i].cols(), sp[i]);
            ref[i] = slow_row_pairs(seen[i], m.shapes[i], k, &ref[i]);
            CAPTURE(step, i);
            REQUIRE(p.state().masks[i] == ref[i]);
        }
        for (std::size_t i = 0; i < m.shapes.size(); ++i)
            for (std::size_t j = 0; j < m.w[i].size(); ++j)
                if (!ref[i].test(j)) REQUIRE(m.w[i][j] == 0.0f);
    }
    REQUIRE(pruned_steps >= 3);
}
