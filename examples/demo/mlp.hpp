#ifndef NNPRUNE_EXAMPLES_DEMO_MLP_HPP
#define NNPRUNE_EXAMPLES_DEMO_MLP_HPP

/// @file mlp.hpp
/// A small multilayer perceptron in Eigen: Linear layers with ReLU between them, softmax
/// cross-entropy, Adam, minibatches in a fixed-seed order. Single-threaded and deterministic.
/// Also the calibration pass that pruning scorers need: each Linear's inputs and per-sample
/// gradients over the training set, handed to a callback.

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <numeric>
#include <vector>

#include <Eigen/Core>

#include "dataset.hpp"

namespace demo {

/// y = x W^T + b, with W [out, in] as in PyTorch's nn.Linear.
struct linear {
    matrix w;
    Eigen::RowVectorXf b;
    // Adam moments
    matrix mw, vw;
    Eigen::RowVectorXf mb, vb;
};

class mlp {
public:
    /// He-uniform weights, zero biases, from a fixed seed.
    mlp(const std::vector<Eigen::Index>& sizes, std::uint64_t seed) {
        rng r(seed);
        for (std::size_t l = 0; l + 1 < sizes.size(); ++l) {
            linear L;
            const Eigen::Index in = sizes[l], out = sizes[l + 1];
            const double bound = std::sqrt(6.0 / static_cast<double>(in));
            L.w.resize(out, in);
            for (Eigen::Index i = 0; i < L.w.size(); ++i)
                L.w.data()[i] = static_cast<float>((2.0 * r.uniform() - 1.0) * bound);
            L.b = Eigen::RowVectorXf::Zero(out);
            L.mw = L.vw = matrix::Zero(out, in);
            L.mb = L.vb = Eigen::RowVectorXf::Zero(out);
            m_layers.push_back(std::move(L));
        }
    }

    [[nodiscard]] std::vector<linear>& layers() { return m_layers; }

    [[nodiscard]] const std::vector<linear>& layers() const { return m_layers; }

    /// Logits of a batch x [n, in]. When `inputs` is given, it receives each Linear's input.
    [[nodiscard]] matrix forward(const matrix& x, std::vector<matrix>* inputs = nullptr) const {
        matrix h = x;
        for (std::size_t l = 0; l < m_layers.size(); ++l) {
            if (inputs) (*inputs)[l] = h;
            matrix z = h * m_layers[l].w.transpose();
            z.rowwise() += m_layers[l].b;
            if (l + 1 < m_layers.size()) z = z.cwiseMax(0.0f);
            h = std::move(z);
        }
        return h;
    }

    /// Fraction of rows of x whose largest logit is the label (the first maximum on ties).
    [[nodiscard]] double accuracy(const dataset& d) const {
        const matrix logits = forward(d.x);
        std::size_t ok = 0;
        for (Eigen::Index i = 0; i < logits.rows(); ++i) {
            Eigen::Index arg = 0;
            logits.row(i).maxCoeff(&arg);
            ok += static_cast<int>(arg) == d.y[static_cast<std::size_t>(i)];
        }
        return static_cast<double>(ok) / static_cast<double>(d.size());
    }

    /// Per-sample dLoss_i/dlogits of softmax cross-entropy (softmax - onehot), one row per sample.
    [[nodiscard]] static matrix loss_grad(const matrix& logits, const std::vector<int>& y, std::size_t first) {
        matrix p = logits;
        for (Eigen::Index i = 0; i < p.rows(); ++i) {
            auto row = p.row(i);
            row.array() -= row.maxCoeff();
            row = row.array().exp().matrix();
            row /= row.sum();
            row(y[first + static_cast<std::size_t>(i)]) -= 1.0f;
        }
        return p;
    }

    /// Backpropagates per-sample output gradients d [n, classes] through the recorded inputs:
    /// for each Linear, calls f(l, input [n, in], dz [n, out]) where row i of dz is the gradient of
    /// sample i's loss w.r.t. that layer's pre-activation.
    template <class F>
    void backward(const std::vector<matrix>& inputs, matrix d, F&& f) const {
        for (std::size_t l = m_layers.size(); l-- > 0;) {
            f(l, inputs[l], d);
            if (l == 0) break;
            matrix dh = d * m_layers[l].w;
            // ReLU: the recorded input of layer l is relu(z_{l-1}); zero where it is zero
            d = dh.cwiseProduct((inputs[l].array() > 0.0f).cast<float>().matrix());
        }
    }

