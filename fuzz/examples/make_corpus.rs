//! Writes small valid seed inputs for every target into `corpus/<target>/`
//! (gitignored), so the fuzzer starts from real encodings instead of having
//! to discover the ABI layout from nothing:
//!
//! ```text
//! cargo run --release --example make_corpus
//! ```

use box_core::audit::verify_history;
use box_core::block::{Block, LoggedEntry};
use box_core::crypto::SecretKey;
use box_core::encoding::Canonical;
use box_core::governance::{GovernanceAction, SignedAction};
use box_core::ids::{SubjectId, Timestamp};
use box_core::notary::{Entry, NotaryState, Subject};
use box_core::quorum::{QuorumCertificate, accept_vote};
use box_core::transbox::TransBox;
use box_core::typed::{
    ApprovalLevel, AssetLimit, BoxFlow, FlowAuthorization, FreezeEmployee, NodeVote, PauseTransfers, RegisterAsset,
    Signed, SignerReport, TransferRequest,
};
use box_core::{Address, B256, U256};
use std::path::Path;

fn write(target: &str, name: &str, bytes: &[u8]) {
    let dir = Path::new("corpus").join(target);
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

fn main() {
    let domain = box_core_fuzz::domain();
    let key = |l: &str| SecretKey::from_label_unchecked(l);
    let holders: Vec<_> = (0..3).map(|i| key(&format!("key-holder-{i}"))).collect();
    let nodes = box_core_fuzz::node_keys();
    let employee = key("employee-0");
    let approvers: Vec<Vec<_>> = (0..2).map(|l| (0..3).map(|i| key(&format!("approver-{l}-{i}"))).collect()).collect();
    let token = Address::repeat_byte(0x70);
    assert_eq!(box_core_fuzz::genesis().assets[0].token, token);

    let flow = BoxFlow {
        name: "Payments".into(),
        employees: vec![employee.address()],
        levels: approvers
            .iter()
            .enumerate()
            .map(|(l, keys)| ApprovalLevel {
                name: format!("Level {}", l + 1),
                approvers: keys.iter().map(SecretKey::address).collect(),
                threshold: 2,
            })
            .collect(),
        limits: vec![AssetLimit {
            asset: Address::ZERO,
            perTransfer: U256::from(10u64),
            perPeriod: U256::from(25u64),
            periodSeconds: 86_400,
            maxFee: U256::from(10u64).pow(U256::from(17u64)),
        }],
        nonce: 1,
    };
    let genesis = box_core_fuzz::genesis();
    let request = TransferRequest {
        requestId: B256::repeat_byte(1),
        flowHash: domain.flow_hash(&flow).0,
        applicant: employee.address(),
        asset: Address::ZERO,
        to: Address::repeat_byte(0xD5),
        amount: U256::from(5u64),
        maxFee: U256::from(1u64),
        chainId: domain.chain_id.0,
        timestamp: 1_800_000_000,
    };
    let mut tb = TransBox::apply(&domain, request.clone(), &employee);
    for (l, keys) in approvers.iter().enumerate() {
        for k in keys.iter().take(2) {
            tb.approve(&domain, l + 1, k);
        }
    }
    let authorization =
        Signed::new(&domain, &holders[0], FlowAuthorization { flowHash: domain.flow_hash(&flow).0, enable: true });
    let subject_id = SubjectId(B256::repeat_byte(0x5B));
    let vote = Signed::new(&domain, &nodes[0], accept_vote(subject_id, tb.content_hash()));
    let refusal = Signed::new(
        &domain,
        &nodes[1],
        NodeVote { subject: subject_id.0, contentHash: B256::ZERO, accept: false, reason: "over the limit".into() },
    );
    let report = Signed::new(
        &domain,
        &key("signer"),
        SignerReport {
            subject: B256::repeat_byte(2),
            status: 1,
            txHash: B256::repeat_byte(3),
            nonce: 0,
            detail: "".into(),
        },
    );
    let vote_hash = domain.signing_hash(&accept_vote(subject_id, tb.content_hash()));
    let certificate = QuorumCertificate {
        subject: subject_id,
        content: tb.content_hash(),
        votes: nodes.iter().take(2).map(|k| k.sign_hash(&vote_hash)).collect(),
    };
    let action = |a: GovernanceAction| {
        let h = a.signing_hash(&domain);
        SignedAction { signatures: holders.iter().map(|k| k.sign_hash(&h)).collect(), action: a }
    };
    let actions = [
        action(GovernanceAction::FreezeEmployee(FreezeEmployee {
            employee: employee.address(),
            frozen: true,
            reason: "left".into(),
            nonce: 1,
        })),
        action(GovernanceAction::PauseTransfers(PauseTransfers { paused: true, reason: "audit".into(), nonce: 2 })),
        action(GovernanceAction::RegisterAsset(RegisterAsset {
            token,
            symbol: "TKN".into(),
            decimals: 6,
            registered: true,
            nonce: 3,
        })),
    ];
    let approval = tb.approval_for(2);

    write("decode_flow", "flow", &flow.encode());
    write("decode_transfer_request", "request", &request.encode());
    write("decode_approval", "approval", &approval.encode());
    write("decode_genesis", "genesis", &genesis.encode());
    write("decode_flow_authorization", "authorization", &authorization.encode());
    write("decode_node_vote", "accept", &vote.encode());
    write("decode_node_vote", "refuse", &refusal.encode());
    write("decode_signer_report", "report", &report.encode());
    write("decode_transbox", "transbox", &tb.encode());
    write("decode_certificate", "certificate", &certificate.encode());
    for (i, a) in actions.iter().enumerate() {
        write("decode_signed_action", &format!("action-{i}"), &a.encode());
    }
    let subjects = [
        Subject::Flow(flow.clone()),
        Subject::FlowAuthorization(authorization),
        Subject::Transfer(tb),
        Subject::Governance(actions[0].clone()),
        Subject::SignerReport(report),
    ];
    for (i, s) in subjects.iter().enumerate() {
        write("decode_subject", &format!("subject-{i}"), &s.encode());
        write("decode_entry", &format!("submit-{i}"), &s.encode());
    }
    write("decode_entry", "vote", &vote.encode());

    // Snapshots: at genesis, and after a flow submission and one vote.
    let genesis_again = genesis.clone();
    let mut state = match NotaryState::new(genesis) {
        Ok(s) => s,
        Err(e) => panic!("seed genesis is invalid: {e}"),
    };
    write("decode_snapshot", "genesis.json", &state.snapshot());
    let at = Timestamp(1_800_000_000);
    let flow_subject = Subject::Flow(flow);
    let id = match flow_subject.id(&domain) {
        Ok(id) => id,
        Err(e) => panic!("flow id: {e}"),
    };
    let content = flow_subject.content();
    let entries = [
        Entry::Submit(flow_subject),
        Entry::Vote(Signed::new(&domain, &nodes[0], accept_vote(id, content))),
        Entry::Vote(Signed::new(&domain, &nodes[1], accept_vote(id, content))),
    ];
    let mut logged = Vec::new();
    for (i, e) in entries.into_iter().enumerate() {
        state.apply(&e, at);
        logged.push(LoggedEntry { index: i as u64 + 1, time: at.0, entry: e });
        if i == 1 {
            write("decode_snapshot", "pending.json", &state.snapshot());
        }
    }
    write("decode_snapshot", "notarized.json", &state.snapshot());
    // Height 1 of the seed genesis's history: the audit accepts it.
    let block = Block::seal(&domain, &nodes[0], 1, B256::ZERO, logged, state.state_root().0, at.0);
    match verify_history(&genesis_again, std::slice::from_ref(&block)) {
        Ok(r) => assert_eq!(r.notarized, 1),
        Err(e) => panic!("seed block does not audit: {e}"),
    }
    write("decode_block", "block-1", &block.encode());
    let empty = Block::seal(&domain, &nodes[1], 1, B256::ZERO, Vec::new(), B256::ZERO, at.0);
    write("decode_block", "empty", &empty.encode());

    for (i, (d, text)) in
        [(18u8, "1.5"), (6, "250"), (0, "15e17"), (2, "0.01"), (77, "0.00000000000000000000000000000000000001")]
            .iter()
            .enumerate()
    {
        write("decode_amount", &format!("amount-{i}"), &[&[*d][..], text.as_bytes()].concat());
    }
    for (i, a) in
        ["0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266", "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266"].iter().enumerate()
    {
        write("decode_address", &format!("address-{i}"), a.as_bytes());
    }
    println!("seed corpora written under corpus/");
}
