//! The RFC 9162 (RFC 6962) Merkle tree over the log's records: SHA-256, leaf hash
//! `SHA-256(0x00 || record)`, node hash `SHA-256(0x01 || left || right)`, the empty tree's hash
//! `SHA-256("")`; inclusion proofs (RFC 9162 §2.1.3) and consistency proofs (§2.1.4) with their
//! verification algorithms.
//!
//! [`Tree`] keeps the hash of every complete (power-of-two, aligned) subtree, level by level:
//! about 64 bytes per record in memory, rebuilt from the leaf hashes when the log is opened.
//! Any subtree hash, root or proof is then `O(log n)` hashes.

use sha2::{Digest, Sha256};

/// A SHA-256 hash.
pub type Hash = [u8; 32];

/// The hash of a leaf: `SHA-256(0x00 || data)`.
pub fn leaf_hash(data: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(data);
    h.finalize().into()
}

/// The hash of an interior node: `SHA-256(0x01 || left || right)`.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The root of the empty tree: `SHA-256("")`.
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

/// The largest power of two strictly smaller than `n` (`n >= 2`).
fn split(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1u64 << (63 - (n - 1).leading_zeros())
}

/// The hash of every complete subtree of a growing list of leaves.
#[derive(Debug, Clone, Default)]
pub struct Tree {
    /// `levels[k][i]` is the hash of leaves `i * 2^k .. (i + 1) * 2^k`.
    levels: Vec<Vec<Hash>>,
}

impl Tree {
    /// An empty tree.
    pub fn new() -> Tree {
        Tree::default()
    }

    /// A tree of these leaf hashes.
    pub fn from_leaves(leaves: impl IntoIterator<Item = Hash>) -> Tree {
        let mut t = Tree::new();
        for l in leaves {
            t.push(l);
        }
        t
    }

    /// How many leaves.
    pub fn size(&self) -> u64 {
        self.levels.first().map_or(0, |l| l.len() as u64)
    }

    /// Appends a leaf hash, completing the subtrees it closes.
    pub fn push(&mut self, leaf: Hash) {
        if self.levels.is_empty() {
            self.levels.push(Vec::new());
        }
        self.levels[0].push(leaf);
        let mut level = 0;
        // A subtree completes at level k+1 whenever level k gets an even count.
        while self.levels[level].len().is_multiple_of(2) {
            let n = self.levels[level].len();
            let parent = node_hash(&self.levels[level][n - 2], &self.levels[level][n - 1]);
            if self.levels.len() == level + 1 {
                self.levels.push(Vec::new());
            }
            self.levels[level + 1].push(parent);
            level += 1;
        }
    }

    /// The leaf hash at `index`.
    pub fn leaf(&self, index: u64) -> Option<Hash> {
        self.levels
            .first()
            .and_then(|l| l.get(usize::try_from(index).ok()?))
            .copied()
    }

    /// The root of the first `size` leaves (`None` if `size` exceeds the tree).
    pub fn root_at(&self, size: u64) -> Option<Hash> {
        if size > self.size() {
            return None;
        }
        if size == 0 {
            return Some(empty_root());
        }
        Some(self.range(0, size))
    }

    /// The root of the whole tree.
    pub fn root(&self) -> Hash {
        self.root_at(self.size()).unwrap_or_else(empty_root)
    }

    /// MTH of leaves `start..end` (`start < end <= size`, and `start` a multiple of the
    /// largest power of two not above `end - start`, as in every RFC 9162 recursion).
    fn range(&self, start: u64, end: u64) -> Hash {
        let n = end - start;
        if n.is_power_of_two() {
            let k = n.trailing_zeros() as usize;
            return self.levels[k][(start >> k) as usize];
        }
        let k = split(n);
        node_hash(&self.range(start, start + k), &self.range(start + k, end))
    }

    /// The inclusion proof (audit path) of leaf `index` in the tree of the first `size` leaves,
    /// as RFC 9162 §2.1.3.1 `PATH(m, D[n])`. `None` when `index >= size` or `size` exceeds the
    /// tree.
    pub fn inclusion_proof(&self, index: u64, size: u64) -> Option<Vec<Hash>> {
        if index >= size || size > self.size() {
            return None;
        }
        let mut path = Vec::new();
        self.path(index, 0, size, &mut path);
        Some(path)
    }

    fn path(&self, m: u64, start: u64, end: u64, out: &mut Vec<Hash>) {
        let n = end - start;
        if n <= 1 {
            return;
        }
        let k = split(n);
        if m < k {
            self.path(m, start, start + k, out);
            out.push(self.range(start + k, end));
        } else {
            self.path(m - k, start + k, end, out);
            out.push(self.range(start, start + k));
        }
    }

