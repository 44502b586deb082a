//! A genesis checked rule by rule, and its fingerprint.
//!
//! Every BOX process is given the deployment's genesis as a file; people
//! compare its [`Fingerprint`] out of band (read aloud, on paper), and every
//! process compares the fingerprint of the file it was given with the one the
//! chain's nodes report before it does anything else. [`check`] lists every
//! rule a genesis breaks, each with its field and a reason a person can act
//! on; it includes (and goes beyond) what [`crate::notary::NotaryState::new`]
//! refuses.
//!
//! What this does not do: judge whether the addresses are the right people's.
//! That is what the fingerprint comparison and the key ceremony are for.

use crate::asset::AssetRegistry;
use crate::encoding::Canonical;
use crate::notary::{MAX_KEY_HOLDERS, NotaryState};
use crate::typed::Genesis;
use alloy::primitives::{Address, B256};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// Keccak-256 of a genesis's canonical encoding: the same for every byte-wise
/// different JSON spelling of one genesis, different for any changed field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fingerprint(pub B256);

impl Fingerprint {
    /// The fingerprint of `genesis`.
    pub fn of(genesis: &Genesis) -> Self {
        Self(genesis.content_hash().0)
    }

    /// The short form people compare out of band: the first 10 bytes (80
    /// bits) in five groups of four hex digits, e.g. `3f2a 9c1b 0d4e 77a0 12cd`.
    pub fn short(&self) -> String {
        let hex = alloy::hex::encode(&self.0[..10]);
        hex.as_bytes().chunks(4).map(|c| String::from_utf8_lossy(c).into_owned()).collect::<Vec<_>>().join(" ")
    }
}

impl fmt::Display for Fingerprint {
    /// The short form (see [`Fingerprint::short`]).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.short())
    }
}

/// One broken rule: which field, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The field, as in the JSON (`keyHolders[2]`, `nodes[0].endpoint`, …).
    pub field: String,
    /// What is wrong and what to do, in words.
    pub reason: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.reason)
    }
}

/// How far in the future a genesis `time` may lie (clock skew between machines).
pub const MAX_FUTURE_SECONDS: u64 = 86_400;

/// Every rule `genesis` breaks (empty when it is valid), checked at `now`
/// (Unix seconds). The order is the JSON's.
pub fn check(genesis: &Genesis, now: u64) -> Vec<Problem> {
    let mut out = Vec::new();
    let mut bad = |field: String, reason: String| out.push(Problem { field, reason });
    if genesis.deploymentId == B256::ZERO {
        bad("deploymentId".into(), "is zero; it must be 32 random bytes (boxctl genesis new makes them)".into());
    }
    if genesis.chainId == 0 {
        bad("chainId".into(), "0 is not an EIP-155 chain id (1 is Ethereum mainnet)".into());
    }
    let holders = genesis.keyHolders.len();
    if !(3..=MAX_KEY_HOLDERS).contains(&holders) {
        bad("keyHolders".into(), format!("has {holders} key holders; BOX needs 3 to {MAX_KEY_HOLDERS}"));
    }
    let mut seen: BTreeMap<Address, String> = BTreeMap::new();
    let mut claim = |field: String, who: Address, what: &str, bad: &mut dyn FnMut(String, String)| {
        if who.is_zero() {
            bad(field, format!("address(0) cannot be {what}"));
        } else if let Some(first) = seen.get(&who) {
            bad(
                field,
                format!("{who} is already {first}; every key holder, node account and the signer needs its own key"),
            );
        } else {
            seen.insert(who, format!("{what} ({field})"));
        }
    };
    for (i, k) in genesis.keyHolders.iter().enumerate() {
        claim(format!("keyHolders[{i}]"), *k, "a key holder", &mut bad);
    }
    claim("signer".into(), genesis.signer, "the signer", &mut bad);
    if genesis.nodes.is_empty() {
        bad(
            "nodes".into(),
            "lists no node; a cluster needs 2f+1 nodes to survive f failures (3 is the minimum that survives one)"
                .into(),
        );
    }
    let (mut ids, mut endpoints) = (BTreeSet::new(), BTreeSet::new());
    for (i, n) in genesis.nodes.iter().enumerate() {
        if n.nodeId == 0 {
            bad(format!("nodes[{i}].nodeId"), "node ids start at 1".into());
        } else if !ids.insert(n.nodeId) {
            bad(format!("nodes[{i}].nodeId"), format!("node id {} is listed twice", n.nodeId));
        }
        if let Err(why) = endpoint_rule(&n.endpoint) {
            bad(format!("nodes[{i}].endpoint"), why);
        } else if !endpoints.insert(n.endpoint.as_str()) {
            bad(format!("nodes[{i}].endpoint"), format!("{} is listed twice", n.endpoint));
        }
        claim(format!("nodes[{i}].account"), n.account, "a node account", &mut bad);
    }
    let (mut tokens, mut symbols) = (BTreeSet::new(), BTreeSet::new());
    for (i, a) in genesis.assets.iter().enumerate() {
        if let Err(e) = AssetRegistry::erc20(a.token, &a.symbol, a.decimals) {
            bad(format!("assets[{i}]"), e.to_string());
        }
        if !tokens.insert(a.token) {
            bad(format!("assets[{i}].token"), format!("{} is listed twice", a.token));
        }
        if a.symbol.eq_ignore_ascii_case("ETH") || !symbols.insert(a.symbol.to_ascii_uppercase()) {
            bad(
                format!("assets[{i}].symbol"),
                format!("{} is already taken; each asset needs its own symbol", a.symbol),
            );
        }
    }
    if genesis.time == 0 {
        bad("time".into(), "is 0; it is when the deployment was made, in Unix seconds".into());
    } else if genesis.time > now.saturating_add(MAX_FUTURE_SECONDS) {
        bad(
            "time".into(),
            format!("{} is more than a day in the future (now is {now}); check the clock", genesis.time),
        );
    }
    // Anything the notary refuses that the rules above missed.
    if out.is_empty()
        && let Err(e) = NotaryState::new(genesis.clone())
    {
        out.push(Problem { field: "genesis".into(), reason: e.to_string() });
    }
    out
}

