"""Magnitude pruning of a safetensors checkpoint in PyTorch, written as a user would (the
baseline of bench/cli_vs_cp.sh). torch 1.13 has no safetensors loader, so the header is parsed
with json and the tensors are views (torch.frombuffer) into the file's bytes, pruned in place and
written back. Every floating 2-D tensor named *.weight is pruned at the given sparsity:

  layer:  per tensor, threshold = torch.kthvalue(|w|, k), w[|w| <= threshold] = 0
  global: one threshold over torch.cat of every tensor's |w| (float32)

usage: cli_vs_cp_torch.py IN OUT layer|global [sparsity] [threads]
"""
import json
import struct
import sys

import torch

DTYPES = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16, "F64": torch.float64}


def load(path):
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        head = f.read(n)
        data = bytearray(f.read())
    header = json.loads(head)
    tensors = {}
    for name, e in header.items():
        if name == "__metadata__" or e["dtype"] not in DTYPES:
            continue
        begin, end = e["data_offsets"]
        dt = DTYPES[e["dtype"]]
        count = (end - begin) // torch.tensor([], dtype=dt).element_size()
        t = torch.frombuffer(data, dtype=dt, count=count, offset=begin) if count else torch.empty(0, dtype=dt)
        tensors[name] = t.view(e["shape"])
    return head, data, tensors


def main():
    src, dst, scope = sys.argv[1], sys.argv[2], sys.argv[3]
    sparsity = float(sys.argv[4]) if len(sys.argv) > 4 else 0.5
    torch.set_num_threads(int(sys.argv[5]) if len(sys.argv) > 5 else 1)
    head, data, tensors = load(src)
    chosen = [n for n, t in sorted(tensors.items()) if t.dim() == 2 and n.endswith(".weight")]
    if scope == "layer":
        for n in chosen:
            w = tensors[n]
            s = w.abs().float().flatten()
            k = int(round(sparsity * s.numel()))
            if k:
                thr = torch.kthvalue(s, k).values
                w[w.abs().float() <= thr] = 0
    else:
        s = torch.cat([tensors[n].abs().float().flatten() for n in chosen])
        k = int(round(sparsity * s.numel()))
        thr = torch.kthvalue(s, k).values
        del s
        for n in chosen:
            w = tensors[n]
            w[w.abs().float() <= thr] = 0
    with open(dst, "wb") as f:
        f.write(struct.pack("<Q", len(head)))
        f.write(head)
        f.write(data)


if __name__ == "__main__":
    main()
