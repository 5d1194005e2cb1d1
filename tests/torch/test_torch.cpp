// The libtorch adapter (adapters/torch.hpp, adapters/torch_module.hpp), against libtorch itself:
// views equal torch's own contiguous copies for every dtype and layout, writes land exactly on
// the pruned elements, every refusal leaves the tensor's bytes as they were, a module's
// parameters round-trip, and a pruner inside an Adam training loop keeps pruned weights at zero
// and resumes from a saved state with identical masks and weights.
// One translation unit: libtorch headers are slow to compile.

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <torch/torch.h>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>

#include "../view_checks.hpp"
#include <nnprune/adapters/torch.hpp>
#include <nnprune/adapters/torch_module.hpp>
#include <nnprune/io/pruner_state_file.hpp>
#include <nnprune/nnprune.hpp>

namespace {

const std::vector<at::ScalarType> torch_dtypes{at::kFloat, at::kDouble, at::kBFloat16, at::kHalf};

/// The layouts a user hands over: contiguous, transposed, sliced with a step, with a storage
/// offset, as_strided over a larger buffer, and ranks 1, 3 and 4.
std::vector<std::pair<std::string, at::Tensor>> layouts(at::ScalarType dt) {
    torch::manual_seed(7);
    // a fresh tensor for each: the checks prune through the view
    auto fresh = [dt](at::IntArrayRef sizes) { return torch::randn(sizes).to(dt); };
    return {
        {"contiguous", fresh({12, 20})},
        {"transposed", fresh({12, 20}).t()},
        {"sliced", fresh({12, 20}).slice(0, 1, 11, 3).slice(1, 2, 19, 2)},
        {"offset", fresh({12, 20}).narrow(0, 5, 4)},
        {"as_strided", fresh({400}).as_strided({6, 7}, {3, 40}, 5)},
        {"rank1", fresh({12, 20}).select(1, 3)},
        {"rank3", fresh({4, 5, 6}).permute({2, 0, 1})},
        {"rank4", fresh({3, 4, 5, 6}).transpose(1, 3)},
    };
}

/// The tensor's elements as doubles in row-major order, computed by torch.
std::vector<double> torch_values(const at::Tensor& t) {
    const at::Tensor c = t.to(at::kDouble).contiguous();
    return {c.data_ptr<double>(), c.data_ptr<double>() + c.numel()};
}

/// The raw bytes of the tensor's whole storage (to prove that nothing was written).
std::vector<std::uint8_t> storage_bytes(const at::Tensor& t) {
    const auto* p = static_cast<const std::uint8_t*>(t.storage().data());
    return {p, p + t.storage().nbytes()};
}

template <class F>
void for_each_element_type(at::ScalarType dt, F&& f) {
    switch (dt) {
        case at::kDouble:
            return f(double{});
        case at::kBFloat16:
            return f(nnprune::bfloat16{});
        case at::kHalf:
            return f(nnprune::float16{});
        default:
            return f(float{});
    }
}

template <std::size_t Rank, class T>
void check_layout(const at::Tensor& t) {
    const auto ref = nnprune::torch_ref(t);
    REQUIRE(ref.readonly());
    REQUIRE(ref.rank() == static_cast<std::size_t>(t.dim()));
    for (std::size_t r = 0; r < Rank; ++r) {
        REQUIRE(ref.extent(r) == static_cast<std::size_t>(t.size(static_cast<std::int64_t>(r))));
        REQUIRE(ref.stride(r) == t.stride(static_cast<std::int64_t>(r)));
    }
    REQUIRE(ref.data_handle() == t.data_ptr());
    REQUIRE(nnprune_test::flat_values(nnprune::torch_view<const T, Rank>(t)) == torch_values(t));
    torch::NoGradGuard no_grad;
    // selection and apply through the view equal those of a contiguous copy; the writes land in t
    const at::Tensor before = t.clone();
    nnprune_test::check_same_as_contiguous_copy(nnprune::torch_view<T, Rank>(t));
    const auto after = torch_values(t), old = torch_values(before);
    std::size_t zeroed = 0;
    for (std::size_t i = 0; i < after.size(); ++i) {
        REQUIRE((after[i] == old[i] || after[i] == 0.0));
        zeroed += after[i] != old[i];
    }
    REQUIRE(zeroed > 0);
}

/// A small model with every kind of parameter torch_layers must tell apart.
struct netImpl : torch::nn::Module {
    netImpl()
        : conv(register_module("conv", torch::nn::Conv2d(torch::nn::Conv2dOptions(1, 4, 3)))),
          norm(register_module("norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({36})))),
          body(register_module(
              "body", torch::nn::Sequential(torch::nn::Linear(36, 24), torch::nn::ReLU(), torch::nn::Linear(24, 10)))),
          scale(register_parameter("scale", torch::ones({10, 10}))) {}

    torch::Tensor forward(torch::Tensor x) {
        x = torch::relu(conv->forward(x)).flatten(2).mean(1);  // [B, 36]
        return body->forward(norm->forward(x)).matmul(scale);
    }

    torch::nn::Conv2d conv;
    torch::nn::LayerNorm norm;
    torch::nn::Sequential body;
    torch::Tensor scale;
};

TORCH_MODULE(net);

}  // namespace

TEST_CASE("torch adapter: views equal torch's contiguous copies for every dtype and layout", "[torch]") {
    for (const auto dt : torch_dtypes) {
        for (const auto& [name, t] : layouts(dt)) {
            INFO(c10::toString(dt) << " " << name << " sizes " << t.sizes() << " strides " << t.strides());
            for_each_element_type(dt, [&, &t = t](auto tag) {
                using T = decltype(tag);
                switch (t.dim()) {
                    case 1:
                        return check_layout<1, T>(t);
                    case 2:
                        return check_layout<2, T>(t);
                    case 3:
                        return check_layout<3, T>(t);
                    default:
                        return check_layout<4, T>(t);
                }
            });
        }
    }
}

TEST_CASE("torch adapter: prune() with apply zeroes exactly the pruned elements of the tensor", "[torch]") {
    torch::manual_seed(3);
    at::Tensor storage = torch::randn({48, 70});
    at::Tensor w = storage.slice(1, 3, 67).t();  // [64, 48], strided, inside a larger buffer
    const at::Tensor before = storage.clone();
    std::vector<float> copy(static_cast<std::size_t>(w.numel()));
    const auto vals = torch_values(w);
    for (std::size_t i = 0; i < copy.size(); ++i) copy[i] = static_cast<float>(vals[i]);

    std::vector<nnprune::layer> torch_layer{{"w", nnprune::as_ref(w), {}, {}}};
    std::vector<nnprune::layer> plain_layer{{"w", nnprune::matrix_view<float>(copy.data(), 64, 48), {}, {}}};
    nnprune::prune_options o;
    o.apply = true;
    const auto r = nnprune::prune(torch_layer, nnprune::magnitude, nnprune::per_row{}, 0.5, o);
    const auto p = nnprune::prune(plain_layer, nnprune::magnitude, nnprune::per_row{}, 0.5, o);
    REQUIRE(r.masks[0] == p.masks[0]);
    REQUIRE(r.layers[0].kept == 64 * 24);

    const at::Tensor m = nnprune::to_torch(r.masks[0]);
    REQUIRE(m.scalar_type() == at::kBool);
    REQUIRE(m.sizes() == w.sizes());
    // pruned: zero; kept: the old bits; outside the view: untouched
    const at::Tensor old_w = before.slice(1, 3, 67).t();
    REQUIRE(torch::equal(w, torch::where(m, old_w, torch::zeros_like(old_w))));
    REQUIRE(torch::equal(storage.slice(1, 0, 3), before.slice(1, 0, 3)));
    REQUIRE(torch::equal(storage.slice(1, 67, 70), before.slice(1, 67, 70)));
    REQUIRE(torch::equal(w, torch::from_blob(copy.data(), {64, 48})));
}

TEST_CASE("torch adapter: masks round-trip through bool and 0/1 torch tensors", "[torch]") {
    torch::manual_seed(5);
    const at::Tensor b = torch::rand({5, 3, 7}) > 0.4;
    const nnprune::mask m = nnprune::mask_from_torch(b);
    REQUIRE(m.shape() == nnprune::shape{5, 3, 7});
    REQUIRE(torch::equal(nnprune::to_torch(m), b));
    const auto bv = torch_values(b);
    for (std::size_t i = 0; i < m.size(); ++i) REQUIRE(m.test(i) == (bv[i] != 0.0));
    // strided bool masks and torch.nn.utils.prune's float weight_mask
    REQUIRE(torch::equal(nnprune::to_torch(nnprune::mask_from_torch(b.transpose(0, 2))), b.transpose(0, 2)));
    REQUIRE(nnprune::mask_from_torch(b.to(at::kFloat)) == m);
    REQUIRE(nnprune::mask_from_torch(b.to(at::kByte)) == m);
    // anything but 0 and 1 is refused
    at::Tensor f = b.to(at::kFloat);
    f.index_put_({1, 2, 3}, 0.5);
    REQUIRE_THROWS_AS(nnprune::mask_from_torch(f), nnprune::value_error);
    REQUIRE_THROWS_WITH(nnprune::mask_from_torch(f),
                        Catch::Matchers::Contains("mask_from_torch") && Catch::Matchers::Contains("only 0 and 1"));
    REQUIRE_THROWS_AS(nnprune::mask_from_torch(torch::ones({})), nnprune::precondition_error);
    REQUIRE_THROWS_AS(nnprune::mask_from_torch(at::Tensor()), nnprune::precondition_error);
    REQUIRE(nnprune::mask_from_torch(torch::ones({0, 4}, at::kBool)).size() == 0);
}

TEST_CASE("torch adapter: refusals name the reason and leave the tensor's bytes unchanged", "[torch]") {
    using Catch::Matchers::Contains;
    auto refused = [](const at::Tensor& t, bool writable, const std::string& reason) {
        INFO(reason);
        const bool has_bytes = t.defined() && t.has_storage() && t.device().is_cpu() && !t.is_quantized();
        const auto bytes = has_bytes ? storage_bytes(t) : std::vector<std::uint8_t>{};
        if (writable) {
            REQUIRE_THROWS_AS(nnprune::torch_mutable_ref(t), nnprune::precondition_error);
            REQUIRE_THROWS_WITH(nnprune::torch_mutable_ref(t), Contains("torch_mutable_ref: ") && Contains(reason));
        } else {
            REQUIRE_THROWS_AS(nnprune::torch_ref(t), nnprune::precondition_error);
            REQUIRE_THROWS_WITH(nnprune::torch_ref(t), Contains("torch_ref: ") && Contains(reason));
        }
        if (has_bytes) REQUIRE(storage_bytes(t) == bytes);
    };
    refused(at::Tensor(), false, "undefined");
    refused(torch::ones({4, 4}, at::kInt), false, "dtype is Int");
    refused(torch::ones({4, 4}, at::kComplexFloat), false, "dtype is ComplexFloat");
    refused(torch::tensor(1.5f), false, "rank is 0");
    refused(torch::ones({2, 2, 2, 2, 2}), false, "rank is 5");
    refused(torch::ones({3, 3}, torch::TensorOptions().device(torch::kMeta)), false, "device meta");
    refused(torch::eye(4).to_sparse(), false, "layout Sparse");
    refused(torch::quantize_per_tensor(torch::rand({4, 4}), 0.1, 0, at::kQUInt8), false, "quantized");
    // writes that torch itself would refuse
    const at::Tensor param = torch::randn({6, 6}, torch::requires_grad());
    refused(param, true, "requires grad and grad mode is on");
    refused(torch::randn({1, 6}).expand({4, 6}), true, "share memory");
    at::Tensor inference;
    {
        c10::InferenceMode guard;
        inference = torch::randn({3, 3});
    }
    refused(inference, true, "inference tensor");
    // read-only views of the same tensors are fine; under NoGradGuard the parameter is writable
    CHECK_NOTHROW(nnprune::torch_ref(param));
    CHECK_NOTHROW(nnprune::torch_ref(torch::randn({1, 6}).expand({4, 6})));
    {
        torch::NoGradGuard no_grad;
        CHECK_NOTHROW(nnprune::torch_mutable_ref(param));
    }
    // an empty tensor is a view of nothing
    CHECK(nnprune::torch_ref(torch::ones({0, 5})).size() == 0);

    // failures inside prune() leave the torch tensor as it was
    at::Tensor w = torch::randn({8, 8});
    w.index_put_({2, 3}, std::numeric_limits<float>::quiet_NaN());
    const auto bytes = storage_bytes(w);
    std::vector<nnprune::layer> nan_layer{{"w", nnprune::torch_mutable_ref(w), {}, {}}};
    nnprune::prune_options o;
    o.apply = true;
    REQUIRE_THROWS_AS(nnprune::prune(nan_layer, nnprune::magnitude, nnprune::per_row{}, 0.5, o), nnprune::value_error);
    REQUIRE(storage_bytes(w) == bytes);
    std::vector<nnprune::layer> readonly_layer{{"w", nnprune::torch_ref(torch::randn({8, 8})), {}, {}}};
    REQUIRE_THROWS_AS(nnprune::prune(readonly_layer, nnprune::magnitude, nnprune::per_row{}, 0.5, o),
                      nnprune::precondition_error);
}

TEST_CASE("torch adapter: a module's parameters become layers named as in its state_dict", "[torch]") {
    torch::manual_seed(11);
    net model;
    torch::NoGradGuard no_grad;
    const auto layers = nnprune::torch_layers(*model);
    std::vector<std::string> names;
    for (const auto& l : layers) names.push_back(l.name);
    // Linear and Conv2d weights, in named_parameters() order; not biases, norms or raw parameters
    REQUIRE(names == std::vector<std::string>{"conv.weight", "body.0.weight", "body.2.weight"});
    const auto params = model->named_parameters();
    for (const auto& l : layers) {
        REQUIRE(params.contains(l.name));
        const at::Tensor& p = params[l.name];
        REQUIRE(l.weights.data_handle() == p.data_ptr());
        REQUIRE(l.weights.rank() == static_cast<std::size_t>(p.dim()));
        REQUIRE(!l.weights.readonly());
        REQUIRE(!l.gradient);  // no backward yet
    }
    REQUIRE(layers[0].weights.shape() == nnprune::shape{4, 1, 3, 3});

    // a filter chooses among all parameters; read-only views need no NoGradGuard
    nnprune::torch_layer_options o;
    o.filter = [](const std::string& name, const at::Tensor& p) { return p.dim() == 2 || name == "conv.bias"; };
    o.writable = false;
    const auto chosen = nnprune::torch_layers(*model, o);
    std::vector<std::string> chosen_names;
    for (const auto& l : chosen) chosen_names.push_back(l.name);
    // named_parameters() order: the module's own parameters, then its children's
    REQUIRE(chosen_names == std::vector<std::string>{"scale", "conv.bias", "body.0.weight", "body.2.weight"});
    REQUIRE(chosen[1].weights.readonly());

    o.filter = [](const std::string&, const at::Tensor&) { return false; };
    REQUIRE_THROWS_WITH(nnprune::torch_layers(*model, o), Catch::Matchers::Contains("selected"));
}

TEST_CASE("torch adapter: gradients, errors naming the parameter, in-place prune and torch::save", "[torch]") {
    torch::manual_seed(13);
    net model;
    const at::Tensor x = torch::randn({16, 1, 8, 8});
    model->forward(x).pow(2).mean().backward();
    // writable views outside NoGradGuard are refused, naming the parameter
    REQUIRE_THROWS_WITH(nnprune::torch_layers(*model),
                        Catch::Matchers::Contains("torch_layers: parameter 'conv.weight'") &&
                            Catch::Matchers::Contains("grad mode is on"));

    torch::NoGradGuard no_grad;
    auto layers = nnprune::torch_layers(*model);
    for (const auto& l : layers) {
        REQUIRE(l.gradient);
        REQUIRE(l.gradient->data_handle() == model->named_parameters()[l.name].grad().data_ptr());
    }
    std::map<std::string, at::Tensor> before;
    for (const auto& p : model->named_parameters()) before[p.key()] = p.value().clone();

    nnprune::prune_options o;
    o.apply = true;
    const auto r = nnprune::prune(layers, nnprune::taylor, nnprune::per_tensor{}, nnprune::global{0.6}, o);
    std::size_t pruned = 0, total = 0;
    for (std::size_t i = 0; i < layers.size(); ++i) {
        const at::Tensor p = model->named_parameters()[layers[i].name];
        const at::Tensor keep = nnprune::to_torch(r.masks[i]);
        REQUIRE(torch::equal(p, torch::where(keep, before[layers[i].name], torch::zeros_like(p))));
        pruned += r.masks[i].pruned();
        total += r.masks[i].size();
    }
    REQUIRE(pruned == nnprune::count_to_prune(total, 0.6));
    for (const auto& p : model->named_parameters())  // every other parameter untouched
        if (p.key().find("weight") == std::string::npos || p.key() == "norm.weight")
            REQUIRE(torch::equal(p.value(), before[p.key()]));

    // the pruned module saves and loads with torch; the masks come back from the zeros
    const auto dir = std::filesystem::temp_directory_path() / "nnprune_torch_test";
    std::filesystem::create_directories(dir);
    torch::save(model, (dir / "model.pt").string());
    net loaded;
    torch::load(loaded, (dir / "model.pt").string());
    for (std::size_t i = 0; i < layers.size(); ++i) {
        const at::Tensor p = loaded->named_parameters()[layers[i].name];
        REQUIRE(nnprune::mask_from_torch(p != 0) == r.masks[i]);
    }
    std::filesystem::remove_all(dir);
}

namespace {

/// Trains `model` with Adam for steps [from, to), with the pruner stepping after every
/// optimizer.step(); checks after each step that every pruned weight is zero.
void train(net& model, torch::optim::Adam& opt, auto& pruner, std::vector<nnprune::layer>& layers, std::int64_t from,
           std::int64_t to) {
    for (std::int64_t step = from; step < to; ++step) {
        torch::manual_seed(static_cast<std::uint64_t>(1000 + step));  // the batch depends on the step only
        const at::Tensor x = torch::randn({32, 1, 8, 8});
        const at::Tensor y = torch::randint(0, 10, {32});
        opt.zero_grad();
        torch::nn::functional::cross_entropy(model->forward(x), y).backward();
        opt.step();
        {
            torch::NoGradGuard no_grad;
            pruner.step(layers);
        }
        const auto& masks = pruner.state().masks;
        for (std::size_t i = 0; i < masks.size(); ++i) {
            const at::Tensor p = model->named_parameters()[layers[i].name];
            REQUIRE(torch::equal(p.masked_select(nnprune::to_torch(masks[i]).logical_not()),
                                 torch::zeros({static_cast<std::int64_t>(masks[i].pruned())})));
        }
    }
}

}  // namespace

TEST_CASE("torch adapter: gradual pruning under Adam keeps zeros and resumes with identical masks", "[torch]") {
    torch::set_num_threads(1);
    const nnprune::polynomial_schedule schedule{0.0, 0.9, 2, 20, 3, 3};
    const auto dir = std::filesystem::temp_directory_path() / "nnprune_torch_resume";
    std::filesystem::create_directories(dir);
    auto make = [](net& model) {
        torch::manual_seed(17);
        model = net();
    };
    auto layers_of = [](net& model) {
        torch::NoGradGuard no_grad;
        return nnprune::torch_layers(*model);
    };
    // one run of 30 steps
    net a;
    make(a);
    auto layers_a = layers_of(a);
    torch::optim::Adam opt_a(a->parameters(), torch::optim::AdamOptions(1e-2));
    nnprune::pruner pruner_a(nnprune::magnitude, schedule);
    train(a, opt_a, pruner_a, layers_a, 0, 30);
    REQUIRE(pruner_a.state().last_target == Approx(0.9));

    // the same run stopped after 11 steps, saved, and resumed in fresh objects
    net b;
    make(b);
    auto layers_b = layers_of(b);
    {
        torch::optim::Adam opt_b(b->parameters(), torch::optim::AdamOptions(1e-2));
        nnprune::pruner pruner_b(nnprune::magnitude, schedule);
        train(b, opt_b, pruner_b, layers_b, 0, 11);
        torch::save(b, (dir / "model.pt").string());
        torch::save(opt_b, (dir / "adam.pt").string());
        nnprune::save_pruner_state(dir / "pruner.safetensors", pruner_b.state());
    }
    net c;
    make(c);
    torch::load(c, (dir / "model.pt").string());  // replaces the parameters' storage: view them after
    auto layers_c = layers_of(c);
    torch::optim::Adam opt_c(c->parameters(), torch::optim::AdamOptions(1e-2));
    torch::load(opt_c, (dir / "adam.pt").string());
    nnprune::pruner pruner_c(nnprune::magnitude, schedule);
    pruner_c.restore(nnprune::load_pruner_state(dir / "pruner.safetensors"));
    REQUIRE(pruner_c.state().step == 11);
    train(c, opt_c, pruner_c, layers_c, 11, 30);

    REQUIRE(pruner_c.state().masks.size() == pruner_a.state().masks.size());
    for (std::size_t i = 0; i < pruner_a.state().masks.size(); ++i) {
        REQUIRE(pruner_c.state().masks[i] == pruner_a.state().masks[i]);
        REQUIRE(torch::equal(c->named_parameters()[layers_c[i].name], a->named_parameters()[layers_a[i].name]));
    }
    std::filesystem::remove_all(dir);
}

TEST_CASE("torch adapter: the README's idiom (view, prune, apply)", "[torch]") {
    torch::manual_seed(19);
    // --- as in README.md "libtorch" ---
    torch::nn::Sequential model(torch::nn::Linear(784, 256), torch::nn::ReLU(), torch::nn::Linear(256, 10));
    torch::NoGradGuard no_grad;                                          // nnprune writes into parameters
    std::vector<nnprune::layer> layers = nnprune::torch_layers(*model);  // "0.weight", "2.weight": views
    nnprune::prune_options opt;
    opt.apply = true;  // zero the pruned weights of the model in place
    auto r = nnprune::prune(layers, nnprune::magnitude, nnprune::per_tensor{}, nnprune::global{0.8}, opt);
    torch::Tensor keep = nnprune::to_torch(r.masks[0]);  // bool [256, 784], true = kept
    // ---
    REQUIRE(layers.size() == 2);
    REQUIRE(layers[0].name == "0.weight");
    REQUIRE(layers[1].name == "2.weight");
    REQUIRE(keep.sizes() == at::IntArrayRef{256, 784});
    const auto zeros = (model->named_parameters()["0.weight"] == 0).sum().item<std::int64_t>() +
                       (model->named_parameters()["2.weight"] == 0).sum().item<std::int64_t>();
    REQUIRE(static_cast<std::size_t>(zeros) == nnprune::count_to_prune(256 * 784 + 10 * 256, 0.8));
}
