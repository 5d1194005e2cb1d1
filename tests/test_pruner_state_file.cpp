#include <cstdint>
#include <filesystem>
#include <limits>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>

#include "io_test_util.hpp"
#include "prune_test_util.hpp"
#include <nnprune/io/pruner_state_file.hpp>
#include <nnprune/prune/pruner.hpp>
#include <nnprune/schedules/polynomial.hpp>
#include <nnprune/scorers/magnitude.hpp>

using namespace nnprune;
using Catch::Contains;

namespace {

// the same fake optimizer update on every run: revives every weight a little
void fake_optimizer_update(std::vector<float>& a, std::vector<float>& b, std::int64_t step) {
    for (std::size_t i = 0; i < a.size(); ++i)
        a[i] += 0.001f * static_cast<float>((i + static_cast<std::size_t>(step)) % 7);
    for (std::size_t i = 0; i < b.size(); ++i)
        b[i] -= 0.002f * static_cast<float>((i * 3 + static_cast<std::size_t>(step)) % 5);
}

// a state file written by hand: masks via the mask-file writer, the pruner metadata as given
void write_state(const std::filesystem::path& path, const std::vector<std::pair<std::string, mask>>& ms,
                 const std::map<std::string, std::string>& metadata) {
    std::vector<std::pair<std::string, const_mask_view>> views;
    for (const auto& [n, m] : ms) views.emplace_back(n, m.view());
    safetensors_writer w;
    std::vector<std::vector<std::uint8_t>> buffers;
    detail::add_masks(w, views, mask_file_format::bitpacked, buffers);
    for (const auto& [k, v] : metadata) w.set_metadata(k, v);
    w.write(path);
}

std::map<std::string, std::string> good_metadata() {
    return {{"nnprune.pruner_state", "v1"},
            {"nnprune.pruner.step", "3"},
            {"nnprune.pruner.last_target", "0.25"},
            {"nnprune.pruner.names", R"(["a","b"])"}};
}

std::vector<std::pair<std::string, mask>> two_masks() {
    mask a(shape{3, 5}), b(shape{7}, false);
    a.set(4, false);
    b.set(6);
    return {{"a", a}, {"b", b}};
}

}  // namespace

TEST_CASE("pruner_state_file: save, load into a fresh pruner, continue = the uninterrupted run",
          "[io][pruner_state_file][pruner]") {
    io_test::scratch_dir dir;
    const polynomial_schedule sched{0.0, 0.85, 0, 12, 3, 2};
    const auto a0 = test_util::values(10 * 21, 11), b0 = test_util::values(7 * 9, 12);

    // uninterrupted
    auto a = a0, b = b0;
    std::vector<layer> L{test_util::make_layer("fc1.weight", a, 10, 21), test_util::make_layer("fc2.weight", b, 7, 9)};
    pruner p(magnitude, sched, per_row{});
    std::vector<std::vector<mask>> masks_at;
    for (std::int64_t s = 0; s <= 14; ++s) {
        fake_optimizer_update(a, b, s);
        p.step(L);
        masks_at.push_back(p.state().masks);
    }

    for (std::int64_t stop : {0, 1, 5, 6, 13}) {
        INFO("stopped after step " << stop);
        auto a2 = a0, b2 = b0;
        std::vector<layer> L2{test_util::make_layer("fc1.weight", a2, 10, 21),
                              test_util::make_layer("fc2.weight", b2, 7, 9)};
        const auto file = dir / ("state_" + std::to_string(stop) + ".safetensors");
        {
            pruner first(magnitude, sched, per_row{});
            for (std::int64_t s = 0; s < stop; ++s) {
                fake_optimizer_update(a2, b2, s);
                first.step(L2);
            }
            save_pruner_state(file, first.state());
            const pruner_state back = load_pruner_state(file);
            CHECK(back.step == first.state().step);
            CHECK(back.last_target == first.state().last_target);  // bit-identical double
            CHECK(back.names == first.state().names);
            CHECK(back.masks == first.state().masks);
        }
        pruner second(magnitude, sched, per_row{});
        second.restore(load_pruner_state(file));
        for (std::int64_t s = stop; s <= 14; ++s) {
            fake_optimizer_update(a2, b2, s);
            second.step(L2);
            REQUIRE(second.state().masks == masks_at[static_cast<std::size_t>(s)]);
        }
        CHECK(second.state().step == p.state().step);
        CHECK(second.state().last_target == p.state().last_target);
        CHECK(a2 == a);  // the weights too, bit for bit
        CHECK(b2 == b);
    }
}

TEST_CASE("pruner_state_file: the file is a mask file, odd last_target values round-trip exactly",
          "[io][pruner_state_file]") {
    io_test::scratch_dir dir;
    pruner_state st;
    st.step = 123456789012345;
    st.last_target = 0.1 + 0.2;  // 0.30000000000000004
    for (const auto& [n, m] : two_masks()) {
        st.names.push_back(n);
        st.masks.push_back(m);
    }
    st.names = {"b", "a"};  // the layer order is the names' order, not the file's
    std::swap(st.masks[0], st.masks[1]);
    save_pruner_state(dir / "s.safetensors", st);
    const auto back = load_pruner_state(dir / "s.safetensors");
    CHECK(back.step == st.step);
    CHECK(back.last_target == st.last_target);
    CHECK(back.names == st.names);
    CHECK(back.masks == st.masks);
    const auto as_masks = load_masks(dir / "s.safetensors");
    CHECK(as_masks.at("a") == st.masks[1]);
    CHECK(as_masks.at("b") == st.masks[0]);

    const pruner_state empty;  // before the first pruning step
    save_pruner_state(dir / "e.safetensors", empty);
    const auto e = load_pruner_state(dir / "e.safetensors");
    CHECK(e.step == 0);
    CHECK(e.masks.empty());
    CHECK(e.names.empty());
}

