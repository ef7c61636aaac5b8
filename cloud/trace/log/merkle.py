"""RFC 9162 (Certificate Transparency 2.0) Merkle tree hashing and proofs, pure.

- leaf hash ``SHA-256(0x00 ‖ leaf)``, node hash ``SHA-256(0x01 ‖ left ‖ right)``;
  the hash of the empty tree is ``SHA-256("")`` (section 2.1.1);
- the tree head ``MTH`` of any number of leaves (not only powers of two);
- inclusion proofs (2.1.3.1) and consistency proofs (2.1.4.1), and their
  verification algorithms (2.1.3.2, 2.1.4.2), exactly as the RFC words them.

Proof generation works on **perfect subtrees**: a node ``(level, index)`` is the hash
of the ``2**level`` leaves ``[index * 2**level, (index + 1) * 2**level)``. Every
subtree hash a proof or a tree head needs is the right fold of at most ``log2(n)``
such nodes (:func:`perfect_cover`), and every proof needs at most ``2 * log2(n)``
nodes in all. The store keeps each perfect subtree's hash as the leaves complete it
(:mod:`cloud.trace.log.storage`), so a proof reads O(log n) rows whatever the size of
the log; :func:`proof_nodes` says which, :func:`assemble` builds the proof from them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "Node",
    "ProofError",
    "assemble",
    "consistency_proof",
    "consistency_ranges",
    "inclusion_proof",
    "inclusion_ranges",
    "leaf_hash",
    "mth",
    "node_hash",
    "perfect_cover",
    "proof_nodes",
    "range_hash",
    "root_from_inclusion",
    "verify_consistency",
    "verify_inclusion",
]

HASH_SIZE = 32
#: MTH({}) = SHA-256() (RFC 9162 section 2.1.1).
EMPTY_ROOT = hashlib.sha256(b"").digest()

#: A perfect subtree: (level, index) covers leaves [index << level, (index + 1) << level).
Node = tuple[int, int]
#: A range of leaves [start, end).
Range = tuple[int, int]


class ProofError(ValueError):
    """A proof does not verify, or its inputs are out of range; the message says which."""


def leaf_hash(leaf: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + leaf).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two smaller than ``n`` (n > 1): RFC 9162's k."""
    return 1 << ((n - 1).bit_length() - 1)


# ------------------------------------------------------------------ tree shape


def perfect_cover(start: int, end: int) -> list[Node]:
    """The perfect subtrees whose right fold is MTH(D[start:end]), left to right.

    Every range that RFC 9162's recursion produces starts at a multiple of the
    largest power of two not below its length, so its binary decomposition (largest
    subtree first) is aligned; other ranges are refused.
    """
    if not 0 <= start < end:
        raise ValueError(f"empty or negative range [{start}, {end})")
    nodes: list[Node] = []
    size, pos = end - start, start
    for level in reversed(range(size.bit_length())):
        if size >> level & 1:
            if pos & ((1 << level) - 1):
                raise ValueError(f"range [{start}, {end}) is not aligned to its subtrees")
            nodes.append((level, pos >> level))
            pos += 1 << level
    return nodes


def fold(hashes: Sequence[bytes]) -> bytes:
    """MTH of consecutive perfect subtrees, largest first (their :func:`perfect_cover`)."""
    acc = hashes[-1]
    for h in reversed(hashes[:-1]):
        acc = node_hash(h, acc)
    return acc


def range_hash(start: int, end: int, node: Callable[[Node], bytes]) -> bytes:
    """MTH(D[start:end]) from the hashes of perfect subtrees (``node``)."""
    return fold([node(n) for n in perfect_cover(start, end)])


def inclusion_ranges(index: int, size: int) -> list[Range]:
    """The subtrees whose hashes make PATH(index, D[size]) (RFC 9162 2.1.3.1), leaf first."""
    if not 0 <= index < size:
        raise ProofError(f"leaf index {index} is not in a tree of {size} leaves")
    out: list[Range] = []
    lo, hi = 0, size
    while hi - lo > 1:
        k = _split(hi - lo)
        if index < lo + k:
            out.append((lo + k, hi))
            hi = lo + k
        else:
            out.append((lo, lo + k))
            lo += k
    out.reverse()
    return out


def consistency_ranges(first: int, second: int) -> list[Range]:
    """The subtrees whose hashes make PROOF(first, D[second]) (RFC 9162 2.1.4.1).

    Empty when ``first`` is 0 or equals ``second`` (nothing to prove).
    """
    if not 0 <= first <= second:
        raise ProofError(f"no consistency proof from size {first} to size {second}")
    if first in (0, second):
        return []
    out: list[Range] = []
    lo, hi, m, whole = 0, second, first, True  # m is relative to lo; whole: SUBPROOF's b
    while m != hi - lo:
        k = _split(hi - lo)
        if m <= k:
            out.append((lo + k, hi))
            hi = lo + k
        else:
            out.append((lo, lo + k))
            lo += k
            m -= k
            whole = False
    if not whole:
        out.append((lo, hi))
    out.reverse()
    return out


