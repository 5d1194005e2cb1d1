// Gradual magnitude pruning inside a training loop (Zhu & Gupta): a linear model y = W x learned by
// SGD on a synthetic teacher, with a cubic schedule from 0% to 80% sparsity between steps 100 and
// 600, pruning every 50 steps. After each optimizer update, pruner::step() prunes at the schedule's
// pruning steps and re-applies the masks at every step. Exits non-zero if a check fails.

#include <cmath>
#include <cstdio>
#include <vector>

#include <nnprune/prune/pruner.hpp>
#include <nnprune/schedules/polynomial.hpp>
#include <nnprune/scorers/magnitude.hpp>
#include <nnprune/scorers/random.hpp>

int main() {
    const std::size_t out = 16, in = 48, batch = 32;
    nnprune::splitmix64 g(42);
    auto u = [&] { return g.uniform() * 2.0f - 1.0f; };
    // a sparse teacher: 20% of its weights are non-zero
    std::vector<float> teacher(out * in), w(out * in), grad(out * in);
    for (auto& t : teacher) t = g.uniform() < 0.2f ? u() * 2.0f : 0.0f;
    for (auto& x : w) x = u() * 0.1f;

    std::vector<nnprune::layer> layers{{"fc", nnprune::matrix_view<float>(w.data(), out, in), {}, {}}};
    const nnprune::polynomial_schedule schedule{0.0, 0.8, 100, 600, 3, 50};
    nnprune::pruner pruner(nnprune::magnitude, schedule);

    std::vector<float> x(batch * in), err(batch * out);
    double loss = 0;
    bool ok = true;
    for (std::int64_t step = 0; step <= 800; ++step) {
        for (auto& v : x) v = u();
        loss = 0;
        for (std::size_t b = 0; b < batch; ++b)
            for (std::size_t i = 0; i < out; ++i) {
                float y = 0, t = 0;
                for (std::size_t j = 0; j < in; ++j) {
                    y += w[i * in + j] * x[b * in + j];
                    t += teacher[i * in + j] * x[b * in + j];
                }
                err[b * out + i] = y - t;
                loss += 0.5 * (y - t) * (y - t) / batch;
            }
        for (std::size_t i = 0; i < out; ++i)
            for (std::size_t j = 0; j < in; ++j) {
                float gsum = 0;
                for (std::size_t b = 0; b < batch; ++b) gsum += err[b * out + i] * x[b * in + j];
                grad[i * in + j] = gsum / static_cast<float>(batch);
            }
        for (std::size_t k = 0; k < w.size(); ++k) w[k] -= 0.05f * grad[k];  // SGD: revives pruned weights
        const auto rep = pruner.step(layers);                                // prune / re-apply masks
        if (rep.pruned) {
            const double got = pruner.state().masks[0].sparsity();
            std::printf("step %4lld target %.4f sparsity %.4f loss %.5f\n", static_cast<long long>(step), rep.target,
                        got, loss);
            if (std::fabs(got - static_cast<double>(nnprune::count_to_prune(w.size(), rep.target)) /
                                    static_cast<double>(w.size())) > 1e-12)
                ok = false;
        }
        for (std::size_t k = 0; k < w.size(); ++k)
            if (!pruner.state().masks.empty() && !pruner.state().masks[0].test(k) && w[k] != 0.0f) ok = false;
    }
    const double final_sparsity = pruner.state().masks[0].sparsity();
    std::printf("final sparsity %.4f, final loss %.6f\n", final_sparsity, loss);
    if (std::fabs(final_sparsity - 0.8) > 1.0 / static_cast<double>(w.size())) ok = false;
    if (!(loss < 0.05)) ok = false;  // the 20%-dense teacher is recoverable at 80% sparsity
    if (!ok) std::printf("FAIL\n");
    return ok ? 0 : 1;
}
