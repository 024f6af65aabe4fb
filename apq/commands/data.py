"""``apq data``: make Fashion-MNIST available (local folders, apt, or download) and print where."""
from __future__ import annotations


def add_parser(sub) -> None:
    p = sub.add_parser("data", help="locate or install Fashion-MNIST, check its four files and print its folder")
    p.add_argument("--data-dir", help="folder holding the four Fashion-MNIST IDX files")
    p.set_defaults(run=run)


def run(args) -> int:
    from apq.data.fetch import ensure_fashion_mnist
    from apq.data.mnist import load_mnist_family

    folder = ensure_fashion_mnist(args.data_dir)
    load_mnist_family(folder)  # a corrupt, truncated or mismatched file is refused here, not at training time
    print(folder)
    return 0
