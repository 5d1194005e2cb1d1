#include <cstddef>
#include <cstdint>
#include <map>
#include <random>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "io_test_util.hpp"
#include <nnprune/io/mask_file.hpp>

using Catch::Contains;

namespace {

nnprune::mask random_mask(const nnprune::shape& s, std::uint64_t seed) {
    std::mt19937_64 rng(seed);
    nnprune::mask m(s, false);
    for (std::size_t i = 0; i < m.size(); ++i) m.set(i, (rng() & 3) != 0);
    return m;
}

std::map<std::string, nnprune::mask> some_masks() {
    std::map<std::string, nnprune::mask> ms;
    ms.emplace("model.layers.0.mlp.up_proj.weight", random_mask(nnprune::shape{7, 13}, 1));  // 91: odd
    ms.emplace("conv", random_mask(nnprune::shape{3, 2, 3, 5}, 2));                          // rank 4, 90
    ms.emplace("tiny", random_mask(nnprune::shape{1}, 3));
    ms.emplace("word", random_mask(nnprune::shape{64}, 4));
    ms.emplace("bytes", random_mask(nnprune::shape{2, 8}, 5));
    ms.emplace("empty", nnprune::mask(nnprune::shape{0, 4}));
    ms.emplace("long", random_mask(nnprune::shape{1001}, 6));
    return ms;
}

}  // namespace

TEST_CASE("mask_file: both formats round-trip, odd sizes included", "[io][mask_file]") {
    io_test::scratch_dir dir;
    const auto ms = some_masks();
    for (auto fmt : {nnprune::mask_file_format::bitpacked, nnprune::mask_file_format::bytes}) {
        nnprune::save_masks(dir / "m.safetensors", ms, fmt);
        const auto back = nnprune::load_masks(dir / "m.safetensors");
        REQUIRE(back.size() == ms.size());
        for (const auto& [name, m] : ms) {
            INFO(name);
            REQUIRE(back.count(name) == 1);
            CHECK(back.at(name).shape() == m.shape());
            CHECK(back.at(name) == m);
        }
    }
}

