// nnprune demo: train a small MLP on the UCI handwritten digits, then prune its hidden layers with
// every weight scorer at 50-95% sparsity (unstructured, per row, 2:4) and report test accuracy.
//
//   nnprune_demo [--quick] [--data digits.csv] [out.svg]
//
// Full run: prints the accuracy tables (one-shot, then after a short fine-tune with the masks
// fixed) and writes an SVG plot (default demo_accuracy.svg in the working directory).
// --quick (ctest): checks nnprune's calibration accumulators against direct computations (mean of
// x^2, finite-difference gradients, per-sample gradient norms), the dense accuracy and the masks
// nnprune::prune() returns for every method at 50% sparsity; exits non-zero on any failure.
//
// All the pruning goes through nnprune's public API: the statistics come from its accumulators
// (wanda_accumulator, gradient_accumulator, gblm_gradient_accumulator), the scores from its
// scorers and the masks from nnprune::prune() over a std::vector<nnprune::layer> that refers to
// the MLP's Eigen weights.

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <exception>
#include <map>
#include <numeric>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "dataset.hpp"
#include "methods.hpp"
#include "mlp.hpp"
#include "svg_plot.hpp"
#include <nnprune/nnprune.hpp>

#ifndef NNPRUNE_DEMO_DATA
#define NNPRUNE_DEMO_DATA "digits.csv"
#endif

