// nnprune inside a libtorch program: an MLP 64-128-64-10 trained with torch::optim::Adam on the
// UCI digits (examples/demo/data), then
//   1. one-shot pruning of the trained model, in place, with every scorer, at 50/70/90%;
//   2. gradual cubic pruning to 90% inside the training loop (nnprune::pruner after every
//      optimizer.step(): pruned weights stay zero under Adam's momentum);
//   3. the same run stopped halfway, saved (torch::save of model and optimizer,
//      nnprune::save_pruner_state), reloaded into fresh objects and resumed: its masks and weights
//      equal the uninterrupted run's.
// Prints accuracy against sparsity; exits non-zero if a check fails.

#include <array>
#include <cstdio>
#include <filesystem>
#include <map>
#include <string>
#include <torch/torch.h>
#include <vector>

#include "../demo/dataset.hpp"
#include <nnprune/adapters/torch.hpp>
#include <nnprune/adapters/torch_module.hpp>
#include <nnprune/io/pruner_state_file.hpp>
#include <nnprune/nnprune.hpp>

namespace {

/// Calibration statistics of the three Linear layers, filled by the model's forward().
struct calibration {
    std::vector<nnprune::wanda_accumulator> inputs;  // Wanda's scaler_row, one per Linear
};

struct mlpImpl : torch::nn::Module {
    mlpImpl()
        : fc1(register_module("fc1", torch::nn::Linear(64, 128))),
          fc2(register_module("fc2", torch::nn::Linear(128, 64))),
          fc3(register_module("fc3", torch::nn::Linear(64, 10))) {}

    /// With `calib`, each Linear's input is handed to its accumulator (libtorch has no hooks):
    /// [B, 1, in], B sequences of one token, so scaler_row is the mean of x_j^2 over images.
    torch::Tensor forward(torch::Tensor x, calibration* calib = nullptr) {
        const std::array<torch::nn::Linear*, 3> layers{&fc1, &fc2, &fc3};
        for (std::size_t i = 0; i < layers.size(); ++i) {
            if (calib) calib->inputs[i].add(nnprune::torch_ref(x.detach().unsqueeze(1)));
            x = (*layers[i])->forward(x);
            if (i + 1 < layers.size()) x = torch::relu(x);
        }
        return x;
    }

    torch::nn::Linear fc1, fc2, fc3;
};

TORCH_MODULE(mlp);

struct data {
    torch::Tensor x, y;
};

data to_torch(const demo::dataset& d) {
    const auto n = static_cast<std::int64_t>(d.size());
    data t{torch::from_blob(const_cast<float*>(d.x.data()), {n, 64}).clone(), torch::empty({n}, torch::kLong)};
    for (std::int64_t i = 0; i < n; ++i) t.y[i] = d.y[static_cast<std::size_t>(i)];
    return t;
}

double accuracy(mlp& model, const data& d) {
    torch::NoGradGuard no_grad;
    return model->forward(d.x).argmax(1).eq(d.y).to(torch::kDouble).mean().item<double>();
}

/// One epoch of Adam over shuffled batches of 32; `after_step` runs after every optimizer.step().
template <class F>
void train_epoch(mlp& model, torch::optim::Adam& opt, const data& d, std::int64_t epoch, F&& after_step) {
    torch::manual_seed(static_cast<std::uint64_t>(100 + epoch));  // the order depends on the epoch only
    const torch::Tensor order = torch::randperm(d.x.size(0));
    for (std::int64_t b = 0; b < d.x.size(0); b += 32) {
        const torch::Tensor idx = order.slice(0, b, std::min<std::int64_t>(b + 32, d.x.size(0)));
        opt.zero_grad();
        torch::nn::functional::cross_entropy(model->forward(d.x.index_select(0, idx)), d.y.index_select(0, idx))
            .backward();
        opt.step();
        after_step();
    }
}

std::vector<nnprune::layer> layers_of(mlp& model) {
    torch::NoGradGuard no_grad;  // writable views of parameters that require grad
    return nnprune::torch_layers(*model);
}

/// A deep copy of the model's parameters (torch::save / load through memory).
void copy_model(const mlp& from, mlp& to) {
    std::stringstream s;
    torch::save(from, s);
    torch::load(to, s);
}

/// Whether every pruned weight of the layers is zero.
bool zeros_hold(const std::vector<nnprune::layer>& layers, const std::vector<nnprune::mask>& masks) {
    bool held = true;
    for (std::size_t i = 0; i < masks.size(); ++i)
        nnprune::visit(layers[i].weights, [&](auto w) {
            for (std::size_t k = 0; k < masks[i].size(); ++k)
                if (!masks[i].test(k) && nnprune::to_double(w.flat(k)) != 0.0) held = false;
        });
    return held;
}

}  // namespace

