"""cloud/trace/log/merkle.py: RFC 9162 hashing, proofs and their verification.

Published vectors: transparency-dev/merkle (Apache-2.0), files ``rfc6962/rfc6962_test.go``
(hasher) and ``proof/verify_test.go`` (the 8-leaf tree of RFC 6962's reference tests:
roots of sizes 1-8, inclusion and consistency proofs). Property tests: every proof of
every (index, size) and (first, second) up to 70 leaves verifies, and fails after every
single-bit change of any proof hash, every other index, a changed leaf or root, a hash
added or taken away. The slow run changes every bit and tries every other index up to
70 leaves; the default run does so up to 8 leaves, then one bit of each hash and six
other indices per proof.
"""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cloud.trace.log import merkle
from cloud.trace.log.merkle import (
    EMPTY_ROOT,
    ProofError,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    mth,
    node_hash,
    verify_consistency,
    verify_inclusion,
)


def h(s: str) -> bytes:
    return bytes.fromhex(s)


# ---------------------------------------------------------------- published vectors

LEAVES = [h(x) for x in ("", "00", "10", "2021", "3031", "40414243", "5051525354555657",
                         "606162636465666768696a6b6c6d6e6f")]  # fmt: skip
ROOTS = [h(x) for x in (
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
)]  # fmt: skip
# (leaf number, 1-based as in the source; tree size; proof)
INCLUSION = [
    (1, 1, []),
    (1, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (6, 8, ["bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
    (3, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (2, 5, ["6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]),
]  # fmt: skip
CONSISTENCY = [
    (1, 1, []),
    (1, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (6, 8, ["0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
    (2, 5, ["5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]),
    (6, 7, ["0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
]  # fmt: skip
LEAF_HASHES = [leaf_hash(x) for x in LEAVES]


def test_hasher_vectors() -> None:
    assert EMPTY_ROOT == h("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    assert mth([]) == EMPTY_ROOT
    assert leaf_hash(b"") == h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d")
    assert leaf_hash(b"L123456") == h(
        "395aa064aa4c29f7010acfe3f25db9485bbd4b91897b6ad7ad547639252b4d56"
    )
    assert node_hash(b"N123", b"N456") == h(
        "aa217fe888e47007fa15edab33c2b492a722cb106c64667fc2b044444de66bbb"
    )


@pytest.mark.parametrize("size", range(1, 9))
def test_published_roots(size: int) -> None:
    assert mth(LEAF_HASHES[:size]) == ROOTS[size - 1]


@pytest.mark.parametrize(("leaf", "size", "proof"), INCLUSION)
def test_published_inclusion_proofs(leaf: int, size: int, proof: list[str]) -> None:
    want = [h(p) for p in proof]
    assert inclusion_proof(leaf - 1, LEAF_HASHES[:size]) == want
    verify_inclusion(leaf - 1, size, LEAF_HASHES[leaf - 1], want, ROOTS[size - 1])


@pytest.mark.parametrize(("first", "second", "proof"), CONSISTENCY)
def test_published_consistency_proofs(first: int, second: int, proof: list[str]) -> None:
    want = [h(p) for p in proof]
    assert consistency_proof(first, LEAF_HASHES[:second]) == want
    verify_consistency(first, second, ROOTS[first - 1], ROOTS[second - 1], want)


def test_edge_cases_of_the_reference_implementation() -> None:
    some = h("abacaba000000000000000000000000000000000000000000060061e00123456")
    # sizes that are always consistent, with an empty proof
    verify_consistency(0, 0, EMPTY_ROOT, EMPTY_ROOT, [])
    verify_consistency(0, 5, EMPTY_ROOT, ROOTS[4], [])
    verify_consistency(3, 3, ROOTS[2], ROOTS[2], [])
    bad = [
        lambda: verify_consistency(3, 3, ROOTS[2], ROOTS[3], []),  # two roots, one size
        lambda: verify_consistency(2, 1, ROOTS[1], ROOTS[0], []),  # time travel
        lambda: verify_consistency(1, 2, ROOTS[0], ROOTS[1], []),  # empty proof
        lambda: verify_consistency(0, 1, EMPTY_ROOT, ROOTS[0], [EMPTY_ROOT]),
        lambda: verify_consistency(1, 1, ROOTS[0], ROOTS[0], [EMPTY_ROOT]),
        lambda: verify_inclusion(0, 0, some, [], EMPTY_ROOT),
        lambda: verify_inclusion(1, 0, some, [], EMPTY_ROOT),
        lambda: verify_inclusion(2, 1, some, [], EMPTY_ROOT),
        lambda: verify_inclusion(0, 1, b"", [], EMPTY_ROOT),  # wrong hash size
        lambda: verify_inclusion(0, 1, some, [], b""),
    ]
    for i, call in enumerate(bad):
        with pytest.raises(ProofError):
            call()
            pytest.fail(f"case {i} verified")


# ---------------------------------------------------------------- properties


def reference_mth(leaves: list[bytes]) -> bytes:
    """RFC 9162 2.1.1 word for word (recursive), independent of merkle.mth."""
    n = len(leaves)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return leaves[0]
    k = 1
    while k * 2 < n:
        k *= 2
    return node_hash(reference_mth(leaves[:k]), reference_mth(leaves[k:]))


N = 70
TREE = [leaf_hash(i.to_bytes(4, "big")) for i in range(N)]
ROOT = [reference_mth(TREE[:n]) for n in range(N + 1)]


def flips(proof: list[bytes], every_bit: bool = True, seed: int = 0) -> list[list[bytes]]:
    """Every single-bit change of every hash of the proof (or one bit of each hash)."""
    out = []
    for i, p in enumerate(proof):
        bits = range(len(p) * 8) if every_bit else [(seed * 31 + i * 97) % (len(p) * 8)]
        for bit in bits:
            q = bytearray(p)
            q[bit // 8] ^= 1 << (bit % 8)
            out.append([*proof[:i], bytes(q), *proof[i + 1 :]])
    return out


def test_mth_matches_the_rfc_recursion_for_every_size() -> None:
    for n in range(N + 1):
        assert mth(TREE[:n]) == ROOT[n]


#: Up to this size every bit of every proof hash is flipped in the default run; above
#: it one bit of each hash (a different bit for each proof and hash). The slow run
#: flips every bit up to N.
EVERY_BIT_UP_TO = 8


@pytest.mark.parametrize(
    "every_bit_up_to", [EVERY_BIT_UP_TO, pytest.param(N, marks=pytest.mark.slow)]
)
def test_every_inclusion_proof_verifies_and_every_mutation_fails(every_bit_up_to: int) -> None:
    for size in range(1, N + 1):
        for index in range(size):
            proof = inclusion_proof(index, TREE[:size])
            verify_inclusion(index, size, TREE[index], proof, ROOT[size])
            for wrong in flips(proof, size <= every_bit_up_to, index):
                with pytest.raises(ProofError):
                    verify_inclusion(index, size, TREE[index], wrong, ROOT[size])
            others = (
                range(size)  # every other index with the same proof
                if size <= every_bit_up_to
                else {index - 1, index + 1, index ^ 1, index ^ 2, 0, size - 1}
            )
            for other in others:
                if other != index and 0 <= other < size:
                    with pytest.raises(ProofError):
                        verify_inclusion(other, size, TREE[index], proof, ROOT[size])
            # (Another tree size with the same root may verify: leaf 0 of 3 and of 4
            # has the same path shape. The size is bound to the root by the signed
            # checkpoint, not by the proof.)
            for wrong_leaf in flips([TREE[index]])[::37]:
                with pytest.raises(ProofError):
                    verify_inclusion(index, size, wrong_leaf[0], proof, ROOT[size])
            with pytest.raises(ProofError):
                verify_inclusion(index, size, TREE[index], [*proof, ROOT[size]], ROOT[size])
            if proof:
                with pytest.raises(ProofError):
                    verify_inclusion(index, size, TREE[index], proof[:-1], ROOT[size])


@pytest.mark.parametrize(
    "every_bit_up_to", [EVERY_BIT_UP_TO, pytest.param(N, marks=pytest.mark.slow)]
)
def test_every_consistency_proof_verifies_and_every_mutation_fails(every_bit_up_to: int) -> None:
    for second in range(1, N + 1):
        for first in range(1, second + 1):
            proof = consistency_proof(first, TREE[:second])
            verify_consistency(first, second, ROOT[first], ROOT[second], proof)
            if first == second:
                assert proof == []
                continue
            for wrong in flips(proof, second <= every_bit_up_to, first):
                with pytest.raises(ProofError):
                    verify_consistency(first, second, ROOT[first], ROOT[second], wrong)
            others = (
                range(1, second)
                if second <= every_bit_up_to
                else {first - 1, first + 1, first ^ 1, first ^ 2, 1, second - 1}
            )
            for other in others:
                if other != first and 0 < other < second:
                    with pytest.raises(ProofError):
                        verify_consistency(other, second, ROOT[first], ROOT[second], proof)
            for root1, root2 in ((ROOT[second], ROOT[first]), (ROOT[first - 1], ROOT[second])):
                with pytest.raises(ProofError):
                    verify_consistency(first, second, root1, root2, proof)
            with pytest.raises(ProofError):
                verify_consistency(first, second, ROOT[first], ROOT[second], proof[:-1])
            with pytest.raises(ProofError):
                verify_consistency(first, second, ROOT[first], ROOT[second], [*proof, ROOT[1]])


def test_perfect_cover_refuses_unaligned_ranges() -> None:
    assert merkle.perfect_cover(0, 7) == [(2, 0), (1, 2), (0, 6)]
    assert merkle.perfect_cover(8, 11) == [(1, 4), (0, 10)]
    with pytest.raises(ValueError, match="not aligned"):
        merkle.perfect_cover(1, 3)


@settings(max_examples=60, deadline=None)
@given(st.integers(min_value=1, max_value=2**40), st.data())
def test_proofs_of_huge_trees_need_few_nodes(size: int, data: st.DataObject) -> None:
    """Shape only (no hashing): at most 2 log2(n) stored subtrees per proof."""
    index = data.draw(st.integers(min_value=0, max_value=size - 1))
    first = data.draw(st.integers(min_value=0, max_value=size))
    bound = 2 * size.bit_length() + 1
    inc = merkle.inclusion_ranges(index, size)
    con = merkle.consistency_ranges(first, size)
    assert len(merkle.proof_nodes(inc)) <= bound
    assert len(merkle.proof_nodes(con)) <= bound
    assert len(merkle.perfect_cover(0, size)) == size.bit_count()
