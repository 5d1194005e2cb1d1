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
