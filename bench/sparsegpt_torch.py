#!/usr/bin/env python3
"""The peer of bench/bench_sparsegpt.cpp (issue 12 "Targets"): upstream SparseGPT's `fasterprune`
(IST-DASLab/sparsegpt, sparsegpt.py), written from docs/algorithms.md §9 as a user would write it,
on the CPU in fp32 with one thread: Hessian -> dead columns -> damping -> cholesky ->
cholesky_inverse -> cholesky(upper) -> the column sweep with lazy batch updates (blocksize 128);
unstructured 50% (the reference's threshold rule) and 2:4 (prunen = 2, prunem = 4).

The shapes are bench_sparsegpt.cpp's: W [4096, 4096] with H [4096, 4096] and W [4096, 11008] with H
[11008, 11008], H made the same way from 2048 synthetic calibration tokens (untimed). Prints the wall
time of each phase and the total (and the total CPU time), and the BLAS that torch uses.

    OPENBLAS_NUM_THREADS=1 python3 bench/sparsegpt_torch.py [--shapes 4096,11008] [--modes unstructured,2:4]
        [--json OUT.json]

Needs python3-torch (Debian: apt-get install python3-torch). Debian's torch calls libblas.so.3 /
liblapack.so.3, i.e. whatever the alternatives (or LD_LIBRARY_PATH) point to: the reference BLAS by
default, OpenBLAS once libopenblas0-pthread is installed. The script reports which one is loaded.
"""
import argparse
import ctypes
import json
import os
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch  # noqa: E402

ROWS, TOKENS, BLOCKSIZE, PERCDAMP = 4096, 2048, 128, 0.01


def make_layer(cols, seed):
    """W uniform in [-1, 1]; H = (2/T) X^T X + 2 (0.5 s_j)^2 on the diagonal from T = 2048 tokens
    X(t, j) = s_j (u_tj + 0.5 f_t + 0.3 g_{t, j/64}), s_j = 10 on every 97th input (as the C++)."""
    g = torch.Generator().manual_seed(seed)
    w = torch.rand(ROWS, cols, generator=g) * 2 - 1
    scale = torch.ones(cols)
    scale[::97] = 10.0
    groups = (cols + 63) // 64
    f = torch.rand(TOKENS, 1, generator=g) * 2 - 1
    grp = (torch.rand(TOKENS, groups, generator=g) * 2 - 1).repeat_interleave(64, dim=1)[:, :cols]
    x = scale * ((torch.rand(TOKENS, cols, generator=g) * 2 - 1) + 0.5 * f + 0.3 * grp)
    h = (2.0 / TOKENS) * (x.t() @ x)
    h += torch.diag(2.0 * (0.5 * scale) ** 2)
    return w, h


def fasterprune(W, H, sparsity, prunen=0, prunem=0, blocksize=BLOCKSIZE, percdamp=PERCDAMP):
    """Upstream's SparseGPT.fasterprune, CPU, no quantizer. Returns (W pruned, loss, phase times)."""
    t = {}
    cpu0 = time.process_time()
    tick = time.perf_counter()
    W = W.clone().float()
    H = H.clone()
    columns = W.shape[1]

    dead = torch.diag(H) == 0
    H[dead, dead] = 1
    W[:, dead] = 0
    Losses = torch.zeros(W.shape[0])

    damp = percdamp * torch.mean(torch.diag(H))
    diag = torch.arange(columns)
    H[diag, diag] += damp
    t["prep"] = time.perf_counter() - tick

    tick = time.perf_counter()
    H = torch.linalg.cholesky(H)
    t["cholesky"] = time.perf_counter() - tick
    tick = time.perf_counter()
    H = torch.cholesky_inverse(H)
    t["cholesky_inverse"] = time.perf_counter() - tick
    tick = time.perf_counter()
    H = torch.linalg.cholesky(H, upper=True)
    Hinv = H
    t["cholesky_upper"] = time.perf_counter() - tick

    tick = time.perf_counter()
    for i1 in range(0, columns, blocksize):
        i2 = min(i1 + blocksize, columns)
        count = i2 - i1

        W1 = W[:, i1:i2].clone()
        Q1 = torch.zeros_like(W1)
        Err1 = torch.zeros_like(W1)
        Losses1 = torch.zeros_like(W1)
        Hinv1 = Hinv[i1:i2, i1:i2]

        if prunen == 0:
            tmp = W1 ** 2 / (torch.diag(Hinv1).reshape((1, -1))) ** 2
            thresh = torch.sort(tmp.flatten())[0][int(tmp.numel() * sparsity)]
            mask1 = tmp <= thresh
        else:
            mask1 = torch.zeros_like(W1) == 1

        for i in range(count):
            w = W1[:, i]
            d = Hinv1[i, i]

            if prunen != 0 and i % prunem == 0:
                tmp = W1[:, i:(i + prunem)] ** 2 / (torch.diag(Hinv1)[i:(i + prunem)].reshape((1, -1))) ** 2
                mask1.scatter_(1, i + torch.topk(tmp, prunen, dim=1, largest=False)[1], True)

            q = w.clone()
            q[mask1[:, i]] = 0

            Q1[:, i] = q
            Losses1[:, i] = (w - q) ** 2 / d ** 2

            err1 = (w - q) / d
            W1[:, i:] -= err1.unsqueeze(1).matmul(Hinv1[i, i:].unsqueeze(0))
            Err1[:, i] = err1

        W[:, i1:i2] = Q1
        Losses += torch.sum(Losses1, 1) / 2

        W[:, i2:] -= Err1.matmul(Hinv[i1:i2, i2:])
    t["sweep"] = time.perf_counter() - tick
    t["total"] = sum(t.values())
    t["cpu_total"] = time.process_time() - cpu0  # this process's CPU time: a shared machine's noise aside
    return W, float(torch.sum(Losses)), t


