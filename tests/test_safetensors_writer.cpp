#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "io_test_util.hpp"
#include <nnprune/io/safetensors_reader.hpp>
#include <nnprune/io/safetensors_writer.hpp>

using Catch::Contains;

TEST_CASE("safetensors_writer: round trip of every dtype, metadata and alignment", "[io][safetensors_writer]") {
    io_test::scratch_dir dir;
    std::vector<float> w{1, 2, 3, 4, 5, 6};
    std::vector<nnprune::bfloat16> b{nnprune::bfloat16(1.5f), nnprune::bfloat16(-0.25f), nnprune::bfloat16(7.0f)};
    std::vector<nnprune::float16> h{nnprune::float16(0.5f)};
    std::vector<double> d{3.0, -4.0};
    std::vector<std::int32_t> idx{-1, 5, 9};
    std::vector<std::uint8_t> m{1, 0, 1};

    nnprune::safetensors_writer wr;
    wr.add("w", nnprune::matrix_view<const float>(w.data(), 2, 3));
    wr.add("b", nnprune::vector_view<const nnprune::bfloat16>(b.data(), 3));
    wr.add("h", nnprune::vector_view<const nnprune::float16>(h.data(), 1));
    wr.add("d", nnprune::vector_view<const double>(d.data(), 2));
    wr.add_span<std::int32_t>("idx", nnprune::safetensors_dtype::I32, {3}, idx);
    wr.add_span<std::uint8_t>("m", nnprune::safetensors_dtype::BOOL, {3}, m);
    wr.set_metadata("format", "pt");
    wr.set_metadata("nnprune.note", "héllo");
    wr.write(dir / "out.safetensors");

    const auto raw = io_test::read_file(dir / "out.safetensors");
    std::uint64_t n = 0;
    for (int i = 0; i < 8; ++i) n |= static_cast<std::uint64_t>(raw[static_cast<std::size_t>(i)]) << (8 * i);
    CHECK((8 + n) % 8 == 0);  // padded with spaces to 8
    CHECK(static_cast<char>(raw[8 + n - 1]) != '\0');
    const std::string text(reinterpret_cast<const char*>(raw.data() + 8), n);
    CHECK(text.rfind("{\"__metadata__\"", 0) == 0);  // metadata first

    const nnprune::safetensors_file f(dir / "out.safetensors");
    CHECK(f.metadata().at("nnprune.note") == "héllo");
    // data order: 8-byte types, then 4, 2, 1, each by name
    CHECK(f.names() == std::vector<std::string>{"d", "idx", "w", "b", "h", "m"});
    const auto wv = f.tensor("w").view<float, 2>();
    CHECK(wv(1, 2) == 6.0f);
    CHECK(f.tensor("b").view<nnprune::bfloat16, 1>()(2) == b[2]);
    CHECK(f.tensor("h").view<nnprune::float16, 1>()(0) == h[0]);
    CHECK(f.tensor("d").view<double, 1>()(1) == -4.0);
    CHECK(f.tensor("idx").data<std::int32_t>()[0] == -1);
    CHECK(f.tensor("m").data<bool>()[2]);
    for (std::size_t i = 0; i < f.size(); ++i) {  // every tensor aligned to its element size in the file
        const auto t = f.at(i);
        CHECK(reinterpret_cast<std::uintptr_t>(t.bytes().data()) % nnprune::size_of(t.dtype()) == 0);
    }

    // deterministic: the same tensors added in another order give the same bytes
    nnprune::safetensors_writer wr2;
    wr2.set_metadata("nnprune.note", "héllo");
    wr2.add_span<std::uint8_t>("m", nnprune::safetensors_dtype::BOOL, {3}, m);
    wr2.add_span<std::int32_t>("idx", nnprune::safetensors_dtype::I32, {3}, idx);
    wr2.add("d", nnprune::vector_view<const double>(d.data(), 2));
    wr2.add("h", nnprune::vector_view<const nnprune::float16>(h.data(), 1));
    wr2.add("b", nnprune::vector_view<const nnprune::bfloat16>(b.data(), 3));
    wr2.add("w", nnprune::matrix_view<const float>(w.data(), 2, 3));
    wr2.set_metadata("format", "pt");
    wr2.write(dir / "out2.safetensors");
    CHECK(io_test::read_file(dir / "out2.safetensors") == raw);
}

TEST_CASE("safetensors_writer: strided views are written in flat order", "[io][safetensors_writer]") {
    io_test::scratch_dir dir;
    std::vector<float> w{1, 2, 3, 4, 5, 6};  // 2x3, written transposed as 3x2
    nnprune::safetensors_writer wr;
    wr.add("t", nnprune::matrix_view<const float>(w.data(), {3, 2}, {1, 3}));
    wr.write(dir / "t.safetensors");
    const nnprune::safetensors_file f(dir / "t.safetensors");
    const auto v = f.tensor("t").data<float>();
    CHECK(std::vector<float>(v.begin(), v.end()) == std::vector<float>{1, 4, 2, 5, 3, 6});
}