int main() {
    torch::set_num_threads(1);  // bit-identical runs (the resume check compares weights)
    demo::dataset all = demo::load_digits(NNPRUNE_DEMO_DATA), train_set, test_set;
    demo::split(all, 1347, 2024, train_set, test_set);
    const data train = to_torch(train_set), test = to_torch(test_set);
    bool ok = true;

    torch::manual_seed(1);
    mlp dense;
    {
        torch::optim::Adam opt(dense->parameters(), torch::optim::AdamOptions(2e-3));
        for (std::int64_t e = 0; e < 20; ++e) train_epoch(dense, opt, train, e, [] {});
    }
    const double dense_acc = accuracy(dense, test);
    std::printf("UCI digits: %lld train / %lld test images; libtorch MLP 64-128-64-10, 20 epochs of Adam\n",
                static_cast<long long>(train.x.size(0)), static_cast<long long>(test.x.size(0)));
    std::printf("dense test accuracy %.4f\n\n", dense_acc);
    ok = ok && dense_acc > 0.9;

    // calibration: Wanda's inputs from a forward pass, Taylor's gradient of the mean loss, GBLM's
    // l2 norm of per-sample gradients (256 images)
    calibration calib{
        {nnprune::wanda_accumulator(64), nnprune::wanda_accumulator(128), nnprune::wanda_accumulator(64)}};
    dense->zero_grad();
    torch::nn::functional::cross_entropy(dense->forward(train.x, &calib), train.y).backward();
    std::map<std::string, torch::Tensor> mean_grad;
    for (const auto& p : dense->named_parameters()) mean_grad[p.key()] = p.value().grad().clone();
    std::map<std::string, nnprune::gblm_gradient_accumulator> per_sample;
    for (const auto& l : layers_of(dense))
        per_sample.emplace(l.name, nnprune::gblm_gradient_accumulator(l.weights.shape()));
    for (std::int64_t i = 0; i < 256; ++i) {
        dense->zero_grad();
        torch::nn::functional::cross_entropy(dense->forward(train.x.slice(0, i, i + 1)), train.y.slice(0, i, i + 1))
            .backward();
        for (auto& [name, acc] : per_sample) acc.add(nnprune::torch_ref(dense->named_parameters()[name].grad()));
    }

    // 1. one-shot, in place, no fine-tuning
    const std::array<double, 3> sparsities{0.5, 0.7, 0.9};
    const std::array<const char*, 6> methods{"magnitude", "wanda", "lamp", "taylor", "gblm", "random"};
    std::printf("one-shot pruning of the trained model (unstructured, per layer; lamp: lamp_global)\n");
    std::printf("%-10s", "sparsity");
    for (const char* m : methods) std::printf(" %9s", m);
    std::printf("\n");
    for (const double s : sparsities) {
        std::printf("%-10.2f", s);
        for (const char* name : methods) {
            const std::string m = name;
            mlp net;
            copy_model(dense, net);
            auto layers = layers_of(net);
            for (std::size_t i = 0; i < layers.size(); ++i) {
                if (m == "wanda" || m == "gblm") layers[i].input_stat = calib.inputs[i].stat();
                if (m == "taylor") layers[i].gradient = nnprune::torch_ref(mean_grad.at(layers[i].name));
                if (m == "gblm") layers[i].gradient = per_sample.at(layers[i].name).gradient();
            }
            nnprune::prune_options o;
            o.apply = true;
            o.round = m == "wanda" || m == "gblm" ? nnprune::rounding::truncate : nnprune::rounding::half_even;
            const nnprune::per_tensor unstructured;
            nnprune::prune_result r;
            if (m == "magnitude") r = nnprune::prune(layers, nnprune::magnitude, unstructured, s, o);
            if (m == "wanda") r = nnprune::prune(layers, nnprune::wanda, unstructured, s, o);
            if (m == "lamp") r = nnprune::prune(layers, nnprune::lamp, unstructured, nnprune::lamp_global{s}, o);
            if (m == "taylor") r = nnprune::prune(layers, nnprune::taylor, unstructured, s, o);
            if (m == "gblm") r = nnprune::prune(layers, nnprune::gblm, unstructured, s, o);
            if (m == "random") r = nnprune::prune(layers, nnprune::random_scorer{7}, unstructured, s, o);
            ok = ok && zeros_hold(layers, r.masks) && std::abs(r.sparsity() - s) < 0.01;
            std::printf(" %9.4f", accuracy(net, test));
        }
        std::printf("\n");
    }

    // 2. gradual cubic pruning to 90% from the trained model, 10 epochs (420 steps): prune every
    //    20 steps from step 0 to 300, then fine-tune with the masks held
    const nnprune::polynomial_schedule schedule{0.0, 0.9, 0, 300, 3, 20};
    auto gradual = [&](mlp& net, torch::optim::Adam& opt, auto& p, std::int64_t from_epoch, std::int64_t to_epoch,
                       bool print) {
        auto layers = layers_of(net);
        for (std::int64_t e = from_epoch; e < to_epoch; ++e) {
            train_epoch(net, opt, train, e, [&] {
                torch::NoGradGuard no_grad;
                const auto rep = p.step(layers);
                ok = ok && zeros_hold(layers, p.state().masks);  // zeros stay zero after every step
                if (print && rep.pruned && rep.step % 60 == 0)
                    std::printf("  step %3lld: target %.4f, accuracy %.4f\n", static_cast<long long>(rep.step),
                                rep.target, accuracy(net, test));
            });
        }
    };
    std::printf("\ngradual magnitude pruning to 90%% inside the training loop (cubic, every 20 steps)\n");
    mlp a;
    copy_model(dense, a);
    torch::optim::Adam opt_a(a->parameters(), torch::optim::AdamOptions(2e-3));
    nnprune::pruner pruner_a(nnprune::magnitude, schedule);
    gradual(a, opt_a, pruner_a, 0, 10, true);
    double sparsity = 0;
    std::size_t total = 0;
    for (const auto& m : pruner_a.state().masks) {
        sparsity += static_cast<double>(m.pruned());
        total += m.size();
    }
    sparsity /= static_cast<double>(total);
    const double gradual_acc = accuracy(a, test);
    std::printf("after 10 epochs: sparsity %.4f, test accuracy %.4f\n", sparsity, gradual_acc);
    ok = ok && std::abs(sparsity - 0.9) < 1e-3 && gradual_acc > 0.85;

    // 3. the same run stopped after 5 epochs, saved, reloaded into fresh objects, resumed
    const auto dir = std::filesystem::temp_directory_path() / "nnprune_torch_digits";
    std::filesystem::create_directories(dir);
    {
        mlp b;
        copy_model(dense, b);
        torch::optim::Adam opt_b(b->parameters(), torch::optim::AdamOptions(2e-3));
        nnprune::pruner pruner_b(nnprune::magnitude, schedule);
        gradual(b, opt_b, pruner_b, 0, 5, false);
        torch::save(b, (dir / "model.pt").string());
        torch::save(opt_b, (dir / "adam.pt").string());
        nnprune::save_pruner_state(dir / "pruner.safetensors", pruner_b.state());
    }
    mlp c;
    torch::load(c, (dir / "model.pt").string());
    torch::optim::Adam opt_c(c->parameters(), torch::optim::AdamOptions(2e-3));
    torch::load(opt_c, (dir / "adam.pt").string());
    nnprune::pruner pruner_c(nnprune::magnitude, schedule);
    pruner_c.restore(nnprune::load_pruner_state(dir / "pruner.safetensors"));
    gradual(c, opt_c, pruner_c, 5, 10, false);
    bool same = pruner_c.state().masks.size() == pruner_a.state().masks.size();
    for (std::size_t i = 0; same && i < pruner_a.state().masks.size(); ++i)
        same = pruner_c.state().masks[i] == pruner_a.state().masks[i];
    for (const auto& p : a->named_parameters()) same = same && torch::equal(p.value(), c->named_parameters()[p.key()]);
    std::printf("saved after 5 epochs, reloaded, resumed: masks and weights %s the uninterrupted run's\n",
                same ? "equal" : "DIFFER from");
    ok = ok && same;
    std::filesystem::remove_all(dir);

    if (!ok) std::printf("FAIL\n");
    return ok ? 0 : 1;
}
