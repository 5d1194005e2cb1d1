#include <cstddef>
#include <cstdint>
#include <string>
#include <sys/stat.h>
#include <vector>

#include <catch2/catch.hpp>

#include "io_test_util.hpp"
#include <nnprune/io/safetensors_reader.hpp>

using Catch::Contains;
using io_test::bytes;

namespace {

// A file "written by another tool", built byte by byte: header length, JSON header (padded to 8
// with spaces as the reference writer does), then the data: F32 [2,2], BF16 [3], F16 [2],
// I64 [2], I32 [1], I16 [2], I8 [3], U8 [2], BOOL [3].
bytes reference_file(std::string& header_out) {
    bytes data;
    for (float f : {1.0f, -2.5f, 3.25f, 0.0f}) io_test::append_le(data, f);  // w   [0, 16)
    for (std::uint16_t b : std::initializer_list<std::uint16_t>{0x3F80, 0xC000, 0x3F00})
        io_test::append_le(data, b);  // bf  [16, 22)
    for (std::uint16_t h : std::initializer_list<std::uint16_t>{0x3C00, 0xC100})
        io_test::append_le(data, h);           // hf  [22, 26)
    data.insert(data.end(), 6, std::byte{0});  // pad [26, 32) as U8 [6]
    for (std::int64_t v : {std::int64_t{-1}, std::int64_t{1} << 40}) io_test::append_le(data, v);  // i64 [32, 48)
    io_test::append_le(data, std::int32_t{-7});                                                    // i32 [48, 52)
    for (std::int16_t v : {std::int16_t{300}, std::int16_t{-300}}) io_test::append_le(data, v);    // i16 [52, 56)
    for (std::int8_t v : {std::int8_t{-1}, std::int8_t{2}, std::int8_t{-3}})
        io_test::append_le(data, v);                                                          // i8 [56, 59)
    for (std::uint8_t v : {std::uint8_t{200}, std::uint8_t{7}}) io_test::append_le(data, v);  // u8 [59, 61)
    for (std::uint8_t v : {std::uint8_t{1}, std::uint8_t{0}, std::uint8_t{1}})
        io_test::append_le(data, v);  // bool [61, 64)
    std::string h = R"({"__metadata__":{"format":"pt","note":"hand made"},)"
                    R"("w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]},)"
                    R"("bf":{"dtype":"BF16","shape":[3],"data_offsets":[16,22]},)"
                    R"("hf":{"dtype":"F16","shape":[2],"data_offsets":[22,26]},)"
                    R"("pad":{"dtype":"U8","shape":[6],"data_offsets":[26,32]},)"
                    R"("i64":{"dtype":"I64","shape":[2],"data_offsets":[32,48]},)"
                    R"("i32":{"dtype":"I32","shape":[1],"data_offsets":[48,52]},)"
                    R"("i16":{"dtype":"I16","shape":[2],"data_offsets":[52,56]},)"
                    R"("i8":{"dtype":"I8","shape":[3],"data_offsets":[56,59]},)"
                    R"("u8":{"dtype":"U8","shape":[2],"data_offsets":[59,61]},)"
                    R"("mask":{"dtype":"BOOL","shape":[3],"data_offsets":[61,64]}})";
    h.append((8 - h.size() % 8) % 8, ' ');
    header_out = h;
    return io_test::make_file(h, data);
}

}  // namespace

TEST_CASE("safetensors_reader: reads a file built byte by byte, without copying", "[io][safetensors_reader]") {
    io_test::scratch_dir dir;
    std::string header;
    const bytes file = reference_file(header);
    io_test::write_file(dir / "ref.safetensors", file);

    const nnprune::safetensors_file f(dir / "ref.safetensors");
    REQUIRE(f.size() == 10);
    CHECK(f.metadata().at("note") == "hand made");
    CHECK(f.names().front() == "w");

    const auto w = f.tensor("w");
    CHECK(w.dtype() == nnprune::safetensors_dtype::F32);
    const auto wv = w.view<float, 2>();
    CHECK(wv.extent(0) == 2);
    CHECK(wv(0, 1) == -2.5f);
    CHECK(wv(1, 0) == 3.25f);
    const nnprune::tensor_ref wr = w.ref();
    CHECK(wr.readonly());
    CHECK(wr.shape() == nnprune::shape{2, 2});
    // the view points into the mapping: data section starts at 8 + header length
    CHECK(w.bytes().size() == 16);

    const auto bf = f.tensor("bf").view<nnprune::bfloat16, 1>();
    REQUIRE(bf.extent(0) == 3);
    CHECK(static_cast<float>(bf(0)) == 1.0f);
    CHECK(static_cast<float>(bf(1)) == -2.0f);
    CHECK(static_cast<float>(bf(2)) == 0.5f);
    CHECK(f.tensor("bf").ref().dtype() == nnprune::dtype::bf16);

    const auto hf = f.tensor("hf").data<nnprune::float16>();
    CHECK(static_cast<float>(hf[0]) == 1.0f);
    CHECK(static_cast<float>(hf[1]) == -2.5f);

    const auto i64 = f.tensor("i64").data<std::int64_t>();
    CHECK(i64[0] == -1);
    CHECK(i64[1] == (std::int64_t{1} << 40));
    CHECK(f.tensor("i32").data<std::int32_t>()[0] == -7);
    CHECK(f.tensor("i16").data<std::int16_t>()[1] == -300);
    CHECK(f.tensor("i8").data<std::int8_t>()[2] == -3);
    CHECK(f.tensor("u8").data<std::uint8_t>()[0] == 200);
    const auto m = f.tensor("mask").data<bool>();
    CHECK(m[0]);
    CHECK_FALSE(m[1]);
    CHECK(f.tensor("mask").data<std::uint8_t>()[2] == 1);
}