/// `host:port`, with a port from 1 to 65535 and no scheme or path.
fn endpoint_rule(endpoint: &str) -> Result<(), String> {
    let usage =
        || format!("\"{endpoint}\" is not host:port (e.g. node-1.example.com:7001), as the node's gRPC listens");
    if endpoint.contains("://") || endpoint.contains('/') || endpoint.trim() != endpoint {
        return Err(usage());
    }
    let (host, port) = endpoint.rsplit_once(':').ok_or_else(usage)?;
    match port.parse::<u16>() {
        Ok(p) if p > 0 && !host.is_empty() => Ok(()),
        _ => Err(usage()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::typed::{GenesisAsset, GenesisNode};

    fn valid() -> Genesis {
        Genesis {
            deploymentId: B256::repeat_byte(7),
            chainId: 1,
            keyHolders: (1..=3).map(Address::repeat_byte).collect(),
            nodes: (1..=3u8)
                .map(|i| GenesisNode {
                    nodeId: u64::from(i),
                    endpoint: format!("node-{i}.example.com:7001"),
                    account: Address::repeat_byte(0x10 + i),
                })
                .collect(),
            signer: Address::repeat_byte(0x20),
            assets: vec![GenesisAsset { token: Address::repeat_byte(0x30), symbol: "USDC".into(), decimals: 6 }],
            time: 1_700_000_000,
        }
    }

    #[test]
    fn a_valid_genesis_has_no_problem_and_a_stable_fingerprint() {
        let g = valid();
        assert_eq!(check(&g, 1_700_000_000), vec![]);
        let f = Fingerprint::of(&g);
        assert_eq!(f, Fingerprint::of(&serde_json::from_str(&serde_json::to_string(&g).unwrap()).unwrap()));
        assert_eq!(f.short().len(), 24);
        assert_eq!(f.short().split(' ').count(), 5);
        let mut other = g;
        other.time += 1;
        assert_ne!(Fingerprint::of(&other), f, "every field is in the fingerprint");
    }

    #[test]
    fn each_broken_rule_names_its_field() {
        type Breaks = Box<dyn Fn(&mut Genesis)>;
        let cases: Vec<(&str, Breaks)> = vec![
            ("deploymentId", Box::new(|g| g.deploymentId = B256::ZERO)),
            ("chainId", Box::new(|g| g.chainId = 0)),
            ("keyHolders", Box::new(|g| g.keyHolders.truncate(2))),
            ("keyHolders[2]", Box::new(|g| g.keyHolders[2] = g.keyHolders[0])),
            ("keyHolders[1]", Box::new(|g| g.keyHolders[1] = Address::ZERO)),
            ("signer", Box::new(|g| g.signer = g.keyHolders[0])),
            ("nodes", Box::new(|g| g.nodes.clear())),
            ("nodes[1].nodeId", Box::new(|g| g.nodes[1].nodeId = 1)),
            ("nodes[0].nodeId", Box::new(|g| g.nodes[0].nodeId = 0)),
            ("nodes[2].endpoint", Box::new(|g| g.nodes[2].endpoint = "https://node:7001".into())),
            ("nodes[2].endpoint", Box::new(|g| g.nodes[2].endpoint = "node-3:0".into())),
            ("nodes[1].endpoint", Box::new(|g| g.nodes[1].endpoint = g.nodes[0].endpoint.clone())),
            ("nodes[0].account", Box::new(|g| g.nodes[0].account = g.signer)),
            ("assets[0]", Box::new(|g| g.assets[0].token = Address::ZERO)),
            ("assets[0]", Box::new(|g| g.assets[0].symbol = String::new())),
            ("assets[0].symbol", Box::new(|g| g.assets[0].symbol = "eth".into())),
            ("time", Box::new(|g| g.time = 0)),
            ("time", Box::new(|g| g.time = 1_800_000_000)),
        ];
        for (field, break_it) in cases {
            let mut g = valid();
            break_it(&mut g);
            let problems = check(&g, 1_700_000_000);
            assert!(problems.iter().any(|p| p.field == field), "{field}: {problems:?}");
            for p in &problems {
                assert!(!p.reason.contains("Some(") && !p.reason.contains("{ "), "{p}");
            }
        }
    }
}
