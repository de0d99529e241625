"""The Merkle tree of RFC 6962 §2.1 (RFC 9162 §2.1): hashes, proofs, and their verification.

Everything here is plain SHA-256 over bytes; no database, no clock, no key. An auditor who
wants to check Lethe's proof log can read this module in one sitting, or use any other
RFC 6962 implementation: the hashes are the same.

    leaf hash   SHA-256(0x00 || leaf data)
    node hash   SHA-256(0x01 || left || right)
    empty tree  SHA-256("")
    MTH(D[n])   for n > 1: k = the largest power of two smaller than n,
                node(MTH(D[0:k]), MTH(D[k:n]))

Proofs are generated as RFC 6962 §2.1.1 (PATH) and §2.1.2 (PROOF/SUBPROOF) define them and
verified with the algorithms of RFC 9162 §2.1.3.2 and §2.1.4.2, which do not share code with
the generators: a bug in one is caught by the other.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence

__all__ = [
    "EMPTY_ROOT",
    "CompactRange",
    "MerkleTree",
    "PartialTree",
    "leaf_hash",
    "node_hash",
    "verify_consistency",
    "verify_inclusion",
]

EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two strictly smaller than ``n`` (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


class _Subtrees:
    """RFC 6962's recursion over a source of complete, aligned subtree hashes.

    ``_perfect(h, j)`` is the hash of leaves ``[j * 2**h, (j + 1) * 2**h)``. Every subtree the
    recursion visits is either such a block or a right edge made of such blocks, so a root or
    a proof at any size costs O(log² n) hashes once the blocks are known.
    """

    @property
    def size(self) -> int:
        raise NotImplementedError

    def _perfect(self, level: int, index: int) -> bytes:
        raise NotImplementedError

    def _hash(self, lo: int, hi: int) -> bytes:
        """MTH of leaves [lo, hi)."""
        n = hi - lo
        if n == 0:
            return EMPTY_ROOT
        if n & (n - 1) == 0 and lo % n == 0:
            return self._perfect(n.bit_length() - 1, lo // n)
        k = _split(n)
        return node_hash(self._hash(lo, lo + k), self._hash(lo + k, hi))

    def _check_size(self, size: int | None) -> int:
        size = self.size if size is None else size
        if not 0 <= size <= self.size:
            raise ValueError(f"tree size {size} is outside 0..{self.size}")
        return size

    def root(self, size: int | None = None) -> bytes:
        """The tree head hash at ``size`` leaves (default: all)."""
        return self._hash(0, self._check_size(size))

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        """RFC 6962 PATH(index, D[0:size]): siblings from the leaf up to the root."""
        size = self._check_size(size)
        if not 0 <= index < size:
            raise ValueError(f"leaf {index} is not in a tree of size {size}")
        return self._path(index, 0, size)

    def _path(self, m: int, lo: int, hi: int) -> list[bytes]:
        n = hi - lo
        if n == 1:
            return []
        k = _split(n)
        if m < k:
            return [*self._path(m, lo, lo + k), self._hash(lo + k, hi)]
        return [*self._path(m - k, lo + k, hi), self._hash(lo, lo + k)]

    def consistency_proof(self, first: int, second: int | None = None) -> list[bytes]:
        """RFC 6962 PROOF(first, D[0:second]): that the first tree is a prefix of the second."""
        second = self._check_size(second)
        if not 0 <= first <= second:
            raise ValueError(f"cannot prove size {first} consistent with size {second}")
        if first == 0 or first == second:
            return []
        return self._subproof(first, 0, second, True)

    def _subproof(self, m: int, lo: int, hi: int, whole: bool) -> list[bytes]:
        n = hi - lo
        if m == n:
            return [] if whole else [self._hash(lo, hi)]
        k = _split(n)
        if m <= k:
            return [*self._subproof(m, lo, lo + k, whole), self._hash(lo + k, hi)]
        return [*self._subproof(m - k, lo + k, hi, False), self._hash(lo, lo + k)]


class MerkleTree(_Subtrees):
    """A whole tree over leaf hashes, keeping every complete aligned subtree's hash."""

    def __init__(self, leaf_hashes: Iterable[bytes] = ()) -> None:
        self._levels: list[list[bytes]] = [[]]
        for h in leaf_hashes:
            self.append(h)

    @property
    def size(self) -> int:
        return len(self._levels[0])

    def append(self, leaf: bytes) -> int:
        """Add a leaf hash; return its index."""
        if len(leaf) != 32:
            raise ValueError("a leaf hash is 32 bytes")
        self._levels[0].append(leaf)
        index = len(self._levels[0]) - 1
        level, j = 0, index
        while j % 2 == 1:  # the block just completed a pair: hash the pair one level up
            left, right = self._levels[level][j - 1], self._levels[level][j]
            level, j = level + 1, j // 2
            if len(self._levels) == level:
                self._levels.append([])
            self._levels[level].append(node_hash(left, right))
        return index

    def leaf(self, index: int) -> bytes:
        return self._levels[0][index]

    def _perfect(self, level: int, index: int) -> bytes:
        return self._levels[level][index]

    def subtree(self, level: int, index: int) -> bytes | None:
        """The hash of complete subtree ``index`` at ``level``, if the tree has it."""
        if 0 <= level < len(self._levels) and 0 <= index < len(self._levels[level]):
            return self._levels[level][index]
        return None

    def subtree_count(self) -> int:
        """How many complete subtrees there are above the leaves."""
        return sum(len(hashes) for hashes in self._levels[1:])