def blas_info():
    """The BLAS/LAPACK libraries mapped into this process and, for OpenBLAS, its kernel (core)."""
    libs = set()
    with open("/proc/self/maps") as maps:
        for line in maps:
            path = line.split()[-1]
            base = os.path.basename(path)
            if path.startswith("/") and ("blas" in base or "lapack" in base):
                libs.add(os.path.realpath(path))
    info = {"libraries": sorted(libs), "openblas_core": None, "openblas_config": None,
            "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE"),
            "OPENBLAS_NUM_THREADS": os.environ.get("OPENBLAS_NUM_THREADS")}
    for lib in sorted(libs):
        try:
            dll = ctypes.CDLL(lib)
            dll.openblas_get_corename.restype = ctypes.c_char_p
            dll.openblas_get_config.restype = ctypes.c_char_p
            info["openblas_core"] = dll.openblas_get_corename().decode()
            info["openblas_config"] = dll.openblas_get_config().decode()
            break
        except (OSError, AttributeError):
            continue
    return info


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--shapes", default="4096,11008", help="input widths (W is [4096, in])")
    ap.add_argument("--modes", default="unstructured,2:4")
    ap.add_argument("--json", help="write the results here")
    args = ap.parse_args()
    torch.set_num_threads(1)

    # Touch the factorisations once so that the BLAS/LAPACK libraries are loaded before reporting.
    a = torch.eye(8) * 2
    torch.linalg.cholesky(a)
    blas = blas_info()
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}")
    print(torch.__config__.show().strip())
    print(torch.__config__.parallel_info().strip())
    print("BLAS/LAPACK loaded:", ", ".join(blas["libraries"]) or "none found")
    print(f"OpenBLAS kernel: {blas['openblas_core']}  ({blas['openblas_config']}); "
          f"OPENBLAS_CORETYPE={blas['OPENBLAS_CORETYPE']} OPENBLAS_NUM_THREADS={blas['OPENBLAS_NUM_THREADS']}")

    results = []
    for cols in (int(c) for c in args.shapes.split(",")):
        t0 = time.perf_counter()
        w, h = make_layer(cols, cols)
        print(f"\nW [{ROWS}, {cols}], H [{cols}, {cols}] made in {time.perf_counter() - t0:.1f} s (untimed)")
        for mode in args.modes.split(","):
            prunen, prunem = (2, 4) if mode == "2:4" else (0, 0)
            wp, loss, t = fasterprune(w, h, 0.5, prunen, prunem)
            sparsity = float((wp == 0).float().mean())
            phases = "  ".join(f"{k} {v:.3f}" for k, v in t.items())
            print(f"{ROWS}x{cols} {mode:>12}: {phases}  [s, wall but cpu_total]  loss {loss:.4g}  sparsity {sparsity:.4f}")
            results.append({"shape": f"{ROWS}x{cols}", "mode": mode, "seconds": t, "loss": loss,
                            "sparsity": sparsity})
            del wp
        del w, h
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"torch": torch.__version__, "blas": blas, "results": results}, f, indent=1)


if __name__ == "__main__":
    main()
