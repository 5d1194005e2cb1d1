#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "io_test_util.hpp"
#include <nnprune/io/safetensors_header.hpp>

using Catch::Contains;
using io_test::bytes;
using io_test::make_file;

namespace {

bytes zeros(std::size_t n) { return bytes(n, std::byte{0}); }

nnprune::safetensors_header parse(const bytes& b) { return nnprune::parse_safetensors_header(b, "bad.safetensors"); }

}  // namespace

TEST_CASE("safetensors_header: a file built byte by byte parses", "[io][safetensors_header]") {
    // two tensors, listed out of data order, plus metadata; the header is not padded
    const std::string h = R"({"b":{"dtype":"BF16","shape":[3],"data_offsets":[8,14]},)"
                          R"("a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"__metadata__":{"format":"pt"}})";
    const auto hdr = parse(make_file(h, zeros(14)));
    REQUIRE(hdr.tensors.size() == 2);
    CHECK(hdr.tensors[0].name == "a");  // data order
    CHECK(hdr.tensors[0].dtype == nnprune::safetensors_dtype::F32);
    CHECK(hdr.tensors[1].name == "b");
    CHECK(hdr.tensors[1].numel == 3);
    CHECK(hdr.tensors[1].begin == 8);
    CHECK(hdr.tensors[1].end == 14);
    CHECK(hdr.metadata.at("format") == "pt");
    CHECK(hdr.data_start == 8 + h.size());
    CHECK(hdr.data_size == 14);
}

TEST_CASE("safetensors_header: dtype names and sizes", "[io][safetensors_header]") {
    using nnprune::safetensors_dtype;
    for (auto d : {safetensors_dtype::BOOL, safetensors_dtype::U8, safetensors_dtype::I8, safetensors_dtype::I16,
                   safetensors_dtype::F16, safetensors_dtype::BF16, safetensors_dtype::I32, safetensors_dtype::F32,
                   safetensors_dtype::I64, safetensors_dtype::F64, safetensors_dtype::U64, safetensors_dtype::F8_E4M3})
        CHECK(nnprune::parse_safetensors_dtype(nnprune::name_of(d)) == d);
    CHECK(nnprune::size_of(safetensors_dtype::BF16) == 2);
    CHECK(nnprune::size_of(safetensors_dtype::I64) == 8);
    CHECK(nnprune::size_of(safetensors_dtype::BOOL) == 1);
    CHECK_FALSE(nnprune::parse_safetensors_dtype("f32").has_value());  // case-sensitive
    CHECK(nnprune::element_dtype(safetensors_dtype::BF16) == nnprune::dtype::bf16);
    CHECK_FALSE(nnprune::element_dtype(safetensors_dtype::I32).has_value());
}

TEST_CASE("safetensors_header: scalars, empty tensors and empty files", "[io][safetensors_header]") {
    const auto hdr = parse(make_file(R"({"s":{"dtype":"F64","shape":[],"data_offsets":[0,8]},)"
                                     R"("e":{"dtype":"F32","shape":[0,5],"data_offsets":[8,8]},)"
                                     R"("f":{"dtype":"I8","shape":[0],"data_offsets":[8,8]}})",
                                     zeros(8)));
    REQUIRE(hdr.tensors.size() == 3);
    CHECK(hdr.tensors[0].name == "s");
    CHECK(hdr.tensors[0].numel == 1);
    CHECK(hdr.tensors[1].numel == 0);
    CHECK(parse(make_file("{}", {})).tensors.empty());
    // a zero extent makes the product 0 even when the other extents would overflow
    CHECK(parse(make_file(R"({"z":{"dtype":"F32","shape":[18446744073709551615,0,4294967296],"data_offsets":[0,0]}})",
                          {}))
              .tensors[0]
              .numel == 0);
}