def proof_nodes(ranges: Iterable[Range]) -> set[Node]:
    """Every perfect subtree the given ranges need."""
    return {n for start, end in ranges for n in perfect_cover(start, end)}


def assemble(ranges: Sequence[Range], hashes: Mapping[Node, bytes]) -> list[bytes]:
    """The proof: each range's MTH from the perfect subtree hashes read from a store."""
    return [fold([hashes[n] for n in perfect_cover(s, e)]) for s, e in ranges]


# ------------------------------------------------------------------ in memory


def mth(leaf_hashes: Sequence[bytes]) -> bytes:
    """MTH of a whole tree given its leaf hashes (in memory)."""
    if not leaf_hashes:
        return EMPTY_ROOT
    level = list(leaf_hashes)
    # Fold pairs bottom-up; an odd last node is carried up unchanged, which gives
    # RFC 9162's left-balanced tree.
    while len(level) > 1:
        nxt = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return level[0]


def _memory_nodes(leaf_hashes: Sequence[bytes], needed: set[Node]) -> dict[Node, bytes]:
    return {
        (lv, i): mth(leaf_hashes[i << lv : (i + 1) << lv]) if lv else leaf_hashes[i]
        for lv, i in needed
    }


def inclusion_proof(index: int, leaf_hashes: Sequence[bytes]) -> list[bytes]:
    """PATH(index, D[n]) over the given leaf hashes (in memory)."""
    ranges = inclusion_ranges(index, len(leaf_hashes))
    return assemble(ranges, _memory_nodes(leaf_hashes, proof_nodes(ranges)))


def consistency_proof(first: int, leaf_hashes: Sequence[bytes]) -> list[bytes]:
    """PROOF(first, D[n]) over the given leaf hashes (in memory)."""
    ranges = consistency_ranges(first, len(leaf_hashes))
    return assemble(ranges, _memory_nodes(leaf_hashes, proof_nodes(ranges)))


# ------------------------------------------------------------------ verification


def _check_hash(value: bytes, what: str) -> None:
    if not isinstance(value, bytes | bytearray) or len(value) != HASH_SIZE:
        raise ProofError(f"{what} is not a {HASH_SIZE}-byte SHA-256 hash")


def root_from_inclusion(index: int, size: int, leaf: bytes, proof: Sequence[bytes]) -> bytes:
    """The root an inclusion proof leads to (RFC 9162 2.1.3.2 steps 1-4)."""
    if not 0 <= index < size:
        raise ProofError(f"leaf index {index} is not in a tree of {size} leaves")
    _check_hash(leaf, "the leaf hash")
    fn, sn, r = index, size - 1, leaf
    for i, p in enumerate(proof):
        _check_hash(p, f"inclusion proof element {i}")
        if sn == 0:
            raise ProofError(f"the inclusion proof is too long ({len(proof)} hashes)")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError(f"the inclusion proof is too short ({len(proof)} hashes)")
    return r


def verify_inclusion(
    index: int, size: int, leaf: bytes, proof: Sequence[bytes], root: bytes
) -> None:
    """RFC 9162 2.1.3.2; raises :class:`ProofError` unless ``leaf`` is at ``index``."""
    _check_hash(root, "the root hash")
    if root_from_inclusion(index, size, leaf, proof) != root:
        raise ProofError(
            f"the inclusion proof of leaf {index} does not lead to the root of size {size}"
        )


def verify_consistency(
    first: int, second: int, first_root: bytes, second_root: bytes, proof: Sequence[bytes]
) -> None:
    """RFC 9162 2.1.4.2; raises :class:`ProofError` unless tree ``second`` extends ``first``.

    As RFC 9162 and the reference implementation (transparency-dev/merkle) do: a
    tree of size 0 is consistent with every tree and a tree with itself, each with
    an empty proof (and, for equal sizes, equal roots).
    """
    _check_hash(first_root, "the first root hash")
    _check_hash(second_root, "the second root hash")
    if not 0 <= first <= second:
        raise ProofError(f"size {second} cannot extend size {first}")
    if first == second or first == 0:
        if proof:
            raise ProofError("the consistency proof must be empty for these sizes")
        if first == second and first_root != second_root:
            raise ProofError(f"two different roots for the same size {first}")
        return
    if not proof:  # step 1
        raise ProofError("the consistency proof is empty")
    for i, c in enumerate(proof):
        _check_hash(c, f"consistency proof element {i}")
    path = list(proof)
    if first & (first - 1) == 0:  # step 2: first is an exact power of 2
        path.insert(0, first_root)
    fn, sn = first - 1, second - 1  # step 3
    while fn & 1:  # step 4
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]  # step 5
    for c in path[1:]:  # step 6
        if sn == 0:
            raise ProofError(f"the consistency proof is too long ({len(proof)} hashes)")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:  # step 7
        raise ProofError(f"the consistency proof is too short ({len(proof)} hashes)")
    if fr != first_root:
        raise ProofError(f"the consistency proof does not lead to the root of size {first}")
    if sr != second_root:
        raise ProofError(f"the consistency proof does not lead to the root of size {second}")
