"""The proof log's tree is RFC 6962's tree: known answers, and a naive recomputation.

The known answers are the 8-leaf reference tree of the Certificate Transparency reference
implementation (google/certificate-transparency, cpp/merkletree/merkle_tree_test.cc:
kInputs, kSHA256Roots, kSHA256Paths, kSHA256Proofs), copied here by value. Its leaf indices
are 1-based; ours are 0-based.
"""

from __future__ import annotations

import hashlib

from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.proof.merkle import (
    EMPTY_ROOT,
    CompactRange,
    MerkleTree,
    PartialTree,
    leaf_hash,
    node_hash,
    verify_consistency,
    verify_inclusion,
)
from tests.support.examples import examples

INPUTS = [
    bytes.fromhex(h)
    for h in (
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    )
]
EMPTY = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
# (1-based leaf, tree size, path)
PATHS = [
    (
        1,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        6,
        8,
        [
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (3, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (
        2,
        5,
        [
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
]
# (first size, second size, proof)
PROOFS = [
    (1, 1, []),
    (
        1,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        6,
        8,
        [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (
        2,
        5,
        [
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
]


def reference_tree() -> MerkleTree:
    return MerkleTree(leaf_hash(d) for d in INPUTS)


def test_hashes_use_the_rfc_prefixes() -> None:
    assert EMPTY_ROOT.hex() == EMPTY
    assert leaf_hash(b"") == hashlib.sha256(b"\x00").digest()
    assert leaf_hash(b"").hex() == ROOTS[0]
    a, b = leaf_hash(b"a"), leaf_hash(b"b")
    assert node_hash(a, b) == hashlib.sha256(b"\x01" + a + b).digest()


def test_roots_match_the_reference_at_every_size() -> None:
    tree = reference_tree()
    assert tree.root(0).hex() == EMPTY
    assert [tree.root(n).hex() for n in range(1, 9)] == ROOTS
    edge = CompactRange()
    for n, data in enumerate(INPUTS, start=1):
        edge.append(leaf_hash(data))
        assert edge.root().hex() == ROOTS[n - 1] and edge.size == n


def test_inclusion_proofs_match_the_reference_and_verify() -> None:
    tree = reference_tree()
    for leaf, size, path in PATHS:
        proof = tree.inclusion_proof(leaf - 1, size)
        assert [p.hex() for p in proof] == path
        root = bytes.fromhex(ROOTS[size - 1])
        assert verify_inclusion(tree.leaf(leaf - 1), leaf - 1, size, proof, root)
        # What the reference verifier must refuse: wrong index, size, leaf, root or path.
        assert not verify_inclusion(tree.leaf(leaf - 1), leaf, size, proof, root)
        assert not verify_inclusion(tree.leaf(leaf - 1), leaf - 1, size * 2, proof, root)
        assert not verify_inclusion(leaf_hash(b"WrongLeaf"), leaf - 1, size, proof, root)
        assert not verify_inclusion(tree.leaf(leaf - 1), leaf - 1, size, proof, EMPTY_ROOT)
        assert not verify_inclusion(tree.leaf(leaf - 1), leaf - 1, size, [*proof, root], root)
        for j in range(len(proof)):
            bad = [*proof]
            bad[j] = EMPTY_ROOT
            assert not verify_inclusion(tree.leaf(leaf - 1), leaf - 1, size, bad, root)
        if proof:
            assert not verify_inclusion(tree.leaf(leaf - 1), leaf - 1, size, proof[:-1], root)


def test_consistency_proofs_match_the_reference_and_verify() -> None:
    tree = reference_tree()
    for first, second, expected in PROOFS:
        proof = tree.consistency_proof(first, second)
        assert [p.hex() for p in proof] == expected
        r1, r2 = bytes.fromhex(ROOTS[first - 1]), bytes.fromhex(ROOTS[second - 1])
        assert verify_consistency(first, second, r1, r2, proof)
        if not proof:
            continue
        assert not verify_consistency(first, second, r2, r1, proof)  # roots swapped
        assert not verify_consistency(first - 1, second, r1, r2, proof)
        assert not verify_consistency(first, second * 2, r1, r2, proof)
        assert not verify_consistency(first, second, r1, r2, [])
        assert not verify_consistency(first, second, r1, r2, [*proof, proof[-1]])
        assert not verify_consistency(first, second, r1, r2, proof[:-1])
        for j in range(len(proof)):
            bad = [*proof]
            bad[j] = EMPTY_ROOT
            assert not verify_consistency(first, second, r1, r2, bad)


def test_trivial_consistency() -> None:
    root = bytes.fromhex(ROOTS[0])
    assert verify_consistency(0, 0, EMPTY_ROOT, EMPTY_ROOT, [])
    assert verify_consistency(0, 5, EMPTY_ROOT, root, [])
    assert not verify_consistency(1, 0, root, EMPTY_ROOT, [])  # time travel
    assert not verify_consistency(1, 1, root, EMPTY_ROOT, [])
    assert not verify_consistency(1, 1, root, root, [root])


# -- an independent, naive recomputation straight from the RFC's definitions --------------------


def naive_mth(leaves: list[bytes]) -> bytes:
    n = len(leaves)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return hashlib.sha256(b"\x00" + leaves[0]).digest()
    k = 1
    while k * 2 < n:
        k *= 2
    return hashlib.sha256(b"\x01" + naive_mth(leaves[:k]) + naive_mth(leaves[k:])).digest()


def naive_path(m: int, leaves: list[bytes]) -> list[bytes]:
    n = len(leaves)
    if n == 1:
        return []
    k = 1
    while k * 2 < n:
        k *= 2
    if m < k:
        return [*naive_path(m, leaves[:k]), naive_mth(leaves[k:])]
    return [*naive_path(m - k, leaves[k:]), naive_mth(leaves[:k])]


def naive_subproof(m: int, leaves: list[bytes], whole: bool) -> list[bytes]:
    n = len(leaves)
    if m == n:
        return [] if whole else [naive_mth(leaves)]
    k = 1
    while k * 2 < n:
        k *= 2
    if m <= k:
        return [*naive_subproof(m, leaves[:k], whole), naive_mth(leaves[k:])]
    return [*naive_subproof(m - k, leaves[k:], False), naive_mth(leaves[:k])]


trees = st.lists(st.binary(max_size=12), min_size=1, max_size=70)


@settings(max_examples=examples(150), deadline=None)
@given(leaves=trees, data=st.data())
def test_random_trees_agree_with_the_naive_recomputation(
    leaves: list[bytes], data: st.DataObject
) -> None:
    tree = MerkleTree(leaf_hash(d) for d in leaves)
    n = len(leaves)
    size = data.draw(st.integers(1, n), label="size")
    index = data.draw(st.integers(0, size - 1), label="index")
    first = data.draw(st.integers(1, size), label="first")

    assert tree.root(size) == naive_mth(leaves[:size])
    path = tree.inclusion_proof(index, size)
    assert path == naive_path(index, leaves[:size])
    assert verify_inclusion(tree.leaf(index), index, size, path, naive_mth(leaves[:size]))
    proof = tree.consistency_proof(first, size)
    assert proof == ([] if first == size else naive_subproof(first, leaves[:size], True))
    assert verify_consistency(
        first, size, naive_mth(leaves[:first]), naive_mth(leaves[:size]), proof
    )
    # A changed leaf below ``first`` breaks consistency with the old root.
    forged = [*leaves[: first - 1], leaves[first - 1] + b"!", *leaves[first:]]
    assert not verify_consistency(
        first, size, naive_mth(leaves[:first]), naive_mth(forged[:size]), proof
    )

    edge = CompactRange()
    completed = {}
    for d in leaves[:size]:
        completed.update({(lv, j): h for lv, j, h in edge.append(leaf_hash(d))})
    assert edge.root() == tree.root(size)
    assert CompactRange(edge.subtrees).root() == edge.root()
    # What the appends completed is every complete subtree, and it is all a proof needs.
    prefix = MerkleTree(leaf_hash(d) for d in leaves[:size])
    assert len(completed) == prefix.subtree_count()
    assert all(prefix.subtree(lv, j) == h for (lv, j), h in completed.items())
    needed = PartialTree.needed_for_inclusion(index, size)
    known = {(0, j): prefix.leaf(j) for lv, j in needed if lv == 0}
    known.update({key: completed[key] for key in needed if key[0] > 0})
    assert PartialTree(size, known).inclusion_proof(index) == path