TEST_CASE("safetensors_reader: typed access is checked", "[io][safetensors_reader]") {
    io_test::scratch_dir dir;
    std::string header;
    io_test::write_file(dir / "ref.safetensors", reference_file(header));
    const nnprune::safetensors_file f(dir / "ref.safetensors");

    REQUIRE_THROWS_WITH(f.tensor("nope"), Contains("no tensor named 'nope'"));
    REQUIRE_THROWS_AS(f.tensor("i32").ref(), nnprune::precondition_error);
    REQUIRE_THROWS_WITH(f.tensor("i32").ref(), Contains("tensor 'i32' is I32; ref() takes F32"));
    REQUIRE_THROWS_WITH(f.tensor("i32").data<float>(), Contains("tensor 'i32' is I32"));
    REQUIRE_THROWS_WITH(f.tensor("i32").data<std::uint32_t>(), Contains("does not hold it"));
    REQUIRE_THROWS_WITH((f.tensor("w").view<nnprune::bfloat16, 2>()), Contains("tensor holds f32, asked for bf16"));
    REQUIRE_THROWS_WITH((f.tensor("w").view<float, 1>()), Contains("rank 2, asked for rank 1"));
}

TEST_CASE("safetensors_reader: bad BOOL bytes, misalignment, high rank", "[io][safetensors_reader]") {
    bytes data;
    io_test::append_le(data, std::uint8_t{2});                                    // BOOL [1] [0,1)
    for (float x : {1.0f, 2.0f}) io_test::append_le(data, x);                     // F32 [2] at [1, 9): misaligned
    for (int i = 0; i < 5; ++i) io_test::append_le(data, std::uint16_t{0x3F80});  // BF16 [1,1,1,1,5] [9, 19)
    std::string h = R"({"b":{"dtype":"BOOL","shape":[1],"data_offsets":[0,1]},)"
                    R"("f":{"dtype":"F32","shape":[2],"data_offsets":[1,9]},)"
                    R"("r5":{"dtype":"BF16","shape":[1,1,1,1,5],"data_offsets":[9,19]}})";
    h.append((8 - h.size() % 8) % 8, ' ');
    const bytes file = io_test::make_file(h, data);
    const nnprune::safetensors_view v(file, "odd.safetensors");

    REQUIRE_THROWS_AS(v.tensor("b").data<bool>(), nnprune::format_error);
    REQUIRE_THROWS_WITH(v.tensor("b").data<bool>(), Contains("odd.safetensors: tensor 'b': BOOL element 0 is 2"));
    CHECK(v.tensor("b").data<std::uint8_t>()[0] == 2);  // the raw bytes are still there
    REQUIRE_THROWS_WITH(v.tensor("f").ref(), Contains("tensor 'f' data is not aligned to 4 bytes"));
    CHECK(v.tensor("f").bytes().size() == 8);
    REQUIRE_THROWS_AS(v.tensor("r5").ref(), nnprune::shape_error);
    REQUIRE_THROWS_WITH(v.tensor("r5").ref(), Contains("tensor 'r5' has rank 5"));
    CHECK(v.tensor("r5").bytes().size() == 10);
    CHECK(v.tensor("r5").numel() == 5);
}

TEST_CASE("safetensors_reader: scalars are seen as [1]; missing files are io_errors", "[io][safetensors_reader]") {
    bytes data;
    io_test::append_le(data, 2.5);
    const std::string h = R"({"s":{"dtype":"F64","shape":[],"data_offsets":[0,8]}})";
    const bytes file = io_test::make_file(h, data);
    // copy into 8-aligned storage at an offset that aligns the (unpadded) data section
    std::vector<double> storage(file.size() / 8 + 2);
    auto* base = reinterpret_cast<std::byte*>(storage.data()) + (8 - (8 + h.size()) % 8) % 8;
    std::copy(file.begin(), file.end(), base);
    const nnprune::safetensors_view v(std::span<const std::byte>(base, file.size()), "scalar");
    CHECK(v.tensor("s").nn_shape() == nnprune::shape{1});
    CHECK((v.tensor("s").view<double, 1>()(0)) == 2.5);

    io_test::scratch_dir dir;
    REQUIRE_THROWS_AS(nnprune::safetensors_file(dir / "missing.safetensors"), nnprune::io_error);
    REQUIRE_THROWS_WITH(nnprune::safetensors_file(dir / "missing.safetensors"), Contains("missing.safetensors"));
    REQUIRE_THROWS_WITH(nnprune::safetensors_file(dir.path), Contains("is not a regular file"));
    // a FIFO is refused at once (opening it blocking would wait for a writer forever)
    REQUIRE(::mkfifo((dir / "fifo.safetensors").c_str(), 0600) == 0);
    REQUIRE_THROWS_WITH(nnprune::safetensors_file(dir / "fifo.safetensors"), Contains("is not a regular file"));
    io_test::write_file(dir / "empty.safetensors", {});
    REQUIRE_THROWS_WITH(nnprune::safetensors_file(dir / "empty.safetensors"),
                        Contains("empty.safetensors: file has 0 bytes"));
}
