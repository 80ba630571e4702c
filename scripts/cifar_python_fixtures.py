"""Write the CIFAR-10 python batches the tests read (tests/data/cifar-python/).

CIFAR-10's python version (cifar-10-python.tar.gz, what torchvision's
CIFAR10(download=True) fetches into cifar-10-batches-py/) holds each batch
as a pickled dict: b"data" a uint8 NumPy array of [10000, 3072] (each row
an image's red, green and blue planes), b"labels" 10000 classes 0-9,
b"batch_label" and b"filenames". Its files were written by Python 2's
cPickle (protocol 2) from NumPy 1.x; Python 3 cannot write that form, so
`py2/` is assembled here with the opcodes cPickle wrote (which values it
memoises aside: cPickle leaves out some temporaries), and checked by
loading it as torchvision does (pickle.load(f, encoding="latin1")) and
with encoding="bytes". The same images, pickled by this Python and NumPy
at protocols 2 to 5, go in `np1-proto2/` … `np1-proto5/` (NumPy 1.x, its
core `numpy.core`) or `np2-proto2/` … (NumPy 2, `numpy._core`), and as
the binary version's records in `bin/`, which the tests read them
against. With NumPy 2 also CIFAR-100's training file, holding batch 1's
images, in its python version (`cifar100-py/train`, with its `meta`) and
its binary one (`cifar100-bin/train.bin`); a batch of floats (`floats/`);
and
`dtypes/proto2.pickle`: arrays of float32 in both byte orders, whose
dtypes the pickle keeps once and recalls.

Run once by hand with each NumPy (the files are committed; tests need no
Python): a virtual environment with numpy<2 and one with numpy>=2, then
`python scripts/cifar_python_fixtures.py` in each.
"""
import os
import pickle
import struct

import numpy as np

OUT = os.path.join(os.path.dirname(__file__), "..", "tests", "data", "cifar-python")