    /// The consistency proof between the trees of the first `old` and the first `new` leaves,
    /// as RFC 9162 §2.1.4.1 `PROOF(m, D[n])`. `None` unless `0 < old <= new <= size`.
    pub fn consistency_proof(&self, old: u64, new: u64) -> Option<Vec<Hash>> {
        if old == 0 || old > new || new > self.size() {
            return None;
        }
        let mut out = Vec::new();
        self.subproof(old, 0, new, true, &mut out);
        Some(out)
    }

    fn subproof(&self, m: u64, start: u64, end: u64, complete: bool, out: &mut Vec<Hash>) {
        let n = end - start;
        if m == n {
            if !complete {
                out.push(self.range(start, end));
            }
            return;
        }
        let k = split(n);
        if m <= k {
            self.subproof(m, start, start + k, complete, out);
            out.push(self.range(start + k, end));
        } else {
            self.subproof(m - k, start + k, end, false, out);
            out.push(self.range(start, start + k));
        }
    }
}

/// Verifies an inclusion proof (RFC 9162 §2.1.3.2): that `leaf` is leaf `index` of the tree of
/// `size` leaves whose root is `root`.
pub fn verify_inclusion(leaf: &Hash, index: u64, size: u64, proof: &[Hash], root: &Hash) -> bool {
    if index >= size {
        return false;
    }
    let (mut fnode, mut snode) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if snode == 0 {
            return false;
        }
        if fnode & 1 == 1 || fnode == snode {
            r = node_hash(p, &r);
            if fnode & 1 == 0 {
                while fnode & 1 == 0 && fnode != 0 {
                    fnode >>= 1;
                    snode >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    snode == 0 && &r == root
}

/// Verifies a consistency proof (RFC 9162 §2.1.4.2): that the tree of `old` leaves with root
/// `old_root` is a prefix of the tree of `new` leaves with root `new_root`.
pub fn verify_consistency(
    old: u64,
    old_root: &Hash,
    new: u64,
    new_root: &Hash,
    proof: &[Hash],
) -> bool {
    if old > new {
        return false;
    }
    if old == new {
        return proof.is_empty() && old_root == new_root;
    }
    if old == 0 {
        // The empty tree is a prefix of every tree; there is nothing to prove.
        return proof.is_empty() && old_root == &empty_root();
    }
    // When `old` is a power of two, its root is the first node of the path (RFC 9162 step 1).
    let mut path: Vec<Hash> = Vec::with_capacity(proof.len() + 1);
    if old.is_power_of_two() {
        path.push(*old_root);
    }
    path.extend_from_slice(proof);
    let Some((first, rest)) = path.split_first() else {
        return false;
    };
    let (mut fnode, mut snode) = (old - 1, new - 1);
    while fnode & 1 == 1 {
        fnode >>= 1;
        snode >>= 1;
    }
    let (mut fr, mut sr) = (*first, *first);
    for c in rest {
        if snode == 0 {
            return false;
        }
        if fnode & 1 == 1 || fnode == snode {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            if fnode & 1 == 0 {
                while fnode & 1 == 0 && fnode != 0 {
                    fnode >>= 1;
                    snode >>= 1;
                }
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    &fr == old_root && &sr == new_root && snode == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::module::hex;

    /// The RFC 6962 test data of the certificate-transparency reference implementations.
    fn ct_leaves() -> Vec<Vec<u8>> {
        vec![
            vec![],
            vec![0x00],
            vec![0x10],
            vec![0x20, 0x21],
            vec![0x30, 0x31],
            vec![0x40, 0x41, 0x42, 0x43],
            vec![0x50, 0x51, 0x52, 0x53, 0x54, 0x55, 0x56, 0x57],
            (0x60..=0x6f).collect(),
        ]
    }

    /// `MTH(D[n])` for n = 0..8, as published with that data.
    const CT_ROOTS: [&str; 9] = [
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ];

    fn unhex(s: &str) -> Hash {
        let mut out = [0u8; 32];
        for (i, o) in out.iter_mut().enumerate() {
            *o = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap();
        }
        out
    }

    fn ct_tree() -> Tree {
        Tree::from_leaves(ct_leaves().iter().map(|d| leaf_hash(d)))
    }

    /// An independent, literal transcription of RFC 9162 §2.1.1 (recursive MTH).
    fn reference_mth(leaves: &[Hash]) -> Hash {
        match leaves.len() {
            0 => empty_root(),
            1 => leaves[0],
            n => {
                let mut k = 1;
                while k * 2 < n {
                    k *= 2;
                }
                node_hash(&reference_mth(&leaves[..k]), &reference_mth(&leaves[k..]))
            }
        }
    }

    #[test]
    fn roots_match_the_rfc_6962_test_vectors() {
        let t = ct_tree();
        for (n, want) in CT_ROOTS.iter().enumerate() {
            assert_eq!(hex(&t.root_at(n as u64).unwrap()), *want, "size {n}");
            let incremental = Tree::from_leaves(ct_leaves()[..n].iter().map(|d| leaf_hash(d)));
            assert_eq!(hex(&incremental.root()), *want, "size {n}");
        }
        assert_eq!(t.root_at(9), None);
    }

    #[test]
    fn inclusion_proofs_match_the_rfc_6962_test_vectors() {
        let t = ct_tree();
        let vectors: [(u64, u64, &[&str]); 5] = [
            (0, 1, &[]),
            (
                0,
                8,
                &[
                    "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
                ],
            ),
            (
                5,
                8,
                &[
                    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                    "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
                ],
            ),
            (
                2,
                3,
                &["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"],
            ),
            (
                1,
                5,
                &[
                    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                ],
            ),
        ];
        for (index, size, want) in vectors {
            let proof = t.inclusion_proof(index, size).unwrap();
            let got: Vec<String> = proof.iter().map(|h| hex(h)).collect();
            assert_eq!(got, want, "PATH({index}, D[{size}])");
            let root = unhex(CT_ROOTS[size as usize]);
            assert!(verify_inclusion(
                &t.leaf(index).unwrap(),
                index,
                size,
                &proof,
                &root
            ));
        }
    }

    #[test]
    fn consistency_proofs_match_the_rfc_6962_test_vectors() {
        let t = ct_tree();
        let vectors: [(u64, u64, &[&str]); 4] = [
            (1, 1, &[]),
            (
                1,
                8,
                &[
                    "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
                ],
            ),
            (
                6,
                8,
                &[
                    "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                    "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
                ],
            ),
            (
                2,
                5,
                &[
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                ],
            ),
        ];
        for (old, new, want) in vectors {
            let proof = t.consistency_proof(old, new).unwrap();
            let got: Vec<String> = proof.iter().map(|h| hex(h)).collect();
            assert_eq!(got, want, "PROOF({old}, D[{new}])");
            let (r1, r2) = (unhex(CT_ROOTS[old as usize]), unhex(CT_ROOTS[new as usize]));
            assert!(verify_consistency(old, &r1, new, &r2, &proof));
            assert!(!verify_consistency(old, &r2, new, &r2, &proof) || old == new);
        }
    }

    fn leaves(n: u64) -> Vec<Hash> {
        (0..n)
            .map(|i| leaf_hash(format!("leaf-{i}").as_bytes()))
            .collect()
    }

    #[test]
    fn every_proof_verifies_and_tampering_fails() {
        for n in 1..=40u64 {
            let l = leaves(n);
            let t = Tree::from_leaves(l.iter().copied());
            let root = t.root();
            assert_eq!(root, reference_mth(&l), "size {n}");
            for i in 0..n {
                let proof = t.inclusion_proof(i, n).unwrap();
                let leaf = l[i as usize];
                assert!(verify_inclusion(&leaf, i, n, &proof, &root), "n={n} i={i}");
                // Another leaf, another index, a changed node, a shortened or lengthened path,
                // another root: all refused.
                assert!(!verify_inclusion(&leaf_hash(b"x"), i, n, &proof, &root));
                if n > 1 {
                    assert!(!verify_inclusion(&leaf, (i + 1) % n, n, &proof, &root));
                }
                for k in 0..proof.len() {
                    let mut bad = proof.clone();
                    bad[k][k % 32] ^= 1;
                    assert!(!verify_inclusion(&leaf, i, n, &bad, &root));
                }
                if !proof.is_empty() {
                    assert!(!verify_inclusion(
                        &leaf,
                        i,
                        n,
                        &proof[..proof.len() - 1],
                        &root
                    ));
                }
                let mut long = proof.clone();
                long.push(root);
                assert!(!verify_inclusion(&leaf, i, n, &long, &root));
                assert!(!verify_inclusion(&leaf, i, n, &proof, &empty_root()));
            }
            assert!(!verify_inclusion(&l[0], n, n, &[], &root));
            for m in 1..=n {
                let proof = t.consistency_proof(m, n).unwrap();
                let old_root = t.root_at(m).unwrap();
                assert!(
                    verify_consistency(m, &old_root, n, &root, &proof),
                    "{m}->{n}"
                );
                if m < n {
                    let mut bad = proof.clone();
                    if let Some(first) = bad.first_mut() {
                        first[0] ^= 1;
                    }
                    assert!(!verify_consistency(m, &old_root, n, &root, &bad));
                    assert!(!verify_consistency(m, &root, n, &root, &proof));
                }
            }
        }
    }

    #[test]
    fn proofs_outside_the_tree_are_refused() {
        let t = Tree::from_leaves(leaves(5));
        assert_eq!(t.inclusion_proof(5, 5), None);
        assert_eq!(t.inclusion_proof(0, 6), None);
        assert_eq!(t.consistency_proof(0, 5), None);
        assert_eq!(t.consistency_proof(4, 3), None);
        assert!(!verify_consistency(5, &t.root(), 3, &t.root(), &[]));
        assert!(verify_consistency(0, &empty_root(), 5, &t.root(), &[]));
    }
}