TEST_CASE("safetensors_writer: bad arguments are refused before writing", "[io][safetensors_writer]") {
    std::vector<float> w{1, 2};
    std::vector<std::uint8_t> m{1, 0, 1};
    nnprune::safetensors_writer wr;
    wr.add("w", nnprune::vector_view<const float>(w.data(), 2));
    REQUIRE_THROWS_WITH(wr.add("w", nnprune::vector_view<const float>(w.data(), 2)),
                        Contains("duplicate tensor name 'w'"));
    REQUIRE_THROWS_WITH(wr.add("__metadata__", nnprune::vector_view<const float>(w.data(), 2)), Contains("reserved"));
    REQUIRE_THROWS_WITH(wr.add_span<std::uint8_t>("m", nnprune::safetensors_dtype::U8, {2, 2}, m),
                        Contains("tensor 'm' has 3 bytes, its shape x U8 needs 4"));
    REQUIRE_THROWS_WITH(wr.add_span<std::uint8_t>("m", nnprune::safetensors_dtype::I32, {3}, m),
                        Contains("1-byte elements given for I32"));
    REQUIRE_THROWS_WITH(wr.add_span<std::uint8_t>("\xff", nnprune::safetensors_dtype::U8, {3}, m),
                        Contains("not valid UTF-8"));
    REQUIRE_THROWS_WITH(wr.add_span<std::uint8_t>("m", nnprune::safetensors_dtype::U8, {std::uint64_t{1} << 62, 8}, m),
                        Contains("more than 2^64"));
    CHECK(wr.size() == 1);
}

TEST_CASE("safetensors_writer: a failed write leaves no output and the old file untouched",
          "[io][safetensors_writer]") {
    io_test::scratch_dir dir;
    std::vector<float> w{1, 2};
    nnprune::safetensors_writer wr;
    wr.add("w", nnprune::vector_view<const float>(w.data(), 2));

    SECTION("missing directory") {
        REQUIRE_THROWS_AS(wr.write(dir / "no/such/dir/out.safetensors"), nnprune::io_error);
        REQUIRE_THROWS_WITH(wr.write(dir / "no/such/dir/out.safetensors"), Contains("out.safetensors"));
        CHECK(dir.entries().empty());
    }
    SECTION("rename over a directory fails: the temporary file is removed") {
        std::filesystem::create_directories(dir / "taken.safetensors/inner");
        REQUIRE_THROWS_WITH(wr.write(dir / "taken.safetensors"), Contains("rename to the target failed"));
        CHECK(dir.entries() == std::vector<std::string>{"taken.safetensors"});
    }
    SECTION("an existing file is replaced only by a complete new one") {
        io_test::bytes old(5, std::byte{7});
        io_test::write_file(dir / "keep.safetensors", old);
        REQUIRE_THROWS(wr.write(dir / "keep.safetensors/"));  // not a file name
        CHECK(io_test::read_file(dir / "keep.safetensors") == old);
        wr.write(dir / "keep.safetensors");
        CHECK(nnprune::safetensors_file(dir / "keep.safetensors").size() == 1);
        CHECK(dir.entries() == std::vector<std::string>{"keep.safetensors"});
    }
}

TEST_CASE("safetensors_writer: a header over the readers' limit is refused before anything is written",
          "[io][safetensors_writer]") {
    io_test::scratch_dir dir;
    nnprune::safetensors_writer wr;
    const std::vector<float> x{1.0f};
    wr.add("x", nnprune::tensor_view<const float, 1>(x.data(), {1}));
    // the JSON around it takes the header past 100,000,000 bytes; a little less is still written
    wr.set_metadata("m", std::string(nnprune::safetensors_max_header - 200, 'a'));
    CHECK(wr.header_bytes().size() <= 8 + nnprune::safetensors_max_header);
    wr.set_metadata("m", std::string(nnprune::safetensors_max_header, 'a'));
    REQUIRE_THROWS_AS(wr.header_bytes(), nnprune::format_error);
    REQUIRE_THROWS_WITH(wr.write(dir / "big.safetensors"), Contains("over the limit of 100000000"));
    CHECK(dir.entries().empty());
}

TEST_CASE("safetensors_writer: metadata is escaped as nlohmann's dump escapes it", "[io][safetensors_writer]") {
    std::string all;
    for (int c = 1; c < 128; ++c) all += static_cast<char>(c);
    for (const std::string& s :
         {std::string(), all, std::string("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"), std::string("\"\\\"\\\\\n")}) {
        std::string out;
        nnprune::detail::append_json_string(out, s);
        CHECK(out == nlohmann::json(s).dump());
    }
    nnprune::safetensors_writer w;
    w.set_metadata("k\n\"", all);
    w.set_metadata("a", std::string(100000, 'x'));
    const auto h = w.header_bytes();
    const std::string text(reinterpret_cast<const char*>(h.data()) + 8, h.size() - 8);
    const auto j = nlohmann::json::parse(text);
    CHECK(j["__metadata__"]["k\n\""] == all);
    CHECK(j["__metadata__"]["a"] == std::string(100000, 'x'));
    CHECK(j.size() == 1);
}
