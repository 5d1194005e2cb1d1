// Selects visual tokens from a synthetic [576, 1024] token set (a 24 x 24 patch grid whose
// features vary smoothly over a few "objects", plus noise) with every nnprune token selector,
// then prints how many kept tokens each pair of methods shares and a coverage measure: the mean
// cosine distance from every token to its nearest kept token (lower = the kept set covers the
// image better).
#include <cmath>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include <nnprune/tokens/attention_scores.hpp>
#include <nnprune/tokens/divprune.hpp>
#include <nnprune/tokens/dpp.hpp>
#include <nnprune/tokens/hybrid.hpp>

int main() {
    constexpr std::size_t n = 576, d = 1024, side = 24, objects = 6, heads = 4, queries = 8;
    std::mt19937 rng(2024);
    std::normal_distribution<float> g;
    std::vector<float> centres(objects * d), x(n * d);
    for (auto& v : centres) v = g(rng);
    for (std::size_t i = 0; i < n; ++i) {
        const double r = double(i / side) / side, c = double(i % side) / side;
        for (std::size_t o = 0; o < objects; ++o) {
            const double w = std::exp(
                -10.0 * (std::pow(r - 0.2 - 0.3 * double(o % 3), 2) + std::pow(c - 0.3 - 0.4 * double(o / 3), 2)));
            for (std::size_t j = 0; j < d; ++j) x[i * d + j] += float(w) * centres[o * d + j];
        }
        for (std::size_t j = 0; j < d; ++j) x[i * d + j] += 0.4f * g(rng);
    }
    // synthetic attention [heads, queries, keys]: softmax of random query directions against the tokens
    std::vector<float> attn(heads * queries * n), q(d);
    for (std::size_t h = 0; h < heads * queries; ++h) {
        for (auto& v : q) v = g(rng);
        std::vector<double> logits(n);
        double mx = -1e300, sum = 0;
        for (std::size_t i = 0; i < n; ++i) {
            double s = 0;
            for (std::size_t j = 0; j < d; ++j) s += double(q[j]) * x[i * d + j];
            logits[i] = s / std::sqrt(double(d)) / 4.0;
            mx = std::max(mx, logits[i]);
        }
        for (auto& l : logits) sum += (l = std::exp(l - mx));
        for (std::size_t i = 0; i < n; ++i) attn[h * n + i] = float(logits[i] / sum);
    }

    const nnprune::matrix_view<const float> features(x.data(), n, d);
    const nnprune::tensor_view<const float, 3> attention(attn.data(), heads, queries, n);
    const nnprune::token_keep keep = 0.1;  // round(57.6) = 58 tokens
    const auto scores = nnprune::fastv_scores(attention, {0, n}, nnprune::fastv_mode::mean_queries);
    std::vector<float> relevance(n);
    float smax = 0;
    for (float s : scores) smax = std::max(smax, s);
    for (std::size_t i = 0; i < n; ++i) relevance[i] = scores[i] / smax;

    const std::vector<std::string> names = {"divprune", "fastv", "a2sf", "dpp", "hybrid"};
    std::vector<std::vector<std::size_t>> kept = {
        nnprune::divprune(features, keep),
        nnprune::fastv(attention, {0, n}, keep, nnprune::fastv_mode::mean_queries),
        nnprune::a2sf(attention, {.budget = 58, .recent = 8, .forgetting = 0.9, .kv_heads = 1})[0],
        nnprune::dpp(features, keep, relevance),
        nnprune::hybrid(features, scores, keep, 0.5),
    };

    // coverage: mean over tokens of the cosine distance to the nearest kept token
    std::vector<double> norm(n);
    for (std::size_t i = 0; i < n; ++i) {
        double s = 0;
        for (std::size_t j = 0; j < d; ++j) s += double(x[i * d + j]) * x[i * d + j];
        norm[i] = std::sqrt(s);
    }
    auto cosd = [&](std::size_t a, std::size_t b) {
        double s = 0;
        for (std::size_t j = 0; j < d; ++j) s += double(x[a * d + j]) * x[b * d + j];
        return 1.0 - s / (norm[a] * norm[b]);
    };
    std::printf("%-9s %5s %9s   shared with:", "method", "kept", "coverage");
    for (const auto& nm : names) std::printf(" %8s", nm.c_str());
    std::printf("\n");
    for (std::size_t m = 0; m < names.size(); ++m) {
        double cov = 0;
        for (std::size_t i = 0; i < n; ++i) {
            double best = 1e300;
            for (auto k : kept[m]) best = std::min(best, cosd(i, k));
            cov += best;
        }
        std::printf("%-9s %5zu %9.4f               ", names[m].c_str(), kept[m].size(), cov / double(n));
        for (std::size_t o = 0; o < names.size(); ++o) {
            std::size_t shared = 0;
            for (auto a : kept[m])
                for (auto b : kept[o]) shared += a == b;
            std::printf(" %8zu", shared);
        }
        std::printf("\n");
        for (std::size_t t = 1; t < kept[m].size(); ++t)
            if (kept[m][t - 1] >= kept[m][t]) return 1;  // indices must be strictly ascending
    }
    return 0;
}
