#include <cstddef>
#include <cstdint>
#include <string>

#include <catch2/catch.hpp>

#include "io_test_util.hpp"
#include <nnprune/io/safetensors_model.hpp>

using Catch::Contains;
using io_test::bytes;

namespace {

// shard 1: "a" F32 [2] and "b" BF16 [2]; shard 2: "c" F32 [1] and "extra" U8 [4]
void write_shards(const io_test::scratch_dir& dir) {
    bytes d1;
    for (float x : {1.5f, -1.0f}) io_test::append_le(d1, x);
    for (std::uint16_t x : std::initializer_list<std::uint16_t>{0x4000, 0xBF80})
        io_test::append_le(d1, x);  // bf16 2.0, -1.0
    std::string h1 =
        R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"BF16","shape":[2],"data_offsets":[8,12]}})";
    h1.append((8 - h1.size() % 8) % 8, ' ');
    io_test::write_file(dir / "model-00001-of-00002.safetensors", io_test::make_file(h1, d1));
    bytes d2;
    io_test::append_le(d2, 42.0f);
    d2.insert(d2.end(), 4, std::byte{9});
    std::string h2 =
        R"({"c":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"extra":{"dtype":"U8","shape":[4],"data_offsets":[4,8]}})";
    h2.append((8 - h2.size() % 8) % 8, ' ');
    io_test::write_file(dir / "model-00002-of-00002.safetensors", io_test::make_file(h2, d2));
}

void write_index(const io_test::scratch_dir& dir, const std::string& text) {
    bytes b;
    io_test::append_text(b, text);
    io_test::write_file(dir / "model.safetensors.index.json", b);
}

}  // namespace

TEST_CASE("safetensors_model: a sharded checkpoint reads as one model", "[io][safetensors_model]") {
    io_test::scratch_dir dir;
    write_shards(dir);
    write_index(dir, R"({"metadata":{"total_size":16},"weight_map":{"a":"model-00001-of-00002.safetensors",)"
                     R"("b":"model-00001-of-00002.safetensors","c":"model-00002-of-00002.safetensors"}})");
    const nnprune::safetensors_model m(dir / "model.safetensors.index.json");
    CHECK(m.size() == 3);
    CHECK(m.shards().size() == 2);
    CHECK(m.names() == std::vector<std::string>{"a", "b", "c"});
    CHECK_FALSE(m.contains("extra"));  // only the weight map's tensors
    CHECK(m.metadata().at("total_size") == "16");
    CHECK((m.tensor("a").view<float, 1>()(0)) == 1.5f);
    CHECK(static_cast<float>(m.tensor("b").view<nnprune::bfloat16, 1>()(0)) == 2.0f);
    CHECK(static_cast<float>(m.tensor("b").view<nnprune::bfloat16, 1>()(1)) == -1.0f);
    CHECK((m.tensor("c").view<float, 1>()(0)) == 42.0f);
    REQUIRE_THROWS_WITH(m.tensor("extra"), Contains("no tensor named 'extra'"));

    // a single file opens the same way
    const nnprune::safetensors_model one(dir / "model-00002-of-00002.safetensors");
    CHECK(one.names() == std::vector<std::string>{"c", "extra"});
}

TEST_CASE("safetensors_model: malformed indexes are format_errors", "[io][safetensors_model]") {
    io_test::scratch_dir dir;
    write_shards(dir);
    const auto bad = [&](const std::string& index, const std::string& why) {
        INFO(why);
        write_index(dir, index);
        REQUIRE_THROWS_AS(nnprune::safetensors_model(dir / "model.safetensors.index.json"), nnprune::format_error);
        REQUIRE_THROWS_WITH(nnprune::safetensors_model(dir / "model.safetensors.index.json"),
                            Contains("model.safetensors.index.json") && Contains(why));
    };
    bad(R"({"weight_map":{"a":"../model-00001-of-00002.safetensors"}})", "path traversal refused");
    bad(R"({"weight_map":{"a":"/etc/passwd"}})", "is not a plain file name");
    bad(R"({"weight_map":{"a":"sub\\x.safetensors"}})", "is not a plain file name");
    bad(R"({"weight_map":{"a":".."}})", "path traversal refused");
    bad(R"({"weight_map":{"a":""}})", "path traversal refused");
    bad(R"({"weight_map":{"c":"model-00001-of-00002.safetensors"}})",
        "tensor 'c' is mapped to shard 'model-00001-of-00002.safetensors', which does not contain it");
    bad(R"({"weight_map":{"a":1}})", "weight_map['a'] is a JSON number");
    bad(R"({"weight_map":[]})", "\"weight_map\" is a JSON array");
    bad(R"({"metadata":{}})", "missing \"weight_map\"");
    bad(R"([])", "index is a JSON array");
    bad(R"({"weight_map":{"a":"model-00001-of-00002.safetensors","a":"model-00001-of-00002.safetensors"}})",
        "duplicate key 'a'");
    bad(R"({"weight_map":{)", "malformed JSON");

    // a missing shard is an io_error naming it; a corrupt shard a format_error naming it
    write_index(dir, R"({"weight_map":{"a":"gone.safetensors"}})");
    REQUIRE_THROWS_AS(nnprune::safetensors_model(dir / "model.safetensors.index.json"), nnprune::io_error);
    REQUIRE_THROWS_WITH(nnprune::safetensors_model(dir / "model.safetensors.index.json"), Contains("gone.safetensors"));
    io_test::write_file(dir / "corrupt.safetensors", bytes(5, std::byte{1}));
    write_index(dir, R"({"weight_map":{"a":"corrupt.safetensors"}})");
    REQUIRE_THROWS_WITH(nnprune::safetensors_model(dir / "model.safetensors.index.json"),
                        Contains("corrupt.safetensors: file has 5 bytes"));
}
