#!/usr/bin/env python3
"""Writes the small seed corpus of the fuzzers (tests/fuzz/corpus/*), byte by byte per the
safetensors spec: u64 little-endian header length, JSON header, data. Re-run to regenerate."""
import json, os, struct

here = os.path.dirname(os.path.abspath(__file__))


def st(header, data=b"", pad=True):
    h = header if isinstance(header, bytes) else json.dumps(header, separators=(",", ":")).encode()
    if pad:
        h += b" " * ((8 - len(h) % 8) % 8)
    return struct.pack("<Q", len(h)) + h + data


def put(sub, name, blob):
    d = os.path.join(here, "corpus", sub)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(blob)


f32 = struct.pack("<4f", 1.0, -2.5, 3.25, 0.0)
bf16 = struct.pack("<3H", 0x3F80, 0xC000, 0x3F00)
valid = st({"__metadata__": {"format": "pt"},
            "w": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]},
            "i": {"dtype": "I64", "shape": [1], "data_offsets": [16, 24]},
            "b": {"dtype": "BF16", "shape": [3], "data_offsets": [24, 30]},
            "m": {"dtype": "BOOL", "shape": [2], "data_offsets": [30, 32]}},
           f32 + struct.pack("<q", -1) + bf16 + b"\x01\x00")
put("safetensors", "valid_mixed", valid)
put("safetensors", "valid_empty", st({}))
put("safetensors", "valid_scalar_f16", st({"s": {"dtype": "F16", "shape": [], "data_offsets": [0, 2]}}, b"\x00\x3c"))
put("safetensors", "valid_rank5", st({"r": {"dtype": "U8", "shape": [1, 1, 1, 1, 2], "data_offsets": [0, 2]}}, b"\x01\x02"))
put("safetensors", "bad_truncated", valid[:-3])
put("safetensors", "bad_overlap", st({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                                      "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}}, bytes(12)))
put("safetensors", "bad_overflow", st({"a": {"dtype": "F64", "shape": [4294967296, 4294967296], "data_offsets": [0, 8]}}, bytes(8)))
put("safetensors", "bad_duplicate", st(b'{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}', b"\x00"))
put("safetensors", "bad_length", struct.pack("<Q", 2 ** 63) + b"{}")
put("safetensors", "index", json.dumps({"metadata": {"total_size": 8},
                                        "weight_map": {"a": "model-00001-of-00002.safetensors", "b": "../x"}}).encode())

bits = st({"__metadata__": {"nnprune.mask_format": "bitpacked-v1", "nnprune.mask.w": "3x3", "nnprune.mask.v": "8"},
           "w": {"dtype": "U8", "shape": [2], "data_offsets": [0, 2]},
           "v": {"dtype": "U8", "shape": [1], "data_offsets": [2, 3]}}, b"\xff\x01\x5a")
put("mask_file", "valid_bitpacked", bits)
put("mask_file", "valid_bool", st({"__metadata__": {"nnprune.mask_format": "bool-v1"},
                                   "w": {"dtype": "BOOL", "shape": [2, 2], "data_offsets": [0, 4]}}, b"\x01\x00\x00\x01"))
put("mask_file", "valid_plain_bool", st({"w": {"dtype": "BOOL", "shape": [3], "data_offsets": [0, 3]}}, b"\x01\x01\x00"))
put("mask_file", "bad_tail_bits", st({"__metadata__": {"nnprune.mask_format": "bitpacked-v1", "nnprune.mask.w": "9"},
                                      "w": {"dtype": "U8", "shape": [2], "data_offsets": [0, 2]}}, b"\xff\x03"))
put("mask_file", "bad_shape_text", st({"__metadata__": {"nnprune.mask_format": "bitpacked-v1", "nnprune.mask.w": "4x"},
                                       "w": {"dtype": "U8", "shape": [1], "data_offsets": [0, 1]}}, b"\x0f"))

# the index alone
put("index", "valid", json.dumps({"metadata": {"total_size": 24, "format": "pt"},
                                  "weight_map": {"a.weight": "model-00001-of-00002.safetensors",
                                                 "b.weight": "model-00002-of-00002.safetensors"}}).encode())
put("index", "bad_traversal", json.dumps({"weight_map": {"a": "../x.safetensors"}}).encode())
put("index", "bad_type", json.dumps({"weight_map": {"a": 3}}).encode())
put("index", "bad_duplicate", b'{"weight_map":{"a":"x.safetensors","a":"y.safetensors"}}')

# calibration files for fuzz_calib's model (a.weight 4x8, b.weight 8x4); the first byte picks
# the method (0 wanda, 1 gblm, 2 taylor; +4 global scope, +8 2:4)
def f32s(n, v=1.0):
    return struct.pack("<%df" % n, *[v + 0.25 * i for i in range(n)])


def calib(entries):
    header, data = {}, b""
    for name, shape in entries:
        n = 1
        for e in shape:
            n *= e
        header[name] = {"dtype": "F32", "shape": shape, "data_offsets": [len(data), len(data) + 4 * n]}
        data += f32s(n)
    return st(header, data)


acts = [("a.weight.act_sq_mean", [8]), ("b.weight.act_sq_mean", [4])]
grads = [("a.weight.grad", [4, 8]), ("b.weight.grad", [8, 4]), ("a.weight.grad_l2", [4, 8]), ("b.weight.grad_l2", [8, 4])]
put("calib", "wanda", b"\x00" + calib(acts))
put("calib", "wanda_l2_global", b"\x04" + calib([("a.weight.act_l2", [8]), ("b.weight.act_l2", [4])]))
put("calib", "gblm", b"\x01" + calib(acts + grads))
put("calib", "taylor_2_4", b"\x0a" + calib(grads))
put("calib", "bad_shape", b"\x00" + calib([("a.weight.act_sq_mean", [7]), ("b.weight.act_sq_mean", [4])]))
put("calib", "bad_both", b"\x00" + calib(acts + [("a.weight.act_l2", [8])]))

# command lines for fuzz_cli_args: arguments separated by NUL bytes
def argv(*a):
    return b"\x00".join(x.encode() for x in a)


put("cli_args", "prune", argv("prune", "m.safetensors", "-o", "o.safetensors", "--sparsity", "0.5", "-q"))
put("cli_args", "prune_global", argv("prune", "m", "-o", "o", "--scope", "global", "--min-keep", "0.1", "--threads", "3"))
put("cli_args", "prune_nm", argv("prune", "m", "-o", "o", "--pattern", "2:4", "--method", "wanda", "--calib", "c"))
put("cli_args", "prune_block", argv("prune", "m", "-o", "o", "--pattern", "block:4x8", "--rounding", "ceil"))
put("cli_args", "prune_owl", argv("prune", "m", "-o", "o", "--allocation", "owl", "--owl-m", "5", "--owl-lambda", "0.08",
                                  "--include", "mlp", "--exclude", "(a|b)+$"))
put("cli_args", "tokens", argv("tokens", "fastv", "f.safetensors", "--tensor", "attn", "--keep", "3", "--start", "1"))
put("cli_args", "inspect", argv("inspect", "m.safetensors", "--json"))
put("cli_args", "bad_empty", argv("prune", "m", "-o", "o", "--sparsity", ""))