TEST_CASE("safetensors_header: every malformed file is a format_error saying why", "[io][safetensors_header]") {
    const auto bad = [](const bytes& b, const std::string& why) {
        INFO(why);
        REQUIRE_THROWS_AS(parse(b), nnprune::format_error);
        REQUIRE_THROWS_WITH(parse(b), Contains("bad.safetensors") && Contains(why));
    };
    const std::string ok_entry = R"("w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]})";

    SECTION("truncated") {
        bad(bytes(7, std::byte{0}), "fewer than the 8-byte header length");
        bad({}, "file has 0 bytes");
        auto f = make_file("{" + ok_entry + "}", zeros(8));
        f.resize(f.size() - 1);  // one data byte missing
        bad(f, "outside the data section of 7 bytes");
        auto g = make_file("{" + ok_entry + "}", {});
        g.resize(20);  // cut inside the header
        bad(g, "exceeds the 12 bytes after the length field");
    }
    SECTION("header length too big") {
        bytes f;
        io_test::append_u64le(f, 0xFFFFFFFFFFFFFFFFull);
        io_test::append_text(f, "{}");
        bad(f, "exceeds the limit of 100000000 bytes");
        bytes g;
        io_test::append_u64le(g, 1000);
        io_test::append_text(g, "{}");
        bad(g, "header length 1000 exceeds the 2 bytes");
        bytes h;
        io_test::append_u64le(h, 0);
        bad(h, "too small for a JSON object");
    }
    SECTION("bad JSON") {
        bad(make_file(R"({"w":{"dtype":"F32",)", {}), "malformed JSON");
        bad(make_file(R"({"w" 1})", {}), "malformed JSON");
        bad(make_file("{\"\xff\":1}", {}), "malformed JSON");  // not UTF-8
        bad(make_file("{}garbage", {}), "malformed JSON");
        // nesting is refused at the 65th level, before a document of it is built
        const std::string deep(64, '[');
        bad(make_file(R"({"__metadata__":)" + deep + std::string(64, ']') + "}", {}),
            "JSON nested deeper than 64 levels");
        bad(make_file(R"({"w":)" + std::string(10'000'000, '['), {}), "JSON nested deeper than 64 levels");
        const std::string nested_ok = R"({"__metadata__":)" + std::string(62, '[') + std::string(62, ']') + "}";
        bad(make_file(nested_ok, {}), "__metadata__ is a JSON array");  // 63 levels parse: the type check speaks
    }
    SECTION("not an object") {
        bad(make_file("[1,2]", {}), "header does not start with '{'");
        bad(make_file(R"({"w":[1,2]})", {}), "tensor 'w': entry is a JSON array, expected an object");
        bad(make_file(R"({"__metadata__":[1]})", {}), "__metadata__ is a JSON array");
        bad(make_file(R"({"__metadata__":{"k":1}})", {}), "__metadata__['k'] is a JSON number, expected a string");
    }
    SECTION("missing or mistyped fields") {
        bad(make_file(R"({"w":{"shape":[2],"data_offsets":[0,8]}})", zeros(8)), "tensor 'w': missing \"dtype\"");
        bad(make_file(R"({"w":{"dtype":"F32","data_offsets":[0,8]}})", zeros(8)), "tensor 'w': missing \"shape\"");
        bad(make_file(R"({"w":{"dtype":"F32","shape":[2]}})", zeros(8)), "tensor 'w': missing \"data_offsets\"");
        bad(make_file(R"({"w":{"dtype":32,"shape":[2],"data_offsets":[0,8]}})", zeros(8)),
            "\"dtype\" is a JSON number");
        bad(make_file(R"({"w":{"dtype":"F32","shape":2,"data_offsets":[0,8]}})", zeros(8)),
            "\"shape\" is a JSON number");
        bad(make_file(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0]}})", zeros(8)), "is not [begin, end]");
        bad(make_file(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,-8]}})", zeros(8)), "is not [begin, end]");
        bad(make_file(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0.0,8]}})", zeros(8)), "is not [begin, end]");
    }
    SECTION("unknown dtype") {
        bad(make_file(R"({"w":{"dtype":"F128","shape":[2],"data_offsets":[0,8]}})", zeros(8)),
            "tensor 'w': unknown dtype 'F128'");
    }
    SECTION("bad shape") {
        bad(make_file(R"({"w":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", zeros(8)),
            "tensor 'w': shape[0] = -2 is not a non-negative integer");
        bad(make_file(R"({"w":{"dtype":"F32","shape":[2.5],"data_offsets":[0,8]}})", zeros(8)), "shape[0] = 2.5");
        bad(make_file(R"({"w":{"dtype":"F32","shape":["2"],"data_offsets":[0,8]}})", zeros(8)), "shape[0] = \"2\"");
    }
    SECTION("shape x size != range") {
        bad(make_file(R"({"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", zeros(8)),
            "tensor 'w': data_offsets [0, 8] hold 8 bytes, shape [3] x F32 needs 12");
    }
    SECTION("overflow") {
        bad(make_file(R"({"w":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,8]}})", zeros(8)),
            "element count overflows 64 bits");
        bad(make_file(R"({"w":{"dtype":"F64","shape":[2305843009213693952],"data_offsets":[0,8]}})", zeros(8)),
            "x 8 bytes overflows 64 bits");
        bad(make_file(R"({"w":{"dtype":"U8","shape":[8],"data_offsets":[18446744073709551615,18446744073709551615]}})",
                      zeros(8)),
            "outside the data section");
    }
    SECTION("offsets outside, reversed") {
        bad(make_file(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}})", zeros(8)),
            "tensor 'w': data_offsets [8, 16] lie outside the data section of 8 bytes");
        bad(make_file(R"({"w":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}})", zeros(8)), "begin > end");
    }
    SECTION("overlapping") {
        bad(make_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                      R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
                      zeros(12)),
            "tensor 'b': data_offsets [4, 12] overlap tensor 'a' [0, 8]");
        bad(make_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                      R"("b":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})",
                      zeros(8)),
            "overlap tensor 'a'");
    }
    SECTION("holes") {
        bad(make_file(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                      R"("b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}})",
                      zeros(12)),
            "tensor 'b': hole of 4 bytes before its data at 8");
        bad(make_file(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", zeros(8)), "hole of 4 bytes");
        bad(make_file("{" + ok_entry + "}", zeros(9)), "1 trailing bytes not covered");
        bad(make_file("{}", zeros(3)), "3 trailing bytes");
    }
    SECTION("duplicate names") {
        bad(make_file("{" + ok_entry + "," + ok_entry + "}", zeros(8)), "duplicate key 'w'");
        bad(make_file(R"({"w":{"dtype":"F32","dtype":"F32","shape":[2],"data_offsets":[0,8]}})", zeros(8)),
            "duplicate key 'dtype'");
        bad(make_file(R"({"__metadata__":{"a":"1","a":"2"}})", {}), "duplicate key 'a'");
    }
}
