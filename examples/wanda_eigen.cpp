// Prunes the linear layers of a small MLP held in Eigen matrices with Wanda, using activations
// accumulated from real forward passes, block by block as the Wanda reference does: calibrate a
// layer on the outputs of the already-pruned layers before it, prune it (50% per output row,
// k = int(in * s)), move on. Compares the output error with magnitude pruning at the same sparsity.
// Exits non-zero if a check fails (ctest runs it).

#include <cmath>
#include <cstdio>
#include <vector>

#include <Eigen/Dense>

#include <nnprune/calibration/wanda_accumulator.hpp>
#include <nnprune/prune/prune.hpp>
#include <nnprune/scorers/magnitude.hpp>
#include <nnprune/scorers/random.hpp>
#include <nnprune/scorers/wanda.hpp>

using matrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;  // W is [out, in]

namespace {

matrix random_matrix(Eigen::Index r, Eigen::Index c, std::uint64_t seed, float scale) {
    nnprune::splitmix64 g(seed);
    matrix m(r, c);
    for (Eigen::Index i = 0; i < m.size(); ++i) m.data()[i] = (g.uniform() * 2.0f - 1.0f) * scale;
    return m;
}

// inputs with a few high-magnitude feature columns: the outlier features Wanda is designed for
matrix calibration_tokens(Eigen::Index tokens, Eigen::Index in, std::uint64_t seed) {
    matrix x = random_matrix(tokens, in, seed, 1.0f);
    for (Eigen::Index j = 0; j < in; j += 9) x.col(j) *= 20.0f;
    return x;
}

matrix forward(const std::vector<matrix>& ws, const matrix& x) {
    matrix h = x;
    for (std::size_t l = 0; l < ws.size(); ++l) {
        h = h * ws[l].transpose();
        if (l + 1 < ws.size()) h = h.cwiseMax(0.0f);  // ReLU
    }
    return h;
}

template <class Scorer>
std::vector<matrix> prune_sequentially(std::vector<matrix> ws, const std::vector<matrix>& calib, const Scorer& scorer,
                                       double sparsity, bool& ok) {
    std::vector<matrix> inputs = calib;  // the current block input for every calibration sequence
    for (std::size_t l = 0; l < ws.size(); ++l) {
        matrix& w = ws[l];
        nnprune::wanda_accumulator acc(static_cast<std::size_t>(w.cols()));
        for (const auto& x : inputs)  // one sequence [T, in] per call, as upstream
            acc.add(nnprune::matrix_view<const float>(x.data(), static_cast<std::size_t>(x.rows()),
                                                      static_cast<std::size_t>(x.cols())));
        const std::string name = "mlp." + std::to_string(l);
        std::vector<nnprune::layer> layers{{name,
                                            nnprune::matrix_view<float>(w.data(), static_cast<std::size_t>(w.rows()),
                                                                        static_cast<std::size_t>(w.cols())),
                                            acc.stat(),
                                            {}}};
        nnprune::prune_options o;
        o.round = nnprune::rounding::truncate;  // Wanda: k = int(in * s)
        o.apply = true;
        const auto r = nnprune::prune(layers, scorer, nnprune::per_row{}, sparsity, o);
        const auto k = static_cast<std::size_t>(static_cast<double>(w.cols()) * sparsity);
        for (Eigen::Index i = 0; i < w.rows(); ++i) {
            const auto zeros = static_cast<std::size_t>((w.row(i).array() == 0.0f).count());
            if (zeros != k) ok = false;  // exactly k per row (weights are never exactly 0 before)
        }
        std::printf("  %-6s %5zux%-5zu kept %6zu sparsity %.4f kth score %.5g\n", name.c_str(),
                    static_cast<std::size_t>(w.rows()), static_cast<std::size_t>(w.cols()), r.layers[0].kept,
                    r.layers[0].sparsity, r.layers[0].kth_score);
        if (l + 1 < ws.size())
            for (auto& x : inputs) x = (x * w.transpose()).cwiseMax(0.0f);  // propagate through the pruned layer
    }
    return ws;
}

}  // namespace

int main() {
    const std::vector<std::pair<Eigen::Index, Eigen::Index>> dims{{96, 64}, {128, 96}, {32, 128}};  // [out, in]
    std::vector<matrix> dense;
    for (std::size_t l = 0; l < dims.size(); ++l)
        dense.push_back(
            random_matrix(dims[l].first, dims[l].second, 10 + l, 1.0f / std::sqrt(static_cast<float>(dims[l].second))));
    std::vector<matrix> calib;
    for (std::uint64_t s = 0; s < 8; ++s) calib.push_back(calibration_tokens(32, 64, 100 + s));
    const matrix test = calibration_tokens(256, 64, 999);
    const matrix want = forward(dense, test);

    bool ok = true;
    std::printf("wanda (50%% per output row):\n");
    const auto pw = prune_sequentially(dense, calib, nnprune::wanda, 0.5, ok);
    std::printf("magnitude (50%% per output row):\n");
    const auto pm = prune_sequentially(dense, calib, nnprune::magnitude, 0.5, ok);
    const double ew = (forward(pw, test) - want).norm() / want.norm();
    const double em = (forward(pm, test) - want).norm() / want.norm();
    std::printf("relative output error on held-out tokens: wanda %.4f, magnitude %.4f\n", ew, em);
    if (!(ew < em)) {
        std::printf("FAIL: wanda should beat magnitude on inputs with outlier features\n");
        ok = false;
    }
    if (!ok) std::printf("FAIL\n");
    return ok ? 0 : 1;
}