def images(batch):
    """Batch 1: three images whose bytes run over all 256 values (not UTF-8,
    as a Python 2 str); batch 2: one image of bytes below 128 (valid UTF-8)."""
    if batch == 1:
        n, k = 3, np.arange(3072)
        data = np.stack([(37 * i + 101 * (k // 1024) + 7 * k) % 256 for i in range(n)])
        return data.astype(np.uint8), [3, 9, 0]
    data = (np.arange(3072) % 128).reshape(1, 3072)
    return data.astype(np.uint8), [6]


class Py2Pickler:
    """cPickle's protocol 2, as Python 2 wrote CIFAR-10's batches: str as
    SHORT_BINSTRING or BINSTRING, each memoised with BINPUT."""

    def __init__(self):
        self.out = bytearray(b"\x80\x02")
        self.memo = 1

    def put(self):
        self.out += b"q" + bytes([self.memo]) if self.memo < 256 else b"r" + struct.pack("<I", self.memo)
        self.memo += 1

    def str(self, s):
        s = s if isinstance(s, bytes) else s.encode()
        self.out += b"U" + bytes([len(s)]) + s if len(s) < 256 else b"T" + struct.pack("<i", len(s)) + s
        self.put()

    def int(self, i):
        if 0 <= i < 256:
            self.out += b"K" + bytes([i])
        elif 0 <= i < 65536:
            self.out += b"M" + struct.pack("<H", i)
        else:
            self.out += b"J" + struct.pack("<i", i)

    def global_(self, module, name):
        self.out += b"c" + module.encode() + b"\n" + name.encode() + b"\n"
        self.put()

    def array(self, a):
        # ndarray.__reduce__: _reconstruct(ndarray, (0,), 'b'), then BUILD
        # with (1, shape, dtype, is_fortran, raw bytes); the dtype
        # dtype('u1', 0, 1), then BUILD with its state (3, '|', None, None,
        # None, -1, -1, 0).
        self.global_("numpy.core.multiarray", "_reconstruct")
        self.global_("numpy", "ndarray")
        self.int(0)
        self.out += b"\x85"
        self.put()
        self.str("b")
        self.out += b"\x87R"
        self.put()
        self.out += b"("
        self.int(1)
        for d in a.shape:
            self.int(d)
        self.out += b"\x86"
        self.put()
        self.global_("numpy", "dtype")
        self.str("u1")
        self.int(0)
        self.int(1)
        self.out += b"\x87R"
        self.put()
        self.out += b"("
        self.int(3)
        self.str("|")
        self.out += b"NNN"
        self.out += b"J" + struct.pack("<i", -1)
        self.out += b"J" + struct.pack("<i", -1)
        self.int(0)
        self.out += b"tb\x89"
        self.str(a.tobytes())
        self.out += b"tb"
        self.put()

    def list(self, items, each):
        self.out += b"]"
        self.put()
        self.out += b"("
        for item in items:
            each(item)
        self.out += b"e"

    def batch(self, data, labels, batch_label, filenames):
        self.out += b"}"
        self.put()
        self.out += b"("
        self.str("data")
        self.array(data)
        self.str("labels")
        self.list(labels, self.int)
        self.str("batch_label")
        self.str(batch_label)
        self.str("filenames")
        self.list(filenames, self.str)
        self.out += b"u."
        return bytes(self.out)


def write(folder, name, content):
    os.makedirs(os.path.join(OUT, folder), exist_ok=True)
    with open(os.path.join(OUT, folder, name), "wb") as f:
        f.write(content)


def main():
    for batch in (1, 2):
        data, labels = images(batch)
        names = [f"image_{batch}_{i}.png" for i in range(len(labels))]
        label = f"training batch {batch} of 5"
        py2 = Py2Pickler().batch(data, labels, label, names)
        for encoding in ("latin1", "bytes"):
            loaded = pickle.loads(py2, encoding=encoding)
            key = (lambda k: k.encode()) if encoding == "bytes" else (lambda k: k)
            assert loaded[key("data")].dtype == np.uint8
            assert np.array_equal(loaded[key("data")], data), encoding
            assert loaded[key("labels")] == labels, encoding
        write("py2", f"data_batch_{batch}", py2)
        as_python3 = {b"batch_label": label.encode(), b"labels": labels, b"data": data,
                      b"filenames": [n.encode() for n in names]}
        major = np.__version__.split(".")[0]
        for protocol in (2, 3, 4, 5):
            # (Keys as text at protocol 4, as a dict re-saved with str keys has them.)
            keys = as_python3 if protocol != 4 else {k.decode(): v for k, v in as_python3.items()}
            write(f"np{major}-proto{protocol}", f"data_batch_{batch}", pickle.dumps(keys, protocol=protocol))
        records = b"".join(bytes([l]) + row.tobytes() for l, row in zip(labels, data))
        write("bin", f"data_batch_{batch}.bin", records)
    if np.__version__.split(".")[0] == "1":
        return
    # CIFAR-100's training file: python (fine and coarse labels, no
    # `labels`; its class names in `meta`) and binary (coarse, fine label
    # bytes before each image).
    data, _ = images(1)
    fine, coarse = [4, 99, 0], [1, 19, 0]
    as_python = {b"data": data, b"fine_labels": fine, b"coarse_labels": coarse, b"filenames": [b"a.png"] * 3}
    write("cifar100-py", "train", pickle.dumps(as_python, protocol=2))
    write("cifar100-py", "meta", pickle.dumps({b"fine_label_names": [b"apple"], b"coarse_label_names": [b"fruit"]}, protocol=2))
    write("cifar100-bin", "train.bin", b"".join(bytes([c, f]) + row.tobytes() for c, f, row in zip(coarse, fine, data)))
    data, _ = images(2)
    # A batch of floats, not bytes (a data set saved as float32 by hand).
    floats = {b"data": data.astype(np.float32) / 255, b"labels": [6]}
    write("floats", "data_batch_1", pickle.dumps(floats, protocol=2))
    little, big = np.arange(3, dtype="<f4"), np.arange(3, dtype=">f4")
    write("dtypes", "proto2.pickle", pickle.dumps({"a": little, "b": big, "c": little * 2}, protocol=2))


if __name__ == "__main__":
    main()