namespace {

using demo::matrix;
using demo::method;

constexpr std::array<double, 6> sparsities{0.5, 0.6, 0.7, 0.8, 0.9, 0.95};
// fc1 (64->128) and fc2 (128->64) are pruned: 16384 of the 17024 weights. The classifier
// (64->10, 640 weights, 4%) stays dense, as Wanda/SparseGPT leave lm_head dense: it is tiny
// and every one of its weights feeds a class logit directly.
constexpr std::array<std::size_t, 2> pruned_layers{0, 1};
constexpr std::array<const char*, 3> layer_names{"fc1", "fc2", "fc3"};
constexpr std::uint64_t random_seed = 1234;  // random_scorer mixes it with the layer name

enum class structure { unstructured, per_row, two_four };

struct outcome {
    double accuracy = 0;
    std::size_t pruned = 0, total = 0;  // over the pruned layers
};

nnprune::matrix_view<float> view_of(matrix& m) {
    return {m.data(), static_cast<std::size_t>(m.rows()), static_cast<std::size_t>(m.cols())};
}

nnprune::matrix_view<const float> view_of(const matrix& m) {
    return {m.data(), static_cast<std::size_t>(m.rows()), static_cast<std::size_t>(m.cols())};
}

/// nnprune's calibration statistics of one Linear, from one pass of the dense model.
struct layer_calibration {
    nnprune::wanda_accumulator scaler_row;       ///< Wanda's scaler_row: one image = one sequence of one token
    nnprune::gradient_accumulator grad;          ///< Taylor: the gradient of the mean training loss
    nnprune::gblm_gradient_accumulator grad_l2;  ///< GBLM: sqrt(sum_i (100 g_i)^2) over per-sample gradients g_i
    nnprune::hessian_accumulator hessian;        ///< SparseGPT: H = (2 / images) sum x x^T
    nnprune::dsnot_accumulator dsnot;            ///< DSnoT: scaler_row, sum_row, var
};

/// Feeds the library's accumulators, batch by batch, from the model's calibration pass over d.
std::vector<layer_calibration> calibrate(const demo::mlp& net, const demo::dataset& d, std::size_t batch) {
    std::vector<layer_calibration> c;
    for (const auto& L : net.layers()) {
        const auto rows = static_cast<std::size_t>(L.w.rows()), cols = static_cast<std::size_t>(L.w.cols());
        const nnprune::shape s{rows, cols};
        c.push_back({nnprune::wanda_accumulator(cols), nnprune::gradient_accumulator(s),
                     nnprune::gblm_gradient_accumulator(s, 100.0f), nnprune::hessian_accumulator(cols),
                     nnprune::dsnot_accumulator(cols)});
    }
    const float inv_n = 1.0f / static_cast<float>(d.size());
    matrix g;
    net.calibrate(d, batch, [&](std::size_t l, const matrix& x, const matrix& dz) {
        // [n, 1, in]: n sequences of one token each, so scaler_row is the mean of x_j^2 over images
        const nnprune::tensor_view<const float, 3> seqs(x.data(), static_cast<std::size_t>(x.rows()), 1,
                                                        static_cast<std::size_t>(x.cols()));
        c[l].scaler_row.add(seqs);
        c[l].hessian.add(seqs);
        c[l].dsnot.add(seqs);
        g = (dz.transpose() * x) * inv_n;  // this batch's share of the gradient of the mean loss
        c[l].grad.add(view_of(std::as_const(g)));
        for (Eigen::Index i = 0; i < x.rows(); ++i) {  // GBLM: one gradient per sample
            g = dz.row(i).transpose() * x.row(i);
            c[l].grad_l2.add(view_of(std::as_const(g)));
        }
    });
    return c;
}

/// Prunes a copy of `dense` with nnprune::prune() (no fine-tuning) and returns it with its masks.
demo::mlp prune(const demo::mlp& dense, std::vector<layer_calibration>& calib, method m, structure st, double s,
                std::vector<nnprune::mask>& masks) {
    demo::mlp net = dense;
    std::vector<nnprune::layer> layers;
    for (std::size_t l : pruned_layers) {
        nnprune::layer L{layer_names[l], view_of(net.layers()[l].w), std::nullopt, std::nullopt};
        if (m == method::wanda || m == method::gblm || m == method::wanda_dsnot)
            L.input_stat = calib[l].scaler_row.stat();
        if (m == method::sparsegpt) L.hessian = calib[l].hessian.hessian();
        if (m == method::taylor) L.gradient = calib[l].grad.gradient();
        if (m == method::gblm) L.gradient = calib[l].grad_l2.gradient();
        layers.push_back(std::move(L));
    }
    nnprune::prune_options o;
    o.apply = true;  // zero the pruned weights of `net`
    // Wanda and GBLM count k = int(n * s) as their references do; the others round half to even
    // (torch.nn.utils.prune, LAMP)
    o.round = m == method::wanda || m == method::gblm || m == method::wanda_dsnot ? nnprune::rounding::truncate
                                                                                  : nnprune::rounding::half_even;
    if (m == method::sparsegpt) {  // its own masks (exactly k per block, or per row), weights updated
        nnprune::sparsegpt_step step{{}, true};
        if (st == structure::per_row) step.options.selection = nnprune::sparsegpt_mask::row;
        o.reconstruct = step;
    }
    if (m == method::wanda_dsnot) {
        nnprune::dsnot_step step;
        step.stats = [&](const nnprune::layer&, std::size_t i) { return calib[pruned_layers[i]].dsnot.stats(); };
        o.reconstruct = step;
    }
    auto with = [&](const auto& scorer) -> nnprune::prune_result {
        switch (st) {
            case structure::unstructured:
                // LAMP's point: one global selection over all pruned layers
                if (m == method::lamp)
                    return nnprune::prune(layers, scorer, nnprune::per_tensor{}, nnprune::lamp_global{s}, o);
                return nnprune::prune(layers, scorer, nnprune::per_tensor{}, s, o);
            case structure::per_row:
                return nnprune::prune(layers, scorer, nnprune::per_row{}, s, o);
            case structure::two_four:
                return nnprune::prune(layers, scorer, nnprune::keep_n_of_m<2, 4>{}, o);
        }
        throw std::logic_error("prune: unknown structure");
    };
    nnprune::prune_result r;
    switch (m) {
        case method::magnitude:
            r = with(nnprune::magnitude);
            break;
        case method::wanda:
        case method::wanda_dsnot:
            r = with(nnprune::wanda);
            break;
        case method::sparsegpt:  // the step chooses the masks: the scorer is not used
            r = with(nnprune::magnitude);
            break;
        case method::lamp:
            r = with(nnprune::lamp);
            break;
        case method::taylor:
            r = with(nnprune::taylor);
            break;
        case method::gblm:
            r = with(nnprune::gblm);
            break;
        case method::random:
            r = with(nnprune::random_scorer{random_seed});
            break;
    }
    masks = std::move(r.masks);
    return net;
}

outcome evaluate(const demo::mlp& net, const std::vector<nnprune::mask>& masks, const demo::dataset& test) {
    outcome o;
    o.accuracy = net.accuracy(test);
    for (const auto& mk : masks) {
        o.pruned += mk.pruned();
        o.total += mk.size();
    }
    return o;
}

/// Fine-tunes a pruned copy for a few epochs with its masks re-applied after every step.
double finetune(demo::mlp net, const std::vector<nnprune::mask>& masks, const demo::dataset& train,
                const demo::dataset& test, int epochs) {
    net.reset_optimizer();
    demo::rng r(99);
    for (int e = 0; e < epochs; ++e)
        net.train_epoch(train, 32, 1e-3f, r, [&] {
            for (std::size_t i = 0; i < pruned_layers.size(); ++i)
                nnprune::apply(view_of(net.layers()[pruned_layers[i]].w), masks[i]);
        });
    return net.accuracy(test);
}

/// Mean cross-entropy of a net over a dataset, in double.
double mean_loss(const demo::mlp& net, const demo::dataset& d) {
    const matrix logits = net.forward(d.x);
    double sum = 0;
    for (Eigen::Index i = 0; i < logits.rows(); ++i) {
        const auto row = logits.row(i).cast<double>();
        const double mx = row.maxCoeff();
        sum += mx + std::log((row.array() - mx).exp().sum()) - row(d.y[static_cast<std::size_t>(i)]);
    }
    return sum / static_cast<double>(d.size());
}

bool close(double a, double b, double abs_tol, double rel_tol) {
    return std::abs(a - b) <= abs_tol + rel_tol * std::max(std::abs(a), std::abs(b));
}

/// --quick: nnprune's accumulators, fed from an untrained net, against slow obvious computations:
/// scaler_row against the mean of x^2 over the images, the summed gradient against central finite
/// differences of the mean loss, GBLM's l2 against sqrt(sum_i (100 dz_i x_i^T)^2) done in one
/// matrix product, and all three against one-image batches. Returns the failures.
int check_calibration(const demo::dataset& train) {
    int failures = 0;
    auto fail = [&](const char* what, std::size_t l) {
        std::fprintf(stderr, "FAIL: layer %zu: %s\n", l, what);
        ++failures;
    };
    std::vector<std::size_t> first(100);
    std::iota(first.begin(), first.end(), std::size_t{0});
    const demo::dataset d = demo::subset(train, first);
    demo::mlp net({64, 128, 64, 10}, 5);
    auto batched = calibrate(net, d, 64), single = calibrate(net, d, 1);
    std::vector<matrix> inputs(net.layers().size()), dzs(net.layers().size());
    net.calibrate(d, d.size(), [&](std::size_t l, const matrix& x, const matrix& dz) {
        inputs[l] = x;
        dzs[l] = dz;
    });
    auto as_matrix = [](std::span<const float> v, Eigen::Index rows, Eigen::Index cols) {
        return matrix(Eigen::Map<const matrix>(v.data(), rows, cols));
    };
    for (std::size_t l = 0; l < net.layers().size(); ++l) {
        const auto rows = net.layers()[l].w.rows(), cols = net.layers()[l].w.cols();
        const matrix direct_scaler = inputs[l].cwiseProduct(inputs[l]).colwise().mean();
        if (!as_matrix(batched[l].scaler_row.values(), 1, cols).isApprox(direct_scaler, 1e-5f))
            fail("wanda_accumulator's scaler_row is not the mean of x^2", l);
        const matrix x2 = inputs[l].cwiseProduct(inputs[l]), dz2 = dzs[l].cwiseProduct(dzs[l]);
        const matrix direct_l2 = (1e4f * (dz2.transpose() * x2)).cwiseSqrt();
        const matrix lib_l2 = as_matrix(batched[l].grad_l2.sum_squares(), rows, cols).cwiseSqrt();
        if (!lib_l2.isApprox(direct_l2, 1e-4f)) fail("gblm_gradient_accumulator's l2 differs from the direct one", l);
        if (!as_matrix(batched[l].scaler_row.values(), 1, cols)
                 .isApprox(as_matrix(single[l].scaler_row.values(), 1, cols), 1e-4f) ||
            !as_matrix(batched[l].grad.values(), rows, cols)
                 .isApprox(as_matrix(single[l].grad.values(), rows, cols), 1e-4f) ||
            !as_matrix(batched[l].grad_l2.sum_squares(), rows, cols)
                 .isApprox(as_matrix(single[l].grad_l2.sum_squares(), rows, cols), 1e-4f))
            fail("the accumulated statistics depend on the batch size", l);
    }
    demo::rng pick(3);
    int checked = 0;
    for (std::size_t l = 0; l < net.layers().size(); ++l)
        for (int t = 0; t < 4; ++t) {
            matrix& w = net.layers()[l].w;
            const auto i = static_cast<Eigen::Index>(pick.below(static_cast<std::size_t>(w.size())));
            const float keep = w.data()[i], eps = 5e-4f;
            const double base = mean_loss(net, d);
            w.data()[i] = keep + eps;
            const double up = mean_loss(net, d);
            w.data()[i] = keep - eps;
            const double down = mean_loss(net, d);
            w.data()[i] = keep;
            const double h = static_cast<double>(eps), analytic = batched[l].grad.values()[static_cast<std::size_t>(i)];
            // central difference, or a one-sided one when a ReLU kink lies within eps of the weight
            const double numeric[3] = {(up - down) / (2.0 * h), (up - base) / h, (base - down) / h};
            ++checked;
            if (!close(numeric[0], analytic, 2e-4, 0.02) && !close(numeric[1], analytic, 2e-4, 0.02) &&
                !close(numeric[2], analytic, 2e-4, 0.02)) {
                std::fprintf(stderr, "FAIL: layer %zu weight %ld: gradient %.6g, finite differences %.6g %.6g %.6g\n",
                             l, static_cast<long>(i), analytic, numeric[0], numeric[1], numeric[2]);
                ++failures;
            }
        }
    std::printf(
        "calibration checks (nnprune accumulators): scaler_row vs mean of x^2, GBLM l2 vs direct, "
        "batch-size independence, %d gradients vs finite differences: %s\n",
        checked, failures ? "FAILED" : "ok");
    return failures;
}

const char* colour_of(method m) {
    switch (m) {
        case method::magnitude:
            return "#1f77b4";
        case method::wanda:
            return "#d62728";
        case method::lamp:
            return "#9467bd";
        case method::taylor:
            return "#2ca02c";
        case method::gblm:
            return "#ff7f0e";
        case method::random:
            return "#7f7f7f";
        case method::sparsegpt:
            return "#17becf";
        case method::wanda_dsnot:
            return "#e377c2";
    }
    return "black";
}

/// Table of accuracy[method][column] (NaN-free), one row per method.
void print_table(const char* title, const std::vector<std::string>& columns, const std::vector<method>& methods,
                 const std::map<method, std::vector<double>>& acc) {
    std::printf("\n%s\n%-12s", title, "method");
    for (const auto& c : columns) std::printf(" %7s", c.c_str());
    std::printf("\n");
    for (method m : methods) {
        std::printf("%-12s", std::string(demo::name_of(m)).c_str());
        for (double a : acc.at(m)) std::printf(" %7.4f", a);
        std::printf("\n");
    }
}

int run(int argc, char** argv) {
    bool quick = false;
    std::string data = NNPRUNE_DEMO_DATA, svg_path = "demo_accuracy.svg";
    for (int i = 1; i < argc; ++i) {
        if (!std::strcmp(argv[i], "--quick"))
            quick = true;
        else if (!std::strcmp(argv[i], "--data") && i + 1 < argc)
            data = argv[++i];
        else if (argv[i][0] == '-') {
            std::fprintf(stderr, "usage: %s [--quick] [--data digits.csv] [out.svg]\n", argv[0]);
            return 2;
        } else
            svg_path = argv[i];
    }
    const auto t0 = std::chrono::steady_clock::now();

    const demo::dataset all = demo::load_digits(data);
    demo::dataset train, test;
    demo::split(all, 1347, 2024, train, test);

    demo::mlp dense({64, 128, 64, 10}, 1);
    demo::rng order(7);
    const int epochs = quick ? 5 : 30;  // --quick: fewer epochs, so that unoptimised (sanitizer) builds stay fast
    for (int e = 0; e < epochs; ++e) dense.train_epoch(train, 32, 2e-3f, order, [] {});
    const double dense_acc = dense.accuracy(test);
    const double t_train = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("UCI digits: %zu train / %zu test images; MLP 64-128-64-10 (ReLU), %d epochs of Adam\n", train.size(),
                test.size(), epochs);
    std::printf("dense test accuracy: %.4f (train accuracy %.4f)\n", dense_acc, dense.accuracy(train));
    std::printf("pruned: fc1 (128x64) and fc2 (64x128), 16384 weights; the 64x10 classifier stays dense\n");
    std::printf("scores from one calibration pass over the %zu training images (dense model)\n", train.size());

    auto calib = calibrate(dense, train, 64);

    if (quick) {
        int failures = check_calibration(train);
        if (dense_acc < 0.9) {
            std::fprintf(stderr, "FAIL: dense test accuracy %.4f < 0.9\n", dense_acc);
            ++failures;
        }
        for (method m : demo::all_methods)
            for (structure st : {structure::unstructured, structure::per_row, structure::two_four}) {
                std::vector<nnprune::mask> masks;
                const auto net = prune(dense, calib, m, st, 0.5, masks);
                const outcome o = evaluate(net, masks, test);
                std::printf("  %-9s %-12s s=0.50: accuracy %.4f, %zu of %zu pruned\n",
                            std::string(demo::name_of(m)).c_str(),
                            st == structure::unstructured ? "unstructured"
                            : st == structure::per_row    ? "per row"
                                                          : "2:4",
                            o.accuracy, o.pruned, o.total);
                if (o.pruned * 2 != o.total) {
                    std::fprintf(stderr, "FAIL: expected exactly half pruned\n");
                    ++failures;
                }
                for (std::size_t i = 0; i < pruned_layers.size(); ++i) {
                    const matrix& w = net.layers()[pruned_layers[i]].w;
                    for (Eigen::Index j = 0; j < w.size(); ++j)
                        if (!masks[i].test(static_cast<std::size_t>(j)) && w.data()[j] != 0.0f) {
                            std::fprintf(stderr, "FAIL: a pruned weight is not zero\n");
                            ++failures;
                            break;
                        }
                }
            }
        std::printf("%s\n", failures ? "quick check FAILED" : "quick check passed");
        return failures ? 1 : 0;
    }

    std::vector<std::string> s_cols;
    for (double s : sparsities) {
        char buf[16];
        std::snprintf(buf, sizeof buf, "%.2f", s);
        s_cols.emplace_back(buf);
    }
    std::map<method, std::vector<double>> acc_u, acc_r, acc_u_ft, acc_r_ft;
    std::map<method, double> acc_24, acc_24_ft;
    const std::vector<method> all_m(demo::all_methods.begin(), demo::all_methods.end());
    std::vector<method> row_m;  // within a layer LAMP orders like magnitude: per row and 2:4 are identical
    for (method m : all_m)
        if (m != method::lamp) row_m.push_back(m);
    const int ft_epochs = 3;
    for (method m : all_m)
        for (double s : sparsities) {
            std::vector<nnprune::mask> masks;
            auto net = prune(dense, calib, m, structure::unstructured, s, masks);
            acc_u[m].push_back(net.accuracy(test));
            acc_u_ft[m].push_back(finetune(net, masks, train, test, ft_epochs));
            if (m == method::lamp) continue;
            net = prune(dense, calib, m, structure::per_row, s, masks);
            acc_r[m].push_back(net.accuracy(test));
            acc_r_ft[m].push_back(finetune(net, masks, train, test, ft_epochs));
        }
    for (method m : row_m) {
        std::vector<nnprune::mask> masks;
        const auto net = prune(dense, calib, m, structure::two_four, 0.5, masks);
        acc_24[m] = net.accuracy(test);
        acc_24_ft[m] = finetune(net, masks, train, test, ft_epochs);
    }

    std::printf("\ntest accuracy, no fine-tuning (dense: %.4f)\n", dense_acc);
    print_table("unstructured: each layer pruned to the sparsity (lamp: one global selection over both layers)", s_cols,
                all_m, acc_u);
    auto with_24 = acc_r;
    for (method m : row_m) with_24[m].push_back(acc_24[m]);
    auto r_cols = s_cols;
    r_cols.emplace_back("2:4");
    print_table(
        "per row: every output neuron keeps the same number of inputs; 2:4 keeps 2 of every 4 (s = 0.50)\n"
        "(lamp is left out: within a layer it orders weights exactly as magnitude does)",
        r_cols, row_m, with_24);
    std::printf("\ntest accuracy after %d epochs of fine-tuning (Adam, lr 1e-3) with the masks fixed\n", ft_epochs);
    print_table("unstructured", s_cols, all_m, acc_u_ft);
    auto ft24 = acc_r_ft;
    for (method m : row_m) ft24[m].push_back(acc_24_ft[m]);
    print_table("per row, and 2:4", r_cols, row_m, ft24);

    demo::svg::chart c;
    c.title = "MLP 64-128-64-10 on UCI digits: test accuracy vs sparsity of the hidden layers";
    c.x_label = "sparsity of the hidden layers";
    c.y_label = "test accuracy";
    c.x_min = 0.48, c.x_max = 0.97, c.y_min = 0.0, c.y_max = 1.0;
    c.x_ticks = {0.5, 0.6, 0.7, 0.8, 0.9, 0.95};
    c.y_ticks = {0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0};
    c.reference = dense_acc;
    c.reference_label = "dense model";
    c.diamonds_label = "2:4 (s = 0.5)";
    const std::vector<double> xs(sparsities.begin(), sparsities.end());
    auto unstructured_panel = [&](const char* title, std::map<method, std::vector<double>>& acc) {
        demo::svg::panel p{title, {}, {}};
        for (method m : all_m) p.lines.push_back({std::string(demo::name_of(m)), colour_of(m), xs, acc[m]});
        return p;
    };
    auto row_panel = [&](const char* title, std::map<method, std::vector<double>>& acc, std::map<method, double>& a24) {
        demo::svg::panel p{title, {}, {}};
        for (method m : row_m) {
            p.lines.push_back({std::string(demo::name_of(m)), colour_of(m), xs, acc[m]});
            p.diamonds.push_back({colour_of(m), 0.5, a24[m]});
        }
        return p;
    };
    c.panels = {unstructured_panel("one-shot, unstructured (lamp: global)", acc_u),
                row_panel("one-shot, per row and 2:4", acc_r, acc_24),
                unstructured_panel("+3 epochs fine-tuning, unstructured", acc_u_ft),
                row_panel("+3 epochs fine-tuning, per row and 2:4", acc_r_ft, acc_24_ft)};
    demo::svg::write(c, svg_path);
    const double total = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("\nwrote %s; training %.1f s, total %.1f s\n", svg_path.c_str(), t_train, total);
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    try {
        return run(argc, argv);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "nnprune_demo: %s\n", e.what());
        return 1;
    }
}