    /// One epoch of minibatch Adam on the mean cross-entropy, in a fixed-seed order. `reapply` is
    /// called after every step (fine-tuning re-applies the pruning masks there).
    template <class Reapply>
    void train_epoch(const dataset& d, std::size_t batch, float lr, rng& r, Reapply&& reapply) {
        std::vector<std::size_t> order(d.size());
        std::iota(order.begin(), order.end(), std::size_t{0});
        shuffle(order, r);
        std::vector<matrix> inputs(m_layers.size());
        for (std::size_t start = 0; start < order.size(); start += batch) {
            const std::size_t n = std::min(batch, order.size() - start);
            matrix xb(static_cast<Eigen::Index>(n), d.x.cols());
            std::vector<int> yb(n);
            for (std::size_t i = 0; i < n; ++i) {
                xb.row(static_cast<Eigen::Index>(i)) = d.x.row(static_cast<Eigen::Index>(order[start + i]));
                yb[i] = d.y[order[start + i]];
            }
            const matrix logits = forward(xb, &inputs);
            const matrix g = loss_grad(logits, yb, 0) / static_cast<float>(n);
            ++m_step;
            backward(inputs, g, [&](std::size_t l, const matrix& x, const matrix& dz) {
                adam(m_layers[l], dz.transpose() * x, dz.colwise().sum(), lr);
            });
            reapply();
        }
    }

    /// Calibration pass over the whole set with the dense model, batches in data order: for each
    /// batch and each Linear l, calls f(l, x [n, in], dz [n, out]) with the layer's inputs and the
    /// per-sample gradients of each sample's loss w.r.t. its pre-activation (so sample i's weight
    /// gradient is dz_i^T x_i). The statistics themselves come from nnprune's accumulators
    /// (main.cpp). Nothing in the model changes.
    template <class F>
    void calibrate(const dataset& d, std::size_t batch, F&& f) const {
        std::vector<matrix> inputs(m_layers.size());
        for (std::size_t start = 0; start < d.size(); start += batch) {
            const std::size_t n = std::min(batch, d.size() - start);
            const matrix xb = d.x.middleRows(static_cast<Eigen::Index>(start), static_cast<Eigen::Index>(n));
            const matrix logits = forward(xb, &inputs);
            backward(inputs, loss_grad(logits, d.y, start), f);
        }
    }

    /// Clears Adam's moments and step count (before fine-tuning a pruned copy).
    void reset_optimizer() {
        for (auto& L : m_layers) {
            L.mw.setZero();
            L.vw.setZero();
            L.mb.setZero();
            L.vb.setZero();
        }
        m_step = 0;
    }

private:
    void adam(linear& L, const matrix& gw, const Eigen::RowVectorXf& gb, float lr) {
        constexpr float b1 = 0.9f, b2 = 0.999f, eps = 1e-8f;
        const float c1 = 1.0f - std::pow(b1, static_cast<float>(m_step));
        const float c2 = 1.0f - std::pow(b2, static_cast<float>(m_step));
        L.mw = b1 * L.mw + (1.0f - b1) * gw;
        L.vw = b2 * L.vw + (1.0f - b2) * gw.cwiseProduct(gw);
        L.mb = b1 * L.mb + (1.0f - b1) * gb;
        L.vb = b2 * L.vb + (1.0f - b2) * gb.cwiseProduct(gb);
        L.w.array() -= lr * (L.mw.array() / c1) / ((L.vw.array() / c2).sqrt() + eps);
        L.b.array() -= lr * (L.mb.array() / c1) / ((L.vb.array() / c2).sqrt() + eps);
    }

    std::vector<linear> m_layers;
    long m_step = 0;
};

}  // namespace demo

#endif  // NNPRUNE_EXAMPLES_DEMO_MLP_HPP