class PartialTree(_Subtrees):
    """A tree of ``size`` leaves of which only some complete subtrees are at hand: enough
    for the proofs ``needed_for_inclusion`` names (the proof log stores them all)."""

    def __init__(self, size: int, known: Mapping[tuple[int, int], bytes]) -> None:
        self._size = size
        self._known = known

    @property
    def size(self) -> int:
        return self._size

    def _perfect(self, level: int, index: int) -> bytes:
        try:
            return self._known[(level, index)]
        except KeyError:
            raise ValueError(f"the hash of subtree {index} at level {level} is missing") from None

    @staticmethod
    def needed_for_inclusion(index: int, size: int) -> set[tuple[int, int]]:
        """The (level, index) of every complete subtree an inclusion proof reads."""
        recorder = _Recorder(size)
        recorder.inclusion_proof(index, size)
        return recorder.seen


class _Recorder(_Subtrees):
    def __init__(self, size: int) -> None:
        self._size = size
        self.seen: set[tuple[int, int]] = set()

    @property
    def size(self) -> int:
        return self._size

    def _perfect(self, level: int, index: int) -> bytes:
        self.seen.add((level, index))
        return EMPTY_ROOT  # any 32 bytes: which subtrees are read does not depend on hashes


class CompactRange:
    """The right edge of a tree: the hashes of its complete subtrees, largest first.

    Enough to compute the root and to append leaves without reading the leaves themselves;
    the proof log keeps one with each signed head so that sealing stays O(log n).
    """

    def __init__(self, subtrees: Sequence[tuple[int, bytes]] = ()) -> None:
        sizes = [s for s, _ in subtrees]
        if any(s <= 0 or s & (s - 1) for s in sizes) or sizes != sorted(sizes, reverse=True):
            raise ValueError("a compact range holds power-of-two subtrees, largest first")
        if len(set(sizes)) != len(sizes):
            raise ValueError("a compact range holds at most one subtree of each size")
        self._subtrees = list(subtrees)

    @property
    def size(self) -> int:
        return sum(s for s, _ in self._subtrees)

    @property
    def subtrees(self) -> list[tuple[int, bytes]]:
        return list(self._subtrees)

    def append(self, leaf: bytes) -> list[tuple[int, int, bytes]]:
        """Add a leaf hash; return the subtrees it completed, as (level, index, hash)."""
        end = self.size + 1
        self._subtrees.append((1, leaf))
        completed = []
        while len(self._subtrees) > 1 and self._subtrees[-1][0] == self._subtrees[-2][0]:
            (s, right), (_, left) = self._subtrees.pop(), self._subtrees.pop()
            merged = node_hash(left, right)
            self._subtrees.append((2 * s, merged))
            completed.append(((2 * s).bit_length() - 1, (end - 2 * s) // (2 * s), merged))
        return completed

    def root(self) -> bytes:
        if not self._subtrees:
            return EMPTY_ROOT
        h = self._subtrees[-1][1]
        for _, left in reversed(self._subtrees[:-1]):
            h = node_hash(left, h)
        return h


def verify_inclusion(
    leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> bool:
    """RFC 9162 §2.1.3.2: whether ``leaf`` is leaf ``index`` of the tree ``root`` of ``size``."""
    if not 0 <= index < size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and r == root


def verify_consistency(
    first: int, second: int, first_root: bytes, second_root: bytes, proof: Sequence[bytes]
) -> bool:
    """RFC 9162 §2.1.4.2: whether the tree of ``first`` leaves is a prefix of ``second``'s."""
    if not 0 <= first <= second:
        return False
    if first == second:
        return not proof and first_root == second_root
    if first == 0:
        return not proof  # the empty tree is a prefix of every tree
    if not proof:
        return False
    path = list(proof)
    if first & (first - 1) == 0:  # an exact power of two: the first root is a node we have
        path.insert(0, first_root)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and fr == first_root and sr == second_root