TEST_CASE("pruner_state_file: save rejects a bad state before writing", "[io][pruner_state_file]") {
    io_test::scratch_dir dir;
    const auto path = dir / "s.safetensors";
    pruner_state st;
    st.names = {"a"};
    REQUIRE_THROWS_WITH(save_pruner_state(path, st), Contains("save_pruner_state: 1 names for 0 masks"));
    st.masks.emplace_back(shape{2});
    st.names = {""};
    REQUIRE_THROWS_WITH(save_pruner_state(path, st), Contains("save_pruner_state: layer 0 has an empty name"));
    st.names = {"a", "a"};
    st.masks.emplace_back(shape{3});
    REQUIRE_THROWS_WITH(save_pruner_state(path, st), Contains("save_pruner_state: layer name 'a' is repeated"));
    st.names = {"a", "b"};
    st.step = -1;
    REQUIRE_THROWS_WITH(save_pruner_state(path, st), Contains("save_pruner_state: step -1 is negative"));
    st.step = 0;
    st.last_target = std::numeric_limits<double>::infinity();
    REQUIRE_THROWS_WITH(save_pruner_state(path, st), Contains("save_pruner_state: last_target inf is not finite"));
    REQUIRE_THROWS_AS(save_pruner_state(path, st), precondition_error);
    CHECK(dir.entries().empty());  // nothing written, no temporary left
}

TEST_CASE("pruner_state_file: malformed files are format_errors that say what is wrong", "[io][pruner_state_file]") {
    io_test::scratch_dir dir;
    const auto path = dir / "bad.safetensors";
    const auto expect = [&](std::map<std::string, std::string> md, const std::string& what,
                            std::vector<std::pair<std::string, mask>> ms = two_masks()) {
        write_state(path, ms, md);
        INFO(what);
        REQUIRE_THROWS_AS(load_pruner_state(path), format_error);
        REQUIRE_THROWS_WITH(load_pruner_state(path), Contains("load_pruner_state: ") && Contains(what));
    };
    // the good file loads
    write_state(path, two_masks(), good_metadata());
    CHECK(load_pruner_state(path).step == 3);

    auto md = good_metadata();
    md.erase("nnprune.pruner_state");
    expect(md, "no \"nnprune.pruner_state\" in __metadata__: not a pruner state file");
    md = good_metadata();
    md["nnprune.pruner_state"] = "v2";
    expect(md, "unknown pruner state version 'v2' (known: v1)");
    for (const char* key : {"nnprune.pruner.step", "nnprune.pruner.last_target", "nnprune.pruner.names"}) {
        md = good_metadata();
        md.erase(key);
        expect(md, detail::str("no \"", key, "\" in __metadata__"));
    }
    for (const char* bad : {"", "12a", "-1", "+3", " 3", "99999999999999999999", "3.0"}) {
        md = good_metadata();
        md["nnprune.pruner.step"] = bad;
        expect(md, detail::str("\"nnprune.pruner.step\" is '", bad, "', not a decimal integer in [0, 2^63)"));
    }
    for (const char* bad : {"", "nan", "inf", "0.5x", "1e999", "0,5"}) {
        md = good_metadata();
        md["nnprune.pruner.last_target"] = bad;
        expect(md, detail::str("\"nnprune.pruner.last_target\" is '", bad, "', not a finite decimal number"));
    }
    for (const char* bad : {"[", "{}", "\"a\"", "[\"a\",}"}) {
        md = good_metadata();
        md["nnprune.pruner.names"] = bad;
        expect(md, detail::str("\"nnprune.pruner.names\" is not a JSON array of layer names: '", bad, "'"));
    }
    md = good_metadata();
    md["nnprune.pruner.names"] = R"(["a",3])";
    expect(md, "\"nnprune.pruner.names\" holds 3, not a non-empty string");
    md["nnprune.pruner.names"] = R"(["a",""])";
    expect(md, "\"nnprune.pruner.names\" holds \"\", not a non-empty string");
    md["nnprune.pruner.names"] = R"(["a"])";
    expect(md, "\"nnprune.pruner.names\" lists 1 layers, the file has 2 masks");
    md["nnprune.pruner.names"] = R"(["a","b","c"])";
    expect(md, "\"nnprune.pruner.names\" lists 3 layers, the file has 2 masks");
    md["nnprune.pruner.names"] = R"(["a","c"])";
    expect(md, "layer 'c' in \"nnprune.pruner.names\" has no mask (or is listed twice)");
    md["nnprune.pruner.names"] = R"(["a","a"])";
    expect(md, "layer 'a' in \"nnprune.pruner.names\" has no mask (or is listed twice)");
    // the mask part is validated by load_masks
    md = good_metadata();
    md["nnprune.mask.a"] = "3x6";
    write_state(path, two_masks(), md);
    REQUIRE_THROWS_AS(load_pruner_state(path), format_error);
    REQUIRE_THROWS_WITH(load_pruner_state(path),
                        Contains("load_masks: ") && Contains("mask 'a': has 2 bytes, shape 3x6"));
}