TEST_CASE("mask_file: the bit-packed layout is bit i%8 of byte i/8", "[io][mask_file]") {
    io_test::scratch_dir dir;
    nnprune::mask m(nnprune::shape{2, 6}, false);  // 12 bits: kept 0, 3, 9, 11
    for (std::size_t i : {0, 3, 9, 11}) m.set(i);
    nnprune::save_masks(dir / "m.safetensors", std::map<std::string, nnprune::mask>{{"w", m}});
    const nnprune::safetensors_file f(dir / "m.safetensors");
    CHECK(f.metadata().at("nnprune.mask_format") == "bitpacked-v1");
    CHECK(f.metadata().at("nnprune.mask.w") == "2x6");
    const auto t = f.tensor("w");
    CHECK(t.dtype() == nnprune::safetensors_dtype::U8);
    const auto b = t.data<std::uint8_t>();
    REQUIRE(b.size() == 2);
    CHECK(b[0] == 0b0000'1001);
    CHECK(b[1] == 0b0000'1010);

    nnprune::save_masks(dir / "b.safetensors", std::map<std::string, nnprune::mask>{{"w", m}},
                        nnprune::mask_file_format::bytes);
    const nnprune::safetensors_file g(dir / "b.safetensors");
    CHECK(g.tensor("w").dtype() == nnprune::safetensors_dtype::BOOL);
    CHECK(g.tensor("w").shape() == std::vector<std::uint64_t>{2, 6});
    const auto bb = g.tensor("w").data<bool>();
    CHECK(std::vector<bool>(bb.begin(), bb.end()) ==
          std::vector<bool>{true, false, false, true, false, false, false, false, false, true, false, true});
}

TEST_CASE("mask_file: tail bits of a caller's words are not written", "[io][mask_file]") {
    io_test::scratch_dir dir;
    std::vector<std::uint64_t> words{~std::uint64_t{0}};  // 5 elements, but all 64 bits set
    const nnprune::const_mask_view v(std::span<const std::uint64_t>(words), nnprune::shape{5});
    std::vector<std::pair<std::string, nnprune::const_mask_view>> list{{"w", v}};
    nnprune::save_masks(dir / "m.safetensors", list);
    const auto back = nnprune::load_masks(dir / "m.safetensors");
    CHECK(back.at("w").count() == 5);
    CHECK(back.at("w").words()[0] == 0x1F);
}

TEST_CASE("mask_file: a plain BOOL safetensors file (another tool's) loads", "[io][mask_file]") {
    io_test::scratch_dir dir;
    io_test::bytes data{std::byte{1}, std::byte{0}, std::byte{0}, std::byte{1}};
    io_test::write_file(dir / "t.safetensors",
                        io_test::make_file(R"({"w":{"dtype":"BOOL","shape":[2,2],"data_offsets":[0,4]}})", data));
    const auto ms = nnprune::load_masks(dir / "t.safetensors");
    CHECK(ms.at("w").count() == 2);
    CHECK(ms.at("w").test(3));
}

TEST_CASE("mask_file: malformed mask files are format_errors", "[io][mask_file]") {
    io_test::scratch_dir dir;
    const auto path = dir / "bad.safetensors";
    const auto bad = [&](const nnprune::safetensors_writer& w, const std::string& why) {
        INFO(why);
        w.write(path);
        REQUIRE_THROWS_AS(nnprune::load_masks(path), nnprune::format_error);
        REQUIRE_THROWS_WITH(nnprune::load_masks(path),
                            Contains("load_masks: ") && Contains("bad.safetensors") && Contains(why));
    };
    std::vector<std::uint8_t> two{0xFF, 0x01};
    std::vector<std::uint8_t> bools{1, 2, 0};
    std::vector<float> f{1.0f};
    using D = nnprune::safetensors_dtype;

    nnprune::safetensors_writer w1;
    w1.add("w", nnprune::vector_view<const float>(f.data(), 1));
    bad(w1, "tensor 'w' is F32, not BOOL: not a mask file");

    nnprune::safetensors_writer w2;
    w2.set_metadata("nnprune.mask_format", "bitpacked-v9");
    bad(w2, "unknown mask format 'bitpacked-v9'");

    nnprune::safetensors_writer w3;  // shape needs 9 bits = 2 bytes: ok count, but bit 9 of byte 1... tail check
    w3.set_metadata("nnprune.mask_format", "bitpacked-v1");
    w3.set_metadata("nnprune.mask.w", "3x3");
    std::vector<std::uint8_t> tail{0xFF, 0x03};
    w3.add_span<std::uint8_t>("w", D::U8, {2}, tail);
    bad(w3, "mask 'w': bits past the last of 9 elements are not zero");

    nnprune::safetensors_writer w4;
    w4.set_metadata("nnprune.mask_format", "bitpacked-v1");
    w4.set_metadata("nnprune.mask.w", "4x5");
    w4.add_span<std::uint8_t>("w", D::U8, {2}, two);
    bad(w4, "mask 'w': has 2 bytes, shape 4x5 (20 bits) needs 3");

    for (const std::string s :
         {"4x", "x4", "4xx5", "-4", "4 x5", "1x2x3x4x5", "", "99999999999999999999", "4294967296x4294967296"}) {
        nnprune::safetensors_writer w;
        w.set_metadata("nnprune.mask_format", "bitpacked-v1");
        w.set_metadata("nnprune.mask.w", s);
        w.add_span<std::uint8_t>("w", D::U8, {2}, two);
        bad(w, "mask 'w': shape '" + s + "' is not extents joined by 'x'");
    }

    nnprune::safetensors_writer w5;
    w5.set_metadata("nnprune.mask_format", "bitpacked-v1");
    w5.add_span<std::uint8_t>("w", D::U8, {2}, two);
    bad(w5, "mask 'w': no \"nnprune.mask.w\" shape in __metadata__");

    nnprune::safetensors_writer w6;
    w6.set_metadata("nnprune.mask_format", "bitpacked-v1");
    w6.set_metadata("nnprune.mask.w", "16");
    w6.set_metadata("nnprune.mask.ghost", "16");
    w6.add_span<std::uint8_t>("w", D::U8, {2}, two);
    bad(w6, "__metadata__ has \"nnprune.mask.ghost\" but there is no mask tensor 'ghost'");

    nnprune::safetensors_writer w7;
    w7.set_metadata("nnprune.mask_format", "bitpacked-v1");
    w7.set_metadata("nnprune.mask.w", "16");
    w7.add_span<std::uint8_t>("w", D::U8, {1, 2}, two);
    bad(w7, "mask 'w': has rank 2, expected 1");

    nnprune::safetensors_writer w8;
    w8.set_metadata("nnprune.mask_format", "bitpacked-v1");
    w8.set_metadata("nnprune.mask.w", "16");
    w8.add_span<std::uint8_t>("w", D::I8, {2}, two);
    bad(w8, "mask 'w': is I8, expected U8");

    nnprune::safetensors_writer w9;
    w9.set_metadata("nnprune.mask_format", "bool-v1");
    w9.add_span<std::uint8_t>("w", D::BOOL, {3}, bools);
    bad(w9, "mask 'w': BOOL element 1 is 2, not 0 or 1");

    nnprune::safetensors_writer w10;
    w10.set_metadata("nnprune.mask_format", "bool-v1");
    w10.add_span<std::uint8_t>("w", D::U8, {2}, two);
    bad(w10, "mask 'w': is U8, expected BOOL");

    nnprune::safetensors_writer w11;
    w11.set_metadata("nnprune.mask_format", "bool-v1");
    w11.add_span<std::uint8_t>("w", D::BOOL, {}, std::span<const std::uint8_t>(bools).first(1));
    bad(w11, "mask 'w': has rank 0, expected 1..4");
}
