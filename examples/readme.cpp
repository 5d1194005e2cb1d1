// The example at the top of README.md: the README shows the lines between the markers (then the
// closing brace of main), so that it cannot rot: ctest builds and runs it, and it checks that
// exactly half of every row was pruned and zeroed.

#include <cstdio>
#include <vector>

// README begin
#include <nnprune/adapters/eigen.hpp>
#include <nnprune/nnprune.hpp>

int main() {
    Eigen::MatrixXf w = Eigen::MatrixXf::Random(512, 1024);  // a Linear's weights [out, in]
    Eigen::MatrixXf x = Eigen::MatrixXf::Random(128, 1024);  // calibration activations [tokens, in]

    nnprune::wanda_accumulator acc(1024);  // Wanda's scaler_row: sum x_j^2 / sequences
    acc.add(nnprune::as_ref(x));           // one call per calibration sequence
    std::vector<nnprune::layer> layers{{"mlp.down_proj", nnprune::as_view(w), acc.stat(), {}}};

    nnprune::prune_options opt;
    opt.round = nnprune::rounding::truncate;  // k = int(in * s), as Wanda does
    opt.apply = true;                         // zero the pruned weights in place
    auto r = nnprune::prune(layers, nnprune::wanda, nnprune::per_row{}, 0.5, opt);
    std::printf("%s: sparsity %.2f\n", layers[0].name.c_str(), r.masks[0].sparsity());  // 0.50
    // README end
    const auto zeros = (w.array() == 0.0f).count();
    if (zeros != 512 * 512 || r.masks[0].pruned() != 512u * 512u) {
        std::printf("FAIL: %ld zeros, %zu pruned, expected %d\n", static_cast<long>(zeros), r.masks[0].pruned(),
                    512 * 512);
        return 1;
    }
    return 0;
}
